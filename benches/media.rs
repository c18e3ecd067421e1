//! Criterion benchmarks for `media`: the per-block work the recorder does on one 20 ms block
//! of an 8 kHz stereo call (160 samples per leg, 320 interleaved), and the per-frame work of
//! one leg (placing a 160-sample frame on its timeline and taking it back, upsampling it).
//! Each iteration is one block or one frame, so the time is the cost per 20 ms of call.
use std::f64::consts::PI;
use std::hint::black_box;
use std::time::Duration;

use callrec::media::mix;
use callrec::media::resample::Upsampler;
use callrec::media::spans::{PauseMode, Spans};
use callrec::media::timeline::{LegTimeline, TimelineConfig};
use callrec::media::tones::{PlacedTone, ToneBank, ToneKind, ToneSpec};
use callrec::time::Time;
use criterion::{criterion_group, criterion_main, Criterion};

const RATE: u32 = 8000;
/// Samples per leg in one 20 ms block.
const FRAME: usize = (RATE / 50) as usize;
/// Where the benched block starts on the call clock: 30 s in.
const BLOCK_START: u64 = 30 * RATE as u64;

/// 20 ms of a -12 dBFS sine at `hz`, the level the synthetic calls use.
fn leg(hz: f64) -> Vec<i16> {
    (0..FRAME)
        .map(|n| (8000.0 * (2.0 * PI * hz * n as f64 / f64::from(RATE)).sin()) as i16)
        .collect()
}

fn stereo_block() -> Vec<i16> {
    let mut block = Vec::new();
    mix::interleave(&leg(440.0), &leg(1000.0), &mut block);
    block
}

fn mixing(c: &mut Criterion) {
    let (a, b) = (leg(440.0), leg(1000.0));
    let mut out = Vec::with_capacity(2 * FRAME);
    c.bench_function("media/mix_interleave_20ms_8k", |bench| {
        bench.iter(|| {
            out.clear();
            mix::interleave(black_box(&a), black_box(&b), &mut out);
            black_box(&out);
        })
    });
    c.bench_function("media/mix_sum_20ms_8k", |bench| {
        bench.iter(|| {
            out.clear();
            mix::sum(black_box(&a), black_box(&b), &mut out);
            black_box(&out);
        })
    });
}

fn tones(c: &mut Criterion) {
    let bank = ToneBank::new(
        RATE,
        Some((&ToneSpec::REMINDER, 30)),
        &ToneSpec::PAUSE,
        &ToneSpec::RESUME,
    );
    // A reminder that started 100 ms before the block and covers all of it.
    let tone = PlacedTone {
        kind: ToneKind::Reminder,
        start: BLOCK_START - 800,
    };
    // Adding into the same block again and again saturates it; a saturating add costs the
    // same whatever the values.
    let mut block = stereo_block();
    c.bench_function("media/tone_add_into_20ms_8k_stereo", |bench| {
        bench.iter(|| bank.add_into(black_box(tone), black_box(&mut block), BLOCK_START, 2))
    });
}

fn spans(c: &mut Criterion) {
    // A few spans: an exclusion at the call's start, a closed pause before the block, one
    // exclusion that covers the block's middle, and an open pause after it.
    let mut spans = Spans::new(PauseMode::Silence);
    spans.exclude(0, 3 * u64::from(RATE));
    spans.pause(10 * u64::from(RATE));
    spans.resume(12 * u64::from(RATE));
    spans.exclude(BLOCK_START + 40, BLOCK_START + 120);
    spans.pause(40 * u64::from(RATE));
    let mut block = stereo_block();
    c.bench_function("media/spans_silence_20ms_8k_stereo_4_spans", |bench| {
        bench.iter(|| spans.silence(black_box(&mut block), BLOCK_START, 2))
    });
}

fn timeline(c: &mut Criterion) {
    let frame = leg(440.0);
    let start = Time::from_nanos(1_000_000_000_000);
    let mut timeline = LegTimeline::new(RATE, start, TimelineConfig::default());
    let mut out = Vec::with_capacity(FRAME);
    // Steady state: frame n arrives at n × 20 ms and is taken 12 frames (240 ms) later, as the
    // recorder's output trails the jitter buffer's latency.
    let mut n = 0u64;
    c.bench_function("media/timeline_place_take_160", |bench| {
        bench.iter(|| {
            let arrival = start + Duration::from_millis(20 * n);
            timeline.place(Some(arrival), n * FRAME as u64, RATE, false, &frame);
            out.clear();
            timeline.take(n.saturating_sub(12) * FRAME as u64, &mut out);
            black_box(&out);
            n += 1;
        })
    });
}

fn upsample(c: &mut Criterion) {
    let frame = leg(440.0);
    let mut up = Upsampler::new(2);
    let mut out = Vec::with_capacity(2 * FRAME);
    c.bench_function("media/upsample_x2_160", |bench| {
        bench.iter(|| {
            out.clear();
            up.process(black_box(&frame), &mut out);
            black_box(&out);
        })
    });
}

criterion_group!(benches, mixing, tones, spans, timeline, upsample);
criterion_main!(benches);
