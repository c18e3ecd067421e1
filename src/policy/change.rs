//! What an accepted policy operation produced: the documents to save and the storage work to
//! run. Operations never mutate their inputs, so the inputs are the audit trail's "before" and
//! a [`Change`] its "after"; the caller saves the documents (all or none) and then runs the
//! migration.

use super::location::Location;
use super::model::{OrgId, UserId};
use super::organisation::Organisation;
use super::plan::Plan;
use super::serde_as;
use super::user::User;
use crate::store::key::RetentionClass;
use serde::{Deserialize, Serialize};

/// The documents an operation changed (only those that differ from their input), and the
/// retention migration it requires. Empty when the operation changed nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Organisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<RetentionMigration>,
}

/// A user's recordings move to another plan: run `store::migrate::migrate(dest, org,
/// Some(user), target, now)` with the plan's retention, name and provider. `from` and `to` differ when the retention class changes (free ↔
/// paid); equal when only the plan tag does (Standard ↔ AI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionMigration {
    #[serde(rename = "orgId")]
    pub org: OrgId,
    /// The user, in the admin API's words a person.
    #[serde(rename = "personId")]
    pub user: UserId,
    pub plan: Plan,
    #[serde(with = "serde_as::retention")]
    pub from: RetentionClass,
    #[serde(with = "serde_as::retention")]
    pub to: RetentionClass,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        *self == Change::default()
    }

    pub(crate) fn organisation(before: &Organisation, after: Organisation) -> Change {
        Change {
            organisation: (*before != after).then_some(after),
            ..Change::default()
        }
    }

    pub(crate) fn location(before: &Location, after: Location) -> Change {
        Change {
            location: (*before != after).then_some(after),
            ..Change::default()
        }
    }

    pub(crate) fn user(before: &User, after: User) -> Change {
        Change {
            user: (*before != after).then_some(after),
            ..Change::default()
        }
    }

    /// This change followed by `next`: where both changed a document, `next`'s version wins
    /// (it was computed from this one's).
    pub(crate) fn then(self, next: Change) -> Change {
        Change {
            organisation: next.organisation.or(self.organisation),
            location: next.location.or(self.location),
            user: next.user.or(self.user),
            migration: next.migration.or(self.migration),
        }
    }
}
