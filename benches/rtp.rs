//! Criterion benchmarks for `rtp`: parsing the packets a recorder sees most.
use std::hint::black_box;

use bytes::Bytes;
use callrec::rtp::{RtcpCompound, RtpPacket};
use criterion::{criterion_group, criterion_main, Criterion};

/// A 20 ms G.711 (PCMU) packet: 12-byte header + 160 payload bytes.
fn g711_packet() -> Bytes {
    let mut b = vec![
        0x80, 0x00, 0x12, 0x34, 0x00, 0x01, 0xe2, 0x40, 0xde, 0xad, 0xbe, 0xef,
    ];
    b.extend((0..160u8).map(|i| i.wrapping_mul(37)));
    Bytes::from(b)
}

/// SR without report blocks + SDES CNAME, as sent by ffmpeg 5.1.
const SR_SDES: [u8; 52] = [
    0x80, 0xc8, 0x00, 0x06, 0xeb, 0x6d, 0xc2, 0x42, 0xee, 0xb1, 0x84, 0x8f, 0xe4, 0x9b, 0xa5, 0xe3,
    0xc3, 0x0c, 0xab, 0x55, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0xa0, 0x00, 0x81, 0xca, 0x00, 0x05,
    0xeb, 0x6d, 0xc2, 0x42, 0x01, 0x0b, 0x66, 0x66, 0x6d, 0x70, 0x65, 0x67, 0x40, 0x68, 0x6f, 0x73,
    0x74, 0x00, 0x00, 0x00,
];

fn parse_rtp(c: &mut Criterion) {
    let buf = g711_packet();
    assert_eq!(buf.len(), 172);
    // Each iteration clones the `Bytes` (a reference-count increment), as a receive loop would.
    c.bench_function("rtp_parse_g711_172B", |b| {
        b.iter(|| RtpPacket::parse(black_box(buf.clone())).map(|p| p.payload().len()))
    });
}

fn parse_rtcp(c: &mut Criterion) {
    let buf = Bytes::copy_from_slice(&SR_SDES);
    c.bench_function("rtcp_parse_sr_sdes", |b| {
        b.iter(|| RtcpCompound::parse(black_box(buf.clone())))
    });
    c.bench_function("rtcp_parse_and_iterate_sr_sdes", |b| {
        b.iter(|| {
            let compound = RtcpCompound::parse(black_box(buf.clone())).expect("valid compound");
            compound.packets().count()
        })
    });
}

criterion_group!(benches, parse_rtp, parse_rtcp);
criterion_main!(benches);
