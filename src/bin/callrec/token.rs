//! `callrec token create|list|revoke`: the admin API's bearer tokens, on the server's own
//! policy database. Each token is issued to a named person, for a role and organisations,
//! and lives until it expires (90 days unless `--expires-in` says otherwise) or is revoked;
//! every server sharing the database refuses a revoked or expired token from its next
//! request on.

use crate::failure::Failure;
use crate::output::{Line, Output, Row};
use crate::runtime::runtime;
use crate::serve::PolicyArgs;
use callrec::config::Section;
use callrec::policydb::{Create, NewToken, PolicyDb, Revoked, TokenInfo};
use callrec::server::admin::Role;
use callrec::server::clock;
use callrec::time::Time;
use serde::Serialize;
use std::time::Duration;

#[derive(clap::Parser)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Issue a bearer token for the admin API; it is printed once and stored only hashed.
    Create(CreateTokenArgs),
    /// Every token issued, active, expired or revoked, with its id (never the token).
    List(ListTokenArgs),
    /// Revoke a token by its id (as `list` shows it): refused from the next request on.
    Revoke(RevokeTokenArgs),
}

/// Longest life a token may be given: a token should be renewed, not kept for ever.
const MAX_LIFE_DAYS: u64 = 3650;

#[derive(clap::Parser)]
struct CreateTokenArgs {
    /// The person the token is for (an e-mail address or a name): rules about administrators
    /// bind the person, whichever of their tokens they use.
    #[arg(long, value_name = "PERSON", value_parser = parse_person)]
    person: String,
    /// customer-admin (one organisation), partner-admin (its customers' organisations),
    /// read-only (reads its organisations, changes nothing), compliance-officer (reads them
    /// and hears their recordings on paid plans) or user (one organisation: only the
    /// recordings of --person, which is then the person's id).
    #[arg(long, value_name = "ROLE", value_parser = role_parser())]
    role: Role,
    /// An organisation the token may act on (repeatable).
    #[arg(long = "org", value_name = "ID")]
    orgs: Vec<String>,
    /// What the token is for, shown in listings.
    #[arg(long, value_name = "TEXT", default_value = "")]
    label: String,
    /// How long until the token expires: days, hours, minutes or seconds (90d, 12h, 30m,
    /// 45s), at most 3650d.
    #[arg(long, value_name = "LIFE", default_value = "90d", value_parser = parse_life)]
    expires_in: Duration,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(clap::Parser)]
struct ListTokenArgs {
    /// Only the tokens of this person.
    #[arg(long, value_name = "PERSON")]
    person: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(clap::Parser)]
struct RevokeTokenArgs {
    /// The token's id: the 16 hex digits `token list` and `token create` show.
    id: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

fn parse_person(text: &str) -> Result<String, String> {
    match text.trim() {
        "" => Err("a token is issued to a person: name them (e.g. alice@example.com)".into()),
        person => Ok(person.to_string()),
    }
}

/// A token's life: a whole number and a unit, `d`, `h`, `m` or `s`.
fn parse_life(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_secs = match text.chars().last() {
        Some('d') => 86_400,
        Some('h') => 3_600,
        Some('m') => 60,
        Some('s') => 1,
        _ => {
            return Err(format!(
                "'{text}' is not a life such as 90d, 12h, 30m or 45s"
            ))
        }
    };
    let number: u64 = text[..text.len() - 1]
        .parse()
        .map_err(|_| format!("'{text}' is not a life such as 90d, 12h, 30m or 45s"))?;
    match number.checked_mul(unit_secs) {
        Some(0) => Err("a token must live at least 1s".into()),
        Some(secs) if secs <= MAX_LIFE_DAYS * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "'{text}' is longer than {MAX_LIFE_DAYS}d: renew tokens instead"
        )),
    }
}

/// `--role`'s parser: clap lists the roles in the help and suggests one for a typo.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .map(|name| name.parse::<Role>().expect("every listed role parses"))
}

pub fn run(args: TokenArgs) -> Result<(), Failure> {
    match args.command {
        TokenCommand::Create(args) => create(args),
        TokenCommand::List(args) => list(args),
        TokenCommand::Revoke(args) => revoke(args),
    }
}

/// The policy database, for a command that may create it (`create`) or must find it.
async fn open(policy: &PolicyArgs, create: Create) -> Result<PolicyDb, Failure> {
    let sections = [Section::Policy];
    let (db, _) = PolicyArgs::open(&policy.sources(&sections), create).await?;
    Ok(db)
}

/// Issues the token and prints it. A token that cannot be printed (the reader went away) is
/// deleted: it was never shown, so nobody could use it, and it must not stay valid unseen.
fn create(args: CreateTokenArgs) -> Result<(), Failure> {
    args.role.check_orgs(&args.orgs)?;
    runtime()?.block_on(async {
        let db = open(&args.policy, Create::IfMissing).await?;
        let now = clock::now();
        let expires_at = now + args.expires_in;
        let token = db
            .create_token(&NewToken {
                person: &args.person,
                role: args.role.as_str(),
                orgs: &args.orgs,
                label: &args.label,
                created_at: now,
                expires_at,
            })
            .await
            .map_err(Failure::failed)?;
        let info = db
            .authenticate(&token)
            .await
            .map_err(Failure::failed)?
            .ok_or_else(|| Failure::Failed("the new token was not stored".into()))?;
        let mut out = Output::stdout();
        let printed = out.line(&Issued {
            kind: "token",
            token: &token,
            id: &info.id,
            person: &args.person,
            role: args.role.as_str(),
            orgs: &args.orgs,
            label: &args.label,
            expires_at: expires_at.to_rfc3339(),
        });
        let why = match printed {
            Ok(()) if !out.is_closed() => return Ok(()),
            Ok(()) => "stdout was closed".to_string(),
            Err(e) => e.to_string(),
        };
        match db.revoke_token(&token).await {
            Ok(_) => Err(Failure::Failed(format!(
                "the token could not be printed ({why}), so it was revoked; run the command \
                 again with a reader for its output"
            ))),
            Err(e) => Err(Failure::Failed(format!(
                "the token could not be printed ({why}) and revoking it failed: {e}; it was \
                 never shown, so nobody holds it"
            ))),
        }
    })
}

fn list(args: ListTokenArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let db = open(&args.policy, Create::Never).await?;
        let now = clock::now();
        let tokens = db.tokens().await.map_err(Failure::failed)?;
        let mut out = Output::stdout();
        let mut summary = ListSummary::new();
        for token in &tokens {
            if args.person.as_ref().is_some_and(|p| *p != token.person) {
                continue;
            }
            let listed = Listed::new(token, now);
            summary.count(listed.state);
            out.row(&listed)?;
            if out.is_closed() {
                return Ok(());
            }
        }
        out.summary(&summary)?;
        Ok(())
    })
}

fn revoke(args: RevokeTokenArgs) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let db = open(&args.policy, Create::Never).await?;
        let now = clock::now();
        let id = args.id.trim().to_ascii_lowercase();
        let (token, already) = match db
            .revoke_token_id(&id, now)
            .await
            .map_err(Failure::failed)?
        {
            Revoked::Now(token) => (token, false),
            Revoked::Already(token) => (token, true),
            Revoked::Unknown => {
                return Err(Failure::BadInput(format!(
                    "no token {} (`callrec token list` shows the ids)",
                    args.id
                )))
            }
        };
        Output::stdout().line(&RevokedLine {
            kind: "revoked",
            id: &token.id,
            person: &token.person,
            revoked_at: token.revoked_at.unwrap_or(now).to_rfc3339(),
            already,
        })?;
        Ok(())
    })
}

/// The new token, shown this once (the database keeps only its hash). As text, the token
/// alone, so `--output-format text` gives a script the bare token.
#[derive(Serialize)]
struct Issued<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    token: &'a str,
    id: &'a str,
    person: &'a str,
    role: &'a str,
    orgs: &'a [String],
    label: &'a str,
    expires_at: String,
}

impl Line for Issued<'_> {
    fn text(&self) -> String {
        self.token.to_string()
    }
}

/// Whether a token may be used now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Active,
    Expired,
    Revoked,
}

/// One token in `token list` (`"type": "token_info"`): everything but the token.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    person: &'a str,
    role: &'a str,
    orgs: &'a [String],
    label: &'a str,
    created_at: String,
    /// `null` for a token issued before tokens expired.
    expires_at: Option<String>,
    revoked_at: Option<String>,
    state: State,
}

impl<'a> Listed<'a> {
    fn new(token: &'a TokenInfo, now: Time) -> Self {
        let state = match (token.revoked_at, token.refusal(now)) {
            (Some(_), _) => State::Revoked,
            (None, Some(_)) => State::Expired,
            (None, None) => State::Active,
        };
        Listed {
            kind: "token_info",
            id: &token.id,
            person: &token.person,
            role: &token.role,
            orgs: &token.orgs,
            label: &token.label,
            created_at: token.created_at.to_rfc3339(),
            expires_at: token.expires_at.map(Time::to_rfc3339),
            revoked_at: token.revoked_at.map(Time::to_rfc3339),
            state,
        }
    }
}

impl Row for Listed<'_> {
    const HEADER: &'static [&'static str] =
        &["ID", "PERSON", "ROLE", "ORGS", "STATE", "EXPIRES", "LABEL"];
    fn cells(&self) -> Vec<String> {
        let state = match self.state {
            State::Active => "active",
            State::Expired => "expired",
            State::Revoked => "revoked",
        };
        vec![
            self.id.to_string(),
            self.person.to_string(),
            self.role.to_string(),
            self.orgs.join(","),
            state.to_string(),
            self.expires_at.clone().unwrap_or_else(|| "never".into()),
            self.label.to_string(),
        ]
    }
}

#[derive(Serialize)]
struct ListSummary {
    #[serde(rename = "type")]
    kind: &'static str,
    tokens: usize,
    active: usize,
    expired: usize,
    revoked: usize,
}

impl ListSummary {
    fn new() -> Self {
        ListSummary {
            kind: "summary",
            tokens: 0,
            active: 0,
            expired: 0,
            revoked: 0,
        }
    }

    fn count(&mut self, state: State) {
        self.tokens += 1;
        match state {
            State::Active => self.active += 1,
            State::Expired => self.expired += 1,
            State::Revoked => self.revoked += 1,
        }
    }
}

impl Line for ListSummary {
    fn text(&self) -> String {
        format!(
            "{} token(s): {} active, {} expired, {} revoked",
            self.tokens, self.active, self.expired, self.revoked
        )
    }
}

/// `token revoke`'s answer; `already` when it had been revoked before (the time is then
/// that first revocation's).
#[derive(Serialize)]
struct RevokedLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    person: &'a str,
    revoked_at: String,
    already: bool,
}

impl Line for RevokedLine<'_> {
    fn text(&self) -> String {
        match self.already {
            true => format!(
                "token {} ({}) was already revoked at {}",
                self.id, self.person, self.revoked_at
            ),
            false => format!("revoked token {} ({})", self.id, self.person),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_life_is_a_number_and_a_unit_up_to_ten_years() {
        assert_eq!(parse_life("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_life("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_life("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_life("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_life("3650d"), Ok(Duration::from_secs(3650 * 86_400)));
        assert!(parse_life("3651d").unwrap_err().contains("renew"));
        assert!(parse_life("0s").unwrap_err().contains("at least 1s"));
        for bad in ["90", "d", "-1d", "1.5h", "1w", "", "99999999999999999999d"] {
            assert!(parse_life(bad).is_err(), "{bad}");
        }
    }
}
