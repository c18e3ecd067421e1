//! How the two legs share the file: side by side (stereo), summed (mono), or one file each.
//! Owns only the arithmetic of combining two aligned blocks of samples.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Leg A left, leg B right: each voice in its own channel.
    #[default]
    Stereo,
    /// Both legs summed into one channel, saturating instead of wrapping.
    Mono,
    /// One mono file per leg.
    Separate,
}

impl Layout {
    /// Channels in each file.
    pub fn channels(self) -> usize {
        match self {
            Layout::Stereo => 2,
            Layout::Mono | Layout::Separate => 1,
        }
    }

    /// How many files a recording has.
    pub fn files(self) -> usize {
        match self {
            Layout::Separate => 2,
            Layout::Stereo | Layout::Mono => 1,
        }
    }
}

impl FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stereo" => Ok(Layout::Stereo),
            "mono" => Ok(Layout::Mono),
            "separate" => Ok(Layout::Separate),
            other => Err(format!(
                "unknown layout '{other}' (expected stereo, mono or separate)"
            )),
        }
    }
}

/// Appends `a` and `b` interleaved as left/right frames. Both blocks have the same length.
pub fn interleave(a: &[i16], b: &[i16], out: &mut Vec<i16>) {
    debug_assert_eq!(a.len(), b.len(), "legs are cut into equal blocks");
    out.reserve(a.len() * 2);
    out.extend(a.iter().zip(b).flat_map(|(&l, &r)| [l, r]));
}

/// Appends the saturating sum of `a` and `b`.
pub fn sum(a: &[i16], b: &[i16], out: &mut Vec<i16>) {
    debug_assert_eq!(a.len(), b.len(), "legs are cut into equal blocks");
    out.extend(a.iter().zip(b).map(|(&x, &y)| x.saturating_add(y)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_puts_leg_a_left_and_leg_b_right() {
        let mut out = Vec::new();
        interleave(&[1, 2, 3], &[-1, -2, -3], &mut out);
        assert_eq!(out, vec![1, -1, 2, -2, 3, -3]);
    }

    #[test]
    fn mono_sum_clips_instead_of_wrapping() {
        let mut out = Vec::new();
        sum(&[30000, -30000, 5], &[30000, -30000, -7], &mut out);
        assert_eq!(out, vec![i16::MAX, i16::MIN, -2]);
    }

    #[test]
    fn layout_names_parse_and_reject_unknown() {
        assert_eq!("separate".parse::<Layout>(), Ok(Layout::Separate));
        assert!("quad"
            .parse::<Layout>()
            .unwrap_err()
            .contains("stereo, mono or separate"));
        assert_eq!(Layout::Stereo.channels(), 2);
        assert_eq!(Layout::Separate.files(), 2);
    }
}
