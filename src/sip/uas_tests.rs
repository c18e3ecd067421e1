//! The user agent driven message by message on a virtual clock: what it answers, what it
//! retransmits, which events it raises.

use super::*;
use crate::sip::Transport;
use std::time::Duration;

fn config() -> UasConfig {
    UasConfig {
        limits: Limits::default(),
        timers: Timers::default(),
        max_sessions: 2,
        contact: "sip:callrec@192.0.2.1:5060".into(),
        tls_contact: Some("sip:callrec@192.0.2.1:5061".into()),
        server: "callrec/test".into(),
        max_invite_wait: Some(Duration::from_secs(2)),
    }
}

fn udp() -> Peer {
    Peer {
        addr: "192.0.2.9:5060".parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn at(ms: u64) -> Time {
    Time::from_nanos(1_700_000_000_000_000_000) + Duration::from_millis(ms)
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n";

/// A SIPREC request; `extra` headers go before Content-Type.
fn request(
    method: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Bytes {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    Bytes::from(format!(
        "{method} sip:srs@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:src@192.0.2.9>;tag=src1\r\nTo: <sip:srs@192.0.2.1>{to_tag}\r\nCall-ID: call-1\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:src@192.0.2.9>;+sip.src\r\nMax-Forwards: 70\r\n\
         {extra}{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn invite(branch: &str) -> Bytes {
    request("INVITE", branch, 1, None, "Require: siprec\r\n", SDP)
}

/// Status codes of everything sent so far, in order.
fn sent(uas: &mut Uas) -> Vec<u16> {
    std::iter::from_fn(|| uas.poll_transmit())
        .map(|t| {
            let text = String::from_utf8_lossy(&t.bytes).into_owned();
            text[8..11].parse().unwrap()
        })
        .collect()
}

fn offer(uas: &mut Uas) -> Offer {
    match uas.poll_event() {
        Some(Event::Offer(offer)) => offer,
        other => panic!("expected an offer, got {other:?}"),
    }
}

/// The To-tag of the last response sent.
fn to_tag(bytes: &Bytes) -> String {
    let text = String::from_utf8_lossy(bytes);
    let to = text.lines().find(|l| l.starts_with("To:")).unwrap();
    to.split(";tag=").nth(1).unwrap().trim().to_string()
}

#[test]
fn an_invite_is_offered_answered_retransmitted_until_ack_then_ended_by_bye() {
    let mut uas = Uas::new(config());
    uas.receive(at(0), udp(), invite("1"));
    assert_eq!(sent(&mut uas), [100]);
    let offer = offer(&mut uas);
    assert!(offer.initial);
    assert_eq!(offer.sdp.as_deref(), Some(SDP.as_bytes()));
    assert_eq!(offer.from, "sip:src@192.0.2.9");
    uas.accept(at(10), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
    let ok = uas.poll_transmit().unwrap();
    let text = String::from_utf8_lossy(&ok.bytes).into_owned();
    assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
    assert!(
        text.contains("Contact: <sip:callrec@192.0.2.1:5060>;+sip.srs"),
        "{text}"
    );
    assert!(text.contains("Content-Type: application/sdp"), "{text}");
    let tag = to_tag(&ok.bytes);
    // Lost 200: the INVITE comes again and gets it again; our timer resends it too.
    uas.receive(at(300), udp(), invite("1"));
    assert_eq!(sent(&mut uas), [200]);
    uas.handle_timeout(at(510));
    assert_eq!(sent(&mut uas), [200]);
    let ack = request("ACK", "2", 1, Some(&tag), "", "");
    uas.receive(at(600), udp(), ack);
    uas.handle_timeout(at(5_000));
    assert!(sent(&mut uas).is_empty(), "no 200 after the ACK");
    uas.receive(at(6_000), udp(), request("BYE", "3", 2, Some(&tag), "", ""));
    assert_eq!(sent(&mut uas), [200]);
    assert_eq!(
        uas.poll_event(),
        Some(Event::Ended {
            session: offer.session,
            why: EndReason::Bye
        })
    );
    assert_eq!(uas.sessions(), 0);
    // The dialog is gone: a second BYE is 481.
    uas.receive(at(7_000), udp(), request("BYE", "4", 3, Some(&tag), "", ""));
    assert_eq!(sent(&mut uas), [481]);
}

#[test]
fn an_unacknowledged_answer_ends_the_session() {
    let mut uas = Uas::new(config());
    uas.receive(at(0), udp(), invite("1"));
    let offer = offer(&mut uas);
    uas.accept(at(0), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
    let _ = sent(&mut uas);
    uas.handle_timeout(at(32_000));
    let retransmitted = sent(&mut uas);
    assert!(retransmitted.iter().all(|&s| s == 200));
    assert_eq!(
        uas.poll_event(),
        Some(Event::Ended {
            session: offer.session,
            why: EndReason::NotAcknowledged
        })
    );
}

#[test]
fn cancel_before_the_answer_ends_the_session_with_487() {
    let mut uas = Uas::new(config());
    uas.receive(at(0), udp(), invite("1"));
    let offer = offer(&mut uas);
    let _ = sent(&mut uas);
    uas.receive(at(50), udp(), request("CANCEL", "1", 1, None, "", ""));
    assert_eq!(sent(&mut uas), [200, 487]);
    assert_eq!(
        uas.poll_event(),
        Some(Event::Ended {
            session: offer.session,
            why: EndReason::Cancelled
        })
    );
    // Too late now: the answer goes nowhere, and a CANCEL of nothing is 481.
    uas.accept(at(60), offer.session, None);
    assert!(sent(&mut uas).is_empty());
    uas.receive(at(70), udp(), request("CANCEL", "9", 1, None, "", ""));
    assert_eq!(sent(&mut uas), [481]);
}

#[test]
fn re_invites_are_offers_in_the_dialog_and_their_order_is_checked() {
    let mut uas = Uas::new(config());
    uas.receive(at(0), udp(), invite("1"));
    let first = offer(&mut uas);
    uas.accept(at(0), first.session, Some(Bytes::from_static(b"v=0\r\n")));
    let _trying = uas.poll_transmit();
    let ok = uas.poll_transmit().unwrap();
    let tag = to_tag(&ok.bytes);
    let reinvite = request(
        "INVITE",
        "5",
        2,
        Some(&tag),
        "",
        &SDP.replace("sendonly", "inactive"),
    );
    uas.receive(at(100), udp(), reinvite);
    let update = offer(&mut uas);
    assert!(!update.initial);
    assert_eq!(update.session, first.session);
    // A second offer while the first is unanswered: 491 (RFC 3261 §14.2).
    uas.receive(
        at(110),
        udp(),
        request("UPDATE", "6", 3, Some(&tag), "", SDP),
    );
    assert_eq!(sent(&mut uas), [491]);
    uas.accept(
        at(120),
        update.session,
        Some(Bytes::from_static(b"v=0\r\n")),
    );
    assert_eq!(sent(&mut uas), [200]);
    // An old CSeq is out of order (§12.2.2).
    uas.receive(
        at(130),
        udp(),
        request("UPDATE", "7", 2, Some(&tag), "", SDP),
    );
    assert_eq!(sent(&mut uas), [500]);
    // A request for another dialog of the same call: 481.
    uas.receive(
        at(140),
        udp(),
        request("UPDATE", "8", 9, Some("someone-else"), "", SDP),
    );
    assert_eq!(sent(&mut uas), [481]);
    // Refusing a re-offer keeps the session.
    uas.receive(
        at(150),
        udp(),
        request("UPDATE", "9", 10, Some(&tag), "", SDP),
    );
    let again = offer(&mut uas);
    uas.reject(at(160), again.session, 488, "Not Acceptable Here");
    assert_eq!(sent(&mut uas), [488]);
    assert_eq!(uas.sessions(), 1);
}

#[test]
fn what_is_wrong_with_a_request_decides_its_answer() {
    let cases: Vec<(&str, Bytes, u16)> = vec![
        ("no siprec", request("INVITE", "a", 1, None, "", SDP), 421),
        (
            "unknown extension",
            request("INVITE", "b", 1, None, "Require: siprec, foo\r\n", SDP),
            420,
        ),
        (
            "no Max-Forwards left",
            Bytes::from(
                String::from_utf8_lossy(&invite("c"))
                    .replace("Max-Forwards: 70", "Max-Forwards: 0"),
            ),
            483,
        ),
        (
            "unknown method",
            request("PUBLISH", "d", 1, None, "", ""),
            405,
        ),
        (
            "BYE outside a dialog",
            request("BYE", "e", 1, None, "", ""),
            481,
        ),
        (
            "no offer",
            request("INVITE", "f", 1, None, "Require: siprec\r\n", ""),
            400,
        ),
        (
            "bad CSeq",
            Bytes::from(
                String::from_utf8_lossy(&invite("g")).replace("CSeq: 1 INVITE", "CSeq: x INVITE"),
            ),
            400,
        ),
        (
            "oversized header",
            request(
                "OPTIONS",
                "h",
                1,
                None,
                &format!("X-Pad: {}\r\n", "p".repeat(9000)),
                "",
            ),
            513,
        ),
    ];
    for (name, bytes, status) in cases {
        let mut uas = Uas::new(config());
        uas.receive(at(0), udp(), bytes);
        assert_eq!(sent(&mut uas), [status], "{name}");
        assert_eq!(uas.poll_event(), None, "{name}");
    }
}

#[test]
fn options_and_invites_get_503_when_draining_or_full() {
    let mut uas = Uas::new(config());
    let options = request("OPTIONS", "o1", 1, None, "", "");
    uas.receive(at(0), udp(), options);
    assert_eq!(sent(&mut uas), [200]);
    uas.receive(at(0), udp(), invite("i1"));
    uas.receive(
        at(0),
        udp(),
        Bytes::from(String::from_utf8_lossy(&invite("i2")).replace("call-1", "call-2")),
    );
    assert_eq!(sent(&mut uas), [100, 100], "two sessions fit");
    uas.receive(
        at(0),
        udp(),
        Bytes::from(String::from_utf8_lossy(&invite("i3")).replace("call-1", "call-3")),
    );
    assert_eq!(sent(&mut uas), [503], "a third does not");
    uas.receive(at(0), udp(), request("OPTIONS", "o2", 2, None, "", ""));
    assert_eq!(sent(&mut uas), [503], "full: tell the load balancer");
    let mut uas = Uas::new(config());
    uas.set_draining(true);
    uas.receive(at(0), udp(), request("OPTIONS", "o3", 1, None, "", ""));
    uas.receive(at(0), udp(), invite("i4"));
    assert_eq!(sent(&mut uas), [503, 503]);
}

/// A server that stalled finds the INVITEs sent meanwhile still queued when it resumes. One
/// read after its client gave up (a balancer has given it to another worker by then) is
/// answered 503 and never offered, and so is its retransmission; one read in time is offered;
/// in-dialog requests are never judged by their wait; without a limit nothing is refused.
#[test]
fn an_invite_read_after_its_client_gave_up_is_answered_503_and_never_offered() {
    let mut uas = Uas::new(config());
    let late = Duration::from_millis(2000);
    uas.receive_waited(at(0), late, udp(), invite("1"));
    assert_eq!(sent(&mut uas), [503]);
    uas.receive_waited(at(1), Duration::from_millis(500), udp(), invite("1"));
    assert_eq!(
        sent(&mut uas),
        [503],
        "the retransmission gets the same answer"
    );
    assert_eq!(uas.poll_event(), None);
    assert_eq!(uas.stats().stale_invites, 1);
    assert_eq!(uas.stats().refused, [(503, 1)]);

    uas.receive_waited(at(2), Duration::from_millis(1999), udp(), invite("2"));
    assert_eq!(sent(&mut uas), [100]);
    let session = offer(&mut uas).session;
    uas.accept(at(3), session, Some(Bytes::from_static(b"v=0\r\n")));
    let ok = uas.poll_transmit().unwrap();
    let tag = to_tag(&ok.bytes);
    uas.receive(at(4), udp(), request("ACK", "2", 1, Some(&tag), "", ""));
    let bye = request("BYE", "3", 2, Some(&tag), "", "");
    uas.receive_waited(at(5), Duration::from_secs(10), udp(), bye);
    assert_eq!(
        sent(&mut uas),
        [200],
        "a BYE that waited still ends its session"
    );
    assert_eq!(
        uas.poll_event(),
        Some(Event::Ended {
            session,
            why: EndReason::Bye
        })
    );
    assert_eq!(uas.stats().stale_invites, 1);

    let mut unlimited = Uas::new(UasConfig {
        max_invite_wait: None,
        ..config()
    });
    unlimited.receive_waited(at(0), Duration::from_secs(60), udp(), invite("4"));
    assert_eq!(sent(&mut unlimited), [100]);
    assert!(offer(&mut unlimited).initial);
}

#[test]
fn garbage_is_counted_and_never_answered() {
    let mut uas = Uas::new(config());
    for junk in [
        &b"\x00\x01\x02"[..],
        b"hello",
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
    ] {
        uas.receive(at(0), udp(), Bytes::copy_from_slice(junk));
    }
    assert!(sent(&mut uas).is_empty());
    assert_eq!(uas.stats().unanswerable, 3);
    assert_eq!(uas.stats().responses_ignored, 1);
}

#[test]
fn our_contact_names_the_transport_the_dialog_came_over() {
    for (transport, contact) in [
        (
            Transport::Tcp(3),
            "<sip:callrec@192.0.2.1:5060;transport=tcp>;+sip.srs",
        ),
        (
            Transport::Tls(4),
            "<sip:callrec@192.0.2.1:5061;transport=tls>;+sip.srs",
        ),
    ] {
        let mut uas = Uas::new(config());
        let peer = Peer { transport, ..udp() };
        uas.receive(at(0), peer, invite("1"));
        assert_eq!(sent(&mut uas), [100]);
        let offer = offer(&mut uas);
        uas.accept(at(10), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
        let ok = uas.poll_transmit().unwrap();
        assert_eq!(ok.to, peer, "answered over the same connection");
        let text = String::from_utf8_lossy(&ok.bytes).into_owned();
        assert!(text.contains(&format!("Contact: {contact}\r\n")), "{text}");
        uas.handle_timeout(at(5_000));
        assert!(
            sent(&mut uas).is_empty(),
            "{transport:?} is reliable: no retransmission"
        );
    }
}

#[test]
fn a_session_we_end_gets_a_bye_once_confirmed_and_its_answer_ends_the_retries() {
    let mut uas = Uas::new(config());
    let record_route = "Record-Route: <sip:sbc2.example.com;lr>, <sip:sbc1.example.com;lr>\r\n";
    let invite = request(
        "INVITE",
        "1",
        1,
        None,
        &format!("Require: siprec\r\n{record_route}"),
        SDP,
    );
    uas.receive(at(0), udp(), invite);
    assert_eq!(sent(&mut uas), [100]);
    let offer = offer(&mut uas);
    uas.accept(at(10), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
    let tag = to_tag(&uas.poll_transmit().unwrap().bytes);
    uas.receive(at(30), udp(), request("ACK", "2", 1, Some(&tag), "", ""));
    uas.end(at(1_000), offer.session, 200, "the client is gone");
    let bye = uas.poll_transmit().expect("a BYE");
    assert_eq!(bye.to, udp());
    let Ok(Message::Request(bye)) = Message::parse(bye.bytes, &Limits::default()) else {
        panic!("our BYE parses");
    };
    assert_eq!(*bye.method(), Method::Bye);
    assert_eq!(bye.uri(), "sip:src@192.0.2.9", "the client's Contact");
    let headers = bye.headers();
    let routes: Vec<&[u8]> = headers.get_all("Route").collect();
    assert_eq!(
        routes,
        [
            &b"<sip:sbc2.example.com;lr>"[..],
            &b"<sip:sbc1.example.com;lr>"[..]
        ],
        "the route set in Record-Route order (§12.1.1)"
    );
    assert_eq!(headers.from().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(headers.from().unwrap().uri, "sip:srs@192.0.2.1");
    assert_eq!(headers.to().unwrap().tag(), Some("src1"));
    assert_eq!(headers.top_via().unwrap().host, "192.0.2.1");
    // Unanswered, it comes again at T1; its 200 ends it.
    uas.handle_timeout(at(1_500));
    assert_eq!(uas.poll_transmit().map(|t| t.to), Some(udp()));
    let via = String::from_utf8_lossy(headers.get("Via").unwrap()).into_owned();
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:srs@192.0.2.1>;tag={tag}\r\n\
         To: <sip:src@192.0.2.9>;tag=src1\r\nCall-ID: call-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    uas.receive(at(1_600), udp(), Bytes::from(ok));
    uas.handle_timeout(at(10_000));
    assert!(sent_requests(&mut uas).is_empty(), "nothing left to resend");
    assert_eq!(uas.bye_stats().answered, 1);
    assert_eq!(uas.stats().responses_ignored, 0);

    // A session whose 200 was never acknowledged gets no BYE (§15).
    uas.receive(at(20_000), udp(), invite_with_call_id("call-2"));
    sent(&mut uas);
    let second = self::offer(&mut uas);
    uas.accept(
        at(20_010),
        second.session,
        Some(Bytes::from_static(b"v=0\r\n")),
    );
    sent(&mut uas);
    uas.end(at(20_020), second.session, 200, "drain deadline");
    assert!(sent_requests(&mut uas).is_empty());
    assert_eq!(uas.bye_stats().sent, 1);
}

/// Requests among everything sent so far (their first line).
fn sent_requests(uas: &mut Uas) -> Vec<String> {
    std::iter::from_fn(|| uas.poll_transmit())
        .map(|t| {
            String::from_utf8_lossy(&t.bytes)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|line| !line.starts_with("SIP/2.0"))
        .collect()
}

/// An initial INVITE of another dialog.
fn invite_with_call_id(call_id: &str) -> Bytes {
    let text = String::from_utf8(invite("9").to_vec()).unwrap();
    Bytes::from(text.replace("Call-ID: call-1", &format!("Call-ID: {call_id}")))
}

/// A client that reuses a Call-ID (and even its From tag) for two sessions at once: two
/// dialogs, each answered with its own tag, each ended by its own BYE.
#[test]
fn two_invites_sharing_a_call_id_are_two_dialogs() {
    let mut uas = Uas::new(UasConfig {
        max_sessions: 3,
        ..config()
    });
    let other_from_tag = |bytes: Bytes| {
        Bytes::from(String::from_utf8_lossy(&bytes).replace(";tag=src1", ";tag=src2"))
    };
    let mut tags = Vec::new();
    let mut sessions = Vec::new();
    for (branch, invite) in [
        ("a", invite("a")),
        ("b", invite("b")),
        ("c", other_from_tag(invite("c"))),
    ] {
        uas.receive(at(0), udp(), invite);
        assert_eq!(sent(&mut uas), [100], "{branch}");
        let offer = offer(&mut uas);
        assert_eq!(offer.call_id, "call-1");
        uas.accept(at(10), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
        let ok = uas.poll_transmit().unwrap();
        tags.push(to_tag(&ok.bytes));
        sessions.push(offer.session);
    }
    assert_eq!(uas.sessions(), 3);
    tags.iter()
        .for_each(|t| assert_eq!(tags.iter().filter(|o| *o == t).count(), 1));
    let with_from = |i: usize, bytes: Bytes| if i == 2 { other_from_tag(bytes) } else { bytes };
    for (i, tag) in tags.iter().enumerate() {
        let ack = request("ACK", &format!("ack{i}"), 1, Some(tag), "", "");
        uas.receive(at(20), udp(), with_from(i, ack));
    }
    uas.handle_timeout(at(5_000));
    assert!(sent(&mut uas).is_empty(), "every 200 acknowledged");
    // The first session's BYE ends the first session only; then the others, one by one.
    for i in [0, 2, 1] {
        let bye = request("BYE", &format!("bye{i}"), 2, Some(&tags[i]), "", "");
        uas.receive(at(6_000), udp(), with_from(i, bye));
        assert_eq!(sent(&mut uas), [200], "BYE {i}");
        assert_eq!(
            uas.poll_event(),
            Some(Event::Ended {
                session: sessions[i],
                why: EndReason::Bye
            })
        );
    }
    assert_eq!(uas.sessions(), 0);
}

/// A session the server ends between its 200 and the client's ACK (its recording failed at
/// once) gets its BYE as soon as the ACK comes, never before it.
#[test]
fn a_session_ended_before_its_ack_gets_its_bye_after_the_ack() {
    let mut uas = Uas::new(config());
    uas.receive(at(0), udp(), invite("1"));
    let _ = sent(&mut uas);
    let offer = offer(&mut uas);
    uas.accept(at(10), offer.session, Some(Bytes::from_static(b"v=0\r\n")));
    let tag = to_tag(&uas.poll_transmit().unwrap().bytes);
    uas.end(at(20), offer.session, 503, "recording failed");
    assert!(uas.poll_transmit().is_none(), "no BYE before the ACK");
    uas.receive(at(30), udp(), request("ACK", "2", 1, Some(&tag), "", ""));
    let bye = uas.poll_transmit().expect("the BYE, once acknowledged");
    let text = String::from_utf8_lossy(&bye.bytes).into_owned();
    assert!(text.starts_with("BYE sip:src@192.0.2.9 SIP/2.0"), "{text}");
    assert!(
        text.contains("Reason: SIP;cause=503;text=\"recording failed\""),
        "{text}"
    );
    assert_eq!(uas.sessions(), 0);
}

/// A multipart SIPREC request whose body is `body` (boundary `b`).
fn multipart_request(branch: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> Bytes {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    Bytes::from(format!(
        "INVITE sip:srs@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:src@192.0.2.9>;tag=src1\r\nTo: <sip:srs@192.0.2.1>{to_tag}\r\nCall-ID: call-1\r\n\
         CSeq: {cseq} INVITE\r\nContact: <sip:src@192.0.2.9>;+sip.src\r\nMax-Forwards: 70\r\n\
         Require: siprec\r\nContent-Type: multipart/mixed;boundary=b\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

#[test]
fn a_body_without_its_close_delimiter_is_offered_with_a_note_in_and_out_of_dialog() {
    let mut uas = Uas::new(config());
    let unclosed = |sdp: &str| format!("--b\r\nContent-Type: application/sdp\r\n\r\n{sdp}");
    uas.receive(
        at(0),
        udp(),
        multipart_request("1", 1, None, &unclosed(SDP)),
    );
    let first = offer(&mut uas);
    assert_eq!(first.sdp.as_deref(), Some(SDP.trim_end().as_bytes()));
    assert_eq!(
        first.notes,
        [format!(
            "the multipart body has no close delimiter: its last part (application/sdp, {} \
             bytes) was taken as complete where Content-Length ends the body",
            SDP.trim_end().len()
        )]
    );
    uas.accept(at(0), first.session, Some(Bytes::from_static(b"v=0\r\n")));
    let _trying = uas.poll_transmit();
    let tag = to_tag(&uas.poll_transmit().unwrap().bytes);
    let inactive = SDP.replace("sendonly", "inactive");
    uas.receive(
        at(100),
        udp(),
        multipart_request("2", 2, Some(&tag), &unclosed(&inactive)),
    );
    let update = offer(&mut uas);
    assert!(!update.initial);
    assert_eq!(update.notes.len(), 1);
    uas.accept(at(110), update.session, None);
    assert_eq!(sent(&mut uas), [200]);
    // Cut inside the part's headers: refused, and the session stays as it was.
    uas.receive(
        at(200),
        udp(),
        multipart_request("3", 3, Some(&tag), "--b\r\nContent-Type: applic"),
    );
    assert!(uas.poll_event().is_none());
    let refusal = uas.poll_transmit().unwrap().bytes;
    assert!(
        refusal.starts_with(
            b"SIP/2.0 400 Bad multipart body: no close delimiter, and the body ends inside \
              the last part's headers"
        ),
        "{}",
        String::from_utf8_lossy(&refusal)
    );
    assert_eq!(uas.sessions(), 1);
}

#[test]
fn a_source_not_allowed_gets_403_for_every_request_but_ack_and_never_a_session() {
    let mut uas = Uas::new(config());
    let requests = [
        invite("f1"),
        request("OPTIONS", "f2", 1, None, "", ""),
        request("BYE", "f3", 2, Some("callrec-1"), "", ""),
        request("UPDATE", "f4", 3, Some("callrec-1"), "", SDP),
        request("CANCEL", "f1", 1, None, "", ""),
        request("REGISTER", "f5", 1, None, "", ""),
    ];
    for bytes in requests {
        assert!(uas.forbid(udp(), bytes));
    }
    let answers: Vec<String> = std::iter::from_fn(|| uas.poll_transmit())
        .map(|t| String::from_utf8_lossy(&t.bytes).into_owned())
        .collect();
    assert_eq!(answers.len(), 6);
    for answer in &answers {
        assert!(
            answer.starts_with("SIP/2.0 403 Forbidden (source not allowed: sip.allow)\r\n"),
            "{answer}"
        );
    }
    assert!(answers[0].contains("CSeq: 1 INVITE") && answers[0].contains("branch=z9hG4bKf1"));
    // An ACK is never answered; a response or garbage is not a request.
    assert!(!uas.forbid(udp(), request("ACK", "f1", 1, Some("x"), "", "")));
    assert!(!uas.forbid(
        udp(),
        Bytes::from_static(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    ));
    assert!(!uas.forbid(udp(), Bytes::from_static(b"\x00\x01junk")));
    assert_eq!(sent(&mut uas), Vec::<u16>::new());
    assert_eq!(uas.poll_event(), None, "no offer, no session");
    assert_eq!(uas.sessions(), 0);
    assert_eq!(uas.stats().refused, [(403, 6)]);
    // The same INVITE from an allowed source is an offer as usual: nothing was remembered.
    uas.receive(at(0), udp(), invite("f1"));
    assert_eq!(sent(&mut uas), [100]);
    assert!(offer(&mut uas).initial);
}

#[test]
fn our_200_copies_the_record_route_so_the_dialog_stays_on_the_proxies_path() {
    let mut uas = Uas::new(config());
    // A balancer that recorded itself twice (TCP in, UDP out) and an SBC before it, in two
    // fields: copied as they came, in their order (RFC 3261 §12.1.1).
    let record_route =
        "Record-Route: <sip:192.0.2.20;r2=on;lr>, <sip:192.0.2.20;transport=tcp;r2=on;lr>\r\n\
                        Record-Route: <sip:sbc1.example.com;lr;ftag=x1>\r\n";
    let invite = request(
        "INVITE",
        "1",
        1,
        None,
        &format!("Require: siprec\r\n{record_route}"),
        SDP,
    );
    uas.receive(at(0), udp(), invite);
    assert_eq!(sent(&mut uas), [100]);
    let first = offer(&mut uas);
    uas.accept(at(10), first.session, Some(Bytes::from_static(b"v=0\r\n")));
    let ok = uas.poll_transmit().expect("the 200");
    let Ok(Message::Response(ok)) = Message::parse(ok.bytes, &Limits::default()) else {
        panic!("our 200 parses");
    };
    assert_eq!(ok.status(), 200);
    let routes: Vec<&[u8]> = ok.headers().get_all("Record-Route").collect();
    assert_eq!(
        routes,
        [
            &b"<sip:192.0.2.20;r2=on;lr>"[..],
            &b"<sip:192.0.2.20;transport=tcp;r2=on;lr>"[..],
            &b"<sip:sbc1.example.com;lr;ftag=x1>"[..]
        ],
        "every value, in order (one field each: §7.3.1 makes that the same header)"
    );

    // A refusal establishes no dialog: no route set to copy.
    let refused = request(
        "INVITE",
        "2",
        1,
        None,
        &format!("Require: siprec\r\n{record_route}"),
        SDP,
    );
    let refused = String::from_utf8(refused.to_vec())
        .expect("UTF-8")
        .replace("Call-ID: call-1", "Call-ID: call-2");
    uas.receive(at(20), udp(), Bytes::from(refused));
    assert_eq!(sent(&mut uas), [100]);
    let second = offer(&mut uas);
    uas.reject(at(30), second.session, 403, "Forbidden (not recorded)");
    let no = uas.poll_transmit().expect("the 403");
    let text = String::from_utf8_lossy(&no.bytes);
    assert!(text.starts_with("SIP/2.0 403 "), "{text}");
    assert!(!text.contains("Record-Route"), "{text}");
}
