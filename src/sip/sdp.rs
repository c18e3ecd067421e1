//! SDP (RFC 8866) as a SIPREC recording server meets it: the recording client's offer parsed
//! into what the recorder needs, and our answer written back (RFC 3264 §6, RFC 7866 §8.1.1).
//!
//! This module owns the text of session descriptions: it reads origins, connection addresses,
//! media sections, payload formats, labels (RFC 4574), directions, rtcp-mux (RFC 5761) and
//! `a=rtcp` (RFC 3605), and writes an answer from per-stream decisions. It must never decide
//! which streams or codecs to accept (the caller does), allocate ports, or keep state between
//! offers: the dialog layer keeps our origin and bumps its version.

use std::fmt::Write as _;
use std::net::IpAddr;
use thiserror::Error;

/// Bounds on one offer. Each one exceeded is its own [`SdpError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest description accepted, in bytes. Default 16 KiB; a two-stream SIPREC offer is
    /// under 1 KiB.
    pub max_bytes: usize,
    /// Most media sections (`m=` lines). Default 32.
    pub max_media: usize,
    /// Most formats on one `m=` line. Default 32.
    pub max_formats: usize,
    /// Most attribute (`a=`) lines in the whole description, session and media. Default 512.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024,
            max_media: 32,
            max_formats: 32,
            max_attributes: 512,
        }
    }
}

/// Why a text is not an offer we can read. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// Longer than [`Limits::max_bytes`].
    #[error("SDP of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// More `m=` lines than [`Limits::max_media`].
    #[error("more than {max} media sections")]
    TooManyMedia { max: usize },
    /// An `m=` line with more formats than [`Limits::max_formats`].
    #[error("line {line}: more than {max} formats")]
    TooManyFormats { line: usize, max: usize },
    /// More `a=` lines than [`Limits::max_attributes`].
    #[error("more than {max} attribute lines")]
    TooManyAttributes { max: usize },
    /// The first line is not a `v=` line (RFC 8866 §5).
    #[error("SDP does not start with v=")]
    MissingVersion,
    /// `v=` is not 0 (RFC 8866 §5.1).
    #[error("line {line}: SDP version is not 0")]
    BadVersion { line: usize },
    /// No `o=` line before the first media section (RFC 8866 §5.2).
    #[error("no o= line before the media")]
    MissingOrigin,
    /// `o=` does not have its six fields (RFC 8866 §5.2).
    #[error("line {line}: malformed o= line")]
    BadOrigin { line: usize },
    /// `c=` is not `IN IP4 <IPv4 address>` or `IN IP6 <IPv6 address>`: names and multicast
    /// (`/ttl`) are not supported (RFC 8866 §5.7).
    #[error("line {line}: malformed or unsupported c= line")]
    BadConnection { line: usize },
    /// `m=` lacks its media, port, protocol or a format, the port is out of range, or a format
    /// of an RTP protocol is not a payload type 0..=127 (RFC 8866 §5.14).
    #[error("line {line}: malformed m= line")]
    BadMedia { line: usize },
    /// An attribute the recorder reads (`rtpmap`, `fmtp`, `rtcp`, `ptime`) does not parse.
    #[error("line {line}: malformed a={attribute}")]
    BadAttribute {
        line: usize,
        attribute: &'static str,
    },
}

/// Media direction attributes (RFC 8866 §6.7); a media section without one inherits the
/// session's, and a session without one is `sendrecv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name, as written after `a=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// The offer's `o=` line (RFC 8866 §5.2), kept as text: platforms put any number or name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub address: String,
}

/// An encoding from `a=rtpmap` or the RFC 3551 static table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// As written, e.g. `PCMU`, `telephone-event`.
    pub name: String,
    pub clock_rate: u32,
    /// Audio channels; 1 when the rtpmap leaves it out.
    pub channels: u16,
}

/// One payload type offered on an RTP `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpFormat {
    pub payload_type: u8,
    /// From `a=rtpmap`, else RFC 3551's static assignment; `None` for a dynamic type without
    /// an rtpmap.
    pub encoding: Option<Encoding>,
    /// The `a=fmtp` parameters, as written.
    pub fmtp: Option<String>,
}

/// `a=rtcp` (RFC 3605): where the sender expects RTCP when not on port + 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    pub port: u16,
    pub address: Option<IpAddr>,
}

/// One media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video`, `application`, …
    pub media: String,
    /// 0 when the offerer disabled the stream.
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, …
    pub protocol: String,
    /// The formats as written on the `m=` line.
    pub formats: Vec<String>,
    /// For an RTP protocol, one entry per format in `m=` order; empty otherwise.
    pub rtp_formats: Vec<RtpFormat>,
    /// The media-level `c=` address, else the session's.
    pub connection: Option<IpAddr>,
    /// The media-level direction, else the session's.
    pub direction: Direction,
    /// `a=label` (RFC 4574): how SIPREC metadata names this stream.
    pub label: Option<String>,
    /// `a=rtcp-mux` (RFC 5761): the offerer can multiplex RTCP on the RTP port.
    pub rtcp_mux: bool,
    pub rtcp: Option<Rtcp>,
    /// `a=ptime` in milliseconds.
    pub ptime: Option<u32>,
    /// Each `a=crypto` value (RFC 4568 SDES keys, the text after `crypto:`), in the offer's
    /// order of preference; read by [`crate::srtp::sdes`], never here.
    pub crypto: Vec<String>,
}

impl MediaDescription {
    pub fn is_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
    }

    /// RTP under any profile (`RTP/AVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP`, …).
    pub fn is_rtp(&self) -> bool {
        is_rtp_protocol(&self.protocol)
    }

    /// An SRTP profile (RFC 3711): answered only with keys ([`StreamAnswer::Accept`]'s `crypto`).
    pub fn is_secure(&self) -> bool {
        self.protocol
            .rsplit('/')
            .next()
            .and_then(|profile| profile.get(..4))
            .is_some_and(|profile| profile.eq_ignore_ascii_case("SAVP"))
    }

    /// The offered format with payload type `payload_type`.
    pub fn rtp_format(&self, payload_type: u8) -> Option<&RtpFormat> {
        self.rtp_formats
            .iter()
            .find(|f| f.payload_type == payload_type)
    }
}

/// A parsed offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    /// `s=`; empty if the line is missing.
    pub session_name: String,
    /// The session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// The session-level direction, inherited by media sections without their own.
    pub direction: Direction,
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Reads `text` (CRLF or LF line ends, trailing whitespace ignored). Lines this module does
    /// not model (`b=`, `k=`, `t=`, other attributes) are skipped.
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, SdpError> {
        if text.len() > limits.max_bytes {
            return Err(SdpError::TooLarge {
                len: text.len(),
                max: limits.max_bytes,
            });
        }
        let mut lines = text
            .split('\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim_ascii_end()))
            .filter(|(_, line)| !line.is_empty());
        match lines
            .next()
            .and_then(|(n, line)| Some((n, split_line(line)?)))
        {
            Some((n, (b'v', version))) if version.trim() != "0" => {
                return Err(SdpError::BadVersion { line: n })
            }
            Some((_, (b'v', _))) => {}
            _ => return Err(SdpError::MissingVersion),
        }
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut direction = Direction::default();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut attributes = 0usize;
        for (n, line) in lines {
            let Some((kind, value)) = split_line(line) else {
                continue;
            };
            match kind {
                b'o' if media.is_empty() => {
                    origin = Some(parse_origin(value).ok_or(SdpError::BadOrigin { line: n })?);
                }
                b's' if media.is_empty() => session_name = value.to_owned(),
                b'c' => {
                    let address =
                        parse_connection(value).ok_or(SdpError::BadConnection { line: n })?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(address),
                        None => connection = Some(address),
                    }
                }
                b'm' => {
                    if origin.is_none() {
                        return Err(SdpError::MissingOrigin);
                    }
                    if media.len() == limits.max_media {
                        return Err(SdpError::TooManyMedia {
                            max: limits.max_media,
                        });
                    }
                    let mut section = parse_media(value, n, limits)?;
                    section.connection = connection;
                    section.direction = direction;
                    media.push(section);
                }
                b'a' => {
                    attributes += 1;
                    if attributes > limits.max_attributes {
                        return Err(SdpError::TooManyAttributes {
                            max: limits.max_attributes,
                        });
                    }
                    match media.last_mut() {
                        Some(m) => media_attribute(m, value, n)?,
                        None => {
                            if let Some(d) = Direction::from_attribute(value) {
                                direction = d;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::MissingOrigin)?,
            session_name,
            connection,
            direction,
            media,
        })
    }
}

/// `x=value` → (`x`, `value`); `None` for a line of another shape.
fn split_line(line: &str) -> Option<(u8, &str)> {
    let bytes = line.as_bytes();
    // Byte 1 is the ASCII '=', so byte 0 is a whole character and 2 is a char boundary.
    (bytes.len() >= 2 && bytes[1] == b'=').then(|| (bytes[0], &line[2..]))
}

fn is_rtp_protocol(protocol: &str) -> bool {
    protocol
        .split('/')
        .any(|part| part.eq_ignore_ascii_case("RTP"))
}

/// `<username> <sess-id> <sess-version> IN <addrtype> <address>` (RFC 8866 §5.2).
fn parse_origin(value: &str) -> Option<Origin> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, session_version, _net, _addr_type, address] = fields[..] else {
        return None;
    };
    Some(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        session_version: session_version.to_owned(),
        address: address.to_owned(),
    })
}

/// `IN IP4 <address>` or `IN IP6 <address>` with a literal unicast address (RFC 8866 §5.7).
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut fields = value.split_ascii_whitespace();
    let (net, addr_type, address) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || net != "IN" {
        return None;
    }
    parse_address(addr_type, address)
}

fn parse_address(addr_type: &str, address: &str) -> Option<IpAddr> {
    match addr_type {
        "IP4" => address.parse().ok().map(IpAddr::V4),
        "IP6" => address.parse().ok().map(IpAddr::V6),
        _ => None,
    }
}

/// `<media> <port>[/<count>] <proto> <fmt> ...` (RFC 8866 §5.14).
fn parse_media(value: &str, line: usize, limits: &Limits) -> Result<MediaDescription, SdpError> {
    let bad = SdpError::BadMedia { line };
    // RFC 4566 §9: the m= line's fields are tokens of visible characters.
    if value
        .split_ascii_whitespace()
        .any(|field| !field.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(bad);
    }
    let mut fields = value.split_ascii_whitespace();
    let (media, port, protocol) = match (fields.next(), fields.next(), fields.next()) {
        (Some(m), Some(p), Some(proto)) => (m, p, proto),
        _ => return Err(bad),
    };
    let port = match port.split_once('/') {
        Some((port, count)) => {
            count.parse::<u16>().map_err(|_| bad.clone())?;
            port
        }
        None => port,
    };
    let port: u16 = port.parse().map_err(|_| bad.clone())?;
    let mut formats = Vec::new();
    for format in fields {
        if formats.len() == limits.max_formats {
            return Err(SdpError::TooManyFormats {
                line,
                max: limits.max_formats,
            });
        }
        formats.push(format.to_owned());
    }
    if formats.is_empty() {
        return Err(bad);
    }
    let mut rtp_formats = Vec::new();
    if is_rtp_protocol(protocol) {
        for format in &formats {
            let payload_type = parse_payload_type(format).ok_or(bad.clone())?;
            rtp_formats.push(RtpFormat {
                payload_type,
                encoding: static_encoding(payload_type),
                fmtp: None,
            });
        }
    }
    Ok(MediaDescription {
        media: media.to_owned(),
        port,
        protocol: protocol.to_owned(),
        formats,
        rtp_formats,
        connection: None,
        direction: Direction::default(),
        label: None,
        rtcp_mux: false,
        rtcp: None,
        ptime: None,
        crypto: Vec::new(),
    })
}

fn parse_payload_type(text: &str) -> Option<u8> {
    text.parse::<u8>().ok().filter(|pt| *pt <= 127)
}

/// RFC 3551 §6 tables 4 and 5: payload types with a fixed meaning, so offers may leave out
/// their rtpmap.
fn static_encoding(payload_type: u8) -> Option<Encoding> {
    let (name, clock_rate, channels) = match payload_type {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    };
    Some(Encoding {
        name: name.to_owned(),
        clock_rate,
        channels,
    })
}

/// One media-level `a=` line.
fn media_attribute(m: &mut MediaDescription, value: &str, line: usize) -> Result<(), SdpError> {
    let (name, arg) = match value.split_once(':') {
        Some((name, arg)) => (name, Some(arg.trim())),
        None => (value, None),
    };
    let bad = |attribute| SdpError::BadAttribute { line, attribute };
    match (name, arg) {
        ("rtpmap", Some(arg)) if m.is_rtp() => {
            let (payload_type, encoding) = parse_rtpmap(arg).ok_or(bad("rtpmap"))?;
            if let Some(f) = m
                .rtp_formats
                .iter_mut()
                .find(|f| f.payload_type == payload_type)
            {
                f.encoding = Some(encoding);
            }
        }
        ("fmtp", Some(arg)) if m.is_rtp() => {
            let (format, params) = arg.split_once(' ').unwrap_or((arg, ""));
            let payload_type = parse_payload_type(format).ok_or(bad("fmtp"))?;
            let params = params.trim();
            if let Some(f) = m
                .rtp_formats
                .iter_mut()
                .find(|f| f.payload_type == payload_type)
            {
                f.fmtp = (!params.is_empty()).then(|| params.to_owned());
            }
        }
        ("label", Some(label)) if !label.is_empty() => m.label = Some(label.to_owned()),
        ("rtcp-mux", None) => m.rtcp_mux = true,
        ("rtcp", Some(arg)) => m.rtcp = Some(parse_rtcp(arg).ok_or(bad("rtcp"))?),
        ("ptime", Some(arg)) => m.ptime = Some(arg.parse().map_err(|_| bad("ptime"))?),
        ("crypto", Some(arg)) if m.is_secure() => m.crypto.push(arg.to_owned()),
        (name, None) => {
            if let Some(d) = Direction::from_attribute(name) {
                m.direction = d;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `<pt> <name>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
fn parse_rtpmap(arg: &str) -> Option<(u8, Encoding)> {
    let (payload_type, encoding) = arg.split_once(' ')?;
    let payload_type = parse_payload_type(payload_type)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty() && !n.contains(' '))?;
    let clock_rate = parts.next()?.parse::<u32>().ok().filter(|r| *r > 0)?;
    let channels = match parts.next() {
        Some(c) => c.parse::<u16>().ok().filter(|c| *c > 0)?,
        None => 1,
    };
    if parts.next().is_some() {
        return None;
    }
    let encoding = Encoding {
        name: name.to_owned(),
        clock_rate,
        channels,
    };
    Some((payload_type, encoding))
}

/// `<port> [IN IP4|IP6 <address>]` (RFC 3605 §2.1).
fn parse_rtcp(arg: &str) -> Option<Rtcp> {
    let (port, address) = match arg.split_once(' ') {
        Some((port, address)) => (port, Some(parse_connection(address)?)),
        None => (arg, None),
    };
    Some(Rtcp {
        port: port.parse().ok()?,
        address,
    })
}

/// Our `o=` line (RFC 8866 §5.2): username and session id fixed for the dialog, the version
/// one more for each new answer in it (RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalOrigin {
    pub username: String,
    pub session_id: u64,
    pub version: u64,
}

impl LocalOrigin {
    /// The origin for the next answer in the same dialog.
    pub fn next_version(&self) -> Self {
        LocalOrigin {
            // 2^64 answers in one dialog do not happen; wrapping keeps this total.
            version: self.version.wrapping_add(1),
            ..self.clone()
        }
    }
}

/// What we answer to one offered media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamAnswer {
    /// Receive the stream on `port` with these of the offered payload types; `rtcp_mux`
    /// accepts the offer's `a=rtcp-mux`; `crypto` is our `a=crypto` value (RFC 4568: the
    /// chosen line's tag and suite, our key) for an SRTP stream.
    Accept {
        port: u16,
        rtcp_mux: bool,
        payload_types: Vec<u8>,
        crypto: Option<String>,
    },
    /// Port 0 (RFC 3264 §6): the stream stays in the answer, refused.
    Reject,
}

/// Why the stream decisions cannot make an answer to this offer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnswerError {
    /// Not exactly one decision per offered media section (RFC 3264 §6).
    #[error("{answered} stream answers for {offered} offered media sections")]
    StreamCount { offered: usize, answered: usize },
    /// Our username is empty or holds whitespace, which would break the `o=` line.
    #[error("origin username {0:?} is empty or holds whitespace")]
    BadUsername(String),
    /// Accept of a media section whose transport is not RTP.
    #[error("media section {index}: not RTP, cannot accept")]
    NotRtp { index: usize },
    /// Accept of an SRTP profile without our `a=crypto` (or of plain RTP with one).
    #[error("media section {index}: SRTP profile without keys, or keys for plain RTP")]
    Secure { index: usize },
    /// Accept of a stream the offer disabled with port 0; it must stay refused (RFC 3264 §6).
    #[error("media section {index}: disabled in the offer")]
    Disabled { index: usize },
    /// Accept with port 0, which is a reject.
    #[error("media section {index}: accepted on port 0")]
    ZeroPort { index: usize },
    /// Accept with no payload type.
    #[error("media section {index}: accepted with no payload type")]
    NoPayloadTypes { index: usize },
    /// Accept of a payload type the offered `m=` line does not list (RFC 3264 §6.1).
    #[error("media section {index}: payload type {payload_type} was not offered")]
    PayloadTypeNotOffered { index: usize, payload_type: u8 },
    /// `rtcp_mux` on a stream whose offer has no `a=rtcp-mux` (RFC 5761 §5.1.1).
    #[error("media section {index}: rtcp-mux was not offered")]
    MuxNotOffered { index: usize },
}

/// Our answer to one offer: the same media sections in the same order (RFC 3264 §6), each
/// accepted receive-only or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    origin: LocalOrigin,
    address: IpAddr,
    media: Vec<AnsweredMedia>,
}

/// One answered media section: its `m=` value and its `a=` values, written once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AnsweredMedia {
    media_line: String,
    attributes: Vec<String>,
}

impl Answer {
    /// Answers `offer` from `origin` at `address`, one decision in `streams` per offered media
    /// section. An accepted stream is `a=recvonly` (RFC 7866 §8.1.1: the recorder only
    /// receives), or `a=inactive` when the offer sends nothing; it echoes `a=label` and lists an
    /// rtpmap (and the offer's fmtp) for each chosen payload type. RTCP goes to port + 1 unless
    /// `rtcp_mux` (RFC 3550 §11), so no `a=rtcp` is written.
    pub fn new(
        offer: &SessionDescription,
        origin: LocalOrigin,
        address: IpAddr,
        streams: &[StreamAnswer],
    ) -> Result<Self, AnswerError> {
        if origin.username.is_empty() || origin.username.contains(char::is_whitespace) {
            return Err(AnswerError::BadUsername(origin.username));
        }
        if streams.len() != offer.media.len() {
            return Err(AnswerError::StreamCount {
                offered: offer.media.len(),
                answered: streams.len(),
            });
        }
        let media = offer
            .media
            .iter()
            .zip(streams)
            .enumerate()
            .map(|(index, (offered, answer))| answer_media(index, offered, answer))
            .collect::<Result<_, _>>()?;
        Ok(Answer {
            origin,
            address,
            media,
        })
    }

    /// The answer's SDP text, CRLF line ends.
    pub fn encode(&self) -> String {
        let addr_type = match self.address {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let LocalOrigin {
            username,
            session_id,
            version,
        } = &self.origin;
        let address = self.address;
        let mut out = String::with_capacity(256 + 128 * self.media.len());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "v=0\r\no={username} {session_id} {version} IN {addr_type} {address}\r\n\
             s=-\r\nc=IN {addr_type} {address}\r\nt=0 0\r\n"
        );
        for m in &self.media {
            let _ = write!(out, "m={}\r\n", m.media_line);
            for attribute in &m.attributes {
                let _ = write!(out, "a={attribute}\r\n");
            }
        }
        out
    }
}

fn answer_media(
    index: usize,
    offered: &MediaDescription,
    answer: &StreamAnswer,
) -> Result<AnsweredMedia, AnswerError> {
    let StreamAnswer::Accept {
        port,
        rtcp_mux,
        payload_types,
        crypto,
    } = answer
    else {
        // RFC 3264 §6: a refused stream keeps its media and protocol, port 0, and at least one
        // of the offered formats.
        let format = offered.formats.first().map_or("0", String::as_str);
        return Ok(AnsweredMedia {
            media_line: format!("{} 0 {} {format}", offered.media, offered.protocol),
            attributes: Vec::new(),
        });
    };
    if !offered.is_rtp() {
        return Err(AnswerError::NotRtp { index });
    }
    if offered.is_secure() != crypto.is_some() {
        return Err(AnswerError::Secure { index });
    }
    if offered.port == 0 {
        return Err(AnswerError::Disabled { index });
    }
    if *port == 0 {
        return Err(AnswerError::ZeroPort { index });
    }
    if payload_types.is_empty() {
        return Err(AnswerError::NoPayloadTypes { index });
    }
    if *rtcp_mux && !offered.rtcp_mux {
        return Err(AnswerError::MuxNotOffered { index });
    }
    let mut media_line = format!("{} {port} {}", offered.media, offered.protocol);
    let mut rtpmaps = Vec::new();
    let mut fmtps = Vec::new();
    for &payload_type in payload_types {
        let format =
            offered
                .rtp_format(payload_type)
                .ok_or(AnswerError::PayloadTypeNotOffered {
                    index,
                    payload_type,
                })?;
        let _ = write!(media_line, " {payload_type}");
        if let Some(Encoding {
            name,
            clock_rate,
            channels,
        }) = &format.encoding
        {
            rtpmaps.push(match channels {
                1 => format!("rtpmap:{payload_type} {name}/{clock_rate}"),
                _ => format!("rtpmap:{payload_type} {name}/{clock_rate}/{channels}"),
            });
        }
        if let Some(params) = &format.fmtp {
            fmtps.push(format!("fmtp:{payload_type} {params}"));
        }
    }
    let mut attributes = rtpmaps;
    attributes.append(&mut fmtps);
    if let Some(label) = &offered.label {
        attributes.push(format!("label:{label}"));
    }
    if *rtcp_mux {
        attributes.push("rtcp-mux".to_owned());
    }
    if let Some(crypto) = crypto {
        attributes.push(format!("crypto:{crypto}"));
    }
    // RFC 3264 §6.1: sendonly or sendrecv is answered recvonly (we never send); recvonly or
    // inactive leaves nothing to receive.
    let direction = match offered.direction {
        Direction::SendOnly | Direction::SendRecv => Direction::RecvOnly,
        Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
    };
    attributes.push(direction.as_str().to_owned());
    Ok(AnsweredMedia {
        media_line,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    // Offers shaped after captures from each platform (published with
    // drachtio-siprec-recording-server's tests); addresses, numbers and ids replaced.
    const CISCO: &str = include_str!("../../fixtures/siprec/cisco-cube.sdp");
    const CISCO_INACTIVE: &str = include_str!("../../fixtures/siprec/cisco-inactive.sdp");
    const BROADWORKS: &str = include_str!("../../fixtures/siprec/broadworks.sdp");
    const ACME_AVAYA: &str = include_str!("../../fixtures/siprec/acme-avaya.sdp");
    const SONUS: &str = include_str!("../../fixtures/siprec/sonus.sdp");
    const CONNECTEL: &str = include_str!("../../fixtures/siprec/connectel.sdp");
    // Made here: a Genesys-style pair of labelled streams plus video, and IPv6 with rtcp-mux.
    const VIDEO: &str = include_str!("../../fixtures/siprec/video.sdp");
    const IPV6: &str = include_str!("../../fixtures/siprec/ipv6.sdp");

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text, &Limits::default()).expect("offer parses")
    }

    fn encoding(name: &str, clock_rate: u32, channels: u16) -> Option<Encoding> {
        Some(Encoding {
            name: name.to_owned(),
            clock_rate,
            channels,
        })
    }

    fn format(payload_type: u8, encoding: Option<Encoding>, fmtp: Option<&str>) -> RtpFormat {
        RtpFormat {
            payload_type,
            encoding,
            fmtp: fmtp.map(str::to_owned),
        }
    }

    fn origin() -> LocalOrigin {
        LocalOrigin {
            username: "callrec".to_owned(),
            session_id: 4242,
            version: 1,
        }
    }

    fn ours() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5))
    }

    fn accept(port: u16, payload_types: &[u8]) -> StreamAnswer {
        StreamAnswer::Accept {
            port,
            rtcp_mux: false,
            payload_types: payload_types.to_vec(),
            crypto: None,
        }
    }

    fn answer(offer: &str, streams: &[StreamAnswer]) -> Vec<String> {
        let offer = parse(offer);
        let answer = Answer::new(&offer, origin(), ours(), streams).expect("answer builds");
        let text = answer.encode();
        assert!(text.ends_with("\r\n"), "{text:?}");
        text.split_terminator("\r\n").map(str::to_owned).collect()
    }

    const HEADER: [&str; 5] = [
        "v=0",
        "o=callrec 4242 1 IN IP4 192.0.2.5",
        "s=-",
        "c=IN IP4 192.0.2.5",
        "t=0 0",
    ];

    fn expected(media: &[&str]) -> Vec<String> {
        HEADER.iter().chain(media).map(|l| l.to_string()).collect()
    }

    #[test]
    fn cisco_cube_two_labelled_streams() {
        let offer = parse(CISCO);
        assert_eq!(
            offer.origin,
            Origin {
                username: "CiscoSystemsSIP-GW-UserAgent".into(),
                session_id: "1247".into(),
                session_version: "9367".into(),
                address: "198.51.100.20".into(),
            }
        );
        assert_eq!(offer.session_name, "SIP Call");
        let cube = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
        assert_eq!(offer.connection, Some(cube));
        assert_eq!(offer.direction, Direction::SendRecv);
        assert_eq!(offer.media.len(), 2);
        for (m, (port, label)) in offer.media.iter().zip([(10292, "1"), (10294, "2")]) {
            assert_eq!(m.media, "audio");
            assert!(m.is_audio() && m.is_rtp() && !m.is_secure());
            assert_eq!((m.port, m.protocol.as_str()), (port, "RTP/AVP"));
            assert_eq!(m.formats, ["0", "101"]);
            assert_eq!(
                m.rtp_formats,
                [
                    format(0, encoding("PCMU", 8000, 1), None),
                    format(101, encoding("telephone-event", 8000, 1), Some("0-16")),
                ]
            );
            assert_eq!(m.connection, Some(cube));
            assert_eq!(m.direction, Direction::SendOnly);
            assert_eq!(m.label.as_deref(), Some(label));
            assert_eq!((m.rtcp_mux, &m.rtcp, m.ptime), (false, &None, Some(20)));
        }
    }

    #[test]
    fn crlf_and_trailing_whitespace_read_the_same() {
        let crlf = CISCO.replace('\n', " \t\r\n");
        assert_eq!(parse(&crlf), parse(CISCO));
        let leading_blank = format!("\r\n\n{}", CISCO.replace('\n', "\r\n"));
        assert_eq!(parse(&leading_blank), parse(CISCO));
    }

    #[test]
    fn broadworks_single_mixed_stream_rtpmaps_in_any_order() {
        let offer = parse(BROADWORKS);
        let [m] = &offer.media[..] else {
            panic!("one stream: {:?}", offer.media)
        };
        assert_eq!(m.label.as_deref(), Some("1"));
        assert_eq!(m.direction, Direction::SendOnly);
        assert_eq!(
            m.rtp_formats,
            [
                format(8, encoding("PCMA", 8000, 1), None),
                format(101, encoding("telephone-event", 8000, 1), Some("0-15")),
                format(0, encoding("PCMU", 8000, 1), None),
                format(9, encoding("G722", 8000, 1), None),
                format(18, encoding("G729", 8000, 1), None),
            ]
        );
        assert_eq!(
            m.connection,
            Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 30)))
        );
    }

    #[test]
    fn static_payload_type_without_rtpmap_gets_its_rfc3551_name() {
        // Acme Packet (an Avaya site): the second stream lists 8 with no rtpmap for it.
        let offer = parse(ACME_AVAYA);
        let second = &offer.media[1];
        assert_eq!(second.label.as_deref(), Some("201835600"));
        assert_eq!(
            second.rtp_formats,
            [
                format(8, encoding("PCMA", 8000, 1), None),
                format(101, encoding("telephone-event", 8000, 1), None),
            ]
        );
        // The session's c= is inherited; o= names another address.
        assert_eq!(offer.origin.address, "198.51.100.43");
        let session = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 44)));
        assert!(offer.media.iter().all(|m| m.connection == session));
    }

    #[test]
    fn static_table() {
        let cases = [
            (0, Some(("PCMU", 8000, 1))),
            (3, Some(("GSM", 8000, 1))),
            (8, Some(("PCMA", 8000, 1))),
            (9, Some(("G722", 8000, 1))),
            (10, Some(("L16", 44100, 2))),
            (13, Some(("CN", 8000, 1))),
            (18, Some(("G729", 8000, 1))),
            (34, Some(("H263", 90000, 1))),
            (2, None),
            (19, None),
            (96, None),
        ];
        for (pt, expected) in cases {
            let offer = format!("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP {pt}\n");
            let got = &parse(&offer).media[0].rtp_formats[0];
            let expected = expected.and_then(|(n, r, c)| encoding(n, r, c));
            assert_eq!(got.encoding, expected, "payload type {pt}");
        }
    }

    #[test]
    fn media_level_connection_and_no_connection_at_all() {
        // Sonus: only media-level c=, label before rtpmap, maxptime (not modelled).
        let sonus = parse(SONUS);
        assert_eq!(sonus.connection, None);
        let media = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 132)));
        assert!(sonus.media.iter().all(|m| m.connection == media));
        assert_eq!(sonus.media[0].label.as_deref(), Some("1"));
        assert_eq!(sonus.media[0].ptime, None);
        // Connectel's platform sends no c= anywhere; the recorder does not need it.
        let connectel = parse(CONNECTEL);
        assert!(connectel.media.iter().all(|m| m.connection.is_none()));
        assert_eq!(connectel.media[1].formats, ["8", "0", "101"]);
    }

    #[test]
    fn session_direction_is_inherited_and_overridden() {
        let offer = parse(VIDEO);
        assert_eq!(offer.direction, Direction::SendOnly);
        assert!(offer
            .media
            .iter()
            .all(|m| m.direction == Direction::SendOnly));
        let overridden = VIDEO.replace("a=label:2\n", "a=label:2\na=inactive\n");
        let offer = parse(&overridden);
        let directions: Vec<Direction> = offer.media.iter().map(|m| m.direction).collect();
        assert_eq!(
            directions,
            [
                Direction::SendOnly,
                Direction::Inactive,
                Direction::SendOnly
            ]
        );
        assert!(!offer.media[2].is_audio());
        assert_eq!(
            offer.media[2].rtp_formats[0],
            format(
                96,
                encoding("H264", 90000, 1),
                Some("profile-level-id=42e01f;packetization-mode=1")
            )
        );
    }

    #[test]
    fn ipv6_rtcp_mux_and_rtcp_attribute() {
        let offer = parse(IPV6);
        let session: Ipv6Addr = "2001:db8::10".parse().expect("literal");
        assert_eq!(offer.connection, Some(IpAddr::V6(session)));
        let first = &offer.media[0];
        assert!(first.rtcp_mux);
        assert_eq!(
            first.rtcp,
            Some(Rtcp {
                port: 40001,
                address: Some(IpAddr::V6("2001:db8::11".parse().expect("literal"))),
            })
        );
        assert_eq!(first.label.as_deref(), Some("caller"));
        let second = &offer.media[1];
        assert_eq!(
            second.connection,
            Some(IpAddr::V6("2001:db8::12".parse().expect("literal")))
        );
        assert_eq!(second.rtcp, None);
        let plain = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\na=rtcp:4001\n");
        assert_eq!(
            plain.media[0].rtcp,
            Some(Rtcp {
                port: 4001,
                address: None
            })
        );
    }

    #[test]
    fn unknown_and_odd_lines_are_skipped() {
        let offer = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=x\nb=AS:64\nk=prompt\nnot a line\nx\n\
                     a=group:BUNDLE a\nm=audio 4000/2 RTP/AVP 0\ni=info\na=foo:bar\na=label:\n\
                     a=sendonly:junk\nm=application 5000 udp/bfcp *\na=rtpmap:x y\na=fmtp:z\n";
        let offer = parse(offer);
        assert_eq!(offer.media.len(), 2);
        let audio = &offer.media[0];
        assert_eq!((audio.port, audio.label.clone()), (4000, None));
        assert_eq!(audio.direction, Direction::SendRecv);
        let bfcp = &offer.media[1];
        assert!(!bfcp.is_rtp());
        assert_eq!(
            (bfcp.formats.clone(), bfcp.rtp_formats.len()),
            (vec!["*".to_owned()], 0)
        );
    }

    #[test]
    fn srtp_offer_keeps_its_crypto_lines_in_order_and_the_answer_writes_ours() {
        let offer = parse(
            "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/SAVP 0\n\
             a=crypto:1 AEAD_AES_256_GCM inline:a\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:b\n\
             a=sendonly\nm=audio 4002 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c\n",
        );
        assert_eq!(
            offer.media[0].crypto,
            [
                "1 AEAD_AES_256_GCM inline:a",
                "2 AES_CM_128_HMAC_SHA1_80 inline:b"
            ]
        );
        // Keys on a plain RTP line mean nothing (RFC 4568 §3: SRTP transports only).
        assert!(offer.media[1].crypto.is_empty());
        let keyed = StreamAnswer::Accept {
            port: 6000,
            rtcp_mux: false,
            payload_types: vec![0],
            crypto: Some("2 AES_CM_128_HMAC_SHA1_80 inline:ours".into()),
        };
        let answer = Answer::new(
            &offer,
            origin(),
            ours(),
            &[keyed.clone(), accept(6002, &[0])],
        )
        .expect("answer builds")
        .encode();
        assert!(
            answer.contains(
                "m=audio 6000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:ours\r\na=recvonly\r\n"
            ),
            "{answer}"
        );
        // Keys for a plain stream, or none for an SRTP one, are refused.
        assert_eq!(
            Answer::new(
                &offer,
                origin(),
                ours(),
                &[accept(6000, &[0]), keyed.clone()]
            ),
            Err(AnswerError::Secure { index: 0 })
        );
        assert_eq!(
            Answer::new(&offer, origin(), ours(), &[StreamAnswer::Reject, keyed]),
            Err(AnswerError::Secure { index: 1 })
        );
    }

    #[test]
    fn secure_profiles() {
        let cases = [
            ("RTP/AVP", true, false),
            ("RTP/AVPF", true, false),
            ("RTP/SAVP", true, true),
            ("RTP/SAVPF", true, true),
            ("UDP/TLS/RTP/SAVPF", true, true),
            ("udptl", false, false),
        ];
        for (protocol, rtp, secure) in cases {
            let text = format!("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 {protocol} 0\n");
            let m = &parse(&text).media[0];
            assert_eq!((m.is_rtp(), m.is_secure()), (rtp, secure), "{protocol}");
        }
    }

    #[test]
    fn malformed_offers() {
        const O: &str = "v=0\no=- 1 1 IN IP4 192.0.2.1\n";
        let cases: Vec<(String, SdpError)> = vec![
            ("".into(), SdpError::MissingVersion),
            (
                "o=- 1 1 IN IP4 192.0.2.1\n".into(),
                SdpError::MissingVersion,
            ),
            ("v=1\n".into(), SdpError::BadVersion { line: 1 }),
            ("v=0\nm=audio 1 RTP/AVP 0\n".into(), SdpError::MissingOrigin),
            ("v=0\ns=-\n".into(), SdpError::MissingOrigin),
            (
                "v=0\no=- 1 IN IP4 192.0.2.1\n".into(),
                SdpError::BadOrigin { line: 2 },
            ),
            (
                format!("{O}c=IN IP4 host.example\n"),
                SdpError::BadConnection { line: 3 },
            ),
            (
                format!("{O}c=IN IP4 233.252.0.1/127\n"),
                SdpError::BadConnection { line: 3 },
            ),
            (
                format!("{O}c=IN IP4 2001:db8::1\n"),
                SdpError::BadConnection { line: 3 },
            ),
            (
                format!("{O}c=IN IP6 192.0.2.1\n"),
                SdpError::BadConnection { line: 3 },
            ),
            (
                format!("{O}c=ATM NSAP 1\n"),
                SdpError::BadConnection { line: 3 },
            ),
            (
                format!("{O}m=audio 70000 RTP/AVP 0\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (
                format!("{O}m=audio 4000/x RTP/AVP 0\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (
                format!("{O}m=audio 4000 RTP/AVP\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (
                format!("{O}m=audio 4000 RTP/AVP 0 PCMU\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (
                format!("{O}m=audio 4000 RTP/AVP 128\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (format!("{O}m=audio\n"), SdpError::BadMedia { line: 3 }),
            // Found by fuzzing: a vertical tab is no separator, and no token either (a rejected
            // stream's answer echoed it, and trimming then lost it).
            (
                format!("{O}m=video 4000 TCP/BFCP \x0b\n"),
                SdpError::BadMedia { line: 3 },
            ),
            (
                format!("{O}m=video 4000 TCP/BFCP *\x0b\n"),
                SdpError::BadMedia { line: 3 },
            ),
        ];
        let attribute = |a: &str| format!("{O}m=audio 4000 RTP/AVP 0 101\na={a}\n");
        let bad = |attribute| SdpError::BadAttribute { line: 4, attribute };
        let attributes = [
            ("rtpmap:101 telephone-event", "rtpmap"),
            ("rtpmap:101 telephone-event/0", "rtpmap"),
            ("rtpmap:101 telephone-event/8000/0", "rtpmap"),
            ("rtpmap:101 a/8000/1/2", "rtpmap"),
            ("rtpmap:300 telephone-event/8000", "rtpmap"),
            ("rtpmap:101", "rtpmap"),
            ("fmtp:abc 0-16", "fmtp"),
            ("rtcp:port", "rtcp"),
            ("rtcp:4001 IN IP4 host.example", "rtcp"),
            ("ptime:20.5", "ptime"),
        ];
        let cases = cases.into_iter().chain(
            attributes
                .into_iter()
                .map(|(a, name)| (attribute(a), bad(name))),
        );
        for (text, error) in cases {
            assert_eq!(
                SessionDescription::parse(&text, &Limits::default()),
                Err(error),
                "{text:?}"
            );
        }
    }

    #[test]
    fn limits_each_have_their_error() {
        let limits = Limits {
            max_bytes: CISCO.len(),
            max_media: 2,
            max_formats: 2,
            max_attributes: 12,
        };
        assert!(SessionDescription::parse(CISCO, &limits).is_ok());
        let longer = format!("{CISCO} ");
        let too_large = SdpError::TooLarge {
            len: CISCO.len() + 1,
            max: CISCO.len(),
        };
        assert_eq!(SessionDescription::parse(&longer, &limits), Err(too_large));
        let cases = [
            (
                Limits {
                    max_media: 1,
                    ..limits.clone()
                },
                SdpError::TooManyMedia { max: 1 },
            ),
            (
                Limits {
                    max_formats: 1,
                    ..limits.clone()
                },
                SdpError::TooManyFormats { line: 6, max: 1 },
            ),
            (
                Limits {
                    max_attributes: 11,
                    ..limits.clone()
                },
                SdpError::TooManyAttributes { max: 11 },
            ),
        ];
        for (limits, error) in cases {
            assert_eq!(SessionDescription::parse(CISCO, &limits), Err(error));
        }
    }

    #[test]
    fn answer_cisco_cube() {
        let lines = answer(CISCO, &[accept(30000, &[0, 101]), accept(30002, &[0])]);
        assert_eq!(
            lines,
            expected(&[
                "m=audio 30000 RTP/AVP 0 101",
                "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-16",
                "a=label:1",
                "a=recvonly",
                "m=audio 30002 RTP/AVP 0",
                "a=rtpmap:0 PCMU/8000",
                "a=label:2",
                "a=recvonly",
            ])
        );
    }

    #[test]
    fn answer_broadworks_mixed_stream_in_our_order() {
        let lines = answer(BROADWORKS, &[accept(31000, &[9, 8, 101])]);
        assert_eq!(
            lines,
            expected(&[
                "m=audio 31000 RTP/AVP 9 8 101",
                "a=rtpmap:9 G722/8000",
                "a=rtpmap:8 PCMA/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-15",
                "a=label:1",
                "a=recvonly",
            ])
        );
    }

    #[test]
    fn answer_inactive_offer_stays_inactive() {
        let lines = answer(CISCO_INACTIVE, &[accept(32000, &[0]), StreamAnswer::Reject]);
        assert_eq!(
            lines,
            expected(&[
                "m=audio 32000 RTP/AVP 0",
                "a=rtpmap:0 PCMU/8000",
                "a=label:1",
                "a=inactive",
                "m=audio 0 RTP/AVP 0",
            ])
        );
    }

    #[test]
    fn answer_rejects_video_keeping_its_place() {
        let streams = [
            accept(20000, &[8]),
            accept(20002, &[8]),
            StreamAnswer::Reject,
        ];
        let lines = answer(VIDEO, &streams);
        assert_eq!(
            lines,
            expected(&[
                "m=audio 20000 RTP/AVP 8",
                "a=rtpmap:8 PCMA/8000",
                "a=label:1",
                "a=recvonly",
                "m=audio 20002 RTP/AVP 8",
                "a=rtpmap:8 PCMA/8000",
                "a=label:2",
                "a=recvonly",
                "m=video 0 RTP/AVP 96",
            ])
        );
    }

    #[test]
    fn answer_ipv6_with_rtcp_mux_on_one_stream() {
        let offer = parse(IPV6);
        let streams = [
            StreamAnswer::Accept {
                port: 50000,
                rtcp_mux: true,
                payload_types: vec![9, 101],
                crypto: None,
            },
            accept(50002, &[0]),
        ];
        let address = IpAddr::V6("2001:db8::5".parse().expect("literal"));
        let next = origin().next_version();
        let text = Answer::new(&offer, next, address, &streams)
            .expect("answer builds")
            .encode();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(
            lines,
            [
                "v=0",
                "o=callrec 4242 2 IN IP6 2001:db8::5",
                "s=-",
                "c=IN IP6 2001:db8::5",
                "t=0 0",
                "m=audio 50000 RTP/AVP 9 101",
                "a=rtpmap:9 G722/8000",
                "a=rtpmap:101 telephone-event/8000",
                "a=fmtp:101 0-16",
                "a=label:caller",
                "a=rtcp-mux",
                "a=recvonly",
                "m=audio 50002 RTP/AVP 0",
                "a=rtpmap:0 PCMU/8000",
                "a=label:callee",
                "a=recvonly",
            ]
        );
    }

    #[test]
    fn answer_direction_table() {
        let cases = [
            ("sendonly", "recvonly"),
            ("sendrecv", "recvonly"),
            ("recvonly", "inactive"),
            ("inactive", "inactive"),
        ];
        for (offered, answered) in cases {
            let offer =
                format!("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\na={offered}\n");
            let lines = answer(&offer, &[accept(6000, &[0])]);
            assert_eq!(
                lines.last().map(String::as_str),
                Some(&*format!("a={answered}"))
            );
        }
    }

    #[test]
    fn answer_keeps_channel_count_and_unmapped_dynamic_types() {
        let offer = "v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 10 97\n";
        let lines = answer(offer, &[accept(6000, &[10, 97])]);
        assert_eq!(
            lines,
            expected(&[
                "m=audio 6000 RTP/AVP 10 97",
                "a=rtpmap:10 L16/44100/2",
                "a=recvonly"
            ])
        );
    }

    #[test]
    fn answer_reparses_with_the_same_media() {
        for offer in [
            CISCO,
            CISCO_INACTIVE,
            BROADWORKS,
            ACME_AVAYA,
            SONUS,
            CONNECTEL,
            VIDEO,
            IPV6,
        ] {
            let offer = parse(offer);
            let streams: Vec<StreamAnswer> = offer
                .media
                .iter()
                .enumerate()
                .map(|(i, m)| match m.is_audio() {
                    true => StreamAnswer::Accept {
                        port: 40000 + 2 * i as u16,
                        rtcp_mux: m.rtcp_mux,
                        payload_types: m.rtp_formats.iter().map(|f| f.payload_type).collect(),
                        crypto: None,
                    },
                    false => StreamAnswer::Reject,
                })
                .collect();
            let answer = Answer::new(&offer, origin(), ours(), &streams).expect("answer builds");
            let reparsed = parse(&answer.encode());
            assert_eq!(reparsed.media.len(), offer.media.len());
            for (ours, theirs) in reparsed.media.iter().zip(&offer.media) {
                assert_eq!(ours.media, theirs.media);
                assert_eq!(ours.protocol, theirs.protocol);
                if theirs.is_audio() {
                    assert_eq!(ours.label, theirs.label);
                    assert_eq!(ours.rtp_formats, theirs.rtp_formats);
                    assert_eq!(ours.rtcp_mux, theirs.rtcp_mux);
                    assert_ne!(ours.direction, Direction::SendOnly);
                } else {
                    assert_eq!(ours.port, 0);
                }
            }
        }
    }

    #[test]
    fn answer_errors() {
        let cisco = parse(CISCO);
        let video = parse(VIDEO);
        let ipv6 = parse(IPV6);
        let secure = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 4000 RTP/SAVP 0\n");
        let disabled = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=audio 0 RTP/AVP 0\n");
        let bfcp = parse("v=0\no=- 1 1 IN IP4 192.0.2.1\nm=application 9 TCP/BFCP *\n");
        let reject = StreamAnswer::Reject;
        let mux = |payload_types: Vec<u8>| StreamAnswer::Accept {
            port: 6000,
            rtcp_mux: true,
            payload_types,
            crypto: None,
        };
        let cases = [
            (
                &cisco,
                vec![accept(6000, &[0])],
                AnswerError::StreamCount {
                    offered: 2,
                    answered: 1,
                },
            ),
            (
                &secure,
                vec![accept(6000, &[0])],
                AnswerError::Secure { index: 0 },
            ),
            (
                &disabled,
                vec![accept(6000, &[0])],
                AnswerError::Disabled { index: 0 },
            ),
            (
                &bfcp,
                vec![accept(6000, &[0])],
                AnswerError::NotRtp { index: 0 },
            ),
            (
                &cisco,
                vec![reject.clone(), accept(0, &[0])],
                AnswerError::ZeroPort { index: 1 },
            ),
            (
                &cisco,
                vec![accept(6000, &[]), reject.clone()],
                AnswerError::NoPayloadTypes { index: 0 },
            ),
            (
                &cisco,
                vec![accept(6000, &[0, 8]), reject.clone()],
                AnswerError::PayloadTypeNotOffered {
                    index: 0,
                    payload_type: 8,
                },
            ),
            (
                &cisco,
                vec![mux(vec![0]), reject.clone()],
                AnswerError::MuxNotOffered { index: 0 },
            ),
            (
                &video,
                vec![reject.clone(), reject.clone(), mux(vec![96])],
                AnswerError::MuxNotOffered { index: 2 },
            ),
        ];
        for (offer, streams, error) in cases {
            assert_eq!(Answer::new(offer, origin(), ours(), &streams), Err(error));
        }
        let spaced = LocalOrigin {
            username: "call rec".into(),
            ..origin()
        };
        let streams = [reject.clone(), reject];
        assert_eq!(
            Answer::new(&ipv6, spaced, ours(), &streams),
            Err(AnswerError::BadUsername("call rec".into()))
        );
    }

    #[test]
    fn next_version_keeps_the_session() {
        let next = origin().next_version();
        assert_eq!(
            (next.username.as_str(), next.session_id, next.version),
            ("callrec", 4242, 2)
        );
        let last = LocalOrigin {
            version: u64::MAX,
            ..origin()
        };
        assert_eq!(last.next_version().version, 0);
    }
}
