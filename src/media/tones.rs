//! Tones the recording must carry: the reminder that the call is recorded, and the beeps that
//! mark a pause and a resume. Owns their sound and their schedule on the call clock; knows
//! nothing of legs, codecs or files. Tones are rendered once into a table and then added to
//! output blocks by position, so injecting them costs a saturating add per sample.

use serde::Serialize;
use std::f64::consts::PI;

/// One beep's sound. Level is in dBFS of the sine's peak.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToneSpec {
    pub frequency_hz: f64,
    pub length_ms: u32,
    pub level_dbfs: f64,
}

impl ToneSpec {
    /// The reminder beep: 1400 Hz, the customary recorder-warning frequency, short and quiet.
    pub const REMINDER: ToneSpec = ToneSpec {
        frequency_hz: 1400.0,
        length_ms: 250,
        level_dbfs: -18.0,
    };
    /// Pause notification: a lower beep than the reminder so a listener tells them apart.
    pub const PAUSE: ToneSpec = ToneSpec {
        frequency_hz: 660.0,
        length_ms: 200,
        level_dbfs: -18.0,
    };
    /// Resume notification: distinct from both the pause beep and the reminder.
    pub const RESUME: ToneSpec = ToneSpec {
        frequency_hz: 990.0,
        length_ms: 200,
        level_dbfs: -18.0,
    };

    /// Whether the beep can be played at `sample_rate`: a finite frequency below Nyquist, a
    /// length of 1 ms to 5 s, a finite level at or below full scale.
    pub fn check(&self, sample_rate: u32) -> Result<(), String> {
        let nyquist = f64::from(sample_rate) / 2.0;
        if !(self.frequency_hz.is_finite()
            && self.frequency_hz > 0.0
            && self.frequency_hz < nyquist)
        {
            return Err(format!(
                "tone frequency {} Hz must be above 0 and below {nyquist} Hz",
                self.frequency_hz
            ));
        }
        if !(1..=5000).contains(&self.length_ms) {
            return Err(format!(
                "tone length {} ms is outside 1..=5000 ms",
                self.length_ms
            ));
        }
        if !(self.level_dbfs.is_finite() && self.level_dbfs <= 0.0) {
            return Err(format!(
                "tone level {} dBFS must be at most 0",
                self.level_dbfs
            ));
        }
        Ok(())
    }

    /// The beep's length in samples at `sample_rate`.
    pub fn len(&self, sample_rate: u32) -> u64 {
        u64::from(self.length_ms) * u64::from(sample_rate) / 1000
    }

    /// Renders the beep at `sample_rate`, with 5 ms raised-cosine edges so it does not click.
    pub fn render(&self, sample_rate: u32) -> Vec<i16> {
        let len = self.len(sample_rate) as usize;
        let peak = 32767.0 * 10f64.powf(self.level_dbfs.min(0.0) / 20.0);
        let ramp = ((sample_rate / 200) as usize).clamp(1, len.max(1));
        (0..len)
            .map(|i| {
                let edge = i.min(len - 1 - i);
                let gain = if edge < ramp {
                    0.5 - 0.5 * (PI * edge as f64 / ramp as f64).cos()
                } else {
                    1.0
                };
                let phase = 2.0 * PI * self.frequency_hz * i as f64 / f64::from(sample_rate);
                (peak * gain * phase.sin()).round() as i16
            })
            .collect()
    }
}

/// Which beep a scheduled tone plays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToneKind {
    Reminder,
    Pause,
    Resume,
}

/// A beep placed on the call clock, in output samples from the call's start.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PlacedTone {
    pub kind: ToneKind,
    pub start: u64,
}

/// The rendered beeps of one recording and the reminder cadence.
pub struct ToneBank {
    reminder: Vec<i16>,
    pause: Vec<i16>,
    resume: Vec<i16>,
    /// Reminder period in samples; `None` when reminders are off.
    reminder_every: Option<u64>,
}

impl ToneBank {
    pub fn new(
        sample_rate: u32,
        reminder: Option<(&ToneSpec, u32)>,
        pause: &ToneSpec,
        resume: &ToneSpec,
    ) -> Self {
        ToneBank {
            reminder: reminder.map_or_else(Vec::new, |(spec, _)| spec.render(sample_rate)),
            pause: pause.render(sample_rate),
            resume: resume.render(sample_rate),
            reminder_every: reminder.map(|(_, secs)| u64::from(secs) * u64::from(sample_rate)),
        }
    }

    pub fn samples(&self, kind: ToneKind) -> &[i16] {
        match kind {
            ToneKind::Reminder => &self.reminder,
            ToneKind::Pause => &self.pause,
            ToneKind::Resume => &self.resume,
        }
    }

    pub fn len(&self, kind: ToneKind) -> u64 {
        self.samples(kind).len() as u64
    }

    /// Reminder starts that fall in `[from, to)`: every N seconds of call time, the first at N.
    pub fn reminders_in(&self, from: u64, to: u64) -> impl Iterator<Item = u64> {
        let every = self.reminder_every.filter(|&n| n > 0);
        let first = every.map_or(u64::MAX, |n| from.div_ceil(n).max(1).saturating_mul(n));
        let step = every.unwrap_or(u64::MAX);
        std::iter::successors(Some(first), move |&s| s.checked_add(step))
            .take_while(move |&s| s < to)
    }

    /// Adds `tone` (which starts at call sample `tone_start`) into the `channels`-interleaved
    /// `block` that starts at call sample `block_start`, on every channel, saturating.
    pub fn add_into(&self, tone: PlacedTone, block: &mut [i16], block_start: u64, channels: usize) {
        let samples = self.samples(tone.kind);
        let frames = (block.len() / channels.max(1)) as u64;
        let from = tone.start.max(block_start);
        let to = (tone.start + samples.len() as u64).min(block_start + frames);
        if from >= to || channels == 0 {
            return;
        }
        let tone_part = &samples[(from - tone.start) as usize..(to - tone.start) as usize];
        let block_part = &mut block
            [(from - block_start) as usize * channels..(to - block_start) as usize * channels];
        // Slices zipped rather than indexed per sample, and stereo's channel count as a
        // constant: no bounds checks, and the loop vectorises.
        match channels {
            2 => add_frames(block_part, tone_part, 2),
            _ => add_frames(block_part, tone_part, channels),
        }
    }
}

/// Adds tone sample `i` to every channel of frame `i` of `frames`, saturating.
#[inline(always)]
fn add_frames(frames: &mut [i16], tone: &[i16], channels: usize) {
    for (frame, &t) in frames.chunks_exact_mut(channels).zip(tone) {
        for s in frame {
            *s = s.saturating_add(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_fall_every_interval_starting_at_the_interval() {
        let bank = ToneBank::new(
            8000,
            Some((&ToneSpec::REMINDER, 20)),
            &ToneSpec::PAUSE,
            &ToneSpec::RESUME,
        );
        let starts: Vec<u64> = bank.reminders_in(0, 8000 * 65).collect();
        assert_eq!(starts, vec![160_000, 320_000, 480_000]);
        // A block boundary exactly on a reminder includes it once, in the later block.
        assert_eq!(bank.reminders_in(0, 160_000).count(), 0);
        assert_eq!(
            bank.reminders_in(160_000, 160_001).collect::<Vec<_>>(),
            vec![160_000]
        );
    }

    #[test]
    fn unplayable_tones_are_refused_with_the_reason() {
        let ok = ToneSpec::REMINDER;
        assert_eq!(ok.check(8000), Ok(()));
        let cases = [
            (
                ToneSpec {
                    frequency_hz: 4000.0,
                    ..ok.clone()
                },
                "below 4000 Hz",
            ),
            (
                ToneSpec {
                    frequency_hz: f64::NAN,
                    ..ok.clone()
                },
                "frequency NaN",
            ),
            (
                ToneSpec {
                    length_ms: 0,
                    ..ok.clone()
                },
                "outside 1..=5000",
            ),
            (
                ToneSpec {
                    length_ms: 4_000_000_000,
                    ..ok.clone()
                },
                "outside 1..=5000",
            ),
            (
                ToneSpec {
                    level_dbfs: 3.0,
                    ..ok.clone()
                },
                "at most 0",
            ),
            (
                ToneSpec {
                    level_dbfs: f64::NAN,
                    ..ok.clone()
                },
                "at most 0",
            ),
        ];
        for (tone, why) in cases {
            let err = tone.check(8000).expect_err("refused");
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn no_reminders_when_disabled() {
        let bank = ToneBank::new(8000, None, &ToneSpec::PAUSE, &ToneSpec::RESUME);
        assert_eq!(bank.reminders_in(0, u64::MAX).count(), 0);
        assert!(bank.samples(ToneKind::Reminder).is_empty());
    }

    #[test]
    fn rendered_beep_has_its_length_peak_and_soft_edges() {
        let beep = ToneSpec::REMINDER.render(16000);
        assert_eq!(beep.len(), 4000);
        let peak = beep.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        let expected = (32767.0 * 10f64.powf(-18.0 / 20.0)) as u16;
        assert!(peak <= expected + 1 && peak >= expected - 40, "peak {peak}");
        assert_eq!(beep[0], 0);
        assert!(beep[1].unsigned_abs() < 100);
    }

    #[test]
    fn tone_straddling_blocks_is_added_once_on_every_channel() {
        let bank = ToneBank::new(8000, None, &ToneSpec::PAUSE, &ToneSpec::RESUME);
        let tone = PlacedTone {
            kind: ToneKind::Pause,
            start: 100,
        };
        let len = bank.len(ToneKind::Pause) as usize;
        let mut whole = vec![0i16; 2 * 2000];
        bank.add_into(tone, &mut whole, 0, 2);
        let mut a = vec![0i16; 2 * 1000];
        let mut b = vec![0i16; 2 * 1000];
        bank.add_into(tone, &mut a, 0, 2);
        bank.add_into(tone, &mut b, 1000, 2);
        a.extend_from_slice(&b);
        assert_eq!(a, whole);
        let src = bank.samples(ToneKind::Pause);
        for i in 0..len {
            assert_eq!(whole[(100 + i) * 2], src[i]);
            assert_eq!(whole[(100 + i) * 2 + 1], src[i]);
        }
        assert!(whole[..200].iter().all(|&s| s == 0));
        assert!(whole[(100 + len) * 2..].iter().all(|&s| s == 0));
    }

    #[test]
    fn tone_outside_the_block_leaves_it_alone() {
        let bank = ToneBank::new(8000, None, &ToneSpec::PAUSE, &ToneSpec::RESUME);
        let len = bank.len(ToneKind::Pause);
        for (start, channels) in [(0, 2), (5000 - len, 1), (6000, 2), (6000 + 1, 1)] {
            let mut block = vec![1i16; 1000 * channels];
            let tone = PlacedTone {
                kind: ToneKind::Pause,
                start,
            };
            bank.add_into(tone, &mut block, 5000, channels);
            assert!(block.iter().all(|&s| s == 1), "tone at {start}");
        }
    }

    #[test]
    fn addition_saturates_instead_of_wrapping() {
        let bank = ToneBank::new(8000, None, &ToneSpec::PAUSE, &ToneSpec::RESUME);
        let mut block = vec![i16::MAX; 1600];
        let mut low = vec![i16::MIN; 1600];
        let tone = PlacedTone {
            kind: ToneKind::Pause,
            start: 0,
        };
        bank.add_into(tone, &mut block, 0, 1);
        bank.add_into(tone, &mut low, 0, 1);
        assert!(block.iter().all(|&s| s > 0));
        assert!(low.iter().all(|&s| s < 0));
    }
}
