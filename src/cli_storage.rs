//! `callrec storage ...`: what is in the store and keeping it right: drain the spool, list and
//! verify recordings, and the lifecycle configuration that enforces retention.

use crate::cli_store::{self, StoreArgs};
use callrec::store::key::RetentionClass;
use callrec::store::spool::Spool;
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
}

#[derive(clap::Parser)]
struct LifecycleArgs {
    /// Print the configuration (S3 PutBucketLifecycleConfiguration XML).
    #[arg(long, required = true)]
    print: bool,
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
        StorageCommand::Lifecycle(args) => {
            print!(
                "{}",
                lifecycle::configuration(&args.classes, args.prefix_rules)
            );
            Ok(())
        }
        StorageCommand::Flush(args) => flush(args),
        StorageCommand::Ls(args) => list(args),
        StorageCommand::Verify(args) => verify(args),
    }
}

fn flush(args: FlushArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
        .map_err(|e| e.to_string())?;
    let report = cli_store::drain(&config, &spool, args.give_up_after.map(Duration::from_secs))?;
    match report.pending {
        0 => Ok(()),
        n => Err(format!("{n} recording(s) still in the spool")),
    }
}

fn list(args: ListArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let dest = cli_store::open(&args.store.target(&config, args.org.as_deref()))?;
    cli_store::runtime()?.block_on(async {
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
    let dest = cli_store::open(&args.store.target(&config, args.org.as_deref()))?;
    let (mut good, mut bad) = (0, 0);
    cli_store::runtime()?.block_on(async {
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
