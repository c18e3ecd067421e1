//! What can be done to a user: enable recording (provisioning them), disable it (back to
//! defaults), change their settings and their access to their recordings, move them to
//! another Dubber plan. Must never touch stored recordings: a plan change returns the
//! migration to run instead.

use crate::policy::change::{Change, RetentionMigration};
use crate::policy::error::PolicyError;
use crate::policy::location::Location;
use crate::policy::model::{Admin, OrgId, ProviderChoice};
use crate::policy::organisation::Organisation;
use crate::policy::plan::{DubberEntitlement, Provider};
use crate::policy::settings::{PlatformInfo, RecordingSettings};
use crate::policy::user::{RecordingAccess, User};
use crate::time::Time;

impl User {
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

    /// Sets what the user may do with their own recordings, allowed whether recording is
    /// enabled or not (the recordings stay either way).
    pub fn set_access(&self, access: RecordingAccess) -> Change {
        let after = User {
            access,
            ..self.clone()
        };
        Change::user(self, after)
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
}
