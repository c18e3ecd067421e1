//! Providers' terms of service: who accepted them for a customer, when, and exactly what the
//! provider receives once they are accepted. Owns the rule "no provider is used before its
//! terms are accepted"; must never send anything anywhere (it only lists what would be sent).
//! Where a provider publishes its terms is the deployment's configuration, not the model's.

use super::change::Change;
use super::error::PolicyError;
use super::location::Location;
use super::model::Admin;
use super::organisation::Organisation;
use super::plan::Provider;
use super::serde_as;
use super::user::{Person, User};
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// One acceptance, made once per provider on the customer's behalf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TermsAcceptance {
    pub provider: Provider,
    pub accepted_by: Admin,
    #[serde(with = "serde_as::rfc3339")]
    pub accepted_at: Time,
}

impl Organisation {
    /// Records that `admin` (customer's or partner's) accepted `provider`'s terms at `now`.
    /// Accepting again changes nothing: the first acceptance is the one on record.
    pub fn accept_terms(&self, provider: Provider, admin: &Admin, now: Time) -> Change {
        if self.terms_for(provider).is_some() {
            return Change::default();
        }
        let mut after = self.clone();
        after.terms.push(TermsAcceptance {
            provider,
            accepted_by: admin.clone(),
            accepted_at: now,
        });
        Change::organisation(self, after)
    }

    pub fn terms_for(&self, provider: Provider) -> Option<&TermsAcceptance> {
        self.terms.iter().find(|t| t.provider == provider)
    }

    pub(crate) fn check_terms(&self, provider: Provider) -> Result<(), PolicyError> {
        match self.terms_for(provider) {
            Some(_) => Ok(()),
            None => Err(PolicyError::TermsNotAccepted { provider }),
        }
    }
}

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
