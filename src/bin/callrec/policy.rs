//! `callrec policy`: the admin API without HTTP. The same routes, validation, refusals and
//! audit trail, called in-process on the policy database, as an operator acting for the
//! organisations named with `--org` (audited as `cli`). The operator is a partner administrator
//! named `cli`: like any, it administers the provider accounts of one customer at most, so
//! people of other customers are enabled with their own administrators' tokens.

use crate::failure::Failure;
use crate::output::{Format, Output};
use crate::runtime;
use crate::serve::PolicyArgs;
use axum::body::Body;
use axum::http::{Method, Request};
use callrec::config::Section;
use callrec::policydb::Create;
use callrec::server::admin::{self, AdminState, Caller, LinkKey, Role};
use callrec::server::clock;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// Largest response the command prints (the API's pages are far smaller).
const MAX_RESPONSE: usize = 64 << 20;

#[derive(clap::Parser)]
pub struct PolicyCliArgs {
    /// GET, PUT, POST or DELETE.
    #[arg(value_parser = ["get", "put", "post", "delete", "GET", "PUT", "POST", "DELETE"])]
    method: String,
    /// An API path, e.g. /v1/people/alice/features/callRecording (see docs/openapi.json).
    path: String,
    /// An organisation to act for (repeatable); the first is the default `orgId`.
    #[arg(long = "org", value_name = "ID", required = true)]
    orgs: Vec<String>,
    /// The JSON request body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// The JSON request body, from a file.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn run(args: PolicyCliArgs) -> Result<(), Failure> {
    let method: Method = args
        .method
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown method {}", args.method))?;
    if !args.path.starts_with("/v1/") {
        return Err(Failure::BadInput(format!(
            "{}: API paths start with /v1/",
            args.path
        )));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
        (None, None) => String::new(),
    };
    let runtime = runtime::current_thread()?;
    let (status, text) = runtime.block_on(async {
        // The admin routes read the providers' pages, and the stores a plan change migrates.
        let sections = [
            Section::Policy,
            Section::Providers,
            Section::Store,
            Section::Orgs,
        ];
        // Only a write may create the database: a read of a mistyped path must not.
        let create = match method == Method::GET {
            true => Create::Never,
            false => Create::IfMissing,
        };
        let (db, config) = PolicyArgs::open(&args.policy.sources(&sections), create).await?;
        let links = Arc::new(LinkKey::from_config(&config)?);
        let state = AdminState {
            db,
            metrics: Arc::default(),
            config: Arc::new(config),
            clock: clock::now,
            throttle: Default::default(),
            links,
            key_files: Default::default(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(&args.path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .map_err(|e| format!("{}: {e}", args.path))?;
        request.extensions_mut().insert(Caller {
            token_id: "cli".into(),
            // The operator at the server's own command line, one person whatever they run.
            person: "operator".into(),
            role: Role::PartnerAdmin,
            orgs: args.orgs.clone(),
            switches: Default::default(),
        });
        let response = admin::router(state)
            .oneshot(request)
            .await
            .map_err(|e| format!("{}: {e}", args.path))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_RESPONSE)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok::<_, String>((status, String::from_utf8_lossy(&bytes).into_owned()))
    })?;
    if status.is_success() {
        if text.is_empty() {
            return Ok(());
        }
        // The API's own document (the output contract's one exception to the `type` key),
        // on one line for scripts, indented for a person.
        let mut out = Output::stdout();
        let shown = match out.format() {
            Format::Json => text,
            Format::Text => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(text),
        };
        return Ok(out.raw(&shown)?);
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or(text);
    let message = match message.trim() {
        "" => format!(
            "{} ({} {})",
            status.canonical_reason().unwrap_or("refused"),
            args.method.to_ascii_uppercase(),
            args.path
        ),
        _ => as_the_cli(&message, &args.orgs),
    };
    let reason = format!("{} {}", status.as_u16(), message);
    // A refused request (4xx) is the caller's to fix; a server error is the database's.
    match status.is_server_error() {
        true => Err(Failure::Failed(reason)),
        false => Err(Failure::BadInput(reason)),
    }
}

/// The API's refusal in the CLI's terms: the CLI uses no token, it acts for the organisations
/// named with `--org`.
fn as_the_cli(message: &str, orgs: &[String]) -> String {
    let named = orgs.join(", ");
    if let Some(org) = message.strip_prefix("this token has no access to organisation ") {
        return format!(
            "organisation {org} is outside --org ({named}): add --org {org} to act for it"
        );
    }
    message.replace(
        "this token acts for several organisations",
        "--org names several organisations",
    )
}
