//! RTP port allocation: each call's streams get consecutive even ports from one configured
//! range, RTP on the even port and RTCP on the odd one after it (RFC 3550 §11), so a session
//! with streams on P, P+2, P+4 … is what a client that sends "to the answer's first port and
//! the ones that follow" (SIPp's pcap play, some SBCs) expects. Pure bookkeeping: binding the
//! sockets, and skipping a block another process holds, is the caller's job.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// The ports a configured range offers, and which blocks of it are taken.
#[derive(Debug)]
pub(crate) struct PortPool {
    /// First even port of the range.
    first: u16,
    /// Pairs (even + odd port) in the range.
    pairs: u32,
    /// First pair of each block in use, with the block's length in pairs.
    used: BTreeSet<(u32, u32)>,
    /// Where the next search starts: ports are handed out round the range so that a port
    /// freed a moment ago is not given straight back (late packets of the old call).
    cursor: u32,
}

/// Consecutive pairs handed to one call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortBlock {
    first_pair: u32,
    /// Streams in the block.
    pub streams: u32,
    /// The block's first (even) port.
    pub base: u16,
}

impl PortBlock {
    /// The RTP port of stream `i` (its RTCP port is one higher).
    pub(crate) fn rtp_port(&self, i: u32) -> u16 {
        debug_assert!(i < self.streams);
        self.base + (2 * i) as u16
    }
}

/// A range that holds no pair of ports.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("RTP port range {0}-{1} holds no even/odd pair of ports")]
pub(crate) struct EmptyRange(pub u16, pub u16);

impl PortPool {
    pub(crate) fn new(range: RangeInclusive<u16>) -> Result<PortPool, EmptyRange> {
        let first = range.start().saturating_add(range.start() % 2);
        let last = *range.end();
        if first >= last || first == 0 {
            return Err(EmptyRange(*range.start(), last));
        }
        let pairs = (u32::from(last) - u32::from(first)).div_ceil(2);
        Ok(PortPool {
            first,
            pairs,
            used: BTreeSet::new(),
            cursor: 0,
        })
    }

    /// Pairs the range holds: at most this many streams at once.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> u32 {
        self.pairs
    }

    /// Pairs in use.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> u32 {
        self.used.iter().map(|&(_, len)| len).sum()
    }

    /// A free block of `streams` consecutive pairs, or `None` when no such block is left.
    pub(crate) fn allocate(&mut self, streams: u32) -> Option<PortBlock> {
        if streams == 0 || streams > self.pairs {
            return None;
        }
        // Two passes: from the cursor to the end, then from the start.
        for start in [self.cursor, 0] {
            if let Some(first_pair) = self.free_from(start, streams) {
                self.used.insert((first_pair, streams));
                self.cursor = (first_pair + streams) % self.pairs;
                return Some(PortBlock {
                    first_pair,
                    streams,
                    base: self.first + (2 * first_pair) as u16,
                });
            }
        }
        None
    }

    /// Returns `block`'s ports to the pool.
    pub(crate) fn release(&mut self, block: PortBlock) {
        self.used.remove(&(block.first_pair, block.streams));
    }

    /// The first pair at or after `start` where `len` free pairs begin.
    fn free_from(&self, start: u32, len: u32) -> Option<u32> {
        let mut candidate = start;
        // Blocks that end after `candidate`, in order: jump past each one in the way.
        let before = self.used.range(..(start, 0)).next_back().copied();
        for (first, n) in before
            .into_iter()
            .chain(self.used.range((start, 0)..).copied())
        {
            if first + n <= candidate {
                continue;
            }
            if first >= candidate + len {
                break;
            }
            candidate = first + n;
        }
        (candidate + len <= self.pairs).then_some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_consecutive_even_pairs() {
        let mut pool = PortPool::new(20000..=20099).unwrap();
        assert_eq!(pool.capacity(), 50);
        let a = pool.allocate(2).unwrap();
        assert_eq!((a.rtp_port(0), a.rtp_port(1)), (20000, 20002));
        let b = pool.allocate(3).unwrap();
        assert_eq!(
            (b.rtp_port(0), b.rtp_port(1), b.rtp_port(2)),
            (20004, 20006, 20008)
        );
        assert_eq!(pool.in_use(), 5);
    }

    #[test]
    fn odd_range_ends_are_trimmed_to_pairs() {
        let mut pool = PortPool::new(20001..=20010).unwrap();
        // 20002..=20009: four pairs; 20010 has no odd partner.
        assert_eq!(pool.capacity(), 4);
        assert_eq!(pool.allocate(4).unwrap().base, 20002);
        assert_eq!(pool.allocate(1), None);
        assert_eq!(
            PortPool::new(20000..=20000).unwrap_err(),
            EmptyRange(20000, 20000)
        );
        assert!(PortPool::new(0..=10).is_err());
    }

    #[test]
    fn freed_ports_come_back_only_after_the_rest_of_the_range() {
        let mut pool = PortPool::new(30000..=30007).unwrap(); // 4 pairs
        let a = pool.allocate(2).unwrap();
        pool.release(a);
        let b = pool.allocate(2).unwrap();
        assert_eq!(b.base, 30004, "the next block, not the one just freed");
        let c = pool.allocate(2).unwrap();
        assert_eq!(c.base, 30000, "wraps round to the freed block");
        assert_eq!(pool.allocate(1), None);
    }

    #[test]
    fn a_block_never_overlaps_one_in_use() {
        let mut pool = PortPool::new(40000..=40019).unwrap(); // 10 pairs
        let a = pool.allocate(3).unwrap(); // pairs 0-2
        let b = pool.allocate(3).unwrap(); // 3-5
        let _c = pool.allocate(3).unwrap(); // 6-8
        pool.release(b);
        // From the cursor (9) only one pair is left; wrapping finds the hole left by b.
        let d = pool.allocate(3).unwrap();
        assert_eq!(d.base, 40006);
        assert_eq!(pool.allocate(2), None, "only pair 9 is free");
        assert_eq!(pool.allocate(1).unwrap().base, 40018);
        pool.release(a);
        assert_eq!(pool.allocate(3).unwrap().base, 40000);
        assert_eq!(pool.allocate(0), None);
        assert_eq!(pool.allocate(11), None);
    }

    #[test]
    fn thousands_of_calls_in_and_out_keep_the_count() {
        let mut pool = PortPool::new(10000..=19999).unwrap();
        let mut held = Vec::new();
        for round in 0..10_000u32 {
            if let Some(block) = pool.allocate(1 + round % 3) {
                held.push(block);
            }
            if round % 2 == 1 {
                pool.release(held.remove((round as usize * 7) % held.len()));
            }
        }
        let expected: u32 = held.iter().map(|b| b.streams).sum();
        assert_eq!(pool.in_use(), expected);
        let mut ports: Vec<u16> = held
            .iter()
            .flat_map(|b| (0..b.streams).map(|i| b.rtp_port(i)))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len() as u32, expected, "no port handed out twice");
    }
}
