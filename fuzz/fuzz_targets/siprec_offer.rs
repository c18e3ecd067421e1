//! Whole SIPREC offers, as `callrec serve` reads them: the input is what one client sends over
//! TCP (framed by `sip::framing`) or, with the first byte odd, one UDP datagram. Each message
//! goes through the user agent (message, headers, multipart body, Contact, Require); each
//! offer it raises through `session::read_offer` (SDP, metadata) and the session's plan of
//! streams and legs, with no policy configured, as serve does.
//!
//! Asserts: nothing panics; an offer's notes are there only for a multipart body; an accepted
//! plan has one entry per media section, at most one leg A and one leg B, leg A whenever a
//! stream is received and leg B whenever two are, each received stream RTP audio on a port
//! (over SRTP exactly when its profile is secure, keyed by one of its own `a=crypto` lines)
//! with payload types callrec decodes, its label the SDP's and its sender the metadata's
//! sender of that label, and the recorded party's stream (when the metadata names its sender)
//! as leg A.
#![no_main]

use callrec::policy::index::normalise_aor;
use callrec::recorder::Leg;
use callrec::session;
use callrec::sip::framing::{Frame, Framer};
use callrec::sip::message::Limits;
use callrec::sip::transaction::Timers;
use callrec::sip::uas::{Event, Offer, Uas, UasConfig};
use callrec::sip::{Peer, Transport};
use callrec::srtp::sdes::Crypto;
use callrec::time::Time;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [transport, stream @ ..] = data else {
        return;
    };
    let limits = Limits::default();
    let mut uas = Uas::new(UasConfig {
        limits: limits.clone(),
        timers: Timers::default(),
        max_sessions: 4,
        contact: "sip:callrec@192.0.2.50:5060".into(),
        tls_contact: None,
        server: "callrec/fuzz".into(),
        max_invite_wait: None,
    });
    let now = Time::from_nanos(1_700_000_000_000_000_000);
    let messages: Vec<bytes::Bytes> = if transport & 1 == 1 {
        vec![bytes::Bytes::copy_from_slice(stream)]
    } else {
        let mut framer = Framer::new(&limits);
        framer.push(stream);
        let mut messages = Vec::new();
        while let Some(Ok(Frame::Message(message))) = framer.next() {
            messages.push(message);
        }
        messages
    };
    let tcp = transport & 1 == 0;
    let peer = Peer {
        addr: "192.0.2.10:5060".parse().unwrap(),
        transport: if tcp { Transport::Tcp(1) } else { Transport::Udp },
    };
    for message in messages {
        let multipart = is_multipart(&message);
        uas.receive(now, peer, message);
        while let Some(event) = uas.poll_event() {
            if let Event::Offer(offer) = event {
                assert!(offer.notes.is_empty() || multipart, "{:?}", offer.notes);
                check(&offer);
                uas.reject(now, offer.session, 488, "fuzzing");
            }
        }
        while uas.poll_transmit().is_some() {}
    }
});

/// Whether the message's Content-Type is multipart (read as plainly as possible).
fn is_multipart(message: &[u8]) -> bool {
    let text = String::from_utf8_lossy(message).to_ascii_lowercase();
    text.contains("multipart/")
}

fn check(offer: &Offer) {
    let Some(sdp) = &offer.sdp else {
        return;
    };
    let Ok((description, metadata)) = session::read_offer(sdp, offer.metadata.as_deref()) else {
        return;
    };
    let candidates = session::candidate_aors(metadata.as_ref(), &offer.from, &offer.to);
    let (recorded, _) = session::choose_policy(&candidates, false, |_| unreachable!())
        .expect("without a policy every call is recorded");
    let Ok(plans) = session::plan_streams(&description, metadata.as_ref(), recorded.as_deref())
    else {
        return;
    };
    assert_eq!(plans.len(), description.media.len());
    let received: Vec<_> = plans.iter().flatten().collect();
    assert!(!received.is_empty(), "an accepted plan receives a stream");
    let legs = |leg| received.iter().filter(|p| p.leg == Some(leg)).count();
    assert_eq!(legs(Leg::A), 1);
    assert_eq!(legs(Leg::B), usize::from(received.len() >= 2));
    for (index, plan) in plans.iter().enumerate() {
        let Some(plan) = plan else {
            continue;
        };
        let m = &description.media[index];
        assert_eq!(plan.index, index);
        assert!(m.is_audio() && m.is_rtp() && m.port != 0);
        // SRTP exactly when the profile is secure, with one of the section's own lines.
        assert_eq!(plan.srtp.is_some(), m.is_secure());
        if let Some(crypto) = &plan.srtp {
            assert!(m
                .crypto
                .iter()
                .any(|line| Crypto::parse(line).as_ref() == Ok(crypto)));
        }
        assert!(!plan.payload_types.is_empty());
        for pt in &plan.payload_types {
            assert!(m.rtp_formats.iter().any(|f| f.payload_type == *pt));
        }
        assert_eq!(plan.label, m.label);
        let sender = plan
            .label
            .as_deref()
            .and_then(|label| metadata.as_ref()?.sender_of(label));
        assert_eq!(
            plan.sender
                .as_ref()
                .map(|(name, aor)| (name.clone(), aor.clone())),
            sender.map(|p| (p.names.first().cloned(), p.aors.first().cloned()))
        );
    }
    // The recorded party's stream, when the metadata says which it is, is leg A.
    let key = |p: &&session::StreamPlan| {
        p.sender
            .as_ref()
            .and_then(|(_, aor)| aor.as_deref())
            .and_then(normalise_aor)
    };
    let recorded = recorded.as_deref().and_then(normalise_aor);
    if recorded.is_some() && received.iter().any(|p| key(p) == recorded) {
        let a = received.iter().find(|p| p.leg == Some(Leg::A)).unwrap();
        assert_eq!(key(a), recorded);
    }
}
