//! A user whose calls may be recorded: who they are, their licence, whether recording is
//! enabled and how, and which provider their calls record with. Must never touch stored
//! recordings, nor produce a [`Change`](super::change::Change): enabling, disabling and plan
//! changes are operations, in `operations/`.

use super::error::PolicyError;
use super::location::Location;
use super::model::{LocationId, OrgId, UserId};
use super::organisation::Organisation;
use super::plan::{DubberEntitlement, Provider};
use super::settings::{PlatformInfo, RecordingSettings};
use serde::{Deserialize, Serialize};

/// The user's calling licence, named here where the user is (it is defined below the errors
/// that name it).
pub use super::model::Licence;

/// What a provider receives about a user, and nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// IANA time zone name (`Europe/Paris`).
    pub time_zone: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub org: OrgId,
    pub location: LocationId,
    /// The SIP addresses the recorder knows the user by.
    #[serde(default)]
    pub aors: Vec<String>,
    pub person: Person,
    pub licence: Licence,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub settings: RecordingSettings,
    #[serde(default)]
    pub entitlement: DubberEntitlement,
    /// Set when the user is first provisioned; kept when disabled (the provider still holds
    /// the user's recordings, and its portal finds them by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformInfo>,
    /// What the user may do with their own recordings. Kept when recording is disabled: the
    /// recordings outlive the enabling, and so must a switch an administrator turned off.
    #[serde(default)]
    pub access: RecordingAccess,
}

/// The user's own switches over their stored recordings, as the calling platform's
/// `callRecordingAccessSettings` sets them; all on unless an administrator turns one off.
/// The recordings API enforces them on the person's own token (`server::admin::
/// recording_access`); sharing is stored and shown only (callrec shares nothing).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordingAccess {
    /// List the recordings and play them back.
    pub play: bool,
    pub download: bool,
    pub delete: bool,
    /// Hand a recording to someone else.
    pub share: bool,
}

impl Default for RecordingAccess {
    fn default() -> Self {
        RecordingAccess {
            play: true,
            download: true,
            delete: true,
            share: true,
        }
    }
}

impl User {
    /// A user as the calling platform creates them: recording disabled, default settings,
    /// Dubber Go.
    pub fn new(
        id: UserId,
        org: OrgId,
        location: LocationId,
        person: Person,
        licence: Licence,
    ) -> User {
        User {
            id,
            org,
            location,
            aors: Vec::new(),
            person,
            licence,
            enabled: false,
            settings: RecordingSettings::default(),
            entitlement: DubberEntitlement::default(),
            platform: None,
            access: RecordingAccess::default(),
        }
    }

    /// The provider this user's calls record with, if any: through their location among
    /// `locations` (`None` when it is not there or belongs to another organisation).
    pub fn provider_in(&self, org: &Organisation, locations: &[Location]) -> Option<Provider> {
        if self.org != org.id {
            return None;
        }
        let location = locations
            .iter()
            .find(|l| l.id == self.location && l.org == org.id)?;
        location.choice_in(org).provider()
    }

    /// Refuses `org` or `location` when they are not the user's.
    pub(crate) fn check_place(
        &self,
        org: &Organisation,
        location: &Location,
    ) -> Result<(), PolicyError> {
        if self.org != org.id {
            return Err(PolicyError::UserNotInOrganisation {
                user: self.id.clone(),
                org: org.id.clone(),
            });
        }
        location.check_org(org)?;
        if self.location != location.id {
            return Err(PolicyError::NotUsersLocation {
                user: self.id.clone(),
                location: location.id.clone(),
            });
        }
        Ok(())
    }
}
