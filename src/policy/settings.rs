//! A user's call recording settings and their limits. Owns the defaults a disabled user goes
//! back to, and the reminder-interval bounds; must never know where the settings are stored.
//!
//! Defaults (what a new or disabled user has): mode Never, voicemail not recorded (it is
//! storage-hungry, so opt-in), no start/stop announcement, pause/resume notification a beep
//! but off, reminder tone off at 20 s, no post-call summary or transcript.

use super::error::PolicyError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// When a user's calls are recorded. Written in JSON as the calling platform names modes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    #[default]
    Never,
    /// From answer to hang-up, no way to stop it.
    Always,
    /// From answer; the user may pause and resume.
    #[serde(rename = "Always with Pause/Resume")]
    AlwaysWithPauseResume,
    /// Only once the user starts it; the user may stop, pause and resume.
    #[serde(rename = "On Demand with User Initiated Start")]
    OnDemandWithUserInitiatedStart,
}

impl Mode {
    pub const ALL: [Mode; 4] = [
        Mode::Never,
        Mode::Always,
        Mode::AlwaysWithPauseResume,
        Mode::OnDemandWithUserInitiatedStart,
    ];

    /// The platform's name for the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Never => "Never",
            Mode::Always => "Always",
            Mode::AlwaysWithPauseResume => "Always with Pause/Resume",
            Mode::OnDemandWithUserInitiatedStart => "On Demand with User Initiated Start",
        }
    }
}

/// Whether the start/stop announcement is played, by kind of call.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Announcement {
    pub internal_calls: bool,
    pub pstn_calls: bool,
}

/// How the parties learn that recording paused or resumed.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationType {
    #[default]
    Beep,
    #[serde(rename = "Play Announcement")]
    PlayAnnouncement,
    /// The platform's `None`: pausing and resuming go unannounced, whatever `enabled` says.
    #[serde(rename = "None")]
    Silent,
}

impl NotificationType {
    pub const ALL: [NotificationType; 3] = [
        NotificationType::Beep,
        NotificationType::PlayAnnouncement,
        NotificationType::Silent,
    ];

    /// The platform's name for the notification.
    pub fn name(self) -> &'static str {
        match self {
            NotificationType::Beep => "Beep",
            NotificationType::PlayAnnouncement => "Play Announcement",
            NotificationType::Silent => "None",
        }
    }
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub enabled: bool,
}

/// Seconds between reminder tones, within [`ReminderInterval::MIN`]..=[`ReminderInterval::MAX`]
/// by construction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ReminderInterval(u8);

impl ReminderInterval {
    pub const MIN: u32 = 10;
    pub const MAX: u32 = 90;
    pub const DEFAULT: ReminderInterval = ReminderInterval(20);

    /// The interval, or the error naming the admin API's field (`repeat.interval`).
    pub fn new(seconds: u64) -> Result<ReminderInterval, PolicyError> {
        u8::try_from(seconds)
            .ok()
            .filter(|&s| (Self::MIN..=Self::MAX).contains(&u32::from(s)))
            .map(ReminderInterval)
            .ok_or(PolicyError::OutOfRange {
                field: "repeat.interval",
                value: seconds,
                min: Self::MIN,
                max: Self::MAX,
            })
    }

    pub fn seconds(self) -> u32 {
        u32::from(self.0)
    }

    pub fn duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0))
    }
}

impl Default for ReminderInterval {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for ReminderInterval {
    type Error = PolicyError;
    fn try_from(seconds: u32) -> Result<Self, PolicyError> {
        ReminderInterval::new(u64::from(seconds))
    }
}

impl From<ReminderInterval> for u32 {
    fn from(interval: ReminderInterval) -> u32 {
        interval.seconds()
    }
}

/// The tone repeated during a recorded call, reminding everyone it is recorded.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reminder {
    pub enabled: bool,
    pub interval: ReminderInterval,
}

/// What the calling platform may make of a recording once the call is over. callrec produces
/// neither a summary nor a transcript: the switches are kept and shown so that a platform
/// client's settings survive a round trip, and a provider that does produce them can read
/// them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostCall {
    pub summary_and_action_items: bool,
    pub transcript: bool,
}

/// Everything an administrator sets for a user once recording is enabled.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingSettings {
    pub mode: Mode,
    pub record_voicemail: bool,
    pub announcement: Announcement,
    pub notification: Notification,
    pub reminder: Reminder,
    /// Absent from documents stored before it existed: off.
    #[serde(default)]
    pub post_call: PostCall,
}

/// What the provider's portal needs to find the user, generated when the user is provisioned
/// and never changed by an administrator: the organisation's id as service provider, the
/// location's id as external group, the user's id as external identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformInfo {
    pub service_provider: String,
    pub external_group: String,
    pub external_identifier: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_interval_accepts_exactly_10_to_90_seconds() {
        let cases = [
            (0, false),
            (9, false),
            (10, true),
            (20, true),
            (90, true),
            (91, false),
        ];
        for (seconds, ok) in cases {
            assert_eq!(ReminderInterval::new(seconds).is_ok(), ok, "{seconds}");
        }
        // Past u8: must not wrap around into the range (266 = 10 mod 256).
        let err = ReminderInterval::new(266).unwrap_err();
        assert_eq!(err.to_string(), "repeat.interval: 266 is outside 10-90");
        assert_eq!(
            ReminderInterval::new(45).unwrap().duration(),
            Duration::from_secs(45)
        );
        assert_eq!(ReminderInterval::default().seconds(), 20);
    }

    #[test]
    fn stored_settings_with_a_bad_interval_do_not_load() {
        let json = r#"{"enabled":true,"interval":5}"#;
        let err = serde_json::from_str::<Reminder>(json)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("repeat.interval: 5 is outside 10-90"),
            "{err}"
        );
    }
}
