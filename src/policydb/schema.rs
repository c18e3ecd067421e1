//! The schema, as numbered migrations applied in order, identical on SQLite and PostgreSQL:
//! portable SQL only (TEXT, BIGINT, plain indexes), JSON kept as TEXT. A migration is never
//! edited once released; a change is a new migration appended to [`MIGRATIONS`].

/// Migration `n` (counting from 1) is `MIGRATIONS[n - 1]`: single statements, run in one
/// transaction together with the `schema_version` row that records it.
pub const MIGRATIONS: &[&[&str]] = &[V1, V2, V3, V4, V5, V6, V7];

/// The first schema.
const V1: &[&str] = &[
    // Every policy document, whatever its kind, as JSON. `version` counts the document's
    // changes from 1 (optimistic concurrency); `lookup` is a second key unique within a kind,
    // such as a user's AOR (dropped by V2); `updated_at` is RFC 3339 UTC.
    "CREATE TABLE documents (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        lookup TEXT,
        version BIGINT NOT NULL,
        body TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    )",
    "CREATE INDEX documents_by_org ON documents (kind, org_id, id)",
    "CREATE UNIQUE INDEX documents_by_lookup ON documents (kind, lookup)",
    // One row per change, written in the change's own transaction. `seq` comes from the
    // `sequences` row, so it has no gaps and follows commit order.
    "CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        org_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        before TEXT,
        after TEXT
    )",
    "CREATE INDEX audit_by_org ON audit (org_id, seq)",
    // Bearer tokens by the SHA-256 (hex) of the token; the token itself is never stored.
    "CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        orgs TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    // Counters. Every write transaction starts by taking the next `audit` number, which also
    // makes it wait for any other write in flight (see the module documentation).
    "CREATE TABLE sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO sequences (name, value) VALUES ('audit', 0)",
];

/// No `lookup` column: a second unique key is a document of its own kind keyed by it (a
/// user's AOR is an `aor` document), whose primary key makes it unique. SQLite drops a column
/// only once no index uses it.
const V2: &[&str] = &[
    "DROP INDEX documents_by_lookup",
    "ALTER TABLE documents DROP COLUMN lookup",
];

/// `column` with each `"provider":"Name"` of V3 replaced by `"provider":"id"`.
macro_rules! provider_ids {
    ($column:literal) => {
        concat!(
            "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(",
            $column,
            r#", '"provider":"Dubber"', '"provider":"dubber"')"#,
            r#", '"provider":"Imagicle"', '"provider":"imagicle"')"#,
            r#", '"provider":"CallCabinet"', '"provider":"callcabinet"')"#,
            r#", '"provider":"None"', '"provider":"none"')"#,
            r#", '"provider":"OrganisationDefault"', '"provider":"orgDefault"')"#,
        )
    };
}

/// Providers and vendors are written by id (`"provider":"dubber"`, `"none"`, `"orgDefault"`)
/// where bodies had the variant names (`"Dubber"`, `"None"`, `"OrganisationDefault"`): every
/// stored body and audit row is rewritten, so each reads one way. A JSON string's own quotes
/// are escaped, so the pattern matches only the `provider` key of a document.
const V3: &[&str] = &[
    concat!("UPDATE documents SET body = ", provider_ids!("body")),
    concat!(
        "UPDATE audit SET before = ",
        provider_ids!("before"),
        ", after = ",
        provider_ids!("after")
    ),
];

/// Tokens with a life: the person each belongs to (rules about administrators bind the
/// person, not one of their tokens), when it expires and when it was revoked (kept, so a
/// listing shows it). Tokens issued before have no person (their own id stands in) and no
/// expiry: `callrec token list` shows them, and revoking them is the operator's call.
const V4: &[&str] = &[
    "ALTER TABLE tokens ADD COLUMN person TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE tokens ADD COLUMN expires_at TEXT",
    "ALTER TABLE tokens ADD COLUMN revoked_at TEXT",
];

/// The recordings catalog (see [`crate::policydb::recordings`]): one row per stored recording,
/// found by organisation, person and start. Times are RFC 3339 UTC of one width, so text order
/// is time order; JSON (participants, files) kept as TEXT; `person` and `location_id` are ''
/// when unknown; `legal_hold` is 0 or 1.
const V5: &[&str] = &[
    "CREATE TABLE recordings (
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        person TEXT NOT NULL,
        location_id TEXT NOT NULL,
        participants TEXT NOT NULL,
        direction TEXT NOT NULL,
        kind TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        duration_ms BIGINT NOT NULL,
        provider TEXT NOT NULL,
        plan TEXT NOT NULL,
        retention TEXT NOT NULL,
        expires_at TEXT,
        legal_hold BIGINT NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        destination TEXT NOT NULL,
        prefix TEXT NOT NULL,
        files TEXT NOT NULL,
        metadata_key TEXT NOT NULL,
        ended TEXT NOT NULL,
        stored_at TEXT NOT NULL,
        PRIMARY KEY (org_id, id)
    )",
    "CREATE INDEX recordings_by_person ON recordings (org_id, person, start_at, id)",
    "CREATE INDEX recordings_by_start ON recordings (org_id, start_at, id)",
    "CREATE INDEX recordings_by_prefix ON recordings (prefix)",
];

/// Completion events (see [`crate::policydb::webhooks`]): each organisation's webhook (its
/// URL and signing secret, sealed when the server has a secrets key; the outcome of its last
/// delivery) and the outbox of events to deliver, one row per event, written in the
/// transaction of what it announces. `state` is `pending`, `delivered` or `failed` (given
/// up); a pending event is due at `next_attempt_at` unless a worker's lease on it runs until
/// later. One event per (organisation, type, recording): writing it twice writes it once.
const V6: &[&str] = &[
    "CREATE TABLE webhooks (
        org_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_delivered_at TEXT,
        last_error TEXT,
        last_error_at TEXT
    )",
    "CREATE TABLE webhook_events (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        recording_id TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        lease_owner TEXT,
        delivered_at TEXT,
        last_error TEXT
    )",
    "CREATE UNIQUE INDEX webhook_events_once ON webhook_events (org_id, event_type, recording_id)",
    "CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at)",
    "CREATE INDEX webhook_events_by_org ON webhook_events (org_id, state, created_at)",
];

/// Legal holds (see [`crate::policydb::holds`]): one row per hold placed, kept once released
/// (`released_at` set) so the listing shows what was held and when. A hold names one recording
/// (`recording_id`), or a person ('' for everyone) and a start range (`from_at` inclusive,
/// `to_at` exclusive, NULL for open); `recordings.legal_hold` is kept equal to "some active
/// hold covers this row".
const V7: &[&str] = &[
    "CREATE TABLE legal_holds (
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        recording_id TEXT NOT NULL,
        person TEXT NOT NULL,
        from_at TEXT,
        to_at TEXT,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        released_by TEXT,
        released_at TEXT,
        PRIMARY KEY (org_id, id)
    )",
    "CREATE INDEX legal_holds_by_recording ON legal_holds (org_id, recording_id)",
];
