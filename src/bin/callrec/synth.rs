//! `callrec synth`: writes the fixture captures (see `callrec::synth::fixtures`).

use crate::failure::Failure;
use crate::output::{Line, Output};
use callrec::synth::{fixtures, generate};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Parser)]
pub struct SynthArgs {
    /// Directory to write the captures to.
    #[arg(long, value_name = "DIR", default_value = "fixtures")]
    out: PathBuf,
}

/// Writes every fixture (all of them, even when the reader of stdout goes away: a half-written
/// set would be worse than none), a line each, then the summary.
pub fn run(args: SynthArgs) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", args.out.display())))?;
    let mut out = Output::stdout();
    let mut summary = Summary {
        kind: "summary",
        fixtures: 0,
        bytes: 0,
    };
    for fixture in fixtures() {
        let (bytes, _) = generate(&fixture.legs, fixture.format, fixture.link)
            .map_err(|e| Failure::Failed(format!("{}: {e}", fixture.name)))?;
        let path = args.out.join(fixture.name);
        std::fs::write(&path, &bytes)
            .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))?;
        summary.fixtures += 1;
        summary.bytes += bytes.len();
        out.line(&Fixture {
            kind: "fixture",
            path: &path,
            bytes: bytes.len(),
        })?;
    }
    Ok(out.summary(&summary)?)
}

#[derive(Serialize)]
struct Fixture<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    path: &'a Path,
    bytes: usize,
}

impl Line for Fixture<'_> {
    fn text(&self) -> String {
        format!("wrote {} ({} bytes)", self.path.display(), self.bytes)
    }
}

#[derive(Serialize)]
struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    fixtures: usize,
    bytes: usize,
}

impl Line for Summary {
    fn text(&self) -> String {
        format!("{} fixture(s), {} bytes", self.fixtures, self.bytes)
    }
}
