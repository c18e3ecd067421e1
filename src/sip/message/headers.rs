//! The header fields of a message or a body part ([`Headers`]) and their typed accessors: the
//! names we normalise (long, compact, list or not), one value or many, and why an accessor
//! refuses a header ([`HeaderError`], naming it). Values are read on demand with `grammar`;
//! cutting the fields out of the bytes is `head`'s job.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use thiserror::Error;

use super::grammar::{
    ascii, is_token, lowercase, media_type, number, parse_cseq, parse_name_addr, parse_params,
    parse_via, CSeq, ContentDisposition, ContentType, Cursor, NameAddr, Via,
};

// The long names of the headers the accessors read, the parser counts and responses copy.
pub(super) const VIA: &str = "Via";
pub(super) const FROM: &str = "From";
pub(super) const TO: &str = "To";
pub(super) const CALL_ID: &str = "Call-ID";
pub(super) const CSEQ: &str = "CSeq";
const CONTACT: &str = "Contact";
pub(super) const RECORD_ROUTE: &str = "Record-Route";
pub(super) const CONTENT_TYPE: &str = "Content-Type";
const CONTENT_DISPOSITION: &str = "Content-Disposition";
pub(super) const CONTENT_LENGTH: &str = "Content-Length";
const REQUIRE: &str = "Require";
const SUPPORTED: &str = "Supported";
const MAX_FORWARDS: &str = "Max-Forwards";
const EXPIRES: &str = "Expires";
pub(super) const TIMESTAMP: &str = "Timestamp";

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

/// A header name we normalise: its long form, compact form (§7.3.3 and the IANA SIP header
/// registry) and whether its value is a comma-separated list (§7.3.1) that we split.
pub(super) struct Known {
    pub(super) name: &'static str,
    compact: Option<u8>,
    pub(super) list: bool,
}

pub(super) const fn known(name: &'static str, compact: Option<u8>, list: bool) -> Known {
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

pub(super) fn lookup(name: &[u8]) -> Option<&'static Known> {
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
pub(super) fn canonical(name: &str) -> &str {
    lookup(name.as_bytes()).map_or(name, |k| k.name)
}

/// The header fields of a message or a body part, in order; one entry per value of a split
/// list. Names compare case-insensitively, compact forms as their long form.
#[derive(Clone, Default)]
pub struct Headers {
    pub(super) buf: Bytes,
    /// Folded values, unfolded (the only copies).
    pub(super) unfolded: Vec<u8>,
    pub(super) fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) name: Name,
    pub(super) value: Span,
}

#[derive(Debug, Clone)]
pub(super) enum Name {
    Known(&'static str),
    /// A token, as sent.
    Raw(Range<usize>),
}

#[derive(Debug, Clone)]
pub(super) enum Span {
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
    pub(super) fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HeaderError> {
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

    /// CSeq (§20.16): sequence number and method. See [`Request::cseq`](super::Request::cseq) for a request's.
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

pub(super) fn malformed(name: &'static str) -> impl Fn(&'static str) -> HeaderError {
    move |reason| HeaderError::Malformed { name, reason }
}

/// 1*DIGIT with any white space (and, raw from a stream, folding) around it.
pub(super) fn parse_content_length(value: &[u8]) -> Result<usize, HeaderError> {
    let digits = value.trim_ascii();
    number(digits)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(malformed(CONTENT_LENGTH)("not a non-negative number"))
}
