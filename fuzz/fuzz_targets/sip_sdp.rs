//! SDP offers from the recording client, on any input: reading never panics, and an offer that
//! reads can be answered (every plain-RTP audio stream accepted with all its payload types,
//! the rest refused) into SDP that reads back with the same media sections in the same order.
#![no_main]

use callrec::sip::sdp::{Answer, Direction, Limits, LocalOrigin, SessionDescription, StreamAnswer};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(offer) = SessionDescription::parse(text, &Limits::default()) else {
        return;
    };
    let streams: Vec<StreamAnswer> = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if m.is_audio() && m.is_rtp() && !m.is_secure() && m.port != 0 {
                StreamAnswer::Accept {
                    port: 20000 + 2 * i as u16,
                    rtcp_mux: m.rtcp_mux,
                    payload_types: m.rtp_formats.iter().map(|f| f.payload_type).collect(),
                    crypto: None,
                }
            } else {
                StreamAnswer::Reject
            }
        })
        .collect();
    let origin = LocalOrigin {
        username: "callrec".into(),
        session_id: 1,
        version: 1,
    };
    let address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let answer = Answer::new(&offer, origin, address, &streams)
        .unwrap_or_else(|e| panic!("plain RTP audio is accepted: {e}"));
    let encoded = answer.encode();
    // The answer lists an rtpmap per accepted type even where the offer had none.
    let unbounded = Limits {
        max_bytes: usize::MAX,
        max_media: usize::MAX,
        max_formats: usize::MAX,
        max_attributes: usize::MAX,
    };
    let reparsed = SessionDescription::parse(&encoded, &unbounded)
        .unwrap_or_else(|e| panic!("our answer reads back: {e}\n{encoded}"));
    assert_eq!(reparsed.media.len(), offer.media.len(), "{encoded}");
    for ((ours, theirs), decision) in reparsed.media.iter().zip(&offer.media).zip(&streams) {
        assert_eq!(ours.media, theirs.media);
        assert_eq!(ours.protocol, theirs.protocol);
        match decision {
            StreamAnswer::Accept { port, .. } => {
                assert_eq!(ours.port, *port);
                let types = |m: &callrec::sip::sdp::MediaDescription| {
                    m.rtp_formats
                        .iter()
                        .map(|f| f.payload_type)
                        .collect::<Vec<_>>()
                };
                assert_eq!(types(ours), types(theirs));
                assert_eq!(ours.label, theirs.label);
                assert_eq!(ours.rtcp_mux, theirs.rtcp_mux);
                assert!(matches!(
                    ours.direction,
                    Direction::RecvOnly | Direction::Inactive
                ));
            }
            StreamAnswer::Reject => assert_eq!(ours.port, 0),
        }
    }
});
