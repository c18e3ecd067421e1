//! Capture file framing: classic pcap and pcapng records to timed frames, frames to datagrams.
//!
//! Formats: classic pcap as written by libpcap (draft-ietf-opsawg-pcap) and pcapng
//! (draft-ietf-opsawg-pcapng), either byte order.

use std::net::SocketAddr;

use bytes::Bytes;

use super::link::{self, Link, Skip};
use crate::time::Time;

/// One UDP datagram from the capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// When the capture saw the packet.
    pub time: Time,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The UDP payload, a slice of the capture's bytes.
    pub payload: Bytes,
}

/// Damage to the capture file's structure. After one of these the reader yields nothing more:
/// the records behind a broken one cannot be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The file starts with neither a pcap magic number nor a pcapng Section Header Block.
    #[error("not a pcap or pcapng capture (magic {0:#010x})")]
    UnknownMagic(u32),
    /// A file header, record header, block header or block body is cut off by the end of file.
    #[error("capture truncated at byte {offset}: {needed} bytes needed, {available} left")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// A classic pcap file with a major version other than 2.
    #[error("unsupported pcap version {major}.{minor}")]
    UnsupportedPcapVersion { major: u16, minor: u16 },
    /// A pcapng section with a major version other than 1.
    #[error("unsupported pcapng section version {major}.{minor} at byte {offset}")]
    UnsupportedPcapNgVersion {
        offset: usize,
        major: u16,
        minor: u16,
    },
    /// A Section Header Block whose byte-order magic is neither 0x1A2B3C4D nor its swap.
    #[error("bad pcapng byte-order magic {magic:#010x} at byte {offset}")]
    BadByteOrderMagic { offset: usize, magic: u32 },
    /// A pcapng block total length below 12 or not a multiple of 4.
    #[error("bad pcapng block length {length} at byte {offset}")]
    BadBlockLength { offset: usize, length: u32 },
    /// A pcapng block whose trailing total length differs from its leading one.
    #[error("pcapng block at byte {offset}: length {leading} at start, {trailing} at end")]
    BlockLengthMismatch {
        offset: usize,
        leading: u32,
        trailing: u32,
    },
    /// A pcapng block too short for the fixed fields of its type, or a packet whose captured
    /// length runs past its block.
    #[error("pcapng block of type {block_type:#x} at byte {offset} is too short for its content")]
    BlockTooShort { offset: usize, block_type: u32 },
    /// A pcapng packet block naming an interface the section has not described.
    #[error("pcapng packet at byte {offset} on undescribed interface {interface}")]
    UnknownInterface { offset: usize, interface: u32 },
}

/// What the reader saw and skipped. Skipped frames are not errors: a capture of a call holds
/// signalling, ARP and other traffic around the media.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    /// Packet records (classic records, pcapng Enhanced and Simple Packet Blocks).
    pub records: u64,
    /// UDP datagrams yielded.
    pub udp_datagrams: u64,
    /// Frames that are not IP, or IP carrying something other than UDP.
    pub not_udp: u64,
    /// Frames on a link type callrec does not decode.
    pub unsupported_link: u64,
    /// Frames whose headers are invalid or claim more bytes than the packet holds.
    pub malformed_frames: u64,
    /// IPv4 or IPv6 fragments, skipped and not reassembled: RTP packets are far below any
    /// path MTU, so a fragment is never part of the media callrec records.
    pub ip_fragments: u64,
    /// Datagrams lost because the capture kept only the first bytes of the packet (snaplen).
    pub truncated_by_snaplen: u64,
    /// IPv6 packets with more than [`super::MAX_IPV6_EXTENSION_HEADERS`] extension headers.
    pub too_many_ipv6_extension_headers: u64,
    /// Packets whose time is before 1970 or after 2554 (beyond [`Time`]), skipped.
    pub time_out_of_range: u64,
    /// pcapng blocks of types callrec does not use (statistics, name resolution...).
    pub other_blocks: u64,
    /// pcapng interface options that run past their block or have the wrong length; the rest
    /// of that block's options are ignored.
    pub malformed_options: u64,
}

/// Reads UDP datagrams from a whole capture file held in memory.
///
/// Iterating yields every UDP datagram in file order; anything else is counted in
/// [`CaptureStats`]. Structural damage yields one `Err`, then the iterator ends. A pcapng
/// Simple Packet Block has no timestamp: its datagram gets the previous packet's time (zero
/// before the first).
#[derive(Debug)]
pub struct CaptureReader {
    data: Bytes,
    /// Offset of the next record or block.
    pos: usize,
    format: Format,
    /// Time of the last packet, given to Simple Packet Blocks, which carry none.
    last_time: Time,
    stats: CaptureStats,
    done: bool,
}

#[derive(Debug)]
enum Format {
    Pcap {
        endian: Endian,
        /// Nanosecond timestamps (magic 0xa1b23c4d) rather than microseconds.
        nanos: bool,
        link: Option<Link>,
    },
    PcapNg(Section),
}

/// The pcapng section being read.
#[derive(Debug)]
struct Section {
    endian: Endian,
    /// Interfaces described so far in this section, by interface id. Each takes at least a
    /// 20-byte block of the input, so the input bounds their number.
    interfaces: Vec<Interface>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

#[derive(Clone, Debug)]
struct Interface {
    link: Option<Link>,
    /// Largest packet the interface captured, 0 for no limit.
    snaplen: u32,
    resolution: Resolution,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

/// `if_tsresol`: the unit of an interface's timestamps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Resolution {
    /// 10^-n seconds.
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

const PCAP_MICROS: u32 = 0xa1b2_c3d4;
const PCAP_NANOS: u32 = 0xa1b2_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const BLOCK_SECTION_HEADER: u32 = 0x0a0d_0d0a;
const BLOCK_INTERFACE_DESCRIPTION: u32 = 1;
const BLOCK_SIMPLE_PACKET: u32 = 3;
const BLOCK_ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Block type, block total length.
const BLOCK_HEADER_LEN: usize = 8;
/// Block type, both total lengths.
const MIN_BLOCK_LEN: usize = 12;

const OPTION_END: u16 = 0;
const OPTION_IF_TSRESOL: u16 = 9;
const OPTION_IF_TSOFFSET: u16 = 14;

const NANOS_PER_SEC: u64 = 1_000_000_000;

impl CaptureReader {
    /// Opens a capture, reading its file header (pcap) or first Section Header Block (pcapng).
    pub fn new(data: Bytes) -> Result<CaptureReader, CaptureError> {
        let magic = u32::from_le_bytes(take(&data, 0)?);
        let (format, pos) = match magic {
            // The Section Header Block is read again as the first block.
            BLOCK_SECTION_HEADER => (Format::PcapNg(Section::new(&data, 0)?), 0),
            _ => (pcap_header(&data, magic)?, PCAP_HEADER_LEN),
        };
        Ok(CaptureReader {
            data,
            pos,
            format,
            last_time: Time::ZERO,
            stats: CaptureStats::default(),
            done: false,
        })
    }

    /// What has been read and skipped so far.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Turns a packet record into a datagram, or counts why it is skipped.
    fn datagram(&mut self, record: Record) -> Option<Datagram> {
        self.stats.records += 1;
        let Some(time) = record.time else {
            self.stats.time_out_of_range += 1;
            return None;
        };
        self.last_time = time;
        let Some(link) = record.link else {
            self.stats.unsupported_link += 1;
            return None;
        };
        let frame = self
            .data
            .get(record.frame.clone())
            .expect("record frames lie inside the capture");
        match link::decode(link, frame) {
            Ok(udp) => {
                self.stats.udp_datagrams += 1;
                let start = record.frame.start;
                let payload = start + udp.payload.start..start + udp.payload.end;
                Some(Datagram {
                    time,
                    src: udp.src,
                    dst: udp.dst,
                    payload: self.data.slice(payload),
                })
            }
            Err(skip) => {
                let counter = match skip {
                    Skip::NotUdp => &mut self.stats.not_udp,
                    Skip::Fragment => &mut self.stats.ip_fragments,
                    Skip::Short if record.cut => &mut self.stats.truncated_by_snaplen,
                    Skip::Short | Skip::Malformed => &mut self.stats.malformed_frames,
                    Skip::TooManyExtensionHeaders => {
                        &mut self.stats.too_many_ipv6_extension_headers
                    }
                };
                *counter += 1;
                None
            }
        }
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Datagram, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.pos < self.data.len() {
            let record = match &mut self.format {
                Format::Pcap {
                    endian,
                    nanos,
                    link,
                } => pcap_record(&self.data, &mut self.pos, *endian, *nanos, *link).map(Some),
                Format::PcapNg(section) => {
                    section.next_block(&self.data, &mut self.pos, &mut self.stats, self.last_time)
                }
            };
            match record {
                Ok(Some(record)) => {
                    if let Some(datagram) = self.datagram(record) {
                        return Some(Ok(datagram));
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

impl std::iter::FusedIterator for CaptureReader {}

/// A packet record located in the file.
struct Record {
    /// `None` when the timestamp is outside what [`Time`] holds.
    time: Option<Time>,
    link: Option<Link>,
    frame: std::ops::Range<usize>,
    /// The capture kept fewer bytes than the packet had.
    cut: bool,
}

/// Reads the classic pcap record at `pos` and moves `pos` past it.
fn pcap_record(
    data: &[u8],
    pos: &mut usize,
    endian: Endian,
    nanos: bool,
    link: Option<Link>,
) -> Result<Record, CaptureError> {
    let at = *pos;
    let header: [u8; PCAP_RECORD_HEADER_LEN] = take(data, at)?;
    let field = |i: usize| {
        endian
            .read_u32(&header, i * 4)
            .expect("inside the record header")
    };
    let (secs, fraction, captured, original) = (field(0), field(1), field(2), field(3));
    let start = at + PCAP_RECORD_HEADER_LEN;
    let frame = start..start + take_slice(data, start, to_usize(captured))?.len();
    *pos = frame.end;
    let unit = if nanos { 1 } else { 1_000 };
    // Cannot overflow: at most (2^32 - 1)·10^9 + (2^32 - 1)·10^3 < 2^64.
    let time = u64::from(secs) * NANOS_PER_SEC + u64::from(fraction) * unit;
    Ok(Record {
        time: Some(Time::from_nanos(time)),
        link,
        frame,
        cut: captured < original,
    })
}

impl Section {
    /// The section whose header block starts at `at`, with its byte order.
    fn new(data: &[u8], at: usize) -> Result<Section, CaptureError> {
        let header: [u8; 12] = take(data, at)?;
        let magic = Endian::Little
            .read_u32(&header, 8)
            .expect("inside the block header");
        let endian = match magic {
            BYTE_ORDER_MAGIC => Endian::Little,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => Endian::Big,
            magic => return Err(CaptureError::BadByteOrderMagic { offset: at, magic }),
        };
        Ok(Section {
            endian,
            interfaces: Vec::new(),
        })
    }

    /// Reads the pcapng block at `pos` (draft-ietf-opsawg-pcapng §3.1) and moves `pos` past
    /// it. Returns the packet it holds, if any.
    fn next_block(
        &mut self,
        data: &[u8],
        pos: &mut usize,
        stats: &mut CaptureStats,
        last_time: Time,
    ) -> Result<Option<Record>, CaptureError> {
        let at = *pos;
        let header: [u8; BLOCK_HEADER_LEN] = take(data, at)?;
        if Endian::Little.read_u32(&header, 0) == Some(BLOCK_SECTION_HEADER) {
            // A new section may switch byte order; its interfaces start from scratch.
            *self = Section::new(data, at)?;
        }
        let endian = self.endian;
        let field = |at| {
            endian
                .read_u32(&header, at)
                .expect("inside the block header")
        };
        let (block_type, length) = (field(0), field(4));
        if to_usize(length) < MIN_BLOCK_LEN || length % 4 != 0 {
            return Err(CaptureError::BadBlockLength { offset: at, length });
        }
        let block = take_slice(data, at, to_usize(length))?;
        let (rest, trailer) = block.split_at(block.len() - 4);
        let trailing = endian.read_u32(trailer, 0).expect("the trailer is 4 bytes");
        if trailing != length {
            return Err(CaptureError::BlockLengthMismatch {
                offset: at,
                leading: length,
                trailing,
            });
        }
        *pos = at + block.len();
        let body = &rest[BLOCK_HEADER_LEN..];
        let body_start = at + BLOCK_HEADER_LEN;
        let too_short = CaptureError::BlockTooShort {
            offset: at,
            block_type,
        };
        let field = |at: usize| endian.read_u32(body, at).ok_or(too_short.clone());
        let field16 = |at: usize| endian.read_u16(body, at).ok_or(too_short.clone());
        match block_type {
            BLOCK_SECTION_HEADER => {
                let (major, minor) = (field16(4)?, field16(6)?);
                if major != 1 {
                    return Err(CaptureError::UnsupportedPcapNgVersion {
                        offset: at,
                        major,
                        minor,
                    });
                }
                Ok(None)
            }
            BLOCK_INTERFACE_DESCRIPTION => {
                let mut interface = Interface {
                    link: Link::from_link_type(u32::from(field16(0)?)),
                    snaplen: field(4)?,
                    resolution: Resolution::Decimal(6),
                    offset_secs: 0,
                };
                if !interface.apply_options(&body[8..], endian) {
                    stats.malformed_options += 1;
                }
                self.interfaces.push(interface);
                Ok(None)
            }
            BLOCK_ENHANCED_PACKET => {
                let id = field(0)?;
                let units = u64::from(field(4)?) << 32 | u64::from(field(8)?);
                let (captured, original) = (field(12)?, field(16)?);
                let interface = self.interface(id, at)?;
                let frame = body
                    .get(20..)
                    .and_then(|rest| rest.get(..to_usize(captured)))
                    .ok_or(too_short)?;
                let start = body_start + 20;
                Ok(Some(Record {
                    time: interface.time(units),
                    link: interface.link,
                    frame: start..start + frame.len(),
                    cut: captured < original,
                }))
            }
            BLOCK_SIMPLE_PACKET => {
                let original = field(0)?;
                let interface = self.interface(0, at)?;
                // The captured length is implied: the original length, limited by the
                // interface's snaplen and by the block (which also holds padding).
                let mut captured = to_usize(original).min(body.len() - 4);
                if interface.snaplen != 0 {
                    captured = captured.min(to_usize(interface.snaplen));
                }
                let start = body_start + 4;
                Ok(Some(Record {
                    // A Simple Packet Block has no timestamp: it gets the previous packet's
                    // (zero if it is the first packet).
                    time: Some(last_time),
                    link: interface.link,
                    frame: start..start + captured,
                    cut: captured < to_usize(original),
                }))
            }
            _ => {
                stats.other_blocks += 1;
                Ok(None)
            }
        }
    }

    fn interface(&self, id: u32, block_offset: usize) -> Result<&Interface, CaptureError> {
        self.interfaces
            .get(to_usize(id))
            .ok_or(CaptureError::UnknownInterface {
                offset: block_offset,
                interface: id,
            })
    }
}

impl Interface {
    /// Timestamp `units` (in `if_tsresol` units, plus `if_tsoffset` seconds) as a [`Time`],
    /// exact down to the nanosecond (finer resolutions round down). `None` when outside
    /// [`Time`]'s range.
    fn time(&self, units: u64) -> Option<Time> {
        // At most 2^64 · 10^9 < 2^94: no overflow.
        let scaled = u128::from(units) * u128::from(NANOS_PER_SEC);
        let nanos = match self.resolution {
            // 10^n for n > 38 does not fit u128 and exceeds any scaled value: rounds to 0.
            Resolution::Decimal(n) => 10u128.checked_pow(u32::from(n)).map_or(0, |d| scaled / d),
            // n < 128 (a 7-bit field), so the shift is in range.
            Resolution::Binary(n) => scaled >> n,
        };
        let offset = i128::from(self.offset_secs) * i128::from(NANOS_PER_SEC);
        // Both terms are below 2^95 in magnitude: no overflow.
        let total = i128::try_from(nanos).ok()? + offset;
        u64::try_from(total).ok().map(Time::from_nanos)
    }

    /// Applies the options callrec uses (draft-ietf-opsawg-pcapng §4.2). Returns false when
    /// an option is malformed; the options after it are ignored.
    fn apply_options(&mut self, mut options: &[u8], endian: Endian) -> bool {
        while !options.is_empty() {
            let (Some(code), Some(len)) =
                (endian.read_u16(options, 0), endian.read_u16(options, 2))
            else {
                return false;
            };
            let len = usize::from(len);
            let Some(value) = options.get(4..4 + len) else {
                return false;
            };
            match code {
                OPTION_END => return true,
                OPTION_IF_TSRESOL => {
                    let &[resolution] = value else { return false };
                    let exponent = resolution & 0x7f;
                    self.resolution = if resolution & 0x80 == 0 {
                        Resolution::Decimal(exponent)
                    } else {
                        Resolution::Binary(exponent)
                    };
                }
                OPTION_IF_TSOFFSET => {
                    let Some(offset) = endian.read_u64(value, 0).filter(|_| len == 8) else {
                        return false;
                    };
                    self.offset_secs = offset as i64;
                }
                _ => {}
            }
            // Values are padded to 32 bits; a missing final padding ends the list.
            options = options.get(4 + len.next_multiple_of(4)..).unwrap_or(&[]);
        }
        true
    }
}

/// Reads the classic pcap file header, whose magic read little-endian is `magic`.
fn pcap_header(data: &[u8], magic: u32) -> Result<Format, CaptureError> {
    let (endian, nanos) = match magic {
        PCAP_MICROS => (Endian::Little, false),
        PCAP_NANOS => (Endian::Little, true),
        m if m == PCAP_MICROS.swap_bytes() => (Endian::Big, false),
        m if m == PCAP_NANOS.swap_bytes() => (Endian::Big, true),
        _ => return Err(CaptureError::UnknownMagic(magic)),
    };
    let header: [u8; PCAP_HEADER_LEN] = take(data, 0)?;
    let field16 = |at| {
        endian
            .read_u16(&header, at)
            .expect("inside the file header")
    };
    let (major, minor) = (field16(4), field16(6));
    if major != 2 {
        return Err(CaptureError::UnsupportedPcapVersion { major, minor });
    }
    // The link type is the low 16 bits; the high bits may describe an FCS, which the IP
    // length trims away anyway. `thiszone` (bytes 8..12) is always 0 in practice: ignored.
    let network = endian
        .read_u32(&header, 20)
        .expect("inside the file header");
    Ok(Format::Pcap {
        endian,
        nanos,
        link: Link::from_link_type(network & 0xffff),
    })
}

impl Endian {
    fn read_u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let raw = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(raw),
            Endian::Big => u16::from_be_bytes(raw),
        })
    }

    fn read_u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        })
    }

    fn read_u64(self, bytes: &[u8], at: usize) -> Option<u64> {
        let raw = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(raw),
            Endian::Big => u64::from_be_bytes(raw),
        })
    }
}

/// `len` bytes at `at`, or the error saying the file ends first.
fn take_slice(data: &[u8], at: usize, len: usize) -> Result<&[u8], CaptureError> {
    at.checked_add(len)
        .and_then(|end| data.get(at..end))
        .ok_or(CaptureError::Truncated {
            offset: at,
            needed: len,
            available: data.len().saturating_sub(at),
        })
}

/// The `N` bytes at `at`, or the error saying the file ends first.
fn take<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N], CaptureError> {
    let bytes = take_slice(data, at, N)?;
    Ok(bytes.try_into().expect("take_slice returns N bytes"))
}

/// A 32-bit length as an index; usize is at least 32 bits on every target callrec builds for.
fn to_usize(n: u32) -> usize {
    usize::try_from(n).expect("usize holds u32")
}
