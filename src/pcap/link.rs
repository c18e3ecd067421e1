//! Link layer, IP and UDP decoding: from one captured frame to the UDP datagram inside it.
//!
//! Works on borrowed bytes and returns the payload as a range, so the reader slices its
//! `Bytes` once per datagram. Checksums (IPv4 header, UDP) are never verified: captures taken
//! on the sending host carry checksums the NIC fills in later (offload), so they are often
//! wrong in the file while the packet on the wire was fine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

/// Most IPv6 extension headers walked before giving up on a packet. RFC 8200 §4.1 allows
/// each header once (destination options twice), so a real chain is far shorter.
pub const MAX_IPV6_EXTENSION_HEADERS: usize = 8;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q customer VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (Q-in-Q outer tag).
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Tags decoded in front of the IP header: 802.1ad outer tag plus 802.1Q inner tag.
const MAX_VLAN_TAGS: usize = 2;

const IPPROTO_UDP: u8 = 17;
const IPV6_HOP_BY_HOP: u8 = 0;
const IPV6_ROUTING: u8 = 43;
const IPV6_FRAGMENT: u8 = 44;
const IPV6_DESTINATION_OPTIONS: u8 = 60;

/// The link layers callrec decodes, by the capture's link type (tcpdump.org link-type list).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// BSD loopback (`LINKTYPE_NULL`, 0): a 4-byte address family in the capturing host's
    /// byte order.
    Null,
    /// Ethernet II (`LINKTYPE_ETHERNET`, 1), with up to [`MAX_VLAN_TAGS`] VLAN tags.
    Ethernet,
    /// Raw IP, version from the first nibble (`LINKTYPE_RAW` 101, and the platform `DLT_RAW`
    /// values 12 and 14 found in old files).
    RawIp,
    /// Raw IPv4 only (`LINKTYPE_IPV4`, 228).
    Ipv4,
    /// Raw IPv6 only (`LINKTYPE_IPV6`, 229).
    Ipv6,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113): 16-byte header.
    LinuxSll,
    /// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276): 20-byte header.
    LinuxSll2,
}

impl Link {
    /// The decoder for a capture's link type, `None` when callrec does not decode it.
    pub(super) fn from_link_type(link_type: u32) -> Option<Link> {
        Some(match link_type {
            0 => Link::Null,
            1 => Link::Ethernet,
            12 | 14 | 101 => Link::RawIp,
            113 => Link::LinuxSll,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            276 => Link::LinuxSll2,
            _ => return None,
        })
    }
}

/// A UDP datagram found in a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Udp {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Where the UDP payload lies in the frame.
    pub payload: Range<usize>,
}

/// Why a frame yields no datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Skip {
    /// Not IP, or IP carrying something other than UDP.
    NotUdp,
    /// A piece of a fragmented IP datagram. Fragments are not reassembled: RTP packets are
    /// far below any path MTU, so a fragment is never part of the media callrec records.
    Fragment,
    /// A header or length field claims bytes beyond the end of the frame.
    Short,
    /// A header field is invalid (wrong IP version, IHL below 5, UDP length below 8...).
    Malformed,
    /// More than [`MAX_IPV6_EXTENSION_HEADERS`] IPv6 extension headers.
    TooManyExtensionHeaders,
}

/// Finds the UDP datagram in `frame`, captured on `link`.
pub(super) fn decode(link: Link, frame: &[u8]) -> Result<Udp, Skip> {
    match link {
        Link::Null => {
            // The family is in the capturing host's byte order, not the file's; families are
            // small, so a value with high bits set was written the other way round.
            let raw = u32::from_le_bytes(field(frame, 0).ok_or(Skip::Short)?);
            let family = if raw > 0xffff { raw.swap_bytes() } else { raw };
            match family {
                2 => ipv4(frame, 4),
                // AF_INET6 on NetBSD/OpenBSD, FreeBSD, macOS.
                24 | 28 | 30 => ipv6(frame, 4),
                _ => Err(Skip::NotUdp),
            }
        }
        Link::Ethernet => ethertype(frame, 12, 14),
        Link::RawIp => match frame.first().ok_or(Skip::Short)? >> 4 {
            4 => ipv4(frame, 0),
            6 => ipv6(frame, 0),
            _ => Err(Skip::NotUdp),
        },
        Link::Ipv4 => ipv4(frame, 0),
        Link::Ipv6 => ipv6(frame, 0),
        Link::LinuxSll => ethertype(frame, 14, 16),
        Link::LinuxSll2 => ethertype(frame, 0, 20),
    }
}

/// Decodes the packet at `payload` whose EtherType is at `type_at`, stepping over VLAN tags
/// (each: 2-byte TCI, then the inner EtherType, then the payload).
fn ethertype(frame: &[u8], mut type_at: usize, mut payload: usize) -> Result<Udp, Skip> {
    for _ in 0..=MAX_VLAN_TAGS {
        match u16::from_be_bytes(field(frame, type_at).ok_or(Skip::Short)?) {
            ETHERTYPE_IPV4 => return ipv4(frame, payload),
            ETHERTYPE_IPV6 => return ipv6(frame, payload),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ => {
                type_at = payload + 2;
                payload += 4;
            }
            _ => return Err(Skip::NotUdp),
        }
    }
    Err(Skip::NotUdp)
}

// Past the link header, a read beyond the frame is `Short` (the capture cut the packet), while
// a read beyond the length the IP header declares is `Malformed` (the packet lies about itself).

/// IPv4 header at `at` (RFC 791 §3.1).
fn ipv4(frame: &[u8], at: usize) -> Result<Udp, Skip> {
    let [version_ihl] = field(frame, at).ok_or(Skip::Short)?;
    if version_ihl >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes(field(frame, at + 2).ok_or(Skip::Short)?));
    if header_len < 20 || total_len < header_len {
        return Err(Skip::Malformed);
    }
    // Bytes past the total length are link padding (Ethernet pads to 60 bytes) or an FCS.
    let end = at + total_len;
    let packet = frame.get(..end).ok_or(Skip::Short)?;
    let header: [u8; 20] = field(packet, at).ok_or(Skip::Malformed)?;
    let flags_offset = u16::from_be_bytes([header[6], header[7]]);
    let more_fragments = flags_offset & 0x2000 != 0;
    let fragment_offset = flags_offset & 0x1fff;
    if more_fragments || fragment_offset != 0 {
        return Err(Skip::Fragment);
    }
    if header[9] != IPPROTO_UDP {
        return Err(Skip::NotUdp);
    }
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    udp(packet, at + header_len, src.into(), dst.into())
}

/// IPv6 header at `at` (RFC 8200 §3), then its extension headers (§4).
fn ipv6(frame: &[u8], at: usize) -> Result<Udp, Skip> {
    let header: [u8; 40] = field(frame, at).ok_or(Skip::Short)?;
    if header[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let packet = frame.get(..at + 40 + payload_len).ok_or(Skip::Short)?;
    let src: [u8; 16] = field(&header, 8).ok_or(Skip::Malformed)?;
    let dst: [u8; 16] = field(&header, 24).ok_or(Skip::Malformed)?;
    let (src, dst) = (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into());
    let mut next_header = header[6];
    let mut pos = at + 40;
    for _ in 0..=MAX_IPV6_EXTENSION_HEADERS {
        match next_header {
            IPPROTO_UDP => return udp(packet, pos, src, dst),
            IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_DESTINATION_OPTIONS => {
                let [next, len] = field(packet, pos).ok_or(Skip::Malformed)?;
                next_header = next;
                pos += (usize::from(len) + 1) * 8;
            }
            // RFC 8200 §4.5. An atomic fragment (offset 0, no more fragments; RFC 6946) is a
            // whole datagram and is decoded.
            IPV6_FRAGMENT => {
                let [next, _, offset_high, offset_low_flags] =
                    field(packet, pos).ok_or(Skip::Malformed)?;
                if offset_high != 0 || offset_low_flags & 0xf9 != 0 {
                    return Err(Skip::Fragment);
                }
                next_header = next;
                pos += 8;
            }
            _ => return Err(Skip::NotUdp),
        }
    }
    Err(Skip::TooManyExtensionHeaders)
}

/// UDP header at `at` (RFC 768); `packet` ends where the IP header says the packet ends.
fn udp(packet: &[u8], at: usize, src: IpAddr, dst: IpAddr) -> Result<Udp, Skip> {
    let header: [u8; 8] = field(packet, at).ok_or(Skip::Malformed)?;
    let src_port = u16::from_be_bytes([header[0], header[1]]);
    let dst_port = u16::from_be_bytes([header[2], header[3]]);
    let udp_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    // A UDP length shorter than the IP payload leaves padding behind it; a longer one claims
    // bytes the IP packet does not hold.
    if udp_len < 8 || at + udp_len > packet.len() {
        return Err(Skip::Malformed);
    }
    Ok(Udp {
        src: SocketAddr::new(src, src_port),
        dst: SocketAddr::new(dst, dst_port),
        payload: at + 8..at + udp_len,
    })
}

/// `N` bytes at `at`, `None` if they run past the end.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}
