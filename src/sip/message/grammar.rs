//! The header value grammar (RFC 3261 §25.1) and the typed values it yields: tokens and URIs,
//! methods, parameters, CSeq, Via, name-addr (From, To, Contact, Record-Route), media types
//! and dispositions. Reads one header value, already cut, unfolded and trimmed by `head`; a
//! value that breaks the grammar is a `&'static str` reason, which `headers` wraps with the
//! header's name. The bottom of `sip::message`: it imports none of its siblings, and must
//! never copy what it can borrow or panic on any input.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

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

/// A position in one (unfolded, trimmed) header value.
pub(super) struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a [u8]) -> Self {
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

    pub(super) fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
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
pub(super) fn parse_params<'a>(cursor: &mut Cursor<'a>) -> Result<Vec<Param<'a>>, &'static str> {
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

pub(super) fn parse_cseq(value: &[u8]) -> Result<CSeq, &'static str> {
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
pub(super) fn parse_via(value: &[u8]) -> Result<Via<'_>, &'static str> {
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
pub(super) fn parse_name_addr(value: &[u8]) -> Result<NameAddr<'_>, &'static str> {
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
pub(super) fn media_type<'a>(cursor: &mut Cursor<'a>) -> Result<Cow<'a, str>, &'static str> {
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
pub(super) fn lowercase(token: &[u8]) -> Cow<'_, str> {
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
pub(super) fn is_uri(uri: &[u8]) -> bool {
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
pub(super) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// An unquoted parameter value: token, host (`:` `[` `]`) and the other visible characters
/// senders leave unquoted, but not the separators `; , " < >`.
fn is_param_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

pub(super) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(super) fn trim_range(text: &[u8], range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + slice.iter().take_while(|&&b| is_wsp(b)).count();
    let end = range.end - slice.iter().rev().take_while(|&&b| is_wsp(b)).count();
    start..end.max(start)
}

/// 1*DIGIT as a number; `None` if empty, not digits, or beyond u64.
pub(super) fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Bytes already checked to be ASCII (tokens, URIs, numbers).
pub(super) fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("checked to be ASCII when parsed")
}
