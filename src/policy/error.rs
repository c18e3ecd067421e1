//! Why a policy change is refused. Every message names the field or the rule, and the values
//! that would be accepted, so an administrator can fix the request without reading our code.

use super::model::{AdminId, Licence, LocationId, OrgId, UserId};
use super::plan::Provider;
use super::region::{self, Region};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A number outside its allowed range.
    #[error("{field}: {value} is outside {min}-{max}")]
    OutOfRange {
        field: &'static str,
        value: u64,
        min: u32,
        max: u32,
    },
    /// A value that is not one of the allowed ones (`allowed` reads "one of A, B").
    #[error("{field}: '{value}' is not {allowed}")]
    NotAllowed {
        field: &'static str,
        value: String,
        allowed: String,
    },
    /// Text that is empty or longer than its limit.
    #[error("{field}: must be 1-{max} characters, not {len}")]
    Length {
        field: &'static str,
        len: usize,
        max: usize,
    },
    /// A client tried to change a field that provisioning generates.
    #[error("{field} is read-only (generated when the user is provisioned): it is {current}, not '{requested}'")]
    ReadOnly {
        field: &'static str,
        /// Quoted current value, or `unset` before provisioning.
        current: String,
        requested: String,
    },
    /// The provider does not record in the organisation's region.
    #[error("vendor {provider} does not serve region {region} (serves {})", region::list(provider.regions()))]
    RegionNotServed { provider: Provider, region: Region },
    /// The provider does not record in a location's own region.
    #[error("vendor {provider} does not serve region {region} of location {location} (serves {})", region::list(provider.regions()))]
    LocationRegionNotServed {
        provider: Provider,
        location: LocationId,
        region: Region,
    },
    /// Nobody has accepted the provider's terms of service for this customer yet.
    #[error("terms of service for {provider} not accepted: a customer or partner administrator must accept them first")]
    TermsNotAccepted { provider: Provider },
    /// Choosing vendor None without confirming that it removes recording for everyone.
    #[error("vendor None turns call recording off and removes the feature for all users of the organisation: confirm to proceed")]
    ConfirmationRequired,
    /// Enabling a user whose organisation records with no provider.
    #[error("call recording is off for organisation {org} (vendor None): choose a vendor before enabling users")]
    OrganisationOff { org: OrgId },
    /// Enabling a user whose location records with no provider.
    #[error("call recording is off for location {location} (vendor None): choose a vendor before enabling its users")]
    LocationOff { location: LocationId },
    /// The partner has turned the call recording service off for this customer.
    #[error("the call recording service is turned off for organisation {org}; only its partner can turn it on")]
    ServiceOff { org: OrgId },
    /// Only a partner administrator turns the service on or off.
    #[error("only a partner administrator can turn the call recording service on or off")]
    PartnerOnly,
    /// The user's calling licence does not include call recording.
    #[error("the licence of user {user} ({licence}) does not include call recording: Professional or Basic does")]
    NotLicensed { user: UserId, licence: Licence },
    /// Making this partner administrator an account administrator here would make them one in
    /// a second customer's account.
    #[error("partner administrator {admin} already administers a provider account of organisation {other}: a partner administrator may administer accounts of at most one customer")]
    PartnerAdminElsewhere { admin: AdminId, other: OrgId },
    /// Imagicle and CallCabinet users need the account the customer holds with them.
    #[error("organisation has no {provider} account: register the account the customer holds with {provider} first")]
    NoProviderAccount { provider: Provider },
    /// Dubber accounts are never registered by hand.
    #[error("{provider} accounts are created automatically when the first user is enabled")]
    AccountAutoCreated { provider: Provider },
    /// The organisation already has an account with this provider.
    #[error("organisation already has a {provider} account ('{external_id}')")]
    AccountExists {
        provider: Provider,
        external_id: String,
    },
    #[error("user {user} does not belong to organisation {org}")]
    UserNotInOrganisation { user: UserId, org: OrgId },
    #[error("location {location} does not belong to organisation {org}")]
    LocationNotInOrganisation { location: LocationId, org: OrgId },
    /// The location given is not the user's.
    #[error("user {user} is not at location {location}")]
    NotUsersLocation { user: UserId, location: LocationId },
    /// Settings of a user whose recording is disabled stay at their defaults.
    #[error("call recording is disabled for user {user}: enable it before changing its settings")]
    UserDisabled { user: UserId },
}
