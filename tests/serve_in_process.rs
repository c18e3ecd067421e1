//! The SIPREC server and the admin API run inside the test (`common::in_process`), and
//! callrec's own recording client places real calls to them over UDP and TCP: each call is
//! stored (audio bytes in the store's folder, a sidecar naming the call and how it came),
//! counted by `/metrics`, and a refusal (too many calls, no RTP ports left) leaks nothing:
//! the next call after the first ends is recorded.

mod common;

use callrec::server::siprec::client::SrcSession;
use common::in_process::InProcess;
use common::{band_power, pcmu_frame, wav_channels};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::net::UdpSocket;

/// The two sockets a call's legs are sent from (and offered as).
async fn senders() -> [UdpSocket; 2] {
    let bind = || UdpSocket::bind("127.0.0.1:0");
    [bind().await.unwrap(), bind().await.unwrap()]
}

fn ports(senders: &[UdpSocket; 2]) -> [u16; 2] {
    senders
        .each_ref()
        .map(|s| s.local_addr().expect("bound").port())
}

/// Sends `packets` 20 ms packets on each leg (leg A 400 Hz, leg B 1000 Hz), at the real pace.
async fn play(senders: &[UdpSocket; 2], to: [SocketAddr; 2], packets: u16) {
    let frames = [pcmu_frame(400.0), pcmu_frame(1000.0)];
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    for n in 0..packets {
        ticker.tick().await;
        for leg in 0..2 {
            let packet = callrec::synth::rtp_packet(
                0,
                n == 0,
                n,
                u32::from(n) * 160,
                0xC0 + leg as u32,
                &frames[leg],
            );
            senders[leg].send_to(&packet, to[leg]).await.unwrap();
        }
    }
}

/// The stored audio of the recording whose sidecar is at `metadata`: two channels of about
/// `seconds` each, leg A's tone in the first and leg B's in the second.
fn assert_audio(metadata: &Path, doc: &Value, seconds: f64) {
    let name = doc["files"][0]["name"].as_str().expect("a file");
    let bytes = std::fs::read(metadata.with_file_name(name)).expect("the audio is stored");
    let (rate, channels) = wav_channels(&bytes);
    assert_eq!(channels.len(), 2, "one channel per leg");
    let length = channels[0].len() as f64 / f64::from(rate);
    assert!(
        (length - seconds).abs() < 0.5,
        "{length} s stored for a {seconds} s call"
    );
    let (a, b) = (&channels[0], &channels[1]);
    assert!(
        band_power(a, rate, 400.0) > 0.01,
        "leg A in the first channel"
    );
    assert!(
        band_power(b, rate, 1000.0) > 0.01,
        "leg B in the second channel"
    );
    assert!(
        band_power(a, rate, 1000.0) < 1e-3,
        "nothing of leg B in the first"
    );
    assert!(
        band_power(b, rate, 400.0) < 1e-3,
        "nothing of leg A in the second"
    );
}

fn config_wav(config: &mut callrec::config::Config) {
    config.recording.format = "wav".into();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_udp_is_stored_and_counted() {
    let mut server = InProcess::start("in-process-udp", config_wav).await;
    let (status, body) = server.get("/healthz").await;
    assert_eq!(status, 200, "{body}");

    let senders = senders().await;
    let (mut src, to) = SrcSession::open(server.sip, "in-process-udp-1", ports(&senders), None)
        .await
        .expect("the call is answered");
    assert_eq!(server.metric("callrec_calls_active").await, 1.0);
    play(&senders, to, 50).await;
    src.bye().await.expect("the BYE is answered");

    let (metadata, doc) = server.recordings(1).await.remove(0);
    assert_eq!(doc["call"]["sip_call_id"], "in-process-udp-1", "{doc:#}");
    assert_eq!(doc["input"]["siprec"]["transport"], "udp", "{doc:#}");
    assert_eq!(doc["input"]["siprec"]["end"], "bye", "{doc:#}");
    assert_audio(&metadata, &doc, 1.0);

    let metrics = server.metrics().await;
    assert_eq!(metrics["callrec_calls_total"], 1.0);
    assert_eq!(metrics["callrec_calls_active"], 0.0);
    assert_eq!(metrics["callrec_calls_rejected_total"], 0.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tcp_is_stored_and_counted() {
    let mut server = InProcess::start("in-process-tcp", config_wav).await;
    let senders = senders().await;
    let (mut src, to) = SrcSession::open_tcp(server.sip, "in-process-tcp-1", ports(&senders), None)
        .await
        .expect("the call is answered");
    play(&senders, to, 50).await;
    src.bye().await.expect("the BYE is answered");

    let (metadata, doc) = server.recordings(1).await.remove(0);
    assert_eq!(doc["call"]["sip_call_id"], "in-process-tcp-1", "{doc:#}");
    assert_eq!(doc["input"]["siprec"]["transport"], "tcp", "{doc:#}");
    assert_audio(&metadata, &doc, 1.0);
    assert_eq!(server.metric("callrec_calls_total").await, 1.0);
    server.stop().await;
}

/// A refused call takes nothing with it: with room for one call, the second is answered 503
/// while the first is up, and the third, placed once the first has ended, is recorded.
async fn refused_then_recorded(test: &str, configure: impl FnOnce(&mut callrec::config::Config)) {
    let mut server = InProcess::start(test, |config| {
        config_wav(config);
        configure(config);
    })
    .await;
    let first_senders = senders().await;
    let (mut first, to) = SrcSession::open(
        server.sip,
        &format!("{test}-1"),
        ports(&first_senders),
        None,
    )
    .await
    .expect("the first call is answered");

    let refused = senders().await;
    let answer = SrcSession::open(server.sip, &format!("{test}-2"), ports(&refused), None).await;
    assert_eq!(answer.err().as_deref(), Some("answered 503"));

    play(&first_senders, to, 25).await;
    first.bye().await.expect("the BYE is answered");
    server.recordings(1).await;

    // The first call's ports come back once its sockets are done: the third call may meet
    // them still held for a moment, so it is placed again until answered (a refusal is
    // answered at once).
    let third_senders = senders().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut third, to) = loop {
        match SrcSession::open(
            server.sip,
            &format!("{test}-3"),
            ports(&third_senders),
            None,
        )
        .await
        {
            Ok(call) => break call,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the third call is refused: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    play(&third_senders, to, 25).await;
    third.bye().await.expect("the BYE is answered");

    let stored = server.recordings(2).await;
    let mut calls: Vec<&str> = stored
        .iter()
        .map(|(_, doc)| doc["call"]["sip_call_id"].as_str().expect("a call id"))
        .collect();
    calls.sort();
    assert_eq!(calls, [format!("{test}-1"), format!("{test}-3")]);
    for (metadata, doc) in &stored {
        assert_audio(metadata, doc, 0.5);
    }
    assert_eq!(server.metric("callrec_calls_total").await, 2.0);
    // Stopping waits for every started recording to be stored: a refusal that left one
    // counted would hang here.
    tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_max_calls_is_refused_and_leaks_nothing() {
    refused_then_recorded("in-process-max-calls", |config| config.sip.max_calls = 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_rtp_ports_is_refused_and_leaks_nothing() {
    // Two streams with RTCP beside each: four ports, one call's worth.
    refused_then_recorded("in-process-ports", |config| {
        config.sip.rtp_port_min = 31_400;
        config.sip.rtp_port_max = 31_403;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_refuses_new_calls_and_stores_the_one_up() {
    let mut server = InProcess::start("in-process-drain", config_wav).await;
    assert_eq!(server.get("/readyz").await.0, 200);
    let up = senders().await;
    let (mut src, to) = SrcSession::open(server.sip, "in-process-drain-1", ports(&up), None)
        .await
        .expect("the call is answered");

    server.drain();
    // The driver turns to draining on its next turn: /readyz says so once it has.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.get("/readyz").await.0 != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never said draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let late = senders().await;
    let answer = SrcSession::open(server.sip, "in-process-drain-2", ports(&late), None).await;
    assert_eq!(answer.err().as_deref(), Some("answered 503"));

    play(&up, to, 50).await;
    src.bye().await.expect("the BYE is answered");
    let stored = server.recordings(1).await;
    assert_eq!(stored[0].1["call"]["sip_call_id"], "in-process-drain-1");
    assert_audio(&stored[0].0, &stored[0].1, 1.0);
    tokio::time::timeout(Duration::from_secs(60), server.stop())
        .await
        .expect("the server stops once its call has ended");
}
