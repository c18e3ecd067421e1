//! Repair of interrupted recording files (`encode::repair`) on any bytes: the first byte picks
//! Ogg Opus (even) or WAV (odd), the rest is the file as a crash left it. Never panics; what it
//! keeps is a prefix of the input (patched only in place), and the repaired file is one the
//! repair finds whole: every page valid up to its end and closed with EOS (Ogg), or sizes that
//! match its whole frames (WAV), holding the same audio.
#![no_main]

use callrec::encode::repair::{repair_ogg_opus, repair_wav, Repair};
use callrec::encode::Chunk;
use libfuzzer_sys::fuzz_target;

fn check_prefix(file: &[u8], repair: &Repair, out: &[u8]) {
    assert!(repair.keep <= file.len() as u64);
    assert_eq!(out.len() as u64, repair.keep);
    let mut patched = vec![false; out.len()];
    for patch in &repair.patches {
        let Chunk::Patch { offset, bytes } = patch else {
            panic!("a repair only patches");
        };
        let start = *offset as usize;
        assert!(start + bytes.len() <= out.len(), "patches lie in the kept bytes");
        patched[start..start + bytes.len()].fill(true);
    }
    for (i, byte) in out.iter().enumerate() {
        assert!(patched[i] || *byte == file[i], "unpatched bytes are the input's");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, file)) = data.split_first() else {
        return;
    };
    let ogg = kind % 2 == 0;
    let repair = |bytes: &[u8]| match ogg {
        true => repair_ogg_opus(bytes),
        false => repair_wav(bytes, bytes.len() as u64),
    };
    let Ok(first) = repair(file) else {
        return;
    };
    let mut out = file.to_vec();
    first.apply(&mut out);
    check_prefix(file, &first, &out);
    let again = repair(&out).expect("a repaired file stays repairable");
    assert_eq!(again.keep, out.len() as u64, "a repaired file is whole");
    assert_eq!(again.samples_per_channel, first.samples_per_channel);
    assert_eq!(again.sample_rate, first.sample_rate);
    if ogg {
        assert!(again.patches.is_empty(), "a repaired Ogg file is closed with EOS");
    } else {
        let le = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(le(4), out.len() - 8);
        assert_eq!(le(40), out.len() - 44);
        let frame = usize::from(out[32]);
        assert_eq!((out.len() - 44) % frame, 0, "whole sample frames");
    }
});
