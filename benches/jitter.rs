//! Criterion benchmarks for the jitter buffer: one push and the polls that follow it, per
//! packet, as the recorder drives a leg (20 ms packets, default configuration).
use std::hint::black_box;
use std::time::Duration;

use callrec::media::jitter::{JitterBuffer, JitterConfig, PacketMeta, Poll};
use callrec::time::Time;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PACKETS: u16 = 1000;

/// 20 ms apart, starting near the sequence wrap; with `reorder`, one packet in 20 (5%) arrives
/// before its predecessor.
fn arrivals(reorder: bool) -> Vec<(Time, PacketMeta)> {
    let mut order: Vec<u16> = (0..PACKETS).collect();
    if reorder {
        for i in (10..PACKETS - 1).step_by(20) {
            order.swap(usize::from(i), usize::from(i + 1));
        }
    }
    order
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let meta = PacketMeta {
                ssrc: 0x1234_5678,
                sequence: 65_000u16.wrapping_add(i),
                timestamp: 160 * u32::from(i),
            };
            (Time::ZERO + Duration::from_millis(20 * n as u64), meta)
        })
        .collect()
}

fn run(arrivals: &[(Time, PacketMeta)]) -> usize {
    let mut buf = JitterBuffer::new(JitterConfig::default());
    let mut released = 0;
    for (n, &(at, meta)) in arrivals.iter().enumerate() {
        buf.push(at, meta, n);
        while let Poll::Packet(p) = buf.poll(at) {
            released += black_box(p).item & 1;
        }
    }
    while let Poll::Packet(p) = buf.drain() {
        released += black_box(p).item & 1;
    }
    released
}

fn jitter(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(u64::from(PACKETS)));
    for (name, reorder) in [("in_order_1000", false), ("reorder_5pct_1000", true)] {
        let input = arrivals(reorder);
        assert_eq!(
            run(&input),
            usize::from(PACKETS) / 2,
            "every packet released"
        );
        group.bench_function(name, |b| b.iter(|| run(black_box(&input))));
    }
    group.finish();
}

criterion_group!(benches, jitter);
criterion_main!(benches);
