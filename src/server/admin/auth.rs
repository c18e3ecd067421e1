//! Who is calling the admin API: a bearer token, looked up by its hash, gives a role and the
//! organisations it may act on. Every handler takes a [`Caller`] and asks it before touching an
//! organisation's data, so no request reads or changes another organisation's. A `user`
//! token is one person's key to their own recordings and opens no policy route.

use crate::policy::model::{Admin, AdminId, AdminRole};
use crate::policy::user::RecordingAccess;
use crate::policydb::TokenInfo;
use std::fmt;

/// What a token may do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Administers exactly one customer organisation.
    CustomerAdmin,
    /// Administers the customer organisations of one partner.
    PartnerAdmin,
    /// Reads the organisations it names; changes nothing; lists recordings, plays none.
    ReadOnly,
    /// Reads the organisations it names like `ReadOnly`, and plays, downloads and reads the
    /// metadata of their recordings on paid plans; never deletes.
    ComplianceOfficer,
    /// One person of one organisation: reaches only the recordings of that person (the
    /// token's person) and no policy route.
    User,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::CustomerAdmin,
        Role::PartnerAdmin,
        Role::ReadOnly,
        Role::ComplianceOfficer,
        Role::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CustomerAdmin => "customer-admin",
            Role::PartnerAdmin => "partner-admin",
            Role::ReadOnly => "read-only",
            Role::ComplianceOfficer => "compliance-officer",
            Role::User => "user",
        }
    }

    /// Checks the organisations a token of this role is issued for.
    pub fn check_orgs(self, orgs: &[String]) -> Result<(), String> {
        match (self, orgs.len()) {
            (_, 0) => Err(format!("a {self} token needs at least one --org")),
            (Role::CustomerAdmin | Role::User, 1) => Ok(()),
            (Role::CustomerAdmin | Role::User, n) => Err(format!(
                "a {self} token is for exactly one organisation, not {n}"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role '{s}' (customer-admin, partner-admin, read-only, \
                     compliance-officer, user)"
                )
            })
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Names the token in audit records without revealing it.
    pub token_id: String,
    /// The person the token was issued to: the administrator the policy's rules bind.
    pub person: String,
    pub role: Role,
    pub orgs: Vec<String>,
    /// A user token's own switches over their recordings (the person's
    /// `callRecordingAccessSettings`, read with the token); all on for every other role, whose
    /// rights come from the role and the plan.
    pub switches: RecordingAccess,
}

impl Caller {
    pub fn from_token(info: TokenInfo) -> Option<Caller> {
        Some(Caller {
            role: info.role.parse().ok()?,
            token_id: info.id,
            person: info.person,
            orgs: info.orgs,
            switches: RecordingAccess::default(),
        })
    }

    /// May this caller see `org`'s data?
    pub fn can_read(&self, org: &str) -> bool {
        self.orgs.iter().any(|o| o == org)
    }

    /// May this caller change anything (given an organisation it may read)?
    pub fn can_write(&self) -> bool {
        matches!(self.role, Role::CustomerAdmin | Role::PartnerAdmin)
    }

    /// May this caller use the policy routes at all? A user token reaches only its own
    /// recordings.
    pub fn is_user(&self) -> bool {
        self.role == Role::User
    }

    /// The actor recorded in the audit trail: role and token id, never the token.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role, self.token_id)
    }

    /// The administrator this caller acts as in the model: the person the token was issued
    /// to (so a rule such as "a partner administrator is in at most one customer's provider
    /// account" binds the person whichever of their tokens they use), a partner or a customer.
    pub fn admin(&self) -> Admin {
        Admin {
            id: AdminId(self.person.clone()),
            role: match self.role {
                Role::PartnerAdmin => AdminRole::Partner,
                Role::CustomerAdmin | Role::ReadOnly | Role::ComplianceOfficer | Role::User => {
                    AdminRole::Customer
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, orgs: &[&str]) -> Caller {
        Caller {
            token_id: "abc".into(),
            person: "pat@example.com".into(),
            role,
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
            switches: Default::default(),
        }
    }

    #[test]
    fn each_role_reaches_only_its_organisations_and_read_only_changes_nothing() {
        let customer = caller(Role::CustomerAdmin, &["acme"]);
        assert!(customer.can_read("acme") && customer.can_write());
        assert!(!customer.can_read("globex"));
        let partner = caller(Role::PartnerAdmin, &["acme", "globex"]);
        assert!(partner.can_read("acme") && partner.can_read("globex") && partner.can_write());
        assert!(!partner.can_read("initech"));
        let reader = caller(Role::ReadOnly, &["acme"]);
        assert!(reader.can_read("acme") && !reader.can_write());
        assert_eq!(reader.actor(), "read-only:abc");
        let officer = caller(Role::ComplianceOfficer, &["acme", "globex"]);
        assert!(officer.can_read("globex") && !officer.can_write() && !officer.is_user());
        let user = caller(Role::User, &["acme"]);
        assert!(user.can_read("acme") && !user.can_write() && user.is_user());
    }

    #[test]
    fn tokens_are_issued_for_the_organisations_their_role_allows() {
        let orgs = |n: usize| (0..n).map(|i| format!("o{i}")).collect::<Vec<_>>();
        assert!(Role::CustomerAdmin.check_orgs(&orgs(1)).is_ok());
        assert!(Role::CustomerAdmin.check_orgs(&orgs(2)).is_err());
        assert!(Role::User.check_orgs(&orgs(1)).is_ok());
        assert_eq!(
            Role::User.check_orgs(&orgs(2)),
            Err("a user token is for exactly one organisation, not 2".into())
        );
        assert!(Role::ComplianceOfficer.check_orgs(&orgs(2)).is_ok());
        assert!(Role::PartnerAdmin.check_orgs(&orgs(3)).is_ok());
        for role in Role::ALL {
            assert!(role.check_orgs(&[]).is_err(), "{role}");
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        assert!("admin"
            .parse::<Role>()
            .unwrap_err()
            .contains("customer-admin, partner-admin, read-only, compliance-officer, user"));
    }
}
