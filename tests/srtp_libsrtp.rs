//! SRTP against an independent sender: libsrtp (Debian's `python3-pylibsrtp`, through
//! `tests/srtp/protect.py`) protects the packets, a real `callrec serve` records them. The
//! offer travels over a real TLS session (stunnel carries our test client's SIP over TLS to
//! `sip.tls_listen`, checking the server's certificate); the same call sent in clear over UDP
//! must give the same audio samples, a tampered packet must be dropped and counted in
//! `/metrics`, a sequence wrap must keep decrypting (rollover counter right), and SRTCP on the
//! RTP port must authenticate and decrypt. An SRTP offer over plain UDP or TCP is refused 488
//! unless `sip.srtp_over_plain_transport` allows it.

mod common;

use base64::Engine;
use callrec::server::siprec::client::SrcSession;
use common::serve::Serve;
use common::tls::{certificate, Stunnel};
use common::{wav_channels, TempDir};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Packets per leg (20 ms each).
const PACKETS: u16 = 60;
/// Leg A starts here, so its sequence numbers wrap (ROC 0 → 1) after 20 packets.
const SEQ_A: u16 = 65_516;
const SEQ_B: u16 = 1_000;

/// The key and salt a suite's `a=crypto` carries, from `seed`.
fn offer_key(suite: &str, seed: u8) -> String {
    let len = match suite {
        "AEAD_AES_128_GCM" => 28,
        "AEAD_AES_256_GCM" => 44,
        _ => 30,
    };
    let bytes: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(31) ^ seed).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A leg's PCMU payloads: a sequence no two frames repeat, never the codes of silence, so
/// every sample of the recording says which packet it came from.
fn payload(leg: u8, n: u16) -> Vec<u8> {
    (0..160u32)
        .map(|i| {
            let b =
                ((u32::from(n) * 160 + i) * (7 + 2 * u32::from(leg)) + 13 * u32::from(leg)) as u8;
            if b & 0x7f == 0x7f {
                b ^ 0x01
            } else {
                b
            }
        })
        .collect()
}

fn rtp(leg: u8, n: u16) -> Vec<u8> {
    let seq = [SEQ_A, SEQ_B][usize::from(leg)].wrapping_add(n);
    let ssrc: u32 = [0x0a0a_0a0a, 0x0b0b_0b0b][usize::from(leg)];
    let mut packet = vec![0x80, 0];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(n) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend(payload(leg, n));
    packet
}

/// A receiver report of leg A's SSRC with an SDES CNAME.
fn receiver_report() -> Vec<u8> {
    let mut packet = vec![0x80, 201, 0, 1, 0x0a, 0x0a, 0x0a, 0x0a];
    packet.extend_from_slice(&[
        0x81, 202, 0, 3, 0x0a, 0x0a, 0x0a, 0x0a, 1, 3, b's', b'r', b'c', 0, 0, 0,
    ]);
    packet
}

/// libsrtp's protection of `packets`, in order, with `suite` and `key` (base64).
fn protect(suite: &str, key: &str, packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
    protect_as(suite, key, packets, false)
}

/// As [`protect`], for RTCP (`rtcp`): SRTCP.
fn protect_as(suite: &str, key: &str, packets: &[Vec<u8>], rtcp: bool) -> Vec<Vec<u8>> {
    let python = match Path::new("/usr/bin/python3").exists() {
        true => "/usr/bin/python3",
        false => "python3",
    };
    let request = json!({
        "suite": suite,
        "key": key,
        "packets": packets.iter().map(|p| json!({"rtcp": rtcp, "hex": hex(p)})).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/srtp/protect.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    serde_json::to_writer(child.stdin.take().unwrap(), &request).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "libsrtp protects (Debian package python3-pylibsrtp; scripts/setup installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hexes: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    hexes.iter().map(|h| unhex(h)).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Sends both legs' packets at the real pace (one per leg each 20 ms), and `extra` datagrams
/// to leg A before its packet `n` as `(n, datagram)`.
async fn send(to: [SocketAddr; 2], legs: [Vec<Vec<u8>>; 2], extra: Vec<(usize, Vec<u8>)>) {
    let senders = [
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
    ];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for (n, (a, b)) in legs[0].iter().zip(&legs[1]).enumerate() {
        ticker.tick().await;
        for (at, datagram) in &extra {
            if *at == n {
                senders[0].send_to(datagram, to[0]).await.unwrap();
            }
        }
        senders[0].send_to(a, to[0]).await.unwrap();
        senders[1].send_to(b, to[1]).await.unwrap();
    }
}

/// Both channels of the recording whose Call-ID is `call_id`.
fn recording_of(serve: &Serve, docs: &[(PathBuf, Value)], call_id: &str) -> Vec<Vec<i16>> {
    let (path, doc) = docs
        .iter()
        .find(|(_, d)| d["call"]["sip_call_id"] == call_id)
        .unwrap_or_else(|| panic!("a recording of {call_id}: {:#?}", serve.log()));
    let name = doc["files"][0]["name"].as_str().expect("a media file");
    wav_channels(&std::fs::read(path.with_file_name(name)).unwrap()).1
}

/// A channel's samples from its first sound on, `len` of them.
fn from_onset(channel: &[i16], len: usize) -> &[i16] {
    let start = channel
        .iter()
        .position(|s| *s != 0)
        .expect("the leg has sound");
    assert!(channel.len() >= start + len, "the whole leg is recorded");
    &channel[start..start + len]
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srtp_call_over_tls_from_libsrtp_records_the_same_samples_as_the_call_in_clear() {
    let certs = TempDir::new("srtp-tls-certs");
    let (cert, key) = certificate(&certs.0);
    let extra = format!(
        "tls_listen = \"127.0.0.1:0\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let serve = Serve::start_wav_in_temp("srtp-tls", 36_000, 2, &extra);
    let tls = serve.sip_tls.expect("serve listens for TLS");
    let plain = free_port();
    let _stunnel = Stunnel::start(&certs.0, plain, tls, &cert);

    let clear: [Vec<Vec<u8>>; 2] = [0, 1].map(|leg| (0..PACKETS).map(|n| rtp(leg, n)).collect());
    // The call in clear, over UDP.
    let (mut src, to) = SrcSession::open(serve.sip, "srtp-clear", [47_000, 47_002], None)
        .await
        .expect("the clear call is answered");
    // A receiver report on leg A's port, as a client multiplexing RTCP sends it.
    send(to, clear.clone(), vec![(10, receiver_report())]).await;
    src.bye().await.expect("BYE");

    // The same call over SRTP, its offer over TLS: leg A AES_CM_128_HMAC_SHA1_80 (offered
    // after a suite callrec does not take, so the second line is chosen), leg B AEAD_AES_128_GCM.
    let (key_a, key_b) = (
        offer_key("AES_CM_128_HMAC_SHA1_80", 1),
        offer_key("AEAD_AES_128_GCM", 2),
    );
    let crypto = [
        Some(format!(
            "1 AES_256_CM_HMAC_SHA1_80 inline:{}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key_a}|2^31",
            offer_key("AES_256_CM_HMAC_SHA1_80", 9)
        )),
        Some(format!("5 AEAD_AES_128_GCM inline:{key_b}")),
    ];
    let (mut src, to) = SrcSession::open_keyed(plain, "srtp-tls", [47_004, 47_006], true, crypto)
        .await
        .expect("the SRTP call is answered over TLS");
    let answer = src.answer().to_string();
    let ours: Vec<&str> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=crypto:"))
        .collect();
    assert_eq!(ours.len(), 2, "one a=crypto per stream: {answer}");
    assert!(
        ours[0].starts_with("2 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{answer}"
    );
    assert!(
        ours[1].starts_with("5 AEAD_AES_128_GCM inline:"),
        "{answer}"
    );
    assert!(
        !answer.contains(&key_a) && !answer.contains(&key_b),
        "our own keys: {answer}"
    );
    assert!(answer.contains("RTP/SAVP"), "{answer}");

    let protected = [
        protect("AES_CM_128_HMAC_SHA1_80", &key_a, &clear[0]),
        protect("AEAD_AES_128_GCM", &key_b, &clear[1]),
    ];
    for (leg, packets) in protected.iter().enumerate() {
        assert_ne!(
            packets[5][12..172],
            clear[leg][5][12..172],
            "libsrtp encrypted"
        );
    }
    // A tampered copy of packet 30 (after the wrap) arrives before the genuine one.
    let mut tampered = protected[0][30].clone();
    tampered[40] ^= 0x20;
    let srtcp = protect_as(
        "AES_CM_128_HMAC_SHA1_80",
        &key_a,
        &[receiver_report()],
        true,
    );
    assert_eq!(
        srtcp[0].len(),
        receiver_report().len() + 4 + 10,
        "E|index and tag"
    );
    send(to, protected, vec![(10, srtcp[0].clone()), (30, tampered)]).await;
    src.bye().await.expect("BYE");

    let docs = serve.recordings(2);
    let clear_rec = recording_of(&serve, &docs, "srtp-clear");
    let srtp_rec = recording_of(&serve, &docs, "srtp-tls");
    let len = usize::from(PACKETS) * 160;
    for leg in 0..2 {
        assert_eq!(
            from_onset(&srtp_rec[leg], len),
            from_onset(&clear_rec[leg], len),
            "leg {leg}: every sample as in clear"
        );
    }
    let (_, srtp_doc) = docs
        .iter()
        .find(|(_, d)| d["call"]["sip_call_id"] == "srtp-tls")
        .unwrap();
    let streams = srtp_doc.to_string();
    assert!(
        streams.contains("\"srtp\":\"AES_CM_128_HMAC_SHA1_80\"")
            && streams.contains("\"srtp\":\"AEAD_AES_128_GCM\""),
        "the sidecar names each stream's suite: {streams}"
    );
    assert!(!streams.contains(&key_a), "never the keys");
    let metrics = serve.metrics();
    let metric = |name: &str| metrics.get(name).copied().unwrap_or(-1.0);
    assert_eq!(
        metric("callrec_srtp_dropped_total{reason=\"authentication\"}"),
        1.0
    );
    assert_eq!(
        metric("callrec_srtp_packets_total{kind=\"rtp\"}"),
        f64::from(2 * PACKETS)
    );
    assert_eq!(metric("callrec_srtp_packets_total{kind=\"rtcp\"}"), 1.0);
    assert_eq!(
        metric("callrec_srtp_dropped_total{reason=\"replayed\"}"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srtp_offer_over_plain_udp_is_refused_unless_configuration_allows_it() {
    let crypto = || {
        [
            Some(format!(
                "1 AES_CM_128_HMAC_SHA1_32 inline:{}",
                offer_key("AES_CM_128_HMAC_SHA1_32", 3)
            )),
            None,
        ]
    };
    let serve = Serve::start_wav_in_temp("srtp-udp-refused", 37_000, 2, "");
    for tcp in [false, true] {
        let refused =
            SrcSession::open_keyed(serve.sip, "srtp-over-udp", [47_100, 47_102], tcp, crypto())
                .await;
        assert_eq!(refused.err().as_deref(), Some("answered 488"), "tcp: {tcp}");
    }
    let refusals = serve.events("call.refused");
    assert!(
        refusals.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SRTP keys offered over plain UDP or TCP"))),
        "the reason says why: {refusals:#?}"
    );
    drop(serve);

    // Allowed by the environment: answered, with our key for the SRTP stream only; a packet of
    // AES_CM_128_HMAC_SHA1_32 from libsrtp decrypts.
    let dir = TempDir::new("srtp-udp-allowed");
    std::fs::write(
        dir.path("callrec.toml"),
        "[sip]\nlisten = \"127.0.0.1:0\"\nrtp_port_min = 37000\nrtp_port_max = 37999\n\
         idle_timeout_secs = 2\n[recording]\nformat = \"wav\"\njitter_ms = 60\n",
    )
    .unwrap();
    let serve = Serve::start_with(
        &dir.0,
        &[],
        &[("CALLREC_SIP_SRTP_OVER_PLAIN_TRANSPORT", "true")],
    );
    let (mut src, to) = SrcSession::open_keyed(
        serve.sip,
        "srtp-over-udp",
        [47_104, 47_106],
        false,
        crypto(),
    )
    .await
    .expect("allowed");
    let answer = src.answer().to_string();
    assert_eq!(
        answer
            .matches("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:")
            .count(),
        1,
        "{answer}"
    );
    let ours = answer
        .lines()
        .find(|l| l.starts_with("a=crypto:"))
        .unwrap()
        .to_string();
    // A re-offer with the same keys is answered with our same key; new keys are refused (488)
    // and the call goes on with the old ones.
    src.reinvite("sendonly")
        .await
        .expect("same keys re-offered");
    assert!(
        src.answer().contains(&ours),
        "our key kept: {}",
        src.answer()
    );
    src.set_crypto([
        Some(format!(
            "1 AES_CM_128_HMAC_SHA1_32 inline:{}",
            offer_key("AES_CM_128_HMAC_SHA1_32", 4)
        )),
        None,
    ]);
    assert_eq!(
        src.reinvite("sendonly").await.err().as_deref(),
        Some("answered 488")
    );
    let clear: [Vec<Vec<u8>>; 2] = [0, 1].map(|leg| (0..10).map(|n| rtp(leg, n)).collect());
    let key = offer_key("AES_CM_128_HMAC_SHA1_32", 3);
    let legs = [
        protect("AES_CM_128_HMAC_SHA1_32", &key, &clear[0]),
        clear[1].clone(),
    ];
    send(to, legs, Vec::new()).await;
    src.bye().await.expect("BYE");
    serve.recordings(1);
    assert_eq!(
        serve.metric("callrec_srtp_packets_total{kind=\"rtp\"}"),
        10.0
    );
}
