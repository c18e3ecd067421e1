//! The names the policy uses: identifiers, administrators, a provider choice (which may be
//! None: recording off) and a user's calling licence. Plain data; the rules live with the
//! organisation, location and user.

use super::plan::Provider;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }
    };
}

id!(
    /// A customer organisation (a tenant: nothing crosses from one to another).
    OrgId
);
id!(
    /// A location (site) of an organisation.
    LocationId
);
id!(
    /// A user whose calls may be recorded.
    UserId
);
id!(
    /// An administrator, as the admin API authenticates them.
    AdminId
);

/// Whose administrator someone is: a customer's own, or a partner's serving many customers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    Customer,
    Partner,
}

/// Who made a change: recorded with terms acceptances and account administrators.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Admin {
    pub id: AdminId,
    pub role: AdminRole,
}

/// An organisation's vendor: a provider, or `None` (recording off for everyone). Written in
/// JSON by vendor id, as the admin API's `vendorId` is: `dubber`, `imagicle`, `callcabinet`,
/// `none`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    /// The default for a new organisation: Dubber Go comes with every calling licence.
    #[default]
    Dubber,
    Imagicle,
    CallCabinet,
    None,
}

impl ProviderChoice {
    pub const ALL: [ProviderChoice; 4] = [
        ProviderChoice::Dubber,
        ProviderChoice::Imagicle,
        ProviderChoice::CallCabinet,
        ProviderChoice::None,
    ];

    /// The provider recorded for, `None` when recording is off.
    pub fn provider(self) -> Option<Provider> {
        match self {
            ProviderChoice::Dubber => Some(Provider::Dubber),
            ProviderChoice::Imagicle => Some(Provider::Imagicle),
            ProviderChoice::CallCabinet => Some(Provider::CallCabinet),
            ProviderChoice::None => None,
        }
    }
}

impl From<Provider> for ProviderChoice {
    fn from(provider: Provider) -> Self {
        match provider {
            Provider::Dubber => ProviderChoice::Dubber,
            Provider::Imagicle => ProviderChoice::Imagicle,
            Provider::CallCabinet => ProviderChoice::CallCabinet,
        }
    }
}

/// A location's vendor: the organisation's (what a new location does), another provider, or
/// `None` (recording off at this location). Written in JSON as `orgDefault` or a vendor id.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationProvider {
    #[default]
    #[serde(rename = "orgDefault")]
    OrganisationDefault,
    Dubber,
    Imagicle,
    CallCabinet,
    None,
}

impl LocationProvider {
    pub const ALL: [LocationProvider; 5] = [
        LocationProvider::OrganisationDefault,
        LocationProvider::Dubber,
        LocationProvider::Imagicle,
        LocationProvider::CallCabinet,
        LocationProvider::None,
    ];

    /// The location's own choice, `None` when it follows the organisation.
    pub fn choice(self) -> Option<ProviderChoice> {
        match self {
            LocationProvider::OrganisationDefault => None,
            LocationProvider::Dubber => Some(ProviderChoice::Dubber),
            LocationProvider::Imagicle => Some(ProviderChoice::Imagicle),
            LocationProvider::CallCabinet => Some(ProviderChoice::CallCabinet),
            LocationProvider::None => Some(ProviderChoice::None),
        }
    }
}

impl From<ProviderChoice> for LocationProvider {
    fn from(choice: ProviderChoice) -> Self {
        match choice {
            ProviderChoice::Dubber => LocationProvider::Dubber,
            ProviderChoice::Imagicle => LocationProvider::Imagicle,
            ProviderChoice::CallCabinet => LocationProvider::CallCabinet,
            ProviderChoice::None => LocationProvider::None,
        }
    }
}

/// The user's calling licence: only Professional and Basic include call recording.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Licence {
    Professional,
    Basic,
    /// Any other calling licence (a common-area phone's, a workspace's).
    Other,
}

impl Licence {
    pub fn includes_recording(self) -> bool {
        matches!(self, Licence::Professional | Licence::Basic)
    }
}

impl fmt::Display for Licence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_are_written_by_id_in_json() {
        for choice in ProviderChoice::ALL {
            let id = choice.provider().map_or("none", Provider::as_str);
            let json = serde_json::to_string(&choice).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(
                serde_json::from_str::<ProviderChoice>(&json).unwrap(),
                choice
            );
        }
        let ids: Vec<String> = LocationProvider::ALL
            .iter()
            .map(|l| serde_json::to_string(l).unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                r#""orgDefault""#,
                r#""dubber""#,
                r#""imagicle""#,
                r#""callcabinet""#,
                r#""none""#
            ]
        );
        for setting in LocationProvider::ALL {
            let json = serde_json::to_string(&setting).unwrap();
            assert_eq!(
                serde_json::from_str::<LocationProvider>(&json).unwrap(),
                setting
            );
        }
    }
}
