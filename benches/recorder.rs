//! Criterion benchmarks for `recorder`: the whole recorder on a clean 10 s two-leg PCMU call
//! (the synthetic -12 dBFS tones `callrec bench` uses), every datagram pushed and polled as a
//! live call would, then finished, in stereo to WAV and to Ogg Opus at the default settings.
//! Next to them, libopus alone (through the same Ogg writer) encoding exactly the audio the
//! recorder encodes, so the recorder's own cost is the difference.
//!
//! Every reported time is per second of call: each iteration records (or encodes) the whole
//! 10 s call, with a fresh recorder or encoder, and its time is divided by 10.
//!
//! `interleaved_opus_per_call_second`: a shard's view. Many calls recorded side by side, one
//! datagram of each in turn, so each call's state comes back into the cache for each packet,
//! timed in the steady state (after the recorders' start). Polled after every datagram, as
//! the shards do, and only every 100 ms: whether a hundred interleaved calls cost more than
//! one, and whether polling less often would win it back.
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use callrec::encode::{Chunk, Format, MediaEncoder, OpusSettings};
use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, CaptureReader, LinkType};
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::{FileChunk, Leg, Recorder, RecorderConfig};
use callrec::synth::{generate, LegSpec, FREQ_A, FREQ_B};
use callrec::time::Time;
use criterion::{criterion_group, criterion_main, Criterion};

const CALL_SECS: u32 = 10;
/// Interleaved samples in one 20 ms push of 8 kHz stereo.
const PUSH: usize = 2 * 8000 / 50;

type Packets = Vec<(Time, Leg, Bytes)>;

/// The call's datagrams in capture order, each with its leg (as `callrec bench` routes them).
fn call() -> Packets {
    let legs = [(FREQ_A, 0), (FREQ_B, 1)].map(|(hz, i)| {
        let mut leg = LegSpec::tone(Codec::Pcmu, hz, i);
        leg.duration = Duration::from_secs(CALL_SECS.into());
        leg
    });
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).expect("synth");
    CaptureReader::new(Bytes::from(capture))
        .expect("capture")
        .map(|d| {
            let d = d.expect("datagram");
            let leg = if d.src == legs[0].src { Leg::A } else { Leg::B };
            (d.time, leg, d.payload)
        })
        .collect()
}

fn config(format: Format) -> RecorderConfig {
    RecorderConfig {
        format,
        opus: OpusSettings::default(),
        ..RecorderConfig::default()
    }
}

/// Records the call end to end, handing each poll's chunks to `sink` (which empties `out`,
/// as a live recorder writes them out).
fn record(packets: &Packets, config: &RecorderConfig, mut sink: impl FnMut(&mut Vec<FileChunk>)) {
    let mut map = PayloadMap::with_static();
    map.retain(&[0]);
    let mut recorder = Recorder::new(config.clone(), [map.clone(), map]).expect("recorder");
    let mut out = Vec::new();
    for (now, leg, datagram) in packets {
        recorder.push(*now, *leg, datagram.clone());
        while recorder.poll(*now, &mut out).expect("poll") {
            sink(&mut out);
        }
        sink(&mut out);
    }
    recorder.finish(&mut out).expect("finish");
    sink(&mut out);
}

/// The interleaved samples the recorder encodes: its WAV file's data.
fn recorded_pcm(packets: &Packets) -> Vec<i16> {
    let mut file = Vec::new();
    record(packets, &config(Format::Wav), |out| {
        for c in out.drain(..) {
            if let Chunk::Append(bytes) = c.chunk {
                file.extend_from_slice(&bytes);
            }
        }
    });
    file[44..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Runs `work` once per iteration and reports its time per second of call.
fn per_call_second(iters: u64, mut work: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        work();
    }
    start.elapsed() / CALL_SECS
}

fn recorder(c: &mut Criterion) {
    let packets = call();
    let pcm = recorded_pcm(&packets);
    assert_eq!(
        pcm.len(),
        2 * 8000 * CALL_SECS as usize,
        "10 s of 8 kHz stereo"
    );
    let mut group = c.benchmark_group("recorder/per_call_second");
    for (name, format) in [
        ("record_wav_stereo_pcmu", Format::Wav),
        ("record_opus_stereo_pcmu", Format::OggOpus),
    ] {
        let config = config(format);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                per_call_second(iters, || {
                    record(&packets, &config, |out| {
                        black_box(&out);
                        out.clear()
                    })
                })
            })
        });
    }
    group.bench_function("libopus_encode_only_stereo_8k", |b| {
        b.iter_custom(|iters| {
            per_call_second(iters, || {
                let mut encoder =
                    MediaEncoder::new(Format::OggOpus, 8000, 2, OpusSettings::default(), 1)
                        .expect("encoder");
                let mut out = Vec::new();
                for piece in pcm.chunks(PUSH) {
                    encoder.push(black_box(piece), &mut out).expect("push");
                    black_box(&out);
                    out.clear();
                }
                encoder.finish(&mut out).expect("finish");
                black_box(&out);
            })
        })
    });
    group.finish();
}

/// Calls side by side in the interleaved benchmarks: one alone, and a shard's share of a
/// busy server's.
const INTERLEAVED_CALLS: [usize; 2] = [1, 100];
/// Seconds of each call fed before the clock starts (the recorders' start-up and the jitter
/// buffer's first wait are not steady state), and seconds timed after.
const WARM_SECS: u64 = 3;
const TIMED_SECS: u64 = 4;

/// Steady-state cost of `calls` calls recorded side by side, as a shard holds them, per
/// call-second: each step takes one datagram of every call in turn (so each call's state,
/// its jitter buffer, timeline and encoder, comes back into the cache), and polls that call
/// after every datagram, or only once `poll_every` has passed since its last poll.
fn interleaved(
    packets: &Packets,
    config: &RecorderConfig,
    calls: usize,
    poll_every: Duration,
) -> Duration {
    let mut map = PayloadMap::with_static();
    map.retain(&[0]);
    let mut recorders: Vec<(Recorder, Time)> = (0..calls)
        .map(|_| {
            let payloads = [map.clone(), map.clone()];
            let recorder = Recorder::new(config.clone(), payloads).expect("recorder");
            (recorder, packets[0].0)
        })
        .collect();
    let warm_until = packets[0].0 + Duration::from_secs(WARM_SECS);
    let timed_until = warm_until + Duration::from_secs(TIMED_SECS);
    let mut out = Vec::new();
    let mut timer = None;
    for (now, leg, datagram) in packets.iter().take_while(|(now, ..)| *now < timed_until) {
        if *now >= warm_until && timer.is_none() {
            timer = Some(Instant::now());
        }
        for (recorder, last_poll) in &mut recorders {
            recorder.push(*now, *leg, datagram.clone());
            if now.saturating_since(*last_poll) < poll_every {
                continue;
            }
            *last_poll = *now;
            while recorder.poll(*now, &mut out).expect("poll") {
                black_box(&out);
                out.clear();
            }
            black_box(&out);
            out.clear();
        }
    }
    let elapsed = timer.expect("the call outlasts the warm-up").elapsed();
    elapsed / (calls as u32 * TIMED_SECS as u32)
}

fn recorder_interleaved(c: &mut Criterion) {
    let packets = call();
    let config = config(Format::OggOpus);
    let mut group = c.benchmark_group("recorder/interleaved_opus_per_call_second");
    group.sample_size(10);
    for calls in INTERLEAVED_CALLS {
        for (poll, every) in [("poll_each_packet", 0), ("poll_each_100ms", 100)] {
            let every = Duration::from_millis(every);
            group.bench_function(format!("{calls}_calls_{poll}"), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| interleaved(&packets, &config, calls, every))
                        .sum()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, recorder, recorder_interleaved);
criterion_main!(benches);
