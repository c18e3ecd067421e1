//! `Message::parse` on any datagram: never panics, reads consistently, and a request that can
//! be answered gets a response that parses back with the request's identity.
//!
//! On `Ok`: the body is a slice of the input, Content-Length (when present and valid) is its
//! length, every accessor returns, and a multipart body splits or errs. A request that parsed,
//! or that was rejected but has a readable head (`Request::parse_head`), and is `answerable`,
//! is answered (200, or the error's status) with our To-tag; the response parses, with the
//! request's Call-ID, CSeq, Vias and From as sent, and its To with the request's tag or ours.
#![no_main]

use bytes::Bytes;
use callrec::sip::message::{Headers, Limits, Message, Request, Response};
use callrec::sip::multipart;
use libfuzzer_sys::fuzz_target;

/// Every typed accessor, for panics.
fn read_all(headers: &Headers) {
    for (name, _) in headers.iter() {
        assert!(!name.is_empty());
    }
    let _ = headers.call_id();
    let _ = headers.cseq();
    let _ = headers.vias();
    let _ = headers.top_via();
    let _ = headers.from();
    let _ = headers.to();
    let _ = headers.contacts();
    let _ = headers.content_type();
    let _ = headers.content_disposition();
    let _ = headers.content_length();
    let _ = headers.require();
    let _ = headers.supported();
    let _ = headers.max_forwards();
    let _ = headers.expires();
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let buf = Bytes::copy_from_slice(data);
    let input = buf.as_ptr_range();
    let answer = match Message::parse(buf.clone(), &limits) {
        Ok(message) => {
            let (headers, body) = (message.headers(), message.body());
            assert!(body.is_empty() || input.contains(&body.as_ptr()), "body is a slice");
            if let Ok(Some(length)) = headers.content_length() {
                assert_eq!(body.len(), length);
            }
            read_all(headers);
            if let Ok(Some(content_type)) = headers.content_type() {
                if let Some(boundary) = content_type.param("boundary") {
                    if let Ok(parts) = multipart::split(body, boundary, &Default::default()) {
                        for part in &parts.parts {
                            assert!(part.body.is_empty() || input.contains(&part.body.as_ptr()));
                            read_all(&part.headers);
                        }
                    }
                }
            }
            match message {
                Message::Request(request) => {
                    let _ = request.cseq();
                    Some((request, 200))
                }
                Message::Response(response) => {
                    let _ = response.reason();
                    None
                }
            }
        }
        Err(error) => Request::parse_head(buf, &limits).map(|request| (request, error.status())),
    };
    let Some((request, status)) = answer else {
        return;
    };
    if !request.answerable() {
        return;
    }
    let encoded = Response::for_request(&request, status)
        .to_tag("fuzz-tag")
        .encode();
    // Copies may outgrow the request's limits: "v:" becomes "Via: ", and the To gains a tag.
    let generous = Limits {
        max_message_bytes: usize::MAX,
        max_header_value_bytes: usize::MAX,
        ..limits
    };
    let Ok(Message::Response(response)) = Message::parse(encoded.clone(), &generous) else {
        panic!("our response parses: {encoded:?}");
    };
    let (sent, got) = (request.headers(), response.headers());
    assert_eq!(response.status(), status);
    for name in ["Call-ID", "CSeq", "From"] {
        assert_eq!(got.get(name), sent.get(name), "{name}");
    }
    assert_eq!(got.call_id(), sent.call_id());
    assert_eq!(got.cseq(), sent.cseq());
    assert!(got.get_all("Via").eq(sent.get_all("Via")));
    match sent.to() {
        Ok(to) => {
            let ours = got.to().expect("a To that parsed still parses with our tag");
            assert_eq!(ours.uri, to.uri);
            if to.has_param("tag") {
                assert_eq!(ours.params, to.params);
            } else {
                assert_eq!(ours.tag(), Some("fuzz-tag"));
            }
        }
        Err(_) => assert_eq!(got.get("To"), sent.get("To")),
    }
    assert!(response.body().is_empty());
});
