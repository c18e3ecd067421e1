//! An organisation: the document holding the choices made for all of it (vendor, the
//! partner's service switch, customer-owned storage), the providers' terms its administrators
//! accepted and the provider accounts it holds, and what can be read from it. Owns the rules
//! that read only the organisation: no provider is used before its terms are accepted, who
//! administers its Dubber account. Must never reach into locations or users, nor produce a
//! [`Change`](super::change::Change): the operations that do are in `operations/`.

use super::error::PolicyError;
use super::model::{Admin, AdminRole, OrgId, ProviderChoice};
use super::plan::Provider;
use super::region::Region;
use super::serde_as;
use crate::time::Time;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Longest customer storage URL accepted (S3 keys are at most 1024 bytes; the URL is less).
pub const MAX_STORAGE_URL: usize = 1024;

/// Longest provider account id accepted at registration.
pub const MAX_ACCOUNT_ID: usize = 128;

/// A customer organisation, with the terms its administrators accepted and the provider
/// accounts it holds (one document: every rule about them reads the organisation anyway).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    /// Where the organisation is hosted; its locations are there unless they say otherwise.
    pub region: Region,
    #[serde(default)]
    pub provider: ProviderChoice,
    /// The partner's switch for the whole call recording service (on by default).
    #[serde(default = "on")]
    pub service_enabled: bool,
    /// Where recordings go for providers that deliver to customer storage (Imagicle,
    /// CallCabinet): a destination the operator registered, or the customer's own bucket with
    /// its own (sealed) credentials; `None`: the default destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_storage: Option<CustomerStorage>,
    /// PCI handling (off by default): card numbers typed on a keypad are never stored. Key
    /// presses are recorded without their digits, in-band DTMF is silenced, and a client's
    /// pause is honoured whatever the user's mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pci_dtmf_suppression: bool,
    #[serde(default)]
    pub terms: Vec<TermsAcceptance>,
    #[serde(default)]
    pub accounts: Vec<ProviderAccount>,
}

fn on() -> bool {
    true
}

/// The customer storage an organisation chose. The server's own credentials are never used
/// for a URL a customer gave: either the operator registered the destination (with its
/// credentials, in configuration) or the customer supplied credentials, kept sealed here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CustomerStorage {
    /// A destination the operator registered (`[store.destinations.NAME]`), by name.
    Registered { destination: String },
    /// The customer's own bucket, opened only with the credentials it supplied.
    Own {
        url: String,
        /// The credentials, sealed with the server's secrets key for this organisation and
        /// URL (never in clear in the policy store). `None` for a URL set before credentials
        /// were taken: such a destination is never opened.
        #[serde(
            rename = "sealedCredentials",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sealed_credentials: Option<String>,
        /// Non-secret settings (endpoint, region): `store::OWN_OPTIONS`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        options: BTreeMap<String, String>,
    },
}

impl CustomerStorage {
    /// A customer URL with no credentials yet (as documents from before credentials had).
    pub fn url_only(url: &str) -> CustomerStorage {
        CustomerStorage::Own {
            url: url.to_string(),
            sealed_credentials: None,
            options: BTreeMap::new(),
        }
    }

    /// The customer's own URL, when it gave one.
    pub fn own_url(&self) -> Option<&str> {
        match self {
            CustomerStorage::Own { url, .. } => Some(url),
            CustomerStorage::Registered { .. } => None,
        }
    }
}

/// Every shape a stored document has had: a bare URL (before credentials), then the two above.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredStorage {
    Url(String),
    #[serde(rename_all = "camelCase")]
    Registered {
        destination: String,
    },
    #[serde(rename_all = "camelCase")]
    Own {
        url: String,
        #[serde(default)]
        sealed_credentials: Option<String>,
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
}

impl<'de> Deserialize<'de> for CustomerStorage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StoredStorage::deserialize(d)? {
            StoredStorage::Url(url) => CustomerStorage::url_only(&url),
            StoredStorage::Registered { destination } => {
                CustomerStorage::Registered { destination }
            }
            StoredStorage::Own {
                url,
                sealed_credentials,
                options,
            } => CustomerStorage::Own {
                url,
                sealed_credentials,
                options,
            },
        })
    }
}

/// One acceptance, made once per provider on the customer's behalf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TermsAcceptance {
    pub provider: Provider,
    pub accepted_by: Admin,
    #[serde(with = "serde_as::rfc3339")]
    pub accepted_at: Time,
}

/// An account the organisation holds with a provider, and who administers it.
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
    /// A new organisation: Dubber, service on, nothing accepted, no accounts.
    pub fn new(id: OrgId, name: &str, region: Region) -> Organisation {
        Organisation {
            id,
            name: name.to_string(),
            region,
            provider: ProviderChoice::default(),
            service_enabled: true,
            customer_storage: None,
            pci_dtmf_suppression: false,
            terms: Vec::new(),
            accounts: Vec::new(),
        }
    }

    /// The organisation's account with `provider`, if it holds one.
    pub fn account(&self, provider: Provider) -> Option<&ProviderAccount> {
        self.accounts.iter().find(|a| a.provider == provider)
    }

    /// The acceptance of `provider`'s terms on record, if any.
    pub fn terms_for(&self, provider: Provider) -> Option<&TermsAcceptance> {
        self.terms.iter().find(|t| t.provider == provider)
    }

    /// Refuses a provider whose terms nobody accepted for this customer yet.
    pub(crate) fn check_terms(&self, provider: Provider) -> Result<(), PolicyError> {
        match self.terms_for(provider) {
            Some(_) => Ok(()),
            None => Err(PolicyError::TermsNotAccepted { provider }),
        }
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
