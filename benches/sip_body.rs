//! Criterion benchmarks for the SIPREC INVITE body (`sip::sdp`, `sip::metadata`): what an SRS
//! does per recorded call before any media flows. The typical offer and metadata are Cisco
//! CUBE's (two labelled `sendonly` streams, PCMU and telephone-event; two participants, two
//! streams, their associations); the draft-shape metadata is Acme Packet's, with its vendor
//! extension data.
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use callrec::sip::metadata::{self, Metadata};
use callrec::sip::sdp::{self, Answer, LocalOrigin, SessionDescription, StreamAnswer};
use criterion::{criterion_group, criterion_main, Criterion};

const OFFER: &str = include_str!("../fixtures/siprec/cisco-cube.sdp");
const METADATA: &str = include_str!("../fixtures/siprec/cisco-cube.xml");
const DRAFT_METADATA: &str = include_str!("../fixtures/siprec/acme-avaya.xml");

fn offer() -> String {
    // On the wire SDP lines end in CRLF.
    OFFER.replace('\n', "\r\n")
}

fn parse_offer(c: &mut Criterion) {
    let text = offer();
    let limits = sdp::Limits::default();
    c.bench_function("sdp_parse_cisco_offer", |b| {
        b.iter(|| SessionDescription::parse(black_box(&text), &limits))
    });
}

fn build_answer(c: &mut Criterion) {
    let offer = SessionDescription::parse(&offer(), &sdp::Limits::default()).expect("offer");
    let origin = LocalOrigin {
        username: "callrec".into(),
        session_id: 4242,
        version: 1,
    };
    let address = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5));
    let streams = [30000, 30002].map(|port| StreamAnswer::Accept {
        port,
        rtcp_mux: false,
        payload_types: vec![0, 101],
        crypto: None,
    });
    // Building and writing the answer is what a 200 OK costs on top of parsing the offer.
    c.bench_function("sdp_answer_cisco_offer", |b| {
        b.iter(|| {
            let answer =
                Answer::new(black_box(&offer), origin.clone(), address, &streams).expect("answer");
            answer.encode()
        })
    });
}

fn parse_metadata(c: &mut Criterion) {
    let limits = metadata::Limits::default();
    c.bench_function("metadata_parse_cisco", |b| {
        b.iter(|| Metadata::parse(black_box(METADATA), &limits))
    });
    c.bench_function("metadata_parse_acme_draft_shape", |b| {
        b.iter(|| Metadata::parse(black_box(DRAFT_METADATA), &limits))
    });
    let cisco = Metadata::parse(METADATA, &limits).expect("metadata");
    c.bench_function("metadata_sender_of", |b| {
        b.iter(|| cisco.sender_of(black_box("2")).map(|p| p.aors.len()))
    });
}

criterion_group!(benches, parse_offer, build_answer, parse_metadata);
criterion_main!(benches);
