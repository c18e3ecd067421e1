//! Ogg page writer (RFC 3533): owns page framing for one logical bitstream — header, lacing
//! values, continued/BOS/EOS flags, granule positions, page sequence numbers and the CRC.
//! It knows nothing of the codec inside the packets and never decides when a page is "full
//! enough": the codec layer calls [`PageWriter::flush`]. It only ever appends page bytes to a
//! caller's buffer.

use bytes::{BufMut, BytesMut};

/// Most lacing values one page can hold (RFC 3533 §6: `page_segments` is one byte).
pub(crate) const MAX_SEGMENTS: usize = 255;

/// Fixed part of a page header, before the segment table (RFC 3533 §6).
pub(crate) const HEADER_LEN: usize = 27;
/// Offset of the CRC field in the page header.
pub(crate) const CRC_OFFSET: usize = 22;

/// `header_type_flag` bits (RFC 3533 §6).
const FLAG_CONTINUED: u8 = 0x01;
pub(crate) const FLAG_BOS: u8 = 0x02;
pub(crate) const FLAG_EOS: u8 = 0x04;

/// Granule position of a page on which no packet completes (RFC 3533 §6: -1).
const NO_GRANULE: u64 = u64::MAX;

/// Builds the pages of one logical bitstream from whole packets.
pub(crate) struct PageWriter {
    serial: u32,
    /// Sequence number of the next page emitted.
    sequence: u32,
    /// No page emitted yet: the next one carries BOS.
    first_page: bool,
    /// Lacing values of the pending page.
    lacing: Vec<u8>,
    /// Body of the pending page.
    body: BytesMut,
    /// The pending page begins with the rest of a packet started on the previous page.
    continued: bool,
    /// Granule of the last packet completed on the pending page, if any.
    granule: Option<u64>,
}

impl PageWriter {
    pub(crate) fn new(serial: u32) -> Self {
        PageWriter {
            serial,
            sequence: 0,
            first_page: true,
            lacing: Vec::with_capacity(MAX_SEGMENTS),
            body: BytesMut::new(),
            continued: false,
            granule: None,
        }
    }

    /// Whether a packet of `len` bytes fits whole on the pending page.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.lacing.len() + segments(len) <= MAX_SEGMENTS
    }

    /// Whether the pending page holds anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.lacing.is_empty()
    }

    /// Adds one packet ending at `granule`. Pages that fill up on the way are written to `out`;
    /// a packet that does not fit spans pages, the next one flagged as continued (RFC 3533 §5:
    /// a packet of `n` bytes is `n / 255` lacing values of 255 and one of `n % 255`).
    pub(crate) fn add_packet(&mut self, packet: &[u8], granule: u64, out: &mut BytesMut) {
        let mut rest = packet;
        loop {
            if self.lacing.len() == MAX_SEGMENTS {
                self.write_page(false, out);
                self.continued = true;
            }
            let take = rest.len().min(255);
            self.lacing.push(take as u8);
            self.body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if take < 255 {
                break;
            }
        }
        self.granule = Some(granule);
    }

    /// Writes the pending page to `out`, with EOS set if `eos`. Without `eos` an empty pending
    /// page writes nothing; with it, an empty EOS page still closes the stream.
    pub(crate) fn flush(&mut self, eos: bool, out: &mut BytesMut) {
        if eos || !self.is_empty() {
            self.write_page(eos, out);
        }
    }

    fn write_page(&mut self, eos: bool, out: &mut BytesMut) {
        let mut flags = 0;
        if self.continued {
            flags |= FLAG_CONTINUED;
        }
        if self.first_page {
            flags |= FLAG_BOS;
        }
        if eos {
            flags |= FLAG_EOS;
        }
        let start = out.len();
        out.reserve(HEADER_LEN + self.lacing.len() + self.body.len());
        out.put_slice(b"OggS");
        out.put_u8(0); // stream_structure_version
        out.put_u8(flags);
        out.put_u64_le(self.granule.unwrap_or(NO_GRANULE));
        out.put_u32_le(self.serial);
        out.put_u32_le(self.sequence);
        out.put_u32_le(0); // CRC, filled in below
        out.put_u8(self.lacing.len() as u8);
        out.put_slice(&self.lacing);
        out.put_slice(&self.body);
        let crc = crc32(&out[start..]);
        out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());

        self.sequence = self.sequence.wrapping_add(1);
        self.first_page = false;
        self.continued = false;
        self.granule = None;
        self.lacing.clear();
        self.body.clear();
    }
}

/// Lacing values a packet of `len` bytes takes (RFC 3533 §5).
fn segments(len: usize) -> usize {
    len / 255 + 1
}

/// The Ogg CRC-32 (RFC 3533 §6): polynomial 0x04c11db7, initial value 0, no bit reflection, no
/// final XOR, computed over the whole page with the CRC field zeroed.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// Continues a CRC over more bytes: a page's CRC can be computed from its parts.
pub(crate) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    data.iter().fold(crc, |crc, &byte| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ byte)]
    })
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ 0x04c1_1db7
            } else {
                r << 1
            };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The first page `opusenc --serial 305419896` wrote for 1 s of 8 kHz mono: BOS, granule 0,
    /// sequence 0, one 19-byte `OpusHead` packet.
    const OPUSENC_BOS_PAGE: &str = "4f6767530002000000000000000078563412000000005b80b1a301134f7075\
        734865616401013801401f0000000000";
    /// The last page of the same file: EOS, granule 48312, sequence 3, one 133-byte packet.
    const OPUSENC_EOS_PAGE: &str = "4f6767530004b8bc000000000000785634120300000076f51de90185f8bf\
        f0cccd2e162507a683e591de0212288bf96d00ace890979c455ee602da7ea34a48c5d6928bf667efa2a268aa03\
        efe8436e733658887e8c5d2659be4101572e1c25bb5d5ab6cf500c89989e389c08ec5eb963ab38cce8cbfa0fe6\
        eb556b82a976eaa92d907ea39f4be83e98808349f0bdd904b8a5f0ac221a15b3b52b0d0385e75165ac";

    fn hex(s: &str) -> Vec<u8> {
        s.as_bytes()
            .chunks(2)
            .map(|pair| {
                u8::from_str_radix(std::str::from_utf8(pair).expect("hex"), 16).expect("hex")
            })
            .collect()
    }

    /// A parsed page: (flags, granule, sequence, lacing values, body), after checking its
    /// magic, CRC, serial 0x12345678 and length.
    pub(crate) fn parse(page: &[u8]) -> (u8, u64, u32, Vec<u8>, Vec<u8>) {
        assert_eq!(&page[..4], b"OggS");
        let mut zeroed = page.to_vec();
        zeroed[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let stored = u32::from_le_bytes(page[22..26].try_into().expect("4 bytes"));
        assert_eq!(crc32(&zeroed), stored, "CRC");
        assert_eq!(
            u32::from_le_bytes(page[14..18].try_into().expect("4 bytes")),
            0x1234_5678
        );
        let n = usize::from(page[26]);
        let lacing = page[27..27 + n].to_vec();
        let body_len: usize = lacing.iter().map(|&v| usize::from(v)).sum();
        assert_eq!(page.len(), 27 + n + body_len, "page length");
        (
            page[5],
            u64::from_le_bytes(page[6..14].try_into().expect("8 bytes")),
            u32::from_le_bytes(page[18..22].try_into().expect("4 bytes")),
            lacing,
            page[27 + n..].to_vec(),
        )
    }

    /// Splits concatenated pages.
    pub(crate) fn pages(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let n = usize::from(bytes[26]);
            let len = 27
                + n
                + bytes[27..27 + n]
                    .iter()
                    .map(|&v| usize::from(v))
                    .sum::<usize>();
            out.push(bytes[..len].to_vec());
            bytes = &bytes[len..];
        }
        out
    }

    #[test]
    fn crc_matches_pages_written_by_opusenc() {
        for page in [hex(OPUSENC_BOS_PAGE), hex(OPUSENC_EOS_PAGE)] {
            let stored = u32::from_le_bytes(page[22..26].try_into().expect("4 bytes"));
            let mut zeroed = page.clone();
            zeroed[22..26].fill(0);
            assert_eq!(crc32(&zeroed), stored);
        }
        // CRC-32/CKSUM is the same CRC plus a final XOR with 0xffffffff; its published check
        // value for "123456789" is 0x765e7680, so Ogg's is 0x765e7680 ^ 0xffffffff.
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn rebuilds_opusenc_bos_page_byte_for_byte() {
        let expected = hex(OPUSENC_BOS_PAGE);
        let mut w = PageWriter::new(0x1234_5678);
        let mut out = BytesMut::new();
        w.add_packet(&expected[28..], 0, &mut out);
        w.flush(false, &mut out);
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn lacing_values_per_packet_size() {
        let cases: &[(usize, &[u8])] = &[
            (0, &[0]),
            (1, &[1]),
            (254, &[254]),
            (255, &[255, 0]),
            (256, &[255, 1]),
            (510, &[255, 255, 0]),
        ];
        for &(len, lacing) in cases {
            let packet: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut w = PageWriter::new(0x1234_5678);
            let mut out = BytesMut::new();
            w.add_packet(&packet, 7, &mut out);
            assert!(out.is_empty(), "nothing written before flush for {len}");
            w.flush(true, &mut out);
            let (flags, granule, seq, got_lacing, body) = parse(&out);
            assert_eq!(flags, FLAG_BOS | FLAG_EOS, "{len}");
            assert_eq!((granule, seq), (7, 0), "{len}");
            assert_eq!(got_lacing, lacing, "{len}");
            assert_eq!(body, packet, "{len}");
        }
    }

    #[test]
    fn packet_of_65025_bytes_spans_two_pages() {
        // 65025 = 255 * 255: 255 lacing values of 255 fill one page, the terminating 0 goes on
        // the next, which is flagged continued and carries the granule.
        let packet: Vec<u8> = (0..65025).map(|i| (i % 251) as u8).collect();
        let mut w = PageWriter::new(0x1234_5678);
        let mut out = BytesMut::new();
        w.add_packet(&packet, 960, &mut out);
        w.flush(true, &mut out);
        let pages = pages(&out);
        assert_eq!(pages.len(), 2);
        let (flags, granule, seq, lacing, body) = parse(&pages[0]);
        assert_eq!((flags, granule, seq), (FLAG_BOS, NO_GRANULE, 0));
        assert_eq!(lacing, vec![255; 255]);
        assert_eq!(body, packet);
        let (flags, granule, seq, lacing, body) = parse(&pages[1]);
        assert_eq!((flags, granule, seq), (FLAG_CONTINUED | FLAG_EOS, 960, 1));
        assert_eq!(lacing, vec![0]);
        assert!(body.is_empty());
    }

    #[test]
    fn fits_counts_lacing_values_and_pages_carry_sequence_and_granule() {
        let mut w = PageWriter::new(0x1234_5678);
        let mut out = BytesMut::new();
        // 127 packets of 300 bytes take 254 lacing values; one more of 254 bytes fits, then
        // nothing does.
        for i in 0..127u64 {
            assert!(w.fits(300));
            w.add_packet(&[1; 300], 10 * (i + 1), &mut out);
        }
        assert!(!w.fits(255));
        assert!(w.fits(254));
        w.add_packet(&[2; 254], 5000, &mut out);
        assert!(!w.fits(0));
        assert!(out.is_empty());
        w.flush(false, &mut out);
        w.add_packet(&[3; 10], 6000, &mut out);
        w.flush(false, &mut out);
        w.flush(false, &mut out); // empty pending page: writes nothing
        w.flush(true, &mut out); // empty EOS page
        let pages = pages(&out);
        assert_eq!(pages.len(), 3);
        let (flags, granule, seq, lacing, body) = parse(&pages[0]);
        assert_eq!(
            (flags, granule, seq, lacing.len()),
            (FLAG_BOS, 5000, 0, 255)
        );
        assert_eq!(body.len(), 127 * 300 + 254);
        let (flags, granule, seq, lacing, body) = parse(&pages[1]);
        assert_eq!(
            (flags, granule, seq, lacing, body),
            (0, 6000, 1, vec![10], vec![3; 10])
        );
        let (flags, granule, seq, lacing, body) = parse(&pages[2]);
        assert_eq!((flags, granule, seq), (FLAG_EOS, NO_GRANULE, 2));
        assert!(lacing.is_empty() && body.is_empty());
    }
}
