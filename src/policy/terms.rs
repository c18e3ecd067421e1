//! Providers' terms of service: what a provider receives about a customer once they are
//! accepted, shown before they are. Must never send anything anywhere (it only lists what
//! would be sent). The acceptances themselves are part of the organisation's document, and
//! accepting is an operation on it; where a provider publishes its terms is the deployment's
//! configuration, not the model's.

use super::location::Location;
use super::organisation::Organisation;
use super::plan::Provider;
use super::user::{Person, User};
use serde::{Deserialize, Serialize};

/// One acceptance, made once per provider on the customer's behalf.
pub use super::organisation::TermsAcceptance;

/// What a provider receives about a customer, shown before its terms are accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disclosure {
    pub provider: Provider,
    pub customer_name: String,
    /// Per user: time zone, first name, last name, email; nothing else.
    pub users: Vec<Person>,
}

/// Exactly what `provider` receives about `org`: the customer's name, and the details of each
/// of its users whose location records with `provider` (sent as they are enabled). Users of
/// other organisations and users whose location is not among `locations` are left out.
pub fn disclosure(
    org: &Organisation,
    provider: Provider,
    locations: &[Location],
    users: &[User],
) -> Disclosure {
    let users = users
        .iter()
        .filter(|u| u.provider_in(org, locations) == Some(provider))
        .map(|u| u.person.clone())
        .collect();
    Disclosure {
        provider,
        customer_name: org.name.clone(),
        users,
    }
}
