//! Criterion benchmarks for `media::codec`: the cost of decoding one 20 ms packet per codec
//! (the recorder's per-packet work) and of encoding one (the fixture generator's).
use std::f64::consts::PI;
use std::hint::black_box;

use callrec::media::codec::{Codec, Decoder, Encoder};
use criterion::{criterion_group, criterion_main, Criterion};

/// The cases: name, codec, sample rate.
const CASES: [(&str, Codec, u32); 5] = [
    ("pcmu", Codec::Pcmu, 8000),
    ("pcma", Codec::Pcma, 8000),
    ("g722", Codec::G722, 16000),
    ("opus_8k", Codec::Opus, 8000),
    ("opus_16k", Codec::Opus, 16000),
];

/// 20 ms of a two-tone signal at `rate`, after 200 ms of the same signal (returned first) to
/// settle adaptive encoders.
fn signal(rate: u32) -> Vec<i16> {
    let samples = rate as usize / 50 * 11;
    (0..samples)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            (8000.0 * (2.0 * PI * 350.0 * t).sin() + 5000.0 * (2.0 * PI * 1250.0 * t).sin()) as i16
        })
        .collect()
}

/// One 20 ms payload, encoded after the warm-up frames.
fn payload(codec: Codec, rate: u32) -> Vec<u8> {
    let mut encoder = Encoder::new(codec, rate).expect("supported rate");
    let mut payload = Vec::new();
    for frame in signal(rate).chunks(rate as usize / 50) {
        payload.clear();
        encoder.encode(frame, &mut payload).expect("whole frame");
    }
    payload
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_20ms");
    for (name, codec, rate) in CASES {
        let payload = payload(codec, rate);
        let mut decoder = Decoder::new(codec, rate).expect("supported rate");
        let mut out = Vec::with_capacity(rate as usize / 50 * 6);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                decoder
                    .decode(black_box(&payload), &mut out)
                    .expect("valid payload")
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_20ms");
    for (name, codec, rate) in CASES
        .into_iter()
        .filter(|case| matches!(case.1, Codec::G722 | Codec::Opus))
    {
        let pcm = signal(rate);
        let frame = &pcm[pcm.len() - rate as usize / 50..];
        let mut encoder = Encoder::new(codec, rate).expect("supported rate");
        let mut out = Vec::with_capacity(1500);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                encoder
                    .encode(black_box(frame), &mut out)
                    .expect("whole frame")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
