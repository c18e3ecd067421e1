//! A location (site) of an organisation: the document, and how its region and vendor follow
//! the organisation's unless it sets its own. Owns the checks a location's vendor must pass
//! (it serves the location's region; a vendor the location chose has its terms accepted).
//! Must never decide for a single user, nor produce a [`Change`](super::change::Change): the
//! operations that do are in `operations/`.

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

    /// A provider the location chose itself must serve its region and have its terms
    /// accepted; following the organisation needs the organisation's provider to serve the
    /// location's region (its terms are the organisation's affair: a new organisation has
    /// Dubber before anyone accepted Dubber's terms).
    pub(crate) fn check_provider(&self, org: &Organisation) -> Result<(), PolicyError> {
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
