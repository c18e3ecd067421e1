//! Reader and writer tests. Hand-built captures cover what the writer never produces (big
//! endian, microseconds, other link types, odd frames, hostile fields).

use std::net::SocketAddr;

use bytes::Bytes;

use super::*;
use crate::time::Time;

const FORMATS: [CaptureFormat; 2] = [CaptureFormat::Pcap, CaptureFormat::PcapNg];
const LINKS: [LinkType; 4] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
];

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn v4_pair() -> (SocketAddr, SocketAddr) {
    (addr("192.0.2.10:40000"), addr("198.51.100.7:20002"))
}

fn v6_pair() -> (SocketAddr, SocketAddr) {
    (addr("[2001:db8::1]:5004"), addr("[2001:db8:ffff::2]:6006"))
}

fn datagram(time: u64, (src, dst): (SocketAddr, SocketAddr), payload: &[u8]) -> Datagram {
    Datagram {
        time: Time::from_nanos(time),
        src,
        dst,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Every datagram of a capture, the error that ended it (if any), and the stats.
fn read_all(file: &[u8]) -> (Vec<Datagram>, Option<CaptureError>, CaptureStats) {
    let data = Bytes::copy_from_slice(file);
    let mut reader = CaptureReader::new(data.clone()).expect("capture header");
    let mut datagrams = Vec::new();
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(d) => {
                let range = data.as_ptr_range();
                assert!(range.contains(&d.payload.as_ptr()) || d.payload.is_empty());
                datagrams.push(d);
            }
            Err(e) => {
                assert!(error.is_none(), "a second error after {e:?}");
                error = Some(e);
            }
        }
    }
    assert!(reader.next().is_none(), "fused");
    (datagrams, error, reader.stats().clone())
}

/// Datagrams only, asserting the capture had no structural error.
fn read_ok(file: &[u8]) -> (Vec<Datagram>, CaptureStats) {
    let (datagrams, error, stats) = read_all(file);
    assert_eq!(error, None);
    (datagrams, stats)
}

fn write(format: CaptureFormat, link: LinkType, datagrams: &[Datagram]) -> Vec<u8> {
    let mut writer = PcapWriter::new(format, link);
    for d in datagrams {
        writer
            .write_udp(d.time, d.src, d.dst, &d.payload)
            .expect("writable datagram");
    }
    writer.finish()
}

fn stats(records: u64, udp: u64) -> CaptureStats {
    CaptureStats {
        records,
        udp_datagrams: udp,
        ..CaptureStats::default()
    }
}

/// The IPv4 or IPv6 packet (no link header) the writer makes for this datagram.
fn ip_packet(pair: (SocketAddr, SocketAddr), payload: &[u8]) -> Vec<u8> {
    let mut writer = PcapWriter::new(CaptureFormat::Pcap, LinkType::RawIp);
    writer
        .write_udp(Time::ZERO, pair.0, pair.1, payload)
        .expect("writable");
    writer.finish()[24 + 16..].to_vec()
}

fn ethernet(ethertypes: &[u16], packet: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    for (i, ethertype) in ethertypes.iter().enumerate() {
        frame.extend_from_slice(&ethertype.to_be_bytes());
        if i + 1 < ethertypes.len() {
            frame.extend_from_slice(&(100 + i as u16).to_be_bytes()); // VLAN id
        }
    }
    frame.extend_from_slice(packet);
    frame
}

/// A capture of `frames`, one per millisecond from t = 1 s.
fn capture(format: CaptureFormat, link: LinkType, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut writer = PcapWriter::new(format, link);
    for (i, frame) in frames.iter().enumerate() {
        let time = Time::from_nanos(1_000_000_000 + i as u64 * 1_000_000);
        writer.write_raw_frame(time, frame).expect("writable frame");
    }
    writer.finish()
}

// ---- Hand-built files ----

#[derive(Copy, Clone)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

fn classic_header(e: Endian, magic: u32, link_type: u32) -> Vec<u8> {
    let mut out = e.u32(magic).to_vec();
    out.extend(e.u16(2));
    out.extend(e.u16(4));
    out.extend(e.u32(0));
    out.extend(e.u32(0));
    out.extend(e.u32(65535));
    out.extend(e.u32(link_type));
    out
}

fn classic_record(e: Endian, secs: u32, fraction: u32, original: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [secs, fraction, data.len() as u32, original] {
        out.extend(e.u32(v));
    }
    out.extend_from_slice(data);
    out
}

fn block(e: Endian, block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().next_multiple_of(4);
    let total = 12 + padded as u32;
    let mut out = e.u32(block_type).to_vec();
    out.extend(e.u32(total));
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out.extend(e.u32(total));
    out
}

fn shb(e: Endian) -> Vec<u8> {
    let mut body = e.u32(0x1a2b_3c4d).to_vec();
    body.extend(e.u16(1));
    body.extend(e.u16(0));
    body.extend(e.u64(u64::MAX));
    block(e, 0x0a0d_0d0a, &body)
}

/// An Interface Description Block with options given as (code, value).
fn idb(e: Endian, link_type: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = e.u16(link_type).to_vec();
    body.extend(e.u16(0));
    body.extend(e.u32(snaplen));
    for (code, value) in options {
        body.extend(e.u16(*code));
        body.extend(e.u16(value.len() as u16));
        body.extend_from_slice(value);
        body.resize(body.len().next_multiple_of(4), 0);
    }
    body.extend([0, 0, 0, 0]);
    block(e, 1, &body)
}

fn epb(e: Endian, interface: u32, units: u64, original: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for v in [
        interface,
        (units >> 32) as u32,
        units as u32,
        data.len() as u32,
        original,
    ] {
        body.extend(e.u32(v));
    }
    body.extend_from_slice(data);
    block(e, 6, &body)
}

fn spb(e: Endian, original: u32, data: &[u8]) -> Vec<u8> {
    let mut body = e.u32(original).to_vec();
    body.extend_from_slice(data);
    block(e, 3, &body)
}

// ---- Writer → reader ----

#[test]
fn round_trip_every_format_link_and_family() {
    // Times down to the nanosecond, including the last one classic pcap can hold.
    let last_pcap_time = u64::from(u32::MAX) * 1_000_000_000 + 999_999_999;
    for pair in [v4_pair(), v6_pair()] {
        let sent = vec![
            datagram(0, pair, b""),
            datagram(1_700_000_000_123_456_789, pair, b"\x80\x00\x00\x01rtp"),
            datagram(1_700_000_000_143_456_790, (pair.1, pair.0), &[0xa5; 160]),
            datagram(1_700_000_001_000_000_001, pair, &[7; 1401]),
            datagram(last_pcap_time, pair, b"x"),
        ];
        for format in FORMATS {
            for link in LINKS {
                let file = write(format, link, &sent);
                let (received, stats) = read_ok(&file);
                assert!(received == sent, "{format:?} {link:?} {pair:?}");
                assert_eq!(stats, self::stats(5, 5));
            }
        }
    }
}

#[test]
fn pcapng_keeps_times_beyond_classic_pcap() {
    let sent = [datagram(u64::MAX, v4_pair(), b"late")];
    let file = write(CaptureFormat::PcapNg, LinkType::RawIp, &sent);
    assert_eq!(read_ok(&file).0, sent);
    let mut writer = PcapWriter::new(CaptureFormat::Pcap, LinkType::RawIp);
    let (src, dst) = v4_pair();
    let late = Time::from_nanos(u64::from(u32::MAX) * 1_000_000_000 + 1_000_000_000);
    assert_eq!(
        writer.write_udp(late, src, dst, b""),
        Err(WriteError::TimeOutOfRange(late))
    );
}

#[test]
fn writer_rejects_what_cannot_be_written() {
    let mut writer = PcapWriter::new(CaptureFormat::PcapNg, LinkType::Ethernet);
    let (v4, v6) = (v4_pair().0, v6_pair().1);
    assert_eq!(
        writer.write_udp(Time::ZERO, v4, v6, b""),
        Err(WriteError::MixedAddressFamilies { src: v4, dst: v6 })
    );
    let big = vec![0; 65_508];
    assert_eq!(
        writer.write_udp(Time::ZERO, v4, v4, &big),
        Err(WriteError::PayloadTooLarge {
            len: 65_508,
            max: 65_507
        })
    );
    assert_eq!(writer.write_udp(Time::ZERO, v4, v4, &big[1..]), Ok(()));
    assert_eq!(
        writer.write_udp(Time::ZERO, v6, v6, &vec![0; 65_528]),
        Err(WriteError::PayloadTooLarge {
            len: 65_528,
            max: 65_527
        })
    );
    assert_eq!(
        writer.write_udp(Time::ZERO, v6, v6, &vec![0; 65_527]),
        Ok(())
    );
    assert_eq!(
        writer.write_raw_frame(Time::ZERO, &vec![0; 262_145]),
        Err(WriteError::FrameTooLarge { len: 262_145 })
    );
    let (datagrams, stats) = read_ok(&writer.finish());
    assert_eq!(
        datagrams
            .iter()
            .map(|d| d.payload.len())
            .collect::<Vec<_>>(),
        [65_507, 65_527]
    );
    assert_eq!(stats, self::stats(2, 2));
}

#[test]
fn writer_file_headers_are_exact() {
    let pcap = PcapWriter::new(CaptureFormat::Pcap, LinkType::LinuxSll2).finish();
    assert_eq!(
        pcap,
        [0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0x14, 1, 0, 0]
    );
    let pcapng = PcapWriter::new(CaptureFormat::PcapNg, LinkType::Ethernet).finish();
    #[rustfmt::skip]
    let expected = [
        // Section Header Block: type, length 28, byte-order magic, version 1.0, length -1.
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
        // Interface Description Block: Ethernet, snaplen 262144, if_tsresol 9, end.
        1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0,
        9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
    ];
    assert_eq!(pcapng, expected);
}

/// RFC 1071 sum of 16-bit words, folded; a correct checksum makes it 0xffff.
fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        sum += u32::from(chunk[0]) << 8 | u32::from(*chunk.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn writer_ipv4_and_udp_headers_are_exact_and_checksums_verify() {
    let packet = ip_packet(v4_pair(), b"abc");
    #[rustfmt::skip]
    let expected_header = [
        0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, /* checksum */ 0, 0,
        192, 0, 2, 10, 198, 51, 100, 7,
        0x9c, 0x40, 0x4e, 0x22, 0, 11, /* checksum */ 0, 0, b'a', b'b', b'c',
    ];
    let mut without_checksums = packet.clone();
    without_checksums[10..12].fill(0);
    without_checksums[26..28].fill(0);
    assert_eq!(without_checksums, expected_header);
    assert_eq!(ones_complement_sum(&packet[..20]), 0xffff);
    let mut pseudo = packet[12..20].to_vec();
    pseudo.extend([0, 17, 0, 11]);
    pseudo.extend_from_slice(&packet[20..]);
    assert_eq!(ones_complement_sum(&pseudo), 0xffff);
}

#[test]
fn writer_sends_a_zero_udp_checksum_as_all_ones() {
    // Pick the payload word that makes the one's-complement sum 0xffff: checksum 0.
    let packet = ip_packet(v4_pair(), &[0, 0]);
    let mut pseudo = packet[12..20].to_vec();
    pseudo.extend([0, 17, 0, 10]);
    pseudo.extend_from_slice(&packet[20..26]);
    let word = 0xffff - ones_complement_sum(&pseudo);
    let packet = ip_packet(v4_pair(), &word.to_be_bytes());
    assert_eq!(packet[26..28], [0xff, 0xff]);
}

#[test]
fn writer_ipv6_udp_checksum_verifies() {
    for payload in [&b""[..], b"a", b"odd length payload!"] {
        let packet = ip_packet(v6_pair(), payload);
        assert_eq!(packet.len(), 48 + payload.len());
        assert_eq!(
            packet[..8],
            [0x60, 0, 0, 0, 0, 8 + payload.len() as u8, 17, 64]
        );
        let mut pseudo = packet[8..40].to_vec();
        pseudo.extend([0, 0, 0, 8 + payload.len() as u8, 0, 0, 0, 17]);
        pseudo.extend_from_slice(&packet[40..]);
        assert_eq!(ones_complement_sum(&pseudo), 0xffff, "{payload:?}");
        assert_ne!(packet[46..48], [0, 0], "IPv6 UDP checksum is mandatory");
    }
}

// ---- Link layers ----

#[test]
fn vlan_tagged_frames() {
    let packet = ip_packet(v4_pair(), b"tagged");
    let packet6 = ip_packet(v6_pair(), b"tagged6");
    let frames = vec![
        ethernet(&[0x8100, 0x0800], &packet),
        ethernet(&[0x88a8, 0x8100, 0x0800], &packet),
        ethernet(&[0x8100, 0x86dd], &packet6),
        // Three tags: beyond what callrec decodes.
        ethernet(&[0x88a8, 0x8100, 0x8100, 0x0800], &packet),
    ];
    let file = capture(CaptureFormat::Pcap, LinkType::Ethernet, &frames);
    let (datagrams, stats) = read_ok(&file);
    let payloads: Vec<_> = datagrams.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, [&b"tagged"[..], b"tagged", b"tagged6"]);
    assert_eq!(datagrams[2].src, v6_pair().0);
    assert_eq!(
        stats,
        CaptureStats {
            not_udp: 1,
            ..self::stats(4, 3)
        }
    );
    // Cooked captures carry the tag after their header: protocol 0x8100, then TCI and type.
    let mut sll2 = vec![
        0x81, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend([0, 100, 0x08, 0x00]);
    sll2.extend_from_slice(&packet);
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x81, 0x00];
    sll.extend([0, 100, 0x86, 0xdd]);
    sll.extend_from_slice(&packet6);
    for (link, frame, sent) in [
        (
            LinkType::LinuxSll2,
            sll2,
            datagram(1_000_000_000, v4_pair(), b"tagged"),
        ),
        (
            LinkType::LinuxSll,
            sll,
            datagram(1_000_000_000, v6_pair(), b"tagged6"),
        ),
    ] {
        let file = capture(CaptureFormat::PcapNg, link, &[frame]);
        assert_eq!(read_ok(&file), (vec![sent], self::stats(1, 1)));
    }
}

#[test]
fn ethernet_padding_and_short_udp_length_are_trimmed() {
    // A 2-byte payload makes a 44-byte frame; Ethernet pads it to 60 bytes.
    let mut padded = ethernet(&[0x0800], &ip_packet(v4_pair(), b"hi"));
    assert_eq!(padded.len(), 44);
    padded.resize(60, 0xee);
    // A UDP length (10) shorter than the IP payload (8 + 4): the rest is not payload.
    let mut short_udp = ethernet(&[0x0800], &ip_packet(v4_pair(), b"hiXY"));
    short_udp[14 + 24..14 + 26].copy_from_slice(&10u16.to_be_bytes());
    let file = capture(
        CaptureFormat::PcapNg,
        LinkType::Ethernet,
        &[padded, short_udp],
    );
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(
        datagrams,
        [
            datagram(1_000_000_000, v4_pair(), b"hi"),
            datagram(1_001_000_000, v4_pair(), b"hi"),
        ]
    );
    assert_eq!(stats, self::stats(2, 2));
}

#[test]
fn non_udp_frames_are_counted_and_skipped() {
    let mut tcp = ip_packet(v4_pair(), b"not really tcp");
    tcp[9] = 6;
    let mut tcp6 = ip_packet(v6_pair(), b"nor this");
    tcp6[6] = 6;
    let arp = ethernet(&[0x0806], &[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1]);
    let udp = ethernet(&[0x0800], &ip_packet(v4_pair(), b"media"));
    let frames = vec![
        ethernet(&[0x0800], &tcp),
        arp,
        ethernet(&[0x86dd], &tcp6),
        udp,
    ];
    let file = capture(CaptureFormat::Pcap, LinkType::Ethernet, &frames);
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(datagrams, [datagram(1_003_000_000, v4_pair(), b"media")]);
    assert_eq!(
        stats,
        CaptureStats {
            not_udp: 3,
            ..self::stats(4, 1)
        }
    );
}

#[test]
fn ip_fragments_are_counted_and_skipped() {
    let packet = ip_packet(v4_pair(), b"fragment");
    let mut first = packet.clone();
    first[6] = 0x20; // MF, offset 0
    let mut later = packet.clone();
    later[6..8].copy_from_slice(&0x0010u16.to_be_bytes()); // offset 16 bytes, no MF
    let mut df_only = packet.clone();
    df_only[6] = 0x40;
    // IPv6: a Fragment header in front of UDP (RFC 8200 §4.5).
    let v6 = ip_packet(v6_pair(), b"frag6");
    let with_fragment_header = |offset_flags: u16| {
        let mut p = v6[..40].to_vec();
        p[4..6].copy_from_slice(&((v6.len() - 40 + 8) as u16).to_be_bytes());
        p[6] = 44;
        p.extend([17, 0]);
        p.extend(offset_flags.to_be_bytes());
        p.extend([0, 0, 0, 1]);
        p.extend_from_slice(&v6[40..]);
        p
    };
    let frames = vec![
        first,
        later,
        df_only,
        with_fragment_header(0x0001), // offset 0, M set
        with_fragment_header(0x0008), // offset 8 bytes
        with_fragment_header(0x0000), // atomic fragment: a whole datagram
    ];
    let file = capture(CaptureFormat::Pcap, LinkType::RawIp, &frames);
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(
        datagrams,
        [
            datagram(1_002_000_000, v4_pair(), b"fragment"),
            datagram(1_005_000_000, v6_pair(), b"frag6"),
        ]
    );
    assert_eq!(
        stats,
        CaptureStats {
            ip_fragments: 4,
            ..self::stats(6, 2)
        }
    );
}

/// An IPv6 packet with `headers` extension headers of type `kind` (8 bytes each) before UDP.
fn ipv6_with_extensions(kind: u8, headers: usize, payload: &[u8]) -> Vec<u8> {
    let plain = ip_packet(v6_pair(), payload);
    let mut p = plain[..40].to_vec();
    let length = plain.len() - 40 + headers * 8;
    p[4..6].copy_from_slice(&(length as u16).to_be_bytes());
    p[6] = kind;
    for i in 0..headers {
        let next = if i + 1 == headers { 17 } else { kind };
        p.extend([next, 0, 1, 4, 0, 0, 0, 0]); // PadN option filling the header
    }
    p.extend_from_slice(&plain[40..]);
    p
}

#[test]
fn ipv6_extension_headers_are_walked_within_a_bound() {
    let mut chain = ip_packet(v6_pair(), b"chain");
    // Hop-by-hop (8 bytes), routing (24 bytes: length field 2), destination options (8).
    let udp = chain.split_off(40);
    chain[6] = 0;
    chain[4..6].copy_from_slice(&((udp.len() + 40) as u16).to_be_bytes());
    chain.extend([43, 0, 1, 4, 0, 0, 0, 0]);
    chain.extend([60, 2, 0, 0, 0, 0, 0, 0]);
    chain.extend([0; 16]);
    chain.extend([17, 0, 1, 4, 0, 0, 0, 0]);
    chain.extend(udp);
    let frames = vec![
        chain,
        ipv6_with_extensions(60, MAX_IPV6_EXTENSION_HEADERS, b"at the limit"),
        ipv6_with_extensions(60, MAX_IPV6_EXTENSION_HEADERS + 1, b"over"),
        ipv6_with_extensions(59, 0, b"no next header"),
    ];
    let file = capture(CaptureFormat::PcapNg, LinkType::RawIp, &frames);
    let (datagrams, stats) = read_ok(&file);
    let payloads: Vec<_> = datagrams.iter().map(|d| &d.payload[..]).collect();
    assert_eq!(payloads, [&b"chain"[..], b"at the limit"]);
    assert_eq!(
        stats,
        CaptureStats {
            too_many_ipv6_extension_headers: 1,
            not_udp: 1,
            ..self::stats(4, 2)
        }
    );
}

#[test]
fn malformed_frames_are_counted_and_skipped() {
    let good = ip_packet(v4_pair(), b"good");
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut patched = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = good.clone();
        f(&mut p);
        cases.push(p);
    };
    patched(&|p| p[0] = 0x44); // IHL 4
    patched(&|p| p[2..4].copy_from_slice(&19u16.to_be_bytes())); // total length < header
    patched(&|p| p[2..4].copy_from_slice(&33u16.to_be_bytes())); // total length > frame
    patched(&|p| p[24..26].copy_from_slice(&7u16.to_be_bytes())); // UDP length < 8
    patched(&|p| p[24..26].copy_from_slice(&13u16.to_be_bytes())); // UDP length > IP payload
    patched(&|p| {
        // UDP length > IP payload, though the frame has the bytes (padding).
        p[24..26].copy_from_slice(&13u16.to_be_bytes());
        p.extend([0; 8]);
    });
    patched(&|p| p.truncate(25)); // UDP header cut, and IP length says more
    patched(&|p| p[0] = 0x65); // IPv6 version on an IPv4 link type
    let file = capture(CaptureFormat::Pcap, LinkType::RawIp, &cases);
    // Raw IP picks the version from the packet: the IPv6 version with an IPv4 body is short.
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(datagrams, []);
    assert_eq!(
        stats,
        CaptureStats {
            malformed_frames: 8,
            ..self::stats(8, 0)
        }
    );
}

#[test]
fn frames_cut_by_snaplen_are_told_apart_from_malformed_ones() {
    let frame = ethernet(&[0x0800], &ip_packet(v4_pair(), &[1; 100]));
    let cut = &frame[..64];
    let mut file = classic_header(Endian::Little, 0xa1b2_3c4d, 1);
    file.extend(classic_record(
        Endian::Little,
        1,
        0,
        frame.len() as u32,
        cut,
    ));
    file.extend(classic_record(Endian::Little, 1, 0, cut.len() as u32, cut));
    // Cut after the UDP payload: only the Ethernet FCS is missing, the datagram is whole.
    file.extend(classic_record(
        Endian::Little,
        1,
        0,
        frame.len() as u32 + 4,
        &frame,
    ));
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(datagrams, [datagram(1_000_000_000, v4_pair(), &[1; 100])]);
    assert_eq!(
        stats,
        CaptureStats {
            truncated_by_snaplen: 1,
            malformed_frames: 1,
            ..self::stats(3, 1)
        }
    );
}

#[test]
fn other_link_types() {
    let v4 = ip_packet(v4_pair(), b"four");
    let v6 = ip_packet(v6_pair(), b"six");
    let with_family = |family: [u8; 4], packet: &[u8]| [&family[..], packet].concat();
    // (link type, frame, decoded)
    let cases: Vec<(u32, Vec<u8>, bool)> = vec![
        (0, with_family(2u32.to_le_bytes(), &v4), true),
        (0, with_family(2u32.to_be_bytes(), &v4), true),
        (0, with_family(24u32.to_le_bytes(), &v6), true),
        (0, with_family(28u32.to_be_bytes(), &v6), true),
        (0, with_family(30u32.to_le_bytes(), &v6), true),
        (0, with_family(7u32.to_le_bytes(), &v4), false),
        (12, v4.clone(), true),
        (14, v6.clone(), true),
        (101, v6.clone(), true),
        (228, v4.clone(), true),
        (229, v6.clone(), true),
        (105, v4.clone(), false), // 802.11: not decoded
    ];
    for (link_type, frame, decoded) in cases {
        let mut file = classic_header(Endian::Little, 0xa1b2_c3d4, link_type);
        file.extend(classic_record(
            Endian::Little,
            2,
            3,
            frame.len() as u32,
            &frame,
        ));
        let (datagrams, stats) = read_ok(&file);
        assert_eq!(
            datagrams.len(),
            usize::from(decoded),
            "link type {link_type}"
        );
        if let Some(d) = datagrams.first() {
            assert_eq!(d.time, Time::from_nanos(2_000_003_000));
            assert!(&d.payload[..] == b"four" || &d.payload[..] == b"six");
        }
        let skipped = u64::from(!decoded);
        let expected = match link_type {
            105 => CaptureStats {
                unsupported_link: 1,
                ..self::stats(1, 0)
            },
            _ => CaptureStats {
                not_udp: skipped,
                ..self::stats(1, 1 - skipped)
            },
        };
        assert_eq!(stats, expected, "link type {link_type}");
    }
}

// ---- Classic pcap framing ----

#[test]
fn classic_pcap_both_byte_orders_and_resolutions() {
    let frame = ip_packet(v4_pair(), b"classic");
    // (magic, fraction, nanoseconds past the second)
    for (magic, fraction, nanos) in [
        (0xa1b2_c3d4, 123_456, 123_456_000),
        (0xa1b2_3c4d, 123_456_789, 123_456_789),
        // Hostile but exact: a fraction of more than one second.
        (0xa1b2_c3d4, u32::MAX, u64::from(u32::MAX) * 1_000),
    ] {
        for e in [Endian::Little, Endian::Big] {
            let mut file = classic_header(e, magic, 101);
            file.extend(classic_record(e, u32::MAX, fraction, 1_000, &frame));
            let (datagrams, stats) = read_ok(&file);
            let time = u64::from(u32::MAX) * 1_000_000_000 + nanos;
            assert_eq!(datagrams, [datagram(time, v4_pair(), b"classic")]);
            assert_eq!(stats, self::stats(1, 1));
        }
    }
}

#[test]
fn classic_pcap_header_errors() {
    let cases: Vec<(Vec<u8>, CaptureError)> = vec![
        (
            b"\x7fELF and more bytes than a pcap header".to_vec(),
            CaptureError::UnknownMagic(0x464c_457f),
        ),
        (
            vec![0xd4, 0xc3],
            CaptureError::Truncated {
                offset: 0,
                needed: 4,
                available: 2,
            },
        ),
        (
            classic_header(Endian::Little, 0xa1b2_c3d4, 1)[..23].to_vec(),
            CaptureError::Truncated {
                offset: 0,
                needed: 24,
                available: 23,
            },
        ),
        (
            {
                let mut h = classic_header(Endian::Big, 0xa1b2_c3d4, 1);
                h[5] = 1;
                h
            },
            CaptureError::UnsupportedPcapVersion { major: 1, minor: 4 },
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(
            CaptureReader::new(Bytes::from(file)).err(),
            Some(expected.clone())
        );
    }
}

#[test]
fn classic_pcap_record_running_past_the_end_is_one_error() {
    let frame = ip_packet(v4_pair(), b"ok");
    let mut file = classic_header(Endian::Little, 0xa1b2_3c4d, 101);
    file.extend(classic_record(Endian::Little, 5, 0, 30, &frame));
    let mut broken = classic_record(Endian::Little, 6, 0, 30, &frame);
    broken[8..12].copy_from_slice(&1_000u32.to_le_bytes());
    file.extend(broken);
    file.extend(classic_record(Endian::Little, 7, 0, 30, &frame));
    let (datagrams, error, stats) = read_all(&file);
    assert_eq!(datagrams, [datagram(5_000_000_000, v4_pair(), b"ok")]);
    assert_eq!(
        error,
        Some(CaptureError::Truncated {
            offset: 24 + 16 + 30 + 16,
            needed: 1_000,
            available: 30 + 16 + 30,
        })
    );
    assert_eq!(stats, self::stats(1, 1));
}

// ---- pcapng framing ----

#[test]
fn pcapng_interfaces_with_different_resolutions_and_offsets() {
    let e = Endian::Little;
    let frame = ip_packet(v4_pair(), b"ng");
    let mut file = shb(e);
    // Interface 0: no if_tsresol, so microseconds.
    file.extend(idb(e, 101, 0, &[]));
    // Interface 1: 2^-10 s units, 100 s offset.
    file.extend(idb(
        e,
        101,
        0,
        &[(9, vec![0x8a]), (14, 100i64.to_le_bytes().to_vec())],
    ));
    // Interface 2: picoseconds (rounded down to nanoseconds), with an unknown option first.
    file.extend(idb(e, 101, 0, &[(2, b"eth0".to_vec()), (9, vec![12])]));
    // Interface 3: -5 s offset.
    file.extend(idb(
        e,
        101,
        0,
        &[(9, vec![9]), (14, (-5i64).to_le_bytes().to_vec())],
    ));
    file.extend(epb(e, 0, 1_700_000_000_123_456, 30, &frame));
    file.extend(epb(e, 1, 3 * 1024 + 512, 30, &frame));
    file.extend(epb(e, 2, 1_234_567_891_234_567_891, 30, &frame));
    file.extend(epb(e, 3, 6_000_000_001, 30, &frame));
    // Hostile: before 1970 after the offset, and past 2554.
    file.extend(epb(e, 3, 4_999_999_999, 30, &frame));
    file.extend(epb(e, 2, u64::MAX, 30, &frame));
    let (datagrams, stats) = read_ok(&file);
    let times: Vec<u64> = datagrams.iter().map(|d| d.time.as_nanos()).collect();
    assert_eq!(
        times,
        [
            1_700_000_000_123_456_000,
            103_500_000_000,
            1_234_567_891_234_567,
            1_000_000_001,
            // u64::MAX picoseconds is 18_446_744_073_709_551 ns: in range.
            18_446_744_073_709_551,
        ]
    );
    assert_eq!(
        stats,
        CaptureStats {
            time_out_of_range: 1,
            ..self::stats(6, 5)
        }
    );
}

#[test]
fn pcapng_hostile_resolutions_do_not_overflow() {
    let e = Endian::Big;
    let frame = ip_packet(v6_pair(), b"t");
    // (if_tsresol, units, expected nanoseconds or None when out of range)
    let cases: [(u8, u64, Option<u64>); 7] = [
        (0, 18_446_744_073, Some(18_446_744_073_000_000_000)),
        (0, 18_446_744_074, None),
        (0, u64::MAX, None),
        (127, u64::MAX, Some(0)),
        (0x80, 3, Some(3_000_000_000)),
        (0x80 | 127, u64::MAX, Some(0)),
        (0x80 | 1, 3, Some(1_500_000_000)),
    ];
    for (resolution, units, expected) in cases {
        let mut file = shb(e);
        file.extend(idb(e, 229, 0, &[(9, vec![resolution])]));
        file.extend(epb(e, 0, units, 100, &frame));
        let (datagrams, stats) = read_ok(&file);
        let times: Vec<_> = datagrams.iter().map(|d| d.time.as_nanos()).collect();
        assert_eq!(times, Vec::from_iter(expected), "tsresol {resolution:#x}");
        assert_eq!(stats.time_out_of_range, u64::from(expected.is_none()));
    }
    // An offset of i64::MIN or MAX seconds is out of range either way.
    for offset in [i64::MIN, i64::MAX] {
        let mut file = shb(e);
        file.extend(idb(e, 229, 0, &[(14, offset.to_be_bytes().to_vec())]));
        file.extend(epb(e, 0, u64::MAX, 100, &frame));
        let (datagrams, stats) = read_ok(&file);
        assert_eq!((datagrams.len(), stats.time_out_of_range), (0, 1));
    }
}

#[test]
fn pcapng_malformed_options_are_counted_and_ignored() {
    let e = Endian::Little;
    let frame = ip_packet(v4_pair(), b"opt");
    let mut file = shb(e);
    // if_tsresol of the wrong length: ignored, the interface stays at microseconds.
    file.extend(idb(e, 101, 0, &[(9, vec![9, 9])]));
    // An option running past the block: ignored.
    let mut overrun = idb(e, 101, 0, &[(9, vec![9])]);
    overrun[18..20].copy_from_slice(&200u16.to_le_bytes());
    file.extend(overrun);
    file.extend(epb(e, 0, 5, 30, &frame));
    file.extend(epb(e, 1, 5, 30, &frame));
    let (datagrams, stats) = read_ok(&file);
    let times: Vec<_> = datagrams.iter().map(|d| d.time.as_nanos()).collect();
    assert_eq!(times, [5_000, 5_000]);
    assert_eq!(
        stats,
        CaptureStats {
            malformed_options: 2,
            ..self::stats(2, 2)
        }
    );
}

#[test]
fn pcapng_simple_packets_take_the_previous_time() {
    let e = Endian::Little;
    let frame = ip_packet(v4_pair(), b"simple");
    let mut file = shb(e);
    file.extend(idb(e, 101, 0, &[(9, vec![9])]));
    file.extend(spb(e, frame.len() as u32, &frame));
    file.extend(epb(e, 0, 42, 100, &frame));
    file.extend(spb(e, frame.len() as u32, &frame));
    let (datagrams, stats) = read_ok(&file);
    let times: Vec<_> = datagrams.iter().map(|d| d.time.as_nanos()).collect();
    assert_eq!(times, [0, 42, 42]);
    assert!(datagrams.iter().all(|d| &d.payload[..] == b"simple"));
    assert_eq!(stats, self::stats(3, 3));
}

#[test]
fn pcapng_simple_packet_length_is_bounded_by_snaplen_and_block() {
    let e = Endian::Big;
    let frame = ip_packet(v4_pair(), &[9; 40]);
    let mut file = shb(e);
    file.extend(idb(e, 101, 50, &[]));
    // Snaplen 50 cuts the 68-byte packet; the block holds it whole.
    file.extend(spb(e, frame.len() as u32, &frame));
    let (datagrams, stats) = read_ok(&file);
    assert_eq!(datagrams, []);
    assert_eq!(
        stats,
        CaptureStats {
            truncated_by_snaplen: 1,
            ..self::stats(1, 0)
        }
    );
}

#[test]
fn pcapng_sections_switch_byte_order_and_reset_interfaces() {
    let frame = ip_packet(v6_pair(), b"sections");
    let mut file = shb(Endian::Little);
    file.extend(idb(Endian::Little, 101, 0, &[(9, vec![9])]));
    file.extend(epb(Endian::Little, 0, 1, 100, &frame));
    // Unknown block types are skipped: Name Resolution (4), Interface Statistics (5), custom.
    file.extend(block(Endian::Little, 4, &[0, 0, 0, 0]));
    file.extend(block(Endian::Little, 5, &[0; 12]));
    file.extend(block(Endian::Little, 0x0000_0bad, b"custom data"));
    file.extend(shb(Endian::Big));
    file.extend(idb(Endian::Big, 229, 0, &[]));
    file.extend(epb(Endian::Big, 0, 2, 100, &frame));
    file.extend(shb(Endian::Little));
    // Interface 0 of the previous section is gone.
    file.extend(epb(Endian::Little, 0, 3, 100, &frame));
    let (datagrams, error, stats) = read_all(&file);
    let times: Vec<_> = datagrams.iter().map(|d| d.time.as_nanos()).collect();
    assert_eq!(times, [1, 2_000]);
    let offset = file.len() - (12 + 20 + 48 + 8);
    assert_eq!(
        error,
        Some(CaptureError::UnknownInterface {
            offset,
            interface: 0
        })
    );
    assert_eq!(
        stats,
        CaptureStats {
            other_blocks: 3,
            ..self::stats(2, 2)
        }
    );
}

#[test]
fn pcapng_structural_errors() {
    let e = Endian::Little;
    let frame = ip_packet(v4_pair(), b"x");
    let mut head = shb(e);
    head.extend(idb(e, 101, 0, &[]));
    let good = epb(e, 0, 1, 29, &frame);
    let at = head.len() + good.len();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut bad = epb(e, 0, 2, 29, &frame);
        f(&mut bad);
        [head.clone(), good.clone(), bad, good.clone()].concat()
    };
    // The EPB of a 29-byte frame is 64 bytes long.
    let cases: Vec<(Vec<u8>, CaptureError)> = vec![
        (
            with(&|b| b[4] = 10),
            CaptureError::BadBlockLength {
                offset: at,
                length: 10,
            },
        ),
        (
            with(&|b| b[4] = 62),
            CaptureError::BadBlockLength {
                offset: at,
                length: 62,
            },
        ),
        (
            with(&|b| b[60] = 99),
            CaptureError::BlockLengthMismatch {
                offset: at,
                leading: 64,
                trailing: 99,
            },
        ),
        (
            with(&|b| b[5] = 1),
            CaptureError::Truncated {
                offset: at,
                needed: 64 + 256,
                available: 128,
            },
        ),
        (
            with(&|b| b[20] = 33), // captured length one past the block's 32 data bytes
            CaptureError::BlockTooShort {
                offset: at,
                block_type: 6,
            },
        ),
        (
            with(&|b| b[8] = 1),
            CaptureError::UnknownInterface {
                offset: at,
                interface: 1,
            },
        ),
        (
            with(&|b| *b = block(e, 6, &[0; 16])), // too short for the EPB's fields
            CaptureError::BlockTooShort {
                offset: at,
                block_type: 6,
            },
        ),
    ];
    for (file, expected) in cases {
        let (datagrams, error, stats) = read_all(&file);
        assert_eq!(datagrams, [datagram(1_000, v4_pair(), b"x")]);
        assert_eq!(error, Some(expected));
        assert_eq!(stats, self::stats(1, 1));
    }
}

#[test]
fn pcapng_header_errors() {
    let mut bad_magic = shb(Endian::Little);
    bad_magic[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let mut bad_version = shb(Endian::Big);
    bad_version[13] = 2;
    // A Section Header Block holding only its byte-order magic.
    let short_shb = block(Endian::Little, 0x0a0d_0d0a, &0x1a2b_3c4du32.to_le_bytes());
    assert_eq!(
        CaptureReader::new(Bytes::from(bad_magic)).err(),
        Some(CaptureError::BadByteOrderMagic {
            offset: 0,
            magic: 0x0403_0201
        })
    );
    let (_, error, _) = read_all(&bad_version);
    assert_eq!(
        error,
        Some(CaptureError::UnsupportedPcapNgVersion {
            offset: 0,
            major: 2,
            minor: 0
        })
    );
    let (_, error, _) = read_all(&short_shb);
    assert_eq!(
        error,
        Some(CaptureError::BlockTooShort {
            offset: 0,
            block_type: 0x0a0d_0d0a
        })
    );
}

// ---- Hostile input ----

/// A small capture in each format, the offsets where its headers end and where its records
/// end.
fn small_captures() -> Vec<(Vec<u8>, Vec<usize>, Vec<usize>)> {
    let sent = [
        datagram(1, v4_pair(), b"one"),
        datagram(2, v6_pair(), b"two"),
        datagram(3, v4_pair(), b""),
    ];
    FORMATS
        .iter()
        .map(|&format| {
            let header_ends = match format {
                CaptureFormat::Pcap => vec![24],
                CaptureFormat::PcapNg => vec![28, 60],
            };
            let record_ends = (1..=sent.len())
                .map(|n| write(format, LinkType::Ethernet, &sent[..n]).len())
                .collect();
            (
                write(format, LinkType::Ethernet, &sent),
                header_ends,
                record_ends,
            )
        })
        .collect()
}

#[test]
fn every_truncation_of_a_valid_capture_is_a_clean_error_or_fewer_datagrams() {
    for (file, header_ends, record_ends) in small_captures() {
        let (all, _) = read_ok(&file);
        assert_eq!(all.len(), 3);
        for len in 0..=file.len() {
            let prefix = &file[..len];
            if CaptureReader::new(Bytes::copy_from_slice(prefix)).is_err() {
                // Only the first block or file header can fail to open.
                assert!(len < header_ends[0], "len {len}");
                continue;
            }
            let (datagrams, error, _) = read_all(prefix);
            let whole_records = record_ends.iter().filter(|&&end| end <= len).count();
            assert_eq!(datagrams, all[..whole_records], "len {len}");
            let at_boundary = header_ends.contains(&len) || record_ends.contains(&len);
            assert_eq!(error.is_some(), !at_boundary, "len {len}: {error:?}");
        }
    }
}

/// xorshift64*: deterministic bytes for the garbage tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Reads whatever parses, to the end; the test is that nothing panics or loops.
fn read_anything(file: Vec<u8>) -> usize {
    match CaptureReader::new(Bytes::from(file)) {
        Ok(reader) => reader.take(100_000).count(),
        Err(_) => 0,
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let magics: [&[u8]; 5] = [
        &[0xd4, 0xc3, 0xb2, 0xa1],
        &[0xa1, 0xb2, 0x3c, 0x4d],
        &[
            0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x40, 0x4d, 0x3c, 0x2b, 0x1a,
        ],
        &[
            0x0a, 0x0d, 0x0d, 0x0a, 0x40, 0, 0, 0, 0x1a, 0x2b, 0x3c, 0x4d,
        ],
        &[],
    ];
    for round in 0..5_000 {
        let len = (rng.next() % 300) as usize;
        let mut file: Vec<u8> = magics[round % magics.len()].to_vec();
        file.extend((0..len).map(|_| rng.next() as u8));
        read_anything(file);
    }
}

#[test]
fn mutated_valid_captures_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut captures: Vec<Vec<u8>> = small_captures().into_iter().map(|(f, ..)| f).collect();
    let mut ng = shb(Endian::Big);
    ng.extend(idb(Endian::Big, 1, 0, &[(9, vec![0x85]), (14, vec![0; 8])]));
    ng.extend(spb(
        Endian::Big,
        80,
        &ethernet(&[0x86dd], &ipv6_with_extensions(0, 3, b"x")),
    ));
    captures.push(ng);
    for round in 0..20_000 {
        let mut file = captures[round % captures.len()].clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() % file.len() as u64) as usize;
            file[at] = rng.next() as u8;
        }
        read_anything(file);
    }
}
