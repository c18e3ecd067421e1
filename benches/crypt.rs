//! Criterion benchmarks for encryption at rest (`store::envelope`): a one-minute recording of
//! 32 kbit/s Ogg Opus (4,000 bytes a call-second, 240,000 in all; callrec's default is 24
//! kbit/s, so this is the larger case) sealed and opened whole in 64 KiB chunks, as the spool
//! commit and a full playback do; one 64 KiB-chunk range read, as a player's seek does; and
//! the data key unwrapped, as every audio request does. Divide the one-minute medians by 60
//! for the cost per second of call, next to the encoder's (benches/encode.rs). And an audio
//! request's organisation keys: read from the key file and parsed (as every request did), or
//! kept by `config::KeyFiles` (a `stat` of the file).

use std::hint::black_box;

use callrec::config::{Config, EncryptionConfig, KeyFiles, OrgConfig};
use callrec::store::envelope::{self, DataKey, OrgKeys, DEFAULT_CHUNK};
use callrec::store::sealed::SecretsKey;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Bytes a call-second of 32 kbit/s Opus takes.
const PER_SECOND: usize = 32_000 / 8;
const SECONDS: usize = 60;

fn recording() -> Vec<u8> {
    let mut x = 0x2545_f491u32;
    (0..PER_SECOND * SECONDS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn crypt(c: &mut Criterion) {
    let plain = recording();
    let key = DataKey::generate().expect("randomness");
    let sealed =
        envelope::seal_all(&key, DEFAULT_CHUNK, "rec-1", "rec-1.opus", &plain).expect("seal");
    let len = plain.len() as u64;
    let mut group = c.benchmark_group("crypt/one_minute_32kbps");
    group.throughput(Throughput::Bytes(len));
    group.bench_function("encrypt", |b| {
        b.iter(|| {
            envelope::seal_all(
                &key,
                DEFAULT_CHUNK,
                "rec-1",
                "rec-1.opus",
                black_box(&plain),
            )
        })
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| envelope::open_all(&key, black_box(&sealed), len, 0..0, "rec-1", "rec-1.opus"))
    });
    group.finish();

    let mut group = c.benchmark_group("crypt/range");
    let chunk = u64::from(DEFAULT_CHUNK);
    group.throughput(Throughput::Bytes(chunk));
    group.bench_function("decrypt_one_chunk_range", |b| {
        b.iter(|| {
            envelope::open_all(
                &key,
                black_box(&sealed),
                len,
                chunk..2 * chunk,
                "rec-1",
                "rec-1.opus",
            )
        })
    });
    group.finish();

    let hex: String = std::iter::repeat_n("ab", 32).collect();
    let keys = OrgKeys {
        current: "k1".into(),
        keys: [("k1".to_string(), SecretsKey::parse(&hex).expect("key"))].into(),
        chunk_size: DEFAULT_CHUNK,
    };
    let (id, wrapped) = keys.wrap("acme", "rec-1", &key).expect("wrap");
    c.bench_function("crypt/unwrap_data_key", |b| {
        b.iter(|| keys.unwrap("acme", "rec-1", &id, black_box(&wrapped)))
    });

    let dir = std::env::temp_dir().join(format!("callrec-bench-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("acme-k1.key");
    std::fs::write(&file, format!("{hex}\n")).expect("a key file");
    let settings = EncryptionConfig {
        current: "k1".into(),
        key_files: [("k1".to_string(), file)].into(),
        chunk_size: DEFAULT_CHUNK,
    };
    let mut config = Config::default();
    let org = OrgConfig {
        encryption: Some(settings.clone()),
        ..OrgConfig::default()
    };
    config.orgs.insert("acme".into(), org);
    c.bench_function("crypt/org_keys_read", |b| b.iter(|| config.keyring()));
    let cache = KeyFiles::default();
    c.bench_function("crypt/org_keys_kept", |b| {
        b.iter(|| cache.keys(black_box("acme"), &settings))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, crypt);
criterion_main!(benches);
