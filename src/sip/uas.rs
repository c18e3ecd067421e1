//! The recording server's SIP user agent (RFC 3261 UAS, RFC 7866 SRS): turns requests into
//! recording sessions and sessions' decisions back into responses.
//!
//! It checks everything a request must be before a session exists (method, Require, the
//! SIPREC option tag and feature tag, body type, dialog, CSeq order) and answers what is wrong
//! with the matching status. A SIPREC INVITE that passes becomes an [`Event::Offer`]; the caller
//! (which knows policy, ports and SDP) answers it with [`Uas::accept`] or [`Uas::reject`]. BYE,
//! CANCEL and unacknowledged answers end sessions ([`Event::Ended`]). Transactions and their
//! retransmissions are [`super::transaction`]'s. Pure state: bytes and `now` in, bytes to send,
//! events and deadlines out.

use super::bye::{Bye, ByeClients, ByeStats};
use super::message::{Limits, Message, Method, ParseError, Request, Response};
use super::multipart::{self, Part};
use super::transaction::{Seen, ServerTransactions, Timers, TxKey};
use super::{Peer, Refusal, Transmit, Transport};
use crate::time::Time;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// The server's number for one recording session (one SIP dialog).
pub type SessionId = u64;

/// How the user agent behaves.
#[derive(Clone, Debug)]
pub struct UasConfig {
    pub limits: Limits,
    pub timers: Timers,
    /// Sessions held at once; an INVITE beyond this is answered 503.
    pub max_sessions: usize,
    /// Our SIP URI for Contact, e.g. `sip:callrec@192.0.2.1:5060` (`+sip.srs` is added, and
    /// `transport=tcp` for a dialog over TCP).
    pub contact: String,
    /// Our SIP URI for dialogs over TLS, e.g. `sip:callrec@192.0.2.1:5061` (`transport=tls`
    /// is added: what SBCs expect, rather than a `sips:` URI).
    pub tls_contact: Option<String>,
    /// The Server header's value.
    pub server: String,
    /// A new INVITE read this long or more after it arrived is answered 503: its client has
    /// given up on it (see [`Uas::receive_waited`]). `None`: no limit.
    pub max_invite_wait: Option<Duration>,
}

/// What the caller must act on.
// Events are taken one at a time and moved out at once: an offer's size costs nothing here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Event {
    /// An offer to record (initial INVITE) or to change the recording (re-INVITE, UPDATE):
    /// answer it with [`Uas::accept`] or [`Uas::reject`].
    Offer(Offer),
    /// The session is over; no answer is expected.
    Ended { session: SessionId, why: EndReason },
}

#[derive(Debug, PartialEq)]
pub struct Offer {
    pub session: SessionId,
    /// True for the INVITE that creates the session.
    pub initial: bool,
    pub call_id: String,
    pub peer: Peer,
    /// The From and To URIs (who the client says the session is from and to).
    pub from: String,
    pub to: String,
    /// The SDP offer; `None` for a re-INVITE or UPDATE that carries only metadata.
    pub sdp: Option<Bytes>,
    /// The recording metadata (RFC 7865), when the request carries it.
    pub metadata: Option<Bytes>,
    /// What was accepted from the body although it is not quite as the RFCs say (a multipart
    /// body without its close delimiter): for the recording's warnings.
    pub notes: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client sent BYE.
    Bye,
    /// The client cancelled the INVITE before it was answered.
    Cancelled,
    /// Our 200 OK was never acknowledged (64·T1 passed without an ACK).
    NotAcknowledged,
}

/// Counts of what the user agent saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UasStats {
    pub requests: u64,
    /// Retransmitted requests answered from the transaction's last response.
    pub retransmissions: u64,
    /// Bytes that were no SIP message, or a request too broken to answer.
    pub unanswerable: u64,
    /// Responses received that answer none of our BYEs.
    pub responses_ignored: u64,
    /// Requests refused, by the status they were answered with.
    pub refused: Vec<(u16, u64)>,
    /// New INVITEs answered 503 because they waited too long to be read (also in `refused`).
    pub stale_invites: u64,
}

impl UasStats {
    fn refused(&mut self, status: u16) {
        match self.refused.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.refused.push((status, 1)),
        }
    }
}

/// Methods this user agent implements (RFC 3261 §20.5 Allow).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE";
/// Bodies an INVITE may carry (RFC 7866 §8; RFC 7865 §9 both metadata types).
pub const ACCEPT: &str =
    "application/sdp, application/rs-metadata+xml, application/rs-metadata, multipart/mixed";
/// The option tag a SIPREC request must require (RFC 7866 §11.2).
const SIPREC: &str = "siprec";

#[derive(Debug)]
struct Dialog {
    session: SessionId,
    call_id: String,
    remote_tag: String,
    local_tag: String,
    peer: Peer,
    /// The highest CSeq the client used (§12.2.2: lower ones are out of order).
    remote_cseq: u32,
    /// The request waiting for the caller's accept/reject.
    pending: Option<(TxKey, Request)>,
    /// The INVITE whose 2xx waits for its ACK: its transaction and CSeq.
    awaiting_ack: Option<(TxKey, u32)>,
    established: bool,
    /// Our latest SDP answer: what a re-INVITE without an offer is answered with.
    last_sdp: Option<Bytes>,
    /// We ended the session before the ACK of our 2xx: the BYE's cause and reason, sent once
    /// the ACK comes (§15 allows no BYE before it).
    ended_before_ack: Option<(u16, String)>,
    /// What a BYE of ours needs (§12.1.1): the client's URI (From), ours (To), its Contact
    /// and the route set.
    remote_uri: String,
    local_uri: String,
    remote_target: String,
    routes: Vec<String>,
}

/// The user agent: dialogs, transactions, and what is waiting to go out.
pub struct Uas {
    config: UasConfig,
    txs: ServerTransactions,
    dialogs: HashMap<SessionId, Dialog>,
    /// The dialog id (Call-ID, remote tag, local tag; RFC 3261 §12) → session. Two INVITEs
    /// sharing a Call-ID and even a From tag are two dialogs: our tags tell them apart.
    by_dialog_id: HashMap<DialogId, SessionId>,
    next_session: SessionId,
    draining: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: UasStats,
    byes: ByeClients,
}

/// Call-ID, the client's tag, ours.
type DialogId = (String, String, String);

impl Uas {
    pub fn new(config: UasConfig) -> Uas {
        Uas {
            txs: ServerTransactions::new(config.timers),
            byes: ByeClients::new(config.timers),
            config,
            dialogs: HashMap::new(),
            by_dialog_id: HashMap::new(),
            next_session: 1,
            draining: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: UasStats::default(),
        }
    }

    pub fn stats(&self) -> &UasStats {
        &self.stats
    }

    /// Sessions in progress.
    pub fn sessions(&self) -> usize {
        self.dialogs.len()
    }

    /// While draining, OPTIONS and new INVITEs are answered 503; sessions in progress go on.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    fn full(&self) -> bool {
        self.dialogs.len() >= self.config.max_sessions
    }

    #[must_use = "the next datagram or stream message to send"]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    #[must_use = "the next event the caller must act on"]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Uas::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.txs.poll_timeout(), self.byes.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Retransmits due responses and fails sessions whose answer was never acknowledged.
    pub fn handle_timeout(&mut self, now: Time) {
        let mut out = Vec::new();
        let failed = self.txs.handle_timeout(now, &mut out);
        self.byes.handle_timeout(now, &mut out);
        self.transmits.extend(out);
        for key in failed {
            let session = self
                .dialogs
                .values()
                .find(|d| d.awaiting_ack.as_ref().is_some_and(|(k, _)| *k == key))
                .map(|d| d.session);
            if let Some(session) = session {
                self.forget(session);
                self.events.push_back(Event::Ended {
                    session,
                    why: EndReason::NotAcknowledged,
                });
            }
        }
    }

    /// One datagram, or one message cut from a stream, from `peer`, read as it arrived.
    pub fn receive(&mut self, now: Time, peer: Peer, bytes: Bytes) {
        self.receive_waited(now, Duration::ZERO, peer, bytes)
    }

    /// One message from `peer` that `waited` between its arrival (the kernel's receive time)
    /// and `now`. A server that stalls (stopped, swapping, starved of CPU) finds the requests
    /// sent meanwhile still queued when it resumes; a new INVITE among them whose client
    /// must have given up ([`UasConfig::max_invite_wait`]) is answered 503 rather than
    /// answered 200 for a call whose media goes elsewhere: a balancer has given it to another
    /// worker, whose answer the client took.
    pub fn receive_waited(&mut self, now: Time, waited: Duration, peer: Peer, bytes: Bytes) {
        let request = match Message::parse(bytes.clone(), &self.config.limits) {
            Ok(Message::Request(request)) => request,
            Ok(Message::Response(response)) => {
                let ours = response.headers().top_via().ok().and_then(|via| via.branch);
                if !ours.is_some_and(|branch| self.byes.receive_response(branch, response.status()))
                {
                    self.stats.responses_ignored += 1;
                }
                return;
            }
            Err(error) => return self.refuse_unparsed(now, peer, bytes, &error),
        };
        self.stats.requests += 1;
        if *request.method() == Method::Ack {
            // The ACK of an error belongs to its INVITE's transaction; that of a 2xx is its
            // own, matched to the dialog (§17.2.3, §13.3.1.4). An ACK is never answered.
            match TxKey::of(&request) {
                Ok(key) if self.txs.receive(&key, &Method::Ack) == Seen::Ack => {}
                _ => self.receive_ack(now, &request),
            }
            return;
        }
        if !request.answerable() {
            self.stats.unanswerable += 1;
            return;
        }
        let key = match TxKey::of(&request).and_then(|k| request.cseq().map(|_| k)) {
            Ok(key) => key,
            Err(e) => return self.stateless(&request, peer, 400, &e.to_string(), &[]),
        };
        match self.txs.receive(&key, request.method()) {
            Seen::New => {}
            Seen::Retransmission(last) => {
                self.stats.retransmissions += 1;
                self.transmits.extend(last);
                return;
            }
            Seen::Ack => return,
        }
        if self.txs.begin(key.clone(), peer).is_err() {
            return self.stateless(&request, peer, 503, "Too many transactions", &[]);
        }
        if let Err(Refusal { status, reason }) =
            self.dispatch(now, waited, peer, &key, request.clone())
        {
            self.stats.refused(status);
            let mut extra: Vec<(&str, String)> = Vec::new();
            match status {
                405 => extra.push(("Allow", ALLOW.into())),
                415 => extra.push(("Accept", ACCEPT.into())),
                420 => extra.push(("Unsupported", unsupported(&request).join(", "))),
                421 => extra.push(("Require", SIPREC.into())),
                503 => extra.push(("Retry-After", "30".into())),
                _ => {}
            }
            self.respond(
                now,
                &key,
                None,
                &request,
                status,
                Some(&reason),
                &extra,
                None,
            );
        }
    }

    /// One datagram or message from a source not allowed to record (`sip.allow`): every
    /// request but an ACK (never answered) is answered 403 without a transaction, and nothing
    /// else happens: no session, no dialog, no event. Answering every method alike tells the
    /// client plainly that it is not admitted, and keeps a refused source from probing what
    /// the recorder would have answered. Returns whether a request was refused.
    pub fn forbid(&mut self, peer: Peer, bytes: Bytes) -> bool {
        let request = match Message::parse(bytes.clone(), &self.config.limits) {
            Ok(Message::Request(request)) => request,
            Ok(Message::Response(_)) => {
                self.stats.responses_ignored += 1;
                return false;
            }
            // Too broken to parse in full: its head may still be answerable.
            Err(_) => match Request::parse_head(bytes, &self.config.limits) {
                Some(request) => request,
                None => {
                    self.stats.unanswerable += 1;
                    return false;
                }
            },
        };
        self.stats.requests += 1;
        if *request.method() == Method::Ack {
            return false;
        }
        if !request.answerable() {
            self.stats.unanswerable += 1;
            return false;
        }
        self.stateless(
            &request,
            peer,
            403,
            "Forbidden (source not allowed: sip.allow)",
            &[],
        );
        true
    }

    /// Routes a new request; `Err` is answered by the caller.
    fn dispatch(
        &mut self,
        now: Time,
        waited: Duration,
        peer: Peer,
        key: &TxKey,
        request: Request,
    ) -> Result<(), Refusal> {
        let headers = request.headers();
        let max_forwards = headers.max_forwards().map_err(bad)?;
        match request.method() {
            Method::Options => {
                let status = if self.draining || self.full() {
                    503
                } else {
                    200
                };
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", ACCEPT.to_string()),
                    ("Supported", SIPREC.to_string()),
                ];
                self.respond(now, key, None, &request, status, None, &extra, None);
                return Ok(());
            }
            _ if max_forwards == Some(0) => return Err(Refusal::new(483, "Too Many Hops")),
            Method::Invite | Method::Update | Method::Bye | Method::Cancel => {}
            _ => return Err(Refusal::new(405, "Method Not Allowed")),
        }
        let unknown = unsupported(&request);
        if !unknown.is_empty() {
            return Err(Refusal::new(
                420,
                format!("Bad Extension: {}", unknown.join(", ")),
            ));
        }
        let to_tag = headers.to().map_err(bad)?.tag().map(str::to_string);
        match (request.method(), to_tag) {
            (Method::Invite, None) => self.initial_invite(now, waited, peer, key, request),
            (Method::Cancel, _) => self.cancel(now, key, &request),
            (_, None) => Err(Refusal::new(481, "Call/Transaction Does Not Exist")),
            (_, Some(tag)) => self.in_dialog(now, key, request, &tag),
        }
    }

    fn initial_invite(
        &mut self,
        now: Time,
        waited: Duration,
        peer: Peer,
        key: &TxKey,
        request: Request,
    ) -> Result<(), Refusal> {
        if self.config.max_invite_wait.is_some_and(|max| waited >= max) {
            self.stats.stale_invites += 1;
            return Err(Refusal::new(503, "Stale Request (read too late)"));
        }
        if self.draining {
            return Err(Refusal::new(503, "Draining"));
        }
        if self.full() {
            return Err(Refusal::new(503, "Recorder Full"));
        }
        let headers = request.headers();
        let requires = headers.require().map_err(bad)?;
        if !requires.iter().any(|t| t.eq_ignore_ascii_case(SIPREC)) {
            return Err(Refusal::new(421, "Extension Required (siprec, RFC 7866)"));
        }
        let contacts = headers.contacts().map_err(bad)?;
        // `src` without `+sip.` is the drafts' feature tag, which AudioCodes and BroadWorks
        // recording clients still send.
        let Some(remote_target) = contacts
            .iter()
            .find(|c| c.has_param("+sip.src") || c.has_param("src"))
        else {
            return Err(Refusal::new(
                400,
                "Contact lacks +sip.src (RFC 7866 §6.1.1)",
            ));
        };
        let remote_target = remote_target.uri.to_string();
        let routes = headers
            .record_routes()
            .map_err(bad)?
            .iter()
            .map(|r| r.uri.to_string())
            .collect();
        let (sdp, metadata, notes) = offer_body(&request)?;
        let Some(sdp) = sdp else {
            return Err(Refusal::new(400, "INVITE carries no SDP offer"));
        };
        let call_id = headers.call_id().map_err(bad)?.to_string();
        let from = headers.from().map_err(bad)?;
        let remote_tag = from.tag().unwrap_or("").to_string();
        let from = from.uri.to_string();
        let to = headers.to().map_err(bad)?.uri.to_string();
        let cseq = request.cseq().map_err(bad)?.seq;
        let session = self.next_session;
        self.next_session += 1;
        self.respond(now, key, Some(session), &request, 100, None, &[], None);
        let local_tag = format!("callrec-{session:x}");
        self.by_dialog_id.insert(
            (call_id.clone(), remote_tag.clone(), local_tag.clone()),
            session,
        );
        self.dialogs.insert(
            session,
            Dialog {
                session,
                call_id: call_id.clone(),
                remote_tag,
                local_tag,
                peer,
                remote_cseq: cseq,
                pending: Some((key.clone(), request)),
                awaiting_ack: None,
                established: false,
                last_sdp: None,
                ended_before_ack: None,
                remote_uri: from.clone(),
                local_uri: to.clone(),
                remote_target,
                routes,
            },
        );
        self.events.push_back(Event::Offer(Offer {
            session,
            initial: true,
            call_id,
            peer,
            from,
            to,
            sdp: Some(sdp),
            metadata,
            notes,
        }));
        Ok(())
    }

    fn cancel(&mut self, now: Time, key: &TxKey, request: &Request) -> Result<(), Refusal> {
        let invite_key = key.cancelled_invite();
        if !self.txs.is_proceeding(&invite_key) {
            // Already answered (or never seen): nothing to cancel (§9.2).
            return Err(Refusal::new(481, "Call/Transaction Does Not Exist"));
        }
        self.respond(now, key, None, request, 200, None, &[], None);
        let session = self
            .dialogs
            .values()
            .find(|d| d.pending.as_ref().is_some_and(|(k, _)| *k == invite_key))
            .map(|d| (d.session, d.established));
        if let Some((session, established)) = session {
            let dialog = self.dialogs.get_mut(&session).expect("found just above");
            let (_, invite) = dialog.pending.take().expect("found by its pending request");
            self.respond(
                now,
                &invite_key,
                Some(session),
                &invite,
                487,
                None,
                &[],
                None,
            );
            // A cancelled re-INVITE leaves the session as it was (§9.2).
            if !established {
                self.forget(session);
                self.events.push_back(Event::Ended {
                    session,
                    why: EndReason::Cancelled,
                });
            }
        }
        Ok(())
    }

    fn in_dialog(
        &mut self,
        now: Time,
        key: &TxKey,
        request: Request,
        to_tag: &str,
    ) -> Result<(), Refusal> {
        let headers = request.headers();
        let call_id = headers.call_id().map_err(bad)?;
        let from_tag = headers.from().map_err(bad)?.tag().unwrap_or("").to_string();
        let session = self
            .by_dialog_id
            .get(&(call_id.to_string(), from_tag, to_tag.to_string()))
            .copied()
            .ok_or_else(|| Refusal::new(481, "Call/Transaction Does Not Exist"))?;
        let cseq = request.cseq().map_err(bad)?.seq;
        let dialog = self
            .dialogs
            .get_mut(&session)
            .expect("indexed dialogs exist");
        if cseq <= dialog.remote_cseq {
            return Err(Refusal::new(500, "CSeq Out of Order"));
        }
        dialog.remote_cseq = cseq;
        match request.method() {
            Method::Bye => {
                self.respond(now, key, Some(session), &request, 200, None, &[], None);
                if let Some((pending_key, pending)) = self
                    .dialogs
                    .get_mut(&session)
                    .and_then(|d| d.pending.take())
                {
                    self.respond(
                        now,
                        &pending_key,
                        Some(session),
                        &pending,
                        487,
                        None,
                        &[],
                        None,
                    );
                }
                self.forget(session);
                self.events.push_back(Event::Ended {
                    session,
                    why: EndReason::Bye,
                });
                Ok(())
            }
            Method::Invite | Method::Update => {
                if dialog.pending.is_some() {
                    return Err(Refusal::new(491, "Request Pending"));
                }
                let call_id = dialog.call_id.clone();
                let peer = dialog.peer;
                let from = headers.from().map_err(bad)?.uri.to_string();
                let to = headers.to().map_err(bad)?.uri.to_string();
                let (sdp, metadata, notes) = offer_body(&request)?;
                let dialog = self
                    .dialogs
                    .get_mut(&session)
                    .expect("indexed dialogs exist");
                dialog.pending = Some((key.clone(), request));
                self.events.push_back(Event::Offer(Offer {
                    session,
                    initial: false,
                    call_id,
                    peer,
                    from,
                    to,
                    sdp,
                    metadata,
                    notes,
                }));
                Ok(())
            }
            _ => Err(Refusal::new(405, "Method Not Allowed")),
        }
    }

    /// Answers session `session`'s pending offer with our SDP answer (200 OK). An INVITE's
    /// 200 is retransmitted until its ACK arrives.
    pub fn accept(&mut self, now: Time, session: SessionId, sdp: Option<Bytes>) {
        let Some(dialog) = self.dialogs.get_mut(&session) else {
            return;
        };
        let Some((key, request)) = dialog.pending.take() else {
            return;
        };
        if sdp.is_some() {
            dialog.last_sdp = sdp.clone();
        }
        // A re-INVITE without an offer gets our current SDP as the offer (§14.2).
        let body = sdp.or_else(|| {
            (*request.method() == Method::Invite)
                .then(|| dialog.last_sdp.clone())
                .flatten()
        });
        if *request.method() == Method::Invite {
            let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
            dialog.awaiting_ack = Some((key.clone(), cseq));
        }
        dialog.established = true;
        let (_, uri, param) = our_uri(&self.config, dialog.peer.transport);
        let contact = format!("<{uri}{param}>;+sip.srs");
        let extra = [("Contact", contact), ("Supported", SIPREC.to_string())];
        self.respond(now, &key, Some(session), &request, 200, None, &extra, body);
    }

    /// Refuses session `session`'s pending offer. Refusing the initial INVITE ends the
    /// session; refusing a re-INVITE or UPDATE leaves it as it was.
    pub fn reject(&mut self, now: Time, session: SessionId, status: u16, reason: &str) {
        let Some(dialog) = self.dialogs.get_mut(&session) else {
            return;
        };
        let Some((key, request)) = dialog.pending.take() else {
            return;
        };
        let established = dialog.established;
        self.stats.refused(status);
        self.respond(
            now,
            &key,
            Some(session),
            &request,
            status,
            Some(reason),
            &[],
            None,
        );
        if !established {
            self.forget(session);
        }
    }

    /// Ends a session the server ended itself (the client went silent, the drain deadline):
    /// once its dialog is confirmed the client gets a BYE with `reason` (RFC 3326), retried
    /// until answered. Later requests in its dialog are answered 481.
    pub fn end(&mut self, now: Time, session: SessionId, cause: u16, reason: &str) {
        let Some(dialog) = self.dialogs.get_mut(&session) else {
            return;
        };
        // §15: not before the ACK of our 2xx (it is sent when the ACK comes); an unanswered
        // offer is the caller's to refuse.
        if dialog.established && dialog.awaiting_ack.is_some() {
            dialog.ended_before_ack = Some((cause, reason.to_string()));
            return;
        }
        if dialog.established {
            self.send_bye(now, session, cause, reason);
        }
        self.forget(session);
    }

    /// Sends the BYE that ends `session`, to where the client's requests come from (the next
    /// hop that reached us, symmetric as behind NAT), not a DNS lookup of its Contact.
    fn send_bye(&mut self, now: Time, session: SessionId, cause: u16, reason: &str) {
        let Some(dialog) = self.dialogs.get(&session) else {
            return;
        };
        let (transport, uri, _) = our_uri(&self.config, dialog.peer.transport);
        let branch = format!("z9hG4bK-callrec-bye-{session:x}");
        let bye = Bye {
            remote_target: &dialog.remote_target,
            routes: &dialog.routes,
            transport,
            sent_by: host_port(uri),
            branch: &branch,
            local_uri: &dialog.local_uri,
            local_tag: &dialog.local_tag,
            remote_uri: &dialog.remote_uri,
            remote_tag: &dialog.remote_tag,
            call_id: &dialog.call_id,
            cseq: 1,
            cause,
            reason,
        }
        .encode();
        let transmit = self.byes.send(now, dialog.peer, branch, bye);
        self.transmits.push_back(transmit);
    }

    /// What became of the BYEs we sent.
    pub fn bye_stats(&self) -> &ByeStats {
        self.byes.stats()
    }

    fn forget(&mut self, session: SessionId) {
        if let Some(d) = self.dialogs.remove(&session) {
            self.by_dialog_id
                .remove(&(d.call_id, d.remote_tag, d.local_tag));
        }
    }

    /// An ACK outside any server transaction: the ACK of our 2xx (§13.3.1.4).
    fn receive_ack(&mut self, now: Time, request: &Request) {
        let headers = request.headers();
        let (Ok(call_id), Ok(from), Ok(cseq)) = (headers.call_id(), headers.from(), headers.cseq())
        else {
            return;
        };
        let to_tag = headers
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string))
            .unwrap_or_default();
        let id = (
            call_id.to_string(),
            from.tag().unwrap_or("").to_string(),
            to_tag,
        );
        let Some(dialog) = self
            .by_dialog_id
            .get(&id)
            .and_then(|s| self.dialogs.get_mut(s))
        else {
            return;
        };
        if let Some((key, _)) = dialog
            .awaiting_ack
            .take_if(|(_, invite_cseq)| *invite_cseq == cseq.seq)
        {
            self.txs.ack_2xx(&key);
            if let Some((cause, reason)) = dialog.ended_before_ack.take() {
                let session = dialog.session;
                self.send_bye(now, session, cause, &reason);
                self.forget(session);
            }
        }
    }

    /// A message that did not parse: answered with the error's status when its head can
    /// still be read (§8.2, RFC 4475), otherwise dropped and counted.
    fn refuse_unparsed(&mut self, _now: Time, peer: Peer, bytes: Bytes, error: &ParseError) {
        // Read the head without the per-header bounds, so that a request refused for one of
        // them can still be told why (the read is bounded by the message size limit).
        let relaxed = Limits {
            max_headers: self.config.limits.max_message_bytes,
            max_header_value_bytes: self.config.limits.max_message_bytes,
            max_vias: self.config.limits.max_message_bytes,
            ..self.config.limits.clone()
        };
        match Request::parse_head(bytes, &relaxed) {
            Some(request) if request.answerable() => {
                self.stats.requests += 1;
                self.stats.refused(error.status());
                let reason = format!(
                    "{} ({error})",
                    super::message::reason_phrase(error.status())
                );
                let response = Response::for_request(&request, error.status())
                    .reason(&reason)
                    .header("Server", &self.config.server)
                    .encode();
                self.transmits.push_back(Transmit {
                    to: peer,
                    bytes: response,
                });
            }
            _ => self.stats.unanswerable += 1,
        }
    }

    /// Answers without keeping a transaction (the table is full, or the request has no
    /// usable transaction key).
    fn stateless(
        &mut self,
        request: &Request,
        peer: Peer,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        self.stats.refused(status);
        let mut builder = Response::for_request(request, status)
            .reason(reason)
            .header("Server", &self.config.server);
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        self.transmits.push_back(Transmit {
            to: peer,
            bytes: builder.encode(),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        now: Time,
        key: &TxKey,
        session: Option<SessionId>,
        request: &Request,
        status: u16,
        reason: Option<&str>,
        extra: &[(&str, String)],
        sdp: Option<Bytes>,
    ) {
        // The dialog's tag: the one the request names, else the session's we answer for.
        let local_tag = request
            .headers()
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string))
            .or_else(|| {
                session
                    .and_then(|s| self.dialogs.get(&s))
                    .map(|d| d.local_tag.clone())
            })
            // Refusals outside a dialog still need a To-tag on final responses (§8.2.6.2).
            .unwrap_or_else(|| format!("callrec-r{}", key_tag(key)));
        let mut builder = Response::for_request(request, status);
        if let Some(reason) = reason {
            builder = builder.reason(reason);
        }
        if status > 100 {
            builder = builder.to_tag(&local_tag);
        }
        // Our 2xx establishes (or confirms) the dialog: the proxies that record-routed the
        // request stay on its path (§12.1.1).
        if (200..300).contains(&status) {
            builder = builder.record_route();
        }
        builder = builder.header("Server", &self.config.server);
        for (name, value) in extra {
            builder = builder.header(name, value);
        }
        if let Some(sdp) = sdp {
            builder = builder.body("application/sdp", sdp);
        }
        let bytes = builder.encode();
        if let Some(t) = self.txs.respond(now, key, status, bytes) {
            self.transmits.push_back(t);
        }
    }
}

/// A To-tag for a refusal, stable for the transaction (so retransmitted answers agree).
fn key_tag(key: &TxKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() & 0xffff_ffff
}

/// The option tags a request requires that we do not support (§8.2.2.3).
fn unsupported(request: &Request) -> Vec<String> {
    request
        .headers()
        .require()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| !t.eq_ignore_ascii_case(SIPREC))
        .map(str::to_string)
        .collect()
}

fn bad(e: super::message::HeaderError) -> Refusal {
    Refusal::new(400, format!("Bad Request ({e})"))
}

/// An offer's body: its SDP, its metadata and notes on what was accepted.
type OfferBody = (Option<Bytes>, Option<Bytes>, Vec<String>);

/// The SDP offer and metadata of a request's body (RFC 7866 §8: multipart/mixed with one of
/// each; a body of SDP or metadata alone is accepted too). A multipart body that ends after a
/// complete last part without its close delimiter (Cisco CUBE, Sonus, Procomm) is accepted,
/// with a note saying so. Public for tests and the fuzzer: the user agent's own reading.
pub fn offer_body(request: &Request) -> Result<OfferBody, Refusal> {
    let body = request.body();
    if body.is_empty() {
        return Ok((None, None, Vec::new()));
    }
    let content_type = request.headers().content_type().map_err(bad)?;
    let Some(content_type) = content_type else {
        return Err(Refusal::new(400, "Content-Type missing for a body"));
    };
    let (mut sdp, mut metadata, mut notes) = (None, None, Vec::new());
    let mut take = |mime: &str, bytes: Bytes| match mime {
        "application/sdp" => {
            sdp.get_or_insert(bytes);
            Ok(())
        }
        "application/rs-metadata+xml" | "application/rs-metadata" => {
            metadata.get_or_insert(bytes);
            Ok(())
        }
        other => Err(Refusal::new(415, format!("Unsupported Media Type {other}"))),
    };
    match &*content_type.mime {
        "multipart/mixed" => {
            let boundary = content_type
                .param("boundary")
                .ok_or_else(|| Refusal::new(400, "multipart/mixed without a boundary"))?;
            let split = multipart::split(body, boundary, &multipart::Limits::default())
                .map_err(|e| Refusal::new(400, format!("Bad multipart body: {e}")))?;
            let last = split.parts.len();
            for (index, Part { headers, body }) in split.parts.into_iter().enumerate() {
                let mime = headers
                    .content_type()
                    .ok()
                    .flatten()
                    .map(|c| c.mime.into_owned())
                    .unwrap_or_else(|| "text/plain".into());
                if !split.closed && index + 1 == last {
                    notes.push(format!(
                        "the multipart body has no close delimiter: its last part ({mime}, \
                         {} bytes) was taken as complete where Content-Length ends the body",
                        body.len()
                    ));
                }
                take(&mime, body)?;
            }
        }
        mime => take(mime, body.clone())?,
    }
    Ok((sdp, metadata, notes))
}

#[cfg(test)]
#[path = "uas_tests.rs"]
mod tests;

/// Our URI for a dialog over `transport`: the Via transport our requests in it carry, the
/// URI, and the `transport` parameter our Contact adds to it.
fn our_uri(config: &UasConfig, transport: Transport) -> (&'static str, &str, &'static str) {
    match transport {
        Transport::Udp => ("UDP", &config.contact, ""),
        Transport::Tcp(_) => ("TCP", &config.contact, ";transport=tcp"),
        Transport::Tls(_) => (
            "TLS",
            config.tls_contact.as_deref().unwrap_or(&config.contact),
            ";transport=tls",
        ),
    }
}

/// `host:port` of a SIP URI such as `sip:callrec@192.0.2.1:5060`: our Via's sent-by.
fn host_port(uri: &str) -> &str {
    let host = uri.rsplit_once('@').map_or(uri, |(_, host)| host);
    host.split(';').next().unwrap_or(host)
}
