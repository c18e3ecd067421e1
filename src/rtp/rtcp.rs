//! Compound RTCP (RFC 3550 §6): validated once by `RtcpCompound::parse`, then iterated as views.
//!
//! Every view slices the original `Bytes`. Validation is complete, so `packets()` cannot fail;
//! packet types we do not interpret (RTPFB, PSFB, XR...) pass through as `RtcpPacket::Other`.
//! This module never acts on reports (no RTT or loss computation): it only reads them.

use std::iter;
use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;

use super::packet::{be16, be32};

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;
const APP: u8 = 204;
/// Size of one reception report block (§6.4.1).
const REPORT_BLOCK: usize = 24;
/// SSRC plus sender info of an SR (§6.4.1).
const SR_HEAD: usize = 24;

/// Why a datagram is not a valid compound RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer than 4 bytes left where a packet header must start (an empty datagram included).
    #[error("RTCP packet at offset {offset} needs a 4-byte header, {remaining} bytes left")]
    TruncatedHeader { offset: usize, remaining: usize },
    /// A packet's version field is not 2.
    #[error("RTCP packet at offset {offset} has version {version}, expected 2")]
    BadVersion { offset: usize, version: u8 },
    /// A packet's length field reaches past the end of the datagram.
    #[error("RTCP packet at offset {offset} declares {declared} bytes, {remaining} left")]
    LengthOverrun {
        offset: usize,
        declared: usize,
        remaining: usize,
    },
    /// The P bit is set on a packet that is not the last one (§6.4.1, Appendix A.2).
    #[error("RTCP packet at offset {offset} is padded but not last in the compound")]
    PaddingNotLast { offset: usize },
    /// The padding count is 0 or larger than the packet body.
    #[error("RTCP packet at offset {offset}: padding count {count} not in 1..={available}")]
    BadPadding {
        offset: usize,
        count: u8,
        available: usize,
    },
    /// A compound of several packets starts with neither SR nor RR (§6.1).
    #[error("compound RTCP starts with packet type {packet_type}, not SR (200) or RR (201)")]
    FirstNotReport { packet_type: u8 },
    /// An SR or RR body is too short for its sender info and report blocks.
    #[error(
        "RTCP type {packet_type} with {count} report blocks needs {needed} body bytes, has {len}"
    )]
    ReportTruncated {
        packet_type: u8,
        count: u8,
        needed: usize,
        len: usize,
    },
    /// An SDES chunk or item runs past the end of the packet body.
    #[error("SDES chunk {chunk} runs past the {len}-byte body")]
    SdesTruncated { chunk: usize, len: usize },
    /// An SDES item list is not ended by null octets up to the next 32-bit boundary (§6.5).
    #[error("SDES chunk {chunk} is not null-terminated and padded to 32 bits")]
    SdesBadTerminator { chunk: usize },
    /// Bytes are left over after the chunks announced by the source count.
    #[error("SDES with {count} chunks has {extra} bytes left over")]
    SdesTrailing { count: u8, extra: usize },
    /// A BYE's SSRC list or reason does not fit its body (§6.6).
    #[error("BYE with {count} sources needs {needed} body bytes, has {len}")]
    ByeTruncated {
        count: u8,
        needed: usize,
        len: usize,
    },
    /// An APP body is shorter than its SSRC and name (§6.7).
    #[error("APP body of {len} bytes is shorter than SSRC and name (8)")]
    AppTruncated { len: usize },
}

/// A validated compound RTCP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpCompound {
    buf: Bytes,
}

impl RtcpCompound {
    /// Validates a whole compound (§6.4, Appendix A.2): version 2 everywhere, lengths adding up
    /// exactly, padding only in the last packet, every packet we interpret well-formed.
    ///
    /// A compound of several packets must start with SR or RR. A single packet of any type is
    /// also accepted, because reduced-size RTCP (RFC 5506) sends e.g. a lone PSFB or RTPFB.
    pub fn parse(buf: Bytes) -> Result<Self, RtcpError> {
        let mut offset = 0;
        loop {
            let frame = frame(&buf, offset)?;
            let single = offset == 0 && frame.end == buf.len();
            if offset == 0 && !single && !matches!(frame.packet_type, SR | RR) {
                let packet_type = frame.packet_type;
                return Err(RtcpError::FirstNotReport { packet_type });
            }
            offset = frame.end;
            RtcpPacket::from_frame(frame)?;
            if offset == buf.len() {
                return Ok(Self { buf });
            }
        }
    }

    /// The packets in order; `parse` has validated every one of them.
    pub fn packets(&self) -> impl Iterator<Item = RtcpPacket> + '_ {
        let mut offset = 0;
        iter::from_fn(move || {
            let frame = frame(&self.buf, offset).ok()?;
            offset = frame.end;
            RtcpPacket::from_frame(frame).ok()
        })
    }

    /// The whole datagram as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }
}

/// One RTCP packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    SourceDescription(SourceDescription),
    Goodbye(Goodbye),
    App(App),
    /// A type we do not interpret, passed through; `body` follows the 4-byte header, unpadded.
    Other {
        packet_type: u8,
        count: u8,
        body: Bytes,
    },
}

/// SR (§6.4.1). Profile-specific extensions after the report blocks are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// 32.32 fixed-point seconds since 1900 (NTP format).
    pub ntp_timestamp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    blocks: Bytes,
}

/// RR (§6.4.2). Profile-specific extensions after the report blocks are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    pub ssrc: u32,
    blocks: Bytes,
}

/// One reception report block (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost: 24-bit signed on the wire (duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp.
    pub lsr: u32,
    /// Delay since the last SR, in 1/65536 seconds.
    pub dlsr: u32,
}

/// SDES (§6.5): chunks of (SSRC, items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDescription {
    body: Bytes,
}

/// One SDES chunk: a source and its items (without the terminating null octets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    pub ssrc: u32,
    items: Bytes,
}

/// BYE (§6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    ssrcs: Bytes,
    /// Reason for leaving (UTF-8 text per RFC, not checked), if present.
    pub reason: Option<Bytes>,
}

/// APP (§6.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub subtype: u8,
    pub ssrc: u32,
    pub name: [u8; 4],
    pub data: Bytes,
}

impl SenderReport {
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock> + '_ {
        report_blocks(&self.blocks)
    }
}

impl ReceiverReport {
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock> + '_ {
        report_blocks(&self.blocks)
    }
}

impl SourceDescription {
    /// SDES item type of the canonical name (§6.5.1).
    pub const CNAME: u8 = 1;

    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk> + '_ {
        let mut at = 0;
        iter::from_fn(move || {
            let (chunk, next) = sdes_chunk(&self.body, at, 0).ok()?;
            at = next;
            Some(chunk)
        })
    }
}

impl SdesChunk {
    /// `(item_type, value)` pairs in order; values are slices of the datagram.
    pub fn items(&self) -> impl Iterator<Item = (u8, Bytes)> + '_ {
        let mut at = 0;
        iter::from_fn(move || {
            let (item_type, value) = sdes_item(&self.items, at)?;
            at = value.end;
            Some((item_type, self.items.slice(value)))
        })
    }
}

impl Goodbye {
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.ssrcs.chunks_exact(4).map(|c| be32(c, 0))
    }
}

/// A packet's place in the compound (§6.4.1 common header): its body without padding.
struct Frame {
    packet_type: u8,
    count: u8,
    body: Bytes,
    end: usize,
}

/// Reads the common header of the packet at `offset` and checks its framing.
fn frame(buf: &Bytes, offset: usize) -> Result<Frame, RtcpError> {
    let remaining = buf.len().saturating_sub(offset);
    if remaining < 4 {
        return Err(RtcpError::TruncatedHeader { offset, remaining });
    }
    let version = buf[offset] >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion { offset, version });
    }
    let declared = 4 * (usize::from(be16(buf, offset + 2)) + 1);
    if declared > remaining {
        return Err(RtcpError::LengthOverrun {
            offset,
            declared,
            remaining,
        });
    }
    let end = offset + declared;
    let mut body_end = end;
    if buf[offset] & 0x20 != 0 {
        if end != buf.len() {
            return Err(RtcpError::PaddingNotLast { offset });
        }
        let count = buf[end - 1];
        let available = declared - 4;
        if count == 0 || usize::from(count) > available {
            return Err(RtcpError::BadPadding {
                offset,
                count,
                available,
            });
        }
        body_end -= usize::from(count);
    }
    Ok(Frame {
        packet_type: buf[offset + 1],
        count: buf[offset] & 0x1f,
        body: buf.slice(offset + 4..body_end),
        end,
    })
}

impl RtcpPacket {
    /// Checks and interprets one packet body.
    fn from_frame(frame: Frame) -> Result<Self, RtcpError> {
        let Frame {
            packet_type,
            count,
            body,
            ..
        } = frame;
        let len = body.len();
        let blocks = |head: usize| {
            let needed = head + REPORT_BLOCK * usize::from(count);
            if len < needed {
                return Err(RtcpError::ReportTruncated {
                    packet_type,
                    count,
                    needed,
                    len,
                });
            }
            Ok(body.slice(head..needed))
        };
        Ok(match packet_type {
            SR => RtcpPacket::SenderReport(SenderReport {
                blocks: blocks(SR_HEAD)?,
                ssrc: be32(&body, 0),
                ntp_timestamp: (u64::from(be32(&body, 4)) << 32) | u64::from(be32(&body, 8)),
                rtp_timestamp: be32(&body, 12),
                packet_count: be32(&body, 16),
                octet_count: be32(&body, 20),
            }),
            RR => RtcpPacket::ReceiverReport(ReceiverReport {
                blocks: blocks(4)?,
                ssrc: be32(&body, 0),
            }),
            SDES => {
                let mut at = 0;
                for chunk in 0..usize::from(count) {
                    at = sdes_chunk(&body, at, chunk)?.1;
                }
                if at != len {
                    return Err(RtcpError::SdesTrailing {
                        count,
                        extra: len - at,
                    });
                }
                RtcpPacket::SourceDescription(SourceDescription { body })
            }
            BYE => {
                let list = 4 * usize::from(count);
                let truncated = |needed| RtcpError::ByeTruncated { count, needed, len };
                let reason = match body.get(list) {
                    None if len < list => return Err(truncated(list)),
                    None => None,
                    Some(&reason_len) => {
                        let end = list + 1 + usize::from(reason_len);
                        if len < end {
                            return Err(truncated(end));
                        }
                        Some(body.slice(list + 1..end))
                    }
                };
                RtcpPacket::Goodbye(Goodbye {
                    ssrcs: body.slice(..list),
                    reason,
                })
            }
            APP => {
                if len < 8 {
                    return Err(RtcpError::AppTruncated { len });
                }
                RtcpPacket::App(App {
                    subtype: count,
                    ssrc: be32(&body, 0),
                    name: be32(&body, 4).to_be_bytes(),
                    data: body.slice(8..),
                })
            }
            _ => RtcpPacket::Other {
                packet_type,
                count,
                body,
            },
        })
    }
}

fn report_blocks(blocks: &[u8]) -> impl Iterator<Item = ReportBlock> + '_ {
    blocks.chunks_exact(REPORT_BLOCK).map(|b| ReportBlock {
        ssrc: be32(b, 0),
        fraction_lost: b[4],
        // Arithmetic shift sign-extends the 24-bit field.
        cumulative_lost: (be32(b, 4) << 8) as i32 >> 8,
        highest_seq: be32(b, 8),
        jitter: be32(b, 12),
        lsr: be32(b, 16),
        dlsr: be32(b, 20),
    })
}

/// The SDES chunk at `at` (§6.5): SSRC, items, then null octets up to the next 32-bit boundary.
/// Returns the chunk and where the next one starts; `chunk` only numbers errors.
fn sdes_chunk(body: &Bytes, at: usize, chunk: usize) -> Result<(SdesChunk, usize), RtcpError> {
    let truncated = || RtcpError::SdesTruncated {
        chunk,
        len: body.len(),
    };
    if body.len() < at + 4 {
        return Err(truncated());
    }
    let items = at + 4;
    let mut end = items;
    while *body.get(end).ok_or_else(truncated)? != 0 {
        end = sdes_item(body, end).ok_or_else(truncated)?.1.end;
    }
    // The first null octet ends the list; more pad to the boundary.
    let next = (end + 4) & !3;
    let fill = body.get(end..next).ok_or_else(truncated)?;
    if fill.iter().any(|&b| b != 0) {
        return Err(RtcpError::SdesBadTerminator { chunk });
    }
    let ssrc = be32(body, at);
    Ok((
        SdesChunk {
            ssrc,
            items: body.slice(items..end),
        },
        next,
    ))
}

/// The SDES item at `at`: its type and where its value lies, or `None` if it does not fit.
fn sdes_item(b: &[u8], at: usize) -> Option<(u8, Range<usize>)> {
    let item_type = *b.get(at)?;
    let start = at + 2;
    let value = start..start + usize::from(*b.get(at + 1)?);
    b.get(value.clone())?;
    Some((item_type, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One RTCP packet; `body` must already be a multiple of 4 bytes.
    fn pkt(count: u8, packet_type: u8, body: &[u8]) -> Vec<u8> {
        assert_eq!(body.len() % 4, 0, "test packet body must be 32-bit aligned");
        let mut b = vec![0x80 | count, packet_type];
        b.extend((body.len() as u16 / 4).to_be_bytes());
        b.extend(body);
        b
    }

    /// `pkt` with the P bit set and `padding` octets appended (the last one is the count).
    fn padded(count: u8, packet_type: u8, body: &[u8], padding: u8) -> Vec<u8> {
        let mut body = body.to_vec();
        body.extend(vec![0; usize::from(padding) - 1]);
        body.push(padding);
        let mut b = pkt(count, packet_type, &body);
        b[0] |= 0x20;
        b
    }

    fn block(rb: &ReportBlock) -> Vec<u8> {
        let mut b = rb.ssrc.to_be_bytes().to_vec();
        b.push(rb.fraction_lost);
        b.extend(&rb.cumulative_lost.to_be_bytes()[1..]);
        for v in [rb.highest_seq, rb.jitter, rb.lsr, rb.dlsr] {
            b.extend(v.to_be_bytes());
        }
        b
    }

    fn rr(ssrc: u32, blocks: &[ReportBlock]) -> Vec<u8> {
        let mut body = ssrc.to_be_bytes().to_vec();
        blocks.iter().for_each(|rb| body.extend(block(rb)));
        pkt(blocks.len() as u8, RR, &body)
    }

    /// An SDES chunk with its null terminator and padding to 32 bits.
    fn chunk(ssrc: u32, items: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = ssrc.to_be_bytes().to_vec();
        for (item_type, value) in items {
            b.extend([*item_type, value.len() as u8]);
            b.extend(*value);
        }
        b.push(0);
        b.resize(b.len().next_multiple_of(4), 0);
        b
    }

    fn compound(parts: &[Vec<u8>]) -> Bytes {
        Bytes::from(parts.concat())
    }

    fn items(chunk: &SdesChunk) -> Vec<(u8, Bytes)> {
        chunk.items().collect()
    }

    const BLOCK: ReportBlock = ReportBlock {
        ssrc: 0x0102_0304,
        fraction_lost: 0x40,
        cumulative_lost: -3,
        highest_seq: 0x0001_fffe,
        jitter: 160,
        lsr: 0xaabb_ccdd,
        dlsr: 0x0001_8000,
    };

    /// SR + SDES CNAME captured from ffmpeg 5.1 (`-f rtp -cname ffmpeg@host`, PCMU) on loopback.
    const FFMPEG_SR_SDES: [u8; 52] = [
        0x80, 0xc8, 0x00, 0x06, 0xeb, 0x6d, 0xc2, 0x42, 0xee, 0xb1, 0x84, 0x8f, 0xe4, 0x9b, 0xa5,
        0xe3, 0xc3, 0x0c, 0xab, 0x55, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0xa0, 0x00, 0x81, 0xca,
        0x00, 0x05, 0xeb, 0x6d, 0xc2, 0x42, 0x01, 0x0b, 0x66, 0x66, 0x6d, 0x70, 0x65, 0x67, 0x40,
        0x68, 0x6f, 0x73, 0x74, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn real_world_sr_and_sdes() {
        let compound = RtcpCompound::parse(Bytes::from_static(&FFMPEG_SR_SDES)).unwrap();
        let packets: Vec<_> = compound.packets().collect();
        let [RtcpPacket::SenderReport(sr), RtcpPacket::SourceDescription(sdes)] = &packets[..]
        else {
            panic!("expected SR + SDES, got {packets:?}");
        };
        assert_eq!(sr.ssrc, 0xeb6d_c242);
        assert_eq!(sr.ntp_timestamp, 0xeeb1_848f_e49b_a5e3);
        assert_eq!(sr.rtp_timestamp, 0xc30c_ab55);
        assert_eq!(sr.packet_count, 40);
        assert_eq!(sr.octet_count, 40_960);
        assert_eq!(sr.report_blocks().count(), 0);
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc, 0xeb6d_c242);
        let cname = Bytes::from_static(b"ffmpeg@host");
        assert_eq!(items(&chunks[0]), [(SourceDescription::CNAME, cname)]);
    }

    #[test]
    fn report_blocks_round_trip() {
        let second = ReportBlock {
            ssrc: 7,
            fraction_lost: 0,
            cumulative_lost: 8_388_607,
            ..BLOCK
        };
        let mut body = 0x1111_2222_u32.to_be_bytes().to_vec();
        for v in [
            0x0102_0304_0506_0708_u64.to_be_bytes().as_slice(),
            &[0, 0, 0, 9],
            &[0; 8],
        ] {
            body.extend(v);
        }
        body.extend(block(&BLOCK));
        body.extend(block(&second));
        body.extend([0xee; 8]); // profile-specific extension, ignored
        let buf = compound(&[pkt(2, SR, &body), rr(0x3333_4444, &[BLOCK])]);
        let packets: Vec<_> = RtcpCompound::parse(buf).unwrap().packets().collect();
        let [RtcpPacket::SenderReport(sr), RtcpPacket::ReceiverReport(rr)] = &packets[..] else {
            panic!("expected SR + RR, got {packets:?}");
        };
        assert_eq!(sr.ssrc, 0x1111_2222);
        assert_eq!(sr.ntp_timestamp, 0x0102_0304_0506_0708);
        assert_eq!(sr.rtp_timestamp, 9);
        assert_eq!(sr.report_blocks().collect::<Vec<_>>(), [BLOCK, second]);
        assert_eq!(rr.ssrc, 0x3333_4444);
        assert_eq!(rr.report_blocks().collect::<Vec<_>>(), [BLOCK]);
    }

    #[test]
    fn cumulative_lost_is_sign_extended() {
        let cases: [([u8; 3], i32); 6] = [
            ([0x00, 0x00, 0x00], 0),
            ([0x00, 0x00, 0x01], 1),
            ([0x7f, 0xff, 0xff], 8_388_607),
            ([0x80, 0x00, 0x00], -8_388_608),
            ([0xff, 0xff, 0xfe], -2),
            ([0xff, 0xff, 0xff], -1),
        ];
        for (wire, expected) in cases {
            let mut b = block(&BLOCK);
            b[5..8].copy_from_slice(&wire);
            let got: Vec<_> = report_blocks(&b).collect();
            assert_eq!(
                got,
                [ReportBlock {
                    cumulative_lost: expected,
                    ..BLOCK
                }],
                "{wire:02x?}"
            );
        }
    }

    #[test]
    fn every_packet_type() {
        let sdes = [
            chunk(1, &[]),
            chunk(2, &[(1, b"ab"), (2, b"name!")]), // 4 + 4 + 7 + 1 null = 16: one null
            chunk(3, &[(1, b"abcdef")]),            // 4 + 8 = 12: a whole word of nulls
        ]
        .concat();
        let bye = [&5u32.to_be_bytes()[..], &6u32.to_be_bytes(), b"\x03bye"].concat();
        let app = [&7u32.to_be_bytes()[..], b"TEST", &[1, 2, 3, 4]].concat();
        let buf = compound(&[
            rr(9, &[]),
            pkt(3, SDES, &sdes),
            pkt(2, BYE, &bye),
            pkt(5, APP, &app),
            pkt(1, 206, &[0, 0, 0, 9, 0, 0, 0, 5]),
        ]);
        let packets: Vec<_> = RtcpCompound::parse(buf).unwrap().packets().collect();
        assert_eq!(packets.len(), 5);
        let RtcpPacket::SourceDescription(sdes) = &packets[1] else {
            panic!("{packets:?}")
        };
        let chunks: Vec<_> = sdes.chunks().map(|c| (c.ssrc, items(&c))).collect();
        let b = Bytes::from_static;
        assert_eq!(
            chunks,
            [
                (1, vec![]),
                (2, vec![(1, b(b"ab")), (2, b(b"name!"))]),
                (3, vec![(1, b(b"abcdef"))]),
            ]
        );
        let RtcpPacket::Goodbye(bye) = &packets[2] else {
            panic!("{packets:?}")
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [5, 6]);
        assert_eq!(bye.reason, Some(b(b"bye")));
        let expected_app = App {
            subtype: 5,
            ssrc: 7,
            name: *b"TEST",
            data: b(&[1, 2, 3, 4]),
        };
        assert_eq!(packets[3], RtcpPacket::App(expected_app));
        let other = RtcpPacket::Other {
            packet_type: 206,
            count: 1,
            body: b(&[0, 0, 0, 9, 0, 0, 0, 5]),
        };
        assert_eq!(packets[4], other);
    }

    #[test]
    fn reduced_size_single_packets() {
        let b = Bytes::from_static;
        let psfb = pkt(1, 206, &[0, 0, 0, 9, 0, 0, 0, 5]);
        let cases: Vec<(&str, Vec<u8>, RtcpPacket)> = vec![
            (
                "lone PSFB (RFC 5506)",
                psfb.clone(),
                RtcpPacket::Other {
                    packet_type: 206,
                    count: 1,
                    body: b(&[0, 0, 0, 9, 0, 0, 0, 5]),
                },
            ),
            (
                "lone BYE without reason",
                pkt(1, BYE, &[0, 0, 0, 4]),
                RtcpPacket::Goodbye(Goodbye {
                    ssrcs: b(&[0, 0, 0, 4]),
                    reason: None,
                }),
            ),
            (
                "padding equal to the whole body",
                padded(0, 207, &[], 8),
                RtcpPacket::Other {
                    packet_type: 207,
                    count: 0,
                    body: Bytes::new(),
                },
            ),
            (
                "padded last packet: BYE reason ends before the padding",
                padded(0, BYE, b"\x02hi\0", 4),
                RtcpPacket::Goodbye(Goodbye {
                    ssrcs: Bytes::new(),
                    reason: Some(b(b"hi")),
                }),
            ),
        ];
        for (case, buf, expected) in cases {
            let compound =
                RtcpCompound::parse(Bytes::from(buf)).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(compound.packets().collect::<Vec<_>>(), [expected], "{case}");
        }
        let two = compound(&[psfb.clone(), psfb]);
        assert_eq!(
            RtcpCompound::parse(two),
            Err(RtcpError::FirstNotReport { packet_type: 206 })
        );
    }

    #[test]
    fn every_error() {
        use RtcpError::*;
        let edit = |mut b: Vec<u8>, at: usize, value: u8| {
            b[at] = value;
            b
        };
        let rr0 = rr(9, &[]);
        let app = [&7u32.to_be_bytes()[..], b"TEST"].concat();
        let cases: Vec<(&str, Vec<u8>, RtcpError)> = vec![
            (
                "empty",
                vec![],
                TruncatedHeader {
                    offset: 0,
                    remaining: 0,
                },
            ),
            (
                "3 bytes after RR",
                [rr0.clone(), vec![0x80; 3]].concat(),
                TruncatedHeader {
                    offset: 8,
                    remaining: 3,
                },
            ),
            (
                "version 1",
                edit(rr0.clone(), 0, 0x40),
                BadVersion {
                    offset: 0,
                    version: 1,
                },
            ),
            (
                "second packet version 0",
                [rr0.clone(), edit(pkt(0, BYE, &[]), 0, 0)].concat(),
                BadVersion {
                    offset: 8,
                    version: 0,
                },
            ),
            (
                "length past the end",
                edit(rr0.clone(), 3, 2),
                LengthOverrun {
                    offset: 0,
                    declared: 12,
                    remaining: 8,
                },
            ),
            (
                "padded first of two",
                [edit(rr0.clone(), 0, 0xa0), pkt(0, BYE, &[])].concat(),
                PaddingNotLast { offset: 0 },
            ),
            (
                "padding count 0",
                edit(padded(0, RR, &[0; 4], 4), 11, 0),
                BadPadding {
                    offset: 0,
                    count: 0,
                    available: 8,
                },
            ),
            (
                "padding count past the body",
                edit(padded(0, RR, &[0; 4], 4), 11, 9),
                BadPadding {
                    offset: 0,
                    count: 9,
                    available: 8,
                },
            ),
            (
                "SDES first of two",
                [pkt(1, SDES, &chunk(1, &[])), rr0.clone()].concat(),
                FirstNotReport { packet_type: SDES },
            ),
            (
                "SR without sender info",
                pkt(0, SR, &[0; 20]),
                ReportTruncated {
                    packet_type: SR,
                    count: 0,
                    needed: 24,
                    len: 20,
                },
            ),
            (
                "RR with 2 blocks, 1 present",
                edit(rr(9, &[BLOCK]), 0, 0x82),
                ReportTruncated {
                    packet_type: RR,
                    count: 2,
                    needed: 52,
                    len: 28,
                },
            ),
            (
                "SDES with 2 chunks, 1 present",
                pkt(2, SDES, &chunk(1, &[(1, b"ab")])),
                SdesTruncated { chunk: 1, len: 12 },
            ),
            (
                "SDES item longer than the body",
                pkt(1, SDES, &[0, 0, 0, 1, 1, 9, b'a', 0]),
                SdesTruncated { chunk: 0, len: 8 },
            ),
            (
                "SDES items without a null terminator",
                pkt(1, SDES, &[0, 0, 0, 1, 1, 2, b'a', b'b']),
                SdesTruncated { chunk: 0, len: 8 },
            ),
            (
                "SDES fill not null",
                pkt(1, SDES, &[0, 0, 0, 1, 1, 0, 0, 7]),
                SdesBadTerminator { chunk: 0 },
            ),
            (
                "SDES chunk left over",
                pkt(1, SDES, &[chunk(1, &[]), chunk(2, &[])].concat()),
                SdesTrailing { count: 1, extra: 8 },
            ),
            (
                "BYE list past the body",
                pkt(2, BYE, &[0, 0, 0, 1]),
                ByeTruncated {
                    count: 2,
                    needed: 8,
                    len: 4,
                },
            ),
            (
                "BYE reason past the body",
                pkt(1, BYE, &[0, 0, 0, 1, 10, b'a', b'b', b'c']),
                ByeTruncated {
                    count: 1,
                    needed: 15,
                    len: 8,
                },
            ),
            (
                "APP without name",
                pkt(0, APP, &app[..4]),
                AppTruncated { len: 4 },
            ),
            (
                "APP body all padding",
                edit(padded(0, APP, &app, 8), 19, 16),
                AppTruncated { len: 0 },
            ),
        ];
        for (case, buf, expected) in cases {
            assert_eq!(
                RtcpCompound::parse(Bytes::from(buf)),
                Err(expected),
                "{case}"
            );
        }
    }

    #[test]
    fn error_messages_carry_the_numbers() {
        let e = RtcpError::LengthOverrun {
            offset: 28,
            declared: 24,
            remaining: 20,
        };
        assert_eq!(
            e.to_string(),
            "RTCP packet at offset 28 declares 24 bytes, 20 left"
        );
        let e = RtcpError::ReportTruncated {
            packet_type: 201,
            count: 2,
            needed: 52,
            len: 28,
        };
        assert_eq!(
            e.to_string(),
            "RTCP type 201 with 2 report blocks needs 52 body bytes, has 28"
        );
    }

    #[test]
    fn views_are_slices_of_the_input() {
        let buf = compound(&[
            rr(9, &[]),
            pkt(1, SDES, &chunk(1, &[(1, b"cname")])),
            pkt(
                0,
                APP,
                &[&7u32.to_be_bytes()[..], b"TEST", &[1, 2, 3, 4]].concat(),
            ),
        ]);
        let base = buf.as_ptr() as usize;
        let packets: Vec<_> = RtcpCompound::parse(buf.clone())
            .unwrap()
            .packets()
            .collect();
        let RtcpPacket::SourceDescription(sdes) = &packets[1] else {
            panic!("{packets:?}")
        };
        let cname = sdes
            .chunks()
            .flat_map(|c| c.items().collect::<Vec<_>>())
            .next()
            .unwrap()
            .1;
        assert_eq!(&cname[..], b"cname");
        assert_eq!(cname.as_ptr() as usize, base + 8 + 4 + 4 + 2);
        let RtcpPacket::App(app) = &packets[2] else {
            panic!("{packets:?}")
        };
        assert_eq!(app.data.as_ptr() as usize, base + buf.len() - 4);
    }

    #[test]
    fn every_truncation_is_an_error_or_ends_at_a_packet_boundary() {
        let parts = [
            pkt(1, SR, &[&[0; 24][..], &block(&BLOCK)].concat()),
            pkt(1, SDES, &chunk(1, &[(1, b"user@host")])),
            pkt(1, BYE, &[0, 0, 0, 1, 2, b'o', b'k', 0]),
        ];
        let buf = compound(&parts);
        let boundaries = [52, 52 + 20];
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [52, 20, 12]);
        for len in 0..buf.len() {
            let result = RtcpCompound::parse(buf.slice(..len));
            match boundaries.iter().position(|&b| b == len) {
                Some(i) => assert_eq!(result.unwrap().packets().count(), i + 1, "prefix {len}"),
                None => assert!(result.is_err(), "prefix of {len} bytes parsed"),
            }
        }
    }
}
