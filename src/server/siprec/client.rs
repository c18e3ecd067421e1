//! The recording client's side of a SIPREC session over UDP or TCP, as `callrec loadtest`
//! and the tests play a calling platform: INVITE with a two-stream SDP offer (and metadata
//! when given), ACK, re-INVITEs that pause or resume, BYE. Over UDP requests are sent again
//! every 500 ms until a final response, as UDP needs; over TCP once, the responses cut from
//! the stream by the server's own framer. Plain enough to read the wire in a test; not a SIP
//! stack.

use crate::sip::framing::{Frame, Framer};
use crate::sip::message::Limits;
use crate::sip::sdp::{self, SessionDescription};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How a session's signalling travels.
enum Channel {
    Udp(UdpSocket),
    /// One connection for the whole session, and the bytes read from it not yet a message.
    Tcp(TcpStream, Framer),
}

impl Channel {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Channel::Udp(socket) => socket.local_addr(),
            Channel::Tcp(stream, _) => stream.local_addr(),
        }
    }

    /// The Via header's transport.
    fn via(&self) -> &'static str {
        match self {
            Channel::Udp(_) => "UDP",
            Channel::Tcp(..) => "TCP",
        }
    }

    async fn send(&mut self, bytes: &[u8], to: SocketAddr) -> Result<(), String> {
        match self {
            Channel::Udp(socket) => socket.send_to(bytes, to).await.map(|_| ()),
            Channel::Tcp(stream, _) => stream.write_all(bytes).await,
        }
        .map_err(|e| e.to_string())
    }
}

/// One session of a recording client.
pub struct SrcSession {
    sip: Channel,
    server: SocketAddr,
    call_id: String,
    to_tag: String,
    /// The ports the offer names for the two streams.
    offered: [u16; 2],
    cseq: u32,
    version: u32,
    /// Each stream's `a=crypto` value when it is offered over SRTP (`RTP/SAVP`).
    crypto: [Option<String>; 2],
    /// The last 200 OK's SDP answer.
    answer: String,
    /// The dialog's route set (the 200's Record-Route values, last first, RFC 3261 §12.1.2)
    /// and the server's Contact: in-dialog requests carry the route set as Route headers to
    /// that target, so they pass through a balancer in front of the server.
    route: Vec<String>,
    remote_target: Option<String>,
}

impl SrcSession {
    /// Sets up a session offering media on `offered` ports of 127.0.0.1 (labels 1 and 2,
    /// PCMU), with `metadata` (RFC 7865 XML) beside the SDP when given. Returns the session
    /// and where the answer says to send each stream.
    pub async fn open(
        server: SocketAddr,
        call_id: &str,
        offered: [u16; 2],
        metadata: Option<&str>,
    ) -> Result<(SrcSession, [SocketAddr; 2]), String> {
        let sip = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        SrcSession::open_over(Channel::Udp(sip), server, call_id, offered, metadata).await
    }

    /// As [`SrcSession::open`], over one TCP connection to `server`.
    pub async fn open_tcp(
        server: SocketAddr,
        call_id: &str,
        offered: [u16; 2],
        metadata: Option<&str>,
    ) -> Result<(SrcSession, [SocketAddr; 2]), String> {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| e.to_string())?;
        let framer = Framer::new(&Limits::default());
        SrcSession::open_over(
            Channel::Tcp(stream, framer),
            server,
            call_id,
            offered,
            metadata,
        )
        .await
    }

    /// As [`SrcSession::open`] (over TCP when `tcp`), offering each stream with a key over
    /// SRTP (`RTP/SAVP` and `crypto`'s `a=crypto` value) or, for `None`, plain RTP.
    pub async fn open_keyed(
        server: SocketAddr,
        call_id: &str,
        offered: [u16; 2],
        tcp: bool,
        crypto: [Option<String>; 2],
    ) -> Result<(SrcSession, [SocketAddr; 2]), String> {
        let sip = match tcp {
            true => Channel::Tcp(
                TcpStream::connect(server)
                    .await
                    .map_err(|e| e.to_string())?,
                Framer::new(&Limits::default()),
            ),
            false => Channel::Udp(
                UdpSocket::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        SrcSession::open_with(sip, server, call_id, offered, None, crypto).await
    }

    /// Offers `crypto` (as [`SrcSession::open_keyed`]) from the next re-INVITE on: new keys.
    pub fn set_crypto(&mut self, crypto: [Option<String>; 2]) {
        self.crypto = crypto;
    }

    /// The last SDP answer (of the session's set-up or its last re-INVITE).
    pub fn answer(&self) -> &str {
        &self.answer
    }

    async fn open_over(
        sip: Channel,
        server: SocketAddr,
        call_id: &str,
        offered: [u16; 2],
        metadata: Option<&str>,
    ) -> Result<(SrcSession, [SocketAddr; 2]), String> {
        SrcSession::open_with(sip, server, call_id, offered, metadata, [None, None]).await
    }

    async fn open_with(
        sip: Channel,
        server: SocketAddr,
        call_id: &str,
        offered: [u16; 2],
        metadata: Option<&str>,
        crypto: [Option<String>; 2],
    ) -> Result<(SrcSession, [SocketAddr; 2]), String> {
        let mut session = SrcSession {
            sip,
            server,
            call_id: call_id.to_string(),
            to_tag: String::new(),
            offered,
            cseq: 0,
            version: 0,
            crypto,
            answer: String::new(),
            route: Vec::new(),
            remote_target: None,
        };
        let answer = session.offer("sendonly", metadata).await?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        session.route = header_values(&text, "Record-Route");
        session.route.reverse();
        session.remote_target = header_values(&text, "Contact").first().map(|c| uri_of(c));
        session.to_tag = text
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split(";tag=").nth(1))
            .map(|t| t.trim().to_string())
            .ok_or("the 200 OK has no To-tag")?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        session.answer = body.to_string();
        let answer =
            SessionDescription::parse(body, &sdp::Limits::default()).map_err(|e| e.to_string())?;
        // Where the answer says, which behind a balancer is not the address the INVITE went to.
        let at = |i: usize| {
            let media = answer.media.get(i);
            let ip = media
                .and_then(|m| m.connection)
                .or(answer.connection)
                .filter(|ip| !ip.is_unspecified())
                .unwrap_or(server.ip());
            SocketAddr::new(ip, media.map_or(0, |m| m.port))
        };
        let media = [at(0), at(1)];
        session.ack().await?;
        Ok((session, media))
    }

    /// A re-INVITE with both streams `direction` (`inactive` pauses, `sendonly` resumes).
    pub async fn reinvite(&mut self, direction: &str) -> Result<(), String> {
        let ok = self.offer(direction, None).await?;
        let text = String::from_utf8_lossy(&ok);
        self.answer = text
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        self.ack().await
    }

    pub async fn bye(&mut self) -> Result<(), String> {
        self.cseq += 1;
        let bye = self.request("BYE", "", "");
        exchange(&mut self.sip, self.server, bye.as_bytes(), 200)
            .await
            .map(|_| ())
    }

    /// Sends an INVITE (initial or re-) and returns its 200 OK.
    async fn offer(&mut self, direction: &str, metadata: Option<&str>) -> Result<Bytes, String> {
        self.cseq += 1;
        self.version += 1;
        let mut sdp = format!(
            "v=0\r\no=- 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n",
            self.version
        );
        for (i, (port, crypto)) in self.offered.iter().zip(&self.crypto).enumerate() {
            let (profile, key) = match crypto {
                Some(value) => ("RTP/SAVP", format!("a=crypto:{value}\r\n")),
                None => ("RTP/AVP", String::new()),
            };
            sdp.push_str(&format!(
                "m=audio {port} {profile} 0\r\na=label:{}\r\n{key}a={direction}\r\n",
                i + 1
            ));
        }
        let (content_type, body) = match metadata {
            None => ("application/sdp".to_string(), sdp),
            Some(xml) => (
                "multipart/mixed;boundary=callrec-src".to_string(),
                format!(
                    "--callrec-src\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n\
                     --callrec-src\r\nContent-Type: application/rs-metadata+xml\r\n\
                     Content-Disposition: recording-session\r\n\r\n{xml}\r\n--callrec-src--\r\n"
                ),
            ),
        };
        let local = self.sip.local_addr().map_err(|e| e.to_string())?;
        let extra = format!(
            "Contact: <sip:src@{local}>;+sip.src\r\nRequire: siprec\r\nContent-Type: {content_type}\r\n"
        );
        let invite = self.request("INVITE", &extra, &body);
        exchange(&mut self.sip, self.server, invite.as_bytes(), 200).await
    }

    async fn ack(&mut self) -> Result<(), String> {
        let ack = self.request("ACK", "", "");
        self.sip.send(ack.as_bytes(), self.server).await
    }

    /// A request in this session; `extra` headers end with CRLF.
    fn request(&self, method: &str, extra: &str, body: &str) -> String {
        let local = self
            .sip
            .local_addr()
            .map_or_else(|_| "127.0.0.1".into(), |a| a.to_string());
        let (server, call_id, cseq) = (self.server, &self.call_id, self.cseq);
        let via = self.sip.via();
        let to_tag = match self.to_tag.as_str() {
            "" => String::new(),
            tag => format!(";tag={tag}"),
        };
        // An ACK of a 2xx is a transaction of its own (RFC 3261 §17.1.1.3).
        let branch = format!("z9hG4bK-{call_id}-{cseq}-{}", method.to_lowercase());
        // In a dialog set up through a proxy: to the server's Contact, along the route set.
        let (target, route) = match (&self.remote_target, self.to_tag.is_empty()) {
            (Some(contact), false) if !self.route.is_empty() => (
                contact.clone(),
                self.route
                    .iter()
                    .map(|r| format!("Route: {r}\r\n"))
                    .collect(),
            ),
            _ => (format!("sip:srs@{server}"), String::new()),
        };
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{via} {local};branch={branch}\r\n\
             From: <sip:src@{local}>;tag=src\r\nTo: <sip:srs@{server}>{to_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{route}{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// Every value of header `name` in `message`'s header section, in order: one per line and
/// per comma outside `<...>` (a Record-Route line may list several).
fn header_values(message: &str, name: &str) -> Vec<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    let mut values = Vec::new();
    for line in head.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if !field.trim().eq_ignore_ascii_case(name) {
            continue;
        }
        let (mut depth, mut start) = (0i32, 0);
        let value = value.trim();
        for (i, c) in value.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                ',' if depth == 0 => {
                    values.push(value[start..i].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            }
        }
        values.push(value[start..].trim().to_string());
    }
    values.retain(|v| !v.is_empty());
    values
}

/// The URI of a name-addr (`"Name" <sip:a@b>;p`) or addr-spec (`sip:a@b;p`) header value.
fn uri_of(value: &str) -> String {
    match value
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
    {
        Some((uri, _)) => uri.to_string(),
        None => value.split(';').next().unwrap_or(value).trim().to_string(),
    }
}

/// A message's CSeq header value, as sent.
fn cseq(message: &[u8]) -> Option<String> {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:").map(|v| v.trim().to_string()))
}

/// Sends `request` (over UDP again every 500 ms) until a final response arrives; `Ok` with it
/// when it is `status`.
async fn exchange(
    channel: &mut Channel,
    to: SocketAddr,
    request: &[u8],
    status: u16,
) -> Result<Bytes, String> {
    let mut buf = vec![0u8; 65_536];
    for _ in 0..10 {
        channel.send(request, to).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        loop {
            let message = match channel {
                Channel::Udp(socket) => {
                    match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                        Ok(Ok(n)) => Bytes::copy_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                // Sent once: a reliable transport is not retried (RFC 3261 §17.1.1.2).
                Channel::Tcp(stream, framer) => match framer.next() {
                    Some(Ok(Frame::Message(message))) => message,
                    Some(Ok(Frame::Ping)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => {
                        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => {
                                framer.push(&buf[..n]);
                                continue;
                            }
                            Ok(_) => return Err("the server closed the connection".into()),
                            Err(_) => return Err("no answer".into()),
                        }
                    }
                },
            };
            if !message.starts_with(b"SIP/2.0 ") {
                continue; // a request of the server's (its BYE): not what we wait for
            }
            if cseq(&message) != cseq(request) {
                continue; // a retransmission answering an earlier request (a refused re-INVITE)
            }
            let n = message.len();
            let code: u16 = String::from_utf8_lossy(&message[8.min(n)..n.min(11)])
                .parse()
                .unwrap_or(0);
            match code {
                100..=199 => continue,
                c if c == status => return Ok(message),
                c => return Err(format!("{ANSWERED}{c}")),
            }
        }
    }
    Err("no answer".into())
}

/// How an error says the server answered with another status than the one expected.
const ANSWERED: &str = "answered ";

/// The status a server answered when an [`SrcSession`] call failed because of it (a refusal
/// such as 503), rather than because nothing came back.
pub fn answered_status(error: &str) -> Option<u16> {
    error.strip_prefix(ANSWERED)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_status_and_silence_names_none() {
        assert_eq!(answered_status(&format!("{ANSWERED}503")), Some(503));
        assert_eq!(answered_status("no answer"), None);
    }

    #[test]
    fn record_route_values_are_read_per_line_and_per_comma_outside_brackets() {
        let message = "SIP/2.0 200 OK\r\nRecord-Route: <sip:10.0.0.1;lr;ftag=a,b>, <sip:10.0.0.2;lr>\r\n\
                       record-route: <sip:10.0.0.3;lr>\r\nContact: <sip:srs@127.0.0.11:5060>;expires=9\r\n\
                       \r\nRecord-Route: <sip:body-not-header>";
        assert_eq!(
            header_values(message, "Record-Route"),
            [
                "<sip:10.0.0.1;lr;ftag=a,b>",
                "<sip:10.0.0.2;lr>",
                "<sip:10.0.0.3;lr>"
            ]
        );
        assert_eq!(header_values(message, "Route"), Vec::<String>::new());
        let contact = header_values(message, "Contact");
        assert_eq!(uri_of(&contact[0]), "sip:srs@127.0.0.11:5060");
        assert_eq!(uri_of("sip:srs@h:1;transport=udp"), "sip:srs@h:1");
    }
}
