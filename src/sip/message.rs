//! One SIP message (RFC 3261 §7, §20, §25): parsed once over `bytes::Bytes`, read through typed
//! accessors, answered with a response built per §8.2.6.
//!
//! [`Message::parse`] checks the start line, cuts the header fields (unfolding continuation
//! lines, expanding compact names, splitting comma lists) and frames the body by Content-Length.
//! It keeps ranges into the one buffer: only a folded header value is copied, to unfold it.
//! Header values are read on demand by accessors that parse their header and name it in their
//! error. This module must never copy a body, trust a length it has not checked, or panic on any
//! input.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;

const VIA: &str = "Via";
const FROM: &str = "From";
const TO: &str = "To";
const CALL_ID: &str = "Call-ID";
const CSEQ: &str = "CSeq";
const CONTACT: &str = "Contact";
const RECORD_ROUTE: &str = "Record-Route";
const CONTENT_TYPE: &str = "Content-Type";
const CONTENT_DISPOSITION: &str = "Content-Disposition";
const CONTENT_LENGTH: &str = "Content-Length";
const REQUIRE: &str = "Require";
const SUPPORTED: &str = "Supported";
const MAX_FORWARDS: &str = "Max-Forwards";
const EXPIRES: &str = "Expires";
const TIMESTAMP: &str = "Timestamp";

/// Bounds on one message. Exceeding any is its own [`ParseError`], answered 513.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The whole message, start line to last body byte (default 64 KiB, a UDP datagram's
    /// ceiling; a SIPREC INVITE with SDP and metadata is 3..10 KB).
    pub max_message_bytes: usize,
    /// Header field values, counted after comma lists are split (default 128).
    pub max_headers: usize,
    /// One header field's value as sent, continuation lines included (default 8 KiB; an
    /// Identity header, the longest common one, is about 1 KB).
    pub max_header_value_bytes: usize,
    /// Via entries (default 70: a request crosses at most 70 hops, the Max-Forwards a UAC
    /// starts with, RFC 3261 §8.1.1.6).
    pub max_vias: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_headers: 128,
            max_header_value_bytes: 8 * 1024,
            max_vias: 70,
        }
    }
}

/// Why bytes are not a SIP message we accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing but line ends.
    #[error("empty message")]
    Empty,
    /// Longer than `Limits::max_message_bytes`.
    #[error("message of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    /// More header field values than `Limits::max_headers`.
    #[error("more than {limit} header field values")]
    TooManyHeaders { limit: usize },
    /// One header field's value is longer than `Limits::max_header_value_bytes`.
    #[error("{name} value of {len} bytes exceeds the {limit}-byte limit")]
    HeaderTooLong {
        name: String,
        len: usize,
        limit: usize,
    },
    /// More Via entries than `Limits::max_vias`.
    #[error("more than {limit} Via entries")]
    TooManyVias { limit: usize },
    /// The first line is neither a Request-Line nor a Status-Line (§7.1, §7.2).
    #[error("malformed start line")]
    StartLine,
    /// The Request-URI is not an absolute URI, e.g. enclosed in `<>` (RFC 4475 §3.1.2.7).
    #[error("malformed Request-URI")]
    RequestUri,
    /// The status code is not three digits in 100..=699 (§7.2, RFC 4475 §3.1.2.19).
    #[error("status code is not three digits in 100..=699")]
    StatusCode,
    /// A well-formed SIP version other than 2.0 (answered 505, §21.5.7).
    #[error("SIP version {version} is not supported")]
    Version { version: String },
    /// A header line without a colon, with a name that is not a token or a CR not ending the
    /// line, or a continuation line with no header to continue (§7.3).
    #[error("malformed header line at byte {offset}")]
    HeaderLine { offset: usize },
    /// The header section does not end with an empty line.
    #[error("header section does not end with an empty line")]
    Unterminated,
    /// Fewer body bytes than Content-Length says (§18.3, RFC 4475 §3.1.2.2).
    #[error("Content-Length is {expected} but {available} body bytes follow")]
    BodyTruncated { expected: usize, available: usize },
    /// Content-Length is not a number, or appears more than once (RFC 4475 §3.1.2.3, §3.3.9).
    #[error(transparent)]
    Header(#[from] HeaderError),
}

impl ParseError {
    /// The status a UAS answers with, if the request is still answerable
    /// ([`Request::parse_head`]).
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. }
            | Self::TooManyHeaders { .. }
            | Self::HeaderTooLong { .. }
            | Self::TooManyVias { .. } => 513,
            Self::Version { .. } => 505,
            _ => 400,
        }
    }
}

/// Why a header a typed accessor reads is unusable; names the header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A header the message must carry is absent.
    #[error("{name} header missing")]
    Missing { name: &'static str },
    /// A header allowed once appears more than once (RFC 4475 §3.3.8, §3.3.9).
    #[error("{name} header appears more than once")]
    Repeated { name: &'static str },
    /// The value does not follow the header's grammar.
    #[error("{name} header malformed: {reason}")]
    Malformed {
        name: &'static str,
        reason: &'static str,
    },
}

impl HeaderError {
    /// The header at fault, by its long name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Missing { name } | Self::Repeated { name } | Self::Malformed { name, .. } => name,
        }
    }

    /// A request with an unusable header is answered 400 Bad Request.
    pub fn status(&self) -> u16 {
        400
    }
}

/// A request method (§7.1, RFC 3262, 3311, 3428, 3515, 6086, 6665). Names are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Update,
    Info,
    Prack,
    Register,
    Subscribe,
    Notify,
    Refer,
    Message,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method `token` names, or `None` if it is not a token.
    pub fn from_token(token: &[u8]) -> Option<Method> {
        if token.is_empty() || !token.iter().all(|&b| is_token(b)) {
            return None;
        }
        Some(match token {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"BYE" => Self::Bye,
            b"CANCEL" => Self::Cancel,
            b"OPTIONS" => Self::Options,
            b"UPDATE" => Self::Update,
            b"INFO" => Self::Info,
            b"PRACK" => Self::Prack,
            b"REGISTER" => Self::Register,
            b"SUBSCRIBE" => Self::Subscribe,
            b"NOTIFY" => Self::Notify,
            b"REFER" => Self::Refer,
            b"MESSAGE" => Self::Message,
            other => Self::Other(ascii(other).to_owned()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Update => "UPDATE",
            Self::Info => "INFO",
            Self::Prack => "PRACK",
            Self::Register => "REGISTER",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed SIP message.
#[derive(Debug, Clone)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    /// Parses one message from `buf` (a datagram, or one message cut from a stream by
    /// [`crate::sip::framing::Framer`]) without copying its body.
    ///
    /// The body is exactly Content-Length bytes; without Content-Length it is the rest of the
    /// datagram, and bytes after Content-Length are ignored (§18.3). Line ends may be CRLF or
    /// bare LF; line ends before the start line are skipped (§7.5).
    pub fn parse(buf: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        if buf.len() > limits.max_message_bytes {
            return Err(ParseError::TooLarge {
                len: buf.len(),
                limit: limits.max_message_bytes,
            });
        }
        let head = read_head(&buf, limits, true)?;
        let available = buf.len() - head.body_start;
        let body = match head.headers.content_length()? {
            None => buf.slice(head.body_start..),
            Some(len) if len <= available => buf.slice(head.body_start..head.body_start + len),
            Some(expected) => {
                return Err(ParseError::BodyTruncated {
                    expected,
                    available,
                })
            }
        };
        Ok(match head.start {
            StartLine::Request { method, uri } => Message::Request(Request {
                method,
                uri,
                headers: head.headers,
                body,
            }),
            StartLine::Response { status, reason } => Message::Response(Response {
                status,
                reason,
                headers: head.headers,
                body,
            }),
        })
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(request) => &request.headers,
            Self::Response(response) => &response.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Self::Request(request) => &request.body,
            Self::Response(response) => &response.body,
        }
    }
}

/// A request: method, Request-URI, headers, body.
#[derive(Clone)]
pub struct Request {
    method: Method,
    uri: Range<usize>,
    headers: Headers,
    body: Bytes,
}

impl Request {
    /// The start line and header fields of a request [`Message::parse`] rejected, to answer it
    /// with [`ParseError::status`]: any well-formed SIP version, any visible-ASCII Request-URI,
    /// no size or Content-Length check, an empty body. `None` if even those cannot be read, or
    /// it is a response.
    pub fn parse_head(buf: Bytes, limits: &Limits) -> Option<Request> {
        let head = read_head(&buf, limits, false).ok()?;
        match head.start {
            StartLine::Request { method, uri } => Some(Request {
                method,
                uri,
                headers: head.headers,
                body: Bytes::new(),
            }),
            StartLine::Response { .. } => None,
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The Request-URI as sent: an absolute URI (from [`Request::parse_head`], only visible
    /// ASCII).
    pub fn uri(&self) -> &str {
        ascii(&self.headers.buf[self.uri.clone()])
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// CSeq, whose method must be the request's (§8.1.1.5; RFC 4475 §3.1.2.17 answers a
    /// mismatch 400).
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        let cseq = self.headers.cseq()?;
        if cseq.method != self.method {
            return Err(HeaderError::Malformed {
                name: CSEQ,
                reason: "method differs from the request's",
            });
        }
        Ok(cseq)
    }

    /// Whether a response can be built and routed (§8.2.6, §18.2.2): not an ACK, which is
    /// never answered; one From, To, Call-ID and CSeq each, copied as sent even when malformed
    /// (RFC 4475 §3.1.2.4 answers an out-of-range CSeq 400); a top Via that parses, saying
    /// where the response goes.
    pub fn answerable(&self) -> bool {
        let once = |name| matches!(self.headers.single(name), Ok(Some(_)));
        self.method != Method::Ack
            && [FROM, TO, CALL_ID, CSEQ].into_iter().all(once)
            && self.headers.top_via().is_ok()
    }
}

/// A response: status, reason phrase, headers, body.
#[derive(Clone)]
pub struct Response {
    status: u16,
    reason: Range<usize>,
    headers: Headers,
    body: Bytes,
}

impl Response {
    /// Starts the response to `request` (§8.2.6.2): its Vias in order, From, To, Call-ID and
    /// CSeq, a Timestamp on a 100 (§8.2.6.1), and the canonical reason phrase for `status`.
    /// Call it on an [`Request::answerable`] request.
    pub fn for_request(request: &Request, status: u16) -> ResponseBuilder<'_> {
        assert!(
            (100..=699).contains(&status),
            "SIP status codes are 100..=699"
        );
        ResponseBuilder {
            request,
            status,
            reason: reason_phrase(status),
            to_tag: None,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase as sent (may be empty; not UTF-8 is replaced).
    pub fn reason(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.headers.buf[self.reason.clone()])
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", &self.uri())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A response being built; [`ResponseBuilder::encode`] writes it with its Content-Length.
#[derive(Debug, Clone)]
pub struct ResponseBuilder<'a> {
    request: &'a Request,
    status: u16,
    reason: &'a str,
    to_tag: Option<&'a str>,
    headers: Vec<(&'a str, &'a str)>,
    body: Option<(&'a str, Bytes)>,
}

impl<'a> ResponseBuilder<'a> {
    /// Replaces the canonical reason phrase.
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = reason;
        self
    }

    /// Our To-tag, added when the request's To has none (§8.2.6.2; a To that does not parse is
    /// copied unchanged).
    pub fn to_tag(mut self, tag: &'a str) -> Self {
        self.to_tag = Some(tag);
        self
    }

    /// One more header, written after the copied ones in call order.
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body and its Content-Type.
    pub fn body(mut self, content_type: &'a str, body: Bytes) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// The response's bytes. A CR or LF inside a value we were given becomes a space, so no
    /// value can end its line early.
    pub fn encode(&self) -> Bytes {
        let request = &self.request.headers;
        let body: &[u8] = self.body.as_ref().map_or(&[], |(_, body)| body);
        let mut out = Vec::with_capacity(512 + body.len());
        write!(out, "SIP/2.0 {} ", self.status).expect("writing to a Vec cannot fail");
        push_text(&mut out, self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        for via in request.get_all(VIA) {
            push_header(&mut out, VIA, via);
        }
        if let Some(from) = request.get(FROM) {
            push_header(&mut out, FROM, from);
        }
        if let Some(to) = request.get(TO) {
            out.extend_from_slice(b"To: ");
            push_text(&mut out, to);
            let has_tag = match request.to() {
                Ok(to) => to.has_param("tag"),
                Err(_) => true,
            };
            if let (Some(tag), false) = (self.to_tag, has_tag) {
                out.extend_from_slice(b";tag=");
                push_text(&mut out, tag.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        for name in [CALL_ID, CSEQ] {
            if let Some(value) = request.get(name) {
                push_header(&mut out, name, value);
            }
        }
        if self.status == 100 {
            if let Some(timestamp) = request.get(TIMESTAMP) {
                push_header(&mut out, TIMESTAMP, timestamp);
            }
        }
        for (name, value) in &self.headers {
            push_header(&mut out, name, value.as_bytes());
        }
        if let Some((content_type, _)) = &self.body {
            push_header(&mut out, CONTENT_TYPE, content_type.as_bytes());
        }
        write!(out, "Content-Length: {}\r\n\r\n", body.len())
            .expect("writing to a Vec cannot fail");
        out.extend_from_slice(body);
        Bytes::from(out)
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    push_text(out, name.as_bytes());
    out.extend_from_slice(b": ");
    push_text(out, value);
    out.extend_from_slice(b"\r\n");
}

fn push_text(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// The reason phrase we send with `status` (RFC 3261 §21, RFC 3262, 3329, 4028, 6665).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// A header name we normalise: its long form, compact form (§7.3.3 and the IANA SIP header
/// registry) and whether its value is a comma-separated list (§7.3.1) that we split.
struct Known {
    name: &'static str,
    compact: Option<u8>,
    list: bool,
}

const fn known(name: &'static str, compact: Option<u8>, list: bool) -> Known {
    Known {
        name,
        compact,
        list,
    }
}

/// Headers with a compact form, list headers, and the others our accessors read. Others keep
/// their name as sent and their value whole: an unknown header may hold anything (RFC 4475
/// §3.1.1.1), and some known ones hold commas in one value (Date, WWW-Authenticate).
const KNOWN: [Known; 44] = [
    known("Accept", None, true),
    known("Accept-Contact", Some(b'a'), true), // RFC 3841
    known("Accept-Encoding", None, true),
    known("Accept-Language", None, true),
    known("Alert-Info", None, true),
    known("Allow", None, true),
    known("Allow-Events", Some(b'u'), true), // RFC 6665
    known(CALL_ID, Some(b'i'), false),
    known("Call-Info", None, true),
    known(CONTACT, Some(b'm'), true),
    known(CONTENT_DISPOSITION, None, false),
    known("Content-Encoding", Some(b'e'), true),
    known("Content-Language", None, true),
    known(CONTENT_LENGTH, Some(b'l'), false),
    known(CONTENT_TYPE, Some(b'c'), false),
    known(CSEQ, None, false),
    known("Error-Info", None, true),
    known("Event", Some(b'o'), false), // RFC 6665
    known(EXPIRES, None, false),
    known(FROM, Some(b'f'), false),
    known("History-Info", None, true),         // RFC 7044
    known("Identity", Some(b'y'), false),      // RFC 8224
    known("Identity-Info", Some(b'n'), false), // RFC 4474
    known("In-Reply-To", None, true),
    known(MAX_FORWARDS, None, false),
    known("P-Asserted-Identity", None, true), // RFC 3325
    known("Path", None, true),                // RFC 3327
    known("Proxy-Require", None, true),
    known("Reason", None, true), // RFC 3326
    known("Record-Route", None, true),
    known("Refer-To", Some(b'r'), false),           // RFC 3515
    known("Referred-By", Some(b'b'), false),        // RFC 3892
    known("Reject-Contact", Some(b'j'), true),      // RFC 3841
    known("Request-Disposition", Some(b'd'), true), // RFC 3841
    known(REQUIRE, None, true),
    known("Route", None, true),
    known("Session-Expires", Some(b'x'), false), // RFC 4028
    known("Subject", Some(b's'), false),
    known(SUPPORTED, Some(b'k'), true),
    known(TIMESTAMP, None, false),
    known(TO, Some(b't'), false),
    known("Unsupported", None, true),
    known(VIA, Some(b'v'), true),
    known("Warning", None, true),
];

fn lookup(name: &[u8]) -> Option<&'static Known> {
    if let [compact] = name {
        let compact = compact.to_ascii_lowercase();
        return KNOWN.iter().find(|k| k.compact == Some(compact));
    }
    KNOWN
        .iter()
        .find(|k| k.name.len() == name.len() && k.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The name a header is stored under: the long form for a known name or compact form, else as
/// given.
fn canonical(name: &str) -> &str {
    lookup(name.as_bytes()).map_or(name, |k| k.name)
}

/// The header fields of a message or a body part, in order; one entry per value of a split
/// list. Names compare case-insensitively, compact forms as their long form.
#[derive(Clone, Default)]
pub struct Headers {
    buf: Bytes,
    /// Folded values, unfolded (the only copies).
    unfolded: Vec<u8>,
    fields: Vec<Field>,
}

#[derive(Debug, Clone)]
struct Field {
    name: Name,
    value: Span,
}

#[derive(Debug, Clone)]
enum Name {
    Known(&'static str),
    /// A token, as sent.
    Raw(Range<usize>),
}

#[derive(Debug, Clone)]
enum Span {
    Buf(Range<usize>),
    Unfolded(Range<usize>),
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

impl Headers {
    /// Header field values (after list splitting).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every (name, value) in order; values are trimmed and unfolded.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.fields
            .iter()
            .map(|field| (self.name_of(field), self.value_of(field)))
    }

    /// The first value of `name` (any case, or its compact form).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let wanted = canonical(name);
        self.fields
            .iter()
            .find(|field| self.is_named(field, wanted))
            .map(|field| self.value_of(field))
    }

    /// Every value of `name`, in order.
    pub fn get_all<'h>(&'h self, name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
        let wanted = canonical(name);
        self.fields
            .iter()
            .filter(move |field| self.is_named(field, wanted))
            .map(|field| self.value_of(field))
    }

    fn name_of(&self, field: &Field) -> &str {
        ascii(self.name_bytes(field))
    }

    fn name_bytes(&self, field: &Field) -> &[u8] {
        match &field.name {
            Name::Known(name) => name.as_bytes(),
            Name::Raw(range) => &self.buf[range.clone()],
        }
    }

    fn is_named(&self, field: &Field, wanted: &str) -> bool {
        self.name_bytes(field)
            .eq_ignore_ascii_case(wanted.as_bytes())
    }

    fn value_of(&self, field: &Field) -> &[u8] {
        match &field.value {
            Span::Buf(range) => &self.buf[range.clone()],
            Span::Unfolded(range) => &self.unfolded[range.clone()],
        }
    }

    /// The value of a header allowed once.
    fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HeaderError> {
        let mut values = self.get_all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HeaderError::Repeated { name });
        }
        Ok(first)
    }

    fn required(&self, name: &'static str) -> Result<&[u8], HeaderError> {
        self.single(name)?.ok_or(HeaderError::Missing { name })
    }

    /// Call-ID (§20.8): visible ASCII, compared byte for byte.
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let value = self.required(CALL_ID)?;
        if value.is_empty() || !value.iter().all(|b| b.is_ascii_graphic()) {
            return Err(malformed(CALL_ID)("not a word[@word]"));
        }
        Ok(ascii(value))
    }

    /// CSeq (§20.16): sequence number and method. See [`Request::cseq`] for a request's.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        let value = self.required(CSEQ)?;
        parse_cseq(value).map_err(malformed(CSEQ))
    }

    /// Every Via entry, top first (§20.42); at least one.
    pub fn vias(&self) -> Result<Vec<Via<'_>>, HeaderError> {
        let vias = self
            .get_all(VIA)
            .map(parse_via)
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed(VIA))?;
        if vias.is_empty() {
            return Err(HeaderError::Missing { name: VIA });
        }
        Ok(vias)
    }

    /// The top Via: where a response goes (§18.2.2).
    pub fn top_via(&self) -> Result<Via<'_>, HeaderError> {
        let value = self.get(VIA).ok_or(HeaderError::Missing { name: VIA })?;
        parse_via(value).map_err(malformed(VIA))
    }

    /// From (§20.20).
    pub fn from(&self) -> Result<NameAddr<'_>, HeaderError> {
        parse_name_addr(self.required(FROM)?).map_err(malformed(FROM))
    }

    /// To (§20.39).
    pub fn to(&self) -> Result<NameAddr<'_>, HeaderError> {
        parse_name_addr(self.required(TO)?).map_err(malformed(TO))
    }

    /// Every Contact (§20.10), with its parameters (e.g. the SIPREC feature tag `+sip.src`,
    /// RFC 7866 §6.1); empty if there is none.
    pub fn contacts(&self) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        self.get_all(CONTACT)
            .map(parse_name_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed(CONTACT))
    }

    /// Every Record-Route entry (§20.30) in order: the route set of a dialog we answer
    /// (§12.1.1).
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'_>>, HeaderError> {
        self.get_all(RECORD_ROUTE)
            .map(parse_name_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed(RECORD_ROUTE))
    }

    /// Content-Type (§20.15): type/subtype lowercased, parameters unquoted.
    pub fn content_type(&self) -> Result<Option<ContentType<'_>>, HeaderError> {
        let Some(value) = self.single(CONTENT_TYPE)? else {
            return Ok(None);
        };
        let mut cursor = Cursor::new(value);
        let mime = media_type(&mut cursor).map_err(malformed(CONTENT_TYPE))?;
        let params = parse_params(&mut cursor).map_err(malformed(CONTENT_TYPE))?;
        Ok(Some(ContentType { mime, params }))
    }

    /// Content-Disposition (§20.11, RFC 7866 §9.1: `recording-session` marks the metadata).
    pub fn content_disposition(&self) -> Result<Option<ContentDisposition<'_>>, HeaderError> {
        let Some(value) = self.single(CONTENT_DISPOSITION)? else {
            return Ok(None);
        };
        let mut cursor = Cursor::new(value);
        let kind = cursor.take_while(is_token);
        if kind.is_empty() {
            return Err(malformed(CONTENT_DISPOSITION)("missing disposition type"));
        }
        let params = parse_params(&mut cursor).map_err(malformed(CONTENT_DISPOSITION))?;
        Ok(Some(ContentDisposition {
            disposition: lowercase(kind),
            params,
        }))
    }

    /// Content-Length (§20.14).
    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        self.single(CONTENT_LENGTH)?
            .map(parse_content_length)
            .transpose()
    }

    /// Require option tags (§20.32), e.g. `siprec` (RFC 7866 §6.1.1).
    pub fn require(&self) -> Result<Vec<&str>, HeaderError> {
        self.option_tags(REQUIRE)
    }

    /// Supported option tags (§20.37).
    pub fn supported(&self) -> Result<Vec<&str>, HeaderError> {
        self.option_tags(SUPPORTED)
    }

    fn option_tags(&self, name: &'static str) -> Result<Vec<&str>, HeaderError> {
        self.get_all(name)
            .filter(|tag| !tag.is_empty())
            .map(|tag| {
                if tag.iter().all(|&b| is_token(b)) {
                    Ok(ascii(tag))
                } else {
                    Err(malformed(name)("option tag is not a token"))
                }
            })
            .collect()
    }

    /// Max-Forwards (§20.22): 0..=255.
    pub fn max_forwards(&self) -> Result<Option<u8>, HeaderError> {
        self.single(MAX_FORWARDS)?
            .map(|value| {
                number(value)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or(malformed(MAX_FORWARDS)("not a number in 0..=255"))
            })
            .transpose()
    }

    /// Expires (§20.19): seconds, 0..=2^32-1.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.single(EXPIRES)?
            .map(|value| {
                number(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(malformed(EXPIRES)("not a number in 0..=2^32-1"))
            })
            .transpose()
    }
}

fn malformed(name: &'static str) -> impl Fn(&'static str) -> HeaderError {
    move |reason| HeaderError::Malformed { name, reason }
}

/// CSeq's sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

/// One Via entry (§20.42, RFC 3581 for `rport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// As sent, e.g. `UDP`, `TCP`, `TLS` (compare ignoring case).
    pub transport: &'a str,
    /// Host name or address as sent; an IPv6 reference keeps its brackets.
    pub host: &'a str,
    pub port: Option<u16>,
    pub branch: Option<&'a str>,
    pub received: Option<&'a str>,
    /// `None` without `rport`; `Some(None)` for a bare `rport` (the client asks for it to be
    /// filled in); `Some(Some(port))` once filled.
    pub rport: Option<Option<u16>>,
}

/// A `name-addr` or `addr-spec` with header parameters: From, To, Contact (§20.10, §20.20,
/// §20.39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Unquoted and unescaped; bytes that are not UTF-8 are replaced.
    pub display_name: Option<Cow<'a, str>>,
    /// The URI as sent, without its angle brackets.
    pub uri: &'a str,
    /// Header parameters in order (`tag`, `expires`, feature tags...).
    pub params: Vec<Param<'a>>,
}

impl NameAddr<'_> {
    /// The `tag` parameter (§19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// The value of parameter `name` (any case); `None` if absent or without a value.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|param| param.value)
    }

    /// Whether parameter `name` (any case) is present, with or without a value (feature tags
    /// like `+sip.src` have none).
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }
}

/// A `;name[=value]` parameter. A quoted value loses its quotes; a quoted-pair inside stays as
/// sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

fn find_param<'p, 'a>(params: &'p [Param<'a>], name: &str) -> Option<&'p Param<'a>> {
    params
        .iter()
        .find(|param| param.name.eq_ignore_ascii_case(name))
}

/// Content-Type: `type/subtype` lowercased, and parameters (`boundary`, `charset`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType<'a> {
    pub mime: Cow<'a, str>,
    pub params: Vec<Param<'a>>,
}

impl ContentType<'_> {
    /// The value of parameter `name` (any case), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|param| param.value)
    }
}

/// Content-Disposition: the disposition type lowercased (`session`, `recording-session`...)
/// and parameters (`handling`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition<'a> {
    pub disposition: Cow<'a, str>,
    pub params: Vec<Param<'a>>,
}

impl ContentDisposition<'_> {
    /// The value of parameter `name` (any case), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|param| param.value)
    }
}

// ---- the start line and header section -------------------------------------------------

enum StartLine {
    Request { method: Method, uri: Range<usize> },
    Response { status: u16, reason: Range<usize> },
}

struct Head {
    start: StartLine,
    headers: Headers,
    body_start: usize,
}

/// The start line and header fields, within the first `max_message_bytes`. Unless `strict`,
/// any well-formed SIP version and any visible-ASCII Request-URI pass (to answer them 505 and
/// 400).
fn read_head(buf: &Bytes, limits: &Limits, strict: bool) -> Result<Head, ParseError> {
    let end = buf.len().min(limits.max_message_bytes);
    let start = buf[..end]
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let line = match line_at(buf, start, end, false) {
        Some(line) if !line.stray_cr => line,
        Some(_) => return Err(ParseError::StartLine),
        None => return Err(ParseError::Unterminated),
    };
    let start = parse_start_line(buf, start..line.end, strict)?;
    let (headers, body_start) = parse_fields(buf, line.next, end, false, limits)?;
    Ok(Head {
        start,
        headers,
        body_start,
    })
}

fn parse_start_line(buf: &[u8], line: Range<usize>, strict: bool) -> Result<StartLine, ParseError> {
    let text = &buf[line.clone()];
    if text.len() >= 4 && text[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2)
        let space = text
            .iter()
            .position(|&b| b == b' ')
            .ok_or(ParseError::StartLine)?;
        version(&text[..space], strict)?;
        let rest = &text[space + 1..];
        let status = rest
            .get(..3)
            .filter(|_| rest.get(3).is_none_or(|&b| b == b' '))
            .and_then(number)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| (100..=699).contains(n))
            .ok_or(ParseError::StatusCode)?;
        let reason = (line.start + space + 1 + 4).min(line.end)..line.end;
        let reason = trim_range(buf, reason);
        return Ok(StartLine::Response { status, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (§7.1). Runs of spaces and trailing
    // spaces are tolerated (RFC 4475 §3.1.2.9, §3.1.2.10); a space inside the URI is not.
    let mut parts = text
        .split(|&b| b == b' ' || b == b'\t')
        .scan(line.start, |offset, part| {
            let start = *offset;
            *offset += part.len() + 1;
            Some(start..start + part.len())
        })
        .filter(|part| !part.is_empty());
    let (Some(method), Some(uri), Some(sip_version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    let method = Method::from_token(&buf[method]).ok_or(ParseError::StartLine)?;
    let uri_bytes = &buf[uri.clone()];
    let uri_ok = match strict {
        true => is_uri(uri_bytes),
        false => uri_bytes.iter().all(u8::is_ascii_graphic),
    };
    if !uri_ok {
        return Err(ParseError::RequestUri);
    }
    version(&buf[sip_version], strict)?;
    Ok(StartLine::Request { method, uri })
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive (§7.1); only 2.0 is ours.
fn version(text: &[u8], check: bool) -> Result<(), ParseError> {
    let numbers = text
        .get(..4)
        .filter(|sip| sip.eq_ignore_ascii_case(b"SIP/"))
        .map(|_| &text[4..])
        .ok_or(ParseError::StartLine)?;
    let mut halves = numbers.splitn(2, |&b| b == b'.');
    let (Some(major), Some(minor)) = (halves.next(), halves.next()) else {
        return Err(ParseError::StartLine);
    };
    if number(major).is_none() || number(minor).is_none() {
        return Err(ParseError::StartLine);
    }
    if check && numbers != &b"2.0"[..] {
        return Err(ParseError::Version {
            version: String::from_utf8_lossy(text).into_owned(),
        });
    }
    Ok(())
}

/// A line: its content `at..end` (without CRLF or LF) and where the next starts.
struct Line {
    end: usize,
    next: usize,
    /// A CR inside the content: not allowed in a start line or header (only CRLF is).
    stray_cr: bool,
}

/// The line starting at `at`, or `None` if no line end comes before `end` (with `open_end`,
/// `end` ends the last line).
fn line_at(buf: &[u8], at: usize, end: usize, open_end: bool) -> Option<Line> {
    let (content_end, next) = match buf[at..end].iter().position(|&b| b == b'\n') {
        Some(offset) => {
            let lf = at + offset;
            let cr = lf > at && buf[lf - 1] == b'\r';
            (lf - usize::from(cr), lf + 1)
        }
        None if open_end => (end, end),
        None => return None,
    };
    Some(Line {
        end: content_end,
        next,
        stray_cr: buf[at..content_end].contains(&b'\r'),
    })
}

/// One header field as it appears on the wire: name and raw value, which spans its
/// continuation lines when `folded`.
pub(crate) struct RawField {
    pub(crate) name: Range<usize>,
    pub(crate) value: Range<usize>,
    pub(crate) folded: bool,
}

/// Walks the header fields of `buf[pos..end]` (§7.3.1). Every call moves forward: a malformed
/// line is an error after which the walk goes on at the next line.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    /// Where the next line starts; after `Ok(None)`, where the body starts.
    pub(crate) pos: usize,
    end: usize,
    /// `end` ends the section even without an empty line (a multipart part).
    open_end: bool,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize, end: usize, open_end: bool) -> Self {
        Self {
            buf,
            pos,
            end,
            open_end,
        }
    }

    /// The next field; `Ok(None)` at the empty line that ends the section.
    pub(crate) fn next_field(&mut self) -> Result<Option<RawField>, ParseError> {
        let at = self.pos;
        if at >= self.end && self.open_end {
            return Ok(None);
        }
        let line = self.line(at)?;
        if line.end == at {
            return Ok(None);
        }
        let text = &self.buf[at..line.end];
        let colon = text.iter().position(|&b| b == b':');
        let name_end = colon.map_or(at, |colon| {
            at + colon
                - text[..colon]
                    .iter()
                    .rev()
                    .take_while(|&&b| is_wsp(b))
                    .count()
        });
        if name_end == at || !self.buf[at..name_end].iter().all(|&b| is_token(b)) {
            return Err(ParseError::HeaderLine { offset: at });
        }
        let colon = colon.expect("a name ends before the colon");
        let mut value = at + colon + 1..line.end;
        let mut folded = false;
        while self.pos < self.end && is_wsp(self.buf[self.pos]) {
            value.end = self.line(self.pos)?.end;
            folded = true;
        }
        Ok(Some(RawField {
            name: at..name_end,
            value,
            folded,
        }))
    }

    /// The line at `at`, moving `pos` past it.
    fn line(&mut self, at: usize) -> Result<Line, ParseError> {
        let Some(line) = line_at(self.buf, at, self.end, self.open_end) else {
            self.pos = self.end;
            return Err(ParseError::Unterminated);
        };
        self.pos = line.next;
        if line.stray_cr {
            return Err(ParseError::HeaderLine { offset: at });
        }
        Ok(line)
    }
}

/// The header fields of `buf[start..end]` and where the body starts: folded values unfolded
/// (§7.3.1), compact names expanded (§7.3.3), lists split (§7.3.1), limits applied.
pub(crate) fn parse_fields(
    buf: &Bytes,
    start: usize,
    end: usize,
    open_end: bool,
    limits: &Limits,
) -> Result<(Headers, usize), ParseError> {
    let mut headers = Headers {
        buf: buf.clone(),
        unfolded: Vec::new(),
        // A SIPREC INVITE has about 40 values.
        fields: Vec::with_capacity(48),
    };
    let mut fields = Fields::new(buf, start, end, open_end);
    let mut vias = 0;
    while let Some(raw) = fields.next_field()? {
        let name_bytes = &buf[raw.name.clone()];
        if raw.value.len() > limits.max_header_value_bytes {
            return Err(ParseError::HeaderTooLong {
                name: ascii(name_bytes).to_owned(),
                len: raw.value.len(),
                limit: limits.max_header_value_bytes,
            });
        }
        let known = lookup(name_bytes);
        let name = known.map_or(Name::Raw(raw.name.clone()), |k| Name::Known(k.name));
        let (text, value): (&[u8], Range<usize>) = if raw.folded {
            let value = unfold(&buf[raw.value], &mut headers.unfolded);
            (&headers.unfolded, value)
        } else {
            (buf, trim_range(buf, raw.value))
        };
        let span = |range| match raw.folded {
            true => Span::Unfolded(range),
            false => Span::Buf(range),
        };
        let is_list = known.is_some_and(|k| k.list);
        let is_via = known.is_some_and(|k| k.name == VIA);
        for value in ListItems::new(text, value, is_list) {
            if headers.fields.len() == limits.max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            if is_via {
                vias += 1;
                if vias > limits.max_vias {
                    return Err(ParseError::TooManyVias {
                        limit: limits.max_vias,
                    });
                }
            }
            headers.fields.push(Field {
                name: name.clone(),
                value: span(value),
            });
        }
    }
    Ok((headers, fields.pos))
}

/// Copies a folded value into `out` with each line break and the white space around it
/// replaced by one space (§7.3.1), trimmed; returns its range in `out`.
fn unfold(raw: &[u8], out: &mut Vec<u8>) -> Range<usize> {
    let start = out.len();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' | b'\n' => {
                while out.len() > start && out.last().is_some_and(|&b| is_wsp(b)) {
                    out.pop();
                }
                while i < raw.len() && matches!(raw[i], b'\r' | b'\n' | b' ' | b'\t') {
                    i += 1;
                }
                out.push(b' ');
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    trim_range(out, start..out.len())
}

/// The comma-separated items of `text[range]` (the whole range unless `split`), trimmed;
/// commas inside quotes or `<>` do not separate (§7.3.1).
struct ListItems<'a> {
    text: &'a [u8],
    pos: usize,
    end: usize,
    split: bool,
    done: bool,
}

impl<'a> ListItems<'a> {
    fn new(text: &'a [u8], range: Range<usize>, split: bool) -> Self {
        Self {
            text,
            pos: range.start,
            end: range.end,
            split,
            done: false,
        }
    }
}

impl Iterator for ListItems<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.done {
            return None;
        }
        let (mut quoted, mut angle) = (false, false);
        let mut i = self.pos;
        while self.split && i < self.end {
            match self.text[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    let item = trim_range(self.text, self.pos..i);
                    self.pos = i + 1;
                    return Some(item);
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some(trim_range(self.text, self.pos..self.end))
    }
}

/// Content-Length of a framed stream's header section (everything up to and including its
/// empty line, start line first), for [`crate::sip::framing`]. Malformed lines are skipped:
/// the message parser reports them; only the length matters here.
pub(crate) fn stream_content_length(head: &[u8]) -> Result<Option<usize>, HeaderError> {
    let first = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.len(), |lf| lf + 1);
    let mut fields = Fields::new(head, first, head.len(), false);
    let mut length = None;
    loop {
        match fields.next_field() {
            Ok(Some(field)) => {
                if lookup(&head[field.name]).is_some_and(|k| k.name == CONTENT_LENGTH) {
                    if length.is_some() {
                        return Err(HeaderError::Repeated {
                            name: CONTENT_LENGTH,
                        });
                    }
                    length = Some(parse_content_length(&head[field.value])?);
                }
            }
            Ok(None) | Err(ParseError::Unterminated) => return Ok(length),
            Err(_) => {}
        }
    }
}

/// 1*DIGIT with any white space (and, raw from a stream, folding) around it.
fn parse_content_length(value: &[u8]) -> Result<usize, HeaderError> {
    let digits = value.trim_ascii();
    number(digits)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(malformed(CONTENT_LENGTH)("not a non-negative number"))
}

// ---- header value grammar ---------------------------------------------------------------

/// A position in one (unfolded, trimmed) header value.
struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// The inside of the quoted-string at the cursor (quoted-pairs kept as sent).
    fn quoted(&mut self) -> Result<&'a [u8], &'static str> {
        let start = self.pos + 1;
        let mut i = start;
        while let Some(&b) = self.text.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.text[start..i]);
                }
                _ => i += 1,
            }
        }
        Err("unterminated quoted string")
    }
}

/// `*( SEMI generic-param )` to the end of the value (§25.1): white space around `;` and `=`
/// allowed, values a token-like run or a quoted string.
fn parse_params<'a>(cursor: &mut Cursor<'a>) -> Result<Vec<Param<'a>>, &'static str> {
    let mut params = Vec::new();
    loop {
        cursor.skip_ws();
        if cursor.peek().is_none() {
            return Ok(params);
        }
        if !cursor.eat(b';') {
            return Err("unexpected text where a ;parameter belongs");
        }
        cursor.skip_ws();
        let name = cursor.take_while(is_token);
        if name.is_empty() {
            return Err("empty parameter");
        }
        cursor.skip_ws();
        let value = if cursor.eat(b'=') {
            cursor.skip_ws();
            let value = if cursor.peek() == Some(b'"') {
                std::str::from_utf8(cursor.quoted()?).map_err(|_| "parameter value not UTF-8")?
            } else {
                let value = cursor.take_while(is_param_char);
                if value.is_empty() {
                    return Err("parameter without a value after =");
                }
                ascii(value)
            };
            Some(value)
        } else {
            None
        };
        params.push(Param {
            name: ascii(name),
            value,
        });
    }
}

fn parse_cseq(value: &[u8]) -> Result<CSeq, &'static str> {
    let mut cursor = Cursor::new(value);
    let digits = cursor.take_while(|b| b.is_ascii_digit());
    if digits.is_empty() {
        return Err("missing sequence number");
    }
    let seq = number(digits)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("sequence number above 2^32-1")?;
    let space = cursor.pos;
    cursor.skip_ws();
    let method = cursor.take_while(is_token);
    if cursor.pos == space || cursor.peek().is_some() {
        return Err("not a number and a method");
    }
    let method = Method::from_token(method).ok_or("missing method")?;
    Ok(CSeq { seq, method })
}

/// via-parm = sent-protocol LWS sent-by *( SEMI via-params ) (§25.1); white space is allowed
/// around the slashes of sent-protocol (RFC 4475 §3.1.1.1).
fn parse_via(value: &[u8]) -> Result<Via<'_>, &'static str> {
    let mut cursor = Cursor::new(value);
    if !cursor.take_while(is_token).eq_ignore_ascii_case(b"SIP") {
        return Err("sent-protocol is not SIP");
    }
    let _version = slash_token(&mut cursor)?;
    let transport = slash_token(&mut cursor)?;
    let before = cursor.pos;
    cursor.skip_ws();
    if cursor.pos == before {
        return Err("no space before sent-by");
    }
    let host = host(&mut cursor)?;
    cursor.skip_ws();
    let port = if cursor.eat(b':') {
        cursor.skip_ws();
        Some(port(&mut cursor)?)
    } else {
        None
    };
    let mut via = Via {
        transport: ascii(transport),
        host,
        port,
        branch: None,
        received: None,
        rport: None,
    };
    for param in parse_params(&mut cursor)? {
        let name = param.name;
        if name.eq_ignore_ascii_case("branch") {
            via.branch = Some(param.value.ok_or("branch without a value")?);
        } else if name.eq_ignore_ascii_case("received") {
            via.received = Some(param.value.ok_or("received without a value")?);
        } else if name.eq_ignore_ascii_case("rport") {
            let port = param.value.map(|value| {
                number(value.as_bytes())
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or("rport is not a port")
            });
            via.rport = Some(port.transpose()?);
        }
    }
    Ok(via)
}

/// `SLASH token` in sent-protocol.
fn slash_token<'a>(cursor: &mut Cursor<'a>) -> Result<&'a [u8], &'static str> {
    cursor.skip_ws();
    let slash = cursor.eat(b'/');
    cursor.skip_ws();
    let token = cursor.take_while(is_token);
    if !slash || token.is_empty() {
        return Err("sent-protocol is not SIP/version/transport");
    }
    Ok(token)
}

/// A host name, IPv4 address, or IPv6 reference in brackets.
fn host<'a>(cursor: &mut Cursor<'a>) -> Result<&'a str, &'static str> {
    let start = cursor.pos;
    if cursor.eat(b'[') {
        cursor.take_while(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !cursor.eat(b']') {
            return Err("unterminated IPv6 reference");
        }
    } else {
        cursor.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    }
    if cursor.pos == start {
        return Err("missing host");
    }
    Ok(ascii(&cursor.text[start..cursor.pos]))
}

fn port(cursor: &mut Cursor<'_>) -> Result<u16, &'static str> {
    number(cursor.take_while(|b| b.is_ascii_digit()))
        .and_then(|n| u16::try_from(n).ok())
        .ok_or("port is not 0..=65535")
}

/// `( name-addr / addr-spec ) *( SEMI param )` (§20.10, §25.1). Without `<>` the URI ends at
/// the first `;` and may hold no `?` or `,` (RFC 4475 §3.1.2.13); a display name is a quoted
/// string or tokens (RFC 4475 §3.1.2.15), and may touch the `<` (§3.1.1.6).
fn parse_name_addr(value: &[u8]) -> Result<NameAddr<'_>, &'static str> {
    let mut cursor = Cursor::new(value);
    let mut display_name = None;
    let uri;
    if cursor.peek() == Some(b'"') {
        display_name = Some(unquote(cursor.quoted()?));
        cursor.skip_ws();
        if !cursor.eat(b'<') {
            return Err("display name without <URI>");
        }
        uri = angle_uri(&mut cursor)?;
    } else {
        let head_end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
        if let Some(open) = value[..head_end].iter().position(|&b| b == b'<') {
            let name = value[..open].trim_ascii();
            if !name.iter().all(|&b| is_token(b) || is_wsp(b)) {
                return Err("display name neither quoted nor tokens");
            }
            if !name.is_empty() {
                display_name = Some(Cow::Borrowed(ascii(name)));
            }
            cursor.pos = open + 1;
            uri = angle_uri(&mut cursor)?;
        } else {
            let spec = value[..head_end].trim_ascii();
            if spec.contains(&b'?') || spec.contains(&b',') {
                return Err("URI with ? or , outside <>");
            }
            uri = spec;
            cursor.pos = head_end;
        }
    }
    if !is_uri(uri) {
        return Err("malformed URI");
    }
    let params = parse_params(&mut cursor)?;
    Ok(NameAddr {
        display_name,
        uri: ascii(uri),
        params,
    })
}

/// The URI up to `>`, the cursor past it.
fn angle_uri<'a>(cursor: &mut Cursor<'a>) -> Result<&'a [u8], &'static str> {
    let uri = cursor.take_while(|b| b != b'>');
    if !cursor.eat(b'>') {
        return Err("< without >");
    }
    Ok(uri)
}

/// `m-type SLASH m-subtype` (§20.15), lowercased; white space around the slash allowed.
fn media_type<'a>(cursor: &mut Cursor<'a>) -> Result<Cow<'a, str>, &'static str> {
    let start = cursor.pos;
    let kind = cursor.take_while(is_token);
    cursor.skip_ws();
    let slash = cursor.pos;
    if kind.is_empty() || !cursor.eat(b'/') {
        return Err("not type/subtype");
    }
    cursor.skip_ws();
    let subtype_start = cursor.pos;
    let subtype = cursor.take_while(is_token);
    if subtype.is_empty() {
        return Err("not type/subtype");
    }
    if slash == start + kind.len() && subtype_start == slash + 1 {
        return Ok(lowercase(&cursor.text[start..cursor.pos]));
    }
    Ok(Cow::Owned(
        format!("{}/{}", ascii(kind), ascii(subtype)).to_ascii_lowercase(),
    ))
}

/// Tokens, lowercased without copying when they already are.
fn lowercase(token: &[u8]) -> Cow<'_, str> {
    match token.iter().any(u8::is_ascii_uppercase) {
        true => Cow::Owned(ascii(token).to_ascii_lowercase()),
        false => Cow::Borrowed(ascii(token)),
    }
}

/// A quoted string's inside with its quoted-pairs resolved (§25.1).
fn unquote(inside: &[u8]) -> Cow<'_, str> {
    if !inside.contains(&b'\\') {
        return String::from_utf8_lossy(inside);
    }
    let mut out = Vec::with_capacity(inside.len());
    let mut bytes = inside.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => out.extend(bytes.next()),
            b => out.push(b),
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// An absolute URI as SIP carries it: `scheme ":" rest`, visible ASCII, no `<`, `>` or `"`
/// (RFC 3986 §3.1; RFC 4475 §3.1.2.7, §3.1.2.8, §3.1.2.14).
fn is_uri(uri: &[u8]) -> bool {
    let Some(colon) = uri.iter().position(|&b| b == b':') else {
        return false;
    };
    let (scheme, rest) = (&uri[..colon], &uri[colon + 1..]);
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && rest
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'))
}

/// token characters (§25.1).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// An unquoted parameter value: token, host (`:` `[` `]`) and the other visible characters
/// senders leave unquoted, but not the separators `; , " < >`.
fn is_param_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_range(text: &[u8], range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + slice.iter().take_while(|&&b| is_wsp(b)).count();
    let end = range.end - slice.iter().rev().take_while(|&&b| is_wsp(b)).count();
    start..end.max(start)
}

/// 1*DIGIT as a number; `None` if empty, not digits, or beyond u64.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Bytes already checked to be ASCII (tokens, URIs, numbers).
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("checked to be ASCII when parsed")
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
