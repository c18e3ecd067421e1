//! The SIPREC server's driver: one task owns the sans-IO user agent ([`crate::sip::uas`]) and
//! the call table, feeds the agent what the transports receive and the timers it asks for,
//! hands its offers and endings to the call table, and sends what it transmits. Signalling
//! needs no locks; media never passes through it.

use super::call::Calls;
use super::ports::PortPool;
use super::refusal_log::RefusalLog;
use super::settings::{Services, SipSettings};
use super::transport::{
    accept_connections, bind_sip, recv_stamped, stamp_arrivals, Connection, Connections, Inbound,
};
use crate::server::bind::refusal;
use crate::server::clock;
use crate::sip::sources::AllowedSources;
use crate::sip::uas::{EndReason, Event, Uas, UasConfig};
use crate::sip::{Peer, Transmit, Transport};
use crate::time::Time;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

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
    stamp_arrivals(&udp).map_err(|e| format!("sip.listen: receive timestamps: {e}"))?;
    let local = udp.local_addr().map_err(|e| e.to_string())?;
    let tls = match &settings.tls {
        None => None,
        Some((listen, config)) => {
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| format!("sip.tls_listen: {}", refusal(*listen, &e)))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            Some((listener, local, TlsAcceptor::from(Arc::clone(config))))
        }
    };
    bound(local, tls.as_ref().map(|(_, local, _)| *local));
    let pool =
        PortPool::new(settings.rtp_ports.clone()).map_err(|e| format!("sip.rtp_ports: {e}"))?;
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(1024);
    let connections = Arc::new(Connections::new(
        inbound_tx,
        settings.limits.clone(),
        settings.connection_idle,
        Arc::clone(&services.metrics),
    ));
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
    let allow = settings.allow.clone();
    let uas = Uas::new(UasConfig {
        limits: settings.limits.clone(),
        timers: Default::default(),
        max_sessions: settings.max_calls,
        contact,
        tls_contact,
        server: format!("callrec/{}", env!("CARGO_PKG_VERSION")),
        max_invite_wait: settings.max_invite_wait,
    });
    let calls =
        Calls::new(settings, services, pool).map_err(|e| format!("media receive threads: {e}"))?;
    let mut server = Server {
        uas,
        calls,
        connections: HashMap::new(),
        udp,
        allow,
        refusals: RefusalLog::per_minute(),
    };
    let mut buf = BytesMut::with_capacity(UDP_READ);
    let mut drain_deadline: Option<Time> = None;
    let mut housekeeping = tokio::time::interval(Duration::from_millis(250));
    loop {
        let timeout = server
            .uas
            .poll_timeout()
            .map(|at| at.saturating_since(clock::now()))
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            received = recv_stamped(&server.udp, &mut buf, UDP_READ) => {
                if let Ok((from, waited)) = received {
                    let bytes = buf.split().freeze();
                    tracing::trace!(peer = %from, bytes = bytes.len(), "sip.received");
                    let peer = Peer { addr: from, transport: Transport::Udp };
                    server.receive(clock::now(), waited, peer, bytes);
                }
            }
            Some(input) = inbound.recv() => match input {
                Inbound::Message(peer, bytes) => {
                    tracing::trace!(peer = %peer.addr, bytes = bytes.len(), "sip.received");
                    server.receive(clock::now(), Duration::ZERO, peer, bytes)
                }
                Inbound::Connected(id, connection) => { server.connections.insert(id, connection); }
                Inbound::Closed(id) => { server.connections.remove(&id); }
                Inbound::CertificateRefused(addr, error) => {
                    server.refused(clock::now(), addr, Refused::Certificate, &error);
                }
            },
            _ = tokio::time::sleep(timeout) => server.uas.handle_timeout(clock::now()),
            Some((session, reason)) = server.calls.services.failures.recv() => {
                server.calls.recording_failed(&mut server.uas, clock::now(), session, reason);
            }
            _ = housekeeping.tick() => {
                let now = clock::now();
                server.calls.end_idle(&mut server.uas, now);
                if drain_deadline.is_some_and(|at| now >= at) {
                    server.calls.end_all(&mut server.uas, "the drain deadline passed");
                }
            }
            changed = shutdown.changed(), if drain_deadline.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    server.uas.set_draining(true);
                    server.calls.services.metrics.draining.store(1, Relaxed);
                    drain_deadline = Some(clock::now() + server.calls.settings.drain_deadline);
                    tracing::info!(calls = server.calls.len(), "drain.start");
                }
            }
        }
        server.act().await;
        if drain_deadline.is_some() && server.calls.is_empty() {
            break;
        }
    }
    tracing::info!("drain.signalling_done");
    Ok(())
}

/// What the driver task owns.
struct Server {
    uas: Uas,
    calls: Calls,
    /// The TCP and TLS connections open now, by id: where their responses go.
    connections: HashMap<u64, Connection>,
    udp: UdpSocket,
    /// Who may send requests (`sip.allow`).
    allow: AllowedSources,
    /// When each refused source was last logged.
    refusals: RefusalLog,
}

/// Why a client was refused: the `reason` label of `callrec_sip_refused_clients_total`.
#[derive(Clone, Copy, Debug)]
enum Refused {
    /// Its source address is not in `sip.allow`: its requests get 403.
    Address,
    /// Its TLS certificate failed mutual authentication: the handshake failed.
    Certificate,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::Address => "address",
            Refused::Certificate => "certificate",
        }
    }
}

impl Server {
    /// A message from `peer`: to the user agent when its source is allowed, else refused
    /// (see [`Uas::forbid`]).
    fn receive(&mut self, now: Time, waited: Duration, peer: Peer, bytes: Bytes) {
        if self.allow.admits(peer.addr.ip()) {
            return self.uas.receive_waited(now, waited, peer, bytes);
        }
        if self.uas.forbid(peer, bytes) {
            self.refused(now, peer.addr, Refused::Address, "source not in sip.allow");
        }
    }

    /// Counts a refused client, and logs it unless its source was logged less than a minute
    /// ago (then the next line says how many refusals it left out).
    fn refused(&mut self, now: Time, peer: SocketAddr, why: Refused, detail: &str) {
        let metrics = &self.calls.services.metrics;
        let counter = match why {
            Refused::Address => &metrics.refused_address,
            Refused::Certificate => &metrics.refused_certificate,
        };
        counter.fetch_add(1, Relaxed);
        let source: IpAddr = peer.ip().to_canonical();
        if let Some(line) = self.refusals.note(now, source) {
            tracing::warn!(
                peer = %peer,
                reason = why.as_str(),
                detail,
                suppressed = line.suppressed,
                others = line.crowd,
                "sip.client_refused"
            );
        }
    }

    /// Handles the user agent's events, then sends what it has to send.
    async fn act(&mut self) {
        while let Some(event) = self.uas.poll_event() {
            let now = clock::now();
            match event {
                Event::Offer(offer) if offer.initial => {
                    let connection_calls = match offer.peer.transport {
                        Transport::Tcp(id) | Transport::Tls(id) => {
                            self.connections.get(&id).map(|c| &c.calls)
                        }
                        Transport::Udp => None,
                    };
                    self.calls
                        .start(&mut self.uas, now, offer, connection_calls)
                }
                Event::Offer(offer) => self.calls.update(&mut self.uas, now, offer),
                Event::Ended { session, why } => {
                    let reason = match why {
                        EndReason::Bye => "bye",
                        EndReason::Cancelled => "cancelled",
                        EndReason::NotAcknowledged => "not acknowledged",
                    };
                    self.calls.finish(session, reason, None);
                }
            }
        }
        let stats = self.uas.stats();
        let metrics = &self.calls.services.metrics;
        metrics.sip_requests.store(stats.requests, Relaxed);
        metrics.sip_unanswerable.store(stats.unanswerable, Relaxed);
        metrics
            .sip_stale_invites
            .store(stats.stale_invites, Relaxed);
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
}
