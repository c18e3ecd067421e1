//! `callrec storage ...`: what is in the store and keeping it right: drain the spool, list and
//! verify recordings, sweep expired ones, and the lifecycle configuration that enforces
//! retention on S3.

use crate::failure::Failure;
use crate::output::{Line, Output, Row};
use crate::runtime;
use crate::store::{self, StoreArgs, StoreOnlyArgs};
use callrec::catalog::sync as catalog_sync;
use callrec::config::Config;
use callrec::policydb::{Create, DbError, PolicyDb};
use callrec::server::clock;
use callrec::store::catalog::{self, StoredRecording};
use callrec::store::key::RetentionClass;
use callrec::store::metadata::StoredMetadata;
use callrec::store::rewrap::{self, RewrapEvent, RewrapReport};
use callrec::store::spool::Spool;
use callrec::store::sweep::{self, SweepEvent};
use callrec::store::{lifecycle, verify, Destination, StoreError};
use std::time::Duration;

#[derive(clap::Parser)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(clap::Subcommand)]
enum StorageCommand {
    /// The bucket lifecycle configuration that deletes each retention class on time.
    Lifecycle(LifecycleArgs),
    /// Upload everything waiting in the spool (what an interrupted run left behind).
    Flush(FlushArgs),
    /// List stored recordings with their retention, expiry and completeness.
    Ls(ListArgs),
    /// Re-read stored recordings and check them against their metadata's SHA-256, and the
    /// recordings catalog against the store (when there is a policy database).
    Verify(CatalogArgs),
    /// Rebuild the recordings catalog from the store's metadata documents (a catalog lost with
    /// its database comes back; legal holds in a surviving catalog are kept).
    Reindex(CatalogArgs),
    /// Delete the recordings whose retention has passed (for stores without lifecycle rules).
    Sweep(SweepArgs),
    /// Wrap every encrypted recording's data key of --org with its current key
    /// (orgs.ORG.encryption.current), rewriting only metadata documents: after it, older keys
    /// can leave the keyring.
    Rewrap(RewrapArgs),
}

#[derive(clap::Parser)]
struct RewrapArgs {
    #[command(flatten)]
    store: StoreOnlyArgs,
    /// The organisation whose recordings are rewrapped (in its own storage, if it has one).
    #[arg(long)]
    org: String,
}

#[derive(clap::Parser)]
struct SweepArgs {
    #[command(flatten)]
    store: StoreOnlyArgs,
    /// Report what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Parser)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["print", "apply"])))]
struct LifecycleArgs {
    /// Print the configuration (S3 PutBucketLifecycleConfiguration XML).
    #[arg(long)]
    print: bool,
    /// Set it on the S3 bucket of --store (or the config's store), read it back, and fail
    /// unless the bucket kept every rule and filter (the previous configuration is restored).
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    store: StoreOnlyArgs,
    /// Retention classes to enforce (repeatable), e.g. 7d, 30d, 365d.
    #[arg(long = "class", value_name = "CLASS", default_value = "30d")]
    classes: Vec<RetentionClass>,
    /// Add prefix-filtered rules for stores that honour no tag filters.
    #[arg(long)]
    prefix_rules: bool,
}

#[derive(clap::Parser)]
struct FlushArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Give up on a job after retrying this long (it stays in the spool); default: never.
    #[arg(long, value_name = "SECS")]
    give_up_after: Option<u64>,
}

#[derive(clap::Parser)]
struct ListArgs {
    #[command(flatten)]
    store: StoreOnlyArgs,
    /// Only this organisation's recordings (in its own storage, if it has one).
    #[arg(long)]
    org: Option<String>,
}

/// A store walk that also reads the recordings catalog.
#[derive(clap::Parser)]
struct CatalogArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Policy database holding the recordings catalog: sqlite://PATH or postgres://...
    /// (CALLREC_POLICY_DB, policy.db; default sqlite://policy.sqlite).
    #[arg(long, value_name = "URL")]
    policy_db: Option<String>,
}

pub fn run(args: StorageArgs) -> Result<(), Failure> {
    match args.command {
        StorageCommand::Lifecycle(args) => lifecycle(args),
        StorageCommand::Sweep(args) => sweep(args),
        StorageCommand::Flush(args) => flush(args),
        StorageCommand::Ls(args) => list(args),
        StorageCommand::Verify(args) => verify(args),
        StorageCommand::Reindex(args) => reindex(args),
        StorageCommand::Rewrap(args) => rewrap(args),
    }
}

/// One line per recording rewrapped or skipped, then the summary; exit 1 when any was skipped.
fn rewrap(args: RewrapArgs) -> Result<(), Failure> {
    let store = args.store.full();
    let config = store.config()?;
    let keys = config.keyring()?.remove(&args.org).ok_or_else(|| {
        Failure::BadInput(format!(
            "organisation {} has no keys: set [orgs.{}.encryption]",
            args.org, args.org
        ))
    })?;
    let dest = store::open(&store.target(&config, Some(&args.org)))?;
    let mut out = Output::stdout();
    let mut printed = Ok(());
    let report = runtime::current_thread()?
        .block_on(rewrap::rewrap(&dest, &args.org, &keys, |event| {
            if printed.is_ok() {
                printed = out.line(&RewrapLine(event));
            }
        }))
        .map_err(Failure::failed)?;
    printed?;
    out.summary(&RewrapSummary {
        kind: "summary",
        report: &report,
    })?;
    match report.skipped {
        0 => Ok(()),
        n => Err(Failure::Failed(format!(
            "{n} recording(s) could not be rewrapped (see their lines)"
        ))),
    }
}

#[derive(serde::Serialize)]
#[serde(transparent)]
struct RewrapLine<'a>(&'a RewrapEvent);

impl Line for RewrapLine<'_> {
    fn text(&self) -> String {
        match self.0 {
            RewrapEvent::Rewrapped { prefix, from, to } => {
                format!("{prefix}: data key rewrapped from {from} to {to}")
            }
            RewrapEvent::Skipped { prefix, reason } => format!("{prefix}: skipped: {reason}"),
        }
    }
}

#[derive(serde::Serialize)]
struct RewrapSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    report: &'a RewrapReport,
}

impl Line for RewrapSummary<'_> {
    fn text(&self) -> String {
        let r = self.report;
        format!(
            "{} rewrapped, {} already under the current key, {} not encrypted, {} skipped",
            r.rewrapped, r.current, r.plain, r.skipped
        )
    }
}

fn lifecycle(args: LifecycleArgs) -> Result<(), Failure> {
    let store = args.store.full();
    let config = store.config()?;
    if args.print && !store.given(&config) {
        let xml = lifecycle::configuration(&args.classes, args.prefix_rules);
        return Ok(Output::stdout().raw(xml.trim_end())?);
    }
    let dest = store::open(&store.target(&config, None))?;
    let root = match dest.prefix.as_str() {
        "" => String::new(),
        prefix => format!("{prefix}/"),
    };
    let xml = lifecycle::configuration_under(&root, &args.classes, args.prefix_rules);
    if args.print {
        return Ok(Output::stdout().raw(xml.trim_end())?);
    }
    let Some(s3) = dest.s3() else {
        return Err(Failure::BadInput(format!(
            "{}: lifecycle rules need an S3 store; run `callrec storage sweep` periodically instead",
            dest.url
        )));
    };
    runtime::current_thread()?
        .block_on(lifecycle::apply(s3, &xml))
        .map_err(Failure::failed)?;
    Ok(Output::stdout().line(&LifecycleApplied {
        kind: "lifecycle_applied",
        store: &dest.url,
        rules: lifecycle::parse(&xml).map(|r| r.len()).unwrap_or(0),
    })?)
}

/// `lifecycle --apply`'s result: the bucket kept every rule (read back and compared).
#[derive(serde::Serialize)]
struct LifecycleApplied<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    store: &'a str,
    rules: usize,
}

impl Line for LifecycleApplied<'_> {
    fn text(&self) -> String {
        format!(
            "{}: {} lifecycle rule(s) set, read back and verified",
            self.store, self.rules
        )
    }
}

/// Sweeps the default store, and every organisation's own, unless --store names one. A sweep
/// changes the store, so a reader that goes away does not stop it.
fn sweep(args: SweepArgs) -> Result<(), Failure> {
    let store = args.store.full();
    let config = store.config()?;
    let mut targets = vec![store.target(&config, None)];
    if store.store.is_none() {
        for org in config.orgs.values() {
            if let Some(own) = org.store.clone().filter(|t| !targets.contains(t)) {
                targets.push(own);
            }
        }
    }
    let now = clock::now();
    let runtime = runtime::current_thread()?;
    let catalog = runtime.block_on(store::existing_catalog(&config))?;
    // Recordings under legal hold are kept, expired or not (no policy database: no holds).
    let held = match &catalog {
        Some(db) => runtime
            .block_on(db.held_prefixes())
            .map_err(Failure::failed)?,
        None => Default::default(),
    };
    let mut out = Output::stdout();
    let mut total = SweepCounts {
        dry_run: args.dry_run,
        ..SweepCounts::default()
    };
    for target in &targets {
        let dest = store::open(target)?;
        let mut printed = Ok(());
        let mut deleted = Vec::new();
        let mut log = |event: &SweepEvent| {
            let line = match event {
                SweepEvent::Expired {
                    prefix,
                    keys,
                    expiry,
                    bytes,
                    dry_run,
                } => SweepLine::Expired {
                    kind: if *dry_run { "would_delete" } else { "deleted" },
                    recording: prefix,
                    keys,
                    expired: expiry.to_rfc3339(),
                    bytes: *bytes,
                },
                SweepEvent::Skipped { prefix, reason } => SweepLine::Skipped {
                    kind: "skipped",
                    recording: prefix,
                    reason,
                },
                SweepEvent::Held { prefix, expiry } => SweepLine::Held {
                    kind: "held",
                    recording: prefix,
                    expired: expiry.to_rfc3339(),
                },
            };
            if printed.is_ok() {
                printed = out.line(&line);
            }
        };
        let log = |event: &SweepEvent| {
            if let SweepEvent::Expired {
                prefix,
                dry_run: false,
                ..
            } = event
            {
                deleted.push(prefix.clone());
            }
            log(event)
        };
        let report = runtime
            .block_on(sweep::sweep(&dest, now, args.dry_run, &held, log))
            .map_err(Failure::failed)?;
        printed?;
        if let Some(db) = &catalog {
            for prefix in &deleted {
                runtime
                    .block_on(db.remove_recording_swept(prefix, now))
                    .map_err(Failure::failed)?;
            }
        }
        let mut counts = SweepCounts {
            dry_run: args.dry_run,
            ..SweepCounts::default()
        };
        counts.add(&report);
        total.add(&report);
        out.line(&Swept {
            kind: "swept",
            store: &target.url,
            counts,
        })?;
    }
    Ok(out.summary(&SweepSummary {
        kind: "summary",
        stores: targets.len(),
        counts: total,
    })?)
}

/// One recording the sweep deleted (or, in a dry run, would delete) or left alone.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum SweepLine<'a> {
    Expired {
        /// `deleted`, or `would_delete` in a dry run.
        #[serde(rename = "type")]
        kind: &'static str,
        recording: &'a str,
        keys: &'a [String],
        expired: String,
        bytes: u64,
    },
    Skipped {
        #[serde(rename = "type")]
        kind: &'static str,
        recording: &'a str,
        reason: &'a str,
    },
    /// Expired but under legal hold: kept.
    Held {
        #[serde(rename = "type")]
        kind: &'static str,
        recording: &'a str,
        expired: String,
    },
}

impl Line for SweepLine<'_> {
    fn text(&self) -> String {
        match self {
            SweepLine::Expired {
                kind,
                recording,
                expired,
                bytes,
                ..
            } => format!(
                "{} {recording} (expired {expired}, {bytes} bytes)",
                kind.replace('_', " ")
            ),
            SweepLine::Skipped {
                recording, reason, ..
            } => format!("skipped {recording}: {reason}"),
            SweepLine::Held {
                recording, expired, ..
            } => format!("held {recording} (expired {expired}, under legal hold: kept)"),
        }
    }
}

/// One store swept: its counts (a sweep covers the default store and each organisation's).
#[derive(serde::Serialize)]
struct Swept<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    store: &'a str,
    #[serde(flatten)]
    counts: SweepCounts,
}

/// The sweep's end: every store's counts added up.
#[derive(serde::Serialize)]
struct SweepSummary {
    #[serde(rename = "type")]
    kind: &'static str,
    stores: usize,
    #[serde(flatten)]
    counts: SweepCounts,
}

/// What a sweep did (in a dry run: would have done), in the order the lines show it.
#[derive(serde::Serialize, Default)]
struct SweepCounts {
    dry_run: bool,
    deleted: usize,
    kept: usize,
    skipped: usize,
    held: usize,
    objects_deleted: usize,
    bytes_deleted: u64,
}

impl SweepCounts {
    fn add(&mut self, report: &sweep::SweepReport) {
        self.deleted += report.deleted;
        self.kept += report.kept;
        self.held += report.held;
        self.skipped += report.skipped;
        self.objects_deleted += report.objects_deleted;
        self.bytes_deleted += report.bytes_deleted;
    }

    fn text(&self) -> String {
        format!(
            "{} recording(s) {}, {} kept, {} skipped ({} objects, {} bytes)",
            self.deleted,
            if self.dry_run {
                "would be deleted"
            } else {
                "deleted"
            },
            self.kept,
            self.skipped,
            self.objects_deleted,
            self.bytes_deleted
        )
    }
}

impl Line for Swept<'_> {
    fn text(&self) -> String {
        format!("{}: {}", self.store, self.counts.text())
    }
}

impl Line for SweepSummary {
    fn text(&self) -> String {
        format!("{} store(s) swept: {}", self.stores, self.counts.text())
    }
}

/// Uploads what waits in the spool, one `stored` line per job, then the summary. A job left
/// in the spool is postponed, not lost: exit 75, so a script retries later. A reader that goes
/// away does not stop the uploads.
fn flush(args: FlushArgs) -> Result<(), Failure> {
    let config = args.store.config()?;
    let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
        .map_err(Failure::failed)?;
    // A running server owns the spool and uploads its jobs itself: nothing failed, the
    // flush is only not this process's to do now (75, as for an upload postponed).
    let owner = spool.own().map_err(|e| match e {
        StoreError::SpoolInUse { .. } => Failure::Postponed(e.to_string()),
        e => Failure::failed(e),
    })?;
    let give_up_after = args.give_up_after.map(Duration::from_secs);
    let report = store::drain(&config, &spool, &owner, give_up_after).map_err(Failure::Failed)?;
    Output::stdout().summary(&FlushSummary {
        kind: "summary",
        stored: report.stored,
        pending: report.pending,
    })?;
    match report.pending {
        0 => Ok(()),
        n => Err(Failure::Postponed(format!(
            "{n} recording(s) still in the spool; run `callrec storage flush` again later"
        ))),
    }
}

#[derive(serde::Serialize)]
struct FlushSummary {
    #[serde(rename = "type")]
    kind: &'static str,
    stored: usize,
    /// Still in the spool (the store failed them): the command exits 75.
    pending: usize,
}

impl Line for FlushSummary {
    fn text(&self) -> String {
        format!(
            "{} recording(s) stored, {} still in the spool",
            self.stored, self.pending
        )
    }
}

/// Opens the store `ls` and `verify` walk and lists its recordings.
fn walk(args: &ListArgs) -> Result<(Destination, tokio::runtime::Runtime), Failure> {
    let store = args.store.full();
    let config = store.config()?;
    let dest = store::open(&store.target(&config, args.org.as_deref()))?;
    Ok((dest, runtime::current_thread()?))
}

async fn listed(dest: &Destination, org: Option<&str>) -> Result<Vec<StoredRecording>, Failure> {
    catalog::list(dest, org).await.map_err(Failure::failed)
}

/// One line per recording, then the summary. Read-only: stops when the reader goes away.
/// One recording's unreadable metadata is that recording's `"complete": false`, never the
/// end of the listing.
fn list(args: ListArgs) -> Result<(), Failure> {
    let (dest, runtime) = walk(&args)?;
    let mut out = Output::stdout();
    let mut summary = ListSummary::default();
    runtime.block_on(async {
        for recording in listed(&dest, args.org.as_deref()).await? {
            if out.is_closed() {
                return Ok(());
            }
            let (metadata, reason) = match catalog::read_metadata(&dest, &recording).await {
                Ok(Some((_, metadata))) => {
                    let reason = missing(&recording, &metadata);
                    (Some(metadata), reason)
                }
                Ok(None) => (None, Some("no metadata (upload or move incomplete)".into())),
                Err(e) if catalog::is_about_this_recording(&e) => (None, Some(e.to_string())),
                Err(e) => return Err(Failure::failed(e)),
            };
            let listed = Listed::new(&recording, metadata.as_ref(), reason);
            summary.count(&listed);
            out.row(&listed)?;
        }
        Ok(out.summary(&summary)?)
    })
}

/// Why a recording whose metadata reads well is still incomplete: media it names are gone.
fn missing(recording: &StoredRecording, metadata: &StoredMetadata) -> Option<String> {
    let missing = recording.missing_media(metadata);
    (!missing.is_empty()).then(|| format!("missing: {}", missing.join(", ")))
}

/// `storage ls`'s line for one recording.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    recording: String,
    call: Option<&'a str>,
    sip_call_id: Option<&'a str>,
    org: Option<&'a str>,
    user: Option<&'a str>,
    plan: Option<&'a str>,
    retention: String,
    retained_since: Option<&'a str>,
    expires: Option<String>,
    objects: usize,
    bytes: u64,
    /// The metadata and every media object it names are in the store.
    complete: bool,
    /// Why not, when not complete.
    reason: Option<String>,
}

impl<'a> Listed<'a> {
    fn new(
        recording: &StoredRecording,
        metadata: Option<&'a StoredMetadata>,
        reason: Option<String>,
    ) -> Self {
        let storage = metadata.map(|m| &m.storage);
        Listed {
            kind: "recording",
            recording: recording.dir.prefix(),
            call: metadata.map(|m| m.call.id.as_str()),
            sip_call_id: metadata.and_then(|m| m.call.sip_call_id.as_deref()),
            org: storage.map(|s| s.org.as_str()),
            user: storage.and_then(|s| s.user.as_deref()),
            plan: storage.map(|s| s.plan.as_str()),
            retention: recording.dir.class.to_string(),
            retained_since: storage.map(|s| s.retained_since.as_str()),
            expires: storage.and_then(|s| s.expiry()).map(|t| t.to_rfc3339()),
            objects: recording.media.len() + usize::from(recording.metadata.is_some()),
            bytes: recording.bytes(),
            complete: reason.is_none(),
            reason,
        }
    }
}

impl Row for Listed<'_> {
    const HEADER: &'static [&'static str] = &[
        "RECORDING",
        "PLAN",
        "EXPIRES",
        "OBJECTS",
        "BYTES",
        "COMPLETE",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.recording.clone(),
            self.plan.unwrap_or("-").to_string(),
            self.expires.clone().unwrap_or_else(|| "never".into()),
            self.objects.to_string(),
            self.bytes.to_string(),
            match &self.reason {
                None => "yes".into(),
                Some(reason) => format!("no: {reason}"),
            },
        ]
    }
}

#[derive(serde::Serialize)]
struct ListSummary {
    #[serde(rename = "type")]
    kind: &'static str,
    recordings: usize,
    complete: usize,
    incomplete: usize,
    bytes: u64,
}

impl Default for ListSummary {
    fn default() -> Self {
        ListSummary {
            kind: "summary",
            recordings: 0,
            complete: 0,
            incomplete: 0,
            bytes: 0,
        }
    }
}

impl ListSummary {
    fn count(&mut self, listed: &Listed) {
        self.recordings += 1;
        match listed.complete {
            true => self.complete += 1,
            false => self.incomplete += 1,
        }
        self.bytes += listed.bytes;
    }
}

impl Line for ListSummary {
    fn text(&self) -> String {
        format!(
            "{} recording(s): {} complete, {} incomplete, {} bytes",
            self.recordings, self.complete, self.incomplete, self.bytes
        )
    }
}

/// One line per recording, then the summary; exit 1 when any has a problem. Read-only: stops
/// when the reader goes away. An unreadable metadata document is that recording's problem.
fn verify(args: CatalogArgs) -> Result<(), Failure> {
    let (dest, runtime) = walk(&args.list)?;
    let (config, url) = catalog_target(&args)?;
    let catalog = match &args.policy_db {
        Some(_) => Some(runtime.block_on(open_catalog(&config, Create::Never))?),
        None => runtime.block_on(store::existing_catalog(&config))?,
    };
    let org = args.list.org.as_deref();
    let keyring = config.keyring().map_err(Failure::BadInput)?;
    let mut out = Output::stdout();
    let mut summary = VerifySummary {
        kind: "summary",
        recordings: 0,
        ok: 0,
        failed: 0,
        catalog_mismatches: catalog.as_ref().map(|_| 0),
    };
    runtime.block_on(async {
        let recordings = listed(&dest, org).await?;
        if let Some(db) = &catalog {
            let diff = catalog_sync::compare(db, &url, org, &recordings)
                .await
                .map_err(Failure::failed)?;
            let rows = diff.rows_without_objects.iter().map(|(_, id, prefix)| {
                (
                    prefix,
                    Some(id),
                    "a catalog row whose recording is not in the store",
                )
            });
            let objects = diff
                .objects_without_rows
                .iter()
                .map(|prefix| (prefix, None, "a stored recording the catalog does not list"));
            for (prefix, id, problem) in rows.chain(objects) {
                summary.catalog_mismatches = summary.catalog_mismatches.map(|n| n + 1);
                out.line(&CatalogMismatch {
                    kind: "catalog_mismatch",
                    recording: prefix,
                    id,
                    problem,
                })?;
            }
        }
        for recording in recordings {
            if out.is_closed() {
                return Ok(());
            }
            let problems = verify::check(&dest, &recording, &keyring)
                .await
                .map_err(Failure::failed)?;
            summary.recordings += 1;
            match problems.is_empty() {
                true => summary.ok += 1,
                false => summary.failed += 1,
            }
            out.row(&Verified {
                kind: "verified",
                recording: recording.dir.prefix(),
                ok: problems.is_empty(),
                problems,
            })?;
        }
        out.summary(&summary)?;
        Ok::<_, Failure>(())
    })?;
    match (summary.failed, summary.catalog_mismatches.unwrap_or(0)) {
        (0, 0) => Ok(()),
        (0, n) => Err(Failure::Failed(format!(
            "the recordings catalog and the store disagree on {n} recording(s); \
             `callrec storage reindex` rebuilds the catalog from the store"
        ))),
        (bad, _) => Err(Failure::Failed(format!(
            "{bad} of {} recording(s) failed verification",
            summary.recordings
        ))),
    }
}

/// The configuration (with `--policy-db`) and the URL rows name the walked store by: the one
/// the uploader writes into them.
fn catalog_target(args: &CatalogArgs) -> Result<(Config, String), Failure> {
    let store = args.list.store.full();
    let config = store.config_with_policy_db(args.policy_db.as_deref())?;
    let url = store.target(&config, args.list.org.as_deref()).url;
    Ok((config, url))
}

async fn open_catalog(config: &Config, create: Create) -> Result<PolicyDb, Failure> {
    let named = |e: DbError| Failure::Failed(format!("{}: {e}", config.origins.name("policy.db")));
    let db = PolicyDb::open_with(&config.policy.db, create)
        .await
        .map_err(named)?;
    db.migrate().await.map_err(named)?;
    Ok(db)
}

/// Rebuilds the catalog rows of the walked store (of `--org` only, if given): one line per
/// recording left out, then the summary.
fn reindex(args: CatalogArgs) -> Result<(), Failure> {
    let (dest, runtime) = walk(&args.list)?;
    let (config, url) = catalog_target(&args)?;
    let org = args.list.org.as_deref();
    let mut out = Output::stdout();
    let mut printed = Ok(());
    let report = runtime.block_on(async {
        let db = open_catalog(&config, Create::IfMissing).await?;
        let recordings = listed(&dest, org).await?;
        let on_problem = |prefix: &str, reason: &str| {
            if printed.is_ok() {
                printed = out.line(&Unindexed {
                    kind: "skipped",
                    recording: prefix,
                    reason,
                });
            }
        };
        catalog_sync::reindex(&db, &url, org, &dest, &recordings, clock::now(), on_problem)
            .await
            .map_err(Failure::failed)
    })?;
    printed?;
    out.summary(&ReindexSummary {
        kind: "summary",
        store: &url,
        catalogued: report.catalogued,
        removed: report.removed,
        skipped: report.skipped,
    })?;
    Ok(())
}

/// A recording `storage reindex` could not catalogue.
#[derive(serde::Serialize)]
struct Unindexed<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    recording: &'a str,
    reason: &'a str,
}

impl Line for Unindexed<'_> {
    fn text(&self) -> String {
        format!(
            "{}: left out of the catalog: {}",
            self.recording, self.reason
        )
    }
}

#[derive(serde::Serialize)]
struct ReindexSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    store: &'a str,
    /// Rows written from metadata documents.
    catalogued: usize,
    /// Rows of recordings no longer in the store, removed.
    removed: usize,
    skipped: usize,
}

impl Line for ReindexSummary<'_> {
    fn text(&self) -> String {
        format!(
            "{}: {} recording(s) catalogued, {} row(s) of recordings gone removed, {} left out",
            self.store, self.catalogued, self.removed, self.skipped
        )
    }
}

/// `storage verify`'s line for a recording the catalog and the store disagree on.
#[derive(serde::Serialize)]
struct CatalogMismatch<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    recording: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a String>,
    problem: &'static str,
}

impl Line for CatalogMismatch<'_> {
    fn text(&self) -> String {
        format!("{}: {}", self.recording, self.problem)
    }
}

/// `storage verify`'s line for one recording: intact, or what is wrong with it.
#[derive(serde::Serialize)]
struct Verified {
    #[serde(rename = "type")]
    kind: &'static str,
    recording: String,
    ok: bool,
    problems: Vec<String>,
}

impl Row for Verified {
    const HEADER: &'static [&'static str] = &["RECORDING", "OK", "PROBLEMS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.recording.clone(),
            if self.ok { "yes" } else { "no" }.into(),
            self.problems.join("; "),
        ]
    }
}

#[derive(serde::Serialize)]
struct VerifySummary {
    #[serde(rename = "type")]
    kind: &'static str,
    recordings: usize,
    ok: usize,
    failed: usize,
    /// Recordings the catalog and the store disagree on; absent without a catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_mismatches: Option<usize>,
}

impl Line for VerifySummary {
    fn text(&self) -> String {
        let catalog = match self.catalog_mismatches {
            None => String::new(),
            Some(n) => format!("; the catalog disagrees on {n}"),
        };
        format!(
            "{} recording(s) verified: {} intact, {} with problems{catalog}",
            self.recordings, self.ok, self.failed
        )
    }
}
