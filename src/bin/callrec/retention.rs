//! `callrec retention ...`: putting stored recordings on a customer's plan. So far, `migrate`:
//! one JSON line per recording changed, then a JSON summary line.

use crate::runtime;
use crate::store::{self, StoreArgs};
use callrec::policy::plan::Plan;
use callrec::server::clock;
use callrec::store::migrate::{self, MigrationEvent, PlanTarget};

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
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: RetentionArgs) -> Result<(), String> {
    match args.command {
        RetentionCommand::Migrate(args) => run_migrate(args),
    }
}

fn run_migrate(args: MigrateArgs) -> Result<(), String> {
    let config = args.store.config()?;
    let target = args.store.target(&config, Some(&args.org));
    let dest = store::open(&target)?;
    let now = clock::now();
    let runtime = runtime::current_thread()?;
    let print = |event: &MigrationEvent| println!("{}", json_line(event));
    let plan = PlanTarget {
        retention: args.plan.retention(),
        plan: args.plan.to_string(),
        provider: args.plan.provider().as_str().into(),
    };
    let report = runtime
        .block_on(migrate::migrate(
            &dest,
            &args.org,
            args.user.as_deref(),
            &plan,
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
