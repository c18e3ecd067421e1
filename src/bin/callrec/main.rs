//! The `callrec` command, the outermost layer of the IO shell: files, the terminal and exit
//! codes live in this folder and nowhere else (the library never prints). This file only
//! parses the command line and hands it to one file per subcommand; a refusal from any of
//! them becomes one line on stderr and exit code 2.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod loadtest;
mod policy;
mod record;
mod retention;
mod runtime;
mod serve;
mod storage;
mod store;
mod synth;

#[derive(Parser)]
#[command(
    name = "callrec",
    version,
    about = "Call recorder: two RTP legs in, one faithful recording out",
    after_help = callrec::config::PRECEDENCE_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    Token(serve::TokenArgs),
    /// The admin API without HTTP: `callrec policy GET|PUT|POST|DELETE /v1/... --org ID`.
    Policy(policy::PolicyCliArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line, like every other refusal: clap's first paragraph, joined.
            let text = e.render().to_string();
            let reason: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            eprintln!(
                "callrec: {}",
                reason.join(" ").trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Record(args) => record::run(*args),
        Command::Synth(args) => synth::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Loadtest(args) => loadtest::run(args),
        Command::Storage(args) => storage::run(args),
        Command::Retention(args) => retention::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Token(args) => serve::token(args),
        Command::Policy(args) => policy::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("callrec: {reason}");
            ExitCode::from(2)
        }
    }
}
