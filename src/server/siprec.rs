//! The SIPREC server's IO shell: SIP over UDP and TCP into the user agent ([`crate::sip::uas`]),
//! its offers through the session's decisions ([`crate::session`]) into ports, sockets, spool
//! jobs and shard commands, and its responses back out. One task owns the user agent and the
//! call table, so signalling needs no locks; media never passes through it.

use super::latch::Latch;
use super::log;
use super::media_socket::{self, StreamRoute};
use super::ports::{PortBlock, PortPool};
use super::shard::{push_note, CallSetup, Command, QueueFull, Shards};
use crate::config::Config;
use crate::policy::effective::{RecordingPolicy, Storage};
use crate::policydb::cache::PolicyCache;
use crate::recorder::RecorderConfig;
use crate::session::{self, DirectionChange, RecordingState, StreamPlan};
use crate::sip::framing::{Frame, Framer};
use crate::sip::message::Limits;
use crate::sip::metadata::{self, Announcement, Metadata};
use crate::sip::sdp::{self, Answer, LocalOrigin, SessionDescription, StreamAnswer};
use crate::sip::uas::{EndReason, Event, Offer, SessionId, Uas, UasConfig};
use crate::sip::{Peer, Refusal, Transmit, Transport};
use crate::store::key::{self, RetentionClass};
use crate::store::metadata::StorageInfo;
use crate::store::spool::{self, Spool};
use crate::time::Time;
use bytes::{Bytes, BytesMut};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How the SIPREC server runs (from `[sip]` in the configuration).
#[derive(Clone, Debug)]
pub struct SipSettings {
    pub listen: SocketAddr,
    /// The address our SDP answers give for media.
    pub media_address: IpAddr,
    pub rtp_ports: RangeInclusive<u16>,
    pub max_calls: usize,
    /// A call with neither RTP nor signalling for this long is ended and stored.
    pub idle_timeout: Duration,
    /// How long a drain waits for calls to end before ending them itself.
    pub drain_deadline: Duration,
    /// A TCP or TLS connection that sends nothing for this long is closed.
    pub connection_idle: Duration,
    pub limits: Limits,
    /// SIP over TLS: where, and the server's TLS configuration.
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    /// Format, layout, codec and jitter settings; policy adds tones per call.
    pub recorder: RecorderConfig,
}

/// What the server shares with the rest of `serve`.
pub struct Services {
    pub config: Arc<Config>,
    pub spool: Spool,
    pub shards: Arc<Shards>,
    /// `None`: no policy configured; every call is recorded with the defaults.
    pub policy: Option<Arc<PolicyCache>>,
    pub wake_uploader: Arc<Notify>,
    pub metrics: Arc<SipMetrics>,
    /// Calls started on a shard and not yet stored there.
    pub storing: Arc<AtomicU64>,
    /// Calls whose recording failed while they go on (from the shards): ended with a BYE.
    pub failures: mpsc::Receiver<(SessionId, String)>,
}

/// Counters `/metrics` shows for signalling and media sockets.
#[derive(Debug, Default)]
pub struct SipMetrics {
    pub calls_active: AtomicU64,
    pub calls_total: AtomicU64,
    pub calls_rejected: AtomicU64,
    pub calls_idle_ended: AtomicU64,
    pub packets_kept: AtomicU64,
    pub packets_foreign: AtomicU64,
    pub packets_not_latchable: AtomicU64,
    pub sip_requests: AtomicU64,
    pub sip_unanswerable: AtomicU64,
    /// TCP or TLS connections closed at once: `MAX_CONNECTIONS` were open.
    pub connections_refused: AtomicU64,
    /// BYEs we sent to end calls ourselves, and those never answered.
    pub byes_sent: AtomicU64,
    pub byes_unanswered: AtomicU64,
    /// Answered calls we ended because their recording failed.
    pub calls_recording_failed: AtomicU64,
    /// On Demand sessions that ended without the user's start: nothing stored.
    pub calls_never_started: AtomicU64,
    /// TCP or TLS connections closed after `sip.connection_idle_secs` without a byte.
    pub connections_idle_closed: AtomicU64,
    pub draining: AtomicU64,
}

/// Transport-level inputs, from the UDP socket and the TCP connections.
enum Inbound {
    Message(Peer, Bytes),
    /// A TCP connection's writer, to send its responses through.
    Connected(u64, Connection),
    Closed(u64),
}

/// What signalling keeps of a TCP or TLS connection.
struct Connection {
    writer: mpsc::Sender<Bytes>,
    /// Calls whose dialog came over it: while any is up, the connection is never closed as
    /// idle (our BYE may still have to go through it).
    calls: Arc<AtomicU64>,
}

/// One stream's receiving side.
struct StreamRuntime {
    tasks: Vec<JoinHandle<(super::latch::LatchStats, Option<SocketAddr>)>>,
}

struct Call {
    call_id: String,
    /// How the client reached us: `udp`, `tcp` or `tls`.
    transport: &'static str,
    name: String,
    ports: PortBlock,
    plans: Vec<Option<StreamPlan>>,
    streams: Vec<StreamRuntime>,
    stop: watch::Sender<bool>,
    /// Whether media is held back from the recorder (paused, or awaiting the user's start).
    paused: watch::Sender<bool>,
    state: RecordingState,
    allows_pause: bool,
    heard: Arc<AtomicU64>,
    last_signal: Time,
    origin: LocalOrigin,
    metadata: Option<Metadata>,
    /// The announcements the client reported so far (each left out once).
    announcements: Vec<Announcement>,
    recorded_aor: Option<String>,
    warnings: Vec<String>,
    /// The call count of the TCP or TLS connection its dialog came over.
    connection_calls: Option<Arc<AtomicU64>>,
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
            log::info(
                "call.announcement",
                json!({ "call_id": self.call_id, "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
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
/// Bytes one UDP read takes: a SIP message is bounded by `Limits::max_message_bytes`.
const UDP_READ: usize = 65_536;

/// Runs the SIPREC server until `shutdown` turns true and the drain is over. `bound` hears the
/// SIP address (UDP and TCP) and the TLS one, once listening.
pub async fn run(
    settings: SipSettings,
    services: Services,
    bound: impl FnOnce(SocketAddr, Option<SocketAddr>),
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let (udp, tcp) = bind_sip(settings.listen).await?;
    let local = udp.local_addr().map_err(|e| e.to_string())?;
    let tls = match &settings.tls {
        None => None,
        Some((listen, config)) => {
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| format!("sip.tls_listen {listen}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            Some((listener, local, TlsAcceptor::from(Arc::clone(config))))
        }
    };
    bound(local, tls.as_ref().map(|(_, local, _)| *local));
    let pool =
        PortPool::new(settings.rtp_ports.clone()).map_err(|e| format!("sip.rtp_ports: {e}"))?;
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(1024);
    let connections = Arc::new(Connections {
        next_id: AtomicU64::new(0),
        slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        inbound: inbound_tx,
        limits: settings.limits.clone(),
        idle: settings.connection_idle,
        metrics: Arc::clone(&services.metrics),
    });
    tokio::spawn(accept_connections(tcp, None, Arc::clone(&connections)));
    let tls_contact = tls.map(|(listener, local, acceptor)| {
        tokio::spawn(accept_connections(listener, Some(acceptor), connections));
        format!(
            "sip:callrec@{}",
            SocketAddr::new(settings.media_address, local.port())
        )
    });

    let contact = format!(
        "sip:callrec@{}",
        SocketAddr::new(settings.media_address, local.port())
    );
    let mut server = Server {
        uas: Uas::new(UasConfig {
            limits: settings.limits.clone(),
            timers: Default::default(),
            max_sessions: settings.max_calls,
            contact,
            tls_contact,
            server: format!("callrec/{}", env!("CARGO_PKG_VERSION")),
        }),
        settings,
        services,
        pool: Arc::new(Mutex::new(pool)),
        calls: HashMap::new(),
        connections: HashMap::new(),
        udp,
    };
    let mut buf = BytesMut::with_capacity(UDP_READ);
    let mut drain_deadline: Option<Time> = None;
    let mut housekeeping = tokio::time::interval(Duration::from_millis(250));
    loop {
        let timeout = server
            .uas
            .poll_timeout()
            .map(|at| at.saturating_since(super::clock::now()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            received = server.udp.recv_buf_from(&mut buf) => {
                if let Ok((_, from)) = received {
                    let bytes = buf.split().freeze();
                    let peer = Peer { addr: from, transport: Transport::Udp };
                    server.uas.receive(super::clock::now(), peer, bytes);
                }
                buf.clear();
                if buf.capacity() < UDP_READ {
                    buf.reserve(UDP_READ);
                }
            }
            Some(input) = inbound.recv() => match input {
                Inbound::Message(peer, bytes) => server.uas.receive(super::clock::now(), peer, bytes),
                Inbound::Connected(id, connection) => { server.connections.insert(id, connection); }
                Inbound::Closed(id) => { server.connections.remove(&id); }
            },
            _ = tokio::time::sleep(timeout) => server.uas.handle_timeout(super::clock::now()),
            Some((session, reason)) = server.services.failures.recv() => {
                server.recording_failed(super::clock::now(), session, reason);
            }
            _ = housekeeping.tick() => {
                let now = super::clock::now();
                server.end_idle_calls(now);
                if drain_deadline.is_some_and(|at| now >= at) {
                    server.end_all("the drain deadline passed");
                }
            }
            changed = shutdown.changed(), if drain_deadline.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    server.uas.set_draining(true);
                    server.services.metrics.draining.store(1, Relaxed);
                    drain_deadline = Some(super::clock::now() + server.settings.drain_deadline);
                    log::info("drain.start", json!({ "calls": server.calls.len() }));
                }
            }
        }
        server.act().await;
        if drain_deadline.is_some() && server.calls.is_empty() {
            break;
        }
    }
    log::info("drain.signalling_done", json!({}));
    Ok(())
}

struct Server {
    uas: Uas,
    settings: SipSettings,
    services: Services,
    pool: Arc<Mutex<PortPool>>,
    calls: HashMap<SessionId, Call>,
    connections: HashMap<u64, Connection>,
    udp: UdpSocket,
}

impl Server {
    /// Handles the user agent's events, then sends what it has to send.
    async fn act(&mut self) {
        while let Some(event) = self.uas.poll_event() {
            let now = super::clock::now();
            match event {
                Event::Offer(offer) if offer.initial => self.start_call(now, offer),
                Event::Offer(offer) => self.update_call(now, offer),
                Event::Ended { session, why } => {
                    let reason = match why {
                        EndReason::Bye => "bye",
                        EndReason::Cancelled => "cancelled",
                        EndReason::NotAcknowledged => "not acknowledged",
                    };
                    self.finish_call(session, reason, None);
                }
            }
        }
        let stats = self.uas.stats();
        let metrics = &self.services.metrics;
        metrics.sip_requests.store(stats.requests, Relaxed);
        metrics.sip_unanswerable.store(stats.unanswerable, Relaxed);
        let byes = self.uas.bye_stats();
        metrics.byes_sent.store(byes.sent, Relaxed);
        metrics.byes_unanswered.store(byes.unanswered, Relaxed);
        metrics.calls_active.store(self.calls.len() as u64, Relaxed);
        while let Some(Transmit { to, bytes }) = self.uas.poll_transmit() {
            match to.transport {
                Transport::Udp => {
                    let _ = self.udp.send_to(&bytes, to.addr).await;
                }
                Transport::Tcp(id) | Transport::Tls(id) => {
                    if let Some(connection) = self.connections.get(&id) {
                        let _ = connection.writer.try_send(bytes);
                    }
                }
            }
        }
    }

    fn refuse(&mut self, now: Time, offer: &Offer, status: u16, reason: &str) {
        self.services.metrics.calls_rejected.fetch_add(1, Relaxed);
        log::info(
            "call.refused",
            json!({ "call_id": offer.call_id, "status": status, "reason": reason }),
        );
        self.uas.reject(now, offer.session, status, reason);
    }

    fn start_call(&mut self, now: Time, offer: Offer) {
        match self.prepare(now, &offer) {
            Ok(mut call) => {
                self.services.metrics.calls_total.fetch_add(1, Relaxed);
                log::info(
                    "call.start",
                    json!({
                        "call_id": call.call_id,
                        "peer": offer.peer.addr.to_string(),
                        "transport": call.transport,
                        "recording": call.name,
                        "recorded": call.recorded_aor,
                        "first_port": call.ports.base,
                        "streams": call.plans.iter().flatten().count(),
                    }),
                );
                if let Transport::Tcp(id) | Transport::Tls(id) = offer.peer.transport {
                    call.connection_calls = self.connections.get(&id).map(|c| {
                        c.calls.fetch_add(1, Relaxed);
                        Arc::clone(&c.calls)
                    });
                }
                self.calls.insert(offer.session, call);
            }
            Err(Refusal { status, reason }) => self.refuse(now, &offer, status, &reason),
        }
    }

    /// Everything a new call needs, or the refusal: the decisions first (nothing to undo),
    /// then ports and the answer, the spool job and the shard (each undone if a later one is
    /// refused), then the sockets' tasks and the accept.
    fn prepare(&mut self, now: Time, offer: &Offer) -> Result<Call, Refusal> {
        let (description, metadata) = session::read_offer(
            offer.sdp.as_deref().unwrap_or_default(),
            offer.metadata.as_deref(),
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
        ) {
            Ok(answer) => answer,
            Err(e) => {
                self.pool.lock().expect("port pool lock").release(ports);
                return Err(Refusal::new(500, format!("Server Internal Error ({e})")));
            }
        };

        let storage = storage_info(policy.as_ref(), recorded_aor.clone());
        let destination = match policy.as_ref().map(|p| &p.storage) {
            Some(Storage::CustomerOwned(url)) => url.clone(),
            _ => self.services.config.destination_for(Some(&storage.org)).url,
        };
        let name = key::recording_name(&offer.call_id, spool::random_u64());
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
        for plan in &received {
            match plan.leg {
                Some(crate::recorder::Leg::A) => payloads[0] = plan.payloads.clone(),
                Some(crate::recorder::Leg::B) => payloads[1] = plan.payloads.clone(),
                None => {}
            }
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
        let transport = match offer.peer.transport {
            Transport::Udp => "udp",
            Transport::Tcp(_) => "tcp",
            Transport::Tls(_) => "tls",
        };
        // What a recovered recording says of the call if the process dies before its end.
        let input = json!({
            "siprec": {
                "call_id": offer.call_id,
                "transport": transport,
                "recorded": recorded_aor,
                "streams": plans.iter().flatten().map(|plan| json!({
                    "label": plan.label,
                    "leg": plan.leg.map(|l| if l == crate::recorder::Leg::A { "a" } else { "b" }),
                    "sender": plan.sender.as_ref().map(|(name, aor)| json!({ "name": name, "aor": aor })),
                })).collect::<Vec<_>>(),
                "participants": metadata.as_ref().map(participants),
            }
        });
        let setup = CallSetup {
            call: offer.session,
            name: name.clone(),
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
            log::info(
                "call.announcement",
                json!({ "call_id": offer.call_id, "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
            );
        }
        let (stop, stop_rx) = watch::channel(false);
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
                clock: super::clock::now,
            };
            let tasks = stream_sockets
                .into_iter()
                .map(|socket| {
                    tokio::spawn(media_socket::receive(
                        socket,
                        Latch::new(plan.address),
                        route.clone(),
                        stop_rx.clone(),
                    ))
                })
                .collect();
            streams.push(StreamRuntime { tasks });
        }
        self.uas
            .accept(now, offer.session, Some(Bytes::from(answer)));
        let mut warnings = Vec::new();
        for note in offer.notes.iter().cloned().chain(notes) {
            push_note(&mut warnings, note);
        }
        Ok(Call {
            call_id: offer.call_id.clone(),
            transport,
            name,
            ports,
            plans,
            streams,
            stop,
            paused,
            state,
            allows_pause: session::allows_pause(policy.as_ref()),
            heard,
            last_signal: now,
            origin,
            metadata,
            announcements,
            recorded_aor,
            warnings,
            connection_calls: None,
        })
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
                    log::warn(
                        "ports.busy",
                        json!({ "first_port": block.base, "error": e.to_string() }),
                    );
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
    fn update_call(&mut self, now: Time, offer: Offer) {
        let Some(call) = self.calls.get_mut(&offer.session) else {
            return self
                .uas
                .reject(now, offer.session, 481, "Call/Transaction Does Not Exist");
        };
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
                return self.uas.reject(
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
                return self.uas.reject(now, offer.session, status, reason);
            }
        }
        let Some(sdp_bytes) = &offer.sdp else {
            return self.uas.accept(now, offer.session, None);
        };
        let parsed = std::str::from_utf8(sdp_bytes)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|text| {
                SessionDescription::parse(text, &sdp::Limits::default()).map_err(|e| e.to_string())
            });
        let description = match parsed {
            Ok(d) => d,
            Err(e) => {
                return self
                    .uas
                    .reject(now, offer.session, 400, &format!("Bad SDP: {e}"))
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
                return self.uas.reject(now, offer.session, status, reason);
            }
            call.state = state;
            call.paused.send_replace(state != RecordingState::Recording);
            let event = match change {
                DirectionChange::FirstStart => "call.user_start",
                DirectionChange::Pause => "call.pause",
                _ => "call.resume",
            };
            log::info(event, json!({ "call_id": call.call_id }));
        } else if change == DirectionChange::NotAllowed {
            let note = format!(
                "{} requested at {} but the recording policy does not allow pausing: ignored",
                if sends { "resume" } else { "pause" },
                now.to_rfc3339()
            );
            log::info(
                "call.pause_ignored",
                json!({ "call_id": call.call_id, "note": note }),
            );
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
        ) {
            Ok(answer) => self
                .uas
                .accept(now, offer.session, Some(Bytes::from(answer))),
            Err(e) => self.uas.reject(
                now,
                offer.session,
                488,
                &format!("Not Acceptable Here ({e})"),
            ),
        }
    }

    /// Ends calls that went silent: no RTP and no signalling for the idle timeout.
    fn end_idle_calls(&mut self, now: Time) {
        let timeout = self.settings.idle_timeout;
        let idle: Vec<SessionId> = self
            .calls
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
            self.uas.end(now, session, 200, &note);
            self.finish_call(session, "idle", Some(note));
        }
    }

    /// A call whose recording failed is ended with a BYE whose Reason (cause 503) says why,
    /// so the recording client can alert or try another recorder.
    fn recording_failed(&mut self, now: Time, session: SessionId, reason: String) {
        let Some(call) = self.calls.get(&session) else {
            return;
        };
        self.services
            .metrics
            .calls_recording_failed
            .fetch_add(1, Relaxed);
        log::warn(
            "call.recording_failed",
            json!({ "call_id": call.call_id, "recording": call.name, "error": reason }),
        );
        let note = format!("recording failed: {reason}");
        self.uas.end(now, session, 503, &note);
        self.finish_call(session, "recording failed", Some(note));
    }

    fn end_all(&mut self, why: &str) {
        let sessions: Vec<SessionId> = self.calls.keys().copied().collect();
        for session in sessions {
            self.uas.end(super::clock::now(), session, 200, why);
            self.finish_call(session, "drain deadline", Some(why.to_string()));
        }
    }

    /// Stops the call's sockets, then (once they are done) stores the recording and frees the
    /// ports.
    fn finish_call(&mut self, session: SessionId, reason: &str, warning: Option<String>) {
        let Some(mut call) = self.calls.remove(&session) else {
            return;
        };
        if let Some(warning) = warning {
            push_note(&mut call.warnings, warning);
        }
        if let Some(calls) = call.connection_calls.take() {
            calls.fetch_sub(1, Relaxed);
        }
        log::info(
            "call.end",
            json!({ "call_id": call.call_id, "reason": reason }),
        );
        if call.state == RecordingState::AwaitingStart {
            self.services
                .metrics
                .calls_never_started
                .fetch_add(1, Relaxed);
            log::info(
                "call.never_started",
                json!({ "call_id": call.call_id, "recording": call.name, "user": call.recorded_aor }),
            );
        }
        let _ = call.stop.send(true);
        let reason = reason.to_owned();
        let shards = Arc::clone(&self.services.shards);
        let pool = Arc::clone(&self.pool);
        let metrics = Arc::clone(&self.services.metrics);
        tokio::spawn(async move {
            let mut streams = Vec::new();
            for (plan, runtime) in call.plans.iter().flatten().zip(call.streams) {
                let mut sources = Vec::new();
                for task in runtime.tasks {
                    if let Ok((stats, source)) = task.await {
                        metrics.packets_kept.fetch_add(stats.kept, Relaxed);
                        metrics.packets_foreign.fetch_add(stats.foreign, Relaxed);
                        metrics
                            .packets_not_latchable
                            .fetch_add(stats.not_latchable, Relaxed);
                        sources.push(json!({
                            "source": source.map(|s| s.to_string()),
                            "kept": stats.kept,
                            "dropped_foreign": stats.foreign,
                            "dropped_not_rtp": stats.not_latchable,
                        }));
                    }
                }
                streams.push(json!({
                    "label": plan.label,
                    "leg": plan.leg.map(|l| if l == crate::recorder::Leg::A { "a" } else { "b" }),
                    "sender": plan.sender.as_ref().map(|(name, aor)| json!({ "name": name, "aor": aor })),
                    "sockets": sources,
                }));
            }
            pool.lock().expect("port pool lock").release(call.ports);
            let input = json!({
                "siprec": {
                    "call_id": call.call_id,
                    "transport": call.transport,
                    "recorded": call.recorded_aor,
                    "end": reason,
                    "streams": streams,
                    "participants": call.metadata.as_ref().map(participants),
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
        });
    }
}

fn participants(metadata: &Metadata) -> serde_json::Value {
    metadata
        .participants
        .iter()
        .map(|p| json!({ "id": p.participant_id, "names": p.names, "aors": p.aors }))
        .collect()
}

/// The SDP answer: each received stream on its port, the rest refused.
fn answer(
    offer: &SessionDescription,
    plans: &[Option<StreamPlan>],
    ports: &PortBlock,
    origin: &LocalOrigin,
    address: IpAddr,
) -> Result<String, sdp::AnswerError> {
    let mut next = 0u32;
    let streams: Vec<StreamAnswer> = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| match plans.get(i).cloned().flatten() {
            Some(plan) if m.port != 0 => {
                let port = ports.rtp_port(next);
                next += 1;
                let offered: Vec<u8> = plan
                    .payload_types
                    .iter()
                    .copied()
                    .filter(|pt| m.rtp_format(*pt).is_some())
                    .collect();
                if offered.is_empty() {
                    return StreamAnswer::Reject;
                }
                StreamAnswer::Accept {
                    port,
                    rtcp_mux: plan.rtcp_mux && m.rtcp_mux,
                    payload_types: offered,
                }
            }
            Some(_) => {
                next += 1;
                StreamAnswer::Reject
            }
            None => StreamAnswer::Reject,
        })
        .collect();
    Ok(Answer::new(offer, origin.clone(), address, &streams)?.encode())
}

/// Whose recording and how long it is kept: from policy, or the defaults (the organisation
/// `default`, Dubber Go, 30 days) when none is configured.
fn storage_info(policy: Option<&RecordingPolicy>, recorded: Option<String>) -> StorageInfo {
    match policy {
        Some(p) => StorageInfo {
            org: p.org.0.clone(),
            user: Some(p.user.0.clone()),
            provider: p.provider.as_str().to_string(),
            plan: p.plan.to_string(),
            retention: p.retention,
            retained_since: String::new(),
        },
        None => StorageInfo {
            org: "default".into(),
            user: recorded,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: RetentionClass::Days(30),
            retained_since: String::new(),
        },
    }
}

/// UDP and TCP on one address. With port 0 the system picks the UDP port, which TCP may
/// find taken: then both are tried again on another.
async fn bind_sip(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), String> {
    let mut attempts = if listen.port() == 0 { 16 } else { 1 };
    loop {
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|e| format!("sip.listen {listen}: {e}"))?;
        let local = udp.local_addr().map_err(|e| e.to_string())?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if attempts > 1 => attempts -= 1,
            Err(e) => return Err(format!("sip.listen {local} (TCP): {e}")),
        }
    }
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// TCP and TLS connections held at once; one more is closed as soon as it is accepted.
const MAX_CONNECTIONS: usize = 1024;
/// How long a TLS client has to finish its handshake.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// What every SIP connection shares: its numbering, the slots, where messages go.
struct Connections {
    next_id: AtomicU64,
    slots: Arc<Semaphore>,
    inbound: mpsc::Sender<Inbound>,
    limits: Limits,
    /// Silence after which a connection is closed.
    idle: Duration,
    metrics: Arc<SipMetrics>,
}

/// Accepts SIP over TCP, or over TLS with `tls`: each connection is served on its own task
/// (after the TLS handshake, bounded in time), within [`MAX_CONNECTIONS`].
async fn accept_connections(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    connections: Arc<Connections>,
) {
    while let Ok((stream, addr)) = listener.accept().await {
        let Ok(slot) = Arc::clone(&connections.slots).try_acquire_owned() else {
            connections
                .metrics
                .connections_refused
                .fetch_add(1, Relaxed);
            continue;
        };
        let id = connections.next_id.fetch_add(1, Relaxed) + 1;
        let connections = Arc::clone(&connections);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let Some(tls) = tls else {
                return serve_connection(stream, addr, id, false, &connections).await;
            };
            match tokio::time::timeout(TLS_HANDSHAKE, tls.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, addr, id, true, &connections).await,
                Ok(Err(e)) => log::warn(
                    "sip.tls_handshake_failed",
                    json!({ "peer": addr.to_string(), "error": e.to_string() }),
                ),
                Err(_) => log::warn(
                    "sip.tls_handshake_failed",
                    json!({ "peer": addr.to_string(), "error": "timed out" }),
                ),
            }
        });
    }
}

/// One connection's life (connection `id`, TLS or plain TCP): its messages are cut by the
/// framer and handed to the signalling task; its responses come back through a bounded
/// writer queue.
async fn serve_connection<S>(
    stream: S,
    addr: SocketAddr,
    id: u64,
    tls: bool,
    connections: &Connections,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = match tls {
        true => Transport::Tls(id),
        false => Transport::Tcp(id),
    };
    let inbound = &connections.inbound;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let calls = Arc::new(AtomicU64::new(0));
    let connection = Connection {
        writer: tx.clone(),
        calls: Arc::clone(&calls),
    };
    if inbound
        .send(Inbound::Connected(id, connection))
        .await
        .is_err()
    {
        return;
    }
    let write = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let peer = Peer { addr, transport };
    let mut framer = Framer::new(&connections.limits);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match tokio::time::timeout(connections.idle, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) => break,
            Err(_) if calls.load(Relaxed) > 0 => continue,
            Err(_) => {
                connections
                    .metrics
                    .connections_idle_closed
                    .fetch_add(1, Relaxed);
                log::info(
                    "sip.connection_idle_closed",
                    json!({ "peer": addr.to_string(), "idle_secs": connections.idle.as_secs() }),
                );
                break;
            }
        };
        framer.push(&buf[..n]);
        for frame in framer.by_ref() {
            match frame {
                Ok(Frame::Message(bytes)) => {
                    if inbound.send(Inbound::Message(peer, bytes)).await.is_err() {
                        break 'read;
                    }
                }
                // RFC 5626 §3.5.1: a double-CRLF ping is answered with one CRLF.
                Ok(Frame::Ping) => {
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Err(e) => {
                    log::warn(
                        "sip.connection_closed",
                        json!({ "peer": addr.to_string(), "error": e.to_string() }),
                    );
                    break 'read;
                }
            }
        }
    }
    drop(tx);
    let _ = inbound.send(Inbound::Closed(id)).await;
    let _ = write.await;
}
