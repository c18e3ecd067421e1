//! Sequence numbers and RTP timestamps as 64-bit values, at first touch.
//!
//! Owns the unwrapping of the 16-bit sequence number and the 32-bit timestamp (RFC 3550 §5.1)
//! into [`ExtSeq`] and [`ExtTimestamp`]. Must never look at anything but the raw values: what a
//! jump *means* (loss, restart, new source) is the jitter buffer's business.
//!
//! Each raw value becomes the extended value closest to the highest one seen so far, that is
//! within half the range of it. Extended values never go backwards because the reference is the
//! maximum: a reordered or duplicated old packet extends to a value below the reference without
//! moving it. The first value is placed one whole range above its raw value, so a packet that
//! was sent slightly before the first one received still has a non-negative extended value.

/// A sequence number extended past its 16-bit wrap (RFC 3550 §5.1, `cycles` + `seq`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtSeq(pub u64);

/// An RTP timestamp extended past its 32-bit wrap, in the stream's clock-rate ticks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtTimestamp(pub u64);

/// Extends 16-bit sequence numbers against the highest one seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct SeqUnwrapper {
    highest: Option<u64>,
}

impl SeqUnwrapper {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Extends `seq` and raises the reference if it is the new highest.
    pub(crate) fn unwrap(&mut self, seq: u16) -> ExtSeq {
        let ext = self.peek(seq);
        self.highest = Some(self.highest.map_or(ext.0, |h| h.max(ext.0)));
        ext
    }

    /// What [`unwrap`](Self::unwrap) would return, without moving the reference (for packets
    /// that may yet be rejected).
    pub(crate) fn peek(&self, seq: u16) -> ExtSeq {
        ExtSeq(extend(self.highest, u64::from(seq), 16))
    }

    /// The highest extended value so far, `None` before the first.
    pub(crate) fn highest(&self) -> Option<ExtSeq> {
        self.highest.map(ExtSeq)
    }
}

/// Extends 32-bit RTP timestamps against the highest one seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimestampUnwrapper {
    highest: Option<u64>,
}

impl TimestampUnwrapper {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Extends `timestamp` and raises the reference if it is the new highest.
    pub(crate) fn unwrap(&mut self, timestamp: u32) -> ExtTimestamp {
        let ext = extend(self.highest, u64::from(timestamp), 32);
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        ExtTimestamp(ext)
    }
}

/// The value congruent to `raw` modulo `2^bits` closest to `reference`; exactly half the range
/// away counts as behind. The first value (no reference) is placed one range above `raw`.
fn extend(reference: Option<u64>, raw: u64, bits: u32) -> u64 {
    let range = 1u64 << bits;
    let Some(reference) = reference else {
        return range + raw;
    };
    let ahead = raw.wrapping_sub(reference) & (range - 1);
    if ahead < range / 2 {
        reference.saturating_add(ahead)
    } else {
        // The reference is at least `range` (it starts there and only rises) and
        // `range - ahead <= range / 2`, so this cannot underflow.
        reference - (range - ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1 << 16;
    const T: u64 = 1 << 32;

    #[test]
    fn sequence_numbers_unwrap_to_the_value_nearest_the_highest() {
        #[rustfmt::skip]
        let cases: &[(&str, &[u16], &[u64])] = &[
            ("in order",                 &[10, 11, 12],         &[S + 10, S + 11, S + 12]),
            ("wrap forward 65535 -> 0",  &[65534, 65535, 0, 1], &[S + 65534, S + 65535, 2 * S, 2 * S + 1]),
            ("reordered across the wrap",&[65535, 1, 0, 2],     &[S + 65535, 2 * S + 1, 2 * S, 2 * S + 2]),
            ("0 then 65535 reordered",   &[0, 65535, 1],        &[S, S - 1, S + 1]),
            ("before the first packet",  &[5, 0, 6],            &[S + 5, S, S + 6]),
            ("duplicate",                &[7, 7],               &[S + 7, S + 7]),
            ("half range minus one ahead", &[100, 100 + 32767], &[S + 100, S + 100 + 32767]),
            ("exactly half range is behind", &[100, 100 + 32768], &[S + 100, S + 100 - 32768]),
            ("far jumps accumulate",     &[0, 30000, 60000, 25000, 55000],
                                         &[S, S + 30000, S + 60000, 2 * S + 25000, 2 * S + 55000]),
            ("old packet does not lower the reference", &[1000, 900, 33700],
                                         &[S + 1000, S + 900, S + 33700]),
            ("far behind wraps back",    &[40000, 10000],       &[S + 40000, S + 10000]),
        ];
        for (name, input, expected) in cases {
            let mut u = SeqUnwrapper::new();
            let got: Vec<u64> = input.iter().map(|&s| u.unwrap(s).0).collect();
            assert_eq!(&got, expected, "{name}");
        }
    }

    #[test]
    fn timestamps_unwrap_across_the_u32_wrap_both_ways() {
        const M: u32 = u32::MAX;
        #[rustfmt::skip]
        let cases: &[(&str, &[u32], &[u64])] = &[
            ("wrap forward",            &[M - 159, 1, 161],     &[T + u64::from(M) - 159, 2 * T + 1, 2 * T + 161]),
            ("0 then u32::MAX",         &[0, M, 160],           &[T, T - 1, T + 160]),
            ("reordered across wrap",   &[M - 100, 60, M - 20], &[T + u64::from(M) - 100, 2 * T + 60, 2 * T - 21]),
            ("just under half ahead",   &[0, (1 << 31) - 1],    &[T, T + (1 << 31) - 1]),
            ("exactly half is behind",  &[0, 1 << 31],          &[T, T - (1 << 31)]),
            ("far jumps accumulate",    &[0, 1 << 30, 2 << 30, 3 << 30, 0],
                                        &[T, T + (1 << 30), T + (2 << 30), T + (3 << 30), 2 * T]),
        ];
        for (name, input, expected) in cases {
            let mut u = TimestampUnwrapper::new();
            let got: Vec<u64> = input.iter().map(|&t| u.unwrap(t).0).collect();
            assert_eq!(&got, expected, "{name}");
        }
    }

    #[test]
    fn peek_does_not_move_the_reference() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.peek(3), ExtSeq(S + 3));
        assert_eq!(u.highest(), None);
        u.unwrap(3);
        assert_eq!(u.peek(40000), ExtSeq(S + 40000 - 65536));
        assert_eq!(u.peek(2000), ExtSeq(S + 2000));
        assert_eq!(u.highest(), Some(ExtSeq(S + 3)));
    }

    #[test]
    fn many_wraps_stay_monotone() {
        let mut u = SeqUnwrapper::new();
        let mut raw: u16 = 65000;
        let mut last = u.unwrap(raw).0;
        for _ in 0..100 {
            raw = raw.wrapping_add(20000);
            let ext = u.unwrap(raw).0;
            assert_eq!(ext, last + 20000);
            last = ext;
        }
        let mut t = TimestampUnwrapper::new();
        let mut raw: u32 = u32::MAX - 5;
        let mut last = t.unwrap(raw).0;
        for _ in 0..100 {
            raw = raw.wrapping_add(1 << 30);
            let ext = t.unwrap(raw).0;
            assert_eq!(ext, last + (1 << 30));
            last = ext;
        }
    }
}
