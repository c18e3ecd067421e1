//! The recordings API over real HTTP: `callrec serve` started as a process, real calls recorded
//! by `callrec record` into its filesystem store (Ogg Opus media and metadata documents) and
//! catalogued from their documents, tokens of every role issued with `callrec token create`.
//! Who may list, play, download, read metadata and delete, for each role on Dubber Go and on a
//! paid plan; the audit rows of each access; the audio whole and by byte range, read back
//! byte for byte and through ffprobe; download names; signed links and their refusals;
//! pagination and filters; deletion from the store and the catalog, and legal hold. Each
//! scenario runs on the default embedded SQLite and on a fresh schema of the test PostgreSQL
//! (CALLREC_TEST_POSTGRES).

mod common;

use callrec::policydb::recordings::{Direction, Participant};
use callrec::time::Time;
use common::admin::{create_token_for, AdminServer, RawResponse};
use common::recordings::{catalogue, record_call};
use common::scenario_db::{on_both_dbs, Db};
use common::TempDir;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

on_both_dbs!("rec":
    each_role_reaches_what_its_role_and_the_plan_allow_and_every_access_is_audited,
    audio_is_served_whole_or_by_range_under_its_name_through_signed_links,
    listings_page_newest_first_and_filter_by_date_and_participant,
    deleting_removes_the_objects_and_the_row_but_never_under_legal_hold,
    a_person_s_own_switches_limit_what_they_may_do_with_their_recordings,
);

/// acme's calls: alice's on Dubber Go and on a paid plan (three), bob's; and globex's.
const CALLS: [(&str, &str, &str, &str); 6] = [
    ("acme", "alice", "go-1", "dubber-go"),
    ("acme", "alice", "paid-1", "dubber-standard"),
    ("acme", "alice", "paid-2", "dubber-standard"),
    ("acme", "alice", "paid-3", "dubber-ai"),
    ("acme", "bob", "bob-1", "dubber-standard"),
    ("globex", "carol", "glob-1", "dubber-standard"),
];

/// A scenario's server, with its recordings stored and catalogued and a token of every role.
struct Setup {
    server: AdminServer,
    tokens: BTreeMap<&'static str, String>,
}

impl Setup {
    fn start(db: &Db, dir: &Path, hold: &[&str]) -> Setup {
        std::fs::write(dir.join("callrec.toml"), "[store]\nurl = \"store\"\n").expect("config");
        for (org, person, call, plan) in CALLS {
            record_call(dir, org, person, call, plan);
        }
        let issue = |person: &str, role: &str, orgs: &[&str]| {
            create_token_for(db.command(dir), person, role, orgs, &db.args())
        };
        let tokens = BTreeMap::from([
            ("alice", issue("alice", "user", &["acme"])),
            ("bob", issue("bob", "user", &["acme"])),
            ("carol", issue("carol", "user", &["globex"])),
            (
                "customer",
                issue("cat@acme.example", "customer-admin", &["acme"]),
            ),
            (
                "partner",
                issue("pat@partner.example", "partner-admin", &["acme", "globex"]),
            ),
            (
                "officer",
                issue("olga@acme.example", "compliance-officer", &["acme"]),
            ),
            ("reader", issue("rita@acme.example", "read-only", &["acme"])),
        ]);
        let mut args = db.args();
        args.extend(["--config", "callrec.toml"]);
        let server = AdminServer::start(db.command(dir), &args);
        let rows = catalogue(dir, &db.url(dir), |id, row| {
            let (day, direction, other) = match id {
                "go-1" => ("25", Direction::Outbound, party("", "tel:+15550100")),
                "paid-1" => (
                    "20",
                    Direction::Inbound,
                    party("Bob", "sip:bob@acme.example"),
                ),
                "paid-2" => (
                    "21",
                    Direction::Outbound,
                    party("Carol Lee", "sip:carol@x.example"),
                ),
                "paid-3" => ("22", Direction::Outbound, party("", "tel:+442079460000")),
                _ => ("23", Direction::Outbound, party("Dan", "sip:dan@x.example")),
            };
            row.start = Time::parse_rfc3339(&format!("2026-11-{day}T10:02:00Z")).expect("time");
            row.end = row.start + std::time::Duration::from_millis(90_500);
            row.duration_ms = 90_500;
            let me = party("Alice", "sip:alice@acme.example");
            row.participants = match direction {
                Direction::Inbound => vec![other, me],
                _ => vec![me, other],
            };
            row.direction = direction;
            row.legal_hold = hold.contains(&id);
        });
        let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        assert_eq!(
            ids,
            ["bob-1", "glob-1", "go-1", "paid-1", "paid-2", "paid-3"]
        );
        Setup { server, tokens }
    }

    /// A request as `who` (a role's token, or "" for none); status and JSON body.
    fn call(&self, who: &str, method: &str, path: &str) -> (u16, Value) {
        let token = (!who.is_empty()).then(|| self.tokens[who].as_str());
        let (status, _, body) = self.server.request(method, path, token, None);
        (status, body)
    }

    /// A request that must succeed with 200; its body.
    fn ok(&self, who: &str, path: &str) -> Value {
        let (status, body) = self.call(who, "GET", path);
        assert_eq!(status, 200, "GET {path} as {who}: {body}");
        body
    }

    /// A request that must be refused with `status`; its message.
    fn refused(&self, who: &str, method: &str, path: &str, status: u16) -> String {
        let (got, body) = self.call(who, method, path);
        assert_eq!(got, status, "{method} {path} as {who}: {body}");
        body["message"].as_str().expect("a message").to_string()
    }

    /// A raw GET as `who` with `headers`.
    fn raw(&self, who: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
        let token = (!who.is_empty()).then(|| self.tokens[who].as_str());
        self.server.raw("GET", path, token, None, headers)
    }

    /// The recordingAccess rows of acme's audit trail: (action, recording, caller's person).
    fn accesses(&self) -> Vec<(String, String, String)> {
        let audit = self.ok("customer", "/v1/audit?limit=1000");
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["kind"] == "recordingAccess")
            .map(|r| {
                assert_eq!(r["id"], r["after"]["recordingId"], "{r}");
                assert!(r["actor"].as_str().expect("actor").contains(':'), "{r}");
                assert_eq!(r["after"]["from"], "127.0.0.1", "{r}");
                let text = |v: &Value| v.as_str().expect("text").to_string();
                (
                    text(&r["after"]["action"]),
                    text(&r["id"]),
                    text(&r["after"]["person"]),
                )
            })
            .collect()
    }
}

fn party(name: &str, address: &str) -> Participant {
    Participant {
        names: [name]
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| n.to_string())
            .collect(),
        addresses: vec![address.to_string()],
    }
}

/// The stored file of a recording's first media file (the one served).
fn stored_media(dir: &Path, id: &str) -> Vec<u8> {
    let store = dir.join("store");
    let file = common::cli::files(&store)
        .into_iter()
        .find(|f| f.contains(&format!("/{id}/")) && !f.ends_with(".json"))
        .unwrap_or_else(|| panic!("no media of {id}"));
    std::fs::read(store.join(file)).expect("media")
}

const ONE: &str = "/v1/convergedRecordings";

fn each_role_reaches_what_its_role_and_the_plan_allow_and_every_access_is_audited(db: &Db) {
    let tmp = TempDir::new("rec-roles");
    let s = Setup::start(db, &tmp.0, &[]);

    // A user token is one person's key to their recordings: no policy route opens to it.
    let user_only = "a user token reaches only its own recordings";
    for path in [
        "/v1/people",
        "/v1/organizations",
        "/v1/audit",
        "/v1/tokens",
        "/v1/telephony/config/callRecording",
        "/v1/admin/convergedRecordings",
    ] {
        assert_eq!(s.refused("alice", "GET", path, 403), user_only, "{path}");
    }
    assert_eq!(
        s.refused("alice", "DELETE", "/v1/tokens/0123456789abcdef", 403),
        user_only
    );
    assert_eq!(s.ok("alice", "/v1/whoami")["role"], "user");
    // The compliance officer reads the policy and changes none of it.
    s.ok("officer", "/v1/audit");
    let (status, _) = s.call("officer", "DELETE", "/v1/people/alice");
    assert_eq!(status, 403);

    // What each role may do with alice's recordings: Dubber Go, and a paid plan.
    let go = "Dubber Go: only the recorded person may play, download or delete this recording";
    let read_only = "a read-only token cannot play, download or delete recordings";
    // (who, recording, details status, play, download, delete rights as listed)
    let table: [(&str, &str, u16, [bool; 3]); 12] = [
        ("alice", "go-1", 200, [true, true, true]),
        ("alice", "paid-1", 200, [true, true, true]),
        ("bob", "go-1", 404, [false; 3]),
        ("carol", "paid-1", 404, [false; 3]),
        ("customer", "go-1", 200, [false; 3]),
        ("customer", "paid-1", 200, [true, true, true]),
        ("partner", "go-1", 200, [false; 3]),
        ("partner", "paid-1", 200, [true, true, true]),
        ("officer", "go-1", 200, [false; 3]),
        ("officer", "paid-1", 200, [true, true, false]),
        ("reader", "go-1", 200, [false; 3]),
        ("reader", "paid-1", 200, [false; 3]),
    ];
    for (who, id, status, [play, download, delete]) in table {
        let path = format!("{ONE}/{id}?orgId=acme");
        let (got, body) = s.call(who, "GET", &path);
        assert_eq!(got, status, "{who} {id}: {body}");
        if status != 200 {
            assert_eq!(
                body["message"],
                format!("no recording {id} within this token's reach")
            );
            for tail in ["/metadata", "/audio"] {
                s.refused(who, "GET", &format!("{ONE}/{id}{tail}?orgId=acme"), 404);
            }
            s.refused(who, "DELETE", &path, 404);
            continue;
        }
        assert_eq!(
            body["access"],
            json!({ "play": play, "download": download, "delete": delete }),
            "{who} {id}"
        );
        let links = &body["temporaryDirectDownloadLinks"];
        assert_eq!(links.is_object(), play, "{who} {id}: {body}");
        let audio = |purpose: &str| s.raw(who, &format!("{ONE}/{id}/audio?purpose={purpose}"), &[]);
        let played = audio("play").status;
        let downloaded = audio("download").status;
        let metadata = s.call(who, "GET", &format!("{ONE}/{id}/metadata"));
        for (allowed, got) in [(play, played), (download, downloaded), (play, metadata.0)] {
            assert_eq!(got, if allowed { 200 } else { 403 }, "{who} {id}");
        }
        if play {
            // The metadata document as stored: the call it describes.
            assert_eq!(metadata.1["call"]["id"], id, "{}", metadata.1);
        } else {
            let why = metadata.1["message"].as_str().expect("message");
            assert_eq!(why, if who == "reader" { read_only } else { go });
        }
    }
    // Another organisation's recording is nobody's here, asked for by organisation or not.
    s.refused(
        "customer",
        "GET",
        &format!("{ONE}/glob-1?orgId=globex"),
        404,
    );
    s.refused("customer", "GET", &format!("{ONE}/glob-1"), 404);
    s.refused("alice", "GET", &format!("{ONE}/glob-1"), 404);
    s.ok("partner", &format!("{ONE}/glob-1"));
    s.ok("carol", &format!("{ONE}/glob-1"));

    // The compliance officer and the read-only token never delete; a Go recording is its
    // person's to delete.
    let officer = s.refused("officer", "DELETE", &format!("{ONE}/paid-1"), 403);
    assert_eq!(officer, "a compliance officer never deletes recordings");
    assert_eq!(
        s.refused("reader", "DELETE", &format!("{ONE}/paid-1"), 403),
        read_only
    );
    assert_eq!(
        s.refused("customer", "DELETE", &format!("{ONE}/go-1"), 403),
        go
    );

    // Every allowed play, download and metadata read was audited, nothing refused was.
    let accesses = s.accesses();
    let mut expected = Vec::new();
    for (who, person) in [
        ("alice", "alice"),
        ("customer", "cat@acme.example"),
        ("partner", "pat@partner.example"),
        ("officer", "olga@acme.example"),
    ] {
        let ids: &[&str] = if who == "alice" {
            &["go-1", "paid-1"]
        } else {
            &["paid-1"]
        };
        for id in ids {
            for action in ["play", "download", "metadata"] {
                expected.push((action.to_string(), id.to_string(), person.to_string()));
            }
        }
    }
    assert_eq!(accesses, expected);
    // A details read or a listing is no access to the audio.
    s.ok("alice", ONE);
    assert_eq!(s.accesses().len(), expected.len());
}

fn audio_is_served_whole_or_by_range_under_its_name_through_signed_links(db: &Db) {
    let tmp = TempDir::new("rec-audio");
    let s = Setup::start(db, &tmp.0, &[]);
    let stored = stored_media(&tmp.0, "go-1");
    let len = stored.len();
    assert!(len > 1000, "{len} bytes");

    let details = s.ok("alice", &format!("{ONE}/go-1"));
    assert_eq!(details["topic"], "Alice to +1 555 0100");
    assert_eq!(details["createTime"], "2026-11-25T10:02:00.000Z");
    assert_eq!(details["durationSeconds"], 90);
    assert_eq!(details["sizeBytes"], len);
    assert_eq!(details["format"], "opus");
    assert_eq!(details["plan"], "dubber-go");
    assert_eq!(
        details["expiryReason"],
        "Dubber Go keeps recordings 30 days"
    );
    let links = &details["temporaryDirectDownloadLinks"];
    let expiration = links["expiration"].as_str().expect("expiration");
    assert!(Time::parse_rfc3339(expiration).is_some(), "{expiration}");
    let link = |name: &str| -> String {
        let url = links[name].as_str().expect("a link");
        let path = url
            .strip_prefix("http://test")
            .unwrap_or_else(|| panic!("{url}"));
        path.to_string()
    };
    let (play, download) = (link("audioPlaybackLink"), link("audioDownloadLink"));

    // The playback link needs no token: the whole file, inline.
    let whole = s.raw("", &play, &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, stored, "the stored file, byte for byte");
    assert_eq!(whole.header("content-type"), Some("audio/ogg"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        whole.header("content-length"),
        Some(len.to_string().as_str())
    );
    let name = "2026-11-25 10-02 Alice to +1 555 0100.opus";
    let inline = whole.header("content-disposition").expect("disposition");
    assert!(
        inline.starts_with(&format!("inline; filename=\"{name}\"")),
        "{inline}"
    );

    // The download link: the same bytes, as a file of the recording's name; ffprobe reads it.
    let file = s.raw("", &download, &[]);
    assert_eq!(file.status, 200);
    assert_eq!(file.body, stored);
    assert_eq!(
        file.header("content-disposition"),
        Some(
            "attachment; filename=\"2026-11-25 10-02 Alice to +1 555 0100.opus\"; \
             filename*=UTF-8''2026-11-25%2010-02%20Alice%20to%20+1%20555%200100.opus"
        )
    );
    let saved = tmp.path(name);
    std::fs::write(&saved, &file.body).expect("save");
    let probe = common::run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_name:format=format_name,duration".as_ref(),
            "-of".as_ref(),
            "default=noprint_wrappers=1".as_ref(),
            saved.as_os_str(),
        ],
    );
    assert!(probe.contains("codec_name=opus"), "{probe}");
    assert!(probe.contains("format_name=ogg"), "{probe}");
    let duration: f64 = probe
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{probe}"));
    assert!(duration > 1.0, "{probe}");

    // Ranges, read back against the stored file.
    for (range, from, to) in [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, len),
        ("bytes=-50", len - 50, len),
    ] {
        let part = s.raw("alice", &format!("{ONE}/go-1/audio"), &[("Range", range)]);
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, stored[from..to], "{range}");
        let content_range = format!("bytes {from}-{}/{len}", to - 1);
        assert_eq!(part.header("content-range"), Some(content_range.as_str()));
        assert_eq!(
            part.header("content-length"),
            Some((to - from).to_string().as_str())
        );
    }
    let beyond = s.raw("", &play, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    // Several ranges: the whole file.
    let several = s.raw("", &play, &[("Range", "bytes=0-1,5-9")]);
    assert_eq!((several.status, several.body.len()), (200, len));

    // Audited: the plays and the download from byte 0 (the two links, the 0-99 range), not the
    // later ranges nor the refused one.
    let actions: Vec<String> = s.accesses().into_iter().map(|(a, ..)| a).collect();
    assert_eq!(actions, ["play", "download", "play", "play"]);

    // An altered link, or one used for something else, is not valid; a link of another
    // server's key neither.
    let tampered = play.replace("sig=", "sig=00");
    let not_valid = |path: &str| {
        let refused = s.raw("", path, &[]);
        assert_eq!(refused.status, 403, "{path}");
        let body: Value = serde_json::from_slice(&refused.body).expect("json");
        body["message"].as_str().expect("message").to_string()
    };
    assert_eq!(not_valid(&tampered), "this link is not valid");
    let sig = play.split("sig=").nth(1).expect("sig");
    let mut flipped = sig.to_string().into_bytes();
    flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
    let flipped = play.replace(sig, std::str::from_utf8(&flipped).expect("hex"));
    assert_eq!(not_valid(&flipped), "this link is not valid");
    assert_eq!(
        not_valid(&play.replace("purpose=play", "purpose=download")),
        "this link is not valid"
    );
    let later = play.replace("expires=", "expires=9");
    assert_eq!(not_valid(&later), "this link is not valid");
    assert_eq!(
        not_valid(&play.replace("orgId=acme", "orgId=globex")),
        "this link is not valid"
    );
    // Without a signature or a token: who is asking?
    let bare = s.raw("", &format!("{ONE}/go-1/audio"), &[]);
    assert_eq!(bare.status, 401);

    // A revoked token's links die with it.
    let alice_id = s.ok("alice", "/v1/whoami")["token"]
        .as_str()
        .expect("id")
        .to_string();
    let revoked = s.call("alice", "DELETE", &format!("/v1/tokens/{alice_id}"));
    assert_eq!(
        revoked.0, 403,
        "a user token is no policy caller: {}",
        revoked.1
    );
    let (status, _) = s.call("customer", "DELETE", &format!("/v1/tokens/{alice_id}"));
    assert_eq!(status, 200);
    let message = not_valid(&play);
    assert!(
        message.starts_with("this link is not valid: its token revoked at "),
        "{message}"
    );
}

fn listings_page_newest_first_and_filter_by_date_and_participant(db: &Db) {
    let tmp = TempDir::new("rec-list");
    let s = Setup::start(db, &tmp.0, &[]);
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };

    // alice's own, newest first, two a page, with the links of the pages beside.
    let first = s.raw("alice", &format!("{ONE}?max=2"), &[]);
    assert_eq!(first.status, 200);
    let body: Value = serde_json::from_slice(&first.body).expect("json");
    assert_eq!(ids(&body), ["go-1", "paid-3"]);
    assert_eq!(
        (
            body["page"].clone(),
            body["max"].clone(),
            body["hasMore"].clone()
        ),
        (json!(1), json!(2), json!(true))
    );
    assert_eq!(
        first.header("link"),
        Some("</v1/convergedRecordings?max=2&page=2>; rel=\"next\"")
    );
    let second = s.raw("alice", &format!("{ONE}?max=2&page=2"), &[]);
    let body: Value = serde_json::from_slice(&second.body).expect("json");
    assert_eq!(ids(&body), ["paid-2", "paid-1"]);
    assert_eq!(body["hasMore"], false);
    assert_eq!(
        second.header("link"),
        Some("</v1/convergedRecordings?max=2&page=1>; rel=\"prev\"")
    );
    let item = &body["items"][1];
    assert_eq!(item["topic"], "Alice from Bob");
    assert_eq!(item["direction"], "inbound");
    assert_eq!(item["personId"], "alice");
    assert_eq!(
        item["participants"][0],
        json!({ "names": ["Bob"], "addresses": ["sip:bob@acme.example"] })
    );
    assert_eq!(item["retention"], "unlimited");
    assert_eq!(item["expiresAt"], Value::Null);
    assert_eq!(
        item["access"],
        json!({ "play": true, "download": true, "delete": true })
    );
    assert_eq!(ids(&s.ok("bob", ONE)), ["bob-1"]);
    assert_eq!(ids(&s.ok("carol", ONE)), ["glob-1"]);

    // From (inclusive) and to (exclusive), as times or dates.
    let window = s.ok(
        "alice",
        &format!("{ONE}?from=2026-11-21&to=2026-11-22T10:02:00Z"),
    );
    assert_eq!(ids(&window), ["paid-2"]);
    let since = s.ok("alice", &format!("{ONE}?from=2026-11-22T10:02:00Z"));
    assert_eq!(ids(&since), ["go-1", "paid-3"]);
    // By participant, name or address, any case.
    assert_eq!(
        ids(&s.ok("alice", &format!("{ONE}?participant=carol"))),
        ["paid-2"]
    );
    assert_eq!(
        ids(&s.ok("alice", &format!("{ONE}?participant=%2B1555"))),
        ["go-1"]
    );
    assert_eq!(
        ids(&s.ok("alice", &format!("{ONE}?participant=BOB%40ACME"))),
        ["paid-1"]
    );

    // Refused input says which field.
    let bad = s.refused("alice", "GET", &format!("{ONE}?from=yesterday"), 400);
    assert!(bad.starts_with("from: 'yesterday' is neither"), "{bad}");
    assert_eq!(
        s.refused("alice", "GET", &format!("{ONE}?max=0"), 400),
        "max: 0 is outside 1-100"
    );
    assert_eq!(
        s.refused("alice", "GET", &format!("{ONE}?max=101"), 400),
        "max: 101 is outside 1-100"
    );
    s.refused("alice", "GET", &format!("{ONE}?page=0"), 400);
    s.refused("alice", "GET", &format!("{ONE}?page=two"), 400);

    // The organisation's listing: every person's, Go recordings shown without their audio.
    let admin = "/v1/admin/convergedRecordings";
    for who in ["customer", "officer", "reader"] {
        let all = s.ok(who, admin);
        assert_eq!(
            ids(&all),
            ["go-1", "bob-1", "paid-3", "paid-2", "paid-1"],
            "{who}"
        );
        assert_eq!(all["items"][0]["access"]["play"], false, "{who}");
        assert_eq!(
            all["items"][0]["sizeBytes"].as_u64().map(|n| n > 0),
            Some(true)
        );
    }
    assert_eq!(
        ids(&s.ok("customer", &format!("{admin}?personId=bob"))),
        ["bob-1"]
    );
    // A token of several organisations names one; never another's.
    s.refused("partner", "GET", admin, 400);
    assert_eq!(
        ids(&s.ok("partner", &format!("{admin}?orgId=globex"))),
        ["glob-1"]
    );
    s.refused("customer", "GET", &format!("{admin}?orgId=globex"), 403);
}

fn deleting_removes_the_objects_and_the_row_but_never_under_legal_hold(db: &Db) {
    let tmp = TempDir::new("rec-delete");
    let s = Setup::start(db, &tmp.0, &["paid-3"]);
    let store = tmp.path("store");
    let objects_of = |id: &str| -> Vec<String> {
        common::cli::files(&store)
            .into_iter()
            .filter(|f| f.contains(&format!("/{id}/")))
            .collect()
    };
    assert_eq!(objects_of("paid-2").len(), 2, "media and metadata document");

    // An administrator deletes a paid recording: its objects and its row go.
    let (status, body) = s.call("customer", "DELETE", &format!("{ONE}/paid-2"));
    assert_eq!(status, 204, "{body}");
    assert_eq!(objects_of("paid-2"), Vec::<String>::new());
    s.refused("customer", "GET", &format!("{ONE}/paid-2"), 404);
    s.refused("customer", "DELETE", &format!("{ONE}/paid-2"), 404);

    // Its person deletes a Go recording.
    let (status, _) = s.call("alice", "DELETE", &format!("{ONE}/go-1"));
    assert_eq!(status, 204);
    assert!(objects_of("go-1").is_empty());

    // Under legal hold: nobody, and nothing is removed.
    for who in ["alice", "customer"] {
        let held = s.refused(who, "DELETE", &format!("{ONE}/paid-3"), 409);
        assert_eq!(held, "this recording is under legal hold");
    }
    assert_eq!(objects_of("paid-3").len(), 2);
    let details = s.ok("alice", &format!("{ONE}/paid-3"));
    assert_eq!(details["legalHold"], true);
    assert_eq!(details["access"]["delete"], false);

    // Both deletions audited, by whom.
    let deletions: Vec<(String, String, String)> = s
        .accesses()
        .into_iter()
        .filter(|(action, ..)| action == "delete")
        .collect();
    let row = |id: &str, who: &str| ("delete".to_string(), id.to_string(), who.to_string());
    assert_eq!(
        deletions,
        [row("paid-2", "cat@acme.example"), row("go-1", "alice")]
    );
    let remaining: Vec<String> = s.ok("customer", "/v1/admin/convergedRecordings")["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(remaining, ["bob-1", "paid-3", "paid-1"]);
}

/// The calling platform's per-person switches (`callRecordingAccessSettings`) limit what a
/// person may do with their own recordings, from their next request on; administrators'
/// rights come from their role and the plan and are not touched.
fn a_person_s_own_switches_limit_what_they_may_do_with_their_recordings(db: &Db) {
    let tmp = TempDir::new("rec-switches");
    let s = Setup::start(db, &tmp.0, &[]);
    let send = |who: &str, method: &str, path: &str, body: Value| {
        let token = s.tokens[who].as_str();
        let (status, _, answer) = s.server.request(method, path, Some(token), Some(&body));
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
    };
    send(
        "partner",
        "POST",
        "/v1/organizations",
        json!({ "id": "acme", "displayName": "ACME", "region": "EU" }),
    );
    send(
        "customer",
        "POST",
        "/v1/locations",
        json!({ "id": "paris", "name": "Paris" }),
    );
    send(
        "customer",
        "POST",
        "/v1/people",
        json!({
            "id": "alice", "locationId": "paris", "firstName": "Alice", "lastName": "Martin",
            "email": "alice@example.com", "timeZone": "Europe/Paris",
            "callingLicense": "Professional", "sipAddresses": ["sip:alice@acme.example"],
        }),
    );
    let switches = |play: bool, download: bool, delete: bool| {
        json!({ "callRecordingAccessSettings": {
            "viewAndPlayRecordingsEnabled": play,
            "downloadRecordingsEnabled": download,
            "deleteRecordingsEnabled": delete,
            "shareRecordingsEnabled": true,
        }})
    };
    let settings = "/v1/people/alice/features/callRecording";
    let paid = format!("{ONE}/paid-1");

    // Every switch on (the default): everything, as before.
    let details = s.ok("alice", &paid);
    assert_eq!(
        details["access"],
        json!({"play": true, "download": true, "delete": true})
    );

    // Download and delete off: she still lists and plays, nothing more.
    send("customer", "PUT", settings, switches(true, false, false));
    let details = s.ok("alice", &paid);
    assert_eq!(
        details["access"],
        json!({"play": true, "download": false, "delete": false})
    );
    let links = &details["temporaryDirectDownloadLinks"];
    assert!(links["audioPlaybackLink"].is_string(), "{details}");
    assert!(links["audioDownloadLink"].is_null(), "{details}");
    let refused = s.raw("alice", &format!("{paid}/audio?purpose=download"), &[]);
    assert_eq!(refused.status, 403);
    let message = String::from_utf8_lossy(&refused.body).into_owned();
    assert!(
        message.contains("downloading your recordings is turned off"),
        "{message}"
    );
    let why = s.refused("alice", "DELETE", &paid, 403);
    assert!(
        why.contains("deleting your recordings is turned off"),
        "{why}"
    );
    assert_eq!(s.raw("alice", &format!("{paid}/audio"), &[]).status, 200);
    assert_eq!(
        s.ok("alice", ONE)["items"].as_array().expect("items").len(),
        4
    );

    // View and play off: her recordings are closed to her, with the reason.
    send("customer", "PUT", settings, switches(false, true, true));
    let closed = "viewing and playing your recordings is turned off for you";
    assert!(s.refused("alice", "GET", ONE, 403).contains(closed));
    assert!(s.refused("alice", "GET", &paid, 403).contains(closed));
    assert!(s
        .refused("alice", "GET", &format!("{paid}/metadata"), 403)
        .contains(closed));
    // Her administrator is not bound by her switches, and bob's are his own.
    assert_eq!(s.ok("customer", &paid)["access"]["play"], true);
    assert_eq!(
        s.ok("bob", ONE)["items"].as_array().expect("items").len(),
        1
    );
}
