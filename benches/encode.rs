//! Criterion benchmarks for `encode`: one second of two-leg 8 kHz call audio through each
//! encoder, in live-sized 20 ms pushes to a long-lived encoder (steady state: a call's setup
//! is amortised over minutes). Each iteration is one second of stereo audio, so the time per
//! iteration is the CPU cost per second of recording.
//!
//! Before timing, the Ogg Opus benches print the file size per second of audio each setting
//! gives (from a 10 s file), since bitrate and complexity are picked on both.

use std::f64::consts::PI;
use std::hint::black_box;

use callrec::encode::{Chunk, Format, MediaEncoder, OpusSettings};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

const RATE: u32 = 8000;
const CHANNELS: u8 = 2;
/// Interleaved samples in one 20 ms push.
const PUSH: usize = (RATE / 50) as usize * CHANNELS as usize;
const COMPLEXITIES: [u8; 6] = [0, 1, 3, 5, 7, 10];
const BITRATES: [u32; 3] = [16000, 24000, 32000];

/// Deterministic speech-like stereo: each channel is a voice (harmonics of a fundamental
/// gliding within 120–170 Hz on the left, 170–220 Hz on the right, falling off as 1/k up to
/// 3.4 kHz) shaped into ~4 syllables a second; the two take turns every 2 s like a
/// conversation, the listener's channel carrying only faint noise.
fn speech_like(seconds: f64) -> Vec<i16> {
    let len = (seconds * f64::from(RATE)) as usize;
    let mut pcm = Vec::with_capacity(len * 2);
    let mut phase = [0.0f64; 2];
    let mut noise = 0x9e37_79b9u32;
    for i in 0..len {
        let t = i as f64 / f64::from(RATE);
        let talker = (t / 2.0) as usize % 2;
        for (ch, phase) in phase.iter_mut().enumerate() {
            let base = if ch == 0 { 120.0 } else { 170.0 };
            let f0 = base + 25.0 * (1.0 + (2.0 * PI * 0.7 * t + ch as f64).sin());
            *phase += 2.0 * PI * f0 / f64::from(RATE);
            let harmonics = (3400.0 / f0) as usize;
            let voiced: f64 = (1..=harmonics)
                .map(|k| (k as f64 * *phase).sin() / k as f64)
                .sum();
            let syllable = (2.0 * PI * 4.0 * t).sin().max(0.0).powi(2);
            let level = if ch == talker { 6000.0 * syllable } else { 0.0 };
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let hiss = f64::from(noise as i16) / 256.0;
            pcm.push((level * voiced + hiss).clamp(-32768.0, 32767.0) as i16);
        }
    }
    pcm
}

fn encoder(format: Format, settings: OpusSettings) -> MediaEncoder {
    MediaEncoder::new(format, RATE, CHANNELS, settings, 1).expect("valid settings")
}

/// Pushes `pcm` in 20 ms pieces.
fn push_all(enc: &mut MediaEncoder, pcm: &[i16], out: &mut Vec<Chunk>) {
    for piece in pcm.chunks(PUSH) {
        enc.push(black_box(piece), out).expect("push");
    }
}

fn print_opus_sizes(settings: OpusSettings) {
    let mut enc = encoder(Format::OggOpus, settings);
    let mut out = Vec::new();
    push_all(&mut enc, &speech_like(10.0), &mut out);
    let bytes = enc.finish(&mut out).expect("finish").bytes;
    eprintln!(
        "encode/opus_8k_stereo/c{}/{}: {} bytes per second of audio",
        settings.complexity,
        settings.bitrate,
        bytes / 10
    );
}

fn opus(c: &mut Criterion) {
    let second = speech_like(1.0);
    for bitrate in BITRATES {
        for complexity in COMPLEXITIES {
            print_opus_sizes(OpusSettings {
                bitrate,
                complexity,
            });
        }
    }
    let mut group = c.benchmark_group("encode/opus_8k_stereo_1s");
    for bitrate in BITRATES {
        for complexity in COMPLEXITIES {
            let settings = OpusSettings {
                bitrate,
                complexity,
            };
            let id = BenchmarkId::new(format!("c{complexity}"), bitrate);
            let mut enc = encoder(Format::OggOpus, settings);
            let mut out = Vec::new();
            group.bench_function(id, |b| {
                b.iter(|| {
                    push_all(&mut enc, &second, &mut out);
                    out.clear();
                })
            });
        }
    }
    group.finish();
}

fn wav(c: &mut Criterion) {
    let second = speech_like(1.0);
    // A fresh encoder per batch (untimed): a long-lived one would reach the 4 GiB WAV limit.
    // WAV ignores the Opus settings.
    let settings = OpusSettings {
        bitrate: 24000,
        complexity: 5,
    };
    c.bench_function("encode/wav_8k_stereo_1s", |b| {
        b.iter_batched_ref(
            || (encoder(Format::Wav, settings), Vec::new()),
            |(enc, out)| push_all(enc, &second, out),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, opus, wav);
criterion_main!(benches);
