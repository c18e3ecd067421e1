//! Tests for `sip::message`: real SRC messages, RFC 4475 torture messages (each with what RFC
//! 4475 expects and what we do), every limit, and responses that reparse.

use super::*;
use bytes::Bytes;

const CUBE_INVITE: &[u8] = include_bytes!("../../../fixtures/sip/invite-siprec-cube.sip");
const BROADWORKS_INVITE: &[u8] =
    include_bytes!("../../../fixtures/sip/invite-siprec-broadworks.sip");
const CUBE_OPTIONS: &[u8] = include_bytes!("../../../fixtures/sip/options-cube.sip");
const CUBE_BYE: &[u8] = include_bytes!("../../../fixtures/sip/bye-cube.sip");

/// A message written with `\n` line ends, sent with CRLF (RFC 4475 counts its bodies so).
fn sip(text: &str) -> Bytes {
    Bytes::from(text.replace('\n', "\r\n"))
}

fn request(buf: Bytes) -> Request {
    match Message::parse(buf, &Limits::default()) {
        Ok(Message::Request(request)) => request,
        other => panic!("not a request: {other:?}"),
    }
}

fn response(buf: Bytes) -> Response {
    match Message::parse(buf, &Limits::default()) {
        Ok(Message::Response(response)) => response,
        other => panic!("not a response: {other:?}"),
    }
}

fn bad(name: &'static str, reason: &'static str) -> HeaderError {
    HeaderError::Malformed { name, reason }
}

fn param<'a>(name: &'a str, value: Option<&'a str>) -> Param<'a> {
    Param { name, value }
}

fn values<'a>(headers: &'a Headers, name: &'a str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .map(|value| std::str::from_utf8(value).expect("UTF-8"))
        .collect()
}

/// Whether `inner` lies inside `outer`'s memory: a slice, not a copy.
fn is_slice_of(inner: &[u8], outer: &[u8]) -> bool {
    let range = outer.as_ptr_range();
    range.contains(&inner.as_ptr()) && inner.len() <= outer.len()
}

// ---- messages SRCs send ----------------------------------------------------------------

#[test]
fn siprec_invite_from_a_cube() {
    let buf = Bytes::from_static(CUBE_INVITE);
    let invite = request(buf.clone());
    let headers = invite.headers();
    assert_eq!(invite.method(), &Method::Invite);
    assert_eq!(invite.uri(), "sip:srs@192.0.2.50:5060");
    assert_eq!(
        headers.call_id(),
        Ok("9F2D4E00-8A1B11F0-80A4C1D2-3E5F6A7B@192.0.2.10")
    );
    assert_eq!(
        invite.cseq(),
        Ok(CSeq {
            seq: 101,
            method: Method::Invite
        })
    );
    assert_eq!(
        headers.vias(),
        Ok(vec![Via {
            transport: "UDP",
            host: "192.0.2.10",
            port: Some(5060),
            branch: Some("z9hG4bK2C1A3B7F"),
            received: None,
            rport: None,
        }])
    );
    assert_eq!(
        headers.from(),
        Ok(NameAddr {
            display_name: None,
            uri: "sip:192.0.2.10",
            params: vec![param("tag", Some("7E8B2C30-1A4"))],
        })
    );
    assert_eq!(
        headers.to(),
        Ok(NameAddr {
            display_name: None,
            uri: "sip:srs@192.0.2.50",
            params: vec![],
        })
    );
    let contacts = headers.contacts().expect("Contact");
    assert_eq!(
        contacts,
        [NameAddr {
            display_name: None,
            uri: "sip:192.0.2.10:5060",
            params: vec![param("+sip.src", None)],
        }]
    );
    assert!(contacts[0].has_param("+SIP.SRC"));
    assert_eq!(contacts[0].param("+sip.src"), None);
    assert_eq!(headers.require(), Ok(vec!["siprec"]));
    assert_eq!(
        headers.supported(),
        Ok(vec![
            "100rel",
            "timer",
            "resource-priority",
            "replaces",
            "sdp-anat"
        ])
    );
    assert_eq!(
        values(headers, "allow"),
        [
            "INVITE",
            "OPTIONS",
            "BYE",
            "CANCEL",
            "ACK",
            "PRACK",
            "UPDATE",
            "REFER",
            "SUBSCRIBE",
            "NOTIFY",
            "INFO",
            "REGISTER"
        ]
    );
    // Single-valued headers with commas stay whole.
    assert_eq!(values(headers, "Date"), ["Tue, 24 Nov 2026 10:15:02 GMT"]);
    assert_eq!(
        values(headers, "x-cisco-recording-participant"),
        ["sip:7001@192.0.2.20;media-index=\"0 1\""]
    );
    assert_eq!(values(headers, "Session-Expires"), ["1800"]);
    assert_eq!(headers.max_forwards(), Ok(Some(70)));
    assert_eq!(headers.expires(), Ok(Some(180)));
    let content_type = headers.content_type().expect("valid").expect("present");
    assert_eq!(content_type.mime, "multipart/mixed");
    assert_eq!(content_type.param("BOUNDARY"), Some("uniqueBoundary"));
    assert_eq!(headers.content_disposition(), Ok(None));
    assert_eq!(headers.content_length(), Ok(Some(2214)));
    // 22 header lines; Supported holds 5 values and Allow 12.
    assert_eq!(headers.len(), 22 + 4 + 11);
    // Body and header values are slices of the datagram.
    let body = invite.body();
    assert_eq!(body.len(), 2214);
    assert_eq!(body.as_ptr(), buf[buf.len() - 2214..].as_ptr());
    assert!(body.starts_with(b"--uniqueBoundary\r\nContent-Type: application/sdp\r\n"));
    assert!(body.ends_with(b"</recording>\r\n--uniqueBoundary--\r\n"));
    assert!(is_slice_of(headers.get("Call-ID").expect("Call-ID"), &buf));
    assert!(invite.answerable());
}

#[test]
fn siprec_invite_from_broadworks() {
    let invite = request(Bytes::from_static(BROADWORKS_INVITE));
    let headers = invite.headers();
    assert_eq!(invite.uri(), "sip:recorder@srs.example.com;transport=tcp");
    assert_eq!(
        headers.top_via(),
        Ok(Via {
            transport: "TCP",
            host: "198.51.100.7",
            port: Some(5060),
            branch: Some(
                "z9hG4bKBroadWorks.-1h4kl1f-198.51.100.7V5060-0-894176411-1598763271-1764000041123-"
            ),
            received: None,
            rport: None,
        })
    );
    // A quoted display name touching its <URI>, URI parameters inside the brackets.
    let from = headers.from().expect("From");
    assert_eq!(from.display_name.as_deref(), Some("Alice Smith"));
    assert_eq!(from.uri, "sip:+12025550143@as.example.net;user=phone");
    assert_eq!(from.tag(), Some("1598763271-1764000041123-"));
    assert_eq!(
        invite.cseq(),
        Ok(CSeq {
            seq: 894176411,
            method: Method::Invite
        })
    );
    assert_eq!(
        headers.contacts().expect("Contact")[0].uri,
        "sip:198.51.100.7:5060;transport=tcp"
    );
    assert!(headers.contacts().expect("Contact")[0].has_param("+sip.src"));
    assert_eq!(headers.supported(), Ok(vec!["100rel", "replaces", "timer"]));
    assert_eq!(
        values(headers, "Accept"),
        [
            "application/media_control+xml",
            "application/sdp",
            "multipart/mixed"
        ]
    );
    // A quoted boundary loses its quotes.
    let content_type = headers.content_type().expect("valid").expect("present");
    assert_eq!(
        content_type.param("boundary"),
        Some("UniqueBroadWorksBoundary")
    );
    assert_eq!(invite.body().len(), 1615);
    assert!(invite.body().starts_with(b"This is a multi-part message"));
}

#[test]
fn options_and_bye_from_a_cube() {
    let options = request(Bytes::from_static(CUBE_OPTIONS));
    assert_eq!(options.method(), &Method::Options);
    assert_eq!(
        options.cseq(),
        Ok(CSeq {
            seq: 101,
            method: Method::Options
        })
    );
    assert_eq!(options.headers().content_length(), Ok(Some(0)));
    assert!(options.body().is_empty());
    assert_eq!(values(options.headers(), "Timestamp"), ["1795515270"]);

    let bye = request(Bytes::from_static(CUBE_BYE));
    assert_eq!(bye.method(), &Method::Bye);
    assert_eq!(bye.headers().to().expect("To").tag(), Some("srs-4f2a9c"));
    assert_eq!(
        bye.headers().from().expect("From").tag(),
        Some("7E8B2C30-1A4")
    );
    assert_eq!(
        bye.headers().call_id(),
        Ok("9F2D4E00-8A1B11F0-80A4C1D2-3E5F6A7B@192.0.2.10")
    );
    // Reason is a list header (RFC 3326); this one has one value.
    assert_eq!(values(bye.headers(), "Reason"), ["Q.850;cause=16"]);
    assert!(bye.body().is_empty());
}

#[test]
fn compact_bye_over_tcp() {
    let bye = request(sip("BYE sip:srs@192.0.2.50:5060;transport=tcp SIP/2.0
v: SIP/2.0/TCP 198.51.100.7:5060;rport;branch=z9hG4bKBroadWorks.-2ab-
f: <sip:as.example.net>;tag=1598763271-1764000041123-
t: <sip:recorder@srs.example.com>;tag=srs-77
i: BW102041123241126-1107553947@198.51.100.7
CSeq: 894176412 BYE
k: 100rel
l: 0

"));
    let headers = bye.headers();
    assert_eq!(
        headers.top_via(),
        Ok(Via {
            transport: "TCP",
            host: "198.51.100.7",
            port: Some(5060),
            branch: Some("z9hG4bKBroadWorks.-2ab-"),
            received: None,
            rport: Some(None),
        })
    );
    assert_eq!(
        headers.from().expect("f").tag(),
        Some("1598763271-1764000041123-")
    );
    assert_eq!(headers.to().expect("t").tag(), Some("srs-77"));
    assert_eq!(
        headers.call_id(),
        Ok("BW102041123241126-1107553947@198.51.100.7")
    );
    assert_eq!(headers.supported(), Ok(vec!["100rel"]));
    assert_eq!(headers.content_length(), Ok(Some(0)));
    let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Supported",
            "Content-Length"
        ]
    );
}

#[test]
fn every_compact_form_reads_as_its_long_name() {
    // RFC 3261 §7.3.3 and the IANA registry: RFC 3841 (a d j), 3892 (b), 4474 (n), 6665 (o u),
    // 3515 (r), 4028 (x), 8224 (y).
    let forms = [
        ("a", "Accept-Contact"),
        ("b", "Referred-By"),
        ("c", "Content-Type"),
        ("d", "Request-Disposition"),
        ("e", "Content-Encoding"),
        ("f", "From"),
        ("i", "Call-ID"),
        ("j", "Reject-Contact"),
        ("k", "Supported"),
        ("l", "Content-Length"),
        ("m", "Contact"),
        ("n", "Identity-Info"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("s", "Subject"),
        ("t", "To"),
        ("u", "Allow-Events"),
        ("v", "Via"),
        ("x", "Session-Expires"),
        ("y", "Identity"),
    ];
    let mut text = String::new();
    for (i, (compact, _)) in forms.iter().enumerate() {
        let compact = match i % 2 {
            0 => compact.to_ascii_uppercase(),
            _ => compact.to_string(),
        };
        text += &format!("{compact}: value-{i}\r\n");
    }
    text += "\r\n";
    let buf = Bytes::from(text);
    let (headers, body_start) =
        parse_fields(&buf, 0, buf.len(), false, &Limits::default()).expect("parses");
    assert_eq!(body_start, buf.len());
    let names: Vec<&str> = headers.iter().map(|(name, _)| name).collect();
    let long: Vec<&str> = forms.iter().map(|(_, long)| *long).collect();
    assert_eq!(names, long);
    for (i, (compact, long)) in forms.iter().enumerate() {
        let value = format!("value-{i}");
        assert_eq!(headers.get(compact), Some(value.as_bytes()), "{compact}");
        assert_eq!(
            headers.get(&long.to_uppercase()),
            Some(value.as_bytes()),
            "{long}"
        );
    }
}

#[test]
fn lists_split_outside_quotes_and_brackets_only() {
    let invite = request(sip(r#"INVITE sip:srs@192.0.2.50 SIP/2.0
Via: SIP/2.0/UDP [2001:db8::1]:5070;received=2001:db8::1;rport=5071;branch=z9hG4bKa, SIP/2.0/TLS proxy.example.com;branch=z9hG4bKb
Contact: "Smith, Bob" <sip:bob@a.example;x=1,2>;q=0.5, <sip:bob@b.example>
WWW-Authenticate: Digest realm="a, b", nonce="c"
X-Unknown: one, two
Call-ID: lists@192.0.2.1
CSeq: 1 INVITE
From: <sip:a@example.com>;tag=1
To: <sip:b@example.com>
Content-Length: 0

"#));
    let headers = invite.headers();
    let vias = headers.vias().expect("Via");
    assert_eq!(
        vias[0],
        Via {
            transport: "UDP",
            host: "[2001:db8::1]",
            port: Some(5070),
            branch: Some("z9hG4bKa"),
            received: Some("2001:db8::1"),
            rport: Some(Some(5071)),
        }
    );
    assert_eq!(
        (vias[1].transport, vias[1].host, vias[1].port),
        ("TLS", "proxy.example.com", None)
    );
    let contacts = headers.contacts().expect("Contact");
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].display_name.as_deref(), Some("Smith, Bob"));
    assert_eq!(contacts[0].uri, "sip:bob@a.example;x=1,2");
    assert_eq!(contacts[0].param("q"), Some("0.5"));
    assert_eq!(contacts[1].uri, "sip:bob@b.example");
    assert_eq!(
        values(headers, "www-authenticate"),
        [r#"Digest realm="a, b", nonce="c""#]
    );
    assert_eq!(values(headers, "X-Unknown"), ["one, two"]);
}

#[test]
fn line_ends_may_be_bare_lf_and_may_precede_the_start_line() {
    let crlf = request(Bytes::from_static(CUBE_OPTIONS));
    let lf = Bytes::from(String::from_utf8_lossy(CUBE_OPTIONS).replace("\r\n", "\n"));
    let mut leading = b"\r\n\r\n".to_vec();
    leading.extend_from_slice(CUBE_OPTIONS);
    for buf in [lf, Bytes::from(leading)] {
        let again = request(buf);
        assert_eq!(again.uri(), crlf.uri());
        let pairs: Vec<_> = again.headers().iter().collect();
        assert_eq!(pairs, crlf.headers().iter().collect::<Vec<_>>());
    }
}

#[test]
fn methods_are_case_sensitive_tokens() {
    let cases: [(&[u8], Option<Method>); 8] = [
        (b"INVITE", Some(Method::Invite)),
        (b"PRACK", Some(Method::Prack)),
        (b"REFER", Some(Method::Refer)),
        (b"MESSAGE", Some(Method::Message)),
        (b"invite", Some(Method::Other("invite".into()))),
        (b"RE%47IST%45R", Some(Method::Other("RE%47IST%45R".into()))),
        (b"IN VITE", None),
        (b"", None),
    ];
    for (token, method) in cases {
        assert_eq!(Method::from_token(token), method, "{token:?}");
    }
    assert_eq!(Method::Other("NEWMETHOD".into()).to_string(), "NEWMETHOD");
    assert_eq!(Method::Update.as_str(), "UPDATE");
}

// ---- RFC 4475 valid messages (§3.1.1) ---------------------------------------------------

const WSINV: &str = r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"#;

/// §3.1.1.1: folding everywhere, white space around every separator, escapes in quotes, an
/// empty Subject, unknown headers, mixed-case and compact names, leading zeros.
#[test]
fn rfc4475_wsinv_short_tortuous_invite() {
    let invite = request(sip(WSINV));
    let headers = invite.headers();
    assert_eq!(
        invite.uri(),
        "sip:vivekg@chair-dnrc.example.com;unknownparam"
    );
    assert_eq!(
        headers.to(),
        Ok(NameAddr {
            display_name: None,
            uri: "sip:vivekg@chair-dnrc.example.com",
            params: vec![param("tag", Some("1918181833n"))],
        })
    );
    assert_eq!(
        headers.from(),
        Ok(NameAddr {
            display_name: Some(r#"J Rosenberg \""#.into()),
            uri: "sip:jdrosen@example.com",
            params: vec![param("tag", Some("98asjd8"))],
        })
    );
    assert_eq!(headers.max_forwards(), Ok(Some(68)));
    assert_eq!(headers.call_id(), Ok("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(headers.content_length(), Ok(Some(150)));
    assert_eq!(
        invite.cseq(),
        Ok(CSeq {
            seq: 9,
            method: Method::Invite
        })
    );
    let vias: Vec<_> = headers
        .vias()
        .expect("Via")
        .into_iter()
        .map(|via| (via.transport, via.host, via.port, via.branch))
        .collect();
    assert_eq!(
        vias,
        [
            ("UDP", "192.0.2.2", None, Some("390skdjuw")),
            ("TCP", "spindle.example.com", None, Some("z9hG4bK9ikj8")),
            ("UDP", "192.168.255.111", None, Some("z9hG4bK30239")),
        ]
    );
    assert_eq!(values(headers, "Subject"), [""]);
    assert_eq!(
        values(headers, "newfangledheader"),
        ["newfangled value continued newfangled value"]
    );
    assert_eq!(
        values(headers, "UnknownHeaderWithUnusualValue"),
        [";;,,;;,;"]
    );
    assert_eq!(
        values(headers, "Route"),
        ["<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"]
    );
    assert_eq!(
        headers.contacts(),
        Ok(vec![NameAddr {
            display_name: Some(r#"Quoted string """#.into()),
            uri: "sip:jdrosen@example.com",
            params: vec![
                param("newparam", Some("newvalue")),
                param("secondparam", None),
                param("q", Some("0.33")),
            ],
        }])
    );
    assert_eq!(invite.body().len(), 150);
    assert!(invite.body().starts_with(b"v=0\r\n"));
}

const INTMETH: &str = "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\u{feff}大停電
Content-Length: 0

";

/// §3.1.1.2: every token character in method, branch, tag, parameter and header names; quoted
/// control characters; UTF-8 values.
#[test]
fn rfc4475_intmeth_wide_range_of_valid_characters() {
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    let request = request(sip(INTMETH));
    let headers = request.headers();
    assert_eq!(request.method(), &Method::Other(method.into()));
    assert_eq!(
        request.uri(),
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    );
    assert_eq!(
        headers.top_via().expect("Via").branch,
        Some("z9hG4bK-.!%66*_+`'~")
    );
    let to = headers.to().expect("To");
    assert_eq!(
        to.display_name.as_deref(),
        Some("BEL:\x07 NUL:\x00 DEL:\x7F")
    );
    assert_eq!(
        to.uri,
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com"
    );
    assert_eq!(
        headers.from(),
        Ok(NameAddr {
            display_name: Some("token1~` token2'+_ token3*%!.-".into()),
            uri: "sip:mundane@example.com",
            params: vec![
                param("fromParam''~+*_!.-%", Some("работающий")),
                param("tag", Some("_token~1'+`*%!-.")),
            ],
        })
    );
    assert_eq!(
        headers.call_id(),
        Ok(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#)
    );
    assert_eq!(
        request.cseq(),
        Ok(CSeq {
            seq: 139122385,
            method: Method::Other(method.into())
        })
    );
    assert_eq!(headers.max_forwards(), Ok(Some(255)));
    assert_eq!(
        headers.get("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電".as_bytes())
    );
}

#[test]
fn rfc4475_escapes_are_not_interpreted() {
    // §3.1.1.3 esc01: escapes stay as sent in URIs; "C:" is Content-Type.
    let esc01 = request(sip(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    ));
    assert_eq!(esc01.uri(), "sip:sips%3Auser%40example.com@example.net");
    assert_eq!(
        esc01.headers().to().expect("To").uri,
        "sip:%75se%72@example.com"
    );
    assert_eq!(
        esc01.headers().from().expect("From").uri,
        "sip:I%20have%20spaces@example.net"
    );
    assert_eq!(
        esc01.headers().contacts(),
        Ok(vec![NameAddr {
            display_name: None,
            uri: "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
            params: vec![],
        }])
    );
    let content_type = esc01.headers().content_type().expect("valid").expect("c");
    assert_eq!(content_type.mime, "application/sdp");

    // §3.1.1.4 escnull: %00 in URIs, two Contacts, "L:0".
    let escnull = request(sip("REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"));
    let contacts = escnull.headers().contacts().expect("Contact");
    let uris: Vec<&str> = contacts.iter().map(|contact| contact.uri).collect();
    assert_eq!(
        uris,
        ["sip:%00@host5.example.com", "sip:%00%00@host5.example.com"]
    );
    assert_eq!(escnull.headers().content_length(), Ok(Some(0)));

    // §3.1.1.5 esc02: an unknown method, "C%6Fntact" is not Contact.
    let esc02 = request(sip(r#"RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"#));
    assert_eq!(esc02.method(), &Method::Other("RE%47IST%45R".into()));
    assert_eq!(
        esc02.headers().to().expect("To").display_name.as_deref(),
        Some("%Z%45")
    );
    let contacts = esc02.headers().contacts().expect("Contact");
    let uris: Vec<&str> = contacts.iter().map(|contact| contact.uri).collect();
    assert_eq!(
        uris,
        [
            "sip:alias1@host1.example.com",
            "sip:alias3@host3.example.com"
        ]
    );
    assert_eq!(
        values(esc02.headers(), "C%6Fntact"),
        ["<sip:alias2@host2.example.com>"]
    );
    assert_eq!(
        esc02.headers().top_via().expect("Via").branch,
        Some("z9hG4bK209%fzsnel234")
    );
}

#[test]
fn rfc4475_lwsdisp_display_name_touching_its_uri() {
    // §3.1.1.6
    let options = request(sip("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"));
    assert_eq!(
        options.headers().from(),
        Ok(NameAddr {
            display_name: Some("caller".into()),
            uri: "sip:caller@example.com",
            params: vec![param("tag", Some("323"))],
        })
    );
}

/// §3.1.1.7 longreq: long values and 34 Vias under 18 spellings of the name.
#[test]
fn rfc4475_longreq_many_long_values() {
    let long = |unit: &str, count| unit.repeat(count);
    let to_display = format!("I have a user name of {} proportion", long("extreme", 10));
    let to_uri = format!(
        "sip:user@example.com:6000;unknownparam1=very{}value;longparam{}name=shortvalue;very{}ParameterNameWithNoValue",
        long("long", 20),
        long("name", 25),
        long("long", 25)
    );
    let caller = long("amazinglylongcallername", 5);
    let tag = format!("{}424", long("1298", 40));
    let valueless = format!("unknownValueless{}", long("paramname", 10));
    let branch = format!("very{}branchvalue", long("long", 50));
    let mut text = format!(
        "INVITE sip:user@example.com SIP/2.0\nTo: \"{to_display}\"<{to_uri}>\nF: sip:{caller}@example.net;tag={tag};unknownheaderparam{}name=unknowheaderparam{}value;{valueless}\nCall-ID: longreq.one{}longcallid\nCSeq: 3882340 INVITE\nUnknown-{}-Name: unknown-{}-value; unknown-{}-parameter-name = unknown-{}-parameter-value\n",
        long("name", 20),
        long("value", 15),
        long("really", 20),
        long("Long", 20),
        long("long", 20),
        long("long", 20),
        long("long", 20),
    );
    let spellings = [
        "Via: ", "v: ", "V: ", "Via: ", "ViA: ", "VIa: ", "VIA: ", "via: ", "viA: ", "vIa: ",
        "vIA: ", "V :  ", "v :  ", "V  : ", "v  : ", "Via : ", "Via  : ",
    ];
    for n in (1..=33).rev() {
        let name = spellings.get(33 - n).unwrap_or(&"Via: ");
        text += &format!("{name}SIP/2.0/TCP sip{n}.example.com\n");
    }
    text += &format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch={branch}\nMax-Forwards: 70\nContact: <sip:{caller}@host5.example.net>\nContent-Type: application/sdp\nl: 150\n\nv=0\no=mhandley 29739 7272939 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
    );
    let invite = request(sip(&text));
    let headers = invite.headers();
    let to = headers.to().expect("To");
    assert_eq!(to.display_name.as_deref(), Some(to_display.as_str()));
    assert_eq!(to.uri, to_uri);
    assert!(to.params.is_empty());
    let from = headers.from().expect("F");
    assert_eq!(from.uri, format!("sip:{caller}@example.net"));
    assert_eq!(from.tag(), Some(tag.as_str()));
    assert_eq!(from.params.len(), 3);
    assert!(from.has_param(&valueless));
    let vias = headers.vias().expect("Via");
    assert_eq!(vias.len(), 34);
    for (i, via) in vias[..33].iter().enumerate() {
        assert_eq!(via.host, format!("sip{}.example.com", 33 - i));
    }
    assert_eq!(vias[33].received, Some("192.0.2.5"));
    assert_eq!(vias[33].branch, Some(branch.as_str()));
    let unknown = format!("Unknown-{}-Name", long("Long", 20));
    assert_eq!(headers.get_all(&unknown).count(), 1);
    assert_eq!(invite.body().len(), 150);
}

#[test]
fn rfc4475_dblreq_bytes_after_the_body_are_ignored() {
    // §3.1.1.8: over UDP, what follows Content-Length bytes is noise (RFC 3261 §18.3).
    let register = request(sip("REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Content-Length: 0

"));
    assert_eq!(register.method(), &Method::Register);
    assert_eq!(
        register.headers().call_id(),
        Ok("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
    assert!(register.body().is_empty());
}

#[test]
fn rfc4475_semiuri_transports_and_contact_parameters() {
    // §3.1.1.9 semiuri: ";" in the user part; a folded Accept list.
    let options = request(sip(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

",
    ));
    assert_eq!(options.uri(), "sip:user;par=u%40example.net@example.com");
    assert_eq!(
        values(options.headers(), "Accept"),
        [
            "application/sdp",
            "application/pkcs7-mime",
            "multipart/mixed",
            "multipart/signed",
            "message/sip",
            "message/sipfrag"
        ]
    );

    // §3.1.1.10 transports: every transport, known or not.
    let options = request(sip("OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"));
    let vias = options.headers().vias().expect("Via");
    let transports: Vec<&str> = vias.iter().map(|via| via.transport).collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(
        options.headers().call_id(),
        Ok("transports.kijh4akdnaqjkwendsasfdj")
    );

    // §3.3.7 cparam01 and §3.3.8 cparam02: without <> a parameter is the Contact's, with <>
    // it is the URI's.
    for (contact, uri, params) in [
        (
            "sip:+19725552222@gw1.example.net;unknownparam",
            "sip:+19725552222@gw1.example.net",
            vec![param("unknownparam", None)],
        ),
        (
            "<sip:+19725552222@gw1.example.net;unknownparam>",
            "sip:+19725552222@gw1.example.net;unknownparam",
            vec![],
        ),
    ] {
        let register = request(sip(&format!(
            "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: {contact}
l: 0

"
        )));
        let contacts = register.headers().contacts().expect("Contact");
        assert_eq!(
            contacts,
            [NameAddr {
                display_name: None,
                uri,
                params
            }]
        );
    }
}

#[test]
fn rfc4475_responses_with_odd_reason_phrases() {
    // §3.1.1.12 unreason
    let ok = response(sip(
        "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    ));
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.reason(),
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
    assert_eq!(ok.headers().to().expect("To").tag(), Some("2229"));
    assert_eq!(ok.body().len(), 154);

    // §3.1.1.13 noreason, and without the space a liberal receiver accepts.
    for status_line in ["SIP/2.0 100 ", "SIP/2.0 100"] {
        let trying = response(sip(&format!(
            "{status_line}
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"
        )));
        assert_eq!((trying.status(), trying.reason()), (100, "".into()));
        assert_eq!(
            trying.headers().cseq(),
            Ok(CSeq {
                seq: 35,
                method: Method::Invite
            })
        );
    }
}

// ---- RFC 4475 invalid messages (§3.1.2) and application-layer cases (§3.2-§3.4) ---------

const CLERR: &str = "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
s=-
c=IN IP4 192.0.2.155
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

/// A plain OPTIONS, changed by each case below.
const OPTIONS: &str = "OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: options.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Max-Forwards: 60

";

/// `OPTIONS` with `lines` added before Max-Forwards.
fn options_with(lines: &str) -> Bytes {
    options_changed("Max-Forwards: 60", &format!("{lines}\nMax-Forwards: 60"))
}

/// `OPTIONS` with `from` replaced by `to`.
fn options_changed(from: &str, to: &str) -> Bytes {
    assert!(OPTIONS.contains(from), "{from}");
    sip(&OPTIONS.replace(from, to))
}

fn offset_of(buf: &[u8], needle: &[u8]) -> usize {
    buf.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// Messages `Message::parse` rejects: the error, its status, and whether the request can be
/// answered from its head (`None`: no head to answer from).
#[test]
fn rfc4475_messages_rejected_at_parse() {
    let no_colon = options_with("Not a header");
    let stray_cr = options_with("X-Odd: a\rb");
    let folded_first = sip("OPTIONS sip:a@b SIP/2.0\n Via: SIP/2.0/UDP a\n\n");
    let cases = [
        // §3.1.2.2 clerr: Content-Length beyond the datagram.
        (
            "clerr",
            sip(CLERR),
            ParseError::BodyTruncated {
                expected: 9999,
                available: 154,
            },
            400,
            Some(true),
        ),
        // §3.1.2.3 ncl: negative, and (the RFC's other example) not a number.
        (
            "ncl",
            options_with("Content-Length: -999"),
            ParseError::Header(bad("Content-Length", "not a non-negative number")),
            400,
            Some(true),
        ),
        (
            "ncl five",
            options_with("Content-Length: five"),
            ParseError::Header(bad("Content-Length", "not a non-negative number")),
            400,
            Some(true),
        ),
        // §3.3.9 mcl01: two Content-Lengths.
        (
            "mcl01",
            options_with("Content-Length: 13\nContent-Length: 5"),
            ParseError::Header(HeaderError::Repeated {
                name: "Content-Length",
            }),
            400,
            Some(true),
        ),
        // §3.1.2.7 ltgtruri: the Request-URI in <>.
        (
            "ltgtruri",
            options_changed(
                "OPTIONS sip:user@example.com ",
                "INVITE <sip:user@example.com> ",
            ),
            ParseError::RequestUri,
            400,
            Some(true),
        ),
        // §3.1.2.8 lwsruri: a space inside the Request-URI; no request line to answer.
        (
            "lwsruri",
            options_changed("sip:user@example.com SIP", "sip:user@example.com; lr SIP"),
            ParseError::StartLine,
            400,
            None,
        ),
        // §3.1.2.16 badvers: SIP/7.0, answered 505.
        (
            "badvers",
            options_changed("SIP/2.0\n", "SIP/7.0\n"),
            ParseError::Version {
                version: "SIP/7.0".into(),
            },
            505,
            Some(true),
        ),
        // §3.1.2.19 bigcode: a status code beyond 699; a response is never answered.
        (
            "bigcode",
            sip("SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Content-Length: 0

"),
            ParseError::StatusCode,
            400,
            None,
        ),
        (
            "not SIP",
            sip("hello\n\n"),
            ParseError::StartLine,
            400,
            None,
        ),
        (
            "only line ends",
            sip("\n\n\n"),
            ParseError::Empty,
            400,
            None,
        ),
        (
            "no empty line",
            Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n"),
            ParseError::Unterminated,
            400,
            None,
        ),
        (
            "header line without colon",
            no_colon.clone(),
            ParseError::HeaderLine {
                offset: offset_of(&no_colon, b"Not a header"),
            },
            400,
            None,
        ),
        (
            "CR inside a header",
            stray_cr.clone(),
            ParseError::HeaderLine {
                offset: offset_of(&stray_cr, b"X-Odd"),
            },
            400,
            None,
        ),
        (
            "continuation line first",
            folded_first,
            ParseError::HeaderLine { offset: 25 },
            400,
            None,
        ),
    ];
    for (name, buf, error, status, answerable) in cases {
        let got = Message::parse(buf.clone(), &Limits::default());
        assert_eq!(got.as_ref().err(), Some(&error), "{name}: {got:?}");
        assert_eq!(error.status(), status, "{name}");
        let head = Request::parse_head(buf, &Limits::default());
        assert_eq!(head.map(|head| head.answerable()), answerable, "{name}");
    }
}

/// Messages that parse, whose faults show when a header is read (RFC 4475 answers each 400,
/// `HeaderError::status`).
#[test]
fn rfc4475_faults_found_by_the_accessors() {
    // §3.1.2.1 badinv01: empty Via and Contact parameters. RFC 4475 asks for a 400, but the
    // top Via does not parse: there is nowhere to send one.
    let badinv01 = request(options_changed(
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
        "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\nContact: \"Joe\" <sip:joe@example.org>;;;;",
    ));
    assert_eq!(
        values(badinv01.headers(), "Via"),
        ["SIP/2.0/UDP 192.0.2.15;;", ";", "", ""]
    );
    assert_eq!(
        badinv01.headers().vias().unwrap_err(),
        bad("Via", "empty parameter")
    );
    assert_eq!(
        badinv01.headers().contacts().unwrap_err(),
        bad("Contact", "empty parameter")
    );
    assert!(!badinv01.answerable());

    // §3.1.2.4 scalar02: values out of range; answerable, the CSeq copied as sent.
    let scalar02 = request(sip(&OPTIONS
        .replace("CSeq: 15932", "CSeq: 36893488147419103232")
        .replace(
            "Max-Forwards: 60",
            "Max-Forwards: 300\nExpires: 10000000000000000000000000",
        )));
    let headers = scalar02.headers();
    assert_eq!(
        headers.cseq().unwrap_err(),
        bad("CSeq", "sequence number above 2^32-1")
    );
    assert_eq!(
        headers.max_forwards().unwrap_err(),
        bad("Max-Forwards", "not a number in 0..=255")
    );
    assert_eq!(
        headers.expires().unwrap_err(),
        bad("Expires", "not a number in 0..=2^32-1")
    );
    assert!(scalar02.answerable());
    let answer = response(Response::for_request(&scalar02, 400).encode());
    assert_eq!(
        values(answer.headers(), "CSeq"),
        ["36893488147419103232 OPTIONS"]
    );

    // §3.1.2.5 scalarlg: the same in a response.
    let scalarlg = response(sip("SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
CSeq: 9292394834772304023312 OPTIONS
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

"));
    assert!(scalarlg.headers().cseq().is_err());
    assert_eq!(
        values(scalarlg.headers(), "Warning"),
        ["1812 overture \"In Progress\""]
    );

    // §3.1.2.6 quotbal: an unterminated quote in To; answerable.
    let quotbal = request(options_changed(
        "To: sip:user@example.com",
        "To: \"Mr. J. User <sip:j.user@example.com>",
    ));
    assert_eq!(
        quotbal.headers().to().unwrap_err(),
        bad("To", "unterminated quoted string")
    );
    assert!(quotbal.answerable());

    // §3.1.2.13 regbadct: a URI with ? outside <>; §3.3.14 regescrt: inside <> it is fine.
    let regbadct = request(options_with(
        "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    ));
    assert_eq!(
        regbadct.headers().contacts().unwrap_err(),
        bad("Contact", "URI with ? or , outside <>")
    );
    let regescrt = request(options_with(
        "M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
    ));
    assert_eq!(
        regescrt.headers().contacts().expect("M")[0].uri,
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    );

    // §3.1.2.14 badaspec: spaces inside <>; §3.1.2.15 baddn: unquoted non-token display name.
    let badaspec = request(options_changed(
        "To: sip:user@example.com",
        "To: \"Watson, Thomas\" < sip:t.watson@example.org >",
    ));
    assert_eq!(
        badaspec.headers().to().unwrap_err(),
        bad("To", "malformed URI")
    );
    let baddn = request(options_changed(
        "To: sip:user@example.com",
        "To:      Watson, Thomas <sip:t.watson@example.org>",
    ));
    assert_eq!(
        baddn.headers().to().unwrap_err(),
        bad("To", "display name neither quoted nor tokens")
    );

    // §3.1.2.17 mismatch01 and §3.1.2.18 mismatch02: CSeq names another method.
    let mismatch01 = request(options_changed("CSeq: 15932 OPTIONS", "CSeq: 8 INVITE"));
    assert_eq!(
        mismatch01.cseq().unwrap_err(),
        bad("CSeq", "method differs from the request's")
    );
    assert_eq!(
        mismatch01.headers().cseq(),
        Ok(CSeq {
            seq: 8,
            method: Method::Invite
        })
    );
    let mismatch02 = request(options_changed("OPTIONS sip:", "NEWMETHOD sip:"));
    assert_eq!(mismatch02.method(), &Method::Other("NEWMETHOD".into()));
    assert_eq!(
        mismatch02.cseq().unwrap_err(),
        bad("CSeq", "method differs from the request's")
    );

    // §3.3.1 insuf: no Call-ID, From or To: nothing to build a response from.
    let insuf = request(sip("INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
l: 0

"));
    assert_eq!(
        insuf.headers().call_id().unwrap_err(),
        HeaderError::Missing { name: "Call-ID" }
    );
    assert_eq!(insuf.headers().from().unwrap_err().name(), "From");
    assert!(!insuf.answerable());

    // §3.3.8 multi01: single-valued headers twice: not answerable (which Call-ID?).
    let multi01 = request(options_with(
        "Call-ID: multi01.98asdh@192.0.2.2\nCSeq: 59 OPTIONS\nTo: sip:other@example.net",
    ));
    assert_eq!(
        multi01.headers().call_id().unwrap_err(),
        HeaderError::Repeated { name: "Call-ID" }
    );
    assert_eq!(
        multi01.headers().cseq().unwrap_err(),
        HeaderError::Repeated { name: "CSeq" }
    );
    assert_eq!(multi01.headers().to().unwrap_err().status(), 400);
    assert!(!multi01.answerable());
}

/// Cases RFC 4475 lets an element accept; we do.
#[test]
fn rfc4475_liberal_acceptances() {
    // §3.1.2.9 lwsstart and §3.1.2.10 trws: extra spaces in the request line.
    for (from, to) in [
        (
            "OPTIONS sip:user@example.com SIP/2.0",
            "OPTIONS  sip:user@example.com  SIP/2.0",
        ),
        ("SIP/2.0\n", "SIP/2.0  \n"),
    ] {
        let options = request(options_changed(from, to));
        assert_eq!(options.uri(), "sip:user@example.com");
    }
    // §3.1.2.11 escruri: escaped headers in the Request-URI are the application's to refuse.
    let escruri = request(options_changed(
        "OPTIONS sip:user@example.com ",
        "OPTIONS sip:user@example.com?Route=%3Csip:example.com%3E ",
    ));
    assert_eq!(
        escruri.uri(),
        "sip:user@example.com?Route=%3Csip:example.com%3E"
    );
    // §3.1.2.12 baddate: Date is not read here.
    let baddate = request(options_with("Date: Fri, 01 Jan 2010 16:00:00 EST"));
    assert_eq!(
        values(baddate.headers(), "Date"),
        ["Fri, 01 Jan 2010 16:00:00 EST"]
    );
    // §3.2.1 badbranch: a bare magic cookie is still a branch.
    let badbranch = request(options_changed("branch=z9hG4bK293423", "branch=z9hG4bK"));
    assert_eq!(
        badbranch.headers().top_via().expect("Via").branch,
        Some("z9hG4bK")
    );
    // §3.3.2 unkscm, §3.3.3 novelsc, §3.3.4 unksm2: schemes other than sip.
    for uri in [
        "nobodyKnowsThisScheme:totallyopaquecontent",
        "soap.beep://192.0.2.103:3002",
    ] {
        let options = request(options_changed(
            "OPTIONS sip:user@example.com ",
            &format!("OPTIONS {uri} "),
        ));
        assert_eq!(options.uri(), uri);
    }
    let unksm2 = request(options_changed(
        "To: sip:user@example.com\nFrom: sip:other@example.net;tag=3923942",
        "To: isbn:2983792873\nFrom: <http://www.example.com>;tag=3234233\nContact: <name:John_Smith>",
    ));
    let headers = unksm2.headers();
    assert_eq!(headers.to().expect("To").uri, "isbn:2983792873");
    assert_eq!(headers.from().expect("From").uri, "http://www.example.com");
    assert_eq!(
        headers.contacts().expect("Contact")[0].uri,
        "name:John_Smith"
    );
    // §3.3.5 bext01: unknown option tags are listed for the application to refuse (420).
    let bext01 = request(options_with(
        "Require: nothingSupportsThis, nothingSupportsThisEither\nProxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis",
    ));
    assert_eq!(
        bext01.headers().require(),
        Ok(vec!["nothingSupportsThis", "nothingSupportsThisEither"])
    );
    assert_eq!(bext01.headers().get_all("proxy-require").count(), 2);
    // §3.3.7 regaut01: an unknown Authorization scheme is one value, commas and all.
    let regaut01 = request(options_with(
        "Authorization: NoOneKnowsThisScheme opaque-data=here, more=data",
    ));
    assert_eq!(
        values(regaut01.headers(), "Authorization"),
        ["NoOneKnowsThisScheme opaque-data=here, more=data"]
    );
    // §3.3.10 bcast: a broadcast address in a Via is a host like any other.
    let bcast = request(options_with(
        "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
    ));
    assert_eq!(
        bcast.headers().vias().expect("Via")[1].host,
        "255.255.255.255"
    );
    // §3.3.11 zeromf: Max-Forwards 0 is a value, not an error.
    let zeromf = request(options_changed("Max-Forwards: 60", "Max-Forwards: 0"));
    assert_eq!(zeromf.headers().max_forwards(), Ok(Some(0)));
}

#[test]
fn rfc4475_inv2543_without_content_length_takes_the_rest_of_the_datagram() {
    // §3.4.1: an RFC 2543 INVITE: no Content-Length, no Max-Forwards, no branch.
    let body = "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\nm=audio 49217 RTP/AVP 0\n";
    let invite = request(sip(&format!(
        "INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

{body}"
    )));
    assert_eq!(invite.body(), &sip(body));
    assert_eq!(invite.headers().content_length(), Ok(None));
    assert_eq!(invite.headers().max_forwards(), Ok(None));
    assert_eq!(invite.headers().top_via().expect("Via").branch, None);
    assert!(invite.answerable());
}

// ---- limits ---------------------------------------------------------------------------------

/// Each limit: at the limit the message parses, one past it is its own error, answered 513.
#[test]
fn every_limit_is_hit_exactly() {
    let base = Limits::default();
    let headers = |count: usize| -> String { (0..count).map(|i| format!("X-{i}: v\n")).collect() };
    let invite = |extra: &str| {
        sip(&format!(
            "INVITE sip:srs@192.0.2.50 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>\nCall-ID: limits@192.0.2.10\nCSeq: 1 INVITE\n{extra}Content-Length: 0\n\n"
        ))
    };
    // max_message_bytes
    let message = invite("");
    let len = message.len();
    let at = Limits {
        max_message_bytes: len,
        ..base.clone()
    };
    assert!(Message::parse(message.clone(), &at).is_ok());
    let below = Limits {
        max_message_bytes: len - 1,
        ..base.clone()
    };
    let error = Message::parse(message.clone(), &below).unwrap_err();
    assert_eq!(
        error,
        ParseError::TooLarge {
            len,
            limit: len - 1
        }
    );
    assert_eq!(error.status(), 513);
    let head = Request::parse_head(
        Bytes::from(format!(
            "{}{}",
            String::from_utf8_lossy(&message),
            "x".repeat(70_000)
        )),
        &base,
    )
    .expect("the head of an oversize datagram is readable");
    assert!(head.answerable());

    // max_headers: the 6 fields above plus extras, counting list values.
    let limits = Limits {
        max_headers: 10,
        ..base.clone()
    };
    assert!(Message::parse(invite("Allow: A, B, C, D\n"), &limits).is_ok());
    let error = Message::parse(invite("Allow: A, B, C, D, E\n"), &limits).unwrap_err();
    assert_eq!(error, ParseError::TooManyHeaders { limit: 10 });
    assert_eq!(error.status(), 513);
    assert!(Message::parse(invite(&headers(4)), &limits).is_ok());
    assert_eq!(
        Message::parse(invite(&headers(5)), &limits).unwrap_err(),
        ParseError::TooManyHeaders { limit: 10 }
    );

    // max_header_value_bytes: the value as sent, from after the colon, folding included. The
    // longest above is Via's 40 bytes.
    let limits = Limits {
        max_header_value_bytes: 40,
        ..base.clone()
    };
    let digits = |n: usize| "7".repeat(n);
    assert!(Message::parse(invite(&format!("X-Long: {}\n", digits(39))), &limits).is_ok());
    let error = Message::parse(invite(&format!("X-Long: {}\n", digits(40))), &limits).unwrap_err();
    assert_eq!(
        error,
        ParseError::HeaderTooLong {
            name: "X-Long".into(),
            len: 41,
            limit: 40
        }
    );
    assert_eq!(error.status(), 513);
    let folded = format!("X-Long: {}\n {}\n", digits(20), digits(18));
    assert_eq!(
        Message::parse(invite(&folded), &limits).unwrap_err(),
        ParseError::HeaderTooLong {
            name: "X-Long".into(),
            len: 42,
            limit: 40
        }
    );

    // max_vias, across Via lines and comma lists.
    let limits = Limits {
        max_vias: 3,
        ..base
    };
    let via = "Via: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK2, SIP/2.0/UDP 192.0.2.12\n";
    assert!(Message::parse(invite(via), &limits).is_ok());
    let error = Message::parse(invite(&format!("{via}v: SIP/2.0/TCP x\n")), &limits).unwrap_err();
    assert_eq!(error, ParseError::TooManyVias { limit: 3 });
    assert_eq!(error.status(), 513);
}

// ---- responses ------------------------------------------------------------------------------

#[test]
fn a_200_for_the_siprec_invite_is_exactly_what_rfc_3261_copies() {
    let invite = request(Bytes::from_static(CUBE_INVITE));
    let sdp = Bytes::from_static(b"v=0\r\ns=-\r\n");
    let ok = Response::for_request(&invite, 200)
        .to_tag("srs-4f2a9c")
        .header("Contact", "<sip:srs@192.0.2.50:5060>")
        .header("Require", "siprec")
        .body("application/sdp", sdp)
        .encode();
    assert_eq!(
        std::str::from_utf8(&ok).expect("UTF-8"),
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK2C1A3B7F\r\n\
         From: <sip:192.0.2.10>;tag=7E8B2C30-1A4\r\n\
         To: <sip:srs@192.0.2.50>;tag=srs-4f2a9c\r\n\
         Call-ID: 9F2D4E00-8A1B11F0-80A4C1D2-3E5F6A7B@192.0.2.10\r\n\
         CSeq: 101 INVITE\r\n\
         Contact: <sip:srs@192.0.2.50:5060>\r\n\
         Require: siprec\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 10\r\n\
         \r\n\
         v=0\r\ns=-\r\n"
    );
}

#[test]
fn a_response_reparses_with_the_requests_identity() {
    for buf in [
        Bytes::from_static(CUBE_INVITE),
        Bytes::from_static(BROADWORKS_INVITE),
        Bytes::from_static(CUBE_BYE),
        sip(WSINV),
        sip(INTMETH),
    ] {
        let request = request(buf);
        assert!(request.answerable());
        let encoded = Response::for_request(&request, 486).to_tag("ours").encode();
        let response = response(encoded);
        let (sent, got) = (request.headers(), response.headers());
        assert_eq!(response.status(), 486);
        assert_eq!(response.reason(), "Busy Here");
        assert_eq!(got.call_id(), sent.call_id());
        assert_eq!(got.cseq(), sent.cseq());
        assert_eq!(got.vias(), sent.vias());
        assert_eq!(got.from(), sent.from());
        let (sent_to, got_to) = (sent.to().expect("To"), got.to().expect("To"));
        assert_eq!(got_to.uri, sent_to.uri);
        assert_eq!(got_to.tag(), Some(sent_to.tag().unwrap_or("ours")));
        assert_eq!(got_to.params.iter().filter(|p| p.name == "tag").count(), 1);
        assert_eq!(got.content_length(), Ok(Some(0)));
        assert!(response.body().is_empty());
    }
}

#[test]
fn a_100_copies_timestamp_and_others_do_not() {
    let invite = request(Bytes::from_static(CUBE_INVITE));
    let trying = response(Response::for_request(&invite, 100).encode());
    assert_eq!(values(trying.headers(), "Timestamp"), ["1795515302"]);
    assert_eq!(trying.headers().to().expect("To").tag(), None);
    let ringing = response(Response::for_request(&invite, 180).encode());
    assert_eq!(ringing.headers().get("Timestamp"), None);
}

#[test]
fn rejected_requests_are_answered_from_their_head() {
    let buf = sip(CLERR);
    let error = Message::parse(buf.clone(), &Limits::default()).unwrap_err();
    let head = Request::parse_head(buf, &Limits::default()).expect("head");
    assert!(head.answerable());
    assert!(head.body().is_empty());
    let answer = response(
        Response::for_request(&head, error.status())
            .to_tag("t1")
            .encode(),
    );
    assert_eq!(
        (answer.status(), answer.reason()),
        (400, "Bad Request".into())
    );
    assert_eq!(
        answer.headers().call_id(),
        Ok("clerr.0ha0isndaksdjweiafasdk3")
    );
    assert_eq!(answer.headers().to().expect("To").tag(), Some("t1"));
    // A To that does not parse is copied as sent, without our tag.
    let quotbal = request(options_changed(
        "To: sip:user@example.com",
        "To: \"Mr. J. User <sip:j.user@example.com>",
    ));
    let answer = response(Response::for_request(&quotbal, 400).to_tag("t2").encode());
    assert_eq!(
        values(answer.headers(), "To"),
        ["\"Mr. J. User <sip:j.user@example.com>"]
    );
    // ACK is never answered.
    let ack = request(sip(&OPTIONS
        .replace("OPTIONS sip:", "ACK sip:")
        .replace("CSeq: 15932 OPTIONS", "CSeq: 15932 ACK")));
    assert!(!ack.answerable());
}

#[test]
fn builder_values_cannot_end_their_line() {
    let options = request(Bytes::from_static(CUBE_OPTIONS));
    let answer = Response::for_request(&options, 200)
        .reason("Fine\r\nX-Injected: 1")
        .header("Allow", "INVITE\r\nX-Injected: 2")
        .encode();
    let answer = response(answer);
    assert_eq!(answer.reason(), "Fine  X-Injected: 1");
    assert_eq!(values(answer.headers(), "Allow"), ["INVITE  X-Injected: 2"]);
    assert_eq!(answer.headers().get("X-Injected"), None);
}

#[test]
fn canonical_reason_phrases() {
    let cases = [
        (100, "Trying"),
        (200, "OK"),
        (400, "Bad Request"),
        (415, "Unsupported Media Type"),
        (420, "Bad Extension"),
        (481, "Call/Transaction Does Not Exist"),
        (488, "Not Acceptable Here"),
        (505, "Version Not Supported"),
        (513, "Message Too Large"),
        (299, "Success"),
        (599, "Server Error"),
        (699, "Global Failure"),
    ];
    for (status, reason) in cases {
        assert_eq!(reason_phrase(status), reason, "{status}");
    }
}

#[test]
fn a_to_tag_without_a_value_is_still_a_tag() {
    let options = request(options_changed(
        "To: sip:user@example.com",
        "To: sip:user@example.com;TAG",
    ));
    let answer = response(Response::for_request(&options, 200).to_tag("ours").encode());
    assert_eq!(values(answer.headers(), "To"), ["sip:user@example.com;TAG"]);
}
