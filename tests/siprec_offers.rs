//! Every recording client's offer shape, read whole the way `callrec serve` reads it: the SIP
//! message through the user agent (framing, headers, Require, Contact, multipart body), then
//! the SDP and the RFC 7865 metadata, then the session's plan of which stream is recorded in
//! which leg. One fixture per shape (fixtures/siprec/ and fixtures/sip/; their READMEs say
//! where each shape comes from); each test asserts on what a recording would say: the
//! participants, each leg's stream, label, payload types and sender, the streams left out,
//! and the notes for the sidecar.

use bytes::Bytes;
use callrec::recorder::Leg;
use callrec::session::{self, StreamPlan};
use callrec::sip::framing::{Frame, Framer};
use callrec::sip::message::Limits;
use callrec::sip::metadata::Metadata;
use callrec::sip::sdp::SessionDescription;
use callrec::sip::transaction::Timers;
use callrec::sip::uas::{Event, Offer, Uas, UasConfig};
use callrec::sip::{Peer, Transport};
use callrec::time::Time;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// One leg: media index, label, payload types callrec decodes, sender's AOR.
type LegShape = (Leg, usize, Option<String>, Vec<u8>, Option<String>);

/// What a recording of the offer would say about its parties and legs.
#[derive(Debug, PartialEq)]
struct Shape {
    /// Each participant's first AOR and first name.
    participants: Vec<(String, Option<String>)>,
    /// The AOR the recording is filed under (no policy configured: the first candidate).
    recorded: Option<String>,
    /// Leg A then leg B: media index, label, payload types callrec decodes, sender's AOR.
    legs: Vec<LegShape>,
    /// Media sections refused in the answer.
    refused: Vec<usize>,
    /// Notes for the sidecar's warnings.
    notes: Vec<String>,
}

/// A leg as `Shape` lists it.
fn leg(
    leg: Leg,
    index: usize,
    label: Option<&str>,
    payload_types: &[u8],
    sender: Option<&str>,
) -> LegShape {
    (
        leg,
        index,
        label.map(str::to_owned),
        payload_types.to_vec(),
        sender.map(str::to_owned),
    )
}

fn participants(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(aor, name)| (aor.to_string(), name.map(str::to_owned)))
        .collect()
}

fn uas() -> Uas {
    Uas::new(UasConfig {
        limits: Limits::default(),
        timers: Timers::default(),
        max_sessions: 4,
        contact: "sip:callrec@192.0.2.50:5060".into(),
        tls_contact: None,
        server: "callrec/test".into(),
        max_invite_wait: None,
    })
}

/// The offer a whole INVITE becomes, read off a TCP stream as the server frames it.
fn offer_of(invite: &[u8]) -> Offer {
    let mut framer = Framer::new(&Limits::default());
    framer.push(invite);
    let Some(Ok(Frame::Message(message))) = framer.next() else {
        panic!("one whole message");
    };
    assert_eq!(framer.buffered(), 0, "the framer takes the message whole");
    let mut uas = uas();
    let peer = Peer {
        addr: "192.0.2.10:5060".parse().unwrap(),
        transport: Transport::Tcp(1),
    };
    uas.receive(Time::from_nanos(1_700_000_000_000_000_000), peer, message);
    match uas.poll_event() {
        Some(Event::Offer(offer)) => offer,
        other => {
            let answer = uas.poll_transmit().map(|t| t.bytes);
            panic!("no offer: {other:?}; answered {answer:?}")
        }
    }
}

/// The session's reading of an offer, as `callrec serve` makes it with no policy configured.
fn shape(sdp: &[u8], metadata: Option<&[u8]>, from: &str, to: &str, notes: Vec<String>) -> Shape {
    let (description, metadata): (SessionDescription, Option<Metadata>) =
        session::read_offer(sdp, metadata).unwrap_or_else(|e| panic!("{e:?}"));
    let candidates = session::candidate_aors(metadata.as_ref(), from, to);
    let (recorded, policy) =
        session::choose_policy(&candidates, false, |_| unreachable!()).expect("recorded");
    assert!(policy.is_none());
    let plans = session::plan_streams(&description, metadata.as_ref(), recorded.as_deref())
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(plans.len(), description.media.len());
    let mut legs: Vec<_> = plans
        .iter()
        .flatten()
        .filter_map(|p: &StreamPlan| {
            let sender = p.sender.as_ref().and_then(|(_, aor)| aor.clone());
            p.leg
                .map(|l| (l, p.index, p.label.clone(), p.payload_types.clone(), sender))
        })
        .collect();
    legs.sort_by_key(|l| l.0 != Leg::A);
    let refused = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| i)
        .collect();
    Shape {
        participants: metadata
            .iter()
            .flat_map(|m| &m.participants)
            .map(|p| {
                (
                    p.aors.first().cloned().unwrap_or_default(),
                    p.names.first().cloned(),
                )
            })
            .collect(),
        recorded,
        legs,
        refused,
        notes,
    }
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `fixtures/siprec/NAME.sdp` (and `NAME.xml` when there is one) offer's shape.
fn pair(name: &str) -> Shape {
    let sdp = read(&format!("siprec/{name}.sdp"));
    let xml = std::fs::read(format!("{FIXTURES}/siprec/{name}.xml")).ok();
    shape(
        &sdp,
        xml.as_deref(),
        "sip:src@192.0.2.10",
        "sip:srs@192.0.2.50",
        Vec::new(),
    )
}

/// A `fixtures/sip/NAME.sip` INVITE's shape, and its offer's parts as bytes.
fn whole(name: &str) -> (Shape, Offer) {
    let offer = offer_of(&read(&format!("sip/{name}.sip")));
    let sdp = offer.sdp.clone().expect("an SDP offer");
    let shape = shape(
        &sdp,
        offer.metadata.as_deref(),
        &offer.from,
        &offer.to,
        offer.notes.clone(),
    );
    (shape, offer)
}

/// The note a body without its close delimiter leaves in the sidecar.
fn unclosed(mime: &str, bytes: usize) -> Vec<String> {
    vec![format!(
        "the multipart body has no close delimiter: its last part ({mime}, {bytes} bytes) was \
         taken as complete where Content-Length ends the body"
    )]
}

const FROM: &str = "sip:src@192.0.2.10";

#[test]
fn each_sdp_and_metadata_pair_reads_to_its_parties_and_legs() {
    use Leg::{A, B};
    let cases: Vec<(&str, Shape)> = vec![
        (
            // Draft shape: `send` inside `participant`; G.729 is offered but not decoded.
            "acme-avaya",
            Shape {
                participants: participants(&[
                    ("sip:31600000001@203.0.113.62", Some("31600000001")),
                    ("sip:33100000002@pbx.example.com", Some("33100000002")),
                ]),
                recorded: Some("sip:31600000001@203.0.113.62".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("201835599"),
                        &[8, 101],
                        Some("sip:31600000001@203.0.113.62"),
                    ),
                    leg(
                        B,
                        1,
                        Some("201835600"),
                        &[8, 101],
                        Some("sip:33100000002@pbx.example.com"),
                    ),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "asbce",
            Shape {
                participants: participants(&[
                    ("sip:5550100010@203.0.113.45", None),
                    ("sip:ASBCE@sbce.example.com", None),
                ]),
                recorded: Some("sip:5550100010@203.0.113.45".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("10"),
                        &[8, 97],
                        Some("sip:5550100010@203.0.113.45"),
                    ),
                    leg(
                        B,
                        1,
                        Some("20"),
                        &[8, 97],
                        Some("sip:ASBCE@sbce.example.com"),
                    ),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Legacy namespace, `id=`, AORs without a scheme, undeclared `ac:` prefixes.
            "audiocodes",
            Shape {
                participants: participants(&[
                    ("sip:5550101000@192.0.2.65", None),
                    ("sip:5550102000@192.0.2.65", None),
                ]),
                recorded: Some("sip:5550101000@192.0.2.65".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[8, 96], Some("sip:5550101000@192.0.2.65")),
                    leg(B, 1, Some("2"), &[8, 96], Some("sip:5550102000@192.0.2.65")),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // One mixed stream, no metadata: the request's From names the call.
            "broadworks",
            Shape {
                participants: vec![],
                recorded: Some(FROM.into()),
                legs: vec![leg(A, 0, Some("1"), &[8, 101, 0, 9], None)],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "cisco-cube",
            Shape {
                participants: participants(&[
                    ("sip:7301@203.0.113.4", None),
                    ("sip:7300@203.0.113.4", Some("7300")),
                ]),
                recorded: Some("sip:7301@203.0.113.4".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[0, 101], Some("sip:7301@203.0.113.4")),
                    leg(B, 1, Some("2"), &[0, 101], Some("sip:7300@203.0.113.4")),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Empty stream associations: nobody is known to send.
            "cisco-inactive",
            Shape {
                participants: participants(&[
                    ("sip:0700000001@203.0.113.34", None),
                    ("sip:+15550100002@203.0.113.140", None),
                ]),
                recorded: Some("sip:0700000001@203.0.113.34".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[0, 101, 19], None),
                    leg(B, 1, Some("2"), &[0, 101, 19], None),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // GSM (3) offered, not decoded; no stream associations.
            "connectel",
            Shape {
                participants: participants(&[
                    (
                        "sip:0700000003@203.0.113.239",
                        Some("test_user;lang=en-US;id=22"),
                    ),
                    ("sip:0700000004@sip.example.net", None),
                ]),
                recorded: Some("sip:0700000003@203.0.113.239".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[0, 8, 101], None),
                    leg(B, 1, Some("2"), &[8, 0, 101], None),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Labels 0 and 1, media-level c= only, a=rtcp with a port, an unknown attribute.
            "giga",
            Shape {
                participants: vec![],
                recorded: Some(FROM.into()),
                legs: vec![
                    leg(A, 0, Some("0"), &[8, 108], None),
                    leg(B, 1, Some("1"), &[8, 108], None),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "intrado",
            Shape {
                participants: participants(&[("sip:5550107108@203.0.113.136:5060", None)]),
                recorded: Some("sip:5550107108@203.0.113.136:5060".into()),
                legs: vec![leg(
                    A,
                    0,
                    Some("1"),
                    &[0, 8, 101],
                    Some("sip:5550107108@203.0.113.136:5060"),
                )],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "ipv6",
            Shape {
                participants: vec![],
                recorded: Some(FROM.into()),
                legs: vec![
                    leg(A, 0, Some("caller"), &[9, 0, 101], None),
                    leg(B, 1, Some("callee"), &[9, 0, 101], None),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // One mixed stream without a direction; G.721 (2) offered, not decoded.
            "metaswitch",
            Shape {
                participants: vec![],
                recorded: Some(FROM.into()),
                legs: vec![leg(A, 0, Some("1"), &[0, 101], None)],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Labels a_leg/b_leg; the second party's AOR has no scheme.
            "procomm",
            Shape {
                participants: participants(&[
                    ("sip:5550100200@198.51.100.116", Some("5550100200")),
                    (
                        "sip:Extension-5550100619@pbx.example.ie",
                        Some("Example-Main-Line 5550100619"),
                    ),
                ]),
                recorded: Some("sip:5550100200@198.51.100.116".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("a_leg"),
                        &[8],
                        Some("sip:5550100200@198.51.100.116"),
                    ),
                    leg(
                        B,
                        1,
                        Some("b_leg"),
                        &[8],
                        Some("sip:Extension-5550100619@pbx.example.ie"),
                    ),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Audio and video for each party: the audio streams are the legs.
            "rfc7866",
            Shape {
                participants: participants(&[
                    ("sip:alice@atlanta.example.com", Some("Alice")),
                    ("sip:bob@biloxi.example.com", Some("Bob")),
                ]),
                recorded: Some("sip:alice@atlanta.example.com".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("96"),
                        &[0],
                        Some("sip:alice@atlanta.example.com"),
                    ),
                    leg(B, 2, Some("98"), &[0], Some("sip:bob@biloxi.example.com")),
                ],
                refused: vec![1, 3],
                notes: vec![],
            },
        ),
        (
            // The recorded party (first in the metadata) sends label 2: its stream is leg A.
            "sonus",
            Shape {
                participants: participants(&[
                    ("sip:5550108500@203.0.113.55", Some("Extension 8500")),
                    ("sip:5550108012@203.0.113.72", None),
                ]),
                recorded: Some("sip:5550108500@203.0.113.55".into()),
                legs: vec![
                    leg(A, 1, Some("2"), &[0], Some("sip:5550108500@203.0.113.55")),
                    leg(B, 0, Some("1"), &[0], Some("sip:5550108012@203.0.113.72")),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "video",
            Shape {
                participants: vec![],
                recorded: Some(FROM.into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[0, 8, 101], None),
                    leg(B, 1, Some("2"), &[0, 8, 101], None),
                ],
                refused: vec![2],
                notes: vec![],
            },
        ),
    ];
    let listed: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(format!("{FIXTURES}/siprec"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".sdp").map(str::to_owned)
        })
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk, "every fixture has its case");
    for (name, expected) in cases {
        assert_eq!(pair(name), expected, "{name}");
    }
}

#[test]
fn each_whole_invite_becomes_an_offer_with_its_parties_legs_and_notes() {
    use Leg::{A, B};
    let cube = |notes| Shape {
        participants: participants(&[
            ("sip:7001@192.0.2.20", None),
            ("sip:+441632960123@192.0.2.30", None),
        ]),
        recorded: Some("sip:7001@192.0.2.20".into()),
        legs: vec![
            leg(A, 0, Some("1"), &[0, 101], Some("sip:7001@192.0.2.20")),
            leg(
                B,
                1,
                Some("2"),
                &[0, 101],
                Some("sip:+441632960123@192.0.2.30"),
            ),
        ],
        refused: vec![],
        notes,
    };
    let cases: Vec<(&str, Shape)> = vec![
        ("invite-siprec-cube", cube(vec![])),
        (
            // As captured from the field: the body ends after the metadata.
            "invite-siprec-cube-unclosed",
            cube(unclosed("application/rs-metadata+xml", 1565)),
        ),
        (
            // Over TCP; From and To are the recorded call's own parties.
            "invite-siprec-broadworks",
            Shape {
                participants: participants(&[
                    ("sip:+12025550143@as.example.net", Some("Alice Smith")),
                    ("sip:+12025550178@as.example.net", None),
                ]),
                recorded: Some("sip:+12025550143@as.example.net".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[8, 0, 101], None),
                    leg(B, 1, Some("2"), &[8, 0, 101], None),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            "invite-siprec-sonus",
            Shape {
                participants: participants(&[
                    ("sip:5550108500@203.0.113.55", Some("Extension 8500")),
                    ("sip:5550108012@203.0.113.72", None),
                ]),
                recorded: Some("sip:5550108500@203.0.113.55".into()),
                legs: vec![
                    leg(A, 1, Some("2"), &[0], Some("sip:5550108500@203.0.113.55")),
                    leg(B, 0, Some("1"), &[0], Some("sip:5550108012@203.0.113.72")),
                ],
                refused: vec![],
                notes: unclosed("application/rs-metadata+xml", 2811),
            },
        ),
        (
            "invite-siprec-procomm",
            Shape {
                participants: participants(&[
                    ("sip:5550100200@198.51.100.116", Some("5550100200")),
                    (
                        "sip:Extension-5550100619@pbx.example.ie",
                        Some("Example-Main-Line 5550100619"),
                    ),
                ]),
                recorded: Some("sip:5550100200@198.51.100.116".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("a_leg"),
                        &[8],
                        Some("sip:5550100200@198.51.100.116"),
                    ),
                    leg(
                        B,
                        1,
                        Some("b_leg"),
                        &[8],
                        Some("sip:Extension-5550100619@pbx.example.ie"),
                    ),
                ],
                refused: vec![],
                notes: unclosed("application/rs-metadata", 1393),
            },
        ),
        (
            // Contact with the drafts' `;src`, the legacy metadata type.
            "invite-siprec-audiocodes",
            Shape {
                participants: participants(&[
                    ("sip:5550101000@192.0.2.65", None),
                    ("sip:5550102000@192.0.2.65", None),
                ]),
                recorded: Some("sip:5550101000@192.0.2.65".into()),
                legs: vec![
                    leg(A, 0, Some("1"), &[8, 96], Some("sip:5550101000@192.0.2.65")),
                    leg(B, 1, Some("2"), &[8, 96], Some("sip:5550102000@192.0.2.65")),
                ],
                refused: vec![],
                notes: vec![],
            },
        ),
        (
            // Folded headers, `application/SDP`, audio and video for each party.
            "invite-siprec-rfc7866",
            Shape {
                participants: participants(&[
                    ("sip:alice@atlanta.example.com", Some("Alice")),
                    ("sip:bob@biloxi.example.com", Some("Bob")),
                ]),
                recorded: Some("sip:alice@atlanta.example.com".into()),
                legs: vec![
                    leg(
                        A,
                        0,
                        Some("96"),
                        &[0],
                        Some("sip:alice@atlanta.example.com"),
                    ),
                    leg(B, 2, Some("98"), &[0], Some("sip:bob@biloxi.example.com")),
                ],
                refused: vec![1, 3],
                notes: vec![],
            },
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(whole(name).0, expected, "{name}");
    }
}

#[test]
fn an_unclosed_body_carries_the_same_offer_as_the_closed_one() {
    let (_, closed) = whole("invite-siprec-cube");
    let (_, unclosed) = whole("invite-siprec-cube-unclosed");
    assert!(closed.notes.is_empty());
    assert_eq!(unclosed.notes.len(), 1);
    assert_eq!(closed.sdp, unclosed.sdp);
    assert_eq!(closed.metadata, unclosed.metadata);
    // The SDP and metadata pairs are the whole INVITEs' parts, byte for byte (modulo the line
    // end before each delimiter, which is the delimiter's).
    for (invite, name) in [
        ("invite-siprec-sonus", "sonus"),
        ("invite-siprec-procomm", "procomm"),
        ("invite-siprec-audiocodes", "audiocodes"),
        ("invite-siprec-rfc7866", "rfc7866"),
    ] {
        let (_, offer) = whole(invite);
        let trim = |b: &[u8]| {
            let text = String::from_utf8(b.to_vec()).unwrap().replace("\r\n", "\n");
            text.trim_end().to_string()
        };
        assert_eq!(
            trim(offer.sdp.as_deref().unwrap()),
            trim(&read(&format!("siprec/{name}.sdp"))),
            "{invite}"
        );
        assert_eq!(
            trim(offer.metadata.as_deref().unwrap()),
            trim(&read(&format!("siprec/{name}.xml"))),
            "{invite}"
        );
    }
}

/// `fixtures/sip/invite-siprec-cube-unclosed.sip` with its body cut `cut` bytes short.
fn cube_cut_short(cut: usize) -> Vec<u8> {
    let text = String::from_utf8(read("sip/invite-siprec-cube-unclosed.sip")).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let body = &body[..body.len() - cut];
    let head = head
        .lines()
        .map(|l| match l.starts_with("Content-Length:") {
            true => format!("Content-Length: {}", body.len()),
            false => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\n\r\n{body}").into_bytes()
}

#[test]
fn a_body_cut_short_is_refused_with_what_is_wrong() {
    let refusal = |invite: &[u8]| {
        let mut uas = uas();
        let peer = Peer {
            addr: "192.0.2.10:5060".parse().unwrap(),
            transport: Transport::Udp,
        };
        uas.receive(Time::from_nanos(1), peer, Bytes::from(invite.to_vec()));
        assert!(uas.poll_event().is_none(), "no offer");
        let answer = uas.poll_transmit().expect("an answer").bytes;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.lines().next().unwrap().to_string()
    };
    let text = String::from_utf8(cube_cut_short(0)).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let metadata_start = body.rfind("--uniqueBoundary\r\n").unwrap() + "--uniqueBoundary\r\n".len();
    let cases = [
        (
            body.len() - metadata_start - 10,
            "inside the last part's headers (no empty line after them)",
        ),
        (body.len() - metadata_start + 5, "inside a delimiter line"),
    ];
    for (cut, why) in cases {
        assert_eq!(
            refusal(&cube_cut_short(cut)),
            format!("SIP/2.0 400 Bad multipart body: no close delimiter, and the body ends {why}"),
        );
    }
    // Cut in the metadata's XML: the multipart layer cannot know, the metadata parser does.
    let offer = offer_of(&cube_cut_short(100));
    let error = session::read_offer(offer.sdp.as_deref().unwrap(), offer.metadata.as_deref())
        .expect_err("the XML is cut");
    assert_eq!(error.status, 400);
    assert!(
        error.reason.starts_with("Bad recording metadata"),
        "{error:?}"
    );
}
