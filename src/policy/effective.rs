//! The one question the recorder asks at call set-up: record this user's call, and how? Owns
//! the order in which the organisation, location and user settings decide; must never read
//! anything but its arguments (the caller looks the user up by AOR and caches documents).
//!
//! The first rule that fails gives the reason, broadest first: the partner's service switch,
//! the organisation's vendor (None removes recording for everyone, whatever the location
//! chose), the user and their location being known, the location's vendor, the user's own
//! switch, licence and mode, then what the provider needs: to serve the region, its terms
//! accepted, an account.

use super::location::Location;
use super::model::{LocationId, OrgId, ProviderChoice, UserId};
use super::organisation::{CustomerStorage, Organisation};
use super::plan::{Plan, Provider};
use super::region::Region;
use super::serde_as;
use super::settings::{Announcement, Mode, NotificationType, PlatformInfo, ReminderInterval};
use super::user::User;
use crate::store::key::RetentionClass;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Record, and how; or do not, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    Record(RecordingPolicy),
    DoNotRecord(Reason),
}

/// Everything the recorder needs for one recorded call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingPolicy {
    #[serde(rename = "orgId")]
    pub org: OrgId,
    /// The user, in the admin API's words a person.
    #[serde(rename = "personId")]
    pub user: UserId,
    /// The user's location: the recording's catalog row keeps it.
    #[serde(rename = "locationId")]
    pub location: LocationId,
    /// Never [`Mode::Never`].
    pub mode: Mode,
    /// Recording runs from answer (the Always modes), or waits for the user to start it.
    pub record_from_answer: bool,
    /// The user may start and stop recording (On Demand).
    pub user_start_stop: bool,
    /// The user may pause and resume.
    pub pause_resume: bool,
    /// What the parties hear on pause and resume; `None` when not enabled or pausing is not
    /// allowed.
    pub pause_resume_notification: Option<NotificationType>,
    /// The reminder tone's period; `None` when off.
    pub reminder: Option<ReminderInterval>,
    /// Whether the platform plays the start/stop announcement, by kind of call.
    pub announcement: Announcement,
    pub record_voicemail: bool,
    pub provider: Provider,
    pub plan: Plan,
    #[serde(with = "serde_as::retention")]
    pub retention: RetentionClass,
    pub region: Region,
    pub storage: Storage,
    pub platform: PlatformInfo,
    /// The organisation's PCI handling: key presses recorded without digits, in-band DTMF
    /// silenced, the client's pause honoured whatever the mode.
    #[serde(rename = "pciDtmfSuppression", default)]
    pub pci_dtmf: bool,
}

/// Where the recording is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Storage {
    /// The recorder's configured destination.
    Default,
    /// A destination the operator registered, by name (Imagicle and CallCabinet only).
    Registered(String),
    /// The customer's own bucket, opened only with the credentials it supplied (Imagicle and
    /// CallCabinet only).
    CustomerOwned(String),
}

/// Why a call is not recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Reason {
    /// The partner turned the call recording service off for the organisation.
    ServiceOff,
    /// The organisation's vendor is None.
    OrganisationOff,
    /// No user given, or one of another organisation.
    UnknownUser,
    /// The user's location was not given, or is another one.
    UnknownLocation,
    /// The location's vendor is None.
    LocationOff,
    UserDisabled,
    /// The user's licence does not include recording.
    NotLicensed,
    ModeNever,
    RegionNotServed {
        provider: Provider,
        region: Region,
    },
    TermsNotAccepted {
        provider: Provider,
    },
    NoProviderAccount {
        provider: Provider,
    },
    /// Enabled but never provisioned (no platform information).
    NotProvisioned,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ServiceOff => f.write_str("the partner turned the call recording service off"),
            Reason::OrganisationOff => f.write_str("the organisation's vendor is None"),
            Reason::UnknownUser => f.write_str("not a user of the organisation"),
            Reason::UnknownLocation => f.write_str("the user's location is unknown"),
            Reason::LocationOff => f.write_str("the location's vendor is None"),
            Reason::UserDisabled => f.write_str("call recording is disabled for the user"),
            Reason::NotLicensed => f.write_str("the user's licence does not include recording"),
            Reason::ModeNever => f.write_str("the user's recording mode is Never"),
            Reason::RegionNotServed { provider, region } => {
                write!(f, "{provider} does not serve region {region}")
            }
            Reason::TermsNotAccepted { provider } => {
                write!(f, "terms of service for {provider} not accepted")
            }
            Reason::NoProviderAccount { provider } => {
                write!(f, "the organisation has no {provider} account")
            }
            Reason::NotProvisioned => f.write_str("the user was never provisioned"),
        }
    }
}

/// Decides whether and how `user`'s calls are recorded, at `location` (the user's), in `org`.
pub fn effective_policy(
    org: &Organisation,
    location: Option<&Location>,
    user: Option<&User>,
) -> Decision {
    match decide(org, location, user) {
        Ok(policy) => Decision::Record(policy),
        Err(reason) => Decision::DoNotRecord(reason),
    }
}

fn decide(
    org: &Organisation,
    location: Option<&Location>,
    user: Option<&User>,
) -> Result<RecordingPolicy, Reason> {
    if !org.service_enabled {
        return Err(Reason::ServiceOff);
    }
    if org.provider == ProviderChoice::None {
        return Err(Reason::OrganisationOff);
    }
    let user = user
        .filter(|u| u.org == org.id)
        .ok_or(Reason::UnknownUser)?;
    let location = location
        .filter(|l| l.id == user.location && l.org == org.id)
        .ok_or(Reason::UnknownLocation)?;
    let provider = location
        .choice_in(org)
        .provider()
        .ok_or(Reason::LocationOff)?;
    if !user.enabled {
        return Err(Reason::UserDisabled);
    }
    if !user.licence.includes_recording() {
        return Err(Reason::NotLicensed);
    }
    let settings = &user.settings;
    let (record_from_answer, user_start_stop, pause_resume) = match settings.mode {
        Mode::Never => return Err(Reason::ModeNever),
        Mode::Always => (true, false, false),
        Mode::AlwaysWithPauseResume => (true, false, true),
        Mode::OnDemandWithUserInitiatedStart => (false, true, true),
    };
    let region = location.region_in(org);
    if !provider.serves(region) {
        return Err(Reason::RegionNotServed { provider, region });
    }
    if org.terms_for(provider).is_none() {
        return Err(Reason::TermsNotAccepted { provider });
    }
    if org.account(provider).is_none() {
        return Err(Reason::NoProviderAccount { provider });
    }
    let platform = user.platform.clone().ok_or(Reason::NotProvisioned)?;
    let plan = Plan::of(provider, user.entitlement);
    let storage = match &org.customer_storage {
        Some(CustomerStorage::Registered { destination }) if provider.takes_customer_storage() => {
            Storage::Registered(destination.clone())
        }
        Some(CustomerStorage::Own { url, .. }) if provider.takes_customer_storage() => {
            Storage::CustomerOwned(url.clone())
        }
        _ => Storage::Default,
    };
    let notification = settings.notification;
    Ok(RecordingPolicy {
        org: org.id.clone(),
        user: user.id.clone(),
        location: user.location.clone(),
        mode: settings.mode,
        record_from_answer,
        user_start_stop,
        pause_resume,
        pause_resume_notification: (pause_resume
            && notification.enabled
            && notification.kind != NotificationType::Silent)
            .then_some(notification.kind),
        reminder: settings
            .reminder
            .enabled
            .then_some(settings.reminder.interval),
        announcement: settings.announcement,
        record_voicemail: settings.record_voicemail,
        provider,
        plan,
        retention: plan.retention(),
        region,
        storage,
        platform,
        pci_dtmf: org.pci_dtmf_suppression,
    })
}
