//! The names the policy uses: identifiers, administrators, and a provider choice (which may be
//! None: recording off). Plain data; the rules live with the organisation, location and user.

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
/// JSON as the platform names vendors: `Dubber`, `Imagicle`, `CallCabinet`, `None`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
/// `None` (recording off at this location).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LocationProvider {
    #[default]
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
