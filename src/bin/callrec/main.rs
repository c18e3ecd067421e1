//! The `callrec` command, the outermost layer of the IO shell: files, the terminal and exit
//! codes live in this folder and nowhere else (the library never prints). This file only
//! parses the command line, installs the log subscriber at the level the global `-q`/`-v`
//! flags ask (`logging.rs`), and hands it to one file per subcommand; a refusal from any of
//! them becomes one line on stderr and the exit status `failure` documents. What goes to
//! stdout follows `output`'s contract.

#![forbid(unsafe_code)]

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod completions;
mod failure;
mod loadtest;
mod logging;
mod output;
mod policy;
mod record;
mod retention;
mod runtime;
mod serve;
mod storage;
mod store;
mod synth;
mod synthetic_call;
mod token;

#[derive(Parser)]
#[command(
    name = "callrec",
    version,
    about = "Call recorder: two RTP legs in, one faithful recording out",
    after_help = callrec::config::PRECEDENCE_HELP
)]
struct Cli {
    /// How results are printed on stdout [default: json when stdout is not a terminal, text
    /// on a terminal].
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        hide_possible_values = false
    )]
    output_format: Option<output::Format>,
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: logging::Verbosity,
}

#[derive(Subcommand)]
enum Command {
    /// Record the call in a packet capture (pcap or pcapng).
    Record(Box<record::RecordArgs>),
    /// Write two-leg test captures with known audio and impairments.
    Synth(synth::SynthArgs),
    /// Measure how many concurrent calls one core records.
    Bench(bench::BenchArgs),
    /// Load the SIPREC server with live calls over loopback: calls per core sustained with
    /// under 0.1% packet loss, memory per call, p99 arrival-to-recorder time.
    Loadtest(loadtest::LoadArgs),
    /// Object storage: drain the spool, list, verify, sweep, lifecycle rules.
    Storage(storage::StorageArgs),
    /// Stored recordings' retention: plan migration.
    Retention(retention::RetentionArgs),
    /// Run the recording server: SIPREC over SIP (UDP, TCP, TLS), uploads, and the admin API.
    Serve(serve::ServeArgs),
    /// Bearer tokens for the admin API.
    Token(token::TokenArgs),
    /// The admin API without HTTP: `callrec policy GET|PUT|POST|DELETE /v1/... --org ID`.
    Policy(policy::PolicyCliArgs),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::CompletionsArgs),
}

fn main() -> ExitCode {
    // clap's own help, suggestions ("did you mean") and `Usage:` line, as clap prints them:
    // help and version on stdout with status 0, errors on stderr with status 2.
    let cli = Cli::parse();
    // The load test prints its own summary: the server's per-call lines wait for -v.
    let default_level = match cli.command {
        Command::Loadtest(_) => "warn",
        _ => "info",
    };
    if let Err(reason) = logging::install(cli.verbosity, default_level) {
        eprintln!("callrec: {reason}");
        return ExitCode::from(2);
    }
    output::choose(cli.output_format);
    if cli.verbosity.is_quiet() {
        output::quiet();
    }
    let result: Result<(), failure::Failure> = match cli.command {
        Command::Record(args) => record::run(*args),
        Command::Synth(args) => synth::run(args),
        Command::Bench(args) => bench::run(args).map_err(Into::into),
        Command::Loadtest(args) => loadtest::run(args).map_err(Into::into),
        Command::Storage(args) => storage::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Token(args) => token::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Completions(args) => completions::run(args, Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("callrec: {}", failure.reason());
            failure.exit_code()
        }
    }
}
