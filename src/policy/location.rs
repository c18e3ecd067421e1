//! A location (site) of an organisation and its vendor override. Owns how a location's
//! region and vendor follow the organisation's unless it sets its own; must never decide for
//! a single user.

use super::change::Change;
use super::error::PolicyError;
use super::model::{LocationId, LocationProvider, OrgId, ProviderChoice};
use super::organisation::Organisation;
use super::plan::Provider;
use super::region::Region;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub id: LocationId,
    pub org: OrgId,
    pub name: String,
    /// Where this location is hosted when not where its organisation is (`None`: same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    #[serde(default)]
    pub provider: LocationProvider,
}

impl Location {
    /// The region the location's calls are recorded in.
    pub fn region_in(&self, org: &Organisation) -> Region {
        self.region.unwrap_or(org.region)
    }

    /// The vendor the location's users record with: `None` whenever the organisation chose
    /// `None` (that removes recording for everyone), else the location's own choice, else
    /// the organisation's.
    pub fn choice_in(&self, org: &Organisation) -> ProviderChoice {
        match (org.provider, self.provider.choice()) {
            (ProviderChoice::None, _) => ProviderChoice::None,
            (_, Some(own)) => own,
            (of_org, None) => of_org,
        }
    }

    /// Chooses the location's vendor (see [`Location::check_provider`] for what is refused).
    pub fn set_provider(
        &self,
        org: &Organisation,
        setting: LocationProvider,
    ) -> Result<Change, PolicyError> {
        self.check_org(org)?;
        let after = Location {
            provider: setting,
            ..self.clone()
        };
        after.check_provider(org)?;
        Ok(Change::location(self, after))
    }

    /// A provider the location chose itself must serve its region and have its terms
    /// accepted; following the organisation needs the organisation's provider to serve the
    /// location's region (its terms are the organisation's affair: a new organisation has
    /// Dubber before anyone accepted Dubber's terms).
    fn check_provider(&self, org: &Organisation) -> Result<(), PolicyError> {
        match self.provider.choice() {
            Some(own) => {
                if let Some(provider) = own.provider() {
                    self.check_region(org, provider)?;
                    org.check_terms(provider)?;
                }
            }
            None => {
                if let Some(provider) = org.provider.provider() {
                    self.check_region(org, provider)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_org(&self, org: &Organisation) -> Result<(), PolicyError> {
        if self.org != org.id {
            return Err(PolicyError::LocationNotInOrganisation {
                location: self.id.clone(),
                org: org.id.clone(),
            });
        }
        Ok(())
    }

    /// Refuses a provider that does not record in this location's region.
    pub(crate) fn check_region(
        &self,
        org: &Organisation,
        provider: Provider,
    ) -> Result<(), PolicyError> {
        let region = self.region_in(org);
        if !provider.serves(region) {
            return Err(match self.region {
                Some(_) => PolicyError::LocationRegionNotServed {
                    provider,
                    location: self.id.clone(),
                    region,
                },
                None => PolicyError::RegionNotServed { provider, region },
            });
        }
        Ok(())
    }
}

impl Organisation {
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
