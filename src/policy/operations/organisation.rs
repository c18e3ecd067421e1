//! What can be done to an organisation: choose its vendor (turning recording off needs
//! confirmation), turn the service on or off (the partner only), set its storage, turn PCI
//! handling on or off, accept a provider's terms, register a provider account, create a
//! location. Must never reach into users (the effective policy applies the organisation's
//! choice to them).

use crate::policy::change::Change;
use crate::policy::error::PolicyError;
use crate::policy::location::Location;
use crate::policy::model::{Admin, AdminRole, LocationId, LocationProvider, ProviderChoice};
use crate::policy::organisation::{
    CustomerStorage, Organisation, ProviderAccount, TermsAcceptance, MAX_ACCOUNT_ID,
    MAX_STORAGE_URL,
};
use crate::policy::plan::Provider;
use crate::policy::region::Region;
use crate::time::Time;

impl Organisation {
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

    /// Turns PCI handling on or off: any administrator of the organisation may, since it only
    /// ever keeps more out of the recordings.
    pub fn set_pci_dtmf_suppression(&self, on: bool) -> Change {
        let after = Organisation {
            pci_dtmf_suppression: on,
            ..self.clone()
        };
        Change::organisation(self, after)
    }

    /// Sets (or clears) the customer's storage. Only remote object storage is accepted: a
    /// path on the recorder's host is not the customer's. Whether a registered name exists,
    /// and whether the destination takes a probe, are the caller's to check (they need IO).
    pub fn set_customer_storage(
        &self,
        storage: Option<CustomerStorage>,
    ) -> Result<Change, PolicyError> {
        if let Some(storage) = &storage {
            storage.check()?;
        }
        let after = Organisation {
            customer_storage: storage,
            ..self.clone()
        };
        Ok(Change::organisation(self, after))
    }

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

    /// A new location. It follows the organisation's vendor unless `provider` says otherwise;
    /// the vendor it ends up with must serve its region (a location in a region the
    /// organisation's vendor does not serve is created with a vendor that does, or `None`).
    pub fn create_location(
        &self,
        id: LocationId,
        name: &str,
        region: Option<Region>,
        provider: LocationProvider,
    ) -> Result<Change, PolicyError> {
        let location = Location {
            id,
            org: self.id.clone(),
            name: name.to_string(),
            region,
            provider,
        };
        location.check_provider(self)?;
        Ok(Change {
            location: Some(location),
            ..Change::default()
        })
    }
}

impl CustomerStorage {
    /// The model's rules on a choice of storage: a URL names remote object storage and a
    /// bucket (never credentials in the URL); a registered name is 1-128 characters.
    pub fn check(&self) -> Result<(), PolicyError> {
        match self {
            CustomerStorage::Own { url, .. } => check_storage_url(url),
            CustomerStorage::Registered { destination } => {
                if destination.is_empty() || destination.len() > MAX_ACCOUNT_ID {
                    return Err(PolicyError::Length {
                        field: "customerStorage.destination",
                        len: destination.len(),
                        max: MAX_ACCOUNT_ID,
                    });
                }
                Ok(())
            }
        }
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
