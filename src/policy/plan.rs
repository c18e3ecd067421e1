//! Recording providers and plans, and the retention each plan promises.
//!
//! Dubber Go is free and keeps each recording 30 days; Dubber Standard and Dubber AI are paid
//! and keep recordings without limit; Imagicle and CallCabinet keep them without limit (in
//! their cloud or in the customer's own storage).

use crate::store::key::RetentionClass;
use std::fmt;

/// Who the recordings are made for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Dubber,
    Imagicle,
    CallCabinet,
}

impl Provider {
    /// The `provider` tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Dubber => "dubber",
            Provider::Imagicle => "imagicle",
            Provider::CallCabinet => "callcabinet",
        }
    }
}

/// A provider's plan: what the customer pays for, and so how long recordings are kept.
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
}
