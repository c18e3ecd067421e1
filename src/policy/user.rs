//! A user whose calls may be recorded: who they are, their licence, whether recording is
//! enabled and how. Owns enabling (provisioning), disabling (back to defaults) and the Dubber
//! entitlement; must never touch stored recordings (a plan change returns the migration to
//! run instead).

use super::change::{Change, RetentionMigration};
use super::error::PolicyError;
use super::location::Location;
use super::model::{Admin, LocationId, OrgId, ProviderChoice, UserId};
use super::organisation::Organisation;
use super::plan::{DubberEntitlement, Provider};
use super::settings::{PlatformInfo, RecordingSettings};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// The user's calling licence: only Professional and Basic include call recording.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Licence {
    Professional,
    Basic,
    /// Any other calling licence (a common-area phone's, a workspace's).
    Other,
}

impl Licence {
    pub fn includes_recording(self) -> bool {
        matches!(self, Licence::Professional | Licence::Basic)
    }
}

impl fmt::Display for Licence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
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

    /// Enables recording for the user (provisioning them), on `admin`'s request. Refused
    /// unless the partner's service is on, the licence includes recording, the location
    /// records with a provider that serves its region and whose terms are accepted. With
    /// Dubber the organisation's account is created if needed and `admin` becomes one of its
    /// administrators (see `admin_account_orgs` in the partner rule); Imagicle and CallCabinet
    /// need the account the customer registered. The user's settings are left as they are.
    pub fn enable(
        &self,
        org: &Organisation,
        location: &Location,
        admin: &Admin,
        admin_account_orgs: &[OrgId],
        now: Time,
    ) -> Result<Change, PolicyError> {
        self.check_place(org, location)?;
        if !org.service_enabled {
            return Err(PolicyError::ServiceOff {
                org: org.id.clone(),
            });
        }
        if !self.licence.includes_recording() {
            return Err(PolicyError::NotLicensed {
                user: self.id.clone(),
                licence: self.licence,
            });
        }
        let provider =
            location
                .choice_in(org)
                .provider()
                .ok_or_else(|| match org.provider.provider() {
                    None => PolicyError::OrganisationOff {
                        org: org.id.clone(),
                    },
                    Some(_) => PolicyError::LocationOff {
                        location: location.id.clone(),
                    },
                })?;
        location.check_region(org, provider)?;
        org.check_terms(provider)?;
        let org_change = match provider {
            Provider::Dubber => {
                Change::organisation(org, org.with_dubber_admin(admin, admin_account_orgs, now)?)
            }
            Provider::Imagicle | Provider::CallCabinet => match org.account(provider) {
                Some(_) => Change::default(),
                None => return Err(PolicyError::NoProviderAccount { provider }),
            },
        };
        let platform = self.platform.clone().unwrap_or_else(|| PlatformInfo {
            service_provider: org.id.0.clone(),
            external_group: location.id.0.clone(),
            external_identifier: self.id.0.clone(),
        });
        let after = User {
            enabled: true,
            platform: Some(platform),
            ..self.clone()
        };
        Ok(org_change.then(Change::user(self, after)))
    }

    /// Disables recording for the user: settings go back to their defaults. Stored
    /// recordings, the entitlement and the platform information stay.
    pub fn disable(&self) -> Change {
        let after = User {
            enabled: false,
            settings: RecordingSettings::default(),
            ..self.clone()
        };
        Change::user(self, after)
    }

    /// Replaces the user's settings (valid by construction); refused while recording is
    /// disabled, whose settings stay at their defaults.
    pub fn update_settings(&self, settings: RecordingSettings) -> Result<Change, PolicyError> {
        if !self.enabled {
            return Err(PolicyError::UserDisabled {
                user: self.id.clone(),
            });
        }
        let after = User {
            settings,
            ..self.clone()
        };
        Ok(Change::user(self, after))
    }

    /// Moves the user (at `location`, in `org`) to another Dubber plan, allowed at any time.
    /// While the user records with Dubber, a different plan comes with the migration of their
    /// stored recordings (paid → free: deleted 30 days after the migration; free → paid: no
    /// longer deleted). Plans only move Dubber's recordings: with another provider, or none,
    /// the entitlement is kept for later and nothing moves.
    pub fn set_entitlement(
        &self,
        org: &Organisation,
        location: &Location,
        entitlement: DubberEntitlement,
    ) -> Result<Change, PolicyError> {
        self.check_place(org, location)?;
        let (from, to) = (self.entitlement.plan(), entitlement.plan());
        let after = User {
            entitlement,
            ..self.clone()
        };
        let mut change = Change::user(self, after);
        let dubber = location.choice_in(org) == ProviderChoice::Dubber;
        if dubber && from != to {
            change.migration = Some(RetentionMigration {
                org: self.org.clone(),
                user: self.id.clone(),
                plan: to,
                from: from.retention(),
                to: to.retention(),
            });
        }
        Ok(change)
    }

    fn check_place(&self, org: &Organisation, location: &Location) -> Result<(), PolicyError> {
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
