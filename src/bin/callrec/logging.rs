//! The binary's log subscriber: the one place callrec's `tracing` events become text. One
//! JSON object per line on stderr (stdout stays for what a command answers), levels from the
//! command line and `CALLREC_LOG`. The library only emits; what its events mean and which
//! fields they carry is `callrec::server::log`'s doc.
//!
//! A line: `ts` (RFC 3339, the server's clock), `level` (`error`, `warn`, `info`, `debug`,
//! `trace`), `event` (the event's name: its message), `target` (the module that emitted it,
//! what a `CALLREC_LOG` directive names), then the fields of every span the event is in,
//! outermost first, then the event's own fields (an event's field wins over a span's of the
//! same name). Span fields are written at the top level, not in a nested `spans` list, so
//! `grep <call-id>` and `jq 'select(.call_id == ...)'` find every line of a call. Nested
//! values arrive as JSON text in a string field (see the library's log doc).
//!
//! Which events are written, first match wins: `-q` (errors only), `-v` (callrec's own debug
//! events), `-vv` (its trace events); else `CALLREC_LOG` (`EnvFilter` directives, e.g.
//! `warn,callrec::server::siprec=debug`); else the command's default: `info`, and `warn` for
//! `loadtest`, whose summary is its output and whose server would otherwise write its
//! per-call lines. `-v` raises only callrec's targets: other crates' debug output (each SQL
//! statement, each HTTP frame) would drown the server's own; name them in `CALLREC_LOG`.

use callrec::server::clock;
use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The environment variable holding `EnvFilter` directives.
pub const ENV: &str = "CALLREC_LOG";

/// How much to log, from the global flags.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct Verbosity {
    /// Errors only: no log events below error and no notices (wins over CALLREC_LOG).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log more of callrec's own events: -v debug, -vv trace (wins over CALLREC_LOG)
    ///
    /// Without -q or -v, CALLREC_LOG's EnvFilter directives choose (e.g.
    /// CALLREC_LOG=warn,callrec::server::siprec=debug); without either, info (loadtest: warn).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

impl Verbosity {
    /// `-q`: errors only, in the logs and from the command itself.
    pub fn is_quiet(self) -> bool {
        self.quiet
    }
}

/// The directives in force: the flags, else `env` (when set and not blank), else `default`.
pub fn directives(verbosity: Verbosity, env: Option<&str>, default: &str) -> String {
    match (verbosity.quiet, verbosity.verbose) {
        (true, _) => "error".into(),
        (false, 1) => "info,callrec=debug".into(),
        (false, 2..) => "info,callrec=trace".into(),
        (false, 0) => env
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or(default)
            .into(),
    }
}

/// Installs the subscriber for the whole process; `default` is the command's own level. A
/// `CALLREC_LOG` that does not parse is refused (a typo must not silently log nothing).
pub fn install(verbosity: Verbosity, default: &str) -> Result<(), String> {
    let env = std::env::var(ENV).ok();
    let directives = directives(verbosity, env.as_deref(), default);
    let filter = EnvFilter::try_new(&directives).map_err(|e| format!("{ENV}={directives}: {e}"))?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines)
        .with_writer(std::io::stderr)
        .finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())
}

/// Formats an event as one JSON line (see the file's doc).
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert("ts".into(), clock::now().to_rfc3339().into());
        line.insert("level".into(), level_name(*metadata.level()).into());
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                // The span's fields as `JsonFields` recorded them: a JSON object's text.
                let recorded = extensions.get::<FormattedFields<N>>();
                if let Some(Ok(Value::Object(fields))) =
                    recorded.map(|f| serde_json::from_str::<Value>(f))
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's fields into the line; its message becomes `event`.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "event",
            name => name,
        };
        self.0.insert(name.into(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(quiet: bool, verbose: u8) -> Verbosity {
        Verbosity { quiet, verbose }
    }

    #[test]
    fn the_flag_wins_over_the_variable_and_the_variable_over_the_default() {
        let variable = "callrec::server::siprec=debug";
        let env = Some(variable);
        assert_eq!(directives(flags(true, 0), env, "info"), "error");
        assert_eq!(
            directives(flags(false, 1), env, "info"),
            "info,callrec=debug"
        );
        assert_eq!(
            directives(flags(false, 3), env, "info"),
            "info,callrec=trace"
        );
        assert_eq!(directives(flags(false, 0), env, "info"), variable);
        assert_eq!(directives(flags(false, 0), None, "warn"), "warn");
        assert_eq!(directives(flags(false, 0), Some("  "), "info"), "info");
    }
}
