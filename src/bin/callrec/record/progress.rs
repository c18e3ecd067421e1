//! The progress bar of a long `record`: on stderr, only for a person watching (stderr a
//! terminal and TERM not `dumb`), with the capture's name and an ETA. Never on stdout, which
//! carries results only.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for the capture `name`, or nothing when nobody watches.
    pub fn start(name: &str) -> Progress {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if dumb || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::new(0);
        let style =
            ProgressStyle::with_template("recording {msg} [{bar:30}] {percent:>3}% ETA {eta}")
                .expect("the template is valid")
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(name.to_string());
        Progress(Some(bar))
    }

    /// `done` of `total` datagrams replayed.
    pub fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
