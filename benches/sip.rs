//! Criterion benchmarks for `sip`: parsing what an SRC sends most and building what we answer.
//!
//! Wall time on a shared machine moves by half on unchanged code. To compare two builds, count
//! instructions too, which load does not move: run a bench binary under
//! `valgrind --tool=callgrind` with `--bench sip_parse_bye --profile-time 2` and divide
//! `Message::parse`'s inclusive count by its calls (`callgrind_annotate --inclusive=yes
//! --tree=caller`). That is how the BYE's "1 µs slower" after `sip::message` became a directory
//! was shown to be noise: about 15,600 instructions and 170 mispredicted branches per parse
//! before and after.
use std::hint::black_box;

use bytes::Bytes;
use callrec::sip::message::{Limits, Message, Request, Response};
use callrec::sip::multipart;
use criterion::{criterion_group, criterion_main, Criterion};

/// A SIPREC INVITE as a CUBE sends it: 22 header lines, multipart SDP + metadata (3100 bytes).
const INVITE: &[u8] = include_bytes!("../fixtures/sip/invite-siprec-cube.sip");
/// The BYE that ends it (413 bytes).
const BYE: &[u8] = include_bytes!("../fixtures/sip/bye-cube.sip");

fn request(bytes: &'static [u8]) -> Request {
    match Message::parse(Bytes::from_static(bytes), &Limits::default()) {
        Ok(Message::Request(request)) => request,
        other => panic!("fixture is a request: {other:?}"),
    }
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    // Each iteration clones the `Bytes` (a reference-count increment), as a receive loop would.
    for (name, bytes) in [("sip_parse_siprec_invite", INVITE), ("sip_parse_bye", BYE)] {
        let buf = Bytes::from_static(bytes);
        c.bench_function(name, |b| {
            b.iter(|| Message::parse(black_box(buf.clone()), &limits).map(|m| m.body().len()))
        });
    }
    // What a recorder does with the INVITE before it looks at SDP and metadata.
    let buf = Bytes::from_static(INVITE);
    c.bench_function("sip_parse_siprec_invite_and_read_it", |b| {
        b.iter(|| {
            let Ok(Message::Request(invite)) = Message::parse(black_box(buf.clone()), &limits)
            else {
                panic!("parses");
            };
            let headers = invite.headers();
            let via = headers.top_via().expect("Via");
            let (call_id, cseq) = (
                headers.call_id().expect("Call-ID"),
                invite.cseq().expect("CSeq"),
            );
            let from = headers.from().expect("From");
            let siprec = headers.require().expect("Require").contains(&"siprec");
            let content_type = headers.content_type().expect("valid").expect("present");
            let boundary = content_type.param("boundary").expect("boundary");
            let parts = multipart::split(invite.body(), boundary, &Default::default());
            (
                via.port,
                call_id.len(),
                cseq.seq,
                from.tag().is_some(),
                siprec,
                parts.map(|p| p.parts.len()),
            )
        })
    });
}

fn build(c: &mut Criterion) {
    let invite = request(INVITE);
    let sdp = Bytes::from_static(
        b"v=0\r\no=callrec 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n\
          m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\na=label:1\r\n\
          m=audio 40002 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\na=label:2\r\n",
    );
    c.bench_function("sip_build_200_ok_with_sdp", |b| {
        b.iter(|| {
            Response::for_request(black_box(&invite), 200)
                .to_tag("srs-4f2a9c")
                .header("Contact", "<sip:srs@192.0.2.50:5060>;+sip.srs")
                .header("Require", "siprec")
                .body("application/sdp", sdp.clone())
                .encode()
        })
    });
}

criterion_group!(benches, parse, build);
criterion_main!(benches);
