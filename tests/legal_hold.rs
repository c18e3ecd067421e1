//! Legal holds over real HTTP and the real command line: `callrec serve` started as a process,
//! real calls recorded by `callrec record` into its filesystem store and catalogued from their
//! documents. A recording held on its own, a person's recordings and a date range held by
//! named holds; a held person's next call caught as it is catalogued; who may hold; every
//! placement and release audited; deletion refused while held; `storage sweep` keeping an
//! expired held recording and deleting it once released; `retention migrate` leaving a held
//! recording where it is. Each scenario runs on the default embedded SQLite and on a fresh
//! schema of the test PostgreSQL (CALLREC_TEST_POSTGRES).

mod common;

use callrec::time::Time;
use common::admin::{create_token_for, AdminServer};
use common::cli::files;
use common::recordings::{catalogue, record_call};
use common::scenario_db::{on_both_dbs, Db};
use common::TempDir;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

on_both_dbs!("hold":
    holds_keep_a_recording_a_person_s_and_a_range_s_from_deletion_until_released,
    the_sweeper_and_plan_migration_leave_held_recordings_alone,
);

const ONE: &str = "/v1/convergedRecordings";
const HOLDS: &str = "/v1/admin/convergedRecordings/legalHolds";

/// A scenario's server, its recordings stored and catalogued, a token of every role.
struct Setup {
    server: AdminServer,
    tokens: BTreeMap<&'static str, String>,
}

/// The start of call `id` in the scenarios: one a day from 2026-11-20.
fn start_of(id: &str) -> Time {
    let day = match id {
        "paid-1" => 20,
        "paid-2" => 21,
        "bob-1" => 22,
        "go-1" => 23,
        "old-1" => 24,
        _ => 26,
    };
    Time::parse_rfc3339(&format!("2026-11-{day}T10:02:00Z")).expect("time")
}

impl Setup {
    fn start(db: &Db, dir: &Path, calls: &[(&str, &str, &str)]) -> Setup {
        std::fs::write(dir.join("callrec.toml"), "[store]\nurl = \"store\"\n").expect("config");
        for (person, call, plan) in calls {
            record_call(dir, "acme", person, call, plan);
        }
        let issue = |person: &str, role: &str| {
            create_token_for(db.command(dir), person, role, &["acme"], &db.args())
        };
        let tokens = BTreeMap::from([
            ("alice", issue("alice", "user")),
            ("customer", issue("cat@acme.example", "customer-admin")),
            ("officer", issue("olga@acme.example", "compliance-officer")),
            ("reader", issue("rita@acme.example", "read-only")),
        ]);
        let mut args = db.args();
        args.extend(["--config", "callrec.toml"]);
        let server = AdminServer::start(db.command(dir), &args);
        let s = Setup { server, tokens };
        s.catalogue(db, dir);
        s
    }

    /// Catalogues every recording in the store, as the uploader does (again for those already
    /// catalogued: a rewrite keeps their holds).
    fn catalogue(&self, db: &Db, dir: &Path) {
        catalogue(dir, &db.url(dir), |id, row| {
            row.start = start_of(id);
            row.end = row.start;
        });
    }

    fn call(&self, who: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, body) =
            self.server
                .request(method, path, Some(&self.tokens[who]), body.as_ref());
        (status, body)
    }

    /// A request that must answer `status`; its body.
    fn expect(
        &self,
        who: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let (got, answer) = self.call(who, method, path, body);
        assert_eq!(got, status, "{method} {path} as {who}: {answer}");
        answer
    }

    fn recording(&self, id: &str) -> Value {
        self.expect("customer", "GET", &format!("{ONE}/{id}"), None, 200)
    }

    /// acme's legalHold audit rows: (action, hold id, reason, actor's person).
    fn hold_audit(&self) -> Vec<(String, String, String, String)> {
        let audit = self.expect("customer", "GET", "/v1/audit?limit=1000", None, 200);
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|row| row["kind"] == "legalHold")
            .map(|row| {
                let after = &row["after"];
                let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (
                    text(&after["action"]),
                    text(&row["id"]),
                    text(&after["hold"]["reason"]),
                    text(&after["person"]),
                )
            })
            .collect()
    }
}

fn reason(text: &str) -> Option<Value> {
    Some(json!({ "reason": text }))
}

/// One recording held on its own, bob's by a hold on his person, one day's by a range; who
/// may hold and release; deletion refused while any hold covers; bob's next call caught as
/// it is catalogued; releases free exactly what no other hold keeps; every step audited.
fn holds_keep_a_recording_a_person_s_and_a_range_s_from_deletion_until_released(db: &Db) {
    let tmp = TempDir::new("hold-api");
    let s = Setup::start(
        db,
        &tmp.0,
        &[
            ("alice", "paid-1", "dubber-standard"),
            ("alice", "paid-2", "dubber-standard"),
            ("bob", "bob-1", "dubber-ai"),
            ("alice", "go-1", "dubber-go"),
        ],
    );
    let hold_one = format!("{ONE}/paid-1/legalHold");

    // Who may not: a user (even on their own recording), a read-only token; nobody on Go.
    for who in ["alice", "reader"] {
        let refused = s.expect(who, "PUT", &hold_one, reason("case 7"), 403);
        assert_eq!(
            refused["message"],
            "only an administrator or a compliance officer places or releases legal holds"
        );
    }
    let refused = s.expect(
        "customer",
        "PUT",
        &format!("{ONE}/go-1/legalHold"),
        reason("x"),
        403,
    );
    assert_eq!(
        refused["message"],
        "Dubber Go: recordings are kept by their plan alone; legal holds need a paid plan"
    );
    s.expect("customer", "PUT", &hold_one, reason("  "), 400);

    // One recording, held by an administrator: shown held, deletion offered to nobody.
    let placed = s.expect("customer", "PUT", &hold_one, reason("case 7"), 200);
    let own_hold = placed["hold"]["id"].as_str().expect("an id").to_string();
    assert_eq!(placed["hold"]["recordingId"], "paid-1");
    assert_eq!(placed["hold"]["active"], true);
    assert_eq!(placed["recording"]["legalHold"], true);
    assert_eq!(placed["recording"]["access"]["delete"], false);
    // A filesystem store cannot lock objects: the catalog's hold alone keeps it, and says so.
    assert_eq!(
        placed["objectLock"],
        json!({"objects": 0, "recordings": 0, "catalogOnly": 1, "failed": 0})
    );
    // Placing it again is the same hold.
    let again = s.expect("customer", "PUT", &hold_one, reason("case 7"), 200);
    assert_eq!(again["hold"]["id"], own_hold.as_str());
    let mine = s.expect("alice", "GET", &format!("{ONE}/paid-1"), None, 200);
    assert_eq!(
        (&mine["legalHold"], &mine["access"]["delete"]),
        (&json!(true), &json!(false))
    );
    for who in ["alice", "customer"] {
        let held = s.expect(who, "DELETE", &format!("{ONE}/paid-1"), None, 409);
        assert_eq!(held["message"], "this recording is under legal hold");
    }

    // bob's recordings, by a compliance officer; a day's, by an administrator.
    let body = json!({ "personId": "bob", "reason": "bob under investigation" });
    let by_person = s.expect("officer", "POST", HOLDS, Some(body), 201);
    assert_eq!(by_person["recordings"], 1);
    let person_hold = by_person["hold"]["id"].as_str().expect("id").to_string();
    let body = json!({ "from": "2026-11-21", "to": "2026-11-22", "reason": "the 21st" });
    let by_range = s.expect("customer", "POST", HOLDS, Some(body), 201);
    assert_eq!(by_range["recordings"], 1, "paid-2 only: {by_range}");
    let range_hold = by_range["hold"]["id"].as_str().expect("id").to_string();
    // A range also covering the Go call does not hold it.
    let body = json!({ "from": "2026-11-23", "to": "2026-11-24", "reason": "go day" });
    let go_day = s.expect("customer", "POST", HOLDS, Some(body), 201);
    assert_eq!(go_day["recordings"], 0);
    let go_day_hold = go_day["hold"]["id"].as_str().expect("id").to_string();
    assert_eq!(s.recording("go-1")["legalHold"], false);
    s.expect(
        "reader",
        "POST",
        HOLDS,
        Some(json!({"personId": "bob", "reason": "r"})),
        403,
    );
    s.expect(
        "customer",
        "POST",
        HOLDS,
        Some(json!({"reason": "everything"})),
        400,
    );
    for id in ["paid-1", "paid-2", "bob-1"] {
        assert_eq!(s.recording(id)["legalHold"], true, "{id}");
    }

    // bob's next call is held as it is catalogued; the catalog's rewrite of the others keeps
    // their holds.
    record_call(&tmp.0, "acme", "bob", "bob-2", "dubber-ai");
    s.catalogue(db, &tmp.0);
    assert_eq!(s.recording("bob-2")["legalHold"], true);
    s.expect("customer", "DELETE", &format!("{ONE}/bob-2"), None, 409);
    assert_eq!(s.recording("paid-1")["legalHold"], true);

    // The listing: every hold, newest first, for those who may read the organisation.
    let listed = s.expect("reader", "GET", HOLDS, None, 200);
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            go_day_hold.as_str(),
            range_hold.as_str(),
            person_hold.as_str(),
            own_hold.as_str()
        ]
    );

    // paid-2 is also held on its own: releasing the range leaves it held by that.
    s.expect(
        "customer",
        "PUT",
        &format!("{ONE}/paid-2/legalHold"),
        reason("keep"),
        200,
    );
    let released = s.expect(
        "officer",
        "DELETE",
        &format!("{HOLDS}/{range_hold}"),
        None,
        200,
    );
    assert_eq!(
        (&released["hold"]["active"], &released["released"]),
        (&json!(false), &json!(0))
    );
    assert_eq!(s.recording("paid-2")["legalHold"], true);
    let freed = s.expect(
        "customer",
        "DELETE",
        &format!("{ONE}/paid-2/legalHold"),
        None,
        200,
    );
    assert_eq!(freed["recording"]["legalHold"], false);
    assert_eq!(freed["recording"]["access"]["delete"], true);

    // bob's hold released: both of his recordings may go again.
    let released = s.expect(
        "customer",
        "DELETE",
        &format!("{HOLDS}/{person_hold}"),
        None,
        200,
    );
    assert_eq!(released["released"], 2);
    s.expect("customer", "DELETE", &format!("{ONE}/bob-2"), None, 204);
    assert!(files(&tmp.path("store"))
        .iter()
        .all(|f| !f.contains("/bob-2/")));
    // A recording held only by a person or range has no hold of its own to release.
    s.expect(
        "customer",
        "DELETE",
        &format!("{ONE}/bob-1/legalHold"),
        None,
        404,
    );
    s.expect(
        "customer",
        "DELETE",
        &format!("{HOLDS}/hold-999999"),
        None,
        404,
    );

    // paid-1's own hold, released by the officer: deleted at last.
    s.expect("officer", "DELETE", &hold_one, None, 200);
    s.expect("alice", "DELETE", &format!("{ONE}/paid-1"), None, 204);

    // Every placement and release, audited with its reason and who.
    let audit = s.hold_audit();
    let row = |action: &str, id: &str, why: &str, who: &str| {
        (action.into(), id.into(), why.into(), who.into())
    };
    let paid_2_hold = audit
        .iter()
        .find(|(action, _, why, _)| action == "hold" && why == "keep")
        .map(|(_, id, ..)| id.clone())
        .expect("paid-2's own hold audited");
    assert_eq!(
        audit,
        [
            row("hold", &own_hold, "case 7", "cat@acme.example"),
            row(
                "hold",
                &person_hold,
                "bob under investigation",
                "olga@acme.example"
            ),
            row("hold", &range_hold, "the 21st", "cat@acme.example"),
            row("hold", &go_day_hold, "go day", "cat@acme.example"),
            row("hold", &paid_2_hold, "keep", "cat@acme.example"),
            row("release", &range_hold, "the 21st", "olga@acme.example"),
            row("release", &paid_2_hold, "keep", "cat@acme.example"),
            row(
                "release",
                &person_hold,
                "bob under investigation",
                "cat@acme.example"
            ),
            row("release", &own_hold, "case 7", "olga@acme.example"),
        ]
    );
}

/// Moves a stored recording's retention clock back, as if it had been stored `days` ago.
fn age(metadata: &Path, days: u64) {
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(metadata).expect("metadata")).expect("json");
    let since = Time::parse_rfc3339(doc["storage"]["retained_since"].as_str().expect("since"))
        .expect("time");
    let earlier = Time::from_nanos(since.as_nanos() - days * 86_400_000_000_000);
    doc["storage"]["retained_since"] = earlier.to_rfc3339().into();
    std::fs::write(metadata, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
}

/// `callrec ARGS` with the scenario's policy database, which must succeed: its JSON lines.
fn cli(db: &Db, dir: &Path, args: &[&str]) -> Vec<Value> {
    let output = db
        .command(dir)
        .env("CALLREC_POLICY_DB", db.url(dir))
        .args(args)
        .output()
        .expect("run callrec");
    common::cli::json_lines(&common::cli::ok(output))
}

/// The sweeper keeps an expired held recording (and deletes it once released); a plan
/// migration leaves a held recording in its class with its plan, and moves the rest.
fn the_sweeper_and_plan_migration_leave_held_recordings_alone(db: &Db) {
    let tmp = TempDir::new("hold-sweep");
    let s = Setup::start(
        db,
        &tmp.0,
        &[
            ("alice", "old-1", "dubber-go"),
            ("alice", "paid-1", "dubber-standard"),
            ("alice", "paid-2", "dubber-standard"),
        ],
    );
    let store = tmp.path("store");
    let objects_of = |id: &str| -> Vec<String> {
        files(&store)
            .into_iter()
            .filter(|f| f.contains(&format!("/{id}/")))
            .collect()
    };
    // old-1 is a 30-day recording whose 30 days are over. Only the catalog says whether it is
    // held: the catalog's hold on a recording is what the sweeper obeys, whichever way the
    // hold came (holds on Go calls are refused by the API, so the hold is put in the catalog
    // through a hold on one recording placed while the row said a paid plan).
    let meta = store.join(
        objects_of("old-1")
            .into_iter()
            .find(|f| f.ends_with(".json"))
            .expect("metadata"),
    );
    age(&meta, 31);
    catalogue(&tmp.0, &db.url(&tmp.0), |id, row| {
        row.start = start_of(id);
        if id == "old-1" {
            row.plan = "dubber-standard".into();
        }
    });
    let placed = s.expect(
        "customer",
        "PUT",
        &format!("{ONE}/old-1/legalHold"),
        reason("audit"),
        200,
    );
    assert_eq!(placed["recording"]["legalHold"], true);

    let swept = cli(
        db,
        &tmp.0,
        &["storage", "sweep", "--config", "callrec.toml"],
    );
    let held: Vec<&Value> = swept.iter().filter(|e| e["type"] == "held").collect();
    assert_eq!(held.len(), 1, "{swept:?}");
    assert!(held[0]["recording"]
        .as_str()
        .expect("prefix")
        .contains("/old-1/"));
    assert_eq!(swept.last().expect("summary")["held"], 1, "{swept:?}");
    assert_eq!(swept.last().expect("summary")["deleted"], 0, "{swept:?}");
    assert_eq!(objects_of("old-1").len(), 2, "media and metadata kept");

    // paid-1 held; the organisation moves to Dubber Go: paid-2 moves to the 30-day class,
    // paid-1 stays where it is, on its plan.
    s.expect(
        "officer",
        "PUT",
        &format!("{ONE}/paid-1/legalHold"),
        reason("case 9"),
        200,
    );
    let migrated = cli(
        db,
        &tmp.0,
        &[
            "retention",
            "migrate",
            "--config",
            "callrec.toml",
            "--org",
            "acme",
            "--plan",
            "dubber-go",
        ],
    );
    let summary = migrated.last().expect("summary");
    assert_eq!(
        (&summary["moved"], &summary["held"]),
        (&json!(1), &json!(2)),
        "{migrated:?}"
    );
    let held: Vec<&str> = migrated
        .iter()
        .filter(|e| e["type"] == "held")
        .map(|e| e["recording"].as_str().expect("prefix"))
        .collect();
    assert!(held.iter().any(|p| p.contains("/paid-1/")), "{migrated:?}");
    assert!(objects_of("paid-1")
        .iter()
        .all(|f| f.starts_with("recordings/unlimited/")));
    assert!(objects_of("paid-2")
        .iter()
        .all(|f| f.starts_with("recordings/30d/")));
    let paid_1 = s.recording("paid-1");
    assert_eq!(
        (&paid_1["plan"], &paid_1["legalHold"]),
        (&json!("dubber-standard"), &json!(true))
    );
    assert_eq!(s.recording("paid-2")["plan"], "dubber-go");

    // old-1 released: the next sweep deletes it, and its row.
    s.expect(
        "customer",
        "DELETE",
        &format!("{ONE}/old-1/legalHold"),
        None,
        200,
    );
    let swept = cli(
        db,
        &tmp.0,
        &["storage", "sweep", "--config", "callrec.toml"],
    );
    let summary = swept.last().expect("summary");
    assert_eq!(
        (&summary["deleted"], &summary["held"]),
        (&json!(1), &json!(0)),
        "{swept:?}"
    );
    assert!(objects_of("old-1").is_empty());
    s.expect("customer", "GET", &format!("{ONE}/old-1"), None, 404);
}
