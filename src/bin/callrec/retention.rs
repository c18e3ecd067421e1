//! `callrec retention ...`: putting stored recordings on a customer's plan. So far, `migrate`:
//! one line per recording changed, then the summary. A migration changes the store, so a reader
//! that goes away does not stop it half-way.

use crate::failure::Failure;
use crate::output::{Line, Output};
use crate::runtime;
use crate::store::{self, plan_parser, StoreOnlyArgs};
use callrec::catalog::sync as catalog_sync;
use callrec::policy::plan::Plan;
use callrec::server::clock;
use callrec::store::migrate::{self, MigrationEvent, MigrationReport, PlanTarget};
use serde::Serialize;

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
    /// The new plan.
    #[arg(long, value_name = "PLAN", value_parser = plan_parser())]
    plan: Plan,
    /// Only this user's recordings (as the metadata's storage.user names them).
    #[arg(long)]
    user: Option<String>,
    #[command(flatten)]
    store: StoreOnlyArgs,
}

pub fn run(args: RetentionArgs) -> Result<(), Failure> {
    match args.command {
        RetentionCommand::Migrate(args) => run_migrate(args),
    }
}

fn run_migrate(args: MigrateArgs) -> Result<(), Failure> {
    let store = args.store.full();
    let config = store.config()?;
    let target = store.target(&config, Some(&args.org));
    let dest = store::open(&target)?;
    let now = clock::now();
    let runtime = runtime::current_thread()?;
    let mut out = Output::stdout();
    let mut printed = Ok(());
    let mut migrated = catalog_sync::Migrated::default();
    let print = |event: &MigrationEvent| {
        migrated.note(event);
        if printed.is_ok() {
            printed = out.line(&Migrated::from(event));
        }
    };
    let plan = PlanTarget {
        retention: args.plan.retention(),
        plan: args.plan.to_string(),
        provider: args.plan.provider().as_str().into(),
    };
    // Recordings under legal hold stay as they are (no policy database: no holds).
    let catalog = runtime.block_on(store::existing_catalog(&config))?;
    let held = match &catalog {
        Some(db) => runtime
            .block_on(db.held_prefixes())
            .map_err(Failure::failed)?,
        None => Default::default(),
    };
    let report = runtime
        .block_on(migrate::migrate(
            &dest,
            &args.org,
            args.user.as_deref(),
            &plan,
            now,
            &held,
            print,
        ))
        .map_err(Failure::failed)?;
    printed?;
    if let Some(db) = catalog {
        runtime
            .block_on(catalog_sync::after_migration(
                &db,
                &target.url,
                &dest,
                &migrated,
                now,
            ))
            .map_err(Failure::failed)?;
    }
    Ok(out.summary(&MigrateSummary {
        kind: "summary",
        org: &args.org,
        user: args.user.as_deref(),
        plan: args.plan.to_string(),
        store: &target.url,
        report,
    })?)
}

/// One recording the migration changed or left alone (the library's event, its `event` tag
/// become the contract's leading `type`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Migrated<'a> {
    Moved {
        from: &'a str,
        to: &'a str,
        plan: &'a str,
        retention: &'a str,
        retained_since: &'a str,
        media: usize,
        bytes: u64,
    },
    Retagged {
        recording: &'a str,
        plan: &'a str,
        provider: &'a str,
    },
    LeftoversCleaned {
        recording: &'a str,
        complete_at: &'a str,
        keys: &'a [String],
    },
    Skipped {
        recording: &'a str,
        reason: &'a str,
    },
    /// Under legal hold: left as it is.
    Held {
        recording: &'a str,
    },
}

impl<'a> From<&'a MigrationEvent> for Migrated<'a> {
    fn from(event: &'a MigrationEvent) -> Self {
        match event {
            MigrationEvent::Moved {
                from,
                to,
                plan,
                retention,
                retained_since,
                media,
                bytes,
            } => Migrated::Moved {
                from,
                to,
                plan,
                retention,
                retained_since,
                media: *media,
                bytes: *bytes,
            },
            MigrationEvent::Retagged {
                prefix,
                plan,
                provider,
            } => Migrated::Retagged {
                recording: prefix,
                plan,
                provider,
            },
            MigrationEvent::LeftoversCleaned {
                prefix,
                complete_at,
                keys,
            } => Migrated::LeftoversCleaned {
                recording: prefix,
                complete_at,
                keys,
            },
            MigrationEvent::Skipped { prefix, reason } => Migrated::Skipped {
                recording: prefix,
                reason,
            },
            MigrationEvent::Held { prefix } => Migrated::Held { recording: prefix },
        }
    }
}

impl Line for Migrated<'_> {
    fn text(&self) -> String {
        match self {
            Migrated::Moved { from, to, .. } => format!("moved {from} to {to}"),
            Migrated::Retagged {
                recording, plan, ..
            } => format!("retagged {recording} for {plan}"),
            Migrated::LeftoversCleaned {
                recording,
                complete_at,
                ..
            } => format!("cleaned {recording} (complete at {complete_at})"),
            Migrated::Skipped { recording, reason } => format!("skipped {recording}: {reason}"),
            Migrated::Held { recording } => {
                format!("held {recording}: under legal hold, left as it is")
            }
        }
    }
}

#[derive(Serialize)]
struct MigrateSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    org: &'a str,
    user: Option<&'a str>,
    plan: String,
    store: &'a str,
    #[serde(flatten)]
    report: MigrationReport,
}

impl Line for MigrateSummary<'_> {
    fn text(&self) -> String {
        let r = &self.report;
        format!(
            "{} on {}: {} moved, {} retagged, {} unchanged, {} cleaned, {} skipped, {} incomplete",
            self.org,
            self.plan,
            r.moved,
            r.retagged,
            r.unchanged,
            r.leftovers_cleaned,
            r.skipped,
            r.incomplete
        )
    }
}
