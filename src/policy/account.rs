//! The accounts an organisation holds with providers, as the providers' sync tools read them.
//! The rules live with the organisation: Dubber accounts are created when the first user is
//! enabled (with Dubber Go, the enabling administrator becoming an account administrator);
//! Imagicle and CallCabinet accounts are only ever registered by an administrator; a partner
//! administrator administers accounts of one customer at most. Must never call a provider: it
//! lists what the providers' sync tools read.

use super::location::Location;
use super::model::UserId;
use super::organisation::Organisation;
use super::plan::Provider;
use super::settings::PlatformInfo;
use super::user::{Person, User};
use serde::{Deserialize, Serialize};

/// An account the organisation holds with a provider, and the longest id registered for one.
pub use super::organisation::{ProviderAccount, MAX_ACCOUNT_ID};

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
