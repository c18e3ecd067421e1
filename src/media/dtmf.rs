//! In-band DTMF detection: finds the dual tones of ITU-T Q.23 in decoded audio, so a
//! recording made for an organisation with PCI handling can silence them (a card number typed
//! on the keypad must never be stored). Owns the analysis only: samples in, tone spans out,
//! on the caller's sample count. Must never decide what happens to the audio, nor keep the
//! digits it found beyond handing each span over (a [`Tone`]'s key is for the caller's tests
//! and logic; callrec's recorder drops it on the spot).
//!
//! The method (Q.24's reception tolerances; the numbers are the constants below):
//! - A window of [`WINDOW_MS`] (4 quarters) slides by one quarter. For each of the 8 DTMF
//!   frequencies the window's four quarters are correlated with the frequency (Goertzel's
//!   single-bin DFT, taken as a complex value per quarter).
//! - Level and selectivity come from the two half windows (12.75 ms: 697 Hz leaks 22 dB
//!   down into the 770 Hz bin, yet a tone 1.5 % off nominal loses under 1.5 dB): the
//!   strongest low-group and high-group frequencies must each be at least
//!   [`MIN_TONE_DBFS`], at least [`MIN_PEAK_RATIO_DB`] above the others of their group,
//!   within the twist limits, and together hold [`MIN_ENERGY_FRACTION`] of the window's
//!   energy (speech spreads its energy over many harmonics and formants).
//! - The frequency itself is measured from the phase turned between consecutive quarters
//!   (unambiguous within ±78 Hz of nominal; farther off, the quarter bins are near their nulls
//!   and the level tests fail): Q.24 says accept ±1.5 %, reject ±3.5 %; the line is drawn at
//!   [`MAX_DEVIATION`].
//! - Each quarter must carry the tone (no quarter below a quarter of the mean power), so a
//!   window is a hit only when the tone fills it; [`HITS_TO_START`] consecutive hits of one
//!   key (38 ms of tone) start a tone, so tones of 45 ms or more are always found and tones
//!   shorter than about 32 ms never are. [`MISSES_TO_END`] misses end it: a dropout shorter
//!   than one hop does not split a key press in two.
//!
//! Cost: 8 frequencies × 2 multiply-adds per sample per window, windows every quarter (four
//! times per sample): about 64 multiply-adds per input sample, whatever the rate.

use std::f32::consts::PI;

/// Low-group (row) frequencies, Q.23.
pub const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies, Q.23.
pub const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad: `KEYS[row][column]`.
pub const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The analysis window: four quarters of 6.375 ms (51 samples at 8 kHz).
pub const WINDOW_MS: f32 = 25.5;
/// Weakest tone accepted, in dB relative to a full-scale sine (Q.24's sensitivities are
/// around -25 to -30 dBm0; 0 dBm0 is about -3 dBFS in G.711).
pub const MIN_TONE_DBFS: f32 = -36.0;
/// How much stronger the high tone may be than the low one (forward twist).
pub const MAX_HIGH_ABOVE_LOW_DB: f32 = 4.0;
/// How much weaker the high tone may be than the low one (reverse twist).
pub const MAX_HIGH_BELOW_LOW_DB: f32 = 8.0;
/// How far the chosen frequency must stand above the others of its group.
pub const MIN_PEAK_RATIO_DB: f32 = 8.0;
/// Share of the window's energy the two tones must hold.
pub const MIN_ENERGY_FRACTION: f32 = 0.85;
/// Largest relative frequency deviation accepted: between Q.24's ±1.5 % (must accept) and
/// ±3.5 % (must reject).
pub const MAX_DEVIATION: f32 = 0.025;
/// Consecutive hits (windows one quarter apart) of one key that start a tone.
pub const HITS_TO_START: u32 = 3;
/// Consecutive misses that end a tone.
pub const MISSES_TO_END: u32 = 2;

/// A detected tone: samples `[start, end)` of the detector's input, counted from the first
/// sample ever pushed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tone {
    pub start: u64,
    pub end: u64,
    /// The key. Callers handling card data must drop it.
    pub key: char,
}

/// What the detector has counted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DtmfStats {
    pub windows: u64,
    pub hits: u64,
    pub tones: u64,
}

/// One frequency's correlation tables over a quarter window.
struct Bin {
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Phase the nominal frequency turns over one quarter, in radians.
    turn: f32,
    /// Hz per radian of extra turn over one quarter.
    hz_per_radian: f32,
    freq: f32,
}

impl Bin {
    fn new(freq: f32, rate: u32, quarter: usize) -> Bin {
        let w = 2.0 * PI * freq / rate as f32;
        Bin {
            cos: (0..quarter).map(|n| (w * n as f32).cos()).collect(),
            sin: (0..quarter).map(|n| (w * n as f32).sin()).collect(),
            turn: w * quarter as f32,
            hz_per_radian: rate as f32 / (2.0 * PI * quarter as f32),
            freq,
        }
    }

    /// The quarter's complex correlation `Σ x[n]·e^{-jωn}`, as (re, im).
    fn correlate(&self, x: &[f32]) -> (f32, f32) {
        let (mut re, mut im) = (0.0, 0.0);
        for ((&s, &c), &si) in x.iter().zip(&self.cos).zip(&self.sin) {
            re += s * c;
            im -= s * si;
        }
        (re, im)
    }
}

/// What one window shows at one frequency.
#[derive(Copy, Clone, Debug, Default)]
struct Reading {
    /// Power summed over the two half windows.
    half_power: f32,
    /// The share of a tone's power the half windows see at the measured deviation (to read
    /// a tone's level the same at every allowed deviation).
    gain: f32,
    /// The four quarters' powers.
    quarters: [f32; 4],
    /// Measured minus nominal frequency, Hz.
    deviation: f32,
}

/// An open tone: where its run of hits began and where the last hit window ended.
#[derive(Copy, Clone, Debug)]
struct Run {
    key: char,
    start: u64,
    end: u64,
    hits: u32,
    misses: u32,
}

/// A streaming DTMF detector for one leg at one sample rate.
pub struct DtmfDetector {
    quarter: usize,
    bins: Vec<Bin>,
    /// Input not yet slid past: `buf[0]` is input sample `base`.
    buf: Vec<f32>,
    base: u64,
    run: Option<Run>,
    /// Where the last tone reported ended: the next one starts no earlier (windows overlap,
    /// tones never do).
    last_end: u64,
    stats: DtmfStats,
}

impl DtmfDetector {
    /// A detector for audio at `rate` Hz (8000 and up: the highest DTMF frequency must sit
    /// below half the rate).
    pub fn new(rate: u32) -> DtmfDetector {
        let rate = rate.max(8000);
        let quarter = (rate as f32 * WINDOW_MS / 4000.0).round() as usize;
        let bins = ROWS
            .iter()
            .chain(&COLUMNS)
            .map(|&f| Bin::new(f, rate, quarter))
            .collect();
        DtmfDetector {
            quarter,
            bins,
            buf: Vec::with_capacity(8 * quarter),
            base: 0,
            run: None,
            last_end: 0,
            stats: DtmfStats::default(),
        }
    }

    /// Samples pushed so far.
    pub fn position(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Where the tone being heard began, once it is certain (its key is not told).
    pub fn active_since(&self) -> Option<u64> {
        self.run
            .filter(|r| r.hits >= HITS_TO_START)
            .map(|r| r.start)
    }

    pub fn stats(&self) -> DtmfStats {
        self.stats
    }

    /// Analyses `samples` (the next ones of the stream) and appends the tones that ended.
    pub fn push(&mut self, samples: &[i16], out: &mut Vec<Tone>) {
        let window = 4 * self.quarter;
        for chunk in samples.chunks(window) {
            self.buf
                .extend(chunk.iter().map(|&s| f32::from(s) / 32768.0));
            while self.buf.len() >= window {
                let hit = self.analyse();
                self.step(hit, out);
                self.buf.drain(..self.quarter);
                self.base += self.quarter as u64;
            }
        }
    }

    /// Ends the stream (or a discontinuity in it): a tone still sounding ends where its last
    /// hit window did; input not yet analysed is dropped.
    pub fn finish(&mut self, out: &mut Vec<Tone>) {
        self.close(out);
        self.base += self.buf.len() as u64;
        self.buf.clear();
    }

    /// Skips `samples` of the stream unheard (a gap): any tone ends before it.
    pub fn skip(&mut self, samples: u64, out: &mut Vec<Tone>) {
        self.finish(out);
        self.base += samples;
    }

    fn close(&mut self, out: &mut Vec<Tone>) {
        if let Some(run) = self.run.take().filter(|r| r.hits >= HITS_TO_START) {
            self.stats.tones += 1;
            self.last_end = run.end;
            out.push(Tone {
                start: run.start,
                end: run.end,
                key: run.key,
            });
        }
    }

    fn step(&mut self, hit: Option<char>, out: &mut Vec<Tone>) {
        self.stats.windows += 1;
        let (start, end) = (self.base, self.base + 4 * self.quarter as u64);
        let Some(key) = hit else {
            if let Some(run) = self.run.as_mut() {
                run.misses += 1;
                // A run not yet certain ends at its first miss.
                if run.hits < HITS_TO_START || run.misses >= MISSES_TO_END {
                    self.close(out);
                }
            }
            return;
        };
        self.stats.hits += 1;
        match self.run.as_mut() {
            Some(run) if run.key == key => {
                run.hits += 1;
                run.misses = 0;
                run.end = end;
            }
            _ => {
                self.close(out);
                self.run = Some(Run {
                    key,
                    start: start.max(self.last_end),
                    end,
                    hits: 1,
                    misses: 0,
                });
            }
        }
    }

    /// The key the window `buf[..4 quarters]` holds, if it holds one.
    fn analyse(&self) -> Option<char> {
        let q = self.quarter;
        let x = &self.buf[..4 * q];
        let energy: f32 = x.iter().map(|s| s * s).sum();
        // Two tones at the minimum level hold at least this much.
        let min_amp2 = 10f32.powf(MIN_TONE_DBFS / 10.0);
        if energy < min_amp2 * x.len() as f32 / 2.0 {
            return None;
        }
        let mut readings = [Reading::default(); 8];
        for (bin, reading) in self.bins.iter().zip(&mut readings) {
            *reading = read(bin, x, q);
        }
        let (rows, cols) = readings.split_at(4);
        let row = strongest(rows)?;
        let col = strongest(cols)?;
        let half = 2 * q;
        // |H| = A·half/2 for a tone of amplitude A, over each of the two halves.
        let amp2 = |r: &Reading| 2.0 * r.half_power / r.gain / (half * half) as f32;
        let (low, high) = (&rows[row], &cols[col]);
        let (low2, high2) = (amp2(low), amp2(high));
        if low2 < min_amp2 || high2 < min_amp2 {
            return None;
        }
        let twist_db = 10.0 * (high2 / low2).log10();
        if !(-MAX_HIGH_BELOW_LOW_DB..=MAX_HIGH_ABOVE_LOW_DB).contains(&twist_db) {
            return None;
        }
        let peak = 10f32.powf(MIN_PEAK_RATIO_DB / 10.0);
        for (group, chosen) in [(rows, row), (cols, col)] {
            let best = group[chosen].half_power;
            let others = group.iter().enumerate().filter(|&(i, _)| i != chosen);
            if others.map(|(_, r)| r.half_power).any(|p| p * peak > best) {
                return None;
            }
        }
        // Energy of a tone of amplitude A over the window is A²·len/2.
        let tones = (low2 + high2) * x.len() as f32 / 2.0;
        if tones < MIN_ENERGY_FRACTION * energy {
            return None;
        }
        for (reading, bin) in [(low, &self.bins[row]), (high, &self.bins[4 + col])] {
            if reading.deviation.abs() > MAX_DEVIATION * bin.freq {
                return None;
            }
            let mean = reading.quarters.iter().sum::<f32>() / 4.0;
            if reading.quarters.iter().any(|&p| p < mean / 4.0) {
                return None;
            }
        }
        Some(KEYS[row][col])
    }
}

/// The index of the strongest of a group, by half-window power.
fn strongest(group: &[Reading]) -> Option<usize> {
    group
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.half_power.total_cmp(&b.1.half_power))
        .map(|(i, _)| i)
}

/// One frequency over one window of four `q`-sample quarters.
fn read(bin: &Bin, x: &[f32], q: usize) -> Reading {
    let mut z = [(0.0f32, 0.0f32); 4];
    for (i, zi) in z.iter_mut().enumerate() {
        *zi = bin.correlate(&x[i * q..(i + 1) * q]);
    }
    let quarters = z.map(|(re, im)| re * re + im * im);
    // A half window's correlation: its first quarter plus its second, turned back by the
    // nominal phase of one quarter (each quarter's correlation starts at its own sample 0).
    let (c, s) = (bin.turn.cos(), bin.turn.sin());
    let half = |a: (f32, f32), b: (f32, f32)| {
        let (re, im) = (b.0 * c + b.1 * s, b.1 * c - b.0 * s);
        let (re, im) = (a.0 + re, a.1 + im);
        re * re + im * im
    };
    let half_power = half(z[0], z[1]) + half(z[2], z[3]);
    // The phase turned from one quarter to the next, beyond the nominal turn.
    let (mut re, mut im) = (0.0, 0.0);
    for pair in z.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        re += b.0 * a.0 + b.1 * a.1;
        im += b.1 * a.0 - b.0 * a.1;
    }
    let turned = im.atan2(re) - bin.turn;
    let extra = turned - (2.0 * PI) * (turned / (2.0 * PI)).round();
    let deviation = extra * bin.hz_per_radian;
    // A half window (2q samples) sees a tone `deviation` Hz off with the power gain
    // sinc²(deviation·2q/rate), and π·2q/rate is 1/hz_per_radian. The correction stops at
    // 6 dB: farther off, the frequency test refuses the tone anyway.
    let x = deviation / bin.hz_per_radian;
    let gain = if x.abs() < 1e-6 {
        1.0
    } else {
        (x.sin() / x).powi(2)
    };
    Reading {
        half_power,
        gain: gain.max(0.25),
        quarters,
        deviation,
    }
}

/// Synthesised test signals, shared by the unit tests, the recorder's tests and the bench.
#[doc(hidden)]
pub mod signal {
    use super::{COLUMNS, KEYS, ROWS};
    use std::f64::consts::PI;

    /// The row and column frequencies of `key`.
    pub fn frequencies(key: char) -> Option<(f64, f64)> {
        for (r, row) in KEYS.iter().enumerate() {
            if let Some(c) = row.iter().position(|&k| k == key) {
                return Some((f64::from(ROWS[r]), f64::from(COLUMNS[c])));
            }
        }
        None
    }

    /// Adds a dual tone of `low` and `high` Hz, each at `level_dbfs` (of a full-scale sine),
    /// to `out[from..from + len]`, saturating.
    pub fn add_dual(
        out: &mut [i16],
        rate: u32,
        from: usize,
        len: usize,
        freqs: (f64, f64),
        levels: (f64, f64),
    ) {
        let amp = |db: f64| 32767.0 * 10f64.powf(db / 20.0);
        let (a1, a2) = (amp(levels.0), amp(levels.1));
        for (n, s) in out.iter_mut().skip(from).take(len).enumerate() {
            let t = n as f64 / f64::from(rate);
            let v = a1 * (2.0 * PI * freqs.0 * t).sin() + a2 * (2.0 * PI * freqs.1 * t + 1.0).sin();
            *s = (f64::from(*s) + v).round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    /// Speech-like sound: a glottal-pulse-like sum of harmonics of a pitch that glides
    /// (90-260 Hz, changing every syllable), shaped by two moving formants and a syllable
    /// envelope, at about `level_dbfs` RMS. Deterministic for a `seed`.
    pub fn speech(rate: u32, len: usize, level_dbfs: f64, seed: u64) -> Vec<i16> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let fs = f64::from(rate);
        let syllable = (0.18 * fs) as usize;
        let mut out = vec![0f64; len];
        let mut phase = 0.0;
        let mut n = 0;
        while n < len {
            let (p0, p1) = (90.0 + 170.0 * next(), 90.0 + 170.0 * next());
            let (f1, f2) = (300.0 + 600.0 * next(), 900.0 + 1500.0 * next());
            let end = (n + syllable).min(len);
            for (i, s) in out[n..end].iter_mut().enumerate() {
                let k = i as f64 / syllable as f64;
                let pitch = p0 + (p1 - p0) * k + 8.0 * (2.0 * PI * 5.0 * i as f64 / fs).sin();
                phase += 2.0 * PI * pitch / fs;
                let mut v = 0.0;
                let mut h = 1.0;
                while h * pitch < fs / 2.0 - 200.0 && h < 40.0 {
                    let f = h * pitch;
                    let formant = |c: f64, bw: f64| 1.0 / (1.0 + ((f - c) / bw).powi(2));
                    let gain = (formant(f1, 120.0) + 0.6 * formant(f2, 180.0) + 0.05) / h.sqrt();
                    v += gain * (h * phase).sin();
                    h += 1.0;
                }
                *s = v * (PI * k).sin();
            }
            n = end;
        }
        let rms = (out.iter().map(|v| v * v).sum::<f64>() / len.max(1) as f64).sqrt();
        let scale = 32767.0 * 10f64.powf(level_dbfs / 20.0) / rms.max(1e-9);
        out.iter()
            .map(|v| (v * scale).round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::signal::{add_dual, frequencies, speech};
    use super::*;

    fn detect(samples: &[i16], rate: u32) -> Vec<Tone> {
        let mut detector = DtmfDetector::new(rate);
        let mut out = Vec::new();
        // Fed in 20 ms blocks, as the recorder does.
        for block in samples.chunks(rate as usize / 50) {
            detector.push(block, &mut out);
        }
        detector.finish(&mut out);
        out
    }

    fn ms(rate: u32, ms: u32) -> usize {
        (rate * ms / 1000) as usize
    }

    /// `keys` as 80 ms tones with 80 ms gaps, from 100 ms, at -12 dBFS per tone.
    fn keyed(rate: u32, keys: &str, freqs: impl Fn(char) -> (f64, f64)) -> Vec<i16> {
        let mut x = vec![0i16; ms(rate, 200 + 160 * keys.len() as u32)];
        for (i, key) in keys.chars().enumerate() {
            let at = ms(rate, 100 + 160 * i as u32);
            add_dual(&mut x, rate, at, ms(rate, 80), freqs(key), (-12.0, -12.0));
        }
        x
    }

    #[test]
    fn every_key_is_found_at_every_rate_where_it_was() {
        let keys = "123A456B789C*0#D";
        for rate in [8000, 16000, 48000] {
            let x = keyed(rate, keys, |k| frequencies(k).unwrap());
            let found = detect(&x, rate);
            let got: String = found.iter().map(|t| t.key).collect();
            assert_eq!(got, keys, "{rate} Hz");
            for (i, tone) in found.iter().enumerate() {
                let (start, end) = (
                    ms(rate, 100 + 160 * i as u32),
                    ms(rate, 180 + 160 * i as u32),
                );
                // Within one quarter window of the tone's edges, never past them.
                let slack = ms(rate, 7) as u64;
                assert!(
                    tone.start.abs_diff(start as u64) <= slack,
                    "{rate}: {tone:?}"
                );
                assert!(tone.end.abs_diff(end as u64) <= slack, "{rate}: {tone:?}");
            }
        }
    }

    #[test]
    fn deviations_within_one_and_a_half_percent_are_accepted_beyond_three_and_a_half_refused() {
        let rate = 8000;
        for key in "123A456B789C*0#D".chars() {
            let (low, high) = frequencies(key).unwrap();
            for dev in [-0.015, 0.015] {
                for freqs in [(low * (1.0 + dev), high), (low, high * (1.0 + dev))] {
                    let x = keyed(rate, "1", |_| freqs);
                    let got: String = detect(&x, rate).iter().map(|t| t.key).collect();
                    assert_eq!(got, key.to_string(), "{key} at {freqs:?}");
                }
            }
            for dev in [-0.035, 0.035, -0.05, 0.05] {
                for freqs in [(low * (1.0 + dev), high), (low, high * (1.0 + dev))] {
                    let x = keyed(rate, "1", |_| freqs);
                    assert_eq!(detect(&x, rate), vec![], "{key} at {freqs:?}");
                }
            }
        }
    }

    #[test]
    fn twist_within_limits_is_accepted_beyond_refused() {
        let rate = 8000;
        let freqs = frequencies('5').unwrap();
        let run = |levels: (f64, f64)| {
            let mut x = vec![0i16; ms(rate, 300)];
            add_dual(&mut x, rate, ms(rate, 100), ms(rate, 80), freqs, levels);
            detect(&x, rate).len()
        };
        // (low, high) levels: the high tone 3 dB above, 7 dB below: accepted.
        assert_eq!(run((-15.0, -12.0)), 1);
        assert_eq!(run((-8.0, -15.0)), 1);
        // 6 dB above, 11 dB below: refused.
        assert_eq!(run((-18.0, -12.0)), 0);
        assert_eq!(run((-6.0, -17.0)), 0);
        // Too quiet.
        assert_eq!(run((-40.0, -40.0)), 0);
    }

    #[test]
    fn short_tones_are_refused_long_enough_ones_found() {
        let rate = 8000;
        let freqs = frequencies('9').unwrap();
        for (len_ms, found) in [(20, 0), (30, 0), (45, 1), (60, 1), (200, 1)] {
            // Every alignment against the quarter windows.
            for offset in 0..8 {
                let mut x = vec![0i16; ms(rate, 400)];
                add_dual(
                    &mut x,
                    rate,
                    ms(rate, 100) + offset * 7,
                    ms(rate, len_ms),
                    freqs,
                    (-10.0, -10.0),
                );
                assert_eq!(detect(&x, rate).len(), found, "{len_ms} ms at +{offset}");
            }
        }
    }

    #[test]
    fn single_tones_never_trigger() {
        let rate = 8000;
        for f in ROWS
            .iter()
            .chain(&COLUMNS)
            .map(|&f| f64::from(f))
            .chain([440.0, 1000.0, 1400.0])
        {
            let mut x = vec![0i16; ms(rate, 1000)];
            let len = x.len();
            add_dual(&mut x, rate, 0, len, (f, f), (-12.0, -90.0));
            assert_eq!(detect(&x, rate), vec![], "{f} Hz");
        }
    }

    #[test]
    fn speech_never_triggers() {
        // 30 voices of 8 s at 8 kHz and 5 at 16 kHz: 280 s of speech-like sound.
        for (rate, seeds) in [(8000, 1..=30), (16000, 31..=35)] {
            for seed in seeds {
                let x = speech(rate, rate as usize * 8, -16.0, seed);
                let mut detector = DtmfDetector::new(rate);
                let mut out = Vec::new();
                detector.push(&x, &mut out);
                detector.finish(&mut out);
                assert_eq!(out, vec![], "seed {seed} at {rate} Hz");
                assert!(detector.stats().windows > 1000);
            }
        }
    }

    #[test]
    fn keys_under_quieter_speech_are_found() {
        let rate = 8000;
        let mut x = speech(rate, ms(rate, 2000), -26.0, 7);
        for (i, key) in "4111".chars().enumerate() {
            let at = ms(rate, 200 + 400 * i as u32);
            add_dual(
                &mut x,
                rate,
                at,
                ms(rate, 100),
                frequencies(key).unwrap(),
                (-10.0, -10.0),
            );
        }
        let got: String = detect(&x, rate).iter().map(|t| t.key).collect();
        assert_eq!(got, "4111");
    }

    #[test]
    fn a_gap_ends_a_tone_and_positions_carry_on() {
        let rate = 8000;
        let freqs = frequencies('0').unwrap();
        let mut x = vec![0i16; ms(rate, 200)];
        add_dual(
            &mut x,
            rate,
            ms(rate, 50),
            ms(rate, 150),
            freqs,
            (-10.0, -10.0),
        );
        let mut detector = DtmfDetector::new(rate);
        let mut out = Vec::new();
        detector.push(&x, &mut out);
        assert!(detector.active_since().is_some());
        detector.skip(1000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(detector.position(), x.len() as u64 + 1000);
        assert_eq!(detector.active_since(), None);
    }
}
