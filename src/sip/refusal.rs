//! A refused request: the final status and the reason phrase that says why. One type for every
//! refusal, from the user agent's own checks to the session's decisions, so a refusal reads the
//! same in the answer, the log and the tests. Pure data: it must never decide a status itself.

use std::fmt;

/// A request refused: the final status and the reason phrase sent with it, which says why
/// (`488 Not Acceptable Here (no RTP audio stream callrec decodes)`). Every refusal, from the
/// user agent's checks to the session's decisions, is one of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}
