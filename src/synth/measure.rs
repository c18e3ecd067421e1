//! Where a leg's sent audio landed in a recorded channel: sample for sample, second by second.
//! The generator knows what each leg sent ([`super::sent_audio`]) and which frames arrived
//! ([`super::LegTruth::delivered`]); this finds each delivered frame in the channel, so a test
//! can say whether the recording is bit-exact, whether the leg stayed in one place for the
//! whole call, and how far apart the legs are. Pure functions over slices.

/// Frames quieter than this (peak) cannot be located and are not counted.
const AUDIBLE: u16 = 64;

/// Where one leg sits in a channel. Placements are channel sample indices of the leg's first
/// sample (its start): 0 for a leg that starts the file, 2000 for one 250 ms later at 8 kHz.
#[derive(Clone, Debug, PartialEq)]
pub struct LegPlacement {
    /// Per second of the leg, the most common placement of its delivered audible frames found
    /// sample for sample; where none was, the best-correlating placement; `None` for a second
    /// with no delivered audible frame.
    pub per_second: Vec<Option<i64>>,
    /// The most common exact placement over the call (the leg's placement).
    pub placement: Option<i64>,
    /// Delivered audible frames.
    pub frames: usize,
    /// Of those, frames found sample for sample at `placement`.
    pub exact_frames: usize,
    /// Of those, frames found sample for sample anywhere near where the frame before was (a
    /// leg that follows a drifting clock moves, but its audio can stay exact).
    pub exact_anywhere: usize,
    /// Normalised correlation of all delivered audio with the channel at `placement` (1.0:
    /// identical up to level).
    pub correlation: f64,
}

impl LegPlacement {
    /// Every delivered audible frame is in the channel sample for sample, at one placement.
    pub fn bit_exact(&self) -> bool {
        self.frames > 0 && self.exact_frames == self.frames
    }

    /// Every second of the leg sits at the same placement.
    pub fn constant(&self) -> bool {
        let mut seen = self.per_second.iter().flatten();
        let first = seen.next();
        first.is_some() && seen.all(|p| Some(p) == first)
    }

    /// The smallest and largest per-second placement.
    pub fn range(&self) -> Option<(i64, i64)> {
        let min = self.per_second.iter().flatten().min()?;
        let max = self.per_second.iter().flatten().max()?;
        Some((*min, *max))
    }
}

/// Finds the leg whose decoded audio was `sent` (frames of `frame` samples, `delivered[k]`
/// saying whether frame k arrived) in `channel`, both at `rate`. `guess` is where the leg
/// should start in the channel; frames are searched within `search` samples of where the
/// previous frame was found.
pub fn place_leg(
    channel: &[i16],
    sent: &[i16],
    frame: usize,
    delivered: &[Option<bool>],
    rate: u32,
    guess: i64,
    search: i64,
) -> LegPlacement {
    let frame = frame.max(1);
    let per_second_frames = (rate as usize / frame).max(1);
    let seconds = delivered.len().div_ceil(per_second_frames);
    let mut found: Vec<Vec<i64>> = vec![Vec::new(); seconds];
    let mut audible: Vec<usize> = Vec::new();
    let mut last = guess;
    for (k, fate) in delivered.iter().enumerate() {
        let Some(audio) = sent.get(k * frame..(k + 1) * frame) else {
            break;
        };
        if *fate != Some(true) || peak(audio) < AUDIBLE {
            continue;
        }
        audible.push(k);
        let at = (k * frame) as i64;
        let exact = (0..=search)
            .flat_map(|d| [last + d, last - d])
            .find(|&o| slice(channel, o + at, frame) == Some(audio));
        if let Some(o) = exact {
            last = o;
            found[k / per_second_frames].push(o);
        }
    }
    let placement = mode(found.iter().flatten().copied());
    let exact_frames = match placement {
        Some(p) => audible
            .iter()
            .filter(|&&k| {
                let at = p + (k * frame) as i64;
                slice(channel, at, frame) == sent.get(k * frame..(k + 1) * frame)
            })
            .count(),
        None => 0,
    };
    let mut per_second = Vec::with_capacity(seconds);
    let mut previous = placement.unwrap_or(guess);
    for (s, exact) in found.iter().enumerate() {
        let frames: Vec<usize> = audible
            .iter()
            .copied()
            .filter(|&k| k / per_second_frames == s)
            .collect();
        let placed = match mode(exact.iter().copied()) {
            Some(p) => Some(p),
            None if frames.is_empty() => None,
            None => best_lag(channel, sent, frame, &frames, previous, search),
        };
        if let Some(p) = placed {
            previous = p;
        }
        per_second.push(placed);
    }
    let correlation = placement.map_or(0.0, |p| correlate(channel, sent, frame, &audible, p));
    LegPlacement {
        per_second,
        placement,
        frames: audible.len(),
        exact_frames,
        exact_anywhere: found.iter().map(Vec::len).sum(),
        correlation,
    }
}

fn peak(samples: &[i16]) -> u16 {
    samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
}

fn slice(channel: &[i16], at: i64, len: usize) -> Option<&[i16]> {
    let at = usize::try_from(at).ok()?;
    channel.get(at..at + len)
}

fn mode(values: impl Iterator<Item = i64>) -> Option<i64> {
    let mut values: Vec<i64> = values.collect();
    values.sort_unstable();
    let mut best: Option<(usize, i64)> = None;
    for run in values.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(n, _)| run.len() > n) {
            best = Some((run.len(), run[0]));
        }
    }
    best.map(|(_, v)| v)
}

/// Normalised correlation of the delivered `frames` of `sent` with the channel at placement `p`.
fn correlate(channel: &[i16], sent: &[i16], frame: usize, frames: &[usize], p: i64) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for &k in frames {
        let x = &sent[k * frame..(k + 1) * frame];
        for (i, &a) in x.iter().enumerate() {
            let at = p + (k * frame + i) as i64;
            let b = usize::try_from(at)
                .ok()
                .and_then(|at| channel.get(at))
                .copied()
                .unwrap_or(0);
            let (a, b) = (f64::from(a), f64::from(b));
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    }
}

/// The placement within `search` of `around` where up to ten of `frames` correlate best.
fn best_lag(
    channel: &[i16],
    sent: &[i16],
    frame: usize,
    frames: &[usize],
    around: i64,
    search: i64,
) -> Option<i64> {
    let probe: Vec<usize> = frames
        .iter()
        .copied()
        .step_by(frames.len() / 10 + 1)
        .collect();
    (around - search..=around + search)
        .map(|p| (correlate(channel, sent, frame, &probe, p), p))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|&(c, _)| c > 0.2)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<i16> {
        let mut rng = super::super::SplitMix::new(seed);
        (0..n)
            .map(|_| (rng.next_u64() % 16000) as i16 - 8000)
            .collect()
    }

    #[test]
    fn a_copy_is_found_bit_exact_at_its_place() {
        let sent = noise(8000 * 3, 1);
        let mut channel = vec![0i16; 2000];
        channel.extend_from_slice(&sent);
        let delivered = vec![Some(true); 150];
        let p = place_leg(&channel, &sent, 160, &delivered, 8000, 1990, 400);
        assert!(p.bit_exact() && p.constant(), "{p:?}");
        assert_eq!(p.placement, Some(2000));
        assert_eq!(p.per_second, vec![Some(2000); 3]);
        assert!((p.correlation - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_leg_that_moves_is_neither_constant_nor_bit_exact_and_lost_frames_do_not_count() {
        let sent = noise(8000 * 3, 2);
        let mut channel = vec![0i16; 100];
        channel.extend_from_slice(&sent[..8000]);
        channel.extend(std::iter::repeat_n(0, 40)); // the second second lands 5 ms later
        channel.extend_from_slice(&sent[8000..]);
        let mut delivered = vec![Some(true); 150];
        delivered[10] = Some(false);
        channel[100 + 10 * 160] ^= 1; // a lost frame differs: not counted
        let p = place_leg(&channel, &sent, 160, &delivered, 8000, 100, 400);
        assert_eq!(p.per_second, vec![Some(100), Some(140), Some(140)]);
        assert!(!p.constant() && !p.bit_exact());
        assert_eq!((p.frames, p.exact_frames), (149, 100));
        assert_eq!(p.placement, Some(140));
        assert_eq!(p.range(), Some((100, 140)));
    }
}
