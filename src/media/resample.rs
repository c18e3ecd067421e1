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

    /// Appends `input` upsampled to `out`: `input.len() * factor` samples.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.factor == 1 {
            out.extend_from_slice(input);
            return;
        }
        let f = self.factor as i32;
        out.reserve(input.len() * self.factor);
        for &s in input {
            let (from, to) = (i32::from(self.last), i32::from(s));
            out.extend((1..=f).map(|k| (from + (to - from) * k / f) as i16));
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
    fn extremes_do_not_overflow() {
        let mut up = Upsampler::new(6);
        let mut out = Vec::new();
        up.process(&[i16::MIN, i16::MAX, i16::MIN], &mut out);
        assert_eq!(out.len(), 18);
        assert_eq!(out[5], i16::MIN);
        assert_eq!(out[11], i16::MAX);
    }
}
