//! Server transactions (RFC 3261 §17.2, with RFC 6026's "Accepted" state): which requests
//! are retransmissions, which response to send again, and when to retransmit on our own.
//!
//! Over UDP a response can be lost, so the last one is kept: a retransmitted request gets it
//! again, and a final response to an INVITE is retransmitted (T1, doubling to T2) until the
//! ACK arrives or 64·T1 passes (§17.2.1 Timers G/H; §13.3.1.4 for 2xx). Over TCP nothing is
//! retransmitted. Pure state: `now` comes in, bytes to send and deadlines go out.

use super::message::{HeaderError, Method, Request};
use super::{Peer, Transmit};
use crate::time::Time;
use bytes::Bytes;
use std::collections::HashMap;
use std::time::Duration;

/// RFC 3261 §17.1.1.1 timer values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate (500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for responses (4 s).
    pub t2: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
        }
    }
}

/// What identifies a server transaction (§17.2.3): the top Via's branch and sent-by, and
/// whether it is an INVITE transaction (an ACK for a non-2xx belongs to its INVITE's). A
/// CANCEL is its own transaction with the INVITE's branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxKey {
    branch: String,
    sent_by: String,
    kind: Kind,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Invite,
    Cancel,
    Other,
}

/// The RFC 3261 branch prefix: a branch without it comes from an RFC 2543 client and is not
/// unique, so the key falls back on Call-ID, CSeq and From-tag (§17.2.3).
const MAGIC_COOKIE: &str = "z9hG4bK";

impl TxKey {
    pub fn of(request: &Request) -> Result<TxKey, HeaderError> {
        let headers = request.headers();
        let via = headers.top_via()?;
        let kind = match request.method() {
            Method::Invite | Method::Ack => Kind::Invite,
            Method::Cancel => Kind::Cancel,
            _ => Kind::Other,
        };
        let sent_by = format!("{}:{}", via.host, via.port.unwrap_or(0));
        let branch = match via.branch {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => branch.to_string(),
            _ => {
                let cseq = headers.cseq()?;
                let from = headers.from()?;
                format!(
                    "{}|{}|{}",
                    headers.call_id()?,
                    cseq.seq,
                    from.tag().unwrap_or("")
                )
            }
        };
        Ok(TxKey {
            branch,
            sent_by,
            kind,
        })
    }

    /// The key a CANCEL's INVITE has (same branch and sent-by, §9.2).
    pub fn cancelled_invite(&self) -> TxKey {
        TxKey {
            kind: Kind::Invite,
            ..self.clone()
        }
    }
}

/// What [`ServerTransactions::receive`] found for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A new request: start a transaction with [`ServerTransactions::begin`].
    New,
    /// A retransmission: this is what was last sent in answer (nothing yet: `None`).
    Retransmission(Option<Transmit>),
    /// The ACK of a non-2xx final response: the INVITE transaction is done.
    Ack,
}

/// Transactions held at once; beyond this a new request is answered 503 without state.
pub const MAX_TRANSACTIONS: usize = 16_384;

/// The table is full.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_TRANSACTIONS} transactions are in progress")]
pub struct Full;

#[derive(Debug)]
struct ServerTx {
    peer: Peer,
    last: Option<Bytes>,
    /// The final status sent, once one is.
    status: Option<u16>,
    /// Next retransmission of `last`, and the interval after it.
    retransmit: Option<(Time, Duration)>,
    /// When the transaction is forgotten (for an unacknowledged INVITE final: when it failed).
    expires: Option<Time>,
    acked: bool,
}

/// Every server transaction in progress.
#[derive(Debug, Default)]
pub struct ServerTransactions {
    txs: HashMap<TxKey, ServerTx>,
    timers: Timers,
}

impl ServerTransactions {
    pub fn new(timers: Timers) -> Self {
        ServerTransactions {
            txs: HashMap::new(),
            timers,
        }
    }

    /// Transactions held.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Matches a request to the transactions in progress.
    pub fn receive(&mut self, key: &TxKey, method: &Method) -> Seen {
        let Some(tx) = self.txs.get_mut(key) else {
            return Seen::New;
        };
        if *method == Method::Ack {
            // §17.2.1: the ACK of a non-2xx ends retransmission (Confirmed state).
            if tx.status.is_some_and(|s| s >= 300) {
                tx.retransmit = None;
                tx.acked = true;
            }
            return Seen::Ack;
        }
        Seen::Retransmission(tx.last.clone().map(|bytes| Transmit { to: tx.peer, bytes }))
    }

    /// Starts a transaction for a new request from `peer`.
    pub fn begin(&mut self, key: TxKey, peer: Peer) -> Result<(), Full> {
        if self.txs.len() >= MAX_TRANSACTIONS {
            return Err(Full);
        }
        self.txs.insert(
            key,
            ServerTx {
                peer,
                last: None,
                status: None,
                retransmit: None,
                expires: None,
                acked: false,
            },
        );
        Ok(())
    }

    /// Whether an INVITE transaction is still without a final response (it can be cancelled).
    pub fn is_proceeding(&self, key: &TxKey) -> bool {
        self.txs.get(key).is_some_and(|tx| tx.status.is_none())
    }

    /// Sends `response` (with `status`) in transaction `key`, returning what to transmit.
    /// Unknown transactions (already forgotten) still get their response sent.
    pub fn respond(
        &mut self,
        now: Time,
        key: &TxKey,
        status: u16,
        response: Bytes,
    ) -> Option<Transmit> {
        let t1 = self.timers.t1;
        let tx = self.txs.get_mut(key)?;
        tx.last = Some(response.clone());
        let transmit = Transmit {
            to: tx.peer,
            bytes: response,
        };
        if status < 200 {
            return Some(transmit);
        }
        tx.status = Some(status);
        let unreliable = !tx.peer.transport.is_reliable();
        let linger = 64 * t1;
        match key.kind {
            Kind::Invite => {
                // Retransmit until ACK (UDP only); give up after 64·T1 (Timer H; RFC 6026
                // Timer L for 2xx). Either way keep absorbing retransmitted INVITEs till then.
                tx.retransmit = unreliable.then_some((now + t1, t1));
                tx.expires = Some(now + linger);
            }
            Kind::Cancel | Kind::Other => {
                // Timer J: absorb retransmissions for 64·T1 over UDP; nothing over TCP.
                tx.expires = Some(if unreliable { now + linger } else { now });
            }
        }
        Some(transmit)
    }

    /// The ACK of a 2xx (its own transaction, §13.3.1.4) arrived for INVITE `key`.
    pub fn ack_2xx(&mut self, key: &TxKey) {
        if let Some(tx) = self.txs.get_mut(key) {
            tx.retransmit = None;
            tx.acked = true;
        }
    }

    /// The earliest time [`ServerTransactions::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.txs
            .values()
            .flat_map(|tx| [tx.retransmit.map(|(at, _)| at), tx.expires])
            .flatten()
            .min()
    }

    /// Retransmits what is due into `out`; forgets finished transactions. Returns the INVITE
    /// transactions whose final response was never acknowledged (the dialog failed, §13.3.1.4).
    pub fn handle_timeout(&mut self, now: Time, out: &mut Vec<Transmit>) -> Vec<TxKey> {
        let t2 = self.timers.t2;
        let mut unacknowledged = Vec::new();
        self.txs.retain(|key, tx| {
            if tx.expires.is_some_and(|at| at <= now) {
                if key.kind == Kind::Invite && !tx.acked && !tx.peer.transport.is_reliable() {
                    unacknowledged.push(key.clone());
                }
                return false;
            }
            if let (Some((at, interval)), Some(bytes)) = (tx.retransmit, &tx.last) {
                if at <= now {
                    out.push(Transmit {
                        to: tx.peer,
                        bytes: bytes.clone(),
                    });
                    let next = (interval * 2).min(t2);
                    tx.retransmit = Some((now + next, next));
                }
            }
            true
        });
        unacknowledged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Limits, Message};
    use crate::sip::Transport;

    fn request(text: &str) -> Request {
        match Message::parse(Bytes::from(text.replace('\n', "\r\n")), &Limits::default()) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn invite(branch: &str) -> Request {
        request(&format!(
            "INVITE sip:srs@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch={branch}\n\
             From: <sip:src@192.0.2.9>;tag=a\nTo: <sip:srs@192.0.2.1>\nCall-ID: c1\n\
             CSeq: 1 INVITE\nContent-Length: 0\n\n"
        ))
    }

    fn udp() -> Peer {
        Peer {
            addr: "192.0.2.9:5060".parse().unwrap(),
            transport: Transport::Udp,
        }
    }

    fn at(ms: u64) -> Time {
        Time::from_nanos(1_000_000_000_000) + Duration::from_millis(ms)
    }

    #[test]
    fn a_final_invite_response_is_retransmitted_until_ack_then_forgotten() {
        let mut txs = ServerTransactions::new(Timers::default());
        let key = TxKey::of(&invite("z9hG4bK1")).unwrap();
        assert_eq!(txs.receive(&key, &Method::Invite), Seen::New);
        txs.begin(key.clone(), udp()).unwrap();
        assert!(txs.is_proceeding(&key));
        let ok = Bytes::from_static(b"SIP/2.0 200 OK\r\n\r\n");
        txs.respond(at(0), &key, 200, ok.clone()).unwrap();
        assert!(!txs.is_proceeding(&key));
        // Retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5 s …: intervals 0.5, 1, 2, 4, 4 (T2).
        let mut sent_at = Vec::new();
        let mut now = at(0);
        while let Some(next) = txs.poll_timeout().filter(|&t| t <= at(12_000)) {
            now = next;
            let mut out = Vec::new();
            txs.handle_timeout(now, &mut out);
            if !out.is_empty() {
                assert_eq!(out[0].bytes, ok);
                sent_at.push(now.saturating_since(at(0)).as_millis());
            }
        }
        assert_eq!(sent_at, [500, 1500, 3500, 7500, 11500]);
        // A retransmitted INVITE gets the 200 again.
        match txs.receive(&key, &Method::Invite) {
            Seen::Retransmission(Some(t)) => assert_eq!(t.bytes, ok),
            other => panic!("{other:?}"),
        }
        txs.ack_2xx(&key);
        let mut out = Vec::new();
        assert!(txs
            .handle_timeout(now + Duration::from_secs(4), &mut out)
            .is_empty());
        assert!(out.is_empty(), "no retransmission after the ACK");
        assert!(
            txs.handle_timeout(at(32_000), &mut out).is_empty(),
            "acknowledged"
        );
        assert!(txs.is_empty(), "forgotten after 64·T1");
    }

    #[test]
    fn an_unacknowledged_final_response_fails_the_invite_after_64_t1() {
        let mut txs = ServerTransactions::new(Timers::default());
        let key = TxKey::of(&invite("z9hG4bK2")).unwrap();
        txs.begin(key.clone(), udp()).unwrap();
        txs.respond(at(0), &key, 486, Bytes::from_static(b"486"))
            .unwrap();
        let mut out = Vec::new();
        assert!(txs.handle_timeout(at(31_999), &mut out).is_empty());
        assert_eq!(txs.handle_timeout(at(32_000), &mut out), vec![key]);
    }

    #[test]
    fn the_ack_of_an_error_stops_its_retransmission() {
        let mut txs = ServerTransactions::new(Timers::default());
        let key = TxKey::of(&invite("z9hG4bK3")).unwrap();
        txs.begin(key.clone(), udp()).unwrap();
        txs.respond(at(0), &key, 403, Bytes::from_static(b"403"))
            .unwrap();
        assert_eq!(txs.receive(&key, &Method::Ack), Seen::Ack);
        let mut out = Vec::new();
        assert!(txs.handle_timeout(at(40_000), &mut out).is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn over_tcp_nothing_is_retransmitted_and_non_invites_are_forgotten_at_once() {
        let mut txs = ServerTransactions::new(Timers::default());
        let tcp = Peer {
            transport: Transport::Tcp(7),
            ..udp()
        };
        let key = TxKey::of(&invite("z9hG4bK4")).unwrap();
        txs.begin(key.clone(), tcp).unwrap();
        txs.respond(at(0), &key, 200, Bytes::from_static(b"200"))
            .unwrap();
        let mut out = Vec::new();
        assert!(txs.handle_timeout(at(40_000), &mut out).is_empty());
        assert!(out.is_empty());
        let bye = request(
            "BYE sip:srs@192.0.2.1 SIP/2.0\nVia: SIP/2.0/TCP 192.0.2.9:5060;branch=z9hG4bK5\n\
             From: <sip:src@192.0.2.9>;tag=a\nTo: <sip:srs@192.0.2.1>;tag=b\nCall-ID: c1\n\
             CSeq: 2 BYE\nContent-Length: 0\n\n",
        );
        let key = TxKey::of(&bye).unwrap();
        txs.begin(key.clone(), tcp).unwrap();
        txs.respond(at(0), &key, 200, Bytes::from_static(b"200"))
            .unwrap();
        txs.handle_timeout(at(0), &mut out);
        assert!(txs.is_empty());
    }

    #[test]
    fn keys_tell_transactions_apart() {
        let a = TxKey::of(&invite("z9hG4bKa")).unwrap();
        let b = TxKey::of(&invite("z9hG4bKb")).unwrap();
        assert_ne!(a, b);
        // RFC 2543 branches fall back on Call-ID, CSeq and From-tag.
        assert_eq!(
            TxKey::of(&invite("old1")).unwrap(),
            TxKey::of(&invite("old2")).unwrap()
        );
        let cancel = request(
            "CANCEL sip:srs@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKa\n\
             From: <sip:src@192.0.2.9>;tag=a\nTo: <sip:srs@192.0.2.1>\nCall-ID: c1\n\
             CSeq: 1 CANCEL\nContent-Length: 0\n\n",
        );
        let cancel = TxKey::of(&cancel).unwrap();
        assert_ne!(cancel, a);
        assert_eq!(cancel.cancelled_invite(), a);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut txs = ServerTransactions::new(Timers::default());
        for i in 0..MAX_TRANSACTIONS {
            let key = TxKey::of(&invite(&format!("z9hG4bK-{i}"))).unwrap();
            txs.begin(key, udp()).unwrap();
        }
        let key = TxKey::of(&invite("z9hG4bK-one-more")).unwrap();
        assert_eq!(txs.begin(key, udp()), Err(Full));
    }
}
