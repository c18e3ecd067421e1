//! ITU-T G.722 at 64 kbit/s (mode 1): 16 kHz PCM, one byte per two samples.
//!
//! The classic algorithm of the recommendation: a 24-tap quadrature mirror filter (QMF, §3.1,
//! §4.4) splits the signal into a lower and a higher sub-band at 8 kHz each; the lower band is
//! coded with 6-bit ADPCM (§3.3–3.6), the higher band with 2-bit ADPCM (§3.4, §3.7). Each byte
//! is `ihigh << 6 | ilow`. The adaptive predictor (block 4, §3.6) is shared by both bands.
//! Fixed-point arithmetic follows the recommendation's block descriptions, so any conforming
//! decoder produces the same samples from the same bytes.

/// QMF coefficients h(2i), i = 0..11 (Table 9/§4.4.2 gives all 24; h(2i+1) = h(22 − 2i)).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Lower band quantizer decision levels (Table 14), in units of det / 4096. Entry 0 is unused.
const Q6: [i32; 30] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919,
];

/// Lower band 6-bit inverse quantizer output (Table 15, QQ6), indexed by ilow, in det / 32768.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];

/// Lower band 4-bit inverse quantizer output (QQ4), indexed by ilow >> 2: the embedded 4-bit
/// code drives adaptation so that 56 and 48 kbit/s decoders stay in step with the encoder.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];

/// Lower band log scale factor multipliers (Table 16), indexed by `RL42`.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];

/// Magnitude class of each 4-bit lower band code, for `WL`.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];

/// Higher band inverse quantizer output (Table 18, QQ2), indexed by ihigh, in det / 32768.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];

/// Higher band log scale factor multipliers (Table 19, WH[RH2[ihigh]]), indexed by ihigh.
const WH: [i32; 4] = [798, -214, 798, -214];

/// Higher band decision level (§3.4), in units of det / 4096.
const Q2: i32 = 564;

/// Antilog table of the scale factor (ILB, §3.5 SCALEL): round(2048 · 2^(i/32)).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

/// Largest log scale factor, lower and higher band (LOGSCL / LOGSCH).
const LOW_NB_MAX: i32 = 18432;
const HIGH_NB_MAX: i32 = 22528;

/// Reconstructed sub-band signals are limited to 15 bits (blocks 6L / 6H, LIMIT).
const SUB_BAND_MIN: i32 = -16384;
const SUB_BAND_MAX: i32 = 16383;

fn sat16(value: i32) -> i32 {
    value.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

fn negative(value: i32) -> bool {
    value < 0
}

/// G.722 encoder state.
#[derive(Clone, Debug)]
pub(super) struct Encoder {
    qmf: Qmf,
    low: Band,
    high: Band,
}

impl Encoder {
    pub(super) fn new() -> Encoder {
        Encoder {
            qmf: Qmf::default(),
            low: Band::new(Band::LOW_DET),
            high: Band::new(Band::HIGH_DET),
        }
    }

    /// Encodes pairs of 16 kHz samples, one byte per pair, appended to `out`. A trailing odd
    /// sample is ignored; the caller checks the count.
    pub(super) fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.reserve(pcm.len() / 2);
        for pair in pcm.chunks_exact(2) {
            // Transmit QMF (§3.1): sum and difference of the two polyphase branches.
            let (a, b) = self.qmf.push(i32::from(pair[0]), i32::from(pair[1]));
            let ilow = self.low.quantize_low((a + b) >> 14);
            let ihigh = self.high.quantize_high((a - b) >> 14);
            self.low.adapt_low(ilow);
            self.high.adapt_high(ihigh);
            out.push((ihigh << 6 | ilow) as u8);
        }
    }
}

/// G.722 decoder state (64 kbit/s mode).
#[derive(Clone, Debug)]
pub(super) struct Decoder {
    qmf: Qmf,
    low: Band,
    high: Band,
}

impl Decoder {
    pub(super) fn new() -> Decoder {
        Decoder {
            qmf: Qmf::default(),
            low: Band::new(Band::LOW_DET),
            high: Band::new(Band::HIGH_DET),
        }
    }

    /// Decodes every byte of `payload` into two 16 kHz samples appended to `out`.
    pub(super) fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.reserve(payload.len() * 2);
        for &byte in payload {
            let ilow = usize::from(byte & 0x3F);
            let ihigh = usize::from(byte >> 6);
            // Blocks 5L/6L: the output uses the full 6-bit code.
            let rlow =
                (self.low.s + ((self.low.det * QM6[ilow]) >> 15)).clamp(SUB_BAND_MIN, SUB_BAND_MAX);
            // Blocks 2H/5H/6H.
            let rhigh = (self.high.s + ((self.high.det * QM2[ihigh]) >> 15))
                .clamp(SUB_BAND_MIN, SUB_BAND_MAX);
            self.low.adapt_low(ilow);
            self.high.adapt_high(ihigh);
            // Receive QMF (§4.4): the two polyphase branches give two output samples.
            let (first, second) = self.qmf.push(rlow + rhigh, rlow - rhigh);
            out.push(sat16(first >> 11) as i16);
            out.push(sat16(second >> 11) as i16);
        }
    }
}

/// The QMF delay line, shared in form by the transmit and the receive filter.
#[derive(Clone, Debug, Default)]
struct Qmf {
    /// The last 24 inputs, oldest first.
    x: [i32; 24],
}

impl Qmf {
    /// Shifts in two values and returns the two polyphase sums: Σ h(2i)·x(j−2i) over the
    /// newer value of each pair and Σ h(2i+1)·x(j−2i−1) over the older one.
    fn push(&mut self, older: i32, newer: i32) -> (i32, i32) {
        self.x.copy_within(2.., 0);
        self.x[22] = older;
        self.x[23] = newer;
        let mut newer_sum = 0;
        let mut older_sum = 0;
        for (i, pair) in self.x.chunks_exact(2).enumerate() {
            older_sum += pair[0] * QMF[i];
            newer_sum += pair[1] * QMF[11 - i];
        }
        (newer_sum, older_sum)
    }
}

/// One sub-band's ADPCM state: scale factor adaptation and the adaptive predictor.
#[derive(Clone, Debug)]
struct Band {
    /// Signal estimate s for the next sample (PREDIC).
    s: i32,
    /// Zero-section part of the estimate, sz (FILTEZ).
    sz: i32,
    /// Pole predictor coefficients a1, a2.
    a: [i32; 2],
    /// Zero predictor coefficients b1..b6.
    b: [i32; 6],
    /// Quantized differences d(n−1)..d(n−6).
    d: [i32; 6],
    /// Partially reconstructed signals p(n−1), p(n−2).
    p: [i32; 2],
    /// Reconstructed signal r(n−1).
    r: i32,
    /// Log scale factor (nabla).
    nb: i32,
    /// Quantizer scale factor (delta).
    det: i32,
}

impl Band {
    /// Initial scale factors (reset state): 32 for the lower band, 8 for the higher.
    const LOW_DET: i32 = 32;
    const HIGH_DET: i32 = 8;

    fn new(det: i32) -> Band {
        Band {
            s: 0,
            sz: 0,
            a: [0; 2],
            b: [0; 6],
            d: [0; 6],
            p: [0; 2],
            r: 0,
            nb: 0,
            det,
        }
    }

    /// Blocks 1L SUBTRA + QUANTL: the 6-bit code of the lower band difference signal.
    fn quantize_low(&self, xlow: i32) -> usize {
        let el = sat16(xlow - self.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let interval = (1..Q6.len())
            .find(|&i| magnitude < (Q6[i] * self.det) >> 12)
            .unwrap_or(Q6.len());
        // Table 14 codes: positive intervals 1..30 are 61 down to 32; negative ones are 63,
        // 62, then 31 down to 4.
        match (el < 0, interval) {
            (false, i) => 62 - i,
            (true, i) if i <= 2 => 64 - i,
            (true, i) => 34 - i,
        }
    }

    /// Blocks 1H SUBTRA + QUANTH: the 2-bit code of the higher band difference signal.
    fn quantize_high(&self, xhigh: i32) -> usize {
        let eh = sat16(xhigh - self.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let outer = magnitude >= (Q2 * self.det) >> 12;
        match (eh < 0, outer) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        }
    }

    /// Blocks 2L–4L: inverse-quantize the embedded 4-bit code, adapt, predict.
    fn adapt_low(&mut self, ilow: usize) {
        let ril = ilow >> 2;
        let d = (self.det * QM4[ril]) >> 15;
        self.det = scale(&mut self.nb, WL[RL42[ril]], LOW_NB_MAX, 8);
        self.predict(d);
    }

    /// Blocks 2H–4H.
    fn adapt_high(&mut self, ihigh: usize) {
        let d = (self.det * QM2[ihigh]) >> 15;
        self.det = scale(&mut self.nb, WH[ihigh], HIGH_NB_MAX, 10);
        self.predict(d);
    }

    /// Block 4 (§3.6): update the pole and zero predictors with the quantized difference `d`
    /// and compute the estimate for the next sample.
    fn predict(&mut self, d: i32) {
        let r = sat16(self.s + d); // RECONS
        let p = sat16(self.sz + d); // PARREC
        let same_as_p1 = negative(p) == negative(self.p[0]);
        let same_as_p2 = negative(p) == negative(self.p[1]);

        // UPPOL2
        let wd1 = sat16(self.a[0] * 4);
        let wd2 = if same_as_p1 { -wd1 } else { wd1 }.min(i32::from(i16::MAX));
        let a2 = (if same_as_p2 { 128 } else { -128 } + (wd2 >> 7) + ((self.a[1] * 32512) >> 15))
            .clamp(-12288, 12288);

        // UPPOL1
        let a1 = sat16(if same_as_p1 { 192 } else { -192 } + ((self.a[0] * 32640) >> 15));
        let a1_limit = sat16(15360 - a2);
        let a1 = a1.clamp(-a1_limit, a1_limit);

        // UPZERO
        let step = if d == 0 { 0 } else { 128 };
        for (b, &past) in self.b.iter_mut().zip(&self.d) {
            let sign_step = if negative(past) == negative(d) {
                step
            } else {
                -step
            };
            *b = sat16(sign_step + ((*b * 32640) >> 15));
        }

        // DELAYA
        self.d.copy_within(..5, 1);
        self.d[0] = d;
        self.p = [p, self.p[0]];
        self.a = [a1, a2];

        // FILTEP
        let sp = sat16(((a1 * sat16(r + r)) >> 15) + ((a2 * sat16(self.r + self.r)) >> 15));
        self.r = r;

        // FILTEZ
        let sz: i32 = self
            .b
            .iter()
            .zip(&self.d)
            .map(|(&b, &d)| (b * sat16(d + d)) >> 15)
            .sum();
        self.sz = sat16(sz);

        // PREDIC
        self.s = sat16(sp + self.sz);
    }
}

/// Blocks 3L/3H LOGSCL + SCALEL: leak the log scale factor `nb`, add the code's multiplier,
/// limit it, and return the linear scale factor det.
fn scale(nb: &mut i32, multiplier: i32, nb_max: i32, exponent_base: i32) -> i32 {
    *nb = (((*nb * 127) >> 7) + multiplier).clamp(0, nb_max);
    let mantissa = ILB[(*nb >> 6) as usize & 31];
    let shift = exponent_base - (*nb >> 11);
    let det = if shift < 0 {
        mantissa << -shift
    } else {
        mantissa >> shift
    };
    det << 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antilog_table_is_2048_times_two_to_the_i_over_32() {
        for (i, &value) in ILB.iter().enumerate() {
            assert_eq!(
                value,
                (2048.0 * 2f64.powf(i as f64 / 32.0)).round() as i32,
                "ILB[{i}]"
            );
        }
    }

    /// The recommendation's tables are redundant; cross-checking them catches a mistyped entry.
    #[test]
    fn quantizer_tables_agree_with_each_other() {
        // 4-bit levels are every fourth 6-bit decision level.
        for (k, &level) in [1200, 2584, 4240, 6288, 8968, 12896, 20456]
            .iter()
            .enumerate()
        {
            assert_eq!(Q6[4 * (k + 1)] * 8, level);
        }
        // Each 6-bit output level lies inside its decision interval, for both signs.
        for interval in 1..=Q6.len() {
            let low = Q6[interval - 1] * 8;
            let high = Q6.get(interval).map_or(i32::MAX, |q| q * 8);
            let positive = QM6[62 - interval];
            let negative = QM6[if interval <= 2 {
                64 - interval
            } else {
                34 - interval
            }];
            assert!(
                low <= positive && positive < high,
                "interval {interval}: {positive}"
            );
            assert_eq!(negative, -positive, "interval {interval}");
        }
    }

    #[test]
    fn silence_encodes_to_a_steady_code_and_decodes_to_near_silence() {
        let mut encoder = Encoder::new();
        let mut bytes = Vec::new();
        encoder.encode(&[0; 320], &mut bytes);
        assert_eq!(bytes.len(), 160);
        let mut decoder = Decoder::new();
        let mut pcm = Vec::new();
        decoder.decode(&bytes, &mut pcm);
        assert_eq!(pcm.len(), 320);
        assert!(pcm.iter().all(|&s| s.abs() <= 8), "{pcm:?}");
    }

    /// The transmit and receive QMFs together delay the signal by 22 samples.
    const QMF_DELAY: usize = 22;

    fn round_trip(pcm: &[i16]) -> Vec<i16> {
        let mut bytes = Vec::new();
        Encoder::new().encode(pcm, &mut bytes);
        assert_eq!(bytes.len(), pcm.len() / 2);
        let mut decoded = Vec::new();
        Decoder::new().decode(&bytes, &mut decoded);
        assert_eq!(decoded.len(), pcm.len());
        decoded
    }

    #[test]
    fn round_trip_delay_is_22_samples() {
        let mut state = 1u32;
        let noise: Vec<i16> = (0..16000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 16) as i16 / 4
            })
            .collect();
        let decoded = round_trip(&noise);
        let correlation = |lag: usize| -> i64 {
            noise
                .iter()
                .zip(&decoded[lag..])
                .map(|(&a, &b)| i64::from(a) * i64::from(b))
                .sum()
        };
        let peak = (0..64)
            .max_by_key(|&lag| correlation(lag))
            .expect("non-empty range");
        assert_eq!(peak, QMF_DELAY);
    }

    #[test]
    fn tone_round_trip_snr_above_20_db() {
        let pcm: Vec<i16> = (0..16000)
            .map(|n| {
                (10000.0 * (2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 16000.0).sin()) as i16
            })
            .collect();
        let decoded = round_trip(&pcm);
        let settled = 1600; // skip the first 100 ms while the predictors adapt
        let (mut signal, mut noise) = (0.0, 0.0);
        for (&x, &y) in pcm[settled..].iter().zip(&decoded[settled + QMF_DELAY..]) {
            signal += f64::from(x).powi(2);
            noise += (f64::from(x) - f64::from(y)).powi(2);
        }
        let snr = 10.0 * (signal / noise).log10();
        assert!(snr > 20.0, "SNR {snr:.1} dB");
    }

    #[test]
    fn hostile_bytes_decode_without_overflow() {
        // Every code, repeated, drives the scale factors and predictors to their limits.
        let mut decoder = Decoder::new();
        let mut pcm = Vec::new();
        for code in 0..=255u8 {
            decoder.decode(&[code; 200], &mut pcm);
        }
        let bytes: Vec<u8> = (0..100_000u32)
            .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        decoder.decode(&bytes, &mut pcm);
        assert_eq!(pcm.len(), 2 * (256 * 200 + 100_000));
    }
}
