//! A user's call recording settings in the calling platform's published JSON, so that
//! administrators and their scripts feel at home. Owns the translation both ways and the
//! read-only rule; must never decide policy (a PUT becomes the model's operations).
//!
//! A PUT carries every settable field (a missing one is an error, never a silent reset) and
//! no unknown ones (a misspelt field is an error, not ignored). The read-only fields
//! (`serviceProvider`, `externalGroup`, `externalIdentifier`) may be left out or sent back
//! unchanged, so a GET's body can be PUT again; a different value is refused, naming the
//! field. Before provisioning they are absent from a GET.

use super::change::Change;
use super::error::PolicyError;
use super::location::Location;
use super::model::{Admin, OrgId};
use super::organisation::Organisation;
use super::settings::{
    Announcement, Mode, Notification, NotificationType, PlatformInfo, RecordingSettings, Reminder,
    ReminderInterval,
};
use super::user::User;
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// `GET/PUT /v1/people/{id}/features/callRecording`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRecordingSettings {
    pub enabled: bool,
    /// A mode's platform name (`Always with Pause/Resume`).
    pub record: String,
    pub record_voicemail_enabled: bool,
    pub start_stop_announcement: StartStopAnnouncement,
    pub notification: PauseResumeNotification,
    pub repeat: Repeat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_identifier: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartStopAnnouncement {
    pub internal_calls_enabled: bool,
    pub pstn_calls_enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseResumeNotification {
    /// `Beep` or `Play Announcement`.
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// Seconds, 10-90.
    pub interval: u64,
    pub enabled: bool,
}

impl From<&User> for UserRecordingSettings {
    fn from(user: &User) -> Self {
        let s = &user.settings;
        let platform = user.platform.as_ref();
        UserRecordingSettings {
            enabled: user.enabled,
            record: s.mode.name().to_string(),
            record_voicemail_enabled: s.record_voicemail,
            start_stop_announcement: StartStopAnnouncement {
                internal_calls_enabled: s.announcement.internal_calls,
                pstn_calls_enabled: s.announcement.pstn_calls,
            },
            notification: PauseResumeNotification {
                kind: s.notification.kind.name().to_string(),
                enabled: s.notification.enabled,
            },
            repeat: Repeat {
                interval: u64::from(s.reminder.interval.seconds()),
                enabled: s.reminder.enabled,
            },
            service_provider: platform.map(|p| p.service_provider.clone()),
            external_group: platform.map(|p| p.external_group.clone()),
            external_identifier: platform.map(|p| p.external_identifier.clone()),
        }
    }
}

impl UserRecordingSettings {
    /// The settings this body asks for, validated; refused if it changes a read-only field
    /// of `current`.
    pub fn to_settings(&self, current: &User) -> Result<RecordingSettings, PolicyError> {
        self.check_read_only(current.platform.as_ref())?;
        let mode = Mode::ALL
            .into_iter()
            .find(|m| m.name() == self.record)
            .ok_or_else(|| not_allowed("record", &self.record, Mode::ALL.map(Mode::name)))?;
        let kind = &self.notification.kind;
        let kind = NotificationType::ALL
            .into_iter()
            .find(|t| t.name() == kind)
            .ok_or_else(|| {
                not_allowed(
                    "notification.type",
                    kind,
                    NotificationType::ALL.map(NotificationType::name),
                )
            })?;
        Ok(RecordingSettings {
            mode,
            record_voicemail: self.record_voicemail_enabled,
            announcement: Announcement {
                internal_calls: self.start_stop_announcement.internal_calls_enabled,
                pstn_calls: self.start_stop_announcement.pstn_calls_enabled,
            },
            notification: Notification {
                kind,
                enabled: self.notification.enabled,
            },
            reminder: Reminder {
                enabled: self.repeat.enabled,
                interval: ReminderInterval::new(self.repeat.interval)?,
            },
        })
    }

    fn check_read_only(&self, platform: Option<&PlatformInfo>) -> Result<(), PolicyError> {
        let fields = [
            (
                "serviceProvider",
                &self.service_provider,
                platform.map(|p| &p.service_provider),
            ),
            (
                "externalGroup",
                &self.external_group,
                platform.map(|p| &p.external_group),
            ),
            (
                "externalIdentifier",
                &self.external_identifier,
                platform.map(|p| &p.external_identifier),
            ),
        ];
        for (field, requested, current) in fields {
            match (requested, current) {
                (Some(requested), current) if Some(requested) != current => {
                    return Err(PolicyError::ReadOnly {
                        field,
                        current: current.map_or("unset".into(), |c| format!("'{c}'")),
                        requested: requested.clone(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn not_allowed<const N: usize>(field: &'static str, value: &str, names: [&str; N]) -> PolicyError {
    PolicyError::NotAllowed {
        field,
        value: value.to_string(),
        allowed: format!("one of {}", names.join(", ")),
    }
}

/// A PUT of a user's settings, as the model's operations: the whole body is validated first;
/// `enabled: false` disables the user (settings back to defaults, whatever else the body
/// says); `enabled: true` enables the user if needed (see [`User::enable`]) and sets the
/// body's settings.
pub fn put_user_settings(
    org: &Organisation,
    location: &Location,
    user: &User,
    body: &UserRecordingSettings,
    admin: &Admin,
    admin_account_orgs: &[OrgId],
    now: Time,
) -> Result<Change, PolicyError> {
    let settings = body.to_settings(user)?;
    if !body.enabled {
        return Ok(user.disable());
    }
    let enabling = if user.enabled {
        Change::default()
    } else {
        user.enable(org, location, admin, admin_account_orgs, now)?
    };
    let enabled = enabling.user.as_ref().unwrap_or(user);
    let updating = enabled.update_settings(settings)?;
    Ok(enabling.then(updating))
}
