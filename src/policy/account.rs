//! The accounts an organisation holds with providers, and who administers them. Owns the
//! rules: Dubber accounts are created when the first user is enabled (with Dubber Go, the
//! enabling administrator becoming an account administrator); Imagicle and CallCabinet
//! accounts are only ever registered by an administrator; a partner administrator administers
//! accounts of one customer at most. Must never call a provider: it lists what the
//! providers' sync tools read.

use super::change::Change;
use super::error::PolicyError;
use super::location::Location;
use super::model::{Admin, AdminRole, OrgId, UserId};
use super::organisation::Organisation;
use super::plan::Provider;
use super::serde_as;
use super::settings::PlatformInfo;
use super::user::{Person, User};
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// Longest provider account id accepted at registration.
pub const MAX_ACCOUNT_ID: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderAccount {
    pub provider: Provider,
    /// How the provider knows the customer: for Dubber the organisation's id (the service
    /// provider in each user's platform information), else the id the administrator
    /// registered.
    pub external_id: String,
    pub created_by: Admin,
    #[serde(with = "serde_as::rfc3339")]
    pub created_at: Time,
    /// The account's administrators we made (Dubber: every administrator who enabled a user).
    #[serde(default)]
    pub admins: Vec<Admin>,
}

impl Organisation {
    pub fn account(&self, provider: Provider) -> Option<&ProviderAccount> {
        self.accounts.iter().find(|a| a.provider == provider)
    }

    /// Registers the account the customer holds with Imagicle or CallCabinet (made with the
    /// provider, never by us), once its terms are accepted.
    pub fn register_account(
        &self,
        provider: Provider,
        external_id: &str,
        admin: &Admin,
        now: Time,
    ) -> Result<Change, PolicyError> {
        if provider == Provider::Dubber {
            return Err(PolicyError::AccountAutoCreated { provider });
        }
        if external_id.is_empty() || external_id.len() > MAX_ACCOUNT_ID {
            return Err(PolicyError::Length {
                field: "accountId",
                len: external_id.len(),
                max: MAX_ACCOUNT_ID,
            });
        }
        self.check_terms(provider)?;
        if let Some(existing) = self.account(provider) {
            return Err(PolicyError::AccountExists {
                provider,
                external_id: existing.external_id.clone(),
            });
        }
        let mut after = self.clone();
        after.accounts.push(ProviderAccount {
            provider,
            external_id: external_id.to_string(),
            created_by: admin.clone(),
            created_at: now,
            admins: Vec::new(),
        });
        Ok(Change::organisation(self, after))
    }

    /// The organisation with a Dubber account that `admin` administers: created with Dubber
    /// Go if there is none. `admin_account_orgs` are the organisations whose provider
    /// accounts already list `admin`; a partner administrator listed in another
    /// organisation's is refused.
    pub(crate) fn with_dubber_admin(
        &self,
        admin: &Admin,
        admin_account_orgs: &[OrgId],
        now: Time,
    ) -> Result<Organisation, PolicyError> {
        let mut after = self.clone();
        let listed = after
            .account(Provider::Dubber)
            .is_some_and(|a| a.admins.contains(admin));
        if listed {
            return Ok(after);
        }
        if admin.role == AdminRole::Partner {
            if let Some(other) = admin_account_orgs.iter().find(|&o| *o != self.id) {
                return Err(PolicyError::PartnerAdminElsewhere {
                    admin: admin.id.clone(),
                    other: other.clone(),
                });
            }
        }
        match after
            .accounts
            .iter_mut()
            .find(|a| a.provider == Provider::Dubber)
        {
            Some(account) => account.admins.push(admin.clone()),
            None => after.accounts.push(ProviderAccount {
                provider: Provider::Dubber,
                external_id: self.id.0.clone(),
                created_by: admin.clone(),
                created_at: now,
                admins: vec![admin.clone()],
            }),
        }
        Ok(after)
    }
}

/// One user as a provider's sync tool sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedUser {
    pub id: UserId,
    #[serde(flatten)]
    pub person: Person,
    #[serde(flatten)]
    pub platform: PlatformInfo,
}

/// The users `provider`'s sync tools provision for `org`: enabled, provisioned, and at a
/// location that records with `provider`.
pub fn sync_listing(
    org: &Organisation,
    provider: Provider,
    locations: &[Location],
    users: &[User],
) -> Vec<SyncedUser> {
    users
        .iter()
        .filter(|u| u.enabled && u.provider_in(org, locations) == Some(provider))
        .filter_map(|u| {
            Some(SyncedUser {
                id: u.id.clone(),
                person: u.person.clone(),
                platform: u.platform.clone()?,
            })
        })
        .collect()
}
