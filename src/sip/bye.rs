//! The BYE callrec sends when it ends a session itself (a client that went silent, the drain
//! deadline): the request built from the dialog (RFC 3261 §15.1.1, §12.2.1.1), sent as a
//! non-INVITE client transaction (§17.1.2: over UDP again after T1, doubling up to T2; given
//! up after 64·T1) that ends at its final response. Owns nothing of the session: the
//! recording is stored whatever the client answers.

use super::transaction::Timers;
use super::{Peer, Transmit};
use crate::time::Time;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

/// BYEs waiting for their answer at once; the oldest is given up for a new one.
pub(crate) const MAX_PENDING: usize = 4096;

/// What a BYE in an existing dialog says (§12.2.1.1): we are the dialog's UAS, so From is the
/// INVITE's To with our tag, To its From with the client's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bye<'a> {
    /// The client's Contact: the dialog's remote target.
    pub remote_target: &'a str,
    /// The dialog's route set: the INVITE's Record-Route URIs, in order.
    pub routes: &'a [String],
    /// `UDP`, `TCP` or `TLS`, and our address for the Via.
    pub transport: &'a str,
    pub sent_by: &'a str,
    pub branch: &'a str,
    pub local_uri: &'a str,
    pub local_tag: &'a str,
    pub remote_uri: &'a str,
    pub remote_tag: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// Why we end the session (RFC 3326 Reason): a SIP status as the cause (200 for an
    /// ordinary end, 503 when the recording failed) and a text.
    pub cause: u16,
    pub reason: &'a str,
}

impl Bye<'_> {
    pub(crate) fn encode(&self) -> Bytes {
        let mut text = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={};rport\r\nMax-Forwards: 70\r\n",
            self.remote_target, self.transport, self.sent_by, self.branch
        );
        for route in self.routes {
            text.push_str(&format!("Route: <{route}>\r\n"));
        }
        let reason = self.reason.replace(['"', '\\', '\r', '\n'], " ");
        text.push_str(&format!(
            "From: <{}>;tag={}\r\nTo: <{}>;tag={}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\n\
             Reason: SIP;cause={};text=\"{reason}\"\r\nContent-Length: 0\r\n\r\n",
            self.local_uri,
            self.local_tag,
            self.remote_uri,
            self.remote_tag,
            self.call_id,
            self.cseq,
            self.cause
        ));
        Bytes::from(text)
    }
}

/// What became of the BYEs sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByeStats {
    pub sent: u64,
    /// Sent again over UDP for want of an answer.
    pub retransmitted: u64,
    /// Ended by a final response (any status: the session is over either way).
    pub answered: u64,
    /// No final response within 64·T1, or pushed out by newer ones.
    pub unanswered: u64,
}

struct Pending {
    branch: String,
    transmit: Transmit,
    next: Time,
    interval: Duration,
    give_up: Time,
}

/// The BYE client transactions in flight.
pub(crate) struct ByeClients {
    timers: Timers,
    pending: VecDeque<Pending>,
    stats: ByeStats,
}

impl ByeClients {
    pub(crate) fn new(timers: Timers) -> ByeClients {
        ByeClients {
            timers,
            pending: VecDeque::new(),
            stats: ByeStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> &ByeStats {
        &self.stats
    }

    /// Sends `bytes` (a BYE with Via branch `branch`) to `to`, and keeps it until answered.
    pub(crate) fn send(&mut self, now: Time, to: Peer, branch: String, bytes: Bytes) -> Transmit {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
            self.stats.unanswered += 1;
        }
        let transmit = Transmit { to, bytes };
        self.stats.sent += 1;
        self.pending.push_back(Pending {
            branch,
            transmit: transmit.clone(),
            next: now + self.timers.t1,
            interval: self.timers.t1,
            give_up: now + self.timers.t1 * 64,
        });
        transmit
    }

    /// A response whose top Via has `branch`: a final one ends its BYE. Returns whether it
    /// answered one of ours.
    pub(crate) fn receive_response(&mut self, branch: &str, status: u16) -> bool {
        let Some(index) = self.pending.iter().position(|p| p.branch == branch) else {
            return false;
        };
        if status >= 200 {
            self.pending.remove(index);
            self.stats.answered += 1;
        }
        true
    }

    pub(crate) fn poll_timeout(&self) -> Option<Time> {
        self.pending.iter().map(|p| p.next.min(p.give_up)).min()
    }

    /// Retransmits what is due over UDP and gives up on BYEs past 64·T1.
    pub(crate) fn handle_timeout(&mut self, now: Time, out: &mut Vec<Transmit>) {
        let before = self.pending.len();
        self.pending.retain(|p| p.give_up > now);
        self.stats.unanswered += (before - self.pending.len()) as u64;
        for pending in &mut self.pending {
            if pending.next > now {
                continue;
            }
            if pending.transmit.to.transport.is_reliable() {
                // §17.1.2.2: nothing to resend over TCP or TLS; wait for the answer.
                pending.next = pending.give_up;
                continue;
            }
            out.push(pending.transmit.clone());
            self.stats.retransmitted += 1;
            pending.interval = (pending.interval * 2).min(self.timers.t2);
            pending.next = now + pending.interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Limits, Message};
    use crate::sip::Transport;

    fn at(ms: u64) -> Time {
        Time::from_nanos(1_700_000_000_000_000_000) + Duration::from_millis(ms)
    }

    fn peer(transport: Transport) -> Peer {
        Peer {
            addr: "192.0.2.9:5060".parse().unwrap(),
            transport,
        }
    }

    #[test]
    fn a_bye_carries_the_dialog_and_parses() {
        let routes = ["sip:sbc1.example.com;lr".to_string()];
        let bye = Bye {
            remote_target: "sip:src@192.0.2.9:5060",
            routes: &routes,
            transport: "UDP",
            sent_by: "192.0.2.1:5060",
            branch: "z9hG4bK-callrec-1",
            local_uri: "sip:srs@192.0.2.1",
            local_tag: "callrec-1",
            remote_uri: "sip:src@192.0.2.9",
            remote_tag: "src1",
            call_id: "call-1",
            cseq: 1,
            cause: 200,
            reason: "no RTP \"or\" SIP",
        }
        .encode();
        let Ok(Message::Request(request)) = Message::parse(bye, &Limits::default()) else {
            panic!("our BYE parses");
        };
        assert_eq!(request.uri(), "sip:src@192.0.2.9:5060");
        let headers = request.headers();
        assert_eq!(headers.top_via().unwrap().branch, Some("z9hG4bK-callrec-1"));
        assert_eq!(headers.from().unwrap().tag(), Some("callrec-1"));
        assert_eq!(headers.to().unwrap().tag(), Some("src1"));
        assert_eq!(headers.to().unwrap().uri, "sip:src@192.0.2.9");
        assert_eq!(headers.call_id().unwrap(), "call-1");
        assert_eq!(request.cseq().unwrap().seq, 1);
        assert_eq!(
            headers.get("Route"),
            Some(&b"<sip:sbc1.example.com;lr>"[..])
        );
        assert_eq!(
            headers.get("Reason"),
            Some(&b"SIP;cause=200;text=\"no RTP  or  SIP\""[..])
        );
    }

    #[test]
    fn over_udp_a_bye_is_resent_until_answered() {
        let mut byes = ByeClients::new(Timers::default());
        let sent = byes.send(
            at(0),
            peer(Transport::Udp),
            "b1".into(),
            Bytes::from_static(b"BYE"),
        );
        assert_eq!(sent.bytes, "BYE");
        let mut out = Vec::new();
        byes.handle_timeout(at(499), &mut out);
        assert!(out.is_empty());
        byes.handle_timeout(at(500), &mut out);
        byes.handle_timeout(at(1500), &mut out);
        assert_eq!(out.len(), 2, "at T1, then 2·T1 later");
        assert_eq!(byes.poll_timeout(), Some(at(3500)));
        assert!(!byes.receive_response("other", 200));
        assert!(byes.receive_response("b1", 100), "ours, but not final");
        assert!(byes.receive_response("b1", 481), "final: done");
        assert_eq!(byes.poll_timeout(), None);
        assert_eq!(
            byes.stats(),
            &ByeStats {
                sent: 1,
                retransmitted: 2,
                answered: 1,
                unanswered: 0
            }
        );
    }

    #[test]
    fn an_unanswered_bye_is_given_up_and_tcp_never_resends() {
        let mut byes = ByeClients::new(Timers::default());
        byes.send(
            at(0),
            peer(Transport::Tcp(1)),
            "t".into(),
            Bytes::from_static(b"BYE"),
        );
        byes.send(
            at(0),
            peer(Transport::Udp),
            "u".into(),
            Bytes::from_static(b"BYE"),
        );
        let mut out = Vec::new();
        let mut now = 0;
        while let Some(next) = byes.poll_timeout() {
            now = next.saturating_since(at(0)).as_millis() as u64;
            byes.handle_timeout(next, &mut out);
        }
        assert_eq!(now, 32_000, "64·T1");
        assert!(out.iter().all(|t| t.to.transport == Transport::Udp));
        // T1, 2, 4, then every T2 until 32 s: 0.5, 1.5, 3.5, 7.5 … 31.5.
        assert_eq!(out.len(), 10);
        assert_eq!(byes.stats().unanswered, 2);
    }

    #[test]
    fn pending_byes_are_bounded() {
        let mut byes = ByeClients::new(Timers::default());
        for i in 0..MAX_PENDING + 3 {
            byes.send(at(0), peer(Transport::Udp), i.to_string(), Bytes::new());
        }
        assert_eq!(byes.stats().unanswered, 3);
        assert!(!byes.receive_response("0", 200), "the oldest went first");
        assert!(byes.receive_response(&MAX_PENDING.to_string(), 200));
    }
}
