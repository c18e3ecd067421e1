//! `callrec record`: one packet capture in, one recording out, either as plain files in a
//! folder (the media, then its JSON sidecar written atomically) or through the spool into a
//! store.

mod args;
mod capture;
mod interrupt;
mod out_dir;
mod progress;
mod run;

pub use args::RecordArgs;
pub use run::run;
