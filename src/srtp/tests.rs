//! The receiving context against the same library's sending side (the interoperability with
//! libsrtp is `tests/srtp_libsrtp.rs`).
use super::*;

fn key(suite: Suite, seed: u8) -> MasterKey {
    let len = suite.key_len() + suite.salt_len();
    MasterKey::new(suite, (0..len as u8).map(|b| b ^ seed).collect()).expect("length fits")
}

fn sender(key: &MasterKey) -> Context {
    let (master, salt) = key.bytes().split_at(key.suite().key_len());
    Context::new(master, salt, key.suite().profile(), None, None).expect("a sender")
}

fn rtp(seq: u16, ts: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&ts.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend((0..160u32).map(|i| (i as u8).wrapping_mul(seq as u8 | 1)));
    packet
}

/// A receiver report with no blocks, then an SDES CNAME.
fn rtcp() -> Vec<u8> {
    let mut packet = vec![0x80, 201, 0, 1];
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend_from_slice(&[
        0x81, 202, 0, 3, 0x12, 0x34, 0x56, 0x78, 1, 3, b'a', b'b', b'c', 0, 0, 0,
    ]);
    packet
}

#[test]
fn every_suite_decrypts_rtp_and_rtcp_and_counts_them() {
    for suite in Suite::ALL {
        let key = key(suite, 0x5a);
        let mut out = sender(&key);
        let mut inbound = Inbound::new(&key);
        for seq in 0..20u16 {
            let plain = rtp(seq, u32::from(seq) * 160);
            let protected = out.encrypt_rtp(&plain).expect("encrypts");
            assert_eq!(
                protected.len(),
                plain.len() + suite.rtp_tag_len(),
                "{suite}"
            );
            assert_ne!(
                &protected[12..plain.len()],
                &plain[12..],
                "{suite}: encrypted"
            );
            assert_eq!(
                inbound.unprotect(&protected).as_deref(),
                Ok(&plain[..]),
                "{suite}"
            );
        }
        let protected = out.encrypt_rtcp(&rtcp()).expect("encrypts");
        assert_eq!(
            inbound.unprotect(&protected).as_deref(),
            Ok(&rtcp()[..]),
            "{suite}"
        );
        assert_eq!(
            inbound.stats,
            SrtpStats {
                rtp: 20,
                rtcp: 1,
                ..SrtpStats::default()
            }
        );
    }
}

#[test]
fn a_tampered_or_foreign_packet_fails_authentication_and_the_stream_goes_on() {
    for suite in Suite::ALL {
        let key = key(suite, 1);
        let mut out = sender(&key);
        let mut inbound = Inbound::new(&key);
        let mut other = sender(&self::key(suite, 2));
        let first = out.encrypt_rtp(&rtp(1, 160)).unwrap();
        assert!(inbound.unprotect(&first).is_ok());
        for flip in [2usize, 12, 100, 171] {
            let mut tampered = out.encrypt_rtp(&rtp(2, 320)).unwrap().to_vec();
            let at = flip.min(tampered.len() - 1);
            tampered[at] ^= 0x01;
            assert_eq!(
                inbound.unprotect(&tampered),
                Err(SrtpError::Authentication),
                "{suite} byte {flip}"
            );
        }
        let foreign = other.encrypt_rtp(&rtp(3, 480)).unwrap();
        assert_eq!(inbound.unprotect(&foreign), Err(SrtpError::Authentication));
        // The failures moved no state: the next genuine packets decrypt.
        for seq in 3..6 {
            let genuine = out.encrypt_rtp(&rtp(seq, 160 * u32::from(seq))).unwrap();
            assert!(inbound.unprotect(&genuine).is_ok(), "{suite} seq {seq}");
        }
        assert_eq!((inbound.stats.rtp, inbound.stats.authentication), (4, 5));
    }
}

#[test]
fn the_rollover_counter_follows_sequence_wraps_and_reordering_across_them() {
    for suite in Suite::ALL {
        let key = key(suite, 3);
        let mut out = sender(&key);
        let mut inbound = Inbound::new(&key);
        // Sent in order across two wraps (ROC 0 → 2), received with a swap at each wrap.
        let seqs: Vec<u16> = (0..140_000u32).map(|i| (65_500 + i) as u16).collect();
        let mut packets: Vec<(u16, Bytes)> = seqs
            .iter()
            .enumerate()
            .map(|(i, &seq)| (seq, out.encrypt_rtp(&rtp(seq, i as u32 * 160)).unwrap()))
            .collect();
        for wrap in packets
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == 0)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
        {
            packets.swap(wrap - 1, wrap);
        }
        for (seq, packet) in &packets {
            let plain = inbound
                .unprotect(packet)
                .unwrap_or_else(|e| panic!("{suite} {seq}: {e}"));
            assert_eq!(&plain[2..4], &seq.to_be_bytes());
        }
        assert_eq!(inbound.stats.rtp, 140_000);
    }
}

#[test]
fn a_replayed_packet_is_dropped() {
    let key = key(Suite::AesCm128HmacSha1_80, 4);
    let mut out = sender(&key);
    let mut inbound = Inbound::new(&key);
    let packet = out.encrypt_rtp(&rtp(10, 0)).unwrap();
    assert!(inbound.unprotect(&packet).is_ok());
    assert_eq!(inbound.unprotect(&packet), Err(SrtpError::Replayed));
    let rtcp = out.encrypt_rtcp(&rtcp()).unwrap();
    assert!(inbound.unprotect(&rtcp).is_ok());
    assert_eq!(inbound.unprotect(&rtcp), Err(SrtpError::Replayed));
    assert_eq!(inbound.stats.replayed, 2);
}

#[test]
fn srtcp_claiming_to_be_unencrypted_is_a_forgery() {
    for suite in Suite::ALL {
        let key = key(suite, 5);
        let mut out = sender(&key);
        let mut inbound = Inbound::new(&key);
        let mut forged = out.encrypt_rtcp(&rtcp()).unwrap().to_vec();
        let trailer = match suite.is_aead() {
            true => forged.len() - SRTCP_INDEX_LEN,
            false => forged.len() - suite.rtcp_tag_len() - SRTCP_INDEX_LEN,
        };
        forged[trailer] &= 0x7f;
        assert_eq!(
            inbound.unprotect(&forged),
            Err(SrtpError::Authentication),
            "{suite}"
        );
    }
}

#[test]
fn short_and_garbage_datagrams_are_malformed_never_a_panic() {
    for suite in Suite::ALL {
        let mut inbound = Inbound::new(&key(suite, 6));
        for len in 0..64usize {
            for fill in [0x00u8, 0x80, 0xff] {
                for second in [0u8, 200, 201, 223] {
                    let mut datagram = vec![fill; len];
                    if len > 1 {
                        datagram[0] = 0x80 | (fill & 0x3f);
                        datagram[1] = second;
                    }
                    assert!(
                        inbound.unprotect(&datagram).is_err(),
                        "{suite} {len} {fill}"
                    );
                }
            }
        }
        assert_eq!(inbound.stats.rtp + inbound.stats.rtcp, 0);
    }
}

#[test]
fn forged_ssrcs_leave_no_state_in_the_streams_context_and_a_new_genuine_one_joins() {
    let key = key(Suite::AesCm128HmacSha1_80, 7);
    let mut out = sender(&key);
    let mut inbound = Inbound::new(&key);
    for seq in 0..1000u16 {
        let mut forged = rtp(seq, 0);
        forged[8..12].copy_from_slice(&(0x1000_0000 + u32::from(seq)).to_be_bytes());
        forged.extend_from_slice(&[0; 10]);
        assert_eq!(inbound.unprotect(&forged), Err(SrtpError::Authentication));
        let genuine = out.encrypt_rtp(&rtp(seq, u32::from(seq) * 160)).unwrap();
        assert!(inbound.unprotect(&genuine).is_ok(), "seq {seq}");
    }
    // A new SSRC from the key's holder (a sender that restarted its stream) joins.
    let mut restarted = rtp(5, 0);
    restarted[8..12].copy_from_slice(&0x7777_7777u32.to_be_bytes());
    let restarted = out.encrypt_rtp(&restarted).unwrap();
    assert!(inbound.unprotect(&restarted).is_ok());
    assert_eq!(inbound.known[0].len(), 2, "only SSRCs that authenticated");
    assert!(inbound.probed <= MAX_PROBED);
    assert_eq!(
        (inbound.stats.rtp, inbound.stats.authentication),
        (1001, 1000)
    );
}

/// Found by the `srtp_unprotect` fuzz target: an RFC 8285 element longer than what is left of
/// the datagram made the crate's header reader panic. Such headers are malformed; well-formed
/// extensions still decrypt.
#[test]
fn header_extension_elements_past_their_block_are_malformed_and_good_ones_decrypt() {
    let key = key(Suite::AesCm128HmacSha1_80, 8);
    let mut inbound = Inbound::new(&key);
    let with_extension = |profile: u16, words: u16, block: &[u8]| {
        let mut p = vec![0x90, 0, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        p.extend_from_slice(&profile.to_be_bytes());
        p.extend_from_slice(&words.to_be_bytes());
        p.extend_from_slice(block);
        p
    };
    let overruns = [
        // One-byte element of 16 bytes in a one-word block at the datagram's end.
        with_extension(0xBEDE, 1, &[0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        // Two-byte element claiming 200 bytes.
        with_extension(0x1000, 1, &[0x01, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        // Two-byte element whose length byte lies past the block.
        with_extension(0x1000, 1, &[0, 0, 0, 0x01, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        // A block longer than the datagram.
        with_extension(0xBEDE, 9, &[0; 14]),
    ];
    for datagram in overruns {
        assert_eq!(
            inbound.unprotect(&datagram),
            Err(SrtpError::Malformed),
            "{datagram:?}"
        );
    }
    let mut out = sender(&key);
    for (seq, block) in [
        (1u16, &[0x10u8, 0xaa, 0, 0][..]),
        (2, &[0x01, 0x02, 0xaa, 0xbb][..]),
    ] {
        let profile = if seq == 1 { 0xBEDE } else { 0x1000 };
        let mut plain = with_extension(profile, 1, block);
        plain[2..4].copy_from_slice(&seq.to_be_bytes());
        plain.extend_from_slice(&[0x55; 160]);
        let protected = out.encrypt_rtp(&plain).unwrap();
        assert_eq!(inbound.unprotect(&protected).as_deref(), Ok(&plain[..]));
    }
}
