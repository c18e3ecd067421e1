//! The message a caller holds: a [`Message`], either a [`Request`] or a [`Response`], parsed
//! once over `bytes::Bytes` (the body is a slice of the buffer, never a copy) and read through
//! typed accessors; a request is answered with [`Response::for_request`].

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::grammar::{ascii, CSeq, Method};
use super::head::{read_head, Limits, ParseError, StartLine};
use super::headers::{HeaderError, Headers, CALL_ID, CSEQ, FROM, TO};
use super::response::ResponseBuilder;

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
        ResponseBuilder::new(&request.headers, status)
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
