//! The progress bar of a long `record`: on stderr, only for a person watching (stderr a
//! terminal and TERM not `dumb`), with the capture's name and an ETA. Never on stdout, which
//! carries results only.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    /// The capture's name; `None` when nobody watches.
    name: Option<String>,
    /// Drawn from the first update, once the total is known (a bar of length 0 reads 100%).
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for the capture `name`, or nothing when nobody watches.
    pub fn start(name: &str) -> Progress {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let watched = !dumb && std::io::stderr().is_terminal();
        Progress {
            name: watched.then(|| name.to_string()),
            bar: None,
        }
    }

    /// `done` of `total` datagrams replayed.
    pub fn update(&mut self, done: usize, total: usize) {
        let Some(name) = &self.name else { return };
        if total == 0 {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let style =
                ProgressStyle::with_template("recording {msg} [{bar:30}] {percent:>3}% ETA {eta}")
                    .expect("the template is valid")
                    .progress_chars("=> ");
            let bar = ProgressBar::new(total as u64).with_style(style);
            bar.set_message(name.clone());
            bar
        });
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
