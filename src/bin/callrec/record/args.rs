//! The flags of `callrec record` and their parsers: what shapes the recording and where it
//! goes. Parsing only; `run` does the work.

use crate::store::{Owner, StoreArgs};
use callrec::config::{Config, Section};
use callrec::encode::OpusSettings;
use callrec::media::spans::PauseMode;
use callrec::media::tones::ToneSpec;
use callrec::pcap::flows::LegSelector;
use callrec::recorder::payload::{PayloadMap, PayloadType};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
pub struct RecordArgs {
    /// The capture file (pcap or pcapng); `-` reads it from standard input.
    pub capture: PathBuf,
    /// Directory the recording and its metadata are written to, as plain files [default:
    /// recordings, unless a store is set by --store, --config, CALLREC_CONFIG, CALLREC_STORE
    /// or a configuration file's store.url].
    #[arg(long, value_name = "DIR", conflicts_with = "store")]
    pub out: Option<PathBuf>,
    /// Replace an earlier recording of the same call id in --out: its media files (every one
    /// its sidecar names, whatever their format or layout) and its sidecar.
    #[arg(long, conflicts_with = "store")]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub owner: Owner,
    /// With a store: keep retrying the upload this long before leaving the recording in the
    /// spool (it is uploaded on the next start, or by `callrec storage flush`).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub upload_timeout: u64,
    /// Media format: opus or wav (CALLREC_RECORDING_FORMAT, recording.format; default opus).
    #[arg(long, value_name = "opus|wav", value_parser = ["opus", "wav"])]
    pub format: Option<String>,
    /// stereo (leg A left, leg B right), mono (summed) or separate (one file per leg)
    /// (CALLREC_RECORDING_LAYOUT, recording.layout; default stereo).
    #[arg(long, value_name = "stereo|mono|separate",
          value_parser = ["stereo", "mono", "separate"])]
    pub layout: Option<String>,
    /// Play the reminder tone that the call is recorded (every 20 s unless
    /// --reminder-interval says otherwise).
    #[arg(long)]
    pub reminder: bool,
    /// Reminder tone every SECS seconds of call time (10-90); implies --reminder.
    #[arg(long, value_name = "SECS")]
    pub reminder_interval: Option<u32>,
    /// Reminder tone frequency in Hz.
    #[arg(long, value_name = "HZ", default_value_t = ToneSpec::REMINDER.frequency_hz)]
    pub reminder_frequency: f64,
    /// Reminder tone length in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = ToneSpec::REMINDER.length_ms)]
    pub reminder_length_ms: u32,
    /// Reminder tone level in dBFS (0 is full scale, so at most 0).
    #[arg(long, value_name = "DBFS", default_value_t = ToneSpec::REMINDER.level_dbfs,
          allow_hyphen_values = true,
          value_parser = parse_dbfs)]
    pub reminder_level: f64,
    /// A paused span, seconds from the call's start (repeatable).
    #[arg(long, value_name = "FROM:TO", value_parser = parse_span)]
    pub pause: Vec<(Duration, Duration)>,
    /// What a pause leaves in the file: silence (aligned with the call) or cut.
    #[arg(long, value_name = "silence|cut", default_value = "silence",
          value_parser = parse_pause_mode)]
    pub pause_mode: PauseMode,
    /// Beep at each pause and resume.
    #[arg(long)]
    pub notify_pause: bool,
    /// PCI handling, as for an organisation with `pciDtmfSuppression`: in-band DTMF tones are
    /// silenced (with 40 ms either side) and every key press, in-band or RFC 4733, is listed in
    /// the sidecar with its time and length, never its digit.
    #[arg(long)]
    pub pci: bool,
    /// An excluded span (an announcement), seconds from the call's start (repeatable).
    #[arg(long, value_name = "FROM:TO", value_parser = parse_span)]
    pub exclude: Vec<(Duration, Duration)>,
    /// Leg A (left channel): an SSRC as Wireshark shows it (0xdeadbeef or 3735928559) or a
    /// UDP port (up to 65535; ssrc:N and port:N say which). Default: the first stream.
    #[arg(long, value_name = "X")]
    pub leg_a: Option<LegSelector>,
    /// Leg B (right channel): an SSRC (0x... or decimal) or a UDP port, as --leg-a.
    #[arg(long, value_name = "Y")]
    pub leg_b: Option<LegSelector>,
    /// Dynamic payload type mapping, e.g. 111=opus/48000 (repeatable; RTP Opus is always
    /// /48000).
    #[arg(long = "pt", value_name = "N=CODEC/RATE", value_parser = parse_pt)]
    pub payload_types: Vec<(u8, PayloadType)>,
    /// Opus bitrate in bits per second.
    #[arg(long, value_name = "BPS", default_value_t = OpusSettings::default().bitrate)]
    pub bitrate: u32,
    /// Opus encoder complexity, 0-10.
    #[arg(long, value_name = "0-10", default_value_t = OpusSettings::default().complexity)]
    pub complexity: u8,
    /// How long the jitter buffer waits for a missing packet, in milliseconds, 0-10000
    /// (CALLREC_RECORDING_JITTER_MS, recording.jitter_ms; default 200).
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(0..=callrec::config::MAX_JITTER_MS))]
    pub jitter_ms: Option<u64>,
    /// Name of the recording, kept as given in its metadata; default: the capture's file name
    /// without extension (`stdin` for `-`). An id that is not a plain file name gets files
    /// named after it plus a hash of it, so two ids never share files.
    #[arg(long, value_name = "ID")]
    pub call_id: Option<String>,
}

impl RecordArgs {
    /// The settings `record` reads: where recordings go, and the recording's format, layout
    /// and jitter buffer, each from its flag, else its variable, else the configuration
    /// file, else the default (as `serve` records calls).
    pub fn config(&self) -> Result<Config, String> {
        const SECTIONS: [Section; 3] = [Section::Store, Section::Orgs, Section::Recording];
        let sources = self
            .store
            .sources(&SECTIONS)
            .flag("--format", "recording.format", self.format.clone())
            .flag("--layout", "recording.layout", self.layout.clone())
            .flag(
                "--jitter-ms",
                "recording.jitter_ms",
                self.jitter_ms.map(|ms| ms.to_string()),
            );
        Config::load(&sources)
    }
}

/// The reminder cadence when policy enables it without choosing one.
pub const DEFAULT_REMINDER_SECS: u32 = 20;

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

fn parse_dbfs(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(level) if level.is_finite() && level <= 0.0 => Ok(level),
        Ok(level) if level.is_finite() => Err(format!(
            "{level} dBFS is above full scale: dBFS is at most 0 (e.g. -20)"
        )),
        _ => Err(format!("'{text}' is not a level in dBFS (e.g. -20)")),
    }
}

fn parse_pt(text: &str) -> Result<(u8, PayloadType), String> {
    PayloadMap::parse_mapping(text).map_err(|e| e.to_string())
}
