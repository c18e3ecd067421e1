//! `callrec storage ...`: what is in the store and keeping it right: drain the spool, list and
//! verify recordings, sweep expired ones, and the lifecycle configuration that enforces
//! retention on S3.

use crate::runtime;
use crate::store::{self, StoreArgs};
use callrec::server::clock;
use callrec::store::key::RetentionClass;
use callrec::store::spool::Spool;
use callrec::store::sweep::{self, SweepEvent};
use callrec::store::{catalog, lifecycle, verify};
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
    /// List stored recordings with their retention and expiry (one JSON line each).
    Ls(ListArgs),
    /// Re-read stored recordings and check them against their metadata's SHA-256.
    Verify(ListArgs),
    /// Delete the recordings whose retention has passed (for stores without lifecycle rules).
    Sweep(SweepArgs),
}

#[derive(clap::Parser)]
struct SweepArgs {
    #[command(flatten)]
    store: StoreArgs,
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
    store: StoreArgs,
    /// Retention classes to enforce (repeatable); default: 30d, the free plan's.
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
    store: StoreArgs,
    /// Only this organisation's recordings (in its own storage, if it has one).
    #[arg(long)]
    org: Option<String>,
}

pub fn run(args: StorageArgs) -> Result<(), String> {
    match args.command {
        StorageCommand::Lifecycle(args) => lifecycle(args),
        StorageCommand::Sweep(args) => sweep(args),
        StorageCommand::Flush(args) => flush(args),
        StorageCommand::Ls(args) => list(args),
        StorageCommand::Verify(args) => verify(args),
    }
}

fn lifecycle(args: LifecycleArgs) -> Result<(), String> {
    let config = args.store.config()?;
    if args.print && !args.store.given(&config) {
        let xml = lifecycle::configuration(&args.classes, args.prefix_rules);
        print!("{xml}");
        return Ok(());
    }
    let dest = store::open(&args.store.target(&config, None))?;
    let root = match dest.prefix.as_str() {
        "" => String::new(),
        prefix => format!("{prefix}/"),
    };
    let xml = lifecycle::configuration_under(&root, &args.classes, args.prefix_rules);
    if args.print {
        print!("{xml}");
        return Ok(());
    }
    let Some(s3) = dest.s3() else {
        return Err(format!(
            "{}: lifecycle rules need an S3 store; run `callrec storage sweep` periodically instead",
            dest.url
        ));
    };
    runtime::current_thread()?
        .block_on(lifecycle::apply(s3, &xml))
        .map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "applied": dest.url,
        "rules": lifecycle::parse(&xml).map(|r| r.len()).unwrap_or(0),
        "verified": true,
    });
    println!("{line}");
    Ok(())
}

/// Sweeps the default store, and every organisation's own, unless --store names one.
fn sweep(args: SweepArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let mut targets = vec![args.store.target(&config, None)];
    if args.store.store.is_none() {
        for org in config.orgs.values() {
            if let Some(own) = org.store.clone().filter(|t| !targets.contains(t)) {
                targets.push(own);
            }
        }
    }
    let now = clock::now();
    let runtime = runtime::current_thread()?;
    for target in targets {
        let dest = store::open(&target)?;
        let log = |event: &SweepEvent| {
            let line = match event {
                SweepEvent::Expired {
                    prefix,
                    keys,
                    expiry,
                    bytes,
                    dry_run,
                } => serde_json::json!({
                    "event": if *dry_run { "would_delete" } else { "deleted" },
                    "recording": prefix,
                    "keys": keys,
                    "expired": expiry.to_rfc3339(),
                    "bytes": bytes,
                }),
                SweepEvent::Skipped { prefix, reason } => serde_json::json!({
                    "event": "skipped",
                    "recording": prefix,
                    "reason": reason,
                }),
            };
            println!("{line}");
        };
        let report = runtime
            .block_on(sweep::sweep(&dest, now, args.dry_run, log))
            .map_err(|e| e.to_string())?;
        let line = serde_json::json!({
            "event": "summary",
            "store": target.url,
            "dry_run": args.dry_run,
            "deleted": report.deleted,
            "kept": report.kept,
            "skipped": report.skipped,
            "objects_deleted": report.objects_deleted,
            "bytes_deleted": report.bytes_deleted,
        });
        println!("{line}");
    }
    Ok(())
}

fn flush(args: FlushArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
        .map_err(|e| e.to_string())?;
    let owner = spool.own().map_err(|e| e.to_string())?;
    let give_up_after = args.give_up_after.map(Duration::from_secs);
    let report = store::drain(&config, &spool, &owner, give_up_after)?;
    match report.pending {
        0 => Ok(()),
        n => Err(format!("{n} recording(s) still in the spool")),
    }
}

fn list(args: ListArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let dest = store::open(&args.store.target(&config, args.org.as_deref()))?;
    runtime::current_thread()?.block_on(async {
        for recording in catalog::list(&dest, args.org.as_deref())
            .await
            .map_err(|e| e.to_string())?
        {
            let metadata = catalog::read_metadata(&dest, &recording)
                .await
                .map_err(|e| e.to_string())?
                .map(|(_, m)| m);
            let storage = metadata.as_ref().map(|m| &m.storage);
            let line = serde_json::json!({
                "recording": recording.dir.prefix(),
                "call": metadata.as_ref().map(|m| &m.call.id),
                "sip_call_id": metadata.as_ref().and_then(|m| m.call.sip_call_id.as_ref()),
                "org": storage.map(|s| &s.org),
                "user": storage.and_then(|s| s.user.as_ref()),
                "plan": storage.map(|s| &s.plan),
                "retention": recording.dir.class.to_string(),
                "retained_since": storage.map(|s| &s.retained_since),
                "expires": storage.and_then(|s| s.expiry()).map(|t| t.to_rfc3339()),
                "objects": recording.media.len() + usize::from(recording.metadata.is_some()),
                "bytes": recording.bytes(),
                "complete": metadata.is_some(),
            });
            println!("{line}");
        }
        Ok(())
    })
}

fn verify(args: ListArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let dest = store::open(&args.store.target(&config, args.org.as_deref()))?;
    let (mut good, mut bad) = (0, 0);
    runtime::current_thread()?.block_on(async {
        for recording in catalog::list(&dest, args.org.as_deref())
            .await
            .map_err(|e| e.to_string())?
        {
            let problems = verify::check(&dest, &recording)
                .await
                .map_err(|e| e.to_string())?;
            match problems.is_empty() {
                true => good += 1,
                false => bad += 1,
            }
            let line = serde_json::json!({
                "recording": recording.dir.prefix(),
                "ok": problems.is_empty(),
                "problems": problems,
            });
            println!("{line}");
        }
        Ok::<_, String>(())
    })?;
    match bad {
        0 => Ok(()),
        _ => Err(format!(
            "{bad} of {} recording(s) failed verification",
            good + bad
        )),
    }
}
