//! Capture writer for fixtures and tests: UDP datagrams (or raw frames) in, capture file out.
//!
//! Writes little-endian files with nanosecond timestamps so times survive exactly: classic
//! pcap with magic 0xa1b23c4d, or pcapng with one section and one interface (`if_tsresol` 9).
//! Headers are what a capture on the receiving host would hold: IPv4 with DF set and a
//! correct header checksum, IPv6, UDP with a correct checksum in both.

use std::net::{IpAddr, SocketAddr};

use crate::time::Time;

/// Largest frame written: libpcap's largest snapshot length, which readers (tshark) enforce.
pub const MAX_FRAME_LEN: usize = 262_144;

/// The capture file format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap, nanosecond variant.
    Pcap,
    /// pcapng: one Section Header Block, one Interface Description Block, Enhanced Packet
    /// Blocks.
    PcapNg,
}

/// The link layer written in front of each IP packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet II, no VLAN tag.
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    LinuxSll,
    /// Linux cooked capture v2 (`tcpdump -i any` since libpcap 1.10).
    LinuxSll2,
    /// No link header.
    RawIp,
}

/// Why the writer cannot write a packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Source and destination are not both IPv4 or both IPv6.
    #[error("source {src} and destination {dst} are of different address families")]
    MixedAddressFamilies { src: SocketAddr, dst: SocketAddr },
    /// The payload does not fit the 16-bit IP or UDP length fields.
    #[error("UDP payload of {len} bytes exceeds the {max}-byte maximum")]
    PayloadTooLarge { len: usize, max: usize },
    /// A raw frame longer than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte maximum")]
    FrameTooLarge { len: usize },
    /// A time past 2106, beyond classic pcap's 32-bit seconds.
    #[error("time {0:?} does not fit a classic pcap timestamp")]
    TimeOutOfRange(Time),
}

/// Builds a capture file in memory.
#[derive(Debug)]
pub struct PcapWriter {
    format: CaptureFormat,
    link: LinkType,
    out: Vec<u8>,
}

const SOURCE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DESTINATION_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ARPHRD_ETHER: u16 = 1;
const IPPROTO_UDP: u8 = 17;
const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const NANOS_PER_SEC: u64 = 1_000_000_000;

impl PcapWriter {
    /// Starts a capture: writes the file header (pcap) or section and interface (pcapng).
    pub fn new(format: CaptureFormat, link: LinkType) -> PcapWriter {
        let mut out = Vec::new();
        let snaplen = MAX_FRAME_LEN as u32;
        match format {
            CaptureFormat::Pcap => {
                put_u32(&mut out, 0xa1b2_3c4d);
                put_u16(&mut out, 2);
                put_u16(&mut out, 4);
                put_u32(&mut out, 0); // thiszone
                put_u32(&mut out, 0); // sigfigs
                put_u32(&mut out, snaplen);
                put_u32(&mut out, link.link_type());
            }
            CaptureFormat::PcapNg => {
                let mut section = Vec::new();
                put_u32(&mut section, 0x1a2b_3c4d);
                put_u16(&mut section, 1);
                put_u16(&mut section, 0);
                section.extend_from_slice(&u64::MAX.to_le_bytes()); // length not given
                put_block(&mut out, 0x0a0d_0d0a, &section);

                let mut interface = Vec::new();
                put_u16(&mut interface, link.link_type() as u16);
                put_u16(&mut interface, 0);
                put_u32(&mut interface, snaplen);
                // if_tsresol = 9: nanoseconds. Then opt_endofopt.
                interface.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0]);
                interface.extend_from_slice(&[0, 0, 0, 0]);
                put_block(&mut out, 1, &interface);
            }
        }
        PcapWriter { format, link, out }
    }

    /// Writes one UDP datagram in IPv4 or IPv6, by the addresses' family.
    pub fn write_udp(
        &mut self,
        time: Time,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Result<(), WriteError> {
        let udp_len = UDP_HEADER_LEN + payload.len();
        // The IP header, the checksum pseudo-header, the EtherType.
        let (ip_header, pseudo_header, ethertype) = match (src.ip(), dst.ip()) {
            (IpAddr::V4(src_ip), IpAddr::V4(dst_ip)) => {
                let max = usize::from(u16::MAX) - IPV4_HEADER_LEN - UDP_HEADER_LEN;
                if payload.len() > max {
                    let len = payload.len();
                    return Err(WriteError::PayloadTooLarge { len, max });
                }
                // RFC 791 §3.1: version 4, IHL 5, DF, TTL 64.
                let mut header = vec![0x45, 0];
                put_u16_be(&mut header, (IPV4_HEADER_LEN + udp_len) as u16);
                header.extend_from_slice(&[0, 0, 0x40, 0, 64, IPPROTO_UDP, 0, 0]);
                header.extend_from_slice(&src_ip.octets());
                header.extend_from_slice(&dst_ip.octets());
                let checksum = internet_checksum(&[&header]);
                header[10..12].copy_from_slice(&checksum.to_be_bytes());
                // RFC 768: source, destination, zero, protocol, UDP length.
                let mut pseudo = [src_ip.octets(), dst_ip.octets()].concat();
                pseudo.extend_from_slice(&[0, IPPROTO_UDP]);
                put_u16_be(&mut pseudo, udp_len as u16);
                (header, pseudo, ETHERTYPE_IPV4)
            }
            (IpAddr::V6(src_ip), IpAddr::V6(dst_ip)) => {
                let max = usize::from(u16::MAX) - UDP_HEADER_LEN;
                if payload.len() > max {
                    let len = payload.len();
                    return Err(WriteError::PayloadTooLarge { len, max });
                }
                // RFC 8200 §3: version 6, payload length, next header UDP, hop limit 64.
                let mut header = vec![0x60, 0, 0, 0];
                put_u16_be(&mut header, udp_len as u16);
                header.extend_from_slice(&[IPPROTO_UDP, 64]);
                header.extend_from_slice(&src_ip.octets());
                header.extend_from_slice(&dst_ip.octets());
                // RFC 8200 §8.1: source, destination, 32-bit length, zeros, next header.
                let mut pseudo = [src_ip.octets(), dst_ip.octets()].concat();
                pseudo.extend_from_slice(&(udp_len as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_UDP]);
                (header, pseudo, ETHERTYPE_IPV6)
            }
            _ => return Err(WriteError::MixedAddressFamilies { src, dst }),
        };
        let mut udp = Vec::with_capacity(udp_len);
        put_u16_be(&mut udp, src.port());
        put_u16_be(&mut udp, dst.port());
        put_u16_be(&mut udp, udp_len as u16);
        put_u16_be(&mut udp, 0);
        udp.extend_from_slice(payload);
        // A computed 0 is sent as all ones: 0 means "no checksum" (RFC 768).
        let checksum = match internet_checksum(&[&pseudo_header, &udp]) {
            0 => 0xffff,
            sum => sum,
        };
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());

        let mut frame = self.link_header(ethertype);
        frame.extend_from_slice(&ip_header);
        frame.extend_from_slice(&udp);
        self.write_raw_frame(time, &frame)
    }

    /// Writes `frame` as it is, link header included: for tests that need odd frames.
    pub fn write_raw_frame(&mut self, time: Time, frame: &[u8]) -> Result<(), WriteError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(WriteError::FrameTooLarge { len: frame.len() });
        }
        let len = frame.len() as u32;
        let nanos = time.as_nanos();
        match self.format {
            CaptureFormat::Pcap => {
                let secs = u32::try_from(nanos / NANOS_PER_SEC)
                    .map_err(|_| WriteError::TimeOutOfRange(time))?;
                put_u32(&mut self.out, secs);
                put_u32(&mut self.out, (nanos % NANOS_PER_SEC) as u32);
                put_u32(&mut self.out, len);
                put_u32(&mut self.out, len);
                self.out.extend_from_slice(frame);
            }
            CaptureFormat::PcapNg => {
                let mut body = Vec::with_capacity(20 + frame.len() + 3);
                put_u32(&mut body, 0); // interface id
                put_u32(&mut body, (nanos >> 32) as u32);
                put_u32(&mut body, nanos as u32);
                put_u32(&mut body, len);
                put_u32(&mut body, len);
                body.extend_from_slice(frame);
                put_block(&mut self.out, 6, &body);
            }
        }
        Ok(())
    }

    /// The capture file.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    fn link_header(&self, ethertype: u16) -> Vec<u8> {
        let mut header = Vec::with_capacity(20);
        match self.link {
            LinkType::Ethernet => {
                header.extend_from_slice(&DESTINATION_MAC);
                header.extend_from_slice(&SOURCE_MAC);
                put_u16_be(&mut header, ethertype);
            }
            LinkType::LinuxSll => {
                put_u16_be(&mut header, 0); // packet type: to us
                put_u16_be(&mut header, ARPHRD_ETHER);
                put_u16_be(&mut header, SOURCE_MAC.len() as u16);
                header.extend_from_slice(&SOURCE_MAC);
                header.extend_from_slice(&[0, 0]);
                put_u16_be(&mut header, ethertype);
            }
            LinkType::LinuxSll2 => {
                put_u16_be(&mut header, ethertype);
                put_u16_be(&mut header, 0); // reserved
                header.extend_from_slice(&1u32.to_be_bytes()); // interface index
                put_u16_be(&mut header, ARPHRD_ETHER);
                header.push(0); // packet type: to us
                header.push(SOURCE_MAC.len() as u8);
                header.extend_from_slice(&SOURCE_MAC);
                header.extend_from_slice(&[0, 0]);
            }
            LinkType::RawIp => {}
        }
        header
    }
}

impl LinkType {
    /// The tcpdump.org link-type number.
    pub fn link_type(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
        }
    }
}

/// RFC 1071 checksum of the concatenated parts; every part but the last has even length.
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Appends a pcapng block: type, total length, body padded to 32 bits, total length.
fn put_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let padded = body.len().next_multiple_of(4);
    let total = (12 + padded) as u32;
    put_u32(out, block_type);
    put_u32(out, total);
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    put_u32(out, total);
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u16_be(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}
