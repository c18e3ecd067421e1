//! SIPREC recording metadata (RFC 7865): who takes part in the recorded call and which stream
//! each of them sends, read from the XML the recording client puts beside its SDP offer
//! (`application/rs-metadata+xml`, or the older `application/rs-metadata`).
//!
//! This module owns reading that XML, merging partial updates into what is known (RFC 7865
//! §6.1), and answering which participant sends a labelled stream. It reads the RFC 7865
//! namespace and the pre-RFC one that Oracle/Acme Packet and Sonus/Ribbon SBCs still send, in
//! the RFC shape (`participant_id=`, `participantstreamassoc`) and in the draft shape Acme
//! sends (`id=`, `session=`, `send`/`recv` inside `participant`). It must never resolve DTDs or
//! external entities (quick-xml resolves none; a DOCTYPE is refused outright), keep the XML
//! text, or interpret vendor extension data (callrec's own announcement element, below, is the
//! one extension it reads).

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};
use thiserror::Error;

/// The RFC 7865 namespace.
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:recording:1";
/// The namespace of the drafts before RFC 7865, still sent by Oracle/Acme Packet and
/// Sonus/Ribbon SBCs.
pub const DRAFT_NAMESPACE: &str = "urn:ietf:params:xml:ns:recording";

/// callrec's extension of `recording` (RFC 7865 §8 lets other namespaces extend it): an
/// announcement the client played to the parties, for the recording to leave out. Written
/// directly inside `recording` as
/// `<announcement xmlns="urn:x-callrec:announcement" start="RFC 3339" end="RFC 3339"/>`.
pub const ANNOUNCEMENT_NAMESPACE: &str = "urn:x-callrec:announcement";

/// The name an announcement element is kept under while reading: a local name never holds a
/// colon, so no element of the recording namespace can take it.
const ANNOUNCEMENT: &str = "callrec:announcement";

/// Bounds on one metadata document, and on what merged updates may grow to. Each one exceeded
/// is its own [`MetadataError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest document accepted, in bytes. Default 64 KiB; a two-party call with vendor
    /// extension data is about 3 KiB.
    pub max_bytes: usize,
    /// Deepest element nesting, extension data included. Default 32.
    pub max_depth: usize,
    /// Most participants, and most participants with stream associations. Default 64.
    /// Participant-session associations may number this times `max_sessions`.
    pub max_participants: usize,
    /// Most streams, and most streams one participant sends or receives. Default 64.
    pub max_streams: usize,
    /// Most sessions, and most groups. Default 16.
    pub max_sessions: usize,
    /// Most announcements. Default 64.
    pub max_announcements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024,
            max_depth: 32,
            max_participants: 64,
            max_streams: 64,
            max_sessions: 16,
            max_announcements: 64,
        }
    }
}

/// Why a text is not metadata we can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetadataError {
    /// Longer than [`Limits::max_bytes`].
    #[error("metadata of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// Elements nested deeper than [`Limits::max_depth`].
    #[error("elements nested deeper than {max}")]
    TooDeep { max: usize },
    /// More participants (or participants' stream associations) than
    /// [`Limits::max_participants`].
    #[error("more than {max} participants")]
    TooManyParticipants { max: usize },
    /// More streams, or more streams for one participant, than [`Limits::max_streams`].
    #[error("more than {max} streams")]
    TooManyStreams { max: usize },
    /// More sessions or more groups than [`Limits::max_sessions`].
    #[error("more than {max} sessions or groups")]
    TooManySessions { max: usize },
    /// More announcements than [`Limits::max_announcements`].
    #[error("more than {max} announcements")]
    TooManyAnnouncements { max: usize },
    /// An announcement without its `start` or `end`.
    #[error("<announcement> needs both start and end")]
    IncompleteAnnouncement,
    /// A DOCTYPE: metadata never needs a DTD, and DTD entities are the way in for entity
    /// expansion and external-entity attacks.
    #[error("a DOCTYPE is not accepted in recording metadata")]
    Doctype,
    /// An entity reference other than the five predefined ones or a character reference.
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    /// Not well-formed XML (quick-xml's message).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// No root element.
    #[error("no root element")]
    Empty,
    /// A second element after the root.
    #[error("more than one root element")]
    SecondRoot,
    /// The root element is not `recording`.
    #[error("root element is <{found}>, not <recording>")]
    NotRecording { found: String },
    /// The root element is in neither [`NAMESPACE`] nor [`DRAFT_NAMESPACE`].
    #[error(
        "recording element in namespace {found:?}, expected {NAMESPACE:?} or {DRAFT_NAMESPACE:?}"
    )]
    WrongNamespace { found: String },
    /// `datamode` is neither `complete` nor `partial`.
    #[error("datamode {found:?} is neither complete nor partial")]
    BadDataMode { found: String },
    /// An element that the model keys by id lacks the id.
    #[error("<{element}> without its id")]
    MissingId { element: &'static str },
}

/// RFC 7865 §6.1: a complete document replaces what is known, a partial one carries only the
/// elements that changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataMode {
    /// Also what a document without `datamode` is.
    #[default]
    Complete,
    Partial,
}

/// RFC 7865 §6.2: a group of related recorded sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub group_id: String,
}

/// RFC 7865 §6.3: one recorded communication session. Times are kept as sent: platforms send
/// RFC 3339 with offsets, and Acme Packet local times without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub session_id: String,
    /// `group-ref`.
    pub group_id: Option<String>,
    /// `sipSessionID`s (RFC 7989 Session-ID values).
    pub sip_session_ids: Vec<String>,
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
}

/// RFC 7865 §6.4: a party to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub participant_id: String,
    /// Each `nameID`'s `aor`, in document order; one sent without a scheme is read as a SIP
    /// URI (see [`aor_uri`]).
    pub aors: Vec<String>,
    /// Each `nameID`'s non-empty `name`s, in document order.
    pub names: Vec<String>,
}

/// RFC 7865 §6.5: one media stream, tied to the SDP by its `label` (RFC 4574).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub stream_id: String,
    pub session_id: Option<String>,
    pub label: Option<String>,
}

/// RFC 7865 §6.10 (`participantstreamassoc`): the streams a participant sends and receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantStreams {
    pub participant_id: String,
    /// Stream ids.
    pub send: Vec<String>,
    /// Stream ids.
    pub recv: Vec<String>,
}

/// RFC 7865 §6.9 (`participantsessionassoc`): a participant in a session, and when it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantSession {
    pub participant_id: String,
    pub session_id: String,
    pub associate_time: Option<String>,
    /// Set once the participant has left the session.
    pub disassociate_time: Option<String>,
}

/// An announcement the client played to the parties ([`ANNOUNCEMENT_NAMESPACE`]), times as
/// sent; the session layer reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub start: String,
    pub end: String,
}

/// One metadata document, or what merged updates add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub datamode: DataMode,
    pub groups: Vec<Group>,
    pub sessions: Vec<Session>,
    pub participants: Vec<Participant>,
    pub streams: Vec<Stream>,
    /// At most one entry per participant.
    pub participant_streams: Vec<ParticipantStreams>,
    /// At most one entry per participant and session.
    pub participant_sessions: Vec<ParticipantSession>,
    /// Each one once, in the order reported.
    pub announcements: Vec<Announcement>,
}

impl Metadata {
    /// Reads one document. Elements in other namespaces (vendor extension data; callrec's
    /// announcements are the one extension read) and the
    /// elements this model leaves out (`sessionrecordingassoc`, `extensiondata`, …) are
    /// skipped; an element with the id of an earlier one of its kind replaces it.
    pub fn parse(xml: &str, limits: &Limits) -> Result<Self, MetadataError> {
        if xml.len() > limits.max_bytes {
            return Err(MetadataError::TooLarge {
                len: xml.len(),
                max: limits.max_bytes,
            });
        }
        let root = read_tree(xml, limits.max_depth)?;
        let mut metadata = Metadata::default();
        for element in &root.children {
            metadata.read_child(element, limits)?;
        }
        Ok(metadata)
    }

    /// Takes in `update` (RFC 7865 §6.1): a complete document replaces everything; a partial
    /// one replaces the groups, sessions, participants, streams and associations it names by
    /// id (a participant's stream association as a whole) and adds the new ones and the
    /// announcements not yet known. On an error
    /// `self` is unchanged.
    pub fn apply(&mut self, update: Metadata, limits: &Limits) -> Result<(), MetadataError> {
        if update.datamode == DataMode::Complete {
            update.check_limits(limits)?;
            *self = update;
            return Ok(());
        }
        let mut merged = self.clone();
        for group in update.groups {
            upsert(&mut merged.groups, group);
        }
        for session in update.sessions {
            upsert(&mut merged.sessions, session);
        }
        for participant in update.participants {
            upsert(&mut merged.participants, participant);
        }
        for stream in update.streams {
            upsert(&mut merged.streams, stream);
        }
        for association in update.participant_streams {
            upsert(&mut merged.participant_streams, association);
        }
        for association in update.participant_sessions {
            upsert(&mut merged.participant_sessions, association);
        }
        for announcement in update.announcements {
            if !merged.announcements.contains(&announcement) {
                merged.announcements.push(announcement);
            }
        }
        merged.check_limits(limits)?;
        *self = merged;
        Ok(())
    }

    /// The participant with this id.
    pub fn participant(&self, participant_id: &str) -> Option<&Participant> {
        self.participants
            .iter()
            .find(|p| p.participant_id == participant_id)
    }

    /// Who sends on the stream with SDP label `label`: the recorder names each channel after
    /// it. A participant still in the stream's session comes first; one that has left is
    /// answered only when nobody else sends on the stream.
    pub fn sender_of(&self, label: &str) -> Option<&Participant> {
        let mut departed = None;
        for stream in self
            .streams
            .iter()
            .filter(|s| s.label.as_deref() == Some(label))
        {
            let senders = self
                .participant_streams
                .iter()
                .filter(|a| a.send.contains(&stream.stream_id))
                .filter_map(|a| self.participant(&a.participant_id));
            for participant in senders {
                if !self.has_left(&participant.participant_id, stream.session_id.as_deref()) {
                    return Some(participant);
                }
                departed.get_or_insert(participant);
            }
        }
        departed
    }

    /// Whether the participant has a `disassociate-time` in `session_id` (any session if the
    /// stream names none).
    fn has_left(&self, participant_id: &str, session_id: Option<&str>) -> bool {
        self.participant_sessions.iter().any(|a| {
            a.participant_id == participant_id
                && a.disassociate_time.is_some()
                && session_id.is_none_or(|s| s == a.session_id)
        })
    }

    fn check_limits(&self, limits: &Limits) -> Result<(), MetadataError> {
        let participants = MetadataError::TooManyParticipants {
            max: limits.max_participants,
        };
        let streams = MetadataError::TooManyStreams {
            max: limits.max_streams,
        };
        let sessions = MetadataError::TooManySessions {
            max: limits.max_sessions,
        };
        let max_associations = limits.max_participants.saturating_mul(limits.max_sessions);
        if self.participants.len() > limits.max_participants
            || self.participant_streams.len() > limits.max_participants
            || self.participant_sessions.len() > max_associations
        {
            return Err(participants);
        }
        if self.streams.len() > limits.max_streams
            || self
                .participant_streams
                .iter()
                .any(|a| a.send.len() > limits.max_streams || a.recv.len() > limits.max_streams)
        {
            return Err(streams);
        }
        if self.sessions.len() > limits.max_sessions || self.groups.len() > limits.max_sessions {
            return Err(sessions);
        }
        if self.announcements.len() > limits.max_announcements {
            return Err(MetadataError::TooManyAnnouncements {
                max: limits.max_announcements,
            });
        }
        Ok(())
    }

    /// One child of `recording` (RFC 7865 §6), checked against `limits` as it is added so that
    /// a long document stops at the first element over them.
    fn read_child(&mut self, element: &Element, limits: &Limits) -> Result<(), MetadataError> {
        match element.name.as_str() {
            // Some platforms (Avaya SBCE, Intrado) write `dataMode`.
            name if name.eq_ignore_ascii_case("datamode") => {
                self.datamode = match element.text.trim() {
                    "complete" => DataMode::Complete,
                    "partial" => DataMode::Partial,
                    other => {
                        return Err(MetadataError::BadDataMode {
                            found: other.to_owned(),
                        })
                    }
                };
            }
            "group" => {
                let group_id = element.id("group", "group_id")?;
                upsert(&mut self.groups, Group { group_id });
            }
            "session" => {
                let session = Session {
                    session_id: element.id("session", "session_id")?,
                    group_id: element.child_text("group-ref"),
                    sip_session_ids: element.child_texts("sipSessionID"),
                    start_time: element.child_text("start-time"),
                    stop_time: element.child_text("stop-time"),
                };
                upsert(&mut self.sessions, session);
            }
            "participant" => {
                let participant_id = element.id("participant", "participant_id")?;
                let name_ids = element.children.iter().filter(|c| c.name == "nameID");
                let mut participant = Participant {
                    participant_id: participant_id.clone(),
                    aors: Vec::new(),
                    names: Vec::new(),
                };
                for name_id in name_ids {
                    participant
                        .aors
                        .extend(name_id.attribute(&["aor"]).map(aor_uri));
                    participant.names.extend(name_id.child_texts("name"));
                }
                upsert(&mut self.participants, participant);
                // The draft shape: stream and session associations inside the participant.
                let (send, recv) = (element.child_texts("send"), element.child_texts("recv"));
                if !send.is_empty() || !recv.is_empty() {
                    self.add_streams(&participant_id, send, recv, limits)?;
                }
                if let Some(session_id) = element.attribute(&["session"]) {
                    let association = ParticipantSession {
                        participant_id,
                        session_id: session_id.to_owned(),
                        associate_time: element.child_text("associate-time"),
                        disassociate_time: element.child_text("disassociate-time"),
                    };
                    upsert(&mut self.participant_sessions, association);
                }
            }
            "stream" => {
                let stream = Stream {
                    stream_id: element.id("stream", "stream_id")?,
                    session_id: element
                        .attribute(&["session_id", "session"])
                        .map(str::to_owned),
                    label: element.child_text("label"),
                };
                upsert(&mut self.streams, stream);
            }
            "participantsessionassoc" => {
                let missing = MetadataError::MissingId {
                    element: "participantsessionassoc",
                };
                let (Some(participant_id), Some(session_id)) = (
                    element.attribute(&["participant_id"]),
                    element.attribute(&["session_id"]),
                ) else {
                    return Err(missing);
                };
                let association = ParticipantSession {
                    participant_id: participant_id.to_owned(),
                    session_id: session_id.to_owned(),
                    associate_time: element.child_text("associate-time"),
                    disassociate_time: element.child_text("disassociate-time"),
                };
                upsert(&mut self.participant_sessions, association);
            }
            "participantstreamassoc" => {
                let participant_id =
                    element
                        .attribute(&["participant_id"])
                        .ok_or(MetadataError::MissingId {
                            element: "participantstreamassoc",
                        })?;
                let (send, recv) = (element.child_texts("send"), element.child_texts("recv"));
                self.add_streams(participant_id, send, recv, limits)?;
            }
            ANNOUNCEMENT => {
                let (Some(start), Some(end)) =
                    (element.attribute(&["start"]), element.attribute(&["end"]))
                else {
                    return Err(MetadataError::IncompleteAnnouncement);
                };
                let announcement = Announcement {
                    start: start.to_owned(),
                    end: end.to_owned(),
                };
                if !self.announcements.contains(&announcement) {
                    self.announcements.push(announcement);
                }
            }
            _ => {}
        }
        self.check_limits(limits)
    }

    /// Adds to the participant's stream association within one document, each stream once.
    fn add_streams(
        &mut self,
        participant_id: &str,
        send: Vec<String>,
        recv: Vec<String>,
        limits: &Limits,
    ) -> Result<(), MetadataError> {
        let index = match self
            .participant_streams
            .iter()
            .position(|a| a.participant_id == participant_id)
        {
            Some(index) => index,
            None => {
                self.participant_streams.push(ParticipantStreams {
                    participant_id: participant_id.to_owned(),
                    send: Vec::new(),
                    recv: Vec::new(),
                });
                self.participant_streams.len() - 1
            }
        };
        let association = &mut self.participant_streams[index];
        for (list, ids) in [(&mut association.send, send), (&mut association.recv, recv)] {
            for id in ids {
                if !list.contains(&id) {
                    if list.len() == limits.max_streams {
                        return Err(MetadataError::TooManyStreams {
                            max: limits.max_streams,
                        });
                    }
                    list.push(id);
                }
            }
        }
        Ok(())
    }
}

/// Model entries that partial updates replace by id.
trait Keyed {
    fn same_key(&self, other: &Self) -> bool;
}

impl Keyed for Group {
    fn same_key(&self, other: &Self) -> bool {
        self.group_id == other.group_id
    }
}

impl Keyed for Session {
    fn same_key(&self, other: &Self) -> bool {
        self.session_id == other.session_id
    }
}

impl Keyed for Participant {
    fn same_key(&self, other: &Self) -> bool {
        self.participant_id == other.participant_id
    }
}

impl Keyed for Stream {
    fn same_key(&self, other: &Self) -> bool {
        self.stream_id == other.stream_id
    }
}

impl Keyed for ParticipantStreams {
    fn same_key(&self, other: &Self) -> bool {
        self.participant_id == other.participant_id
    }
}

impl Keyed for ParticipantSession {
    fn same_key(&self, other: &Self) -> bool {
        self.participant_id == other.participant_id && self.session_id == other.session_id
    }
}

/// Replaces the entry with `item`'s id, or appends `item`.
fn upsert<T: Keyed>(list: &mut Vec<T>, item: T) {
    match list.iter_mut().find(|entry| entry.same_key(&item)) {
        Some(entry) => *entry = item,
        None => list.push(item),
    }
}

/// An element of the recording namespace: local name, unprefixed attributes, the text directly
/// inside it, and its children of the same namespace.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    /// The first non-empty attribute among `names`, in the order of `names`.
    fn attribute(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| {
            self.attributes
                .iter()
                .find(|(key, value)| key == name && !value.trim().is_empty())
                .map(|(_, value)| value.trim())
        })
    }

    /// The element's id: the RFC 7865 attribute `rfc`, or the drafts' `id`.
    fn id(&self, element: &'static str, rfc: &str) -> Result<String, MetadataError> {
        self.attribute(&[rfc, "id"])
            .map(str::to_owned)
            .ok_or(MetadataError::MissingId { element })
    }

    /// The trimmed text of the first child `name`, if not empty.
    fn child_text(&self, name: &str) -> Option<String> {
        self.child_texts(name).into_iter().next()
    }

    /// The trimmed, non-empty texts of the children `name`.
    fn child_texts(&self, name: &str) -> Vec<String> {
        self.children
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.text.trim())
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// An `aor` as a URI. RFC 7865 §6.4 makes it a URI, but Sonus/Ribbon, AudioCodes, Intrado and
/// Procomm clients send `user@host[:port]` without a scheme; such an address is read as the SIP
/// URI it is (`sip:` prepended), so the recorded party's policy and stream can be found by it.
/// Anything else is kept as sent.
pub fn aor_uri(aor: &str) -> String {
    let aor = aor.trim();
    let scheme = aor.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    match !scheme && aor.contains('@') {
        true => format!("sip:{aor}"),
        false => aor.to_owned(),
    }
}

/// Where an open element's content goes while reading.
enum Open {
    Kept(Element),
    /// Another namespace's element, or anything inside one: read past, depth still counted.
    Skipped,
}

/// Reads the document into the tree of its `recording` root.
fn read_tree(xml: &str, max_depth: usize) -> Result<Element, MetadataError> {
    let xml_error = |e: quick_xml::Error| MetadataError::Xml(e.to_string());
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut open: Vec<Open> = Vec::new();
    let mut root = None;
    loop {
        let (namespace, event) = reader.read_resolved_event().map_err(xml_error)?;
        let ours = matches!(namespace,
            ResolveResult::Bound(Namespace(ns)) if ns == NAMESPACE.as_bytes() || ns == DRAFT_NAMESPACE.as_bytes());
        let extension = matches!(namespace,
            ResolveResult::Bound(Namespace(ns)) if ns == ANNOUNCEMENT_NAMESPACE.as_bytes());
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(MetadataError::SecondRoot);
                }
                if open.len() >= max_depth {
                    return Err(MetadataError::TooDeep { max: max_depth });
                }
                let mut name =
                    String::from_utf8_lossy(start.local_name().into_inner()).into_owned();
                // callrec's announcement, directly inside the (kept) root.
                let announcement = extension
                    && name == "announcement"
                    && open.len() == 1
                    && matches!(open.last(), Some(Open::Kept(_)));
                if announcement {
                    name = ANNOUNCEMENT.to_owned();
                }
                if open.is_empty() {
                    if name != "recording" {
                        return Err(MetadataError::NotRecording { found: name });
                    }
                    if !ours {
                        let found = match namespace {
                            ResolveResult::Bound(Namespace(ns)) => {
                                String::from_utf8_lossy(ns).into_owned()
                            }
                            ResolveResult::Unbound => String::new(),
                            ResolveResult::Unknown(prefix) => {
                                format!("undeclared prefix {}", String::from_utf8_lossy(&prefix))
                            }
                        };
                        return Err(MetadataError::WrongNamespace { found });
                    }
                }
                if !(ours || announcement) || matches!(open.last(), Some(Open::Skipped)) {
                    open.push(Open::Skipped);
                    continue;
                }
                let mut attributes = Vec::new();
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| xml_error(e.into()))?;
                    if attribute.key.prefix().is_some() || attribute.key.as_ref() == b"xmlns" {
                        continue;
                    }
                    let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                    let value = attribute
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(xml_error)?;
                    attributes.push((key, value.into_owned()));
                }
                open.push(Open::Kept(Element {
                    name,
                    attributes,
                    ..Element::default()
                }));
            }
            Event::End(_) => match open.pop() {
                Some(Open::Kept(element)) => match open.last_mut() {
                    None => root = Some(element),
                    Some(Open::Kept(parent)) => parent.children.push(element),
                    // Never: an element is kept only inside a kept one.
                    Some(Open::Skipped) => {}
                },
                Some(Open::Skipped) | None => {}
            },
            Event::Text(text) => {
                if let Some(Open::Kept(element)) = open.last_mut() {
                    element
                        .text
                        .push_str(&text.xml10_content().map_err(|e| xml_error(e.into()))?);
                }
            }
            Event::CData(text) => {
                if let Some(Open::Kept(element)) = open.last_mut() {
                    element
                        .text
                        .push_str(&text.decode().map_err(|e| xml_error(e.into()))?);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(xml_error)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| xml_error(e.into()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| MetadataError::UnknownEntity(name.into_owned()))?
                            .to_owned()
                    }
                };
                if let Some(Open::Kept(element)) = open.last_mut() {
                    element.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err(MetadataError::Doctype),
            Event::Eof => break,
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !open.is_empty() {
        return Err(MetadataError::Xml("document ends inside an element".into()));
    }
    root.ok_or(MetadataError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Documents shaped after captures from each platform (published with
    // drachtio-siprec-recording-server's tests); addresses, numbers and ids replaced.
    const CISCO: &str = include_str!("../../fixtures/siprec/cisco-cube.xml");
    const CISCO_INACTIVE: &str = include_str!("../../fixtures/siprec/cisco-inactive.xml");
    const ASBCE: &str = include_str!("../../fixtures/siprec/asbce.xml");
    const ACME_AVAYA: &str = include_str!("../../fixtures/siprec/acme-avaya.xml");
    const SONUS: &str = include_str!("../../fixtures/siprec/sonus.xml");
    const INTRADO: &str = include_str!("../../fixtures/siprec/intrado.xml");
    const CONNECTEL: &str = include_str!("../../fixtures/siprec/connectel.xml");

    // The Cisco document's ids: participants A (7301) and B (7300), streams 1 and 2.
    const SESSION: &str = "aQNhKFdEEeeJ9tD/VsPGWA==";
    const A: &str = "aQNhKFdEEeeJ99D/VsPGWA==";
    const B: &str = "aQNhKFdEEeeJ+ND/VsPGWA==";
    const S1: &str = "aQOH5VdEEeeJ/ND/VsPGWA==";
    const S2: &str = "aQOH5VdEEeeJ/dD/VsPGWA==";

    fn parse(xml: &str) -> Metadata {
        Metadata::parse(xml, &Limits::default()).expect("metadata parses")
    }

    fn err(xml: &str) -> MetadataError {
        Metadata::parse(xml, &Limits::default())
            .map(|m| panic!("{xml:?} read as {m:?}"))
            .unwrap_or_else(|e| e)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn participant(id: &str, aors: &[&str], names: &[&str]) -> Participant {
        Participant {
            participant_id: id.into(),
            aors: strings(aors),
            names: strings(names),
        }
    }

    fn streams(id: &str, send: &[&str], recv: &[&str]) -> ParticipantStreams {
        ParticipantStreams {
            participant_id: id.into(),
            send: strings(send),
            recv: strings(recv),
        }
    }

    fn stream(id: &str, session: &str, label: &str) -> Stream {
        Stream {
            stream_id: id.into(),
            session_id: Some(session.into()),
            label: Some(label.into()),
        }
    }

    fn joined(participant: &str, session: &str, at: &str) -> ParticipantSession {
        ParticipantSession {
            participant_id: participant.into(),
            session_id: session.into(),
            associate_time: Some(at.into()),
            disassociate_time: None,
        }
    }

    fn sender_aor<'m>(metadata: &'m Metadata, label: &str) -> Option<&'m str> {
        Some(metadata.sender_of(label)?.aors.first()?.as_str())
    }

    /// A document in the RFC 7865 namespace around `body`.
    fn doc(body: &str) -> String {
        format!("<?xml version=\"1.0\"?>\n<recording xmlns='{NAMESPACE}'>{body}</recording>")
    }

    #[test]
    fn cisco_cube_rfc_shape() {
        let at = "2017-06-23T12:16:06.040Z";
        let expected = Metadata {
            datamode: DataMode::Complete,
            groups: vec![],
            sessions: vec![Session {
                session_id: SESSION.into(),
                group_id: None,
                sip_session_ids: strings(&[
                    "0a1b2c3d4e5f60718293a4b5c6d7e8f9;remote=f9e8d7c6b5a4938271605f4e3d2c1b0a",
                ]),
                start_time: Some(at.into()),
                stop_time: None,
            }],
            participants: vec![
                participant(A, &["sip:7301@203.0.113.4"], &[]),
                participant(B, &["sip:7300@203.0.113.4"], &["7300"]),
            ],
            streams: vec![stream(S1, SESSION, "1"), stream(S2, SESSION, "2")],
            participant_streams: vec![streams(A, &[S1], &[S2]), streams(B, &[S2], &[S1])],
            participant_sessions: vec![joined(A, SESSION, at), joined(B, SESSION, at)],
            announcements: Vec::new(),
        };
        let cisco = parse(CISCO);
        assert_eq!(cisco, expected);
        assert_eq!(sender_aor(&cisco, "1"), Some("sip:7301@203.0.113.4"));
        assert_eq!(sender_aor(&cisco, "2"), Some("sip:7300@203.0.113.4"));
        assert_eq!(cisco.sender_of("3"), None);
    }

    #[test]
    fn acme_packet_draft_namespace_and_shape() {
        let session = "1rBXFi0CTBB0j8HyGBBrlg==";
        let (caller, callee) = ("BRlTfnirTkxisET9jl8njg==", "M1OKBsjoTO11Pn5uow6ptQ==");
        let (s1, s2) = ("1CWQGFVzQf5hAGoO9gnx8g==", "pOmIeCrQRZ1zaHo/DHE5og==");
        let at = "2020-03-27T13:56:05";
        let expected = Metadata {
            datamode: DataMode::Complete,
            groups: vec![],
            sessions: vec![Session {
                session_id: session.into(),
                group_id: None,
                sip_session_ids: vec![],
                start_time: None,
                stop_time: None,
            }],
            participants: vec![
                participant(caller, &["sip:31600000001@203.0.113.62"], &["31600000001"]),
                participant(
                    callee,
                    &["sip:33100000002@pbx.example.com"],
                    &["33100000002"],
                ),
            ],
            streams: vec![
                stream(s1, session, "201835599"),
                stream(s2, session, "201835600"),
            ],
            participant_streams: vec![streams(caller, &[s1], &[]), streams(callee, &[s2], &[])],
            participant_sessions: vec![joined(caller, session, at), joined(callee, session, at)],
            announcements: Vec::new(),
        };
        let acme = parse(ACME_AVAYA);
        assert_eq!(acme, expected);
        assert_eq!(
            sender_aor(&acme, "201835599"),
            Some("sip:31600000001@203.0.113.62")
        );
        assert_eq!(
            sender_aor(&acme, "201835600"),
            Some("sip:33100000002@pbx.example.com")
        );
    }

    #[test]
    fn sonus_prefixed_draft_namespace_skips_foreign_call_data() {
        let sonus = parse(SONUS);
        assert_eq!(
            sonus.groups,
            [Group {
                group_id: "NTQ3YzA3YzAtNjdkNy0xMA==".into()
            }]
        );
        assert_eq!(
            sonus.sessions[0].group_id.as_deref(),
            Some("NTQ3YzA3YzAtNjdkNy0xMA==")
        );
        assert_eq!(
            sonus.sessions[0].start_time.as_deref(),
            Some("1970-05-13T03:29:05Z")
        );
        assert_eq!(
            sonus.participants,
            [
                participant(
                    "NTQ3YzA3YzItNjdkNy0xMA==",
                    &["sip:5550108500@203.0.113.55"],
                    &["Extension 8500"]
                ),
                // A name of one space is no name.
                participant(
                    "NTQ3YzA3YzMtNjdkNy0xMA==",
                    &["sip:5550108012@203.0.113.72"],
                    &[]
                ),
            ]
        );
        assert_eq!(sonus.streams.len(), 2);
        assert_eq!(sonus.participant_sessions.len(), 2);
        // Stream label 2 is sent by the extension, label 1 by the far end.
        assert_eq!(sender_aor(&sonus, "2"), Some("sip:5550108500@203.0.113.55"));
        assert_eq!(sender_aor(&sonus, "1"), Some("sip:5550108012@203.0.113.72"));
    }

    #[test]
    fn asbce_camel_case_datamode_and_associations_before_streams() {
        let asbce = parse(ASBCE);
        assert_eq!(asbce.datamode, DataMode::Complete);
        assert_eq!(asbce.sessions[0].session_id, "00FA0800705D4C5DCAAC42");
        assert_eq!(
            asbce.participant_streams,
            [
                streams("1a2de728ba0bc348db1e", &["f6988909e02ca808ec0a"], &[]),
                streams("bbcdef12345678901234", &["361ddd3615629f108092"], &[]),
            ]
        );
        assert_eq!(
            sender_aor(&asbce, "10"),
            Some("sip:5550100010@203.0.113.45")
        );
        assert_eq!(sender_aor(&asbce, "20"), Some("sip:ASBCE@sbce.example.com"));
    }

    #[test]
    fn intrado_mixed_stream_sent_and_received_by_one_participant() {
        let intrado = parse(INTRADO);
        let id = "YTllOTVhZTgtZjY4MS00YTBjLWIxOGUtYTQx";
        let s = "ZDY2YTc1YTMtYTAzZi00ZDQwLTkzNmYtYTFn";
        assert_eq!(intrado.participant_streams, [streams(id, &[s], &[s])]);
        // An empty name is no name; channel and role are not modelled.
        assert_eq!(
            intrado.participants,
            [participant(id, &["sip:5550107108@203.0.113.136:5060"], &[])]
        );
        assert_eq!(
            intrado.sender_of("1").map(|p| p.participant_id.as_str()),
            Some(id)
        );
    }

    #[test]
    fn documents_without_senders() {
        // Connectel sends no associations, Cisco's inactive call empty ones.
        let connectel = parse(CONNECTEL);
        assert_eq!(connectel.participants.len(), 2);
        assert_eq!(
            connectel.participants[0].names,
            ["test_user;lang=en-US;id=22"]
        );
        assert_eq!(
            connectel.participants[1].aors,
            ["sip:0700000004@sip.example.net"]
        );
        let inactive = parse(CISCO_INACTIVE);
        assert_eq!(inactive.participant_streams.len(), 2);
        assert!(inactive
            .participant_streams
            .iter()
            .all(|a| a.send.is_empty()));
        for metadata in [connectel, inactive] {
            assert_eq!(metadata.streams.len(), 2);
            assert_eq!(
                (metadata.sender_of("1"), metadata.sender_of("2")),
                (None, None)
            );
        }
    }

    #[test]
    fn partial_update_adds_a_participant() {
        let mut known = parse(CISCO);
        let update = parse(&doc(&format!(
            "<datamode>partial</datamode>\
             <participant participant_id='C'><nameID aor='sip:supervisor@203.0.113.9'>\
             <name>Sup &amp; Co</name></nameID></participant>\
             <participantsessionassoc participant_id='C' session_id='{SESSION}'>\
             <associate-time>2017-06-23T12:20:00Z</associate-time></participantsessionassoc>\
             <participantstreamassoc participant_id='C'><recv>{S1}</recv><recv>{S2}</recv>\
             </participantstreamassoc>"
        )));
        assert_eq!(update.datamode, DataMode::Partial);
        known
            .apply(update, &Limits::default())
            .expect("update fits");
        assert_eq!(known.datamode, DataMode::Complete);
        assert_eq!(
            known.participants[2],
            participant("C", &["sip:supervisor@203.0.113.9"], &["Sup & Co"])
        );
        assert_eq!(known.participant_streams[2], streams("C", &[], &[S1, S2]));
        assert_eq!(known.participant_sessions.len(), 3);
        // Unchanged: the rest, and who sends what.
        let cisco = parse(CISCO);
        assert_eq!(known.participants[..2], cisco.participants[..]);
        assert_eq!(known.streams, cisco.streams);
        assert_eq!(sender_aor(&known, "1"), Some("sip:7301@203.0.113.4"));
        assert_eq!(sender_aor(&known, "2"), Some("sip:7300@203.0.113.4"));
    }

    #[test]
    fn partial_update_reassociates_a_stream_on_transfer() {
        // A is transferred to C: C now sends stream 1, A sends nothing and has left.
        let mut known = parse(CISCO);
        let update = parse(&doc(&format!(
            "<datamode>partial</datamode>\
             <participant participant_id='C'><nameID aor='sip:7302@203.0.113.4'/></participant>\
             <participantsessionassoc participant_id='C' session_id='{SESSION}'/>\
             <participantsessionassoc participant_id='{A}' session_id='{SESSION}'>\
             <associate-time>2017-06-23T12:16:06.040Z</associate-time>\
             <disassociate-time>2017-06-23T12:30:00Z</disassociate-time>\
             </participantsessionassoc>\
             <participantstreamassoc participant_id='C'><send>{S1}</send><recv>{S2}</recv>\
             </participantstreamassoc>\
             <participantstreamassoc participant_id='{A}'></participantstreamassoc>"
        )));
        known
            .apply(update, &Limits::default())
            .expect("update fits");
        assert_eq!(sender_aor(&known, "1"), Some("sip:7302@203.0.113.4"));
        assert_eq!(sender_aor(&known, "2"), Some("sip:7300@203.0.113.4"));
        assert_eq!(known.participant_streams[0], streams(A, &[], &[]));
        let left = &known.participant_sessions[0];
        assert_eq!(left.participant_id, A);
        assert_eq!(
            left.disassociate_time.as_deref(),
            Some("2017-06-23T12:30:00Z")
        );
        assert_eq!(known.participants.len(), 3);
    }

    #[test]
    fn a_departed_sender_yields_to_a_present_one() {
        // The update says A left and C sends stream 1, but leaves A's association as it was.
        let mut known = parse(CISCO);
        let update = parse(&doc(&format!(
            "<datamode>partial</datamode>\
             <participant participant_id='C'><nameID aor='sip:7302@203.0.113.4'/></participant>\
             <participantsessionassoc participant_id='{A}' session_id='{SESSION}'>\
             <disassociate-time>2017-06-23T12:30:00Z</disassociate-time>\
             </participantsessionassoc>\
             <participantstreamassoc participant_id='C'><send>{S1}</send></participantstreamassoc>"
        )));
        known
            .apply(update, &Limits::default())
            .expect("update fits");
        assert_eq!(sender_aor(&known, "1"), Some("sip:7302@203.0.113.4"));
        // With nobody else on it, the one who left is still the stream's sender.
        let mut alone = parse(CISCO);
        let left = parse(&doc(&format!(
            "<datamode>partial</datamode>\
             <participantsessionassoc participant_id='{B}' session_id='{SESSION}'>\
             <disassociate-time>2017-06-23T12:30:00Z</disassociate-time>\
             </participantsessionassoc>"
        )));
        alone.apply(left, &Limits::default()).expect("update fits");
        assert_eq!(sender_aor(&alone, "2"), Some("sip:7300@203.0.113.4"));
    }

    #[test]
    fn complete_update_replaces_everything() {
        let mut known = parse(CISCO);
        known
            .apply(parse(CONNECTEL), &Limits::default())
            .expect("update fits");
        assert_eq!(known, parse(CONNECTEL));
        // No datamode at all is complete too.
        let bare = parse(&doc("<participant participant_id='X'/>"));
        assert_eq!(bare.datamode, DataMode::Complete);
        known
            .apply(bare.clone(), &Limits::default())
            .expect("update fits");
        assert_eq!(known, bare);
    }

    #[test]
    fn announcements_are_read_from_our_namespace_only_and_added_once() {
        let ours = |start: &str, end: &str| {
            format!("<announcement xmlns='{ANNOUNCEMENT_NAMESPACE}' start='{start}' end='{end}'/>")
        };
        let (t0, t1, t2) = (
            "2026-11-26T10:00:00Z",
            "2026-11-26T10:00:03.5Z",
            "2026-11-26T10:01:00Z",
        );
        let first = parse(&doc(&format!(
            "{}<announcement start='{t0}' end='{t1}'/>\
             <x:wrap xmlns:x='{ANNOUNCEMENT_NAMESPACE}'><x:announcement start='{t1}' end='{t2}'/></x:wrap>",
            ours(t0, t1)
        )));
        let announcement = |start: &str, end: &str| Announcement {
            start: start.into(),
            end: end.into(),
        };
        assert_eq!(
            first.announcements,
            [announcement(t0, t1)],
            "the recording namespace's <announcement> and a nested one are not ours"
        );

        let mut known = first.clone();
        let update = parse(&doc(&format!(
            "<datamode>partial</datamode>{}{}",
            ours(t0, t1),
            ours(t1, t2)
        )));
        known.apply(update, &Limits::default()).expect("fits");
        assert_eq!(
            known.announcements,
            [announcement(t0, t1), announcement(t1, t2)]
        );

        assert_eq!(
            err(&doc(&format!(
                "<announcement xmlns='{ANNOUNCEMENT_NAMESPACE}' start='{t0}'/>"
            ))),
            MetadataError::IncompleteAnnouncement
        );
        let limits = Limits {
            max_announcements: 1,
            ..Limits::default()
        };
        let two = doc(&format!("{}{}", ours(t0, t1), ours(t1, t2)));
        assert_eq!(
            Metadata::parse(&two, &limits),
            Err(MetadataError::TooManyAnnouncements { max: 1 })
        );
    }

    #[test]
    fn updates_over_the_limits_leave_the_known_state() {
        let limits = Limits {
            max_participants: 3,
            ..Limits::default()
        };
        let mut known = parse(CISCO);
        let add = |id: &str| {
            parse(&doc(&format!(
                "<datamode>partial</datamode><participant participant_id='{id}'/>"
            )))
        };
        known
            .apply(add("C"), &limits)
            .expect("third participant fits");
        let before = known.clone();
        assert_eq!(
            known.apply(add("D"), &limits),
            Err(MetadataError::TooManyParticipants { max: 3 })
        );
        assert_eq!(known, before);
        // Replacing a known participant is no growth.
        known
            .apply(add("C"), &limits)
            .expect("same participant again");
        assert_eq!(known, before);
        let over = parse(&doc(
            "<participant id='1'/><participant id='2'/><participant id='3'/><participant id='4'/>",
        ));
        assert_eq!(
            known.apply(over, &limits),
            Err(MetadataError::TooManyParticipants { max: 3 })
        );
        assert_eq!(known, before);
    }

    #[test]
    fn text_entities_char_refs_cdata_and_comments() {
        let metadata = parse(&doc(
            "<!-- a comment --><participant participant_id='p&amp;1'>\
             <nameID aor='sip:a&amp;b@203.0.113.1'><name>&#65;&#x42; &lt;C&gt;</name>\
             <name><![CDATA[<D & E>]]></name></nameID></participant>\
             <?processing instruction?>",
        ));
        assert_eq!(
            metadata.participants,
            [participant(
                "p&1",
                &["sip:a&b@203.0.113.1"],
                &["AB <C>", "<D & E>"]
            )]
        );
    }

    #[test]
    fn doctype_and_undefined_entities_are_refused() {
        let xxe = format!(
            "<?xml version='1.0'?><!DOCTYPE recording [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>\
             <recording xmlns='{NAMESPACE}'><participant participant_id='p'>\
             <nameID aor='sip:a@b'><name>&xxe;</name></nameID></participant></recording>"
        );
        assert_eq!(err(&xxe), MetadataError::Doctype);
        let billion = format!(
            "<!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>{}",
            doc("<participant participant_id='&b;'/>")
        );
        assert_eq!(err(&billion), MetadataError::Doctype);
        let undefined = doc("<participant participant_id='p'><nameID aor='x'><name>&xxe;</name></nameID></participant>");
        assert_eq!(err(&undefined), MetadataError::UnknownEntity("xxe".into()));
        // In skipped extension data too: undefined entities are not well-formed anywhere.
        let skipped = doc("<extensiondata><x:y xmlns:x='urn:x'>&xxe;</x:y></extensiondata>");
        assert_eq!(err(&skipped), MetadataError::UnknownEntity("xxe".into()));
        // In an attribute.
        let attribute = doc("<participant participant_id='&xxe;'/>");
        assert!(
            matches!(err(&attribute), MetadataError::Xml(_)),
            "{:?}",
            err(&attribute)
        );
    }

    #[test]
    fn wrong_namespace_and_root() {
        let other =
            "<recording xmlns='urn:example:recording'><datamode>complete</datamode></recording>";
        assert_eq!(
            err(other),
            MetadataError::WrongNamespace {
                found: "urn:example:recording".into()
            }
        );
        let message = err(other).to_string();
        assert!(message.contains(NAMESPACE) && message.contains("urn:example:recording"));
        assert_eq!(
            err("<recording><datamode>complete</datamode></recording>"),
            MetadataError::WrongNamespace { found: "".into() }
        );
        assert_eq!(
            err("<r:recording/>"),
            MetadataError::WrongNamespace {
                found: "undeclared prefix r".into()
            }
        );
        // BroadWorks once sent this root in a namespace of its own.
        assert_eq!(
            err("<recording_metadata xmlns='urn:ietf:params:xml:ns:siprec'/>"),
            MetadataError::NotRecording {
                found: "recording_metadata".into()
            }
        );
        // Our elements inside a foreign one are skipped with it.
        let nested = doc(&format!(
            "<x:wrap xmlns:x='urn:x'><participant participant_id='hidden' xmlns='{NAMESPACE}'/></x:wrap>"
        ));
        assert_eq!(parse(&nested).participants, []);
    }

    #[test]
    fn malformed_documents() {
        let cases = [
            ("", MetadataError::Empty),
            ("<?xml version='1.0'?><!-- only -->", MetadataError::Empty),
            (
                &*format!("{}<recording xmlns='{NAMESPACE}'/>", doc("")),
                MetadataError::SecondRoot,
            ),
            (
                &*doc("<datamode>full</datamode>"),
                MetadataError::BadDataMode {
                    found: "full".into(),
                },
            ),
            (
                &*doc("<participant/>"),
                MetadataError::MissingId {
                    element: "participant",
                },
            ),
            (
                &*doc("<stream><label>1</label></stream>"),
                MetadataError::MissingId { element: "stream" },
            ),
            (
                &*doc("<session session_id=' '/>"),
                MetadataError::MissingId { element: "session" },
            ),
            (
                &*doc("<group/>"),
                MetadataError::MissingId { element: "group" },
            ),
            (
                &*doc("<participantsessionassoc participant_id='p'/>"),
                MetadataError::MissingId {
                    element: "participantsessionassoc",
                },
            ),
            (
                &*doc("<participantstreamassoc><send>s</send></participantstreamassoc>"),
                MetadataError::MissingId {
                    element: "participantstreamassoc",
                },
            ),
        ];
        for (xml, error) in cases {
            assert_eq!(err(xml), error, "{xml:?}");
        }
        for xml in [
            doc("<participant participant_id='p'></stream>"),
            format!("<recording xmlns='{NAMESPACE}'><participant participant_id='p'>"),
            doc("<participant participant_id='p' participant_id='q'/>"),
            doc("<participant participant_id=p/>"),
        ] {
            assert!(
                matches!(err(&xml), MetadataError::Xml(_)),
                "{xml:?}: {:?}",
                err(&xml)
            );
        }
    }

    #[test]
    fn limits_each_have_their_error() {
        let defaults = Limits::default();
        let with = |limits: Limits, xml: &str| Metadata::parse(xml, &limits);
        assert_eq!(
            with(
                Limits {
                    max_bytes: CISCO.len() - 1,
                    ..defaults.clone()
                },
                CISCO
            ),
            Err(MetadataError::TooLarge {
                len: CISCO.len(),
                max: CISCO.len() - 1
            })
        );
        // Acme's extension data goes five deep: recording, participant, extensiondata,
        // apkt:header, value.
        assert!(with(
            Limits {
                max_depth: 5,
                ..defaults.clone()
            },
            ACME_AVAYA
        )
        .is_ok());
        assert_eq!(
            with(
                Limits {
                    max_depth: 4,
                    ..defaults.clone()
                },
                ACME_AVAYA
            ),
            Err(MetadataError::TooDeep { max: 4 })
        );
        let deep = doc(&"<a:x xmlns:a='urn:a'>".repeat(40));
        assert_eq!(
            with(defaults.clone(), &deep),
            Err(MetadataError::TooDeep { max: 32 })
        );
        assert!(with(
            Limits {
                max_participants: 2,
                ..defaults.clone()
            },
            CISCO
        )
        .is_ok());
        assert_eq!(
            with(
                Limits {
                    max_participants: 1,
                    ..defaults.clone()
                },
                CISCO
            ),
            Err(MetadataError::TooManyParticipants { max: 1 })
        );
        assert!(with(
            Limits {
                max_streams: 2,
                ..defaults.clone()
            },
            CISCO
        )
        .is_ok());
        assert_eq!(
            with(
                Limits {
                    max_streams: 1,
                    ..defaults.clone()
                },
                CISCO
            ),
            Err(MetadataError::TooManyStreams { max: 1 })
        );
        let sends = doc(&format!(
            "<participantstreamassoc participant_id='p'>{}</participantstreamassoc>",
            (0..3)
                .map(|i| format!("<send>s{i}</send>"))
                .collect::<String>()
        ));
        assert_eq!(
            with(
                Limits {
                    max_streams: 2,
                    ..defaults.clone()
                },
                &sends
            ),
            Err(MetadataError::TooManyStreams { max: 2 })
        );
        assert_eq!(
            with(
                Limits {
                    max_sessions: 0,
                    ..defaults.clone()
                },
                SONUS
            ),
            Err(MetadataError::TooManySessions { max: 0 })
        );
        let sessions = doc("<session session_id='1'/><session session_id='2'/>");
        assert_eq!(
            with(
                Limits {
                    max_sessions: 1,
                    ..defaults
                },
                &sessions
            ),
            Err(MetadataError::TooManySessions { max: 1 })
        );
    }

    #[test]
    fn repeated_ids_replace_within_a_document() {
        let metadata = parse(&doc(
            "<participant participant_id='p'><nameID aor='sip:old@x'/></participant>\
             <participant participant_id='p'><nameID aor='sip:new@x'/></participant>\
             <participant id='p'><nameID aor='sip:newest@x'/><send>s1</send></participant>\
             <participantstreamassoc participant_id='p'><send>s1</send><send>s2</send>\
             </participantstreamassoc>",
        ));
        assert_eq!(
            metadata.participants,
            [participant("p", &["sip:newest@x"], &[])]
        );
        assert_eq!(
            metadata.participant_streams,
            [streams("p", &["s1", "s2"], &[])]
        );
    }

    #[test]
    fn an_aor_without_a_scheme_is_read_as_a_sip_uri() {
        for (sent, read) in [
            ("5550108500@203.0.113.55", "sip:5550108500@203.0.113.55"),
            (
                " 5550107108@203.0.113.136:5060",
                "sip:5550107108@203.0.113.136:5060",
            ),
            (
                "Extension-5550100619@pbx.example.ie",
                "sip:Extension-5550100619@pbx.example.ie",
            ),
            ("sip:7301@203.0.113.4", "sip:7301@203.0.113.4"),
            ("SIPS:alice@example.com", "SIPS:alice@example.com"),
            ("tel:+15550100", "tel:+15550100"),
            ("urn:service:sos", "urn:service:sos"),
            ("no-at-sign", "no-at-sign"),
            ("", ""),
        ] {
            assert_eq!(aor_uri(sent), read, "{sent:?}");
        }
    }
}
