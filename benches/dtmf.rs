//! Criterion benchmarks for the in-band DTMF detector that PCI handling runs on every leg:
//! one iteration is one 20 ms block of one leg, fed as the recorder feeds it, so the time is
//! the cost per leg per 20 ms of call (a call has two legs). Measured on speech-like sound
//! (the common case) and on a held key, at 8 kHz (G.711) and 16 kHz (G.722, Opus).
use std::hint::black_box;

use callrec::media::dtmf::signal::{add_dual, frequencies, speech};
use callrec::media::dtmf::DtmfDetector;
use criterion::{criterion_group, criterion_main, Criterion};

fn detector(c: &mut Criterion) {
    for rate in [8000u32, 16000] {
        let block = rate as usize / 50;
        let talk = speech(rate, rate as usize * 2, -16.0, 3);
        let mut key = vec![0i16; rate as usize * 2];
        let len = key.len();
        add_dual(
            &mut key,
            rate,
            0,
            len,
            frequencies('5').unwrap(),
            (-12.0, -12.0),
        );
        for (name, audio) in [("speech", &talk), ("key", &key)] {
            let mut detector = DtmfDetector::new(rate);
            let mut out = Vec::new();
            let mut at = 0;
            let id = format!("dtmf/detect_20ms_{}k_{name}", rate / 1000);
            c.bench_function(&id, |bench| {
                bench.iter(|| {
                    if at + block > audio.len() {
                        at = 0;
                    }
                    detector.push(black_box(&audio[at..at + block]), &mut out);
                    at += block;
                    out.clear();
                })
            });
        }
    }
}

criterion_group!(benches, detector);
criterion_main!(benches);
