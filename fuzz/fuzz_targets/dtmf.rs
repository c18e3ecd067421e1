//! The in-band DTMF detector driven by any audio, cut into any blocks, with gaps. After every
//! step:
//! - tones come out in order, each non-empty (`start < end`), none overlapping the one before,
//!   none ending past the samples pushed, each key one of the sixteen;
//! - a tone still sounding began before the samples pushed and after the last tone ended;
//! - `position` counts every sample pushed or skipped.
#![no_main]

use arbitrary::Arbitrary;
use callrec::media::dtmf::{DtmfDetector, Tone, KEYS};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0: 8 kHz, 1: 16 kHz, else 48 kHz.
    rate: u8,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Push(Vec<i16>),
    /// A block of one dual tone: row, column, amplitude and length, so keys are found often.
    Key { row: u8, column: u8, amplitude: i16, samples: u16 },
    Skip(u16),
    Finish,
}

fuzz_target!(|input: Input| {
    let rate = match input.rate {
        0 => 8000,
        1 => 16000,
        _ => 48000,
    };
    let mut detector = DtmfDetector::new(rate);
    let mut out: Vec<Tone> = Vec::new();
    let mut fed = 0u64;
    let mut last_end = 0u64;
    let mut seen = 0;
    for step in input.steps {
        match step {
            Step::Push(samples) => {
                fed += samples.len() as u64;
                detector.push(&samples, &mut out);
            }
            Step::Key { row, column, amplitude, samples } => {
                let (low, high) = (
                    callrec::media::dtmf::ROWS[usize::from(row % 4)],
                    callrec::media::dtmf::COLUMNS[usize::from(column % 4)],
                );
                let a = f32::from(amplitude) / 2.0;
                let block: Vec<i16> = (0..samples)
                    .map(|n| {
                        let t = f32::from(n) / rate as f32;
                        let w = std::f32::consts::TAU;
                        (a * ((w * low * t).sin() + (w * high * t).sin())) as i16
                    })
                    .collect();
                fed += block.len() as u64;
                detector.push(&block, &mut out);
            }
            Step::Skip(n) => {
                fed += u64::from(n);
                detector.skip(u64::from(n), &mut out);
            }
            Step::Finish => detector.finish(&mut out),
        }
        assert_eq!(detector.position(), fed);
        for tone in &out[seen..] {
            assert!(tone.start < tone.end, "{tone:?}");
            assert!(tone.start >= last_end, "{tone:?} after {last_end}");
            assert!(tone.end <= fed, "{tone:?} past {fed}");
            assert!(KEYS.iter().flatten().any(|&k| k == tone.key));
            last_end = tone.end;
        }
        seen = out.len();
        if let Some(start) = detector.active_since() {
            assert!(start >= last_end && start < fed);
        }
    }
});
