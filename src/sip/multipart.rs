//! multipart/mixed bodies (RFC 2046 §5.1): a SIPREC INVITE carries its SDP and its recording
//! metadata as two parts of one body (RFC 7866 §8).
//!
//! Owns cutting a body at its boundary into parts whose headers and content are slices of the
//! body. It must never copy or look inside a part's content (SDP and metadata have their own
//! parsers), and never nest: a part that is itself multipart is the caller's to split.

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
    /// The last part is not followed by the close delimiter `--boundary--`.
    #[error("no close delimiter after the last part")]
    Unterminated,
    /// More parts than `Limits::max_parts`.
    #[error("more than {limit} parts")]
    TooManyParts { limit: usize },
    /// A part's header section is malformed or over its limit.
    #[error("part {index}: {error}")]
    PartHeaders { index: usize, error: ParseError },
}

/// The parts of `body` delimited by `boundary` (Content-Type's `boundary` parameter), in
/// order. Preamble and epilogue are ignored; line ends may be CRLF or bare LF. The line end
/// before a delimiter belongs to the delimiter, not to the part.
pub fn split(body: &Bytes, boundary: &str, limits: &Limits) -> Result<Vec<Part>, MultipartError> {
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
        let next = find_delimiter(body, start, boundary).ok_or(MultipartError::Unterminated)?;
        if parts.len() == limits.max_parts {
            return Err(MultipartError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        let mut end = next.line_start.max(start);
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
        parts.push(Part {
            headers,
            body: body.slice(content_start..end),
        });
        if next.close {
            return Ok(parts);
        }
        delimiter = next;
    }
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
        let parts = split(&body, &boundary, &Limits::default()).expect("splits");
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
        let parts = split(&body, &boundary, &Limits::default()).expect("splits");
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
                .unwrap_or_else(|error| panic!("{name}: {error}"));
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
                "no close delimiter",
                b"--b\r\n\r\nx\r\n",
                "b",
                MultipartError::Unterminated,
            ),
            (
                "cut inside a delimiter line",
                b"--b\r\n\r\nx\r\n--b",
                "b",
                MultipartError::Unterminated,
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
            split(&Bytes::from_static(two), "b", &limits).map(|p| p.len()),
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
        let parts = split(request.body(), boundary, &Limits::default()).expect("splits");
        assert_eq!(&parts[0].body[..], b"Hello");
        assert_eq!(&parts[1].body[..], &binary[..]);
        assert_eq!(
            parts[1].headers.get("content-transfer-encoding"),
            Some(&b"binary"[..])
        );
    }
}
