//! `callrec serve` (so far: the admin API) and `callrec token create`.

use callrec::config::Config;
use callrec::policydb::PolicyDb;
use callrec::server::admin::{self, AdminState};
use callrec::server::auth::Role;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Parser)]
pub struct ServeArgs {
    /// Address of the admin HTTP API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    admin: SocketAddr,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Where the policy database is.
#[derive(clap::Args, Clone, Debug)]
pub struct PolicyArgs {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Policy database: sqlite://PATH or postgres://... (default: the config's policy.db, else
    /// CALLREC_POLICY_DB, else sqlite://policy.sqlite).
    #[arg(long, value_name = "URL")]
    policy_db: Option<String>,
}

impl PolicyArgs {
    /// Opens the policy database and brings its schema up to date; returns it with the
    /// configuration it was found through.
    pub async fn open(&self) -> Result<(PolicyDb, Config), String> {
        let config = Config::load(self.config.as_deref())?;
        let url = self.policy_db.clone().unwrap_or(config.policy.db.clone());
        let db = PolicyDb::open(&url).await.map_err(|e| e.to_string())?;
        db.migrate().await.map_err(|e| e.to_string())?;
        Ok((db, config))
    }
}

#[derive(clap::Parser)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Issue a bearer token for the admin API; it is printed once and stored only hashed.
    Create(CreateTokenArgs),
}

#[derive(clap::Parser)]
struct CreateTokenArgs {
    /// customer-admin (one organisation), partner-admin (its customers' organisations) or
    /// read-only.
    #[arg(long)]
    role: Role,
    /// An organisation the token may act on (repeatable).
    #[arg(long = "org", value_name = "ID")]
    orgs: Vec<String>,
    /// Who or what the token is for, shown in listings.
    #[arg(long, default_value = "")]
    label: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the IO runtime: {e}"))
}

pub fn serve(args: ServeArgs) -> Result<(), String> {
    runtime()?.block_on(async {
        let (db, config) = args.policy.open().await?;
        let state = AdminState {
            db,
            metrics: Arc::default(),
            config: Arc::new(config),
            clock: crate::cli_store::now,
        };
        let listener = tokio::net::TcpListener::bind(args.admin)
            .await
            .map_err(|e| format!("--admin {}: {e}", args.admin))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{}", serde_json::json!({ "admin": bound.to_string() }));
        axum::serve(listener, admin::router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| format!("admin API: {e}"))
    })
}

/// SIGTERM or SIGINT: stop taking requests, finish the ones in flight, exit 0.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

pub fn token(args: TokenArgs) -> Result<(), String> {
    let TokenCommand::Create(args) = args.command;
    args.role.check_orgs(&args.orgs)?;
    runtime()?.block_on(async {
        let (db, _) = args.policy.open().await?;
        let token = db
            .create_token(
                args.role.as_str(),
                &args.orgs,
                &args.label,
                crate::cli_store::now(),
            )
            .await
            .map_err(|e| e.to_string())?;
        println!("{token}");
        Ok(())
    })
}
