//! `callrec retention ...`: putting stored recordings on a customer's plan. So far, `migrate`:
//! one JSON line per recording changed, then a JSON summary line.

use callrec::config::Config;
use callrec::policy::plan::Plan;
use callrec::store::migrate::{self, MigrationEvent};
use callrec::store::Destination;
use callrec::time::Time;
use std::path::PathBuf;

#[derive(clap::Parser)]
pub struct RetentionArgs {
    #[command(subcommand)]
    command: RetentionCommand,
}

#[derive(clap::Subcommand)]
enum RetentionCommand {
    /// Put an organisation's (or one user's) stored recordings on a new plan.
    ///
    /// Recordings whose retention changes move to the new class's prefix: a downgrade to the
    /// free plan keeps them 30 days from now, an upgrade keeps them without limit. Safe to
    /// re-run; a re-run finishes an interrupted migration.
    Migrate(MigrateArgs),
}

#[derive(clap::Parser)]
struct MigrateArgs {
    /// The organisation whose recordings change plan.
    #[arg(long)]
    org: String,
    /// The new plan: dubber-go, dubber-standard, dubber-ai, imagicle or callcabinet.
    #[arg(long)]
    plan: Plan,
    /// Only this user's recordings (as the metadata's storage.user names them).
    #[arg(long)]
    user: Option<String>,
    /// Store URL, instead of the organisation's configured one (its options still apply).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: RetentionArgs) -> Result<(), String> {
    match args.command {
        RetentionCommand::Migrate(args) => run_migrate(args),
    }
}

fn run_migrate(args: MigrateArgs) -> Result<(), String> {
    let config = Config::load(args.config.as_deref())?;
    let mut target = config.destination_for(Some(&args.org));
    if let Some(url) = args.store {
        target.url = url;
    }
    let options: Vec<(String, String)> = target.options.into_iter().collect();
    let dest = Destination::open(&target.url, &options).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| format!("system clock before 1970: {e}"))?;
    let now = Time::from_nanos(u64::try_from(now.as_nanos()).unwrap_or(u64::MAX));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let print = |event: &MigrationEvent| println!("{}", json_line(event));
    let report = runtime
        .block_on(migrate::migrate(
            &dest,
            &args.org,
            args.user.as_deref(),
            args.plan,
            now,
            print,
        ))
        .map_err(|e| e.to_string())?;
    let mut summary = serde_json::json!({
        "event": "summary",
        "org": args.org,
        "user": args.user,
        "plan": args.plan.to_string(),
        "store": target.url,
    });
    if let (Some(line), serde_json::Value::Object(counts)) =
        (summary.as_object_mut(), serde_json::json!(report))
    {
        line.extend(counts);
    }
    println!("{}", json_line(&summary));
    Ok(())
}

fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("events and reports are plain JSON values")
}
