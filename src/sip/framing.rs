//! SIP over a byte stream, TCP or TLS (RFC 3261 §18.3): cuts the stream into messages by
//! Content-Length and recognises RFC 5626 keep-alives.
//!
//! Owns the bytes between socket reads and [`crate::sip::message::Message::parse`]. It must
//! never read a socket or a clock, and never hold more than one message's limit plus the chunk
//! last pushed: a message that cannot fit is an error, after which the stream cannot be
//! resynchronised and the connection is to be closed.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

use super::message::{stream_content_length, HeaderError, Limits};

/// What the stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole message: header section and Content-Length body bytes.
    Message(Bytes),
    /// A double-CRLF keep-alive ping, to be answered with a single CRLF pong (RFC 5626
    /// §3.5.1).
    Ping,
}

/// Why the stream cannot be framed; the connection is to be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    /// No empty line ends the header section within `Limits::max_message_bytes`.
    #[error("no end of header section within {limit} bytes")]
    HeadTooLong { limit: usize },
    /// The header section has no Content-Length, which a stream requires (§18.3, §20.14).
    #[error("message on a stream without Content-Length")]
    MissingContentLength,
    /// Content-Length is not a number or appears more than once.
    #[error(transparent)]
    ContentLength(#[from] HeaderError),
    /// Header section plus Content-Length exceed `Limits::max_message_bytes`.
    #[error("message of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
}

/// What a framer has seen.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Messages yielded.
    pub messages: u64,
    /// Bytes in the messages yielded.
    pub message_bytes: u64,
    /// Double-CRLF pings yielded.
    pub pings: u64,
    /// CR and LF bytes skipped between messages (pongs, stray line ends, §7.5).
    pub line_end_bytes: u64,
}

/// Cuts one connection's bytes into [`Frame`]s: [`Framer::push`] what the socket delivered,
/// then take frames until `None`. After an error it yields nothing more.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_message_bytes: usize,
    /// How far the search for the empty line has looked without finding it.
    scanned: usize,
    /// Length of the message at the front, once its header section is read.
    pending: Option<usize>,
    failed: bool,
    stats: Stats,
}

impl Framer {
    /// A framer holding messages to `limits.max_message_bytes`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            buf: BytesMut::new(),
            max_message_bytes: limits.max_message_bytes,
            scanned: 0,
            pending: None,
            failed: false,
            stats: Stats::default(),
        }
    }

    /// Appends bytes read from the stream (ignored after an error).
    pub fn push(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes held: at most `max_message_bytes` once frames have been taken until `None`.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn fail(&mut self, error: FramingError) -> Option<Result<Frame, FramingError>> {
        self.failed = true;
        self.buf = BytesMut::new();
        Some(Err(error))
    }

    /// Skips line ends before a message (RFC 3261 §7.5); `Some` for a ping. Waits on a prefix
    /// of CRLFCRLF, which may be a ping still arriving.
    fn keep_alive(&mut self) -> Option<Option<Frame>> {
        loop {
            let skip = match &self.buf[..] {
                [b'\r', b'\n', b'\r', b'\n', ..] => {
                    self.buf.advance(4);
                    self.stats.pings += 1;
                    return Some(Some(Frame::Ping));
                }
                [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return None,
                [b'\r', b'\n', ..] => 2,
                [b'\n', ..] => 1,
                _ => return Some(None),
            };
            self.buf.advance(skip);
            self.stats.line_end_bytes += skip as u64;
        }
    }
}

impl Iterator for Framer {
    type Item = Result<Frame, FramingError>;

    /// The next frame, or `None` until more bytes are pushed (or after an error).
    fn next(&mut self) -> Option<Result<Frame, FramingError>> {
        if self.failed {
            return None;
        }
        let limit = self.max_message_bytes;
        let len = match self.pending {
            Some(len) => len,
            None => {
                if let Some(ping) = self.keep_alive()? {
                    return Some(Ok(ping));
                }
                if self.buf.is_empty() {
                    return None;
                }
                let Some(head) = head_end(&self.buf, self.scanned) else {
                    if self.buf.len() >= limit {
                        return self.fail(FramingError::HeadTooLong { limit });
                    }
                    self.scanned = self.buf.len().saturating_sub(2);
                    return None;
                };
                if head > limit {
                    return self.fail(FramingError::HeadTooLong { limit });
                }
                let body = match stream_content_length(&self.buf[..head]) {
                    Ok(Some(body)) => body,
                    Ok(None) => return self.fail(FramingError::MissingContentLength),
                    Err(error) => return self.fail(error.into()),
                };
                match head.checked_add(body).filter(|&len| len <= limit) {
                    Some(len) => len,
                    None => {
                        let len = head.saturating_add(body);
                        return self.fail(FramingError::TooLarge { len, limit });
                    }
                }
            }
        };
        if self.buf.len() < len {
            self.pending = Some(len);
            return None;
        }
        self.pending = None;
        self.scanned = 0;
        self.stats.messages += 1;
        self.stats.message_bytes += len as u64;
        Some(Ok(Frame::Message(self.buf.split_to(len).freeze())))
    }
}

/// Where the header section ends: just after the first empty line (LF then CRLF or LF) at or
/// after `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| match buf[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;

    const CUBE_INVITE: &[u8] = include_bytes!("../../fixtures/sip/invite-siprec-cube.sip");
    const CUBE_OPTIONS: &[u8] = include_bytes!("../../fixtures/sip/options-cube.sip");
    const CUBE_BYE: &[u8] = include_bytes!("../../fixtures/sip/bye-cube.sip");

    fn new_framer(max_message_bytes: usize) -> Framer {
        Framer::new(&Limits {
            max_message_bytes,
            ..Limits::default()
        })
    }

    fn message(bytes: &[u8]) -> Option<Result<Frame, FramingError>> {
        Some(Ok(Frame::Message(Bytes::copy_from_slice(bytes))))
    }

    #[test]
    fn messages_pipelined_in_one_read_come_out_whole() {
        let mut framer = new_framer(64 * 1024);
        framer.push(&[CUBE_OPTIONS, CUBE_INVITE, CUBE_BYE].concat());
        assert_eq!(framer.next(), message(CUBE_OPTIONS));
        assert_eq!(framer.next(), message(CUBE_INVITE));
        assert_eq!(framer.next(), message(CUBE_BYE));
        assert_eq!(framer.next(), None);
        assert_eq!(framer.buffered(), 0);
        let total = CUBE_OPTIONS.len() + CUBE_INVITE.len() + CUBE_BYE.len();
        assert_eq!(
            framer.stats(),
            &Stats {
                messages: 3,
                message_bytes: total as u64,
                pings: 0,
                line_end_bytes: 0,
            }
        );
    }

    #[test]
    fn a_message_dripping_in_byte_by_byte_comes_out_once_complete() {
        let mut framer = new_framer(64 * 1024);
        for &byte in &CUBE_INVITE[..CUBE_INVITE.len() - 1] {
            framer.push(&[byte]);
            assert_eq!(framer.next(), None);
        }
        framer.push(&CUBE_INVITE[CUBE_INVITE.len() - 1..]);
        let Some(Ok(Frame::Message(invite))) = framer.next() else {
            panic!("the INVITE");
        };
        assert_eq!(&invite[..], CUBE_INVITE);
        let Ok(Message::Request(request)) = Message::parse(invite, &Limits::default()) else {
            panic!("parses");
        };
        assert_eq!(request.body().len(), 2214);
        assert_eq!(framer.next(), None);
    }

    #[test]
    fn keep_alives_between_messages() {
        let mut framer = new_framer(1024);
        // A ping arriving in two reads, then a message after a stray CRLF.
        framer.push(b"\r\n");
        assert_eq!(framer.next(), None);
        assert_eq!(framer.buffered(), 2);
        framer.push(b"\r\n");
        assert_eq!(framer.next(), Some(Ok(Frame::Ping)));
        framer.push(b"\r\n");
        framer.push(CUBE_OPTIONS);
        framer.push(b"\r\n\r\n\n");
        assert_eq!(framer.next(), message(CUBE_OPTIONS));
        assert_eq!(framer.next(), Some(Ok(Frame::Ping)));
        assert_eq!(framer.next(), None);
        assert_eq!(framer.buffered(), 0);
        assert_eq!(framer.stats().pings, 2);
        assert_eq!(framer.stats().line_end_bytes, 3);
        // A lone CR might start a ping: wait.
        framer.push(b"\r");
        assert_eq!(framer.next(), None);
        framer.push(b"\n\r");
        assert_eq!(framer.next(), None);
        framer.push(b"\n");
        assert_eq!(framer.next(), Some(Ok(Frame::Ping)));
    }

    #[test]
    fn content_length_in_any_spelling_frames_the_body() {
        for (name, head) in [
            ("compact", "l: 5"),
            ("spaced", "Content-Length   :  5"),
            ("folded", "content-length:\r\n 5"),
        ] {
            let mut framer = new_framer(1024);
            let text = format!("MESSAGE sip:a@b SIP/2.0\r\n{head}\r\n\r\nhelloMESSAGE");
            framer.push(text.as_bytes());
            let Some(Ok(Frame::Message(got))) = framer.next() else {
                panic!("{name}");
            };
            assert!(got.ends_with(b"\r\n\r\nhello"), "{name}");
            assert_eq!(framer.next(), None, "{name}");
            assert_eq!(framer.buffered(), "MESSAGE".len(), "{name}");
        }
        // Bare LF line ends, and a malformed line the parser will report.
        let mut framer = new_framer(1024);
        framer.push(b"BYE sip:a@b SIP/2.0\nnot a header\nl: 2\n\nokX");
        assert_eq!(
            framer.next(),
            message(b"BYE sip:a@b SIP/2.0\nnot a header\nl: 2\n\nok")
        );
    }

    #[test]
    fn framing_errors_end_the_stream() {
        let cases: [(&str, &[u8], FramingError); 4] = [
            (
                "no Content-Length",
                b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n",
                FramingError::MissingContentLength,
            ),
            (
                "negative",
                b"BYE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
                FramingError::ContentLength(HeaderError::Malformed {
                    name: "Content-Length",
                    reason: "not a non-negative number",
                }),
            ),
            (
                "twice",
                b"BYE sip:a@b SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n",
                FramingError::ContentLength(HeaderError::Repeated {
                    name: "Content-Length",
                }),
            ),
            (
                "beyond usize",
                b"BYE sip:a@b SIP/2.0\r\nl: 99999999999999999999999\r\n\r\n",
                FramingError::ContentLength(HeaderError::Malformed {
                    name: "Content-Length",
                    reason: "not a non-negative number",
                }),
            ),
        ];
        for (name, bytes, error) in cases {
            let mut framer = new_framer(1024);
            framer.push(bytes);
            assert_eq!(framer.next(), Some(Err(error)), "{name}");
            assert_eq!(framer.buffered(), 0, "{name}");
            framer.push(CUBE_OPTIONS);
            assert_eq!(framer.next(), None, "{name}: nothing after an error");
            assert_eq!(framer.buffered(), 0, "{name}");
        }
    }

    #[test]
    fn the_message_limit_bounds_head_and_body() {
        let head = b"BYE sip:a@b SIP/2.0\r\nl: 10\r\n\r\n";
        let limit = head.len() + 10;
        // Exactly at the limit.
        let mut framer = new_framer(limit);
        framer.push(head);
        framer.push(b"0123456789");
        assert_eq!(framer.next(), message(&[&head[..], b"0123456789"].concat()));
        // One byte over, known from the head alone.
        let mut framer = new_framer(limit - 1);
        framer.push(head);
        assert_eq!(
            framer.next(),
            Some(Err(FramingError::TooLarge {
                len: limit,
                limit: limit - 1
            }))
        );
        // A head that never ends: waits below the limit, fails at it.
        let mut framer = new_framer(64);
        framer.push(&[b'a'; 63]);
        assert_eq!(framer.next(), None);
        assert_eq!(framer.buffered(), 63);
        framer.push(b"a");
        assert_eq!(
            framer.next(),
            Some(Err(FramingError::HeadTooLong { limit: 64 }))
        );
        // A head that ends past the limit in one read.
        let mut framer = new_framer(16);
        framer.push(b"BYE sip:a@b SIP/2.0\r\n\r\n");
        assert_eq!(
            framer.next(),
            Some(Err(FramingError::HeadTooLong { limit: 16 }))
        );
    }
}
