//! An organisation and the choices made for all of it: vendor, the partner's service switch,
//! customer-owned storage. Owns the rule that turning recording off needs confirmation; must
//! never reach into users (the effective policy applies the organisation's choice to them).

use super::account::ProviderAccount;
use super::change::Change;
use super::error::PolicyError;
use super::location::Location;
use super::model::{Admin, AdminRole, LocationProvider, OrgId, ProviderChoice};
use super::region::Region;
use super::terms::TermsAcceptance;
use serde::{Deserialize, Serialize};

/// Longest customer storage URL accepted (S3 keys are at most 1024 bytes; the URL is less).
pub const MAX_STORAGE_URL: usize = 1024;

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
    /// The customer's own bucket (`s3://`, `gs://`, `az://`), used for providers that deliver
    /// to customer storage (Imagicle, CallCabinet); `None`: the default destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_storage: Option<String>,
    #[serde(default)]
    pub terms: Vec<TermsAcceptance>,
    #[serde(default)]
    pub accounts: Vec<ProviderAccount>,
}

fn on() -> bool {
    true
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
            terms: Vec::new(),
            accounts: Vec::new(),
        }
    }

    /// Chooses the organisation's vendor. `None` needs `confirm_off`: it removes recording for
    /// every user, whatever their location chose. A provider must serve the organisation's
    /// region and that of each of its `locations` that follows the organisation, and its terms
    /// must have been accepted.
    pub fn select_provider(
        &self,
        locations: &[Location],
        choice: ProviderChoice,
        confirm_off: bool,
    ) -> Result<Change, PolicyError> {
        if let Some(provider) = choice.provider() {
            if !provider.serves(self.region) {
                return Err(PolicyError::RegionNotServed {
                    provider,
                    region: self.region,
                });
            }
            let following = locations.iter().filter(|l| {
                l.org == self.id && l.provider == LocationProvider::OrganisationDefault
            });
            for location in following {
                location.check_region(self, provider)?;
            }
            self.check_terms(provider)?;
        } else if !confirm_off && self.provider != ProviderChoice::None {
            return Err(PolicyError::ConfirmationRequired);
        }
        let after = Organisation {
            provider: choice,
            ..self.clone()
        };
        Ok(Change::organisation(self, after))
    }

    /// Turns the whole call recording service on or off: the partner's decision only.
    pub fn set_service(&self, enabled: bool, admin: &Admin) -> Result<Change, PolicyError> {
        if admin.role != AdminRole::Partner {
            return Err(PolicyError::PartnerOnly);
        }
        let after = Organisation {
            service_enabled: enabled,
            ..self.clone()
        };
        Ok(Change::organisation(self, after))
    }

    /// Sets (or clears) the customer's own storage. Only remote object storage is accepted:
    /// a path on the recorder's host is not the customer's.
    pub fn set_customer_storage(&self, url: Option<&str>) -> Result<Change, PolicyError> {
        if let Some(url) = url {
            check_storage_url(url)?;
        }
        let after = Organisation {
            customer_storage: url.map(str::to_string),
            ..self.clone()
        };
        Ok(Change::organisation(self, after))
    }
}

fn check_storage_url(url: &str) -> Result<(), PolicyError> {
    if url.is_empty() || url.len() > MAX_STORAGE_URL {
        return Err(PolicyError::Length {
            field: "customerStorage",
            len: url.len(),
            max: MAX_STORAGE_URL,
        });
    }
    let bucket = url
        .split_once("://")
        .filter(|(scheme, _)| ["s3", "gs", "az"].contains(scheme))
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
    match bucket {
        // A bucket name, never credentials (`key:secret@bucket`).
        Some(bucket) if !bucket.is_empty() && !bucket.contains(['@', ':']) => Ok(()),
        _ => Err(PolicyError::NotAllowed {
            field: "customerStorage",
            value: url.to_string(),
            allowed: "an s3://, gs:// or az:// URL naming a bucket".into(),
        }),
    }
}
