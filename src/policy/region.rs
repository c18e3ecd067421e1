//! Where an organisation is hosted, and which providers record there. Owns the region list
//! and each provider's coverage; must never decide anything about a particular organisation.
//!
//! The regions are the calling platform's hosting regions that the providers' coverage is
//! stated in: US, CA (Canada), EU (EU central), EUN (EU north), UK, AU (Australia), JP
//! (Japan). Dubber serves all of them; Imagicle serves US, EU and EUN; CallCabinet serves US
//! only. A region the platform adds later is added here, with the providers that serve it.

use super::plan::Provider;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A hosting region. Written in JSON by its code (`EUN`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Region {
    Us,
    Ca,
    Eu,
    Eun,
    Uk,
    Au,
    Jp,
}

impl Region {
    pub const ALL: [Region; 7] = [
        Region::Us,
        Region::Ca,
        Region::Eu,
        Region::Eun,
        Region::Uk,
        Region::Au,
        Region::Jp,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Region::Us => "US",
            Region::Ca => "CA",
            Region::Eu => "EU",
            Region::Eun => "EUN",
            Region::Uk => "UK",
            Region::Au => "AU",
            Region::Jp => "JP",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Region::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| format!("unknown region '{s}' (one of: {})", list(&Region::ALL)))
    }
}

impl Provider {
    /// The regions this provider records in.
    pub fn regions(self) -> &'static [Region] {
        match self {
            Provider::Dubber => &Region::ALL,
            Provider::Imagicle => &[Region::Us, Region::Eu, Region::Eun],
            Provider::CallCabinet => &[Region::Us],
        }
    }

    pub fn serves(self, region: Region) -> bool {
        self.regions().contains(&region)
    }
}

/// Region codes joined for a message: `US, EU, EUN`.
pub fn list(regions: &[Region]) -> String {
    let codes: Vec<&str> = regions.iter().map(|r| r.code()).collect();
    codes.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_as_the_providers_state_it() {
        assert_eq!(
            list(Provider::Dubber.regions()),
            "US, CA, EU, EUN, UK, AU, JP"
        );
        assert_eq!(list(Provider::Imagicle.regions()), "US, EU, EUN");
        assert_eq!(list(Provider::CallCabinet.regions()), "US");
        assert!(Provider::Imagicle.serves(Region::Eun));
        assert!(!Provider::Imagicle.serves(Region::Uk));
    }

    #[test]
    fn codes_round_trip_in_text_and_json() {
        for region in Region::ALL {
            assert_eq!(region.code().parse(), Ok(region));
            let json = serde_json::to_string(&region).unwrap();
            assert_eq!(json, format!("\"{}\"", region.code()));
            assert_eq!(serde_json::from_str::<Region>(&json).unwrap(), region);
        }
        let err = "EUW".parse::<Region>().unwrap_err();
        assert_eq!(
            err,
            "unknown region 'EUW' (one of: US, CA, EU, EUN, UK, AU, JP)"
        );
    }
}
