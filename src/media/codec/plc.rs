//! Loss concealment for the codecs without their own (G.711, G.722): repeat the last pitch
//! period of real audio with a linear fade to zero, then silence.
//!
//! The rule it must keep: concealment is never worse than silence. Every concealed sample is
//! a real sample from the last 25 ms scaled by a gain ≤ 1, so it is never louder than the
//! audio before the loss, and after [`FADE_MS`] it is exactly zero. The decoder state of the
//! codec is not touched: the next real packet decodes as if nothing happened.

/// Shortest pitch period searched, 2.5 ms (400 Hz).
const MIN_PERIOD_US: usize = 2_500;
/// Longest pitch period searched, 15 ms (66 Hz).
const MAX_PERIOD_US: usize = 15_000;
/// Length of the stretch compared against its copy one period earlier.
const WINDOW_US: usize = 10_000;
/// Concealment fades linearly to zero over this long, then stays silent.
pub const FADE_MS: usize = 60;

/// Remembers recent audio and makes up audio for lost packets.
#[derive(Clone, Debug)]
pub(super) struct Concealer {
    /// The most recent real audio, oldest first, at most `capacity` samples.
    history: Vec<i16>,
    capacity: usize,
    min_period: usize,
    max_period: usize,
    window: usize,
    fade: usize,
    /// Samples concealed since the last real audio.
    elapsed: usize,
    /// The period repeated during the current loss.
    period: usize,
}

impl Concealer {
    pub(super) fn new(sample_rate: u32) -> Concealer {
        let samples = |us: usize| us * sample_rate as usize / 1_000_000;
        let max_period = samples(MAX_PERIOD_US);
        let window = samples(WINDOW_US);
        Concealer {
            history: Vec::with_capacity(max_period + window),
            capacity: max_period + window,
            min_period: samples(MIN_PERIOD_US),
            max_period,
            window,
            fade: samples(FADE_MS * 1000),
            elapsed: 0,
            period: 0,
        }
    }

    /// Records real decoded audio; the next loss starts from its end. An empty payload is no
    /// audio and does not restart the fade.
    pub(super) fn remember(&mut self, pcm: &[i16]) {
        if pcm.is_empty() {
            return;
        }
        let keep = pcm.len().min(self.capacity);
        self.history.extend_from_slice(&pcm[pcm.len() - keep..]);
        let excess = self.history.len().saturating_sub(self.capacity);
        self.history.drain(..excess);
        self.elapsed = 0;
    }

    /// Appends exactly `samples` concealment samples to `out`.
    pub(super) fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        if self.elapsed == 0 {
            self.period = self.pitch_period();
        }
        let start = out.len();
        let audible = self.fade.saturating_sub(self.elapsed).min(samples);
        if self.period > 0 {
            let cycle = &self.history[self.history.len() - self.period..];
            let fade = self.fade as i32;
            out.extend((self.elapsed..self.elapsed + audible).map(|k| {
                let gain = fade - k as i32;
                (i32::from(cycle[k % cycle.len()]) * gain / fade) as i16
            }));
        }
        out.resize(start + samples, 0);
        self.elapsed = self.elapsed.saturating_add(samples);
    }

    /// The lag at which the last `window` samples best match their earlier copy (normalized
    /// cross-correlation), or all of the history while it is still short.
    fn pitch_period(&self) -> usize {
        if self.history.len() < self.capacity {
            return self.history.len();
        }
        let recent = &self.history[self.capacity - self.window..];
        let mut best = (f64::MIN, self.max_period);
        for period in self.min_period..=self.max_period {
            let earlier = &self.history[self.capacity - self.window - period..][..self.window];
            let (mut correlation, mut energy) = (0.0, 0.0);
            for (&x, &y) in recent.iter().zip(earlier) {
                correlation += f64::from(x) * f64::from(y);
                energy += f64::from(y) * f64::from(y);
            }
            let score = if energy > 0.0 {
                correlation * correlation.abs() / energy
            } else {
                0.0
            };
            if score > best.0 {
                best = (score, period);
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: f64, range: std::ops::Range<usize>, amplitude: f64) -> Vec<i16> {
        range
            .map(|n| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / rate).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn nothing_remembered_conceals_silence() {
        let mut plc = Concealer::new(8000);
        let mut out = vec![7];
        plc.conceal(160, &mut out);
        assert_eq!(out.len(), 161);
        assert!(out[1..].iter().all(|&s| s == 0));
    }

    #[test]
    fn fades_to_silence_and_is_never_louder_than_the_last_audio() {
        for rate in [8000, 16000] {
            let mut plc = Concealer::new(rate);
            let before = tone(220.0, f64::from(rate), 0..rate as usize / 5, 12000.0);
            plc.remember(&before);
            let peak = before[before.len() - plc.capacity..]
                .iter()
                .map(|s| s.unsigned_abs())
                .max();
            let mut out = Vec::new();
            // One 20 ms packet at a time, as a jitter buffer asks.
            let packet = rate as usize / 50;
            for _ in 0..5 {
                plc.conceal(packet, &mut out);
            }
            assert_eq!(out.len(), 5 * packet);
            let fade = FADE_MS * rate as usize / 1000;
            assert!(out.iter().map(|s| s.unsigned_abs()).max() <= peak);
            assert!(
                out[fade..].iter().all(|&s| s == 0),
                "silent after {FADE_MS} ms"
            );
            // Each 10 ms block is quieter than the one before.
            let block = rate as usize / 100;
            let energies: Vec<i64> = out[..fade]
                .chunks(block)
                .map(|c| c.iter().map(|&s| i64::from(s).pow(2)).sum())
                .collect();
            assert!(energies.windows(2).all(|w| w[1] < w[0]), "{energies:?}");
            assert!(energies[0] > 0);
        }
    }

    #[test]
    fn a_tone_continues_in_phase_under_the_fade() {
        let rate = 8000.0;
        let mut plc = Concealer::new(8000);
        plc.remember(&tone(250.0, rate, 0..800, 10000.0));
        let mut out = Vec::new();
        plc.conceal(160, &mut out);
        // The ideal continuation of the tone, faded the same way.
        let ideal = tone(250.0, rate, 800..960, 10000.0);
        let fade = (FADE_MS * 8) as i32;
        for (k, (&got, &want)) in out.iter().zip(&ideal).enumerate() {
            let want = i32::from(want) * (fade - k as i32) / fade;
            assert!(
                (i32::from(got) - want).abs() <= 2,
                "sample {k}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn real_audio_restarts_the_fade() {
        let mut plc = Concealer::new(8000);
        plc.remember(&tone(250.0, 8000.0, 0..800, 10000.0));
        let mut out = Vec::new();
        plc.conceal(1000, &mut out);
        assert!(out[480..].iter().all(|&s| s == 0));
        plc.remember(&[]);
        out.clear();
        plc.conceal(80, &mut out);
        assert!(out.iter().all(|&s| s == 0), "an empty payload is no audio");
        plc.remember(&tone(250.0, 8000.0, 1800..1960, 10000.0));
        out.clear();
        plc.conceal(80, &mut out);
        assert!(out.iter().map(|s| s.unsigned_abs()).max() > Some(8000));
    }
}
