//! The call table: each SIPREC session's life, from its offer to its stored recording. An
//! offer is read through the session's decisions ([`crate::session`]) into ports, media
//! sockets, a spool job and a shard's recorder; re-offers pause, resume or bring new metadata;
//! an ending stops the sockets, frees the ports and has the shard store the recording. Driven
//! by the driver (which owns the user agent and lends it to every call here); never reads a
//! socket of signalling itself.

use super::facts::{self, answer, storage_info};
use super::latch::Latch;
use super::media_socket::{Receivers, StreamReceiver, StreamRoute};
use super::ports::{PortBlock, PortPool};
use super::settings::{Services, SipSettings};
use super::shard::{push_note, CallSetup, Command, QueueFull, Shards};
use super::transport::bind_udp;
use crate::policy::effective::Storage;
use crate::server::{clock, log};
use crate::session::{self, DirectionChange, RecordingState, StreamPlan};
use crate::sip::metadata::{self, Announcement, Metadata};
use crate::sip::sdp::{self, LocalOrigin, SessionDescription};
use crate::sip::uas::{Offer, SessionId, Uas};
use crate::sip::{Refusal, Transport};
use crate::srtp::sdes::Crypto;
use crate::srtp::MasterKey;
use crate::store::spool;
use crate::store::{self, key};
use crate::time::Time;
use bytes::Bytes;
use mio::net::UdpSocket;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// One stream's receiving side: its sockets (RTP, and RTCP unless muxed).
struct StreamRuntime {
    sockets: Vec<StreamReceiver>,
}

/// One answered session and what it holds until its recording is stored.
struct Call {
    call_id: String,
    /// How the client reached us: `udp`, `tcp` or `tls`.
    transport: &'static str,
    ports: PortBlock,
    plans: Vec<Option<StreamPlan>>,
    streams: Vec<StreamRuntime>,
    /// Whether media is held back from the recorder (paused, or awaiting the user's start).
    paused: watch::Sender<bool>,
    state: RecordingState,
    allows_pause: bool,
    heard: Arc<AtomicU64>,
    last_signal: Time,
    origin: LocalOrigin,
    metadata: Option<Metadata>,
    /// Our `a=crypto` for each SRTP stream, by media index (the keys we answered with).
    crypto: Vec<Option<Crypto>>,
    /// The announcements the client reported so far (each left out once).
    announcements: Vec<Announcement>,
    recorded_aor: Option<String>,
    warnings: Vec<String>,
    /// The call count of the TCP or TLS connection its dialog came over.
    connection_calls: Option<Arc<AtomicU64>>,
    /// Its Call-ID and recording name, around every event about it ([`log::call_span`]).
    span: tracing::Span,
}

impl Call {
    /// Sends the shard the announcements the metadata reports for the first time. With the
    /// shard's queue full nothing is sent or marked as reported: the request is refused and
    /// the client's retry reports them again.
    fn leave_out_announcements(
        &mut self,
        session: SessionId,
        shards: &Shards,
    ) -> Result<(), QueueFull> {
        let Some(metadata) = &self.metadata else {
            return Ok(());
        };
        let mut reported = self.announcements.clone();
        let (spans, notes) = session::new_announcements(metadata, &mut reported);
        if !spans.is_empty() {
            shards.control(Command::Exclude {
                call: session,
                spans: spans.clone(),
            })?;
        }
        for (from, to) in spans {
            tracing::info!(
                from = %from.to_rfc3339(),
                to = %to.to_rfc3339(),
                "call.announcement"
            );
        }
        self.announcements = reported;
        for note in notes {
            push_note(&mut self.warnings, note);
        }
        Ok(())
    }
}

/// What a full media shard queue is answered with: the client may try again.
const RECORDER_BUSY: (u16, &str) = (503, "Service Unavailable (recorder busy)");

/// Each received stream's sockets: RTP, and RTCP unless muxed.
type StreamSockets = Vec<Vec<UdpSocket>>;

/// Bind attempts for one call's ports before the offer is refused (another process may hold
/// some ports of the range).
const BIND_ATTEMPTS: usize = 8;

/// The calls up now, and what their lives need.
pub(super) struct Calls {
    pub(super) settings: SipSettings,
    pub(super) services: Services,
    /// Shared with the tasks that free a call's ports once its sockets are done.
    pool: Arc<Mutex<PortPool>>,
    table: HashMap<SessionId, Call>,
    /// The threads that read the calls' media sockets, one per shard.
    receivers: Receivers,
}

impl Calls {
    pub(super) fn new(
        settings: SipSettings,
        services: Services,
        pool: PortPool,
    ) -> std::io::Result<Calls> {
        let receivers = Receivers::start(services.shards.count())?;
        Ok(Calls {
            settings,
            services,
            pool: Arc::new(Mutex::new(pool)),
            table: HashMap::new(),
            receivers,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn refuse(&mut self, uas: &mut Uas, now: Time, offer: &Offer, status: u16, reason: &str) {
        self.services.metrics.calls_rejected.fetch_add(1, Relaxed);
        tracing::info!(status, reason, "call.refused");
        uas.reject(now, offer.session, status, reason);
    }

    /// A new session: answered and recorded, or refused. `connection_calls` is the call count
    /// of the TCP or TLS connection it came over.
    pub(super) fn start(
        &mut self,
        uas: &mut Uas,
        now: Time,
        offer: Offer,
        connection_calls: Option<&Arc<AtomicU64>>,
    ) {
        let span = log::call_span(&offer.call_id);
        let _in_call = span.enter();
        match self.prepare(now, &offer, &span) {
            Ok((mut call, answer)) => {
                uas.accept(now, offer.session, Some(Bytes::from(answer)));
                self.services.metrics.calls_total.fetch_add(1, Relaxed);
                tracing::info!(
                    peer = %offer.peer.addr,
                    transport = call.transport,
                    recorded = call.recorded_aor.as_deref(),
                    first_port = call.ports.base,
                    streams = call.plans.iter().flatten().count(),
                    "call.start"
                );
                call.connection_calls = connection_calls.map(|calls| {
                    calls.fetch_add(1, Relaxed);
                    Arc::clone(calls)
                });
                self.table.insert(offer.session, call);
            }
            Err(Refusal { status, reason }) => self.refuse(uas, now, &offer, status, &reason),
        }
    }

    /// Everything a new call needs, or the refusal: the decisions first (nothing to undo),
    /// then ports and the answer, the spool job and the shard (each undone if a later one is
    /// refused), then the sockets' tasks and the accept. `span` is the call's; it learns the
    /// recording's name here.
    fn prepare(
        &mut self,
        now: Time,
        offer: &Offer,
        span: &tracing::Span,
    ) -> Result<(Call, String), Refusal> {
        let (description, metadata) = session::read_offer(
            offer.sdp.as_deref().unwrap_or_default(),
            offer.metadata.as_deref(),
        )?;
        session::check_srtp_transport(
            &description,
            matches!(offer.peer.transport, Transport::Tls(_)),
            self.services.config.sip.srtp_over_plain_transport,
        )?;
        let candidates = session::candidate_aors(metadata.as_ref(), &offer.from, &offer.to);
        let (recorded_aor, policy) = match &self.services.policy {
            Some(cache) if !cache.is_empty() => {
                session::choose_policy(&candidates, true, |aor| cache.lookup(aor))?
            }
            _ => session::choose_policy(&candidates, false, |_| unreachable!())?,
        };
        let kind = session::call_kind(metadata.as_ref(), &self.services.config.sip.voicemail_aors);
        session::check_voicemail(
            kind,
            policy.as_ref().map(|p| p.record_voicemail),
            recorded_aor.as_deref(),
        )?;
        let plans =
            session::plan_streams(&description, metadata.as_ref(), recorded_aor.as_deref())?;
        let crypto = our_keys(&plans)?;
        let received: Vec<&StreamPlan> = plans.iter().flatten().collect();
        let recorded_legs = received.iter().filter(|p| p.leg.is_some()).count();
        let (ports, sockets) = self.bind_streams(&received)?;
        let origin = LocalOrigin {
            username: "callrec".into(),
            session_id: now.as_nanos() / 1000,
            version: 1,
        };
        let answer = match answer(
            &description,
            &plans,
            &ports,
            &origin,
            self.settings.media_address,
            &encode_keys(&crypto),
        ) {
            Ok(answer) => answer,
            Err(e) => {
                self.pool.lock().expect("port pool lock").release(ports);
                return Err(Refusal::new(500, format!("Server Internal Error ({e})")));
            }
        };

        let storage = storage_info(policy.as_ref(), recorded_aor.clone());
        // An organisation's own bucket is named with its organisation, so the uploader opens
        // it with that organisation's credentials and never the server's.
        let config = &self.services.config;
        let destination = match policy.as_ref().map(|p| &p.storage) {
            Some(Storage::CustomerOwned(url)) => store::owned_destination(&storage.org, url),
            Some(Storage::Registered(name)) => match config.registered_destination(name) {
                Some(target) => target.url.clone(),
                None => {
                    tracing::warn!(
                        org = storage.org,
                        destination = name,
                        "recording.unregistered_destination"
                    );
                    config.destination_for(Some(&storage.org)).url
                }
            },
            _ => config.destination_for(Some(&storage.org)).url,
        };
        let name = key::recording_name(&offer.call_id, spool::random_u64());
        span.record("recording", name.as_str());
        let job = match self
            .services
            .spool
            .begin(&destination, &format!("{}\n{name}", storage.org))
        {
            Ok(job) => job,
            Err(e) => {
                self.pool.lock().expect("port pool lock").release(ports);
                return Err(Refusal::new(503, format!("Service Unavailable ({e})")));
            }
        };
        let mut payloads = [
            crate::recorder::payload::PayloadMap::empty(),
            crate::recorder::payload::PayloadMap::empty(),
        ];
        let mut srtp: [Option<MasterKey>; 2] = [None, None];
        for plan in &received {
            let leg = match plan.leg {
                Some(crate::recorder::Leg::A) => 0,
                Some(crate::recorder::Leg::B) => 1,
                None => continue,
            };
            payloads[leg] = plan.payloads.clone();
            srtp[leg] = plan.srtp.as_ref().map(|c| c.key.clone());
        }
        let config =
            session::recorder_config(&self.settings.recorder, policy.as_ref(), recorded_legs);
        let sends = session::offer_sends(&description);
        let state = session::initial_state(session::waits_for_user_start(policy.as_ref()), sends);
        let mut announcements = Vec::new();
        let (exclusions, notes) = match &metadata {
            Some(metadata) => session::new_announcements(metadata, &mut announcements),
            None => Default::default(),
        };
        let transport = facts::transport_name(offer.peer.transport);
        // What a recovered recording says of the call if the process dies before its end.
        let input = json!({
            "siprec": {
                "call_id": offer.call_id,
                "transport": transport,
                "recorded": recorded_aor,
                "streams": plans.iter().flatten().map(facts::stream).collect::<Vec<_>>(),
                "participants": metadata.as_ref().map(facts::participants),
                "direction": session::direction(metadata.as_ref(), recorded_aor.as_deref()),
            }
        });
        let storage_org = storage.org.clone();
        let setup = CallSetup {
            call: offer.session,
            name,
            sip_call_id: offer.call_id.clone(),
            input,
            config,
            payloads,
            job,
            destination,
            storage,
            paused_at: (state == RecordingState::Paused).then_some(now),
            exclusions: exclusions.clone(),
            kind,
            awaiting_start: state == RecordingState::AwaitingStart,
            srtp,
            keys: self.services.keyring.get(&storage_org).cloned(),
        };
        if let Err(QueueFull(command)) = self
            .services
            .shards
            .control(Command::Start(Box::new(setup)))
        {
            if let Command::Start(setup) = command {
                let _ = setup.job.abandon();
            }
            self.pool.lock().expect("port pool lock").release(ports);
            return Err(Refusal::new(RECORDER_BUSY.0, RECORDER_BUSY.1));
        }
        self.services.storing.fetch_add(1, Relaxed);
        for (from, to) in &exclusions {
            tracing::info!(
                from = %from.to_rfc3339(),
                to = %to.to_rfc3339(),
                "call.announcement"
            );
        }
        let (paused, paused_rx) = watch::channel(!sends);
        let heard = Arc::new(AtomicU64::new(now.as_nanos()));
        let mut streams = Vec::new();
        for (plan, stream_sockets) in received.iter().zip(sockets) {
            let route = StreamRoute {
                call: offer.session,
                leg: plan.leg,
                shards: Arc::clone(&self.services.shards),
                heard: Arc::clone(&heard),
                paused: paused_rx.clone(),
                clock: clock::now,
            };
            let mut receiving = Vec::new();
            for socket in stream_sockets {
                receiving.push(self.receivers.receive(
                    socket,
                    Latch::new(plan.address),
                    route.clone(),
                ));
            }
            streams.push(StreamRuntime { sockets: receiving });
        }
        let mut warnings = Vec::new();
        for note in offer.notes.iter().cloned().chain(notes) {
            push_note(&mut warnings, note);
        }
        let call = Call {
            call_id: offer.call_id.clone(),
            transport,
            ports,
            plans,
            streams,
            paused,
            state,
            allows_pause: session::allows_pause(policy.as_ref()),
            heard,
            last_signal: now,
            origin,
            metadata,
            crypto,
            announcements,
            recorded_aor,
            warnings,
            connection_calls: None,
            span: span.clone(),
        };
        Ok((call, answer))
    }

    /// Consecutive ports for the received streams, and their sockets (RTP, and RTCP on the
    /// next port unless muxed). A block someone else holds part of is skipped.
    fn bind_streams(
        &mut self,
        received: &[&StreamPlan],
    ) -> Result<(PortBlock, StreamSockets), Refusal> {
        let ip = self.settings.listen.ip();
        for _ in 0..BIND_ATTEMPTS {
            let Some(block) = self
                .pool
                .lock()
                .expect("port pool lock")
                .allocate(received.len() as u32)
            else {
                return Err(Refusal::new(503, "Service Unavailable (no RTP ports free)"));
            };
            let bound: Result<Vec<Vec<UdpSocket>>, std::io::Error> = received
                .iter()
                .enumerate()
                .map(|(i, plan)| {
                    let rtp = block.rtp_port(i as u32);
                    let ports: &[u16] = if plan.rtcp_mux {
                        &[rtp]
                    } else {
                        &[rtp, rtp + 1]
                    };
                    ports
                        .iter()
                        .map(|&port| bind_udp(SocketAddr::new(ip, port)))
                        .collect()
                })
                .collect();
            match bound {
                Ok(sockets) => return Ok((block, sockets)),
                Err(e) => {
                    tracing::warn!(first_port = block.base, error = %e, "ports.busy");
                    // Keep the busy block out of the pool while trying the next one; it goes
                    // back when this call's attempt is over.
                    let pool = Arc::clone(&self.pool);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        pool.lock().expect("port pool lock").release(block);
                    });
                }
            }
        }
        Err(Refusal::new(503, "Service Unavailable (RTP ports busy)"))
    }

    /// A re-INVITE or UPDATE: pause or resume, new metadata, the same ports.
    pub(super) fn update(&mut self, uas: &mut Uas, now: Time, offer: Offer) {
        let Some(call) = self.table.get_mut(&offer.session) else {
            return uas.reject(now, offer.session, 481, "Call/Transaction Does Not Exist");
        };
        let span = call.span.clone();
        let _in_call = span.enter();
        tracing::debug!(
            sdp = offer.sdp.is_some(),
            metadata = offer.metadata.is_some(),
            "call.reoffer"
        );
        call.last_signal = now;
        for note in &offer.notes {
            if !call.warnings.contains(note) {
                push_note(&mut call.warnings, note.clone());
            }
        }
        if let Some(xml) = &offer.metadata {
            let update = std::str::from_utf8(xml)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|xml| {
                    Metadata::parse(xml, &metadata::Limits::default()).map_err(|e| e.to_string())
                });
            let applied = match (update, call.metadata.as_mut()) {
                (Ok(update), Some(current)) => current
                    .apply(update, &metadata::Limits::default())
                    .map_err(|e| e.to_string()),
                (Ok(update), None) => {
                    call.metadata = Some(update);
                    Ok(())
                }
                (Err(e), _) => Err(e),
            };
            if let Err(e) = applied {
                return uas.reject(
                    now,
                    offer.session,
                    400,
                    &format!("Bad recording metadata: {e}"),
                );
            }
            if call
                .leave_out_announcements(offer.session, &self.services.shards)
                .is_err()
            {
                let (status, reason) = RECORDER_BUSY;
                return uas.reject(now, offer.session, status, reason);
            }
        }
        let Some(sdp_bytes) = &offer.sdp else {
            return uas.accept(now, offer.session, None);
        };
        let parsed = std::str::from_utf8(sdp_bytes)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| {
                SessionDescription::parse(text, &sdp::Limits::default()).map_err(|e| e.to_string())
            });
        let description = match parsed {
            Ok(d) => d,
            Err(e) => return uas.reject(now, offer.session, 400, &format!("Bad SDP: {e}")),
        };
        let crypto = match reoffered_keys(
            &description,
            &call.plans,
            &call.crypto,
            matches!(offer.peer.transport, Transport::Tls(_)),
            self.services.config.sip.srtp_over_plain_transport,
        ) {
            Ok(crypto) => crypto,
            Err(Refusal { status, reason }) => {
                return uas.reject(now, offer.session, status, &reason)
            }
        };
        let sends = session::offer_sends(&description);
        let (state, change) = session::on_direction(call.state, sends, call.allows_pause);
        let command = match change {
            DirectionChange::FirstStart => Some(Command::UserStart {
                call: offer.session,
                at: now,
            }),
            DirectionChange::Pause => Some(Command::Pause {
                call: offer.session,
                at: now,
            }),
            DirectionChange::Resume => Some(Command::Resume {
                call: offer.session,
                at: now,
            }),
            DirectionChange::Unchanged | DirectionChange::NotAllowed => None,
        };
        if let Some(command) = command {
            if self.services.shards.control(command).is_err() {
                let (status, reason) = RECORDER_BUSY;
                return uas.reject(now, offer.session, status, reason);
            }
            call.state = state;
            call.paused.send_replace(state != RecordingState::Recording);
            let event = match change {
                DirectionChange::FirstStart => "call.user_start",
                DirectionChange::Pause => "call.pause",
                _ => "call.resume",
            };
            tracing::info!("{event}");
        } else if change == DirectionChange::NotAllowed {
            let note = format!(
                "{} requested at {} but the recording policy does not allow pausing: ignored",
                if sends { "resume" } else { "pause" },
                now.to_rfc3339()
            );
            tracing::info!(note, "call.pause_ignored");
            push_note(&mut call.warnings, note);
        }
        // The same streams on the same ports; media sections the first offer did not have are
        // refused.
        let plans: Vec<Option<StreamPlan>> = (0..description.media.len())
            .map(|i| call.plans.get(i).cloned().flatten())
            .collect();
        call.origin = call.origin.next_version();
        match answer(
            &description,
            &plans,
            &call.ports,
            &call.origin,
            self.settings.media_address,
            &crypto,
        ) {
            Ok(answer) => uas.accept(now, offer.session, Some(Bytes::from(answer))),
            Err(e) => uas.reject(
                now,
                offer.session,
                488,
                &format!("Not Acceptable Here ({e})"),
            ),
        }
    }

    /// Ends calls that went silent: no RTP and no signalling for the idle timeout.
    pub(super) fn end_idle(&mut self, uas: &mut Uas, now: Time) {
        let timeout = self.settings.idle_timeout;
        let idle: Vec<SessionId> = self
            .table
            .iter()
            .filter(|(_, call)| {
                let heard = Time::from_nanos(call.heard.load(Relaxed));
                now.saturating_since(heard.max(call.last_signal)) >= timeout
            })
            .map(|(&session, _)| session)
            .collect();
        for session in idle {
            self.services.metrics.calls_idle_ended.fetch_add(1, Relaxed);
            let note = format!(
                "no RTP or signalling for {} s: the client is gone",
                timeout.as_secs()
            );
            uas.end(now, session, 200, &note);
            self.finish(session, "idle", Some(note));
        }
    }

    /// A call whose recording failed is ended with a BYE whose Reason (cause 503) says why,
    /// so the recording client can alert or try another recorder.
    pub(super) fn recording_failed(
        &mut self,
        uas: &mut Uas,
        now: Time,
        session: SessionId,
        reason: String,
    ) {
        let Some(call) = self.table.get(&session) else {
            return;
        };
        let span = call.span.clone();
        let _in_call = span.enter();
        self.services
            .metrics
            .calls_recording_failed
            .fetch_add(1, Relaxed);
        tracing::warn!(error = reason, "call.recording_failed");
        let note = format!("recording failed: {reason}");
        uas.end(now, session, 503, &note);
        self.finish(session, "recording failed", Some(note));
    }

    /// Ends every call (the drain deadline passed).
    pub(super) fn end_all(&mut self, uas: &mut Uas, why: &str) {
        let sessions: Vec<SessionId> = self.table.keys().copied().collect();
        for session in sessions {
            uas.end(clock::now(), session, 200, why);
            self.finish(session, "drain deadline", Some(why.to_string()));
        }
    }

    /// Stops the call's sockets, then (once they are done) stores the recording and frees the
    /// ports.
    pub(super) fn finish(&mut self, session: SessionId, reason: &str, warning: Option<String>) {
        let Some(mut call) = self.table.remove(&session) else {
            return;
        };
        let span = call.span.clone();
        let _in_call = span.enter();
        if let Some(warning) = warning {
            push_note(&mut call.warnings, warning);
        }
        if let Some(calls) = call.connection_calls.take() {
            calls.fetch_sub(1, Relaxed);
        }
        tracing::info!(reason, "call.end");
        if call.state == RecordingState::AwaitingStart {
            self.services
                .metrics
                .calls_never_started
                .fetch_add(1, Relaxed);
            tracing::info!(user = call.recorded_aor.as_deref(), "call.never_started");
        }
        for socket in call.streams.iter().flat_map(|s| &s.sockets) {
            socket.stop();
        }
        let reason = reason.to_owned();
        let shards = Arc::clone(&self.services.shards);
        let pool = Arc::clone(&self.pool);
        let metrics = Arc::clone(&self.services.metrics);
        // The store task runs in the call's span: whatever it logs is the call's.
        let store = async move {
            let mut streams = Vec::new();
            for (plan, runtime) in call.plans.iter().flatten().zip(call.streams) {
                let mut sources = Vec::new();
                for socket in runtime.sockets {
                    if let Some((stats, source)) = socket.finish().await {
                        metrics.packets_kept.fetch_add(stats.kept, Relaxed);
                        metrics.packets_foreign.fetch_add(stats.foreign, Relaxed);
                        metrics
                            .packets_not_latchable
                            .fetch_add(stats.not_latchable, Relaxed);
                        sources.push(facts::socket(&stats, source));
                    }
                }
                let mut stream = facts::stream(plan);
                stream["sockets"] = sources.into();
                streams.push(stream);
            }
            pool.lock().expect("port pool lock").release(call.ports);
            let input = json!({
                "siprec": {
                    "call_id": call.call_id,
                    "transport": call.transport,
                    "recorded": call.recorded_aor,
                    "end": reason,
                    "streams": streams,
                    "participants": call.metadata.as_ref().map(facts::participants),
                    "direction": session::direction(
                        call.metadata.as_ref(),
                        call.recorded_aor.as_deref(),
                    ),
                }
            });
            let mut command = Command::End {
                call: session,
                input,
                warnings: call.warnings,
            };
            // The end must reach the shard, behind the call's last packets: while its queue is
            // full this task (never the signalling one) tries again.
            while let Err(QueueFull(back)) = shards.control(command) {
                command = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::spawn(store.instrument(span.clone()));
    }
}

/// Our keys for each SRTP stream, by media index: fresh random ones of the suite the offer's
/// chosen line names, under its tag (RFC 4568 §7.1.2: never the offerer's key).
fn our_keys(plans: &[Option<StreamPlan>]) -> Result<Vec<Option<Crypto>>, Refusal> {
    plans
        .iter()
        .map(|plan| {
            let Some(theirs) = plan.as_ref().and_then(|p| p.srtp.as_ref()) else {
                return Ok(None);
            };
            let suite = theirs.key.suite();
            let mut bytes = vec![0u8; suite.key_len() + suite.salt_len()];
            getrandom::fill(&mut bytes).map_err(|e| {
                Refusal::new(500, format!("Server Internal Error (no random keys: {e})"))
            })?;
            let key = MasterKey::new(suite, bytes).expect("sized for its suite");
            Ok(Some(Crypto {
                tag: theirs.tag,
                key,
                lifetime: None,
            }))
        })
        .collect()
}

fn encode_keys(crypto: &[Option<Crypto>]) -> Vec<Option<String>> {
    crypto
        .iter()
        .map(|c| c.as_ref().map(Crypto::encode))
        .collect()
}

/// A re-offer's `a=crypto` answers, by media index: our same keys under the tag of the line
/// that still carries the sender's key in use; a refusal when a stream changed its keys or
/// its profile, or when the re-offer brings SRTP keys over plain transport.
fn reoffered_keys(
    description: &SessionDescription,
    plans: &[Option<StreamPlan>],
    ours: &[Option<Crypto>],
    over_tls: bool,
    allowed_in_clear: bool,
) -> Result<Vec<Option<String>>, Refusal> {
    session::check_srtp_transport(description, over_tls, allowed_in_clear)?;
    description
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let Some(plan) = plans.get(i).and_then(Option::as_ref) else {
                return Ok(None);
            };
            if m.port == 0 {
                return Ok(None);
            }
            let tag = session::reoffered_crypto(plan.srtp.as_ref(), m)?;
            Ok(tag.and_then(|tag| {
                let ours = ours.get(i)?.as_ref()?;
                Some(
                    Crypto {
                        tag,
                        ..ours.clone()
                    }
                    .encode(),
                )
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::recorder::RecorderConfig;
    use crate::server::siprec::live_metrics::SipMetrics;
    use crate::server::siprec::shard::Shards;
    use crate::sip::message::Limits;
    use crate::sip::{Peer, Transport};
    use crate::store::spool::Spool;
    use std::path::PathBuf;
    use tokio::sync::{mpsc, Notify};

    /// One call's worth of ports (two streams, RTCP beside each), out of the way of the
    /// servers the integration tests start.
    const PORTS: std::ops::RangeInclusive<u16> = 39_870..=39_873;

    fn offer() -> Offer {
        let sdp = "v=0\r\no=src 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n\
                   m=audio 40002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n";
        Offer {
            session: 1,
            initial: true,
            call_id: "refused-by-the-spool".into(),
            peer: Peer {
                addr: "127.0.0.1:5062".parse().expect("an address"),
                transport: Transport::Udp,
            },
            from: "sip:src@example.com".into(),
            to: "sip:srs@example.com".into(),
            sdp: Some(Bytes::from(sdp)),
            metadata: None,
            notes: Vec::new(),
        }
    }

    /// A call table over `spool`, its ports [`PORTS`], recording with the defaults.
    fn calls(spool: Spool) -> Calls {
        let settings = SipSettings {
            listen: "127.0.0.1:0".parse().expect("an address"),
            media_address: "127.0.0.1".parse().expect("an address"),
            rtp_ports: PORTS,
            max_calls: 10,
            idle_timeout: Duration::from_secs(60),
            drain_deadline: Duration::from_secs(1),
            max_invite_wait: None,
            connection_idle: Duration::from_secs(60),
            limits: Limits::default(),
            allow: crate::sip::sources::AllowedSources::loopback(),
            tls: None,
            recorder: RecorderConfig::default(),
        };
        let services = Services {
            config: Arc::new(Config::default()),
            spool,
            shards: Arc::new(Shards::start(1, clock::now, |_| {})),
            policy: None,
            wake_uploader: Arc::new(Notify::new()),
            metrics: Arc::new(SipMetrics::default()),
            storing: Arc::new(AtomicU64::new(0)),
            failures: mpsc::channel(1).1,
            keyring: Arc::default(),
        };
        Calls::new(settings, services, PortPool::new(PORTS).expect("a range"))
            .expect("the OS starts a thread")
    }

    fn temp_dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("callrec-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// The spool refuses the job after the ports and sockets are taken: the refusal gives the
    /// ports back, starts nothing on a shard and leaves nothing counted as being stored.
    #[tokio::test]
    async fn a_call_the_spool_refuses_gives_back_its_ports_and_counts_nothing() {
        let dir = temp_dir("spool-refuses");
        // A limit of nothing: every new job is refused as "spool full".
        let spool = Spool::open(&dir, 0).expect("the spool opens");
        let mut calls = calls(spool);
        let refusal = match calls.prepare(clock::now(), &offer(), &tracing::Span::none()) {
            Ok(_) => panic!("a full spool takes no call"),
            Err(refusal) => refusal,
        };
        assert_eq!(refusal.status, 503);
        assert!(
            refusal
                .reason
                .starts_with("Service Unavailable (spool full"),
            "{}",
            refusal.reason
        );
        assert_eq!(calls.services.storing.load(Relaxed), 0);
        assert!(calls.is_empty());
        // The range is one call's worth: it is all free again.
        let block = calls.pool.lock().expect("port pool lock").allocate(2);
        assert_eq!(block.map(|b| b.base), Some(*PORTS.start()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
