//! Why a command failed, and the exit status that tells a script so.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done (also when the reader of stdout went away early: see `output`) |
//! | 1 | something outside failed (store, database, network, disk) or a check found a problem |
//! | 2 | the command line, a setting or an input file is wrong (clap's usage errors too) |
//! | 75 | nothing is lost but the work is postponed: the recording waits in the spool (EX_TEMPFAIL) |

use std::process::ExitCode;

#[derive(Debug)]
pub enum Failure {
    /// The command line, a setting or an input is wrong: exit 2.
    BadInput(String),
    /// The world failed (store, database, network, disk) or a check found a problem: exit 1.
    Failed(String),
    /// Safe in the spool, upload postponed: exit 75.
    Postponed(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Failed(_) => 1,
            Failure::BadInput(_) => 2,
            Failure::Postponed(_) => 75,
        })
    }

    /// The world failed: `.map_err(Failure::failed)` on a store's, a database's or a disk's
    /// error.
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Failure::Failed(error.to_string())
    }

    pub fn reason(&self) -> &str {
        match self {
            Failure::BadInput(r) | Failure::Failed(r) | Failure::Postponed(r) => r,
        }
    }
}

/// A bare message is bad input: what every refusal meant before the statuses were told apart.
/// A command that knows better says `Failed` or `Postponed`.
impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::BadInput(reason)
    }
}
