//! What a command prints on stdout, and how: the output contract every subcommand keeps.
//!
//! - **stdout carries results only**; logs, warnings and progress go to stderr.
//! - **JSON lines** when stdout is not a terminal (a pipe, a file) or with `--format json`: one
//!   object per line, its first key `"type"` naming what the line is (`"recording"`,
//!   `"stored"`, `"deleted"`, ...), its keys in a fixed order (a struct's, never a sorted map's).
//! - **Human text** on a terminal or with `--format text`: a line or a table a person reads.
//! - **A summary line** (`"type": "summary"`) ends every command that walks many things, so a
//!   script knows the walk finished and what it found.
//! - **A reader that goes away is not an error.** Once a write fails with a broken pipe, this
//!   writer prints nothing more and says so through [`Output::is_closed`]: a command that only
//!   reads stops there, one that changes things (sweep, migrate, flush) finishes its work, and
//!   the exit status is the work's, never a panic.

use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// How results are printed; chosen once by `--format`, or by whether stdout is a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line (the default when stdout is not a terminal).
    Json,
    /// Lines and tables for a person (the default on a terminal).
    Text,
}

static CHOSEN: OnceLock<Format> = OnceLock::new();

/// Sets the format for this process (main calls it once, from `--format`).
pub fn choose(format: Option<Format>) {
    let format = format.unwrap_or_else(|| match std::io::stdout().is_terminal() {
        true => Format::Text,
        false => Format::Json,
    });
    let _ = CHOSEN.set(format);
}

/// A line of results: how it looks as JSON (its `Serialize`, which must start with `type`) and
/// as text.
pub trait Line: Serialize {
    fn text(&self) -> String;
}

/// The process's stdout under the contract above.
pub struct Output {
    format: Format,
    closed: bool,
}

impl Output {
    pub fn stdout() -> Self {
        Output {
            format: *CHOSEN.get().unwrap_or(&Format::Json),
            closed: false,
        }
    }

    #[allow(dead_code)] // for commands whose text is a table with a header
    pub fn format(&self) -> Format {
        self.format
    }

    /// True once the reader went away: nothing printed since reached anyone.
    #[allow(dead_code)] // for the commands that walk many things
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Prints one line of results in the chosen format.
    pub fn line(&mut self, line: &impl Line) -> Result<(), String> {
        let text = match self.format {
            Format::Json => serde_json::to_string(line).map_err(|e| e.to_string())?,
            Format::Text => line.text(),
        };
        self.raw(&text)
    }

    /// Prints text as it is (a document such as lifecycle XML), followed by a newline.
    pub fn raw(&mut self, text: &str) -> Result<(), String> {
        if self.closed {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(format!("cannot write to stdout: {e}")),
        }
    }
}
