//! The server's wall clock: the one place the live server reads the time. Everything below
//! it (recorder, SIP, policy) is handed `now`.

use crate::time::Time;

/// Now, as nanoseconds since the Unix epoch (a clock before 1970 reads as the epoch).
pub fn now() -> Time {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Time::from_nanos(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}
