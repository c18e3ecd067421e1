//! Building the response to a request (RFC 3261 §8.2.6): the headers a response copies from its
//! request, our To-tag, the canonical reason phrases. Must never let a value we were given end
//! its line early.

use std::io::Write;

use bytes::Bytes;

use super::headers::{
    Headers, CALL_ID, CONTENT_TYPE, CSEQ, FROM, RECORD_ROUTE, TIMESTAMP, TO, VIA,
};

/// A response being built; [`ResponseBuilder::encode`] writes it with its Content-Length.
#[derive(Debug, Clone)]
pub struct ResponseBuilder<'a> {
    /// The request's header fields, the ones a response copies.
    request: &'a Headers,
    status: u16,
    reason: &'a str,
    to_tag: Option<&'a str>,
    /// Copy the request's Record-Route fields.
    record_route: bool,
    headers: Vec<(&'a str, &'a str)>,
    body: Option<(&'a str, Bytes)>,
}

impl<'a> ResponseBuilder<'a> {
    /// See [`Response::for_request`](super::Response::for_request).
    pub(super) fn new(request: &'a Headers, status: u16) -> Self {
        assert!(
            (100..=699).contains(&status),
            "SIP status codes are 100..=699"
        );
        ResponseBuilder {
            request,
            status,
            reason: reason_phrase(status),
            to_tag: None,
            record_route: false,
            headers: Vec::new(),
            body: None,
        }
    }

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

    /// Copies every Record-Route field of the request, values and order unchanged, as a
    /// response that establishes a dialog must (§12.1.1): the client builds its route set
    /// from them, so its ACK, BYE and re-INVITEs pass through the proxies that asked (a
    /// balancer in front of several recorders) and reach the one that answered.
    pub fn record_route(mut self) -> Self {
        self.record_route = true;
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
        let request = self.request;
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
        if self.record_route {
            for route in request.get_all(RECORD_ROUTE) {
                push_header(&mut out, RECORD_ROUTE, route);
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
