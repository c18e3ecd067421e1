//! A user's call recording settings in the calling platform's published JSON, so that
//! administrators and their scripts feel at home. Owns the translation both ways, the merge of
//! a partial PUT and the read-only rule; must never decide policy (a PUT becomes the model's
//! operations).
//!
//! As on the platform, every field of a PUT is optional: [`merged_body`] lays what is sent
//! onto the user's current settings (objects such as `notification` field by field), and the
//! result is read as a whole [`UserRecordingSettings`]. A user never provisioned has the
//! defaults, so enabling them with a partial body sets the defaults for the rest. Unknown
//! fields are refused (a misspelt field is an error, not ignored). The read-only fields
//! (`serviceProvider`, `externalGroup`, `externalIdentifier`) may be left out or sent back
//! unchanged, so a GET's body can be PUT again; a different value is refused, naming the
//! field. Before provisioning they are absent from a GET.

use super::change::Change;
use super::error::PolicyError;
use super::location::Location;
use super::model::{Admin, OrgId};
use super::organisation::Organisation;
use super::settings::{
    Announcement, Mode, Notification, NotificationType, PlatformInfo, PostCall, RecordingSettings,
    Reminder, ReminderInterval,
};
use super::user::{RecordingAccess, User};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GET/PUT /v1/people/{id}/features/callRecording`, every field present (a PUT's body is
/// first completed by [`merged_body`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRecordingSettings {
    pub enabled: bool,
    /// A mode's platform name (`Always with Pause/Resume`).
    pub record: String,
    pub record_voicemail_enabled: bool,
    /// The platform's single switch from before announcements were set per kind of call: on
    /// when any kind announces. See [`merged_body`] for how a PUT's value counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_stop_announcement_enabled: Option<bool>,
    pub start_stop_announcement: StartStopAnnouncement,
    pub notification: PauseResumeNotification,
    pub repeat: Repeat,
    pub call_recording_access_settings: AccessSettings,
    pub post_call_recording_settings: PostCallSettings,
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
    /// `Beep`, `Play Announcement` or `None`.
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

/// The user's [`RecordingAccess`] in the platform's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessSettings {
    pub view_and_play_recordings_enabled: bool,
    pub download_recordings_enabled: bool,
    pub delete_recordings_enabled: bool,
    pub share_recordings_enabled: bool,
}

/// The user's [`PostCall`] switches in the platform's words (callrec produces neither).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostCallSettings {
    pub summary_and_action_items_enabled: bool,
    pub transcript_enabled: bool,
}

/// A PUT's body that is not an object where the settings have one.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: expected a JSON object")]
pub struct NotAnObject {
    /// The field's path (`notification`, `repeat`).
    pub field: String,
}

/// The whole body a PUT of `sent` stands for: each field sent replaces `user`'s current one,
/// objects field by field; what is not sent keeps its current value. Unknown fields are
/// carried over for the reading to refuse. `startStopAnnouncementEnabled` is derived from
/// `startStopAnnouncement`, so it counts only when it changes: then it stands for both kinds
/// of call, unless the per-kind object changes as well (and must agree with it).
pub fn merged_body(user: &User, sent: &Map<String, Value>) -> Result<Value, NotAnObject> {
    let Value::Object(mut body) = serde_json::to_value(UserRecordingSettings::from(user))
        .expect("settings serialise: plain fields, string keys")
    else {
        unreachable!("a struct serialises to an object");
    };
    body.remove("startStopAnnouncementEnabled");
    let mut sent = sent.clone();
    let current = user.settings.announcement;
    match sent.get("startStopAnnouncementEnabled") {
        // Unchanged, as in a GET's body sent back with the per-kind object edited: the object
        // says what is wanted.
        Some(&Value::Bool(on)) if on == (current.internal_calls || current.pstn_calls) => {
            sent.remove("startStopAnnouncementEnabled");
        }
        // Changed: both kinds follow, unless the object changes too (then they must agree).
        Some(&Value::Bool(on)) => {
            let edited = sent
                .get("startStopAnnouncement")
                .is_some_and(|object| changes(body.get("startStopAnnouncement"), object));
            if !edited {
                let both =
                    serde_json::json!({ "internalCallsEnabled": on, "pstnCallsEnabled": on });
                sent.insert("startStopAnnouncement".into(), both);
            }
        }
        // Absent, or not a boolean (refused when the body is read).
        _ => {}
    }
    merge(&mut body, sent, "")?;
    Ok(Value::Object(body))
}

/// Whether `sent`, laid onto `current`, would change it.
fn changes(current: Option<&Value>, sent: &Value) -> bool {
    match (current, sent) {
        (Some(Value::Object(current)), Value::Object(sent)) => sent
            .iter()
            .any(|(key, value)| changes(current.get(key), value)),
        (current, sent) => current != Some(sent),
    }
}

/// Lays `sent` onto `into`; `at` is `into`'s path, for the error.
fn merge(
    into: &mut Map<String, Value>,
    sent: Map<String, Value>,
    at: &str,
) -> Result<(), NotAnObject> {
    for (key, value) in sent {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match (into.get_mut(&key), value) {
            (Some(Value::Object(current)), Value::Object(sent)) => merge(current, sent, &path)?,
            (Some(Value::Object(_)), _) => return Err(NotAnObject { field: path }),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
    Ok(())
}

impl From<&User> for UserRecordingSettings {
    fn from(user: &User) -> Self {
        let s = &user.settings;
        let platform = user.platform.as_ref();
        UserRecordingSettings {
            enabled: user.enabled,
            record: s.mode.name().to_string(),
            record_voicemail_enabled: s.record_voicemail,
            start_stop_announcement_enabled: Some(
                s.announcement.internal_calls || s.announcement.pstn_calls,
            ),
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
            call_recording_access_settings: AccessSettings {
                view_and_play_recordings_enabled: user.access.play,
                download_recordings_enabled: user.access.download,
                delete_recordings_enabled: user.access.delete,
                share_recordings_enabled: user.access.share,
            },
            post_call_recording_settings: PostCallSettings {
                summary_and_action_items_enabled: s.post_call.summary_and_action_items,
                transcript_enabled: s.post_call.transcript,
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
        let announcement = &self.start_stop_announcement;
        let announced = announcement.internal_calls_enabled || announcement.pstn_calls_enabled;
        match self.start_stop_announcement_enabled {
            Some(on) if on != announced => {
                return Err(PolicyError::NotAllowed {
                    field: "startStopAnnouncementEnabled",
                    value: on.to_string(),
                    allowed: format!(
                        "what startStopAnnouncement says ({announced}: internal calls \
                         {}, PSTN calls {})",
                        announcement.internal_calls_enabled, announcement.pstn_calls_enabled
                    ),
                })
            }
            _ => {}
        }
        let post_call = &self.post_call_recording_settings;
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
            post_call: PostCall {
                summary_and_action_items: post_call.summary_and_action_items_enabled,
                transcript: post_call.transcript_enabled,
            },
        })
    }

    /// What the body lets the user do with their recordings.
    pub fn access(&self) -> RecordingAccess {
        let a = &self.call_recording_access_settings;
        RecordingAccess {
            play: a.view_and_play_recordings_enabled,
            download: a.download_recordings_enabled,
            delete: a.delete_recordings_enabled,
            share: a.share_recordings_enabled,
        }
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
/// `enabled: false` disables the user (settings back to defaults) and is refused when the
/// user is already disabled and the body asks for other settings (they would be dropped);
/// `enabled: true` enables the user if needed (see [`User::enable`]) and sets the body's
/// settings. The access switches are set either way: they govern recordings that outlive the
/// enabling.
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
    let recording = if !body.enabled {
        if !user.enabled && settings != user.settings {
            return Err(PolicyError::UserDisabled {
                user: user.id.clone(),
            });
        }
        user.disable()
    } else {
        let enabling = if user.enabled {
            Change::default()
        } else {
            user.enable(org, location, admin, admin_account_orgs, now)?
        };
        let enabled = enabling.user.as_ref().unwrap_or(user);
        let updating = enabled.update_settings(settings)?;
        enabling.then(updating)
    };
    let after = recording.user.as_ref().unwrap_or(user);
    let access = after.set_access(body.access());
    Ok(recording.then(access))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::user::{Licence, Person};
    use serde_json::json;

    fn user() -> User {
        let person = Person {
            first_name: "Ada".into(),
            last_name: "Martin".into(),
            email: "ada@example.com".into(),
            time_zone: "Europe/Paris".into(),
        };
        User::new(
            "ada".into(),
            "acme".into(),
            "paris".into(),
            person,
            Licence::Professional,
        )
    }

    fn merged(user: &User, sent: Value) -> Result<UserRecordingSettings, String> {
        let Value::Object(sent) = sent else {
            panic!("an object")
        };
        let body = merged_body(user, &sent).map_err(|e| e.to_string())?;
        serde_json::from_value(body).map_err(|e| e.to_string())
    }

    #[test]
    fn a_partial_body_changes_only_the_fields_sent() {
        let mut ada = user();
        ada.enabled = true;
        ada.settings.notification.enabled = true;
        ada.access.share = false;
        let body = merged(
            &ada,
            json!({ "record": "Always", "notification": { "type": "None" },
                    "callRecordingAccessSettings": { "deleteRecordingsEnabled": false } }),
        )
        .expect("reads");
        let mut expected = UserRecordingSettings::from(&ada);
        expected.start_stop_announcement_enabled = None;
        expected.record = "Always".into();
        expected.notification.kind = "None".into();
        expected
            .call_recording_access_settings
            .delete_recordings_enabled = false;
        assert_eq!(body, expected);
        assert!(body.notification.enabled, "kept field by field");
        assert!(!body.call_recording_access_settings.share_recordings_enabled);
        let settings = body.to_settings(&ada).expect("valid");
        assert_eq!(settings.notification.kind, NotificationType::Silent);
        assert!(!body.access().delete && !body.access().share && body.access().play);
    }

    #[test]
    fn the_single_announcement_switch_counts_when_it_changes() {
        let ada = user();
        let announcement = |user: &User, sent: Value| {
            let body = merged(user, sent).expect("reads");
            body.to_settings(user).map(|s| s.announcement)
        };
        let both = Announcement {
            internal_calls: true,
            pstn_calls: true,
        };
        let pstn = Announcement {
            internal_calls: false,
            pstn_calls: true,
        };
        let on = json!({ "startStopAnnouncementEnabled": true });
        assert_eq!(announcement(&ada, on), Ok(both));
        // A GET's body with the object edited and the switch left as it was: the object wins.
        let mut edited = serde_json::to_value(UserRecordingSettings::from(&ada)).unwrap();
        edited["startStopAnnouncement"]["pstnCallsEnabled"] = json!(true);
        assert_eq!(announcement(&ada, edited), Ok(pstn));
        // ... with the switch edited and the object left as it was: the switch wins.
        let mut edited = serde_json::to_value(UserRecordingSettings::from(&ada)).unwrap();
        edited["startStopAnnouncementEnabled"] = json!(true);
        assert_eq!(announcement(&ada, edited), Ok(both));
        // Both edited, disagreeing: refused.
        let mut announcing = ada.clone();
        announcing.settings.announcement = pstn;
        let both_edited = json!({
            "startStopAnnouncementEnabled": false,
            "startStopAnnouncement": { "internalCallsEnabled": true },
        });
        assert_eq!(
            announcement(&announcing, both_edited)
                .expect_err("disagrees")
                .to_string(),
            "startStopAnnouncementEnabled: 'false' is not what startStopAnnouncement says \
             (true: internal calls true, PSTN calls true)"
        );
    }

    #[test]
    fn an_object_field_must_be_sent_as_an_object() {
        let ada = user();
        for (sent, field) in [
            (json!({ "notification": ["Beep", true] }), "notification"),
            (json!({ "repeat": null }), "repeat"),
            (
                json!({ "callRecordingAccessSettings": [true, true, true, true] }),
                "callRecordingAccessSettings",
            ),
        ] {
            assert_eq!(
                merged(&ada, sent),
                Err(format!("{field}: expected a JSON object"))
            );
        }
        let unknown = merged(&ada, json!({ "repeat": { "every": 20 } })).expect_err("unknown");
        assert!(unknown.starts_with("unknown field `every`"), "{unknown}");
    }
}
