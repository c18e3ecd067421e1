//! `RtcpCompound::parse` on any datagram: never panics, and a compound it accepts can be
//! walked to the end: every packet, report block, SDES chunk and item, BYE source.
//!
//! On `Ok`: every slice handed out lies inside the input, and the length fields, walked
//! independently here, tile the datagram exactly with as many packets as `packets()` yields.
#![no_main]

use bytes::Bytes;
use callrec::rtp::{RtcpCompound, RtcpPacket};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    let input = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let inside = |b: &Bytes| {
        b.is_empty()
            || (input.start <= b.as_ptr() as usize && b.as_ptr() as usize + b.len() <= input.end)
    };
    let Ok(compound) = RtcpCompound::parse(buf.clone()) else {
        return;
    };
    assert_eq!(compound.as_bytes(), &buf);
    let mut packets = 0;
    for packet in compound.packets() {
        packets += 1;
        match packet {
            RtcpPacket::SenderReport(sr) => {
                let _ = (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp);
                for block in sr.report_blocks() {
                    assert!((-(1 << 23)..(1 << 23)).contains(&block.cumulative_lost));
                }
            }
            RtcpPacket::ReceiverReport(rr) => {
                for block in rr.report_blocks() {
                    assert!((-(1 << 23)..(1 << 23)).contains(&block.cumulative_lost));
                }
            }
            RtcpPacket::SourceDescription(sdes) => {
                assert!(sdes.chunks().count() <= 31, "the SC field is 5 bits");
                for chunk in sdes.chunks() {
                    for (item_type, value) in chunk.items() {
                        assert_ne!(item_type, 0, "a null octet ends the item list");
                        assert!(value.len() <= 255);
                        assert!(inside(&value));
                    }
                }
            }
            RtcpPacket::Goodbye(bye) => {
                assert!(bye.ssrcs().count() <= 31, "the SC field is 5 bits");
                if let Some(reason) = &bye.reason {
                    assert!(inside(reason));
                }
            }
            RtcpPacket::App(app) => {
                assert!(app.subtype < 32);
                assert!(inside(&app.data));
            }
            RtcpPacket::Other { count, body, .. } => {
                assert!(count < 32);
                assert!(inside(&body));
            }
        }
    }
    // RFC 3550 §6.4.1: length is in 32-bit words minus one; the packets tile the datagram.
    let (mut offset, mut framed) = (0, 0);
    while offset < data.len() {
        offset += 4 * (usize::from(u16::from_be_bytes([data[offset + 2], data[offset + 3]])) + 1);
        framed += 1;
    }
    assert_eq!(offset, data.len());
    assert!(packets >= 1, "a valid compound holds at least one packet");
    assert_eq!(packets, framed);
});
