//! Recording providers and plans, and the retention each plan promises.
//!
//! Dubber Go is free and keeps each recording 30 days; Dubber Standard and Dubber AI are paid
//! and keep recordings without limit; Imagicle and CallCabinet keep them without limit (in
//! their cloud or in the customer's own storage).
//!
//! In JSON documents a provider is written by its id, as the admin API's `vendorId` is
//! (`dubber`), a plan by the name users type on the command line (`dubber-go`).

use crate::store::key::RetentionClass;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Who the recordings are made for. Written in JSON by its id ([`Provider::as_str`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Dubber,
    Imagicle,
    CallCabinet,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Dubber, Provider::Imagicle, Provider::CallCabinet];

    /// The provider's id: the `provider` tag value, and its JSON (`dubber`, `imagicle`,
    /// `callcabinet`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Dubber => "dubber",
            Provider::Imagicle => "imagicle",
            Provider::CallCabinet => "callcabinet",
        }
    }

    /// The name administrators see: `Dubber`, `Imagicle`, `CallCabinet`.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Dubber => "Dubber",
            Provider::Imagicle => "Imagicle",
            Provider::CallCabinet => "CallCabinet",
        }
    }

    /// Whether recordings may go to the customer's own storage instead of the provider's
    /// cloud: Imagicle and CallCabinet offer it, Dubber keeps recordings in its own cloud.
    pub fn takes_customer_storage(self) -> bool {
        self != Provider::Dubber
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider's plan: what the customer pays for, and so how long recordings are kept.
/// Written in JSON by its command-line name (`dubber-go`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Plan {
    /// Dubber's free plan: each recording kept 30 days.
    DubberGo,
    DubberStandard,
    DubberAi,
    Imagicle,
    CallCabinet,
}

/// How long the free plan keeps a recording.
pub const FREE_PLAN_DAYS: u32 = 30;

impl Plan {
    pub const ALL: [Plan; 5] = [
        Plan::DubberGo,
        Plan::DubberStandard,
        Plan::DubberAi,
        Plan::Imagicle,
        Plan::CallCabinet,
    ];

    pub fn provider(self) -> Provider {
        match self {
            Plan::DubberGo | Plan::DubberStandard | Plan::DubberAi => Provider::Dubber,
            Plan::Imagicle => Provider::Imagicle,
            Plan::CallCabinet => Provider::CallCabinet,
        }
    }

    /// The `plan` tag value (within its provider).
    pub fn tag(self) -> &'static str {
        match self {
            Plan::DubberGo => "go",
            Plan::DubberStandard => "standard",
            Plan::DubberAi => "ai",
            Plan::Imagicle | Plan::CallCabinet => "unlimited",
        }
    }

    pub fn retention(self) -> RetentionClass {
        match self {
            Plan::DubberGo => RetentionClass::Days(FREE_PLAN_DAYS),
            _ => RetentionClass::Unlimited,
        }
    }

    /// The plan a user's recordings are made under: Dubber's depends on the user's
    /// entitlement; Imagicle and CallCabinet have one plan each.
    pub fn of(provider: Provider, entitlement: DubberEntitlement) -> Plan {
        match provider {
            Provider::Dubber => entitlement.plan(),
            Provider::Imagicle => Plan::Imagicle,
            Provider::CallCabinet => Plan::CallCabinet,
        }
    }
}

impl fmt::Display for Plan {
    /// The name users type: `dubber-go`, `dubber-standard`, `dubber-ai`, `imagicle`,
    /// `callcabinet`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Imagicle | Plan::CallCabinet => f.write_str(self.provider().as_str()),
            _ => write!(f, "{}-{}", self.provider().as_str(), self.tag()),
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Plan::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Plan::ALL.iter().map(Plan::to_string).collect();
                format!("unknown plan '{s}' (one of: {})", names.join(", "))
            })
    }
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A user's Dubber licence. Every calling licence comes with Dubber Go (free); Standard and AI
/// are paid. It can move either way at any time, and each move re-classes the retention of the
/// user's stored recordings. Written in JSON by its plan's name (`dubber-go`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Plan", into = "Plan")]
pub enum DubberEntitlement {
    #[default]
    Go,
    Standard,
    Ai,
}

impl DubberEntitlement {
    pub const ALL: [DubberEntitlement; 3] = [
        DubberEntitlement::Go,
        DubberEntitlement::Standard,
        DubberEntitlement::Ai,
    ];

    pub fn plan(self) -> Plan {
        match self {
            DubberEntitlement::Go => Plan::DubberGo,
            DubberEntitlement::Standard => Plan::DubberStandard,
            DubberEntitlement::Ai => Plan::DubberAi,
        }
    }
}

impl From<DubberEntitlement> for Plan {
    fn from(entitlement: DubberEntitlement) -> Plan {
        entitlement.plan()
    }
}

impl TryFrom<Plan> for DubberEntitlement {
    type Error = String;
    fn try_from(plan: Plan) -> Result<Self, String> {
        DubberEntitlement::ALL
            .into_iter()
            .find(|e| e.plan() == plan)
            .ok_or_else(|| {
                format!(
                    "'{plan}' is not a Dubber plan (one of: dubber-go, dubber-standard, dubber-ai)"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_free_plan_expires_recordings() {
        for plan in Plan::ALL {
            let expected = match plan {
                Plan::DubberGo => RetentionClass::Days(30),
                _ => RetentionClass::Unlimited,
            };
            assert_eq!(plan.retention(), expected, "{plan}");
        }
    }

    #[test]
    fn plan_names_round_trip_and_unknown_names_list_the_choices() {
        for plan in Plan::ALL {
            assert_eq!(plan.to_string().parse(), Ok(plan));
        }
        assert_eq!("dubber-go".parse(), Ok(Plan::DubberGo));
        let err = "dubber-free".parse::<Plan>().unwrap_err();
        assert!(err.contains("dubber-go, dubber-standard, dubber-ai, imagicle, callcabinet"));
        assert_eq!(Plan::DubberAi.provider().as_str(), "dubber");
        assert_eq!(Plan::DubberAi.tag(), "ai");
    }

    #[test]
    fn plans_and_entitlements_are_written_by_name_in_json() {
        assert_eq!(
            serde_json::to_string(&Plan::DubberAi).unwrap(),
            r#""dubber-ai""#
        );
        assert_eq!(
            serde_json::from_str::<Plan>(r#""imagicle""#).unwrap(),
            Plan::Imagicle
        );
        let err = serde_json::from_str::<Plan>(r#""gold""#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown plan 'gold' (one of: dubber-go,"),
            "{err}"
        );
        let paid = serde_json::to_string(&DubberEntitlement::Standard).unwrap();
        assert_eq!(paid, r#""dubber-standard""#);
        let err = serde_json::from_str::<DubberEntitlement>(r#""callcabinet""#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("'callcabinet' is not a Dubber plan"),
            "{err}"
        );
        for provider in Provider::ALL {
            let json = serde_json::to_string(&provider).unwrap();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
            assert_eq!(serde_json::from_str::<Provider>(&json).unwrap(), provider);
        }
        assert_eq!(
            serde_json::to_string(&Provider::CallCabinet).unwrap(),
            r#""callcabinet""#
        );
    }

    #[test]
    fn a_users_plan_follows_the_entitlement_only_with_dubber() {
        for entitlement in DubberEntitlement::ALL {
            assert_eq!(Plan::of(Provider::Dubber, entitlement), entitlement.plan());
            assert_eq!(Plan::of(Provider::Imagicle, entitlement), Plan::Imagicle);
            assert_eq!(
                Plan::of(Provider::CallCabinet, entitlement),
                Plan::CallCabinet
            );
        }
    }
}
