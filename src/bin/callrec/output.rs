//! What a command prints on stdout, and how: the output contract every subcommand keeps.
//!
//! - **stdout carries results only**; logs, warnings and progress go to stderr.
//! - **JSON lines** when stdout is not a terminal (a pipe, a file) or with
//!   `--output-format json`: one object per line, its first key `"type"` naming what the line
//!   is (`"recording"`, `"stored"`, `"deleted"`, ...), its keys in a fixed order (a struct's or
//!   a `#[serde(tag = "type")]` enum's, never a sorted map's).
//! - **Human text** on a terminal or with `--output-format text`: a line or a table a person
//!   reads. Tables ([`Output::row`]) are held back until the walk ends so their columns line
//!   up.
//! - **A summary line** (`"type": "summary"`, [`Output::summary`]) ends every command that
//!   walks many things, so a script knows the walk finished and what it found.
//! - **A reader that goes away is not an error.** Once a write fails with a broken pipe,
//!   nothing more is printed by this process and [`Output::is_closed`] says so: a command that
//!   only reads stops there, one that changes things (sweep, migrate, flush, synth) finishes
//!   its work, and the exit status is the work's, never a panic. Any other write failure
//!   ([`Unwritable`]) exits 1.
//!
//! Documents are printed as they are ([`Output::raw`]): lifecycle XML, completion scripts, and
//! `callrec policy`'s answer, the one deliberate exception to the `type` key: it is the admin
//! API's document as the API describes it (docs/openapi.json), so `jq` reads it the same way
//! from the CLI and from HTTP.

use crate::failure::Failure;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// How results are printed; chosen once by `--output-format`, or by whether stdout is a
/// terminal. (Not `--format`: `record` and `loadtest` take `--format opus|wav` for the media,
/// and one global flag of the same name would shadow theirs.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line, its first key `type`.
    Json,
    /// Lines and tables for a person.
    Text,
}

static CHOSEN: OnceLock<Format> = OnceLock::new();

/// Set once a write to stdout met a broken pipe: for the whole process, since every later
/// write would meet it too (a command may print from more than one place).
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Set by `-q`: notices are not printed.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences [`notice`] for this process (main calls it for `-q`).
pub fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// Tells the person running the command something on stderr, as `callrec: TEXT`: a warning
/// about their input, what a run removed or left behind, an upload being retried. Plain text
/// (these are for a person, beside the results on stdout); `-q` silences them. Errors are not
/// notices: they end the command with its exit status and are always printed.
pub fn write_notice(text: std::fmt::Arguments) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("callrec: {text}");
    }
}

/// `notice!("...", args)`: [`write_notice`] with `format!`'s arguments.
macro_rules! notice {
    ($($arg:tt)*) => {
        $crate::output::write_notice(format_args!($($arg)*))
    };
}
pub(crate) use notice;

/// Sets the format for this process (main calls it once, from `--output-format`).
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

/// A line that is one row of a table in text: the header is the type's, the cells the row's.
pub trait Row: Serialize {
    /// Column titles, as many as [`Row::cells`] gives.
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// The process's stdout under the contract above.
pub struct Output {
    format: Format,
    /// Text rows held back until [`Output::summary`] (or drop) prints them aligned.
    table: Vec<Vec<String>>,
}

impl Output {
    pub fn stdout() -> Self {
        Output {
            format: *CHOSEN.get().unwrap_or(&Format::Json),
            table: Vec::new(),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// True once the reader went away: nothing printed since reached anyone.
    pub fn is_closed(&self) -> bool {
        CLOSED.load(Ordering::Relaxed)
    }

    /// Prints one line of results in the chosen format.
    pub fn line(&mut self, line: &impl Line) -> Result<(), Unwritable> {
        let text = match self.format {
            Format::Json => json(line)?,
            Format::Text => line.text(),
        };
        self.raw(&text)
    }

    /// One row of a table: a JSON line at once, or (text) a row printed with the others, its
    /// columns aligned under `R::HEADER`, before the summary.
    pub fn row<R: Row>(&mut self, row: &R) -> Result<(), Unwritable> {
        match self.format {
            Format::Json => self.raw(&json(row)?),
            Format::Text => {
                if self.table.is_empty() {
                    self.table
                        .push(R::HEADER.iter().map(|h| h.to_string()).collect());
                }
                self.table.push(row.cells());
                Ok(())
            }
        }
    }

    /// The summary that ends a walk: the table first (text), then this line.
    pub fn summary(&mut self, line: &impl Line) -> Result<(), Unwritable> {
        self.print_table()?;
        self.line(line)
    }

    fn print_table(&mut self) -> Result<(), Unwritable> {
        let rows = std::mem::take(&mut self.table);
        if rows.is_empty() {
            return Ok(());
        }
        self.raw(&table(&rows))
    }

    /// Prints text as it is (a document such as lifecycle XML), followed by a newline.
    pub fn raw(&mut self, text: &str) -> Result<(), Unwritable> {
        if self.is_closed() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(Unwritable(format!("cannot write to stdout: {e}"))),
        }
    }
}

/// A table a walk started but never summed up (it failed half-way) is still shown: the rows
/// printed so far are results too.
impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.print_table();
    }
}

fn json(line: &impl Serialize) -> Result<String, Unwritable> {
    serde_json::to_string(line).map_err(|e| Unwritable(format!("cannot print a result: {e}")))
}

/// stdout failed for another reason than a reader gone away (a full disk under `> file`):
/// the world failed, so exit 1 (`Failure::Failed`), whatever the command's other errors are.
#[derive(Debug)]
pub struct Unwritable(String);

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Unwritable> for Failure {
    fn from(e: Unwritable) -> Self {
        Failure::Failed(e.0)
    }
}

/// For the commands whose errors are still bare messages.
impl From<Unwritable> for String {
    fn from(e: Unwritable) -> Self {
        e.0
    }
}

/// Rows of cells as text: each column as wide as its widest cell, two spaces between, the
/// last column unpadded (no trailing spaces).
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            line.trim_end().to_string()
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_leaves_no_trailing_space() {
        let rows = [
            vec!["RECORDING".into(), "OK".into(), "PROBLEMS".into()],
            vec!["recordings/30d/a/".into(), "yes".into(), "".into()],
            vec!["b".into(), "no".into(), "x: missing".into()],
        ];
        assert_eq!(
            table(&rows),
            "RECORDING          OK   PROBLEMS\n\
             recordings/30d/a/  yes\n\
             b                  no   x: missing"
        );
    }
}
