//! `srtp::Inbound::unprotect` on arbitrary datagrams, one receiving context per input (the
//! first byte picks the suite and the key): never panics; a datagram that authenticates keeps
//! its header (the first 8 bytes for RTCP, the 12-byte fixed header for RTP) and loses
//! exactly its tag (and SRTCP's index); the stats count every datagram once.
#![no_main]

use callrec::rtp::looks_like_rtcp;
use callrec::srtp::{Inbound, MasterKey, Suite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let suite = Suite::ALL[usize::from(first) % Suite::ALL.len()];
    let key: Vec<u8> = (0..suite.key_len() + suite.salt_len())
        .map(|i| (i as u8) ^ first)
        .collect();
    let mut inbound = Inbound::new(&MasterKey::new(suite, key).expect("sized for its suite"));
    // Datagrams of the input, each led by a length byte.
    let mut datagrams = Vec::new();
    let mut at = 0;
    while at < rest.len() {
        let len = usize::from(rest[at]).min(rest.len() - at - 1);
        datagrams.push(&rest[at + 1..at + 1 + len]);
        at += 1 + len;
    }
    for datagram in &datagrams {
        let Ok(plain) = inbound.unprotect(datagram) else {
            continue;
        };
        let (header, removed) = match looks_like_rtcp(datagram) {
            true => (8, suite.rtcp_tag_len() + 4),
            false => (12, suite.rtp_tag_len()),
        };
        assert_eq!(plain.len() + removed, datagram.len());
        assert_eq!(plain[..header], datagram[..header]);
    }
    let s = &inbound.stats;
    assert_eq!(
        s.rtp + s.rtcp + s.malformed + s.authentication + s.replayed,
        datagrams.len() as u64
    );
});
