//! The RTP data packet (RFC 3550 §5.1): one validated, zero-copy view per datagram.
//!
//! `RtpPacket` keeps the original `Bytes`, the payload offset and the padding count, so it stays
//! small while it moves through the jitter buffer. It never copies the payload and never looks
//! inside it.

use bytes::Bytes;
use thiserror::Error;

/// Length of the fixed RTP header (RFC 3550 §5.1).
const FIXED_HEADER: usize = 12;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("RTP packet of {len} bytes is shorter than the 12-byte fixed header")]
    TooShort { len: usize },
    /// The version field is not 2.
    #[error("RTP version {version}, expected 2")]
    BadVersion { version: u8 },
    /// Payload type 72..=76 collides with RTCP SR..APP under rtcp-mux (RFC 5761 §4).
    #[error("payload type {payload_type} is in the RTCP-conflicting range 72..=76")]
    RtcpPayloadType { payload_type: u8 },
    /// The CSRC list announced by the CC field does not fit.
    #[error("{count} CSRCs need {needed} header bytes, packet has {len}")]
    CsrcsTruncated {
        count: u8,
        needed: usize,
        len: usize,
    },
    /// The header extension (RFC 3550 §5.3.1) does not fit.
    #[error("header extension needs {needed} header bytes, packet has {len}")]
    ExtensionTruncated { needed: usize, len: usize },
    /// The padding count (last octet) is 0 or larger than what follows the header (§5.1).
    #[error("padding count {count} not in 1..={available} (bytes after the header)")]
    BadPadding { count: u8, available: usize },
}

/// RTP header extension (RFC 3550 §5.3.1): a profile-defined word and its data, sliced in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExtension {
    /// The "defined by profile" field (e.g. 0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, `4 * length` bytes.
    pub data: Bytes,
}

/// A validated RTP packet: the datagram plus where its payload starts and how much padding ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    buf: Bytes,
    /// First payload byte; the header (with CSRCs and extension) is at most 262 216 bytes.
    payload_start: u32,
    /// Padding octets at the end, including the count octet itself (0 if the P bit is clear).
    padding: u8,
}

impl RtpPacket {
    /// Validates `buf` as one RTP packet (RFC 3550 §5.1, §5.3.1, RFC 5761 §4) without copying.
    pub fn parse(buf: Bytes) -> Result<Self, RtpError> {
        let len = buf.len();
        if len < FIXED_HEADER {
            return Err(RtpError::TooShort { len });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion { version });
        }
        let payload_type = buf[1] & 0x7f;
        if (72..=76).contains(&payload_type) {
            return Err(RtpError::RtcpPayloadType { payload_type });
        }
        let count = buf[0] & 0x0f;
        let mut start = FIXED_HEADER + 4 * usize::from(count);
        if len < start {
            return Err(RtpError::CsrcsTruncated {
                count,
                needed: start,
                len,
            });
        }
        if buf[0] & 0x10 != 0 {
            let needed = start + 4;
            if len < needed {
                return Err(RtpError::ExtensionTruncated { needed, len });
            }
            start = needed + 4 * usize::from(be16(&buf, start + 2));
            if len < start {
                return Err(RtpError::ExtensionTruncated { needed: start, len });
            }
        }
        let padding = if buf[0] & 0x20 != 0 {
            let count = buf[len - 1];
            let available = len - start;
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            count
        } else {
            0
        };
        let payload_start = u32::try_from(start).expect("RTP header is at most 262 216 bytes");
        Ok(Self {
            buf,
            payload_start,
            padding,
        })
    }

    /// Always 2 once parsed.
    pub fn version(&self) -> u8 {
        self.buf[0] >> 6
    }

    /// The P bit: the payload is followed by padding (already stripped from `payload`).
    pub fn padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The M bit; its meaning is profile-defined (for audio: first packet of a talkspurt).
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// The raw 16-bit sequence number (unwrapping is done elsewhere).
    pub fn sequence(&self) -> u16 {
        be16(&self.buf, 2)
    }

    /// The raw 32-bit media timestamp (unwrapping is done elsewhere).
    pub fn timestamp(&self) -> u32 {
        be32(&self.buf, 4)
    }

    pub fn ssrc(&self) -> u32 {
        be32(&self.buf, 8)
    }

    /// The contributing sources, 0 to 15 of them.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.buf[FIXED_HEADER..self.extension_start()]
            .chunks_exact(4)
            .map(|c| be32(c, 0))
    }

    /// The header extension if the X bit is set (RFC 3550 §5.3.1).
    pub fn extension(&self) -> Option<HeaderExtension> {
        if self.buf[0] & 0x10 == 0 {
            return None;
        }
        let at = self.extension_start();
        Some(HeaderExtension {
            profile: be16(&self.buf, at),
            data: self.buf.slice(at + 4..self.payload_start as usize),
        })
    }

    /// The payload without padding.
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.payload_range()]
    }

    /// The payload without padding, as a slice of the original buffer (no copy).
    pub fn payload_bytes(&self) -> Bytes {
        self.buf.slice(self.payload_range())
    }

    /// The whole datagram as received.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    fn extension_start(&self) -> usize {
        FIXED_HEADER + 4 * usize::from(self.buf[0] & 0x0f)
    }

    /// `parse` checked that the header and the padding both fit and do not overlap.
    fn payload_range(&self) -> std::ops::Range<usize> {
        self.payload_start as usize..self.buf.len() - usize::from(self.padding)
    }
}

/// RFC 5761 §4 demultiplexing for rtcp-mux: a second octet in 192..=223 means RTCP.
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    matches!(buf.get(1), Some(192..=223))
}

/// Big-endian u16 at `at`; callers have checked the length.
pub(super) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian u32 at `at`; callers have checked the length.
pub(super) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an RTP packet field by field; `padding` is the P-bit count (0 = no padding).
    #[derive(Default)]
    struct Build {
        marker: bool,
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        csrcs: Vec<u32>,
        extension: Option<(u16, Vec<u8>)>,
        payload: Vec<u8>,
        padding: u8,
    }

    impl Build {
        fn bytes(&self) -> Bytes {
            let mut b = vec![0x80 | self.csrcs.len() as u8];
            if self.padding > 0 {
                b[0] |= 0x20;
            }
            if self.extension.is_some() {
                b[0] |= 0x10;
            }
            b.push((u8::from(self.marker) << 7) | self.payload_type);
            b.extend(self.sequence.to_be_bytes());
            b.extend(self.timestamp.to_be_bytes());
            b.extend(self.ssrc.to_be_bytes());
            for c in &self.csrcs {
                b.extend(c.to_be_bytes());
            }
            if let Some((profile, data)) = &self.extension {
                b.extend(profile.to_be_bytes());
                b.extend((data.len() as u16 / 4).to_be_bytes());
                b.extend(data);
            }
            b.extend(&self.payload);
            if self.padding > 0 {
                b.extend(vec![0; usize::from(self.padding) - 1]);
                b.push(self.padding);
            }
            Bytes::from(b)
        }
    }

    fn g711() -> Build {
        Build {
            marker: true,
            payload_type: 0,
            sequence: 0xfffe,
            timestamp: 0xdead_beef,
            ssrc: 0x1234_5678,
            payload: (0..160).map(|i| i as u8).collect(),
            ..Build::default()
        }
    }

    #[test]
    fn parses_every_field() {
        let p = RtpPacket::parse(g711().bytes()).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert!(p.marker());
        assert_eq!(p.payload_type(), 0);
        assert_eq!(p.sequence(), 0xfffe);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), 0x1234_5678);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.extension(), None);
        assert_eq!(p.payload(), (0..160).map(|i| i as u8).collect::<Vec<_>>());
        assert_eq!(p.as_bytes().len(), 172);
    }

    #[test]
    fn boundary_layouts() {
        let csrcs: Vec<u32> = (1..=15).map(|i| 0x0101_0101 * i).collect();
        // (case, packet, csrcs, extension, payload)
        type Case = (
            &'static str,
            Build,
            Vec<u32>,
            Option<HeaderExtension>,
            Vec<u8>,
        );
        let cases: Vec<Case> = vec![
            ("exactly 12 bytes", Build::default(), vec![], None, vec![]),
            (
                "15 CSRCs",
                Build {
                    csrcs: csrcs.clone(),
                    payload: vec![9],
                    ..Build::default()
                },
                csrcs,
                None,
                vec![9],
            ),
            (
                "extension length 0",
                Build {
                    extension: Some((0xbede, vec![])),
                    payload: vec![7, 8],
                    ..Build::default()
                },
                vec![],
                Some(HeaderExtension {
                    profile: 0xbede,
                    data: Bytes::new(),
                }),
                vec![7, 8],
            ),
            (
                "extension with data and CSRC",
                Build {
                    csrcs: vec![0xaabb_ccdd],
                    extension: Some((0x1000, vec![1, 2, 3, 4, 5, 6, 7, 8])),
                    payload: vec![0xff],
                    ..Build::default()
                },
                vec![0xaabb_ccdd],
                Some(HeaderExtension {
                    profile: 0x1000,
                    data: Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8]),
                }),
                vec![0xff],
            ),
            (
                "padding of 1 (count octet only)",
                Build {
                    payload: vec![1, 2, 3],
                    padding: 1,
                    ..Build::default()
                },
                vec![],
                None,
                vec![1, 2, 3],
            ),
            (
                "padding of 4",
                Build {
                    payload: vec![1, 2, 3, 4],
                    padding: 4,
                    ..Build::default()
                },
                vec![],
                None,
                vec![1, 2, 3, 4],
            ),
            (
                "padding equal to payload length",
                Build {
                    padding: 8,
                    ..Build::default()
                },
                vec![],
                None,
                vec![],
            ),
        ];
        for (case, build, csrcs, extension, payload) in cases {
            let p = RtpPacket::parse(build.bytes()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs, "{case}");
            assert_eq!(p.extension(), extension, "{case}");
            assert_eq!(p.payload(), payload, "{case}");
            assert_eq!(p.padding(), build.padding > 0, "{case}");
        }
    }

    /// `buf` with some bytes changed.
    fn edit(buf: Bytes, f: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        let mut b = buf.to_vec();
        f(&mut b);
        Bytes::from(b)
    }

    #[test]
    fn every_error() {
        let bare = || Build::default().bytes();
        let cases: Vec<(&str, Bytes, RtpError)> = vec![
            ("empty", Bytes::new(), RtpError::TooShort { len: 0 }),
            (
                "11 bytes",
                bare().slice(..11),
                RtpError::TooShort { len: 11 },
            ),
            (
                "version 1",
                edit(bare(), |b| b[0] = 0x40),
                RtpError::BadVersion { version: 1 },
            ),
            (
                "version 3",
                edit(bare(), |b| b[0] = 0xc0),
                RtpError::BadVersion { version: 3 },
            ),
            (
                "pt 72 (SR)",
                edit(bare(), |b| b[1] = 72),
                RtpError::RtcpPayloadType { payload_type: 72 },
            ),
            (
                "pt 76 with marker",
                edit(bare(), |b| b[1] = 0x80 | 76),
                RtpError::RtcpPayloadType { payload_type: 76 },
            ),
            (
                "CC=15 in 40 bytes",
                edit(g711().bytes().slice(..40), |b| b[0] = 0x8f),
                RtpError::CsrcsTruncated {
                    count: 15,
                    needed: 72,
                    len: 40,
                },
            ),
            (
                "X bit, no room for the extension header",
                edit(bare(), |b| b[0] |= 0x10),
                RtpError::ExtensionTruncated {
                    needed: 16,
                    len: 12,
                },
            ),
            (
                "extension length past the end",
                edit(g711().bytes(), |b| {
                    b[0] |= 0x10;
                    b[14..16].copy_from_slice(&[0x01, 0x00]); // 256 words
                }),
                RtpError::ExtensionTruncated {
                    needed: 16 + 1024,
                    len: 172,
                },
            ),
            (
                "padding count 0",
                edit(g711().bytes(), |b| {
                    b[0] |= 0x20;
                    b[171] = 0;
                }),
                RtpError::BadPadding {
                    count: 0,
                    available: 160,
                },
            ),
            (
                "padding count reaching into the header",
                edit(g711().bytes(), |b| {
                    b[0] |= 0x20;
                    b[171] = 161;
                }),
                RtpError::BadPadding {
                    count: 161,
                    available: 160,
                },
            ),
            (
                "P bit on a bare header",
                edit(bare(), |b| b[0] |= 0x20),
                RtpError::BadPadding {
                    count: 0,
                    available: 0,
                },
            ),
        ];
        for (case, buf, expected) in cases {
            assert_eq!(RtpPacket::parse(buf), Err(expected), "{case}");
        }
    }

    #[test]
    fn error_messages_carry_the_numbers() {
        let e = RtpError::CsrcsTruncated {
            count: 15,
            needed: 72,
            len: 40,
        };
        assert_eq!(
            e.to_string(),
            "15 CSRCs need 72 header bytes, packet has 40"
        );
        let e = RtpError::BadPadding {
            count: 161,
            available: 160,
        };
        assert_eq!(
            e.to_string(),
            "padding count 161 not in 1..=160 (bytes after the header)"
        );
    }

    #[test]
    fn payload_is_a_slice_of_the_input() {
        let build = Build {
            csrcs: vec![1, 2],
            extension: Some((0xbede, vec![0; 4])),
            padding: 3,
            ..g711()
        };
        let buf = build.bytes();
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let p = RtpPacket::parse(buf.clone()).unwrap();
        let payload = p.payload_bytes();
        assert_eq!(payload.len(), 160);
        assert_eq!(payload.as_ptr() as usize, range.start + 12 + 8 + 8);
        assert!(range.contains(&(payload.as_ptr() as usize + payload.len() - 1)));
        assert_eq!(p.payload().as_ptr(), payload.as_ptr());
        let ext = p.extension().unwrap().data;
        assert_eq!(ext.as_ptr() as usize, range.start + 24);
    }

    #[test]
    fn every_truncation_is_an_error() {
        // With the P bit set, a cut anywhere leaves a last octet of 0xff (payload) or 0 (padding
        // fill), neither a valid padding count, so every proper prefix must be rejected.
        let build = Build {
            csrcs: vec![1, 2, 3],
            extension: Some((0xbede, vec![5; 8])),
            payload: vec![0xff; 160],
            padding: 4,
            ..g711()
        };
        let buf = build.bytes();
        assert_eq!(
            RtpPacket::parse(buf.clone()).unwrap().payload(),
            [0xff; 160]
        );
        for len in 0..buf.len() {
            assert!(
                RtpPacket::parse(buf.slice(..len)).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
    }

    #[test]
    fn stays_small_for_the_jitter_buffer() {
        // `Bytes` (32 bytes on 64-bit) plus a u32 offset and a u8 padding count.
        assert_eq!(std::mem::size_of::<RtpPacket>(), 40);
    }

    #[test]
    fn rtcp_demux() {
        let cases: [(&[u8], bool); 6] = [
            (&[], false),
            (&[0x80], false),
            (&[0x80, 0x00], false),
            (&[0x80, 191], false),
            (&[0x80, 200], true),
            (&[0x80, 223], true),
        ];
        for (buf, rtcp) in cases {
            assert_eq!(looks_like_rtcp(buf), rtcp, "{buf:?}");
        }
        assert!(!looks_like_rtcp(&[0x80, 224]));
    }
}
