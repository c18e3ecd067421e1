//! `callrec bench`: how many concurrent stereo calls one core records, for each format, and
//! what the whole recorder costs next to libopus encoding the same audio alone.
//!
//! One core sustains N concurrent calls when it records N seconds of call per second of CPU,
//! so the figure is (calls × call length) / CPU time, measured on this thread.

use bytes::Bytes;
use callrec::encode::{Format, MediaEncoder, OpusSettings};
use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, CaptureReader, LinkType};
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::{Leg, Recorder, RecorderConfig};
use callrec::synth::{generate, LegSpec, FREQ_A, FREQ_B};
use callrec::time::Time;
use std::time::{Duration, Instant};

#[derive(clap::Parser)]
pub struct BenchArgs {
    /// Length of the synthetic call, in seconds.
    #[arg(long, default_value_t = 60)]
    call_secs: u64,
    /// How many times the call is recorded per format.
    #[arg(long, default_value_t = 20)]
    calls: u32,
    /// Opus bitrate.
    #[arg(long, default_value_t = OpusSettings::default().bitrate)]
    bitrate: u32,
    /// Opus complexity.
    #[arg(long, default_value_t = OpusSettings::default().complexity)]
    complexity: u8,
}

type Packets = Vec<(Time, Leg, Bytes)>;

fn call(secs: u64) -> Result<Packets, String> {
    let legs: Vec<LegSpec> = [(FREQ_A, 0), (FREQ_B, 1)]
        .map(|(f, i)| {
            let mut leg = LegSpec::tone(Codec::Pcmu, f, i);
            leg.duration = Duration::from_secs(secs);
            leg
        })
        .to_vec();
    let (capture, _) =
        generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).map_err(|e| e.to_string())?;
    let reader = CaptureReader::new(Bytes::from(capture)).map_err(|e| e.to_string())?;
    reader
        .map(|d| {
            let d = d.map_err(|e| e.to_string())?;
            let leg = if d.src == legs[0].src { Leg::A } else { Leg::B };
            Ok((d.time, leg, d.payload))
        })
        .collect()
}

fn record_once(packets: &Packets, config: &RecorderConfig) -> Result<u64, String> {
    let mut map = PayloadMap::with_static();
    map.retain(&[0]);
    let mut recorder =
        Recorder::new(config.clone(), [map.clone(), map]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut bytes = 0u64;
    for (now, leg, datagram) in packets {
        recorder.push(*now, *leg, datagram.clone());
        recorder.poll(*now, &mut out).map_err(|e| e.to_string())?;
        out.clear();
    }
    let summary = recorder.finish(&mut out).map_err(|e| e.to_string())?;
    bytes += summary.files.iter().map(|f| f.bytes).sum::<u64>();
    Ok(bytes)
}

/// libopus (through our Ogg writer) encoding the same length of stereo audio, nothing else.
fn encode_only(secs: u64, opus: OpusSettings) -> Result<(), String> {
    let mut encoder =
        MediaEncoder::new(Format::OggOpus, 8000, 2, opus, 1).map_err(|e| e.to_string())?;
    let mut block = vec![0i16; 320];
    let mut out = Vec::new();
    for frame in 0..secs * 50 {
        for (i, s) in block.chunks_mut(2).enumerate() {
            let t = (frame * 160 + i as u64) as f64 / 8000.0;
            s[0] = (8000.0 * (2.0 * std::f64::consts::PI * FREQ_A * t).sin()) as i16;
            s[1] = (8000.0 * (2.0 * std::f64::consts::PI * FREQ_B * t).sin()) as i16;
        }
        encoder.push(&block, &mut out).map_err(|e| e.to_string())?;
        out.clear();
    }
    encoder.finish(&mut out).map_err(|e| e.to_string())?;
    Ok(())
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let packets = call(args.call_secs)?;
    let opus = OpusSettings::new(args.bitrate, args.complexity).map_err(|e| e.to_string())?;
    let audio_secs = (args.call_secs * u64::from(args.calls)) as f64;
    let mut opus_record_secs = None;
    for format in [Format::Wav, Format::OggOpus] {
        let config = RecorderConfig {
            format,
            opus,
            ..RecorderConfig::default()
        };
        let start = Instant::now();
        let mut bytes = 0;
        for _ in 0..args.calls {
            bytes += record_once(&packets, &config)?;
        }
        let cpu = start.elapsed().as_secs_f64();
        if format == Format::OggOpus {
            opus_record_secs = Some(cpu);
        }
        println!(
            "{}",
            serde_json::json!({
                "format": format,
                "layout": "stereo",
                "codec_in": "pcmu",
                "calls": args.calls,
                "call_secs": args.call_secs,
                "cpu_secs": cpu,
                "concurrent_calls_per_core": audio_secs / cpu,
                "bytes_per_call": bytes / u64::from(args.calls),
            })
        );
    }
    let start = Instant::now();
    for _ in 0..args.calls {
        encode_only(args.call_secs, opus)?;
    }
    let encode = start.elapsed().as_secs_f64();
    if let Some(record) = opus_record_secs {
        println!(
            "{}",
            serde_json::json!({
                "libopus_encode_only_cpu_secs": encode,
                "recorder_over_encoder": record / encode,
            })
        );
    }
    Ok(())
}
