//! `callrec bench`: how many concurrent stereo calls one core records, for each format, and
//! what the whole recorder costs next to libopus encoding the same audio alone.
//!
//! One core sustains N concurrent calls when it records N seconds of call per second of CPU,
//! so the figure is call length / time to record one call. Each call is timed on its own (wall
//! time: pin the command to an otherwise idle core, `taskset -c N`), the formats and the
//! encoder-only run take turns, and the median call counts, so a burst of other work on the
//! core skews none of them. Every run does the same work: the same synthetic call (two PCMU
//! legs of -12 dBFS tones, `synthetic_call`, which `callrec loadtest` sends a live server too),
//! a fresh recorder or encoder, every chunk produced and dropped.
//!
//! A run that would measure nothing (`--calls 0`, a call of 0 s) or run for days is refused
//! when the command line is parsed, with the range it takes, rather than printing figures
//! that no call produced.

use crate::output::{Line, Output};
use crate::synthetic_call::{call, record_once, Packets};
use callrec::encode::{Chunk, Format, MediaEncoder, OpusSettings};
use callrec::recorder::RecorderConfig;
use serde::Serialize;
use std::time::Instant;

/// The longest synthetic call: an hour, whose packets and audio (about 200 MB) are held in
/// memory while it is recorded.
const MAX_CALL_SECS: u64 = 3600;
/// The most rounds: at the default 60 s call a round takes about half a second, so this is an
/// hour or two of measuring, far past where the median stops moving.
const MAX_CALLS: u32 = 10_000;

#[derive(clap::Parser)]
pub struct BenchArgs {
    /// Length of the synthetic call, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CALL_SECS))]
    call_secs: u64,
    /// How many times the call is recorded per format.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CALLS)))]
    calls: u32,
    /// Opus bitrate in bits per second.
    #[arg(long, value_name = "BPS", default_value_t = OpusSettings::default().bitrate)]
    bitrate: u32,
    /// Opus encoder complexity.
    #[arg(long, value_name = "0-10", default_value_t = OpusSettings::default().complexity)]
    complexity: u8,
}

/// Bytes before the samples in our WAV files.
const WAV_HEADER: usize = 44;
/// Interleaved samples in one 20 ms push of 8 kHz stereo.
const PUSH: usize = 2 * 8000 / 50;

/// The interleaved samples the recorder encodes for this call: its WAV file's data. Made
/// once, before any timing, so the encoder-only run encodes exactly the same audio and
/// nothing else.
fn recorded_pcm(packets: &Packets) -> Result<Vec<i16>, String> {
    let config = RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    };
    let mut file = Vec::new();
    record_once(packets, &config, |c| {
        if let Chunk::Append(bytes) = c.chunk {
            file.extend_from_slice(&bytes);
        }
    })?;
    let data = file
        .get(WAV_HEADER..)
        .ok_or("the WAV recording has no header")?;
    Ok(data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// libopus (through our Ogg writer) encoding `pcm` (8 kHz stereo) in 20 ms pushes, nothing
/// else.
fn encode_only(pcm: &[i16], opus: OpusSettings) -> Result<u64, String> {
    let mut encoder =
        MediaEncoder::new(Format::OggOpus, 8000, 2, opus, 1).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for block in pcm.chunks(PUSH) {
        encoder.push(block, &mut out).map_err(|e| e.to_string())?;
        out.clear();
    }
    let summary = encoder.finish(&mut out).map_err(|e| e.to_string())?;
    Ok(summary.bytes)
}

/// Wall time of each run, in seconds.
struct Runs(Vec<f64>);

impl Runs {
    fn time(&mut self, run: impl FnOnce() -> Result<u64, String>) -> Result<u64, String> {
        let start = Instant::now();
        let bytes = run()?;
        self.0.push(start.elapsed().as_secs_f64());
        Ok(bytes)
    }

    /// Summed from +0.0: std's float sum starts at -0.0, which would print as `-0.0`.
    fn total(&self) -> f64 {
        self.0.iter().fold(0.0, |total, secs| total + secs)
    }

    fn median(&self) -> f64 {
        median(self.0.clone())
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let packets = call(args.call_secs)?;
    let pcm = recorded_pcm(&packets)?;
    let opus = OpusSettings::new(args.bitrate, args.complexity).map_err(|e| e.to_string())?;
    let formats = [Format::Wav, Format::OggOpus];
    let configs = formats.map(|format| RecorderConfig {
        format,
        opus,
        ..RecorderConfig::default()
    });
    let mut record_runs = formats.map(|_| Runs(Vec::new()));
    let mut encode_runs = Runs(Vec::new());
    let mut bytes = [0; 2];
    // Round robin, so whatever else the core does falls on every kind of run alike.
    for _ in 0..args.calls {
        for ((config, runs), bytes) in configs.iter().zip(&mut record_runs).zip(&mut bytes) {
            *bytes = runs.time(|| record_once(&packets, config, drop))?;
        }
        encode_runs.time(|| encode_only(&pcm, opus))?;
    }
    let call_secs = args.call_secs as f64;
    // Each round's Opus recording against the encoder-only run right after it: neighbours see
    // the same load on the core, so their ratio is steadier than a ratio of medians.
    let ratios = record_runs[1].0.iter().zip(&encode_runs.0);
    let recorder_over_encoder = median(ratios.map(|(record, encode)| record / encode).collect());
    let mut out = Output::stdout();
    for ((format, runs), bytes) in formats.iter().zip(&record_runs).zip(bytes) {
        out.line(&Measured {
            kind: "bench",
            format: *format,
            layout: "stereo",
            codec_in: "pcmu",
            calls: args.calls,
            call_secs: args.call_secs,
            wall_secs: runs.total(),
            median_call_secs: runs.median(),
            concurrent_calls_per_core: call_secs / runs.median(),
            bytes_per_call: bytes,
        })?;
    }
    out.line(&EncoderOnly {
        kind: "encoder_only",
        libopus_encode_only_wall_secs: encode_runs.total(),
        libopus_encode_only_median_call_secs: encode_runs.median(),
        recorder_over_encoder,
    })?;
    Ok(())
}

/// One format's figures.
#[derive(Serialize)]
struct Measured {
    #[serde(rename = "type")]
    kind: &'static str,
    format: Format,
    layout: &'static str,
    codec_in: &'static str,
    calls: u32,
    call_secs: u64,
    wall_secs: f64,
    median_call_secs: f64,
    concurrent_calls_per_core: f64,
    bytes_per_call: u64,
}

impl Line for Measured {
    fn text(&self) -> String {
        format!(
            "{}: {:.0} concurrent calls per core (median {:.4} s per {} s call, {} bytes)",
            serde_json::to_value(self.format)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            self.concurrent_calls_per_core,
            self.median_call_secs,
            self.call_secs,
            self.bytes_per_call
        )
    }
}

/// libopus alone on the same audio, and what the whole recorder costs next to it.
#[derive(Serialize)]
struct EncoderOnly {
    #[serde(rename = "type")]
    kind: &'static str,
    libopus_encode_only_wall_secs: f64,
    libopus_encode_only_median_call_secs: f64,
    recorder_over_encoder: f64,
}

impl Line for EncoderOnly {
    fn text(&self) -> String {
        format!(
            "libopus alone: median {:.4} s per call; the recorder takes {:.2}x that",
            self.libopus_encode_only_median_call_secs, self.recorder_over_encoder
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        BenchArgs::try_parse_from([&"bench"].into_iter().chain(args)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_run_that_would_measure_nothing_is_refused_with_the_range_it_takes() {
        let zero = parse(&["--calls", "0"])
            .err()
            .expect("--calls 0 is refused");
        assert!(zero.contains("'--calls <N>'"), "{zero}");
        assert!(zero.contains("0 is not in 1..=10000"), "{zero}");
        let endless = parse(&["--calls", "4294967295"])
            .err()
            .expect("four billion rounds are refused");
        assert!(endless.contains("is not in 1..=10000"), "{endless}");
        let empty_call = parse(&["--call-secs", "0"]).err().expect("a 0 s call");
        assert!(empty_call.contains("0 is not in 1..=3600"), "{empty_call}");
    }

    #[test]
    fn the_bounds_themselves_are_taken() {
        let args = parse(&["--calls", "1", "--call-secs", "3600"]).expect("in range");
        assert_eq!((args.calls, args.call_secs), (1, 3600));
        let args = parse(&["--calls", "10000", "--call-secs", "1"]).expect("in range");
        assert_eq!((args.calls, args.call_secs), (10_000, 1));
    }

    #[test]
    fn no_runs_total_plus_zero() {
        let total = Runs(Vec::new()).total();
        assert_eq!(total.to_bits(), 0.0f64.to_bits(), "{total}");
        assert_eq!(Runs(vec![0.25, 0.5]).total(), 0.75);
    }
}
