//! `JitterBuffer<u32>` driven by any sequence of pushes, polls and drains, with a small
//! `max_packets`. Each pushed item is a unique id, so every release can be checked against
//! the packet that was pushed. After every operation:
//! - `held <= max_packets` (the bound holds whoever drives the buffer);
//! - `received == released + duplicate + late + out_of_range + evicted + held` (every packet
//!   accounted for exactly once, as the module documents);
//! - a released packet is one that was pushed and not released before, with its own SSRC,
//!   sequence number (low 16 bits of the unwrapped one), timestamp and arrival time;
//! - between discontinuities, releases come from one SSRC with strictly rising sequence
//!   numbers; the losses they report never exceed `lost`;
//! - `Wait(t)` is in the future, `Empty` leaves at most the probation packet held, and a
//!   drain run to `Empty` leaves nothing held.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use callrec::media::jitter::{JitterBuffer, JitterConfig, PacketMeta, Poll, Released};
use callrec::time::Time;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 1..=16 packets.
    max_packets: u8,
    /// Milliseconds, 0..=1023.
    latency_ms: u16,
    max_dropout: u16,
    max_misorder: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A packet `delta_ms` after the previous operation. `source` picks one of four SSRCs, so
    /// that changes and returns of a source are common.
    Push {
        delta_ms: u8,
        source: u8,
        sequence: u16,
        timestamp: u32,
    },
    /// Time goes back: the buffer must treat it as no progress.
    PushBackwards {
        back_ms: u16,
        sequence: u16,
    },
    Poll {
        delta_ms: u16,
    },
    Drain,
}

const SSRCS: [u32; 4] = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0xffff_ffff];

struct Check {
    max_packets: usize,
    /// The buffer's clock: the latest time it was given.
    clock: Time,
    pushed: HashMap<u32, (PacketMeta, Time)>,
    /// SSRC and sequence number of the last release, `None` before the first.
    last: Option<(u32, u64)>,
    reported_lost: u64,
}

impl Check {
    fn released(&mut self, r: &Released<u32>) {
        let (meta, arrival) = self
            .pushed
            .remove(&r.item)
            .expect("released once, and pushed");
        assert_eq!(r.ssrc, meta.ssrc);
        assert_eq!(r.seq.0 as u16, meta.sequence);
        assert_eq!(r.timestamp.0 as u32, meta.timestamp);
        assert_eq!(r.arrival, arrival);
        if let (Some((ssrc, seq)), false) = (self.last, r.discontinuity) {
            assert_eq!(r.ssrc, ssrc, "a new source starts with a discontinuity");
            assert!(r.seq.0 > seq, "sequence numbers rise within a stream");
        }
        self.last = Some((r.ssrc, r.seq.0));
        self.reported_lost += r.lost_before;
    }

    fn invariants(&self, buffer: &JitterBuffer<u32>) {
        let s = buffer.stats();
        assert!(
            s.held <= self.max_packets,
            "held {} > {}",
            s.held,
            self.max_packets
        );
        assert_eq!(
            s.received,
            s.released + s.duplicate + s.late + s.out_of_range + s.evicted + s.held as u64,
            "{s:?}"
        );
        assert!(
            self.reported_lost <= s.lost,
            "{} > {s:?}",
            self.reported_lost
        );
    }
}

fuzz_target!(|input: Input| {
    let max_packets = usize::from(input.max_packets % 16) + 1;
    let config = JitterConfig {
        latency: Duration::from_millis(u64::from(input.latency_ms % 1024)),
        max_packets,
        max_dropout: input.max_dropout,
        max_misorder: input.max_misorder,
    };
    let mut buffer = JitterBuffer::new(config);
    let mut check = Check {
        max_packets,
        clock: Time::ZERO,
        pushed: HashMap::new(),
        last: None,
        reported_lost: 0,
    };
    let mut now = Time::from_nanos(1_700_000_000_000_000_000);
    let mut id = 0u32;
    let mut last_meta = PacketMeta {
        ssrc: SSRCS[0],
        sequence: 0,
        timestamp: 0,
    };
    for op in input.ops {
        match op {
            Op::Push {
                delta_ms,
                source,
                sequence,
                timestamp,
            } => {
                now = now + Duration::from_millis(u64::from(delta_ms));
                let meta = PacketMeta {
                    ssrc: SSRCS[usize::from(source % 4)],
                    sequence,
                    timestamp,
                };
                check.clock = check.clock.max(now);
                check.pushed.insert(id, (meta, check.clock));
                let _ = buffer.push(now, meta, id);
                id += 1;
                last_meta = meta;
            }
            Op::PushBackwards { back_ms, sequence } => {
                let meta = PacketMeta {
                    sequence,
                    ..last_meta
                };
                let at = now - Duration::from_millis(u64::from(back_ms));
                check.clock = check.clock.max(at);
                check.pushed.insert(id, (meta, check.clock));
                let _ = buffer.push(at, meta, id);
                id += 1;
            }
            Op::Poll { delta_ms } => {
                now = now + Duration::from_millis(u64::from(delta_ms));
                check.clock = check.clock.max(now);
                match buffer.poll(now) {
                    Poll::Packet(r) => check.released(&r),
                    Poll::Wait(t) => assert!(t > check.clock, "Wait is in the future"),
                    Poll::Empty => assert!(buffer.stats().held <= 1, "only probation is left"),
                }
            }
            Op::Drain => {
                for _ in 0..=max_packets {
                    match buffer.drain() {
                        Poll::Packet(r) => check.released(&r),
                        Poll::Wait(_) => panic!("drain never waits"),
                        Poll::Empty => break,
                    }
                }
                assert_eq!(buffer.stats().held, 0, "a drain empties the buffer");
            }
        }
        check.invariants(&buffer);
    }
});
