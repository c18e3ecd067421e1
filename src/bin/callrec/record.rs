//! `callrec record`: one packet capture in, one recording out, either as plain files in a
//! folder (the media, then its JSON sidecar written atomically) or through the spool into a
//! store. The flags that shape the recording, and their parsers, live here with it.

use crate::store::{Owner, StoreArgs, StoreContext};
use bytes::Bytes;
use callrec::encode::{Format, OpusSettings};
use callrec::media::jitter::JitterConfig;
use callrec::media::mix::Layout;
use callrec::media::spans::PauseMode;
use callrec::media::tones::ToneSpec;
use callrec::offline::{record_capture, CaptureOptions};
use callrec::pcap::flows::LegSelector;
use callrec::recorder::metadata::Sidecar;
use callrec::recorder::payload::{PayloadMap, PayloadType};
use callrec::recorder::{RecorderConfig, Reminder};
use callrec::store::atomic::write_atomically;
use callrec::store::media_files::MediaFiles;
use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
pub struct RecordArgs {
    /// The capture file.
    capture: PathBuf,
    /// Directory the recording and its metadata are written to, as plain files [default:
    /// recordings, unless a store is set by --store, --config, CALLREC_CONFIG, CALLREC_STORE
    /// or a configuration file's store.url].
    #[arg(long, conflicts_with_all = ["store", "config"])]
    out: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    owner: Owner,
    /// With a store: keep retrying the upload this long before leaving the recording in the
    /// spool (it is uploaded on the next start, or by `callrec storage flush`).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    upload_timeout: u64,
    /// Media format.
    #[arg(long, default_value = "opus", value_parser = ["opus", "wav"])]
    format: String,
    /// stereo (leg A left, leg B right), mono (summed) or separate (one file per leg).
    #[arg(long, default_value = "stereo")]
    layout: Layout,
    /// Play the reminder tone that the call is recorded (every 20 s unless
    /// --reminder-interval says otherwise).
    #[arg(long)]
    reminder: bool,
    /// Reminder tone every SECS seconds of call time (10-90); implies --reminder.
    #[arg(long, value_name = "SECS")]
    reminder_interval: Option<u32>,
    /// Reminder tone frequency in Hz.
    #[arg(long, default_value_t = ToneSpec::REMINDER.frequency_hz)]
    reminder_frequency: f64,
    /// Reminder tone length in milliseconds.
    #[arg(long, default_value_t = ToneSpec::REMINDER.length_ms)]
    reminder_length_ms: u32,
    /// Reminder tone level in dBFS.
    #[arg(long, default_value_t = ToneSpec::REMINDER.level_dbfs, allow_hyphen_values = true)]
    reminder_level: f64,
    /// A paused span, seconds from the call's start (repeatable).
    #[arg(long, value_name = "FROM:TO", value_parser = parse_span)]
    pause: Vec<(Duration, Duration)>,
    /// What a pause leaves in the file: silence (aligned with the call) or cut.
    #[arg(long, default_value = "silence", value_parser = parse_pause_mode)]
    pause_mode: PauseMode,
    /// Beep at each pause and resume.
    #[arg(long)]
    notify_pause: bool,
    /// An excluded span (an announcement), seconds from the call's start (repeatable).
    #[arg(long, value_name = "FROM:TO", value_parser = parse_span)]
    exclude: Vec<(Duration, Duration)>,
    /// Leg A (left channel): an SSRC in hex or a UDP port. Default: the stream that starts first.
    #[arg(long)]
    leg_a: Option<LegSelector>,
    /// Leg B (right channel): an SSRC in hex or a UDP port.
    #[arg(long)]
    leg_b: Option<LegSelector>,
    /// Dynamic payload type mapping, e.g. 111=opus/48000 (repeatable).
    #[arg(long = "pt", value_name = "N=CODEC/RATE", value_parser = parse_pt)]
    payload_types: Vec<(u8, PayloadType)>,
    /// Opus bitrate in bits per second.
    #[arg(long, default_value_t = OpusSettings::default().bitrate)]
    bitrate: u32,
    /// Opus encoder complexity, 0-10.
    #[arg(long, default_value_t = OpusSettings::default().complexity)]
    complexity: u8,
    /// How long the jitter buffer waits for a missing packet, in milliseconds (0-10000).
    #[arg(long, default_value_t = JitterConfig::default().latency.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=callrec::config::MAX_JITTER_MS))]
    jitter_ms: u64,
    /// Name of the recording; default: the capture's file name without extension.
    #[arg(long)]
    call_id: Option<String>,
}

/// The reminder cadence when policy enables it without choosing one.
const DEFAULT_REMINDER_SECS: u32 = 20;

fn parse_span(text: &str) -> Result<(Duration, Duration), String> {
    let (from, to) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not FROM:TO in seconds"))?;
    let secs = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("'{s}' is not a number of seconds"))
    };
    let (from, to) = (secs(from)?, secs(to)?);
    if to <= from {
        return Err(format!("'{text}' ends before it starts"));
    }
    Ok((from, to))
}

fn parse_pause_mode(text: &str) -> Result<PauseMode, String> {
    match text {
        "silence" => Ok(PauseMode::Silence),
        "cut" => Ok(PauseMode::Cut),
        other => Err(format!("'{other}' is not silence or cut")),
    }
}

fn parse_pt(text: &str) -> Result<(u8, PayloadType), String> {
    PayloadMap::parse_mapping(text).map_err(|e| e.to_string())
}

pub fn run(args: RecordArgs) -> Result<(), String> {
    let format: Format = args.format.parse().map_err(|e| format!("--format: {e}"))?;
    let opus = OpusSettings::new(args.bitrate, args.complexity).map_err(|e| e.to_string())?;
    let config = RecorderConfig {
        layout: args.layout,
        format,
        opus,
        jitter: JitterConfig {
            latency: Duration::from_millis(args.jitter_ms),
            ..JitterConfig::default()
        },
        reminder: (args.reminder || args.reminder_interval.is_some()).then(|| Reminder {
            interval_secs: args.reminder_interval.unwrap_or(DEFAULT_REMINDER_SECS),
            tone: ToneSpec {
                frequency_hz: args.reminder_frequency,
                length_ms: args.reminder_length_ms,
                level_dbfs: args.reminder_level,
            },
        }),
        notification: args
            .notify_pause
            .then_some((ToneSpec::PAUSE, ToneSpec::RESUME)),
        pause_mode: args.pause_mode,
        ..RecorderConfig::default()
    };
    let options = CaptureOptions {
        leg_a: args.leg_a,
        leg_b: args.leg_b,
        payload_types: args.payload_types,
        pauses: args.pause,
        exclusions: args.exclude,
    };
    let capture = std::fs::read(&args.capture)
        .map_err(|e| format!("cannot read {}: {e}", args.capture.display()))?;
    let call_id = args.call_id.clone().unwrap_or_else(|| {
        args.capture
            .file_stem()
            .map_or_else(|| "call".into(), |s| s.to_string_lossy().into_owned())
    });
    let call_id = callrec::store::key::safe_file_name(&call_id);
    // --out (a flag) wins over a store that the environment or a configuration file sets.
    let use_store = args.out.is_none() && args.store.given(&args.store.config()?);
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("recordings"));
    let stored = match use_store {
        false => None,
        true => Some(StoreContext::start(
            &args.store,
            &args.owner,
            args.upload_timeout,
            &call_id,
        )?),
    };
    let out = match &stored {
        Some(ctx) => ctx.job.dir().to_path_buf(),
        None => out_dir.clone(),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let names: Vec<String> = match args.layout.files() {
        1 => vec![format!("{call_id}.{}", format.extension())],
        _ => ["a", "b"]
            .iter()
            .map(|leg| format!("{call_id}-{leg}.{}", format.extension()))
            .collect(),
    };
    let mut files = MediaFiles::create(&out, &names).map_err(|e| format!("cannot create: {e}"))?;
    let show_progress = std::io::stderr().is_terminal();
    let replay = record_capture(
        Bytes::from(capture),
        config,
        &options,
        |chunk| files.write(chunk),
        |done, total| {
            if show_progress && total > 0 {
                eprint!("\rrecording {:3}%", done * 100 / total);
            }
        },
    );
    if show_progress {
        eprintln!();
    }
    let replay = match replay {
        Ok(replay) => replay,
        Err(e) => {
            files.discard();
            if let Some(ctx) = stored {
                let _ = ctx.job.abandon();
            }
            return Err(e.to_string());
        }
    };
    for warning in &replay.warnings {
        eprintln!("callrec: warning: {warning}");
    }
    let written = files
        .commit()
        .map_err(|e| format!("cannot finish the recording: {e}"))?;
    let hashes = written.into_iter().map(|f| f.sha256);
    let endpoints = replay
        .legs
        .clone()
        .map(|flow| flow.map(|f| (f.src.to_string(), f.dst.to_string())));
    let call_start = replay.summary.call_start;
    let mut sidecar = Sidecar::new(
        &call_id,
        replay.summary,
        endpoints,
        names.iter().cloned().zip(hashes).collect(),
        replay.warnings,
    );
    sidecar.input = serde_json::to_value(&replay.capture).ok();
    let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
    if let Some(ctx) = stored {
        let media = sidecar
            .files
            .iter()
            .map(|f| callrec::store::job::FinishedFile {
                name: f.name.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
            })
            .collect();
        return ctx.finish(&args.owner, &call_id, call_start, &json, media);
    }
    let metadata = out_dir.join(format!("{call_id}.json"));
    write_atomically(&metadata, &json)
        .map_err(|e| format!("cannot write {}: {e}", metadata.display()))?;
    for name in &names {
        let line = serde_json::json!({
            "recording": out_dir.join(name),
            "metadata": metadata,
        });
        println!("{line}");
    }
    Ok(())
}
