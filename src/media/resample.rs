//! Integer-ratio upsampling, for a leg whose codec runs slower than the recording (a G.711 leg
//! in a call whose other leg is G.722). Linear interpolation: cheap, and a narrowband voice has
//! nothing above 4 kHz for a better filter to keep.

/// Upsamples by a whole factor, carrying the last sample across frames so frame edges join.
#[derive(Clone, Debug)]
pub struct Upsampler {
    factor: usize,
    last: i16,
}

impl Upsampler {
    /// `factor` 1 passes samples through unchanged.
    pub fn new(factor: usize) -> Self {
        Upsampler {
            factor: factor.max(1),
            last: 0,
        }
    }

    /// How many output samples each input sample becomes (1: passed through).
    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Appends `input` upsampled to `out`: `input.len() * factor` samples.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        match self.factor {
            1 => out.extend_from_slice(input),
            // The factors calls have (8 kHz to 16, 24 or 48 kHz) as constants: the compiler then
            // divides by a multiply and a shift instead of a division per output sample.
            2 => self.interpolate(2, input, out),
            3 => self.interpolate(3, input, out),
            6 => self.interpolate(6, input, out),
            factor => self.interpolate(factor, input, out),
        }
    }

    /// Linear interpolation from the previous sample to each input sample, in `factor` steps.
    #[inline(always)]
    fn interpolate(&mut self, factor: usize, input: &[i16], out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + input.len() * factor, 0);
        let f = factor as i32;
        for (steps, &s) in out[start..].chunks_exact_mut(factor).zip(input) {
            let (from, to) = (i32::from(self.last), i32::from(s));
            for (k, step) in (1..=f).zip(steps) {
                *step = (from + (to - from) * k / f) as i16;
            }
            self.last = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_one_is_identity() {
        let mut out = Vec::new();
        Upsampler::new(1).process(&[1, -2, 3], &mut out);
        assert_eq!(out, vec![1, -2, 3]);
    }

    #[test]
    fn doubling_interpolates_across_frame_edges() {
        let mut up = Upsampler::new(2);
        let mut out = Vec::new();
        up.process(&[100, 200], &mut out);
        up.process(&[0], &mut out);
        assert_eq!(out, vec![50, 100, 150, 200, 100, 0]);
    }

    #[test]
    fn every_factor_matches_the_interpolation_formula() {
        let input = [0, i16::MAX, i16::MIN, -1, 1, 12345, -23456, 7, 7, i16::MIN];
        for factor in 2..=7 {
            let mut up = Upsampler::new(factor);
            let mut out = vec![42]; // appends after what is there
            up.process(&input[..4], &mut out);
            up.process(&input[4..], &mut out);
            let mut expected = vec![42];
            let mut last = 0i32;
            for &s in &input {
                let f = factor as i32;
                let to = i32::from(s);
                expected.extend((1..=f).map(|k| (last + (to - last) * k / f) as i16));
                last = to;
            }
            assert_eq!(out, expected, "factor {factor}");
        }
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut up = Upsampler::new(6);
        let mut out = Vec::new();
        up.process(&[i16::MIN, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out.len(), 18);
        assert_eq!(out[5], i16::MIN);
        assert_eq!(out[11], i16::MAX);
    }
}
