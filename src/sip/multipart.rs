//! multipart/mixed bodies (RFC 2046 §5.1): a SIPREC INVITE carries its SDP and its recording
//! metadata as two parts of one body (RFC 7866 §8).
//!
//! Owns cutting a body at its boundary into parts whose headers and content are slices of the
//! body. It must never copy or look inside a part's content (SDP and metadata have their own
//! parsers), and never nest: a part that is itself multipart is the caller's to split.
//!
//! Liberal where real clients are: Cisco CUBE, Sonus/Ribbon and Procomm recording clients end
//! the body after the last part without the close delimiter (Content-Length ends it). Such a
//! body is accepted when its last part is complete (headers, the empty line, content), and
//! [`Multipart::closed`] says it was not closed; a body cut inside a delimiter line or inside
//! the last part's headers stays an error.

use bytes::Bytes;
use thiserror::Error;

use super::message::{parse_fields, Headers, Limits as MessageLimits, ParseError};

/// Bounds on one multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Parts (default 8; a SIPREC body has two).
    pub max_parts: usize,
    /// Header field values of one part (default 16; a part has one to four).
    pub max_part_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_parts: 8,
            max_part_headers: 16,
        }
    }
}

/// One body part: its MIME headers (Content-Type, Content-Disposition, Content-ID...) and its
/// content, a slice of the body.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Headers,
    pub body: Bytes,
}

/// A multipart body cut into its parts.
#[derive(Debug, Clone)]
pub struct Multipart {
    pub parts: Vec<Part>,
    /// False when the body ended after a complete last part without the close delimiter
    /// `--boundary--` (as some clients send): worth a note, not a refusal.
    pub closed: bool,
}

/// Where a body without a close delimiter was cut, so its last part is not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Inside a delimiter line: `--bound` or `--boundary-`, or `--boundary` and nothing after.
    DelimiterLine,
    /// Inside the last part's headers: no empty line ends them.
    Headers,
    /// Right after the last part's headers and their empty line: no content.
    BeforeContent,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cut::DelimiterLine => "inside a delimiter line",
            Cut::Headers => "inside the last part's headers (no empty line after them)",
            Cut::BeforeContent => "before the last part's content",
        })
    }
}

/// Why a body is not a multipart body we accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MultipartError {
    /// The boundary is empty, longer than 70 characters or has a character outside `bchars`
    /// (RFC 2046 §5.1.1).
    #[error("boundary of {len} bytes is not 1..=70 boundary characters")]
    BadBoundary { len: usize },
    /// No line starts with `--boundary`.
    #[error("no boundary delimiter in the body")]
    NoDelimiter,
    /// The close delimiter comes before any part.
    #[error("close delimiter before any part")]
    NoParts,
    /// No close delimiter `--boundary--`, and the body ends where its last part is not
    /// complete: a body cut short, not one a client chose to leave unclosed.
    #[error("no close delimiter, and the body ends {cut}")]
    Unterminated { cut: Cut },
    /// More parts than `Limits::max_parts`.
    #[error("more than {limit} parts")]
    TooManyParts { limit: usize },
    /// A part's header section is malformed or over its limit.
    #[error("part {index}: {error}")]
    PartHeaders { index: usize, error: ParseError },
}

/// The parts of `body` delimited by `boundary` (Content-Type's `boundary` parameter), in
/// order. Preamble and epilogue are ignored; line ends may be CRLF or bare LF. The line end
/// before a delimiter belongs to the delimiter, not to the part; without a close delimiter the
/// body's last line end is treated the same way, so a part's content is the same either way.
pub fn split(body: &Bytes, boundary: &str, limits: &Limits) -> Result<Multipart, MultipartError> {
    let boundary = boundary.as_bytes();
    let bchar = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b);
    if boundary.is_empty()
        || boundary.len() > 70
        || !boundary.iter().all(|&b| bchar(b))
        || boundary.ends_with(b" ")
    {
        return Err(MultipartError::BadBoundary {
            len: boundary.len(),
        });
    }
    let header_limits = MessageLimits {
        max_headers: limits.max_part_headers,
        ..MessageLimits::default()
    };
    let mut delimiter = find_delimiter(body, 0, boundary).ok_or(MultipartError::NoDelimiter)?;
    if delimiter.close {
        return Err(MultipartError::NoParts);
    }
    let mut parts = Vec::new();
    loop {
        let start = delimiter.next;
        let next = find_delimiter(body, start, boundary);
        if parts.len() == limits.max_parts {
            return Err(MultipartError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        let part_end = match &next {
            Some(next) => next.line_start.max(start),
            None => {
                let cut = unclosed_last_part(body, start, boundary);
                cut.map_or(Ok(()), |cut| Err(MultipartError::Unterminated { cut }))?;
                body.len()
            }
        };
        let mut end = part_end;
        for line_end in [b'\n', b'\r'] {
            if end > start && body[end - 1] == line_end {
                end -= 1;
            }
        }
        let (headers, content_start) = parse_fields(body, start, end, true, &header_limits)
            .map_err(|error| MultipartError::PartHeaders {
                index: parts.len(),
                error,
            })?;
        if next.is_none() && content_start >= end {
            return Err(MultipartError::Unterminated {
                cut: Cut::BeforeContent,
            });
        }
        parts.push(Part {
            headers,
            body: body.slice(content_start..end),
        });
        match next {
            Some(next) if next.close => {
                return Ok(Multipart {
                    parts,
                    closed: true,
                })
            }
            Some(next) => delimiter = next,
            None => {
                return Ok(Multipart {
                    parts,
                    closed: false,
                })
            }
        }
    }
}

/// Whether the last part, `body[start..]` with no delimiter after it, is cut short inside a
/// delimiter line or its headers (and which). Whether content follows the empty line is the
/// caller's to check once the headers are read.
fn unclosed_last_part(body: &[u8], start: usize, boundary: &[u8]) -> Option<Cut> {
    let rest = &body[start..];
    if rest.is_empty() {
        // `--boundary` was the body's last line: without its line end it may be the start of
        // the close delimiter.
        return Some(match body.last() {
            Some(b'\n') => Cut::Headers,
            _ => Cut::DelimiterLine,
        });
    }
    let last_line = match rest.iter().rposition(|&b| b == b'\n') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let last_line = last_line.strip_suffix(b"\r").unwrap_or(last_line);
    let close = [b"--", boundary, b"--"].concat();
    if !last_line.is_empty() && close.starts_with(last_line) {
        return Some(Cut::DelimiterLine);
    }
    let blank = [&b"\r\n"[..], b"\n"]
        .iter()
        .any(|line_end| rest.starts_with(line_end))
        || rest.windows(2).any(|w| w == b"\n\n")
        || rest.windows(3).any(|w| w == b"\n\r\n");
    (!blank).then_some(Cut::Headers)
}

/// A delimiter line: `--boundary` at a line start, then `--` (close) or optional white space
/// and the line end.
struct Delimiter {
    line_start: usize,
    /// Where the next part starts (after the line end).
    next: usize,
    close: bool,
}

fn find_delimiter(body: &[u8], from: usize, boundary: &[u8]) -> Option<Delimiter> {
    let mut at = from;
    while let Some(found) = body.get(at..)?.windows(2).position(|w| w == b"--") {
        let line_start = at + found;
        at = line_start + 1;
        if line_start > 0 && body[line_start - 1] != b'\n' {
            continue;
        }
        let Some(after) = body[line_start + 2..].strip_prefix(boundary) else {
            continue;
        };
        let mut next = line_start + 2 + boundary.len();
        if after.starts_with(b"--") {
            return Some(Delimiter {
                line_start,
                next: next + 2,
                close: true,
            });
        }
        next += after
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        match &body[next..] {
            [b'\r', b'\n', ..] => next += 2,
            [b'\n', ..] => next += 1,
            [] => {}
            _ => continue,
        }
        return Some(Delimiter {
            line_start,
            next,
            close: false,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Limits as MessageLimits, Message};

    const CUBE_INVITE: &[u8] = include_bytes!("../../fixtures/sip/invite-siprec-cube.sip");
    const BROADWORKS_INVITE: &[u8] =
        include_bytes!("../../fixtures/sip/invite-siprec-broadworks.sip");

    fn body_of(invite: &'static [u8]) -> (Bytes, String) {
        let Ok(Message::Request(invite)) =
            Message::parse(Bytes::from_static(invite), &MessageLimits::default())
        else {
            panic!("fixture is a request");
        };
        let content_type = invite
            .headers()
            .content_type()
            .expect("valid")
            .expect("present");
        let boundary = content_type.param("boundary").expect("boundary");
        (invite.body().clone(), boundary.to_owned())
    }

    /// Content-Type and Content-Disposition of a part, as strings.
    fn kinds(part: &Part) -> (String, Option<String>) {
        let content_type = part
            .headers
            .content_type()
            .expect("valid")
            .expect("present");
        let disposition = part.headers.content_disposition().expect("valid");
        (
            content_type.mime.into_owned(),
            disposition.map(|d| d.disposition.into_owned()),
        )
    }

    #[test]
    fn a_cube_siprec_body_is_sdp_then_metadata_sliced_in_place() {
        let (body, boundary) = body_of(CUBE_INVITE);
        let split = split(&body, &boundary, &Limits::default()).expect("splits");
        assert!(split.closed);
        let parts = split.parts;
        assert_eq!(parts.len(), 2);
        assert_eq!(
            kinds(&parts[0]),
            ("application/sdp".into(), Some("session".into()))
        );
        let disposition = parts[0]
            .headers
            .content_disposition()
            .expect("valid")
            .expect("present");
        assert_eq!(disposition.param("handling"), Some("required"));
        assert!(parts[0]
            .body
            .starts_with(b"v=0\r\no=CiscoSystemsSIP-GW-UserAgent"));
        // The CUBE leaves an empty line after the SDP: its last CRLF stays in the part.
        assert!(parts[0].body.ends_with(b"a=sendonly\r\na=label:2\r\n"));
        assert_eq!(parts[0].body.len(), 423);
        assert_eq!(
            kinds(&parts[1]),
            (
                "application/rs-metadata+xml".into(),
                Some("recording-session".into())
            )
        );
        assert!(parts[1].body.starts_with(b"<?xml version=\"1.0\""));
        assert!(parts[1]
            .body
            .ends_with(b"</participantstreamassoc>\r\n</recording>"));
        assert_eq!(parts[1].body.len(), 1565);
        // Both parts lie in the body's memory.
        let range = body.as_ptr_range();
        for part in &parts {
            assert!(range.contains(&part.body.as_ptr()));
        }
    }

    #[test]
    fn a_broadworks_body_has_a_preamble_and_a_quoted_boundary() {
        let (body, boundary) = body_of(BROADWORKS_INVITE);
        assert_eq!(boundary, "UniqueBroadWorksBoundary");
        let parts = split(&body, &boundary, &Limits::default())
            .expect("splits")
            .parts;
        let kinds: Vec<_> = parts.iter().map(kinds).collect();
        assert_eq!(
            kinds,
            [
                ("application/sdp".into(), None),
                (
                    "application/rs-metadata+xml".into(),
                    Some("recording-session".into())
                )
            ]
        );
        // The CRLF before a delimiter is the delimiter's: this SDP's last line has none.
        assert!(parts[0].body.starts_with(b"v=0\r\no=BroadWorks"));
        assert!(parts[0].body.ends_with(b"a=sendonly\r\na=label:2"));
        assert_eq!(parts[0].body.len(), 369);
        assert!(parts[1].body.ends_with(b"</stream>\r\n</recording>"));
        assert_eq!(parts[1].body.len(), 992);
    }

    #[test]
    fn line_ends_padding_epilogue_and_look_alike_lines() {
        /// (case, body, each part's Content-Type and content)
        type Case = (
            &'static str,
            &'static [u8],
            &'static [(&'static str, &'static [u8])],
        );
        let cases: [Case; 7] = [
            (
                "bare LF",
                b"--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\n--b--\n",
                &[("text/plain", b"one"), ("", b"two")],
            ),
            (
                "padding after the boundary, epilogue after the close",
                b"--b \t\r\nContent-Type: a/b\r\n\r\nx\r\n--b--  \r\nepilogue --b\r\n",
                &[("a/b", b"x")],
            ),
            (
                "a longer boundary and a mid-line one are content",
                b"--b\r\n\r\n--bc\r\nx --b\r\n--b--",
                &[("", b"--bc\r\nx --b")],
            ),
            (
                "a part without headers or content",
                b"--b\r\n--b\r\n\r\ny\r\n--b--",
                &[("", b""), ("", b"y")],
            ),
            (
                "headers without an empty line before the delimiter",
                b"--b\r\nContent-Type: a/b\r\n--b--",
                &[("a/b", b"")],
            ),
            (
                "binary content keeps its CR, LF and NUL bytes",
                b"--b\r\nContent-Type: application/octet-stream\r\n\r\n\x00\r\n\x01\n\r--b-\r\n\r\n--b--",
                &[("application/octet-stream", b"\x00\r\n\x01\n\r--b-\r\n")],
            ),
            (
                "a preamble ending mid-line",
                b"preamble --b\r\n--b\r\n\r\nz\r\n--b--",
                &[("", b"z")],
            ),
        ];
        for (name, body, expected) in cases {
            let parts = split(&Bytes::from_static(body), "b", &Limits::default())
                .unwrap_or_else(|error| panic!("{name}: {error}"))
                .parts;
            let got: Vec<(String, &[u8])> = parts
                .iter()
                .map(|part| {
                    let mime = part.headers.content_type().expect("valid");
                    (
                        mime.map_or(String::new(), |m| m.mime.into_owned()),
                        &part.body[..],
                    )
                })
                .collect();
            let expected: Vec<(String, &[u8])> = expected
                .iter()
                .map(|(mime, content)| (mime.to_string(), *content))
                .collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let limits = Limits {
            max_parts: 2,
            max_part_headers: 2,
        };
        let long = "x".repeat(71);
        let cases: [(&str, &[u8], &str, MultipartError); 10] = [
            (
                "empty boundary",
                b"--\r\n",
                "",
                MultipartError::BadBoundary { len: 0 },
            ),
            (
                "71 characters",
                b"",
                &long,
                MultipartError::BadBoundary { len: 71 },
            ),
            (
                "not a bchar",
                b"",
                "a@b",
                MultipartError::BadBoundary { len: 3 },
            ),
            (
                "ends in a space",
                b"",
                "a ",
                MultipartError::BadBoundary { len: 2 },
            ),
            (
                "no delimiter",
                b"v=0\r\n--c\r\n",
                "b",
                MultipartError::NoDelimiter,
            ),
            ("close first", b"--b--\r\n", "b", MultipartError::NoParts),
            (
                "no close delimiter, headers cut",
                b"--b\r\n\r\nx\r\n--b\r\nContent-Type: a/b\r\n",
                "b",
                MultipartError::Unterminated { cut: Cut::Headers },
            ),
            (
                "cut inside a delimiter line",
                b"--b\r\n\r\nx\r\n--b",
                "b",
                MultipartError::Unterminated {
                    cut: Cut::DelimiterLine,
                },
            ),
            (
                "three parts, two allowed",
                b"--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b\r\n\r\n3\r\n--b--",
                "b",
                MultipartError::TooManyParts { limit: 2 },
            ),
            (
                "three headers, two allowed",
                b"--b\r\n\r\n1\r\n--b\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n2\r\n--b--",
                "b",
                MultipartError::PartHeaders {
                    index: 1,
                    error: ParseError::TooManyHeaders { limit: 2 },
                },
            ),
        ];
        for (name, body, boundary, error) in cases {
            let got = split(&Bytes::from_static(body), boundary, &limits);
            assert_eq!(got.err(), Some(error), "{name}");
        }
        // At the limits it splits.
        let two = b"--b\r\nA: 1\r\nB: 2\r\n\r\n1\r\n--b\r\n\r\n2\r\n--b--";
        assert_eq!(
            split(&Bytes::from_static(two), "b", &limits).map(|s| s.parts.len()),
            Ok(2)
        );
        let bad_header = split(
            &Bytes::from_static(b"--b\r\nnot a header\r\n\r\nx\r\n--b--"),
            "b",
            &limits,
        );
        assert_eq!(
            bad_header.err(),
            Some(MultipartError::PartHeaders {
                index: 0,
                error: ParseError::HeaderLine { offset: 5 },
            })
        );
    }

    /// Each part's Content-Type and content.
    fn shapes(parts: &[Part]) -> Vec<(String, Vec<u8>)> {
        parts
            .iter()
            .map(|part| {
                let mime = part.headers.content_type().expect("valid");
                (
                    mime.map_or(String::new(), |m| m.mime.into_owned()),
                    part.body.to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn a_body_ending_after_a_complete_last_part_splits_as_if_closed() {
        let (cube, _) = body_of(CUBE_INVITE);
        let closed_bodies: [(&str, Vec<u8>, &str); 4] = [
            ("Cisco CUBE", cube.to_vec(), "uniqueBoundary"),
            (
                "bare LF, no headers in the first part",
                b"--b\n\none\n--b\nContent-Type: a/b\n\ntwo\n--b--\n".to_vec(),
                "b",
            ),
            (
                "content with empty lines and a look-alike last line",
                b"--b\r\nContent-Type: a/b\r\n\r\nx\r\n\r\n--bc\r\n--b--".to_vec(),
                "b",
            ),
            (
                "one part",
                b"--b\r\nContent-Type: a/b\r\nContent-Disposition: session\r\n\r\nv=0\r\n--b--\r\n"
                    .to_vec(),
                "b",
            ),
        ];
        for (name, closed, boundary) in closed_bodies {
            let whole = split(&Bytes::from(closed.clone()), boundary, &Limits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(whole.closed, "{name}");
            let close = format!("--{boundary}--");
            let at = closed
                .windows(close.len())
                .rposition(|w| w == close.as_bytes())
                .expect("a close delimiter");
            // As Cisco, Sonus and Procomm send it: the last part's line end, then nothing;
            // and without that line end either.
            let with_line_end = closed[..at].to_vec();
            let mut bare = with_line_end.clone();
            for line_end in [b'\n', b'\r'] {
                if bare.last() == Some(&line_end) {
                    bare.pop();
                }
            }
            for unclosed in [with_line_end, bare] {
                let cut = split(&Bytes::from(unclosed.clone()), boundary, &Limits::default())
                    .unwrap_or_else(|e| {
                        panic!("{name}: {e}: {:?}", String::from_utf8_lossy(&unclosed))
                    });
                assert!(!cut.closed, "{name}");
                assert_eq!(shapes(&cut.parts), shapes(&whole.parts), "{name}");
            }
        }
    }

    #[test]
    fn a_body_cut_inside_its_last_part_or_a_delimiter_is_an_error() {
        let head = b"--b\r\nContent-Type: a/b\r\n\r\nx\r\n".to_vec();
        let cases: [(&str, &[u8], Cut); 12] = [
            ("headers cut", b"Content-Type: a/b\r\n", Cut::Headers),
            ("header line cut", b"Content-Type: a/", Cut::Headers),
            ("not a header, no empty line", b"not a header", Cut::Headers),
            ("nothing after a delimiter line", b"", Cut::Headers),
            (
                "empty line, no content",
                b"Content-Type: a/b\r\n\r\n",
                Cut::BeforeContent,
            ),
            (
                "two empty lines, no content",
                b"Content-Type: a/b\r\n\r\n\r\n",
                Cut::BeforeContent,
            ),
            (
                "bare LF, no content",
                b"Content-Type: a/b\n\n",
                Cut::BeforeContent,
            ),
            ("close delimiter cut", b"y\r\n--b-", Cut::DelimiterLine),
            (
                "delimiter cut to its dashes",
                b"y\r\n--",
                Cut::DelimiterLine,
            ),
            ("one dash", b"y\r\n-", Cut::DelimiterLine),
            ("delimiter and a CR", b"y\r\n--b\r", Cut::DelimiterLine),
            (
                "delimiter without line end",
                b"y\r\n--b",
                Cut::DelimiterLine,
            ),
        ];
        for (name, tail, cut) in cases {
            // After one whole part, a second delimiter, then the tail (or, for the
            // content-bearing tails, a second part's headers and the tail).
            let mut body = head.clone();
            body.extend_from_slice(b"--b\r\n");
            if tail.starts_with(b"y") {
                body.extend_from_slice(b"Content-Type: a/b\r\n\r\n");
            }
            body.extend_from_slice(tail);
            let got = split(&Bytes::from(body), "b", &Limits::default());
            assert_eq!(
                got.err(),
                Some(MultipartError::Unterminated { cut }),
                "{name}"
            );
        }
        // The message says what is wrong.
        let error = MultipartError::Unterminated { cut: Cut::Headers };
        assert_eq!(
            error.to_string(),
            "no close delimiter, and the body ends inside the last part's headers (no empty line after them)"
        );
    }

    #[test]
    fn rfc4475_mpart01_binary_part_is_framed_by_content_length() {
        // RFC 4475 §3.1.1.11: a MESSAGE whose second part is binary, NULs included.
        let binary: Vec<u8> = (0..=255u8).chain(*b"\r\n--7a9cbec02ceef65\r\n").collect();
        let mut body = b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
        body.extend_from_slice(&binary);
        body.extend_from_slice(b"\r\n--7a9cbec02ceef655--\r\n");
        let mut message = format!(
            "MESSAGE sip:kumiko@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\nMax-Forwards: 70\r\nTo: <sip:kumiko@example.org>\r\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\r\nCall-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\nCSeq: 1 MESSAGE\r\nContent-Transfer-Encoding: binary\r\nContent-Type: multipart/mixed;boundary=7a9cbec02ceef655\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        message.extend_from_slice(&body);
        let Ok(Message::Request(request)) =
            Message::parse(Bytes::from(message), &MessageLimits::default())
        else {
            panic!("parses");
        };
        assert_eq!(request.headers().top_via().expect("Via").rport, Some(None));
        let content_type = request
            .headers()
            .content_type()
            .expect("valid")
            .expect("present");
        let boundary = content_type.param("boundary").expect("boundary");
        let parts = split(request.body(), boundary, &Limits::default())
            .expect("splits")
            .parts;
        assert_eq!(&parts[0].body[..], b"Hello");
        assert_eq!(&parts[1].body[..], &binary[..]);
        assert_eq!(
            parts[1].headers.get("content-transfer-encoding"),
            Some(&b"binary"[..])
        );
    }
}
