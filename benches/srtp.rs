//! Criterion benchmarks for `srtp`: authenticating and decrypting one 20 ms PCMU packet
//! (12-byte header + 160 payload bytes + the suite's tag), as a media shard does for every
//! packet of an SRTP leg. The packets are protected beforehand by the same crate's sending
//! side (outside the timing), in sequence, so the replay window and rollover counter see a
//! real stream; the receiving context lives across the whole run, as it does across a call.
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use callrec::srtp::{Inbound, MasterKey, Suite};
use criterion::{criterion_group, criterion_main, Criterion};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Packets protected ahead of each timed stretch.
const CHUNK: u64 = 4096;

fn packet(seq: u16, ts: u32) -> Vec<u8> {
    let mut b = vec![0x80, 0x00];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    b.extend((0..160u8).map(|i| i.wrapping_mul(37)));
    b
}

fn unprotect(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp/unprotect_pcmu_172B");
    for (suite, profile) in [
        (
            Suite::AesCm128HmacSha1_80,
            ProtectionProfile::Aes128CmHmacSha1_80,
        ),
        (Suite::AeadAes128Gcm, ProtectionProfile::AeadAes128Gcm),
    ] {
        let bytes: Vec<u8> = (0..(suite.key_len() + suite.salt_len()) as u8).collect();
        let (key, salt) = bytes.split_at(suite.key_len());
        let mut sender = Context::new(key, salt, profile, None, None).expect("a sender");
        let mut inbound = Inbound::new(&MasterKey::new(suite, bytes.clone()).expect("sized"));
        let mut seq: u32 = 0;
        group.bench_function(suite.name(), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let protected: Vec<Bytes> = (0..n)
                        .map(|_| {
                            seq += 1;
                            let plain = packet(seq as u16, seq.wrapping_mul(160));
                            sender.encrypt_rtp(&plain).expect("encrypts")
                        })
                        .collect();
                    let start = Instant::now();
                    for datagram in &protected {
                        let plain = inbound.unprotect(black_box(datagram)).expect("decrypts");
                        black_box(plain);
                    }
                    spent += start.elapsed();
                    left -= n;
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, unprotect);
criterion_main!(benches);
