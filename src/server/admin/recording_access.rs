//! Who may do what with a stored recording: one pure function of the caller, the catalog row
//! and the action, so every route (and every signed link) asks the same question and the whole
//! table is tested here. Must never read a store, a clock or a request.
//!
//! | role | list | play, download, metadata | delete |
//! |---|---|---|---|
//! | `user` | own (catalog person = token's person) | own, every plan | own, every plan |
//! | `customer-admin`, `partner-admin` | the organisation's | paid plans | paid plans |
//! | `compliance-officer` | the organisation's | paid plans | never |
//! | `read-only` | the organisation's | never | never |
//!
//! A user's own rights are further limited by their person's switches
//! (`callRecordingAccessSettings`, carried by the [`Caller`]): view-and-play (listing, details,
//! playing, metadata), download and delete each turn off on their own.
//!
//! A recording of another organisation, or (for a user) of another person, does not exist for
//! the caller (404). On Dubber Go only the recorded person hears or deletes a recording:
//! everyone else sees that it exists. A recording under legal hold is deleted by nobody (409).

use super::auth::{Caller, Role};
use crate::policy::user::RecordingAccess;
use crate::policydb::recordings::CatalogRecording;

/// The plan whose recordings only their person may play, download or delete.
pub(crate) const DUBBER_GO: &str = "dubber-go";

/// What a caller asks to do with a recording.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// See it in a listing, or its details.
    List,
    /// Hear it in the browser.
    Play,
    /// Keep a copy.
    Download,
    /// Read its stored metadata document.
    Metadata,
    /// Delete it from the store and the catalog.
    Delete,
}

impl Action {
    #[cfg(test)]
    pub(crate) const ALL: [Action; 5] = [
        Action::List,
        Action::Play,
        Action::Download,
        Action::Metadata,
        Action::Delete,
    ];

    /// The action's name, as audit rows and links carry it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Play => "play",
            Action::Download => "download",
            Action::Metadata => "metadata",
            Action::Delete => "delete",
        }
    }
}

/// Why a caller may not, as the API answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not the caller's to see: answered as a recording that does not exist.
    Unknown,
    /// The caller sees it but may not do this.
    Forbidden(&'static str),
    /// Nobody may, for now.
    Conflict(&'static str),
}

pub(crate) const GO_ONLY_THE_PERSON: &str =
    "Dubber Go: only the recorded person may play, download or delete this recording";
pub(crate) const READ_ONLY: &str = "a read-only token cannot play, download or delete recordings";
pub(crate) const OFFICER_KEEPS: &str = "a compliance officer never deletes recordings";
pub(crate) const PLAY_SWITCHED_OFF: &str =
    "viewing and playing your recordings is turned off for you (callRecordingAccessSettings)";
pub(crate) const DOWNLOAD_SWITCHED_OFF: &str =
    "downloading your recordings is turned off for you (callRecordingAccessSettings)";
pub(crate) const DELETE_SWITCHED_OFF: &str =
    "deleting your recordings is turned off for you (callRecordingAccessSettings)";
pub(crate) const LEGAL_HOLD: &str = "this recording is under legal hold";
pub(crate) const HOLDERS_ONLY: &str =
    "only an administrator or a compliance officer places or releases legal holds";
pub(crate) const GO_NOT_HELD: &str =
    "Dubber Go: recordings are kept by their plan alone; legal holds need a paid plan";

/// Whether `caller` may place or release a legal hold in `org` (on `row`, when the hold is on
/// one recording): administrators and compliance officers, on paid plans.
pub(crate) fn may_hold(
    caller: &Caller,
    org: &str,
    row: Option<&CatalogRecording>,
) -> Result<(), Refusal> {
    if !caller.can_read(org) || row.is_some_and(|r| r.org_id != org) {
        return Err(Refusal::Unknown);
    }
    match caller.role {
        Role::CustomerAdmin | Role::PartnerAdmin | Role::ComplianceOfficer => {}
        Role::User | Role::ReadOnly => return Err(Refusal::Forbidden(HOLDERS_ONLY)),
    }
    match row {
        Some(row) if row.plan == DUBBER_GO => Err(Refusal::Forbidden(GO_NOT_HELD)),
        _ => Ok(()),
    }
}

/// Whether `caller` may do `action` with the recording `row` describes.
pub(crate) fn may(caller: &Caller, row: &CatalogRecording, action: Action) -> Result<(), Refusal> {
    if !caller.can_read(&row.org_id) {
        return Err(Refusal::Unknown);
    }
    let paid = row.plan != DUBBER_GO;
    match (caller.role, action) {
        (Role::User, _) if row.person.as_deref() != Some(caller.person.as_str()) => {
            Err(Refusal::Unknown)
        }
        (Role::User, _) => {
            switched_on(&caller.switches, action)?;
            not_held(row, action)
        }
        (_, Action::List) => Ok(()),
        (Role::ReadOnly, _) => Err(Refusal::Forbidden(READ_ONLY)),
        (Role::ComplianceOfficer, Action::Delete) => Err(Refusal::Forbidden(OFFICER_KEEPS)),
        (Role::CustomerAdmin | Role::PartnerAdmin | Role::ComplianceOfficer, _) if !paid => {
            Err(Refusal::Forbidden(GO_ONLY_THE_PERSON))
        }
        (Role::CustomerAdmin | Role::PartnerAdmin | Role::ComplianceOfficer, _) => {
            not_held(row, action)
        }
    }
}

/// Whether the person's own switch for `action` is on.
fn switched_on(switches: &RecordingAccess, action: Action) -> Result<(), Refusal> {
    let (on, why) = match action {
        Action::List | Action::Play | Action::Metadata => (switches.play, PLAY_SWITCHED_OFF),
        Action::Download => (switches.download, DOWNLOAD_SWITCHED_OFF),
        Action::Delete => (switches.delete, DELETE_SWITCHED_OFF),
    };
    match on {
        true => Ok(()),
        false => Err(Refusal::Forbidden(why)),
    }
}

/// A recording under legal hold is never deleted; everything else about it may go on.
fn not_held(row: &CatalogRecording, action: Action) -> Result<(), Refusal> {
    match (action, row.legal_hold) {
        (Action::Delete, true) => Err(Refusal::Conflict(LEGAL_HOLD)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policydb::recordings::Direction;
    use crate::time::Time;

    fn caller(role: Role, person: &str) -> Caller {
        Caller {
            token_id: "t1".into(),
            person: person.into(),
            role,
            orgs: vec!["acme".into()],
            switches: Default::default(),
        }
    }

    fn row(plan: &str, person: &str) -> CatalogRecording {
        CatalogRecording {
            id: "rec-1".into(),
            org_id: "acme".into(),
            person: Some(person.into()),
            location: None,
            participants: vec![],
            direction: Direction::Unknown,
            kind: "call".into(),
            start: Time::ZERO,
            end: Time::ZERO,
            duration_ms: 0,
            provider: "dubber".into(),
            plan: plan.into(),
            retention: "30d".into(),
            expires_at: None,
            legal_hold: false,
            size_bytes: 1,
            sha256: String::new(),
            format: "opus".into(),
            destination: "memory://x".into(),
            prefix: "p/".into(),
            files: vec![],
            metadata_key: "p/m.json".into(),
            ended: "bye".into(),
            stored_at: Time::ZERO,
        }
    }

    /// What `role` may do with alice's recording on `plan`: list, play, download, metadata,
    /// delete, in that order (`Ok` as '+', a refusal as its first letter: Unknown, Forbidden,
    /// Conflict).
    fn rights(role: Role, person: &str, plan: &str, hold: bool) -> String {
        let mut recording = row(plan, "alice");
        recording.legal_hold = hold;
        Action::ALL
            .iter()
            .map(|&a| match may(&caller(role, person), &recording, a) {
                Ok(()) => '+',
                Err(Refusal::Unknown) => 'U',
                Err(Refusal::Forbidden(_)) => 'F',
                Err(Refusal::Conflict(_)) => 'C',
            })
            .collect()
    }

    #[test]
    fn every_role_on_every_plan_may_what_the_table_says() {
        use Role::*;
        let table = [
            // (role, caller's person, Dubber Go, a paid plan)
            (User, "alice", "+++++", "+++++"),
            (User, "bob", "UUUUU", "UUUUU"),
            (CustomerAdmin, "admin", "+FFFF", "+++++"),
            (PartnerAdmin, "admin", "+FFFF", "+++++"),
            (ComplianceOfficer, "officer", "+FFFF", "++++F"),
            (ReadOnly, "reader", "+FFFF", "+FFFF"),
        ];
        for (role, person, go, paid) in table {
            assert_eq!(rights(role, person, DUBBER_GO, false), go, "{role} on Go");
            for plan in ["dubber-standard", "dubber-ai", "imagicle", "callcabinet"] {
                assert_eq!(rights(role, person, plan, false), paid, "{role} on {plan}");
            }
        }
    }

    #[test]
    fn legal_hold_stops_only_deletion_and_only_for_whoever_could_delete() {
        assert_eq!(rights(Role::User, "alice", DUBBER_GO, true), "++++C");
        assert_eq!(rights(Role::CustomerAdmin, "a", "dubber-ai", true), "++++C");
        // Refused for their role before the hold is looked at.
        assert_eq!(
            rights(Role::ComplianceOfficer, "o", "dubber-ai", true),
            "++++F"
        );
        assert_eq!(rights(Role::CustomerAdmin, "a", DUBBER_GO, true), "+FFFF");
    }

    #[test]
    fn administrators_and_officers_hold_recordings_of_paid_plans_only() {
        let paid = row("dubber-ai", "alice");
        let go = row(DUBBER_GO, "alice");
        for role in Role::ALL {
            let c = caller(role, "alice");
            let expected = match role {
                Role::CustomerAdmin | Role::PartnerAdmin | Role::ComplianceOfficer => Ok(()),
                Role::User | Role::ReadOnly => Err(Refusal::Forbidden(HOLDERS_ONLY)),
            };
            assert_eq!(may_hold(&c, "acme", Some(&paid)), expected, "{role}");
            assert_eq!(may_hold(&c, "acme", None), expected, "{role}");
            if expected.is_ok() {
                assert_eq!(
                    may_hold(&c, "acme", Some(&go)),
                    Err(Refusal::Forbidden(GO_NOT_HELD))
                );
            }
            assert_eq!(may_hold(&c, "globex", None), Err(Refusal::Unknown));
        }
    }

    #[test]
    fn another_organisations_recording_does_not_exist_for_any_role() {
        let mut recording = row("dubber-ai", "alice");
        recording.org_id = "globex".into();
        for role in Role::ALL {
            for action in Action::ALL {
                let refused = may(&caller(role, "alice"), &recording, action);
                assert_eq!(refused, Err(Refusal::Unknown), "{role} {action:?}");
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        let go = row(DUBBER_GO, "alice");
        let admin = caller(Role::CustomerAdmin, "admin");
        assert_eq!(
            may(&admin, &go, Action::Play),
            Err(Refusal::Forbidden(
                "Dubber Go: only the recorded person may play, download or delete this recording"
            ))
        );
        let paid = row("dubber-standard", "alice");
        let reader = caller(Role::ReadOnly, "reader");
        assert_eq!(
            may(&reader, &paid, Action::Download),
            Err(Refusal::Forbidden(READ_ONLY))
        );
    }

    #[test]
    fn a_person_s_switches_limit_their_own_token_and_no_one_else_s() {
        let row = row("dubber-standard", "alice");
        let mut alice = caller(Role::User, "alice");
        alice.switches = RecordingAccess {
            play: true,
            download: false,
            delete: false,
            share: false,
        };
        assert_eq!(may(&alice, &row, Action::Play), Ok(()));
        assert_eq!(
            may(&alice, &row, Action::Download),
            Err(Refusal::Forbidden(DOWNLOAD_SWITCHED_OFF))
        );
        assert_eq!(
            may(&alice, &row, Action::Delete),
            Err(Refusal::Forbidden(DELETE_SWITCHED_OFF))
        );
        alice.switches.play = false;
        for action in [Action::List, Action::Play, Action::Metadata] {
            assert_eq!(
                may(&alice, &row, action),
                Err(Refusal::Forbidden(PLAY_SWITCHED_OFF))
            );
        }
        // Another person's recording stays unknown to her, whatever her switches.
        assert_eq!(
            may(
                &alice,
                &super::tests::row("dubber-standard", "bob"),
                Action::List
            ),
            Err(Refusal::Unknown)
        );
        // An administrator's token carries every switch on: the role and plan decide.
        let admin = caller(Role::CustomerAdmin, "cat");
        assert_eq!(may(&admin, &row, Action::Download), Ok(()));
    }
}
