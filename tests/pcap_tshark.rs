//! Checks `callrec::pcap` against Wireshark's tools: tshark must read what our writer wrote
//! (addresses, ports, payload, nanosecond times, valid checksums), and our reader must read
//! what editcap converts our captures into. And the recorder's RFC 3550 interarrival jitter
//! must be tshark's.
//!
//! Needs the `tshark` package (tshark, editcap) installed; the test fails if it is missing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use callrec::pcap::{CaptureFormat, CaptureReader, Datagram, LinkType, PcapWriter};
use callrec::time::Time;

const LINKS: [LinkType; 4] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
];

fn datagram(nanos: u64, src: &str, dst: &str, payload: &[u8]) -> Datagram {
    Datagram {
        time: Time::from_nanos(nanos),
        src: src.parse().expect("test address"),
        dst: dst.parse().expect("test address"),
        payload: Bytes::copy_from_slice(payload),
    }
}

/// IPv4 and IPv6 datagrams, times down to the nanosecond, empty and odd-length payloads.
fn sent() -> Vec<Datagram> {
    vec![
        datagram(
            1_700_000_000_123_456_789,
            "192.0.2.10:40000",
            "198.51.100.7:20002",
            b"\x80\x00\x00\x01hello",
        ),
        datagram(
            1_700_000_000_143_456_000,
            "[2001:db8::1]:5004",
            "[2001:db8:ffff::2]:6006",
            &[0xa5; 161],
        ),
        datagram(
            1_700_000_000_163_456_001,
            "198.51.100.7:20002",
            "192.0.2.10:40000",
            b"",
        ),
        datagram(5, "[::1]:1", "[fe80::1]:65535", b"\x00\xff"),
    ]
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

fn read(file: Vec<u8>) -> Vec<Datagram> {
    let reader = CaptureReader::new(Bytes::from(file)).expect("capture header");
    reader.map(|d| d.expect("well-formed capture")).collect()
}

/// A scratch directory for this test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("callrec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a Wireshark tool and returns its standard output.
fn run(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install the Debian package `tshark`"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// What tshark prints for `d` with the fields asked for in [`tshark_fields`].
fn expected_line(d: &Datagram) -> String {
    let nanos = d.time.as_nanos();
    let time = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    let addresses = [d.src.ip().to_string(), d.dst.ip().to_string()];
    let none = [String::new(), String::new()];
    let (ipv4, ipv6) = match d.src {
        SocketAddr::V4(_) => (addresses, none),
        SocketAddr::V6(_) => (none, addresses),
    };
    let payload: String = d.payload.iter().map(|b| format!("{b:02x}")).collect();
    // Checksum status 1 is "Good"; IPv6 has no header checksum.
    let ip_checksum = if d.src.is_ipv4() { "1" } else { "" };
    [
        time,
        ipv4[0].clone(),
        ipv6[0].clone(),
        d.src.port().to_string(),
        ipv4[1].clone(),
        ipv6[1].clone(),
        d.dst.port().to_string(),
        payload,
        "1".into(),
        ip_checksum.into(),
    ]
    .join("\t")
}

fn tshark_fields(path: &Path) -> String {
    let path = path.to_str().expect("UTF-8 temp path");
    #[rustfmt::skip]
    let args = [
        "-r", path, "-T", "fields", "-E", "separator=/t",
        "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
        "-e", "frame.time_epoch",
        "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport",
        "-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport",
        "-e", "udp.payload", "-e", "udp.checksum.status", "-e", "ip.checksum.status",
    ];
    run("tshark", &args)
}

#[test]
fn tshark_reads_what_the_writer_wrote() {
    let scratch = Scratch::new("tshark-reads");
    let sent = sent();
    let expected: Vec<String> = sent.iter().map(expected_line).collect();
    for format in [CaptureFormat::Pcap, CaptureFormat::PcapNg] {
        for link in LINKS {
            let path = scratch.file("capture", &write(format, link, &sent));
            let printed = tshark_fields(&path);
            let lines: Vec<&str> = printed.lines().collect();
            assert_eq!(lines, expected, "{format:?} {link:?}");
        }
    }
}

#[test]
fn reader_reads_what_editcap_converted() {
    let scratch = Scratch::new("editcap-converts");
    let sent = sent();
    // (written as, editcap -F, times kept down to)
    let cases = [
        (CaptureFormat::Pcap, "pcapng", 1),
        (CaptureFormat::PcapNg, "nsecpcap", 1),
        (CaptureFormat::PcapNg, "pcap", 1_000),
    ];
    for (format, target, resolution) in cases {
        for link in [LinkType::Ethernet, LinkType::LinuxSll2] {
            let input = scratch.file("in", &write(format, link, &sent));
            let output = scratch.0.join("out");
            let paths = [input.to_str(), output.to_str()].map(|p| p.expect("UTF-8 temp path"));
            run("editcap", &["-F", target, paths[0], paths[1]]);
            let converted = std::fs::read(&output).expect("editcap output");
            let expected: Vec<Datagram> = sent
                .iter()
                .map(|d| Datagram {
                    time: Time::from_nanos(d.time.as_nanos() / resolution * resolution),
                    ..d.clone()
                })
                .collect();
            assert_eq!(
                read(converted),
                expected,
                "{format:?} -> {target}, {link:?}"
            );
        }
    }
}

#[test]
fn interarrival_jitter_is_what_tshark_computes() {
    use callrec::media::codec::Codec;
    use callrec::offline::{record_capture, CaptureOptions};
    use callrec::recorder::RecorderConfig;
    use callrec::synth::{generate, Impairments, LegSpec};
    use std::time::Duration;
    let scratch = Scratch::new("jitter");
    // Leg A's packets are each up to 15 ms late (never reordered at 20 ms ptime); leg B's
    // are on time.
    let legs = [
        LegSpec {
            impairments: Impairments {
                jitter: Duration::from_millis(15),
                ..Impairments::default()
            },
            ..LegSpec::tone(Codec::Pcmu, 400.0, 0)
        },
        LegSpec::tone(Codec::Pcmu, 1000.0, 1),
    ];
    let (capture, _) = generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).unwrap();
    let path = scratch.file("jitter.pcap", &capture);
    let replay = record_capture(
        Bytes::from(capture),
        RecorderConfig::default(),
        &CaptureOptions::default(),
        |_| Ok(()),
        |_, _| {},
    )
    .unwrap();
    let streams = run(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-q",
            "-o",
            "rtp.heuristic_rtp:TRUE",
            "-z",
            "rtp,streams",
        ],
    );
    // A stream's row: ... SSRC, payload, packets, lost, deltas, then min, mean and max
    // jitter (ms) and the problem flag.
    let max_jitter = |ssrc: u32| -> f64 {
        let ssrc = format!("0x{ssrc:08X}");
        let row = streams
            .lines()
            .find(|l| l.contains(&ssrc))
            .unwrap_or_else(|| panic!("{ssrc} in\n{streams}"));
        let numbers: Vec<f64> = row
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        numbers[numbers.len() - 1]
    };
    for spec in &legs {
        let leg = replay
            .summary
            .legs
            .iter()
            .find(|l| l.ssrcs == [spec.ssrc])
            .expect("each flow is a leg");
        let theirs = max_jitter(spec.ssrc);
        assert!(
            (leg.jitter_max_ms - theirs).abs() < 0.01,
            "{:#x}: ours {} ms, tshark's {theirs} ms\n{streams}",
            spec.ssrc,
            leg.jitter_max_ms
        );
        let late = spec.impairments.jitter > Duration::ZERO;
        assert_eq!(leg.jitter_max_ms > 3.0, late, "{:#x}", spec.ssrc);
    }
}
