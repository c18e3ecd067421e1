//! The start line and the header section (RFC 3261 §7.1-§7.3): where a message's parsing
//! starts, within its [`Limits`], refusing what it cannot accept with a [`ParseError`]. Checks
//! the start line, cuts the header fields (unfolding continuation lines, expanding compact
//! names, splitting comma lists) and finds where the body starts. Keeps ranges into the one
//! buffer: only a folded header value is copied, to unfold it. Also walks a framed stream's
//! head for its Content-Length and a multipart part's header fields. Must never trust a length
//! it has not checked, or panic on any input.

use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;

use super::grammar::{ascii, is_token, is_uri, is_wsp, number, trim_range, Method};
use super::headers::{
    lookup, parse_content_length, Field, HeaderError, Headers, Name, Span, CONTENT_LENGTH, VIA,
};

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
    /// ([`Request::parse_head`](super::Request::parse_head)).
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

pub(super) enum StartLine {
    Request { method: Method, uri: Range<usize> },
    Response { status: u16, reason: Range<usize> },
}

/// A message's start line and header fields, and where its body starts.
pub(super) struct Head {
    pub(super) start: StartLine,
    pub(super) headers: Headers,
    pub(super) body_start: usize,
}

/// The start line and header fields, within the first `max_message_bytes`. Unless `strict`,
/// any well-formed SIP version and any visible-ASCII Request-URI pass (to answer them 505 and
/// 400).
pub(super) fn read_head(buf: &Bytes, limits: &Limits, strict: bool) -> Result<Head, ParseError> {
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
pub(super) fn version(text: &[u8], check: bool) -> Result<(), ParseError> {
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
pub(super) struct Line {
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
