//! A recording session's decisions, between signalling and media: whose call it is and what
//! policy says, which offered streams are recorded in which channel, what the answer accepts,
//! and when a re-offer pauses or resumes. Pure functions over parsed SDP, RFC 7865 metadata
//! and policy lookups; the server applies what they decide.

use crate::media::codec::PayloadKind;
use crate::media::mix::Layout;
use crate::media::tones::ToneSpec;
use crate::policy::effective::{Decision, Reason, RecordingPolicy};
use crate::policy::index::{normalise_aor, Lookup};
use crate::policy::settings::NotificationType;
use crate::recorder::payload::{PayloadMap, PayloadType};
use crate::recorder::{Leg, RecorderConfig, Reminder};
use crate::sip::metadata::{self, Announcement, Metadata};
use crate::sip::sdp::{self, Direction, MediaDescription, SessionDescription};
use crate::sip::Refusal;
use crate::srtp::sdes::{self, Crypto, CryptoError};
use crate::time::Time;
use std::net::IpAddr;

/// One offered media section the session receives.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPlan {
    /// Its position among the offer's media sections.
    pub index: usize,
    /// The recording channel; `None` for a stream received but not recorded (a third one).
    pub leg: Option<Leg>,
    pub label: Option<String>,
    /// Where the offer says it comes from (the latch's expected address).
    pub address: Option<IpAddr>,
    /// The offered payload types callrec decodes, in offer order.
    pub payload_types: Vec<u8>,
    pub payloads: PayloadMap,
    pub rtcp_mux: bool,
    /// Who sends on it, per the metadata: (name, AOR).
    pub sender: Option<(Option<String>, Option<String>)>,
    /// An SRTP stream's keys: the offer's first `a=crypto` line callrec supports (its tag,
    /// suite and the sender's master key). `None`: plain RTP.
    pub srtp: Option<Crypto>,
}

/// The offer's SDP and metadata read as a recording session needs them (the user agent's
/// [`crate::sip::uas::Offer`] carries them as bytes); a refusal names what is wrong.
pub fn read_offer(
    sdp: &[u8],
    metadata: Option<&[u8]>,
) -> Result<(SessionDescription, Option<Metadata>), Refusal> {
    let sdp = std::str::from_utf8(sdp).map_err(|_| Refusal::new(400, "SDP is not UTF-8"))?;
    let description = SessionDescription::parse(sdp, &sdp::Limits::default())
        .map_err(|e| Refusal::new(400, format!("Bad SDP: {e}")))?;
    let metadata = match metadata {
        None => None,
        Some(xml) => {
            let xml =
                std::str::from_utf8(xml).map_err(|_| Refusal::new(400, "metadata is not UTF-8"))?;
            Some(
                Metadata::parse(xml, &metadata::Limits::default())
                    .map_err(|e| Refusal::new(400, format!("Bad recording metadata: {e}")))?,
            )
        }
    };
    Ok((description, metadata))
}

/// Whether an offer's SRTP keys may be taken: they travel in the SDP, readable by anyone on
/// the path unless the signalling is TLS, so an offer with an SRTP audio stream over plain UDP
/// or TCP is refused (488, saying why) unless `allowed_in_clear` (`sip.srtp_over_plain_transport`).
pub fn check_srtp_transport(
    offer: &SessionDescription,
    over_tls: bool,
    allowed_in_clear: bool,
) -> Result<(), Refusal> {
    let srtp = offer
        .media
        .iter()
        .any(|m| m.is_audio() && m.is_secure() && m.port != 0);
    match srtp && !over_tls && !allowed_in_clear {
        true => Err(Refusal::new(
            488,
            "Not Acceptable Here (SRTP keys offered over plain UDP or TCP: use SIP over TLS, \
             or set sip.srtp_over_plain_transport)",
        )),
        false => Ok(()),
    }
}

/// Which offered streams are received, and in which channel each is recorded: the recorded
/// party's stream is leg A (left) when the metadata says which it is, otherwise the offer's
/// order decides. Audio over RTP with at least one payload type callrec decodes is accepted,
/// over SRTP when one of its `a=crypto` lines is one callrec supports (see
/// [`crate::srtp::sdes`]); anything else is refused in the answer (port 0). No acceptable
/// stream: 488, naming the SRTP keys when they were the reason.
pub fn plan_streams(
    offer: &SessionDescription,
    metadata: Option<&Metadata>,
    recorded_aor: Option<&str>,
) -> Result<Vec<Option<StreamPlan>>, Refusal> {
    let mut crypto_error = None;
    let mut plans: Vec<Option<StreamPlan>> = offer
        .media
        .iter()
        .enumerate()
        .map(|(index, m)| {
            accept(index, m, offer.connection, metadata).unwrap_or_else(|e| {
                crypto_error.get_or_insert(e);
                None
            })
        })
        .collect();
    let recorded = recorded_aor.and_then(normalise_aor);
    let is_recorded = |p: &StreamPlan| {
        let aor = p.sender.as_ref().and_then(|(_, aor)| aor.as_deref());
        recorded.is_some() && aor.and_then(normalise_aor) == recorded
    };
    let mut order: Vec<usize> = plans.iter().flatten().map(|p| p.index).collect();
    if let (true, Some(e)) = (order.is_empty(), crypto_error) {
        return Err(Refusal::new(
            488,
            format!("Not Acceptable Here (no SRTP keys callrec accepts: {e})"),
        ));
    }
    if order.is_empty() {
        return Err(Refusal::new(
            488,
            "Not Acceptable Here (no RTP audio stream callrec decodes)",
        ));
    }
    // The recorded party's stream first; the rest keep the offer's order (stable sort).
    order.sort_by_key(|&i| !plans[i].as_ref().is_some_and(is_recorded));
    for (position, index) in order.into_iter().enumerate() {
        let plan = plans[index].as_mut().expect("ordered from accepted plans");
        plan.leg = match position {
            0 => Some(Leg::A),
            1 => Some(Leg::B),
            _ => None,
        };
    }
    Ok(plans)
}

/// The plan for one media section, `Ok(None)` when it is not received; `Err` when it is an
/// audio stream refused only for its SRTP keys.
fn accept(
    index: usize,
    m: &MediaDescription,
    session_address: Option<IpAddr>,
    metadata: Option<&Metadata>,
) -> Result<Option<StreamPlan>, CryptoError> {
    if !m.is_audio() || !m.is_rtp() || m.port == 0 {
        return Ok(None);
    }
    let srtp = match m.is_secure() {
        true => Some(sdes::choose(m.crypto.iter().map(String::as_str))?),
        false => None,
    };
    let mut payloads = PayloadMap::empty();
    let mut payload_types = Vec::new();
    for format in &m.rtp_formats {
        let Some(encoding) = &format.encoding else {
            continue;
        };
        let Some(kind) = PayloadKind::from_name(&encoding.name) else {
            continue;
        };
        payloads.insert(
            format.payload_type,
            PayloadType {
                kind,
                clock_rate: encoding.clock_rate,
            },
        );
        payload_types.push(format.payload_type);
    }
    if payloads.codecs().next().is_none() {
        return Ok(None);
    }
    let sender = m
        .label
        .as_deref()
        .and_then(|label| metadata?.sender_of(label))
        .map(|p| (p.names.first().cloned(), p.aors.first().cloned()));
    Ok(Some(StreamPlan {
        index,
        leg: None,
        label: m.label.clone(),
        address: m.connection.or(session_address),
        payload_types,
        payloads,
        rtcp_mux: m.rtcp_mux,
        sender,
        srtp,
    }))
}

/// A re-offer's keys for a stream received over SRTP: the line (by its tag, which may have
/// changed) that carries the very key in use. New keys mid-call are not taken (the re-offer
/// is refused, and RFC 3264 §8 keeps the session as it was); plain RTP re-offered for an SRTP
/// stream, or the reverse, neither.
pub fn reoffered_crypto(
    in_use: Option<&Crypto>,
    m: &MediaDescription,
) -> Result<Option<u32>, Refusal> {
    let refuse = |why: &str| Refusal::new(488, format!("Not Acceptable Here ({why})"));
    match (in_use, m.is_secure()) {
        (None, false) => Ok(None),
        (None, true) => Err(refuse("SRTP re-offered for a stream received as plain RTP")),
        (Some(_), false) => Err(refuse(
            "plain RTP re-offered for a stream received over SRTP",
        )),
        (Some(in_use), true) => m
            .crypto
            .iter()
            .filter_map(|line| Crypto::parse(line).ok())
            .find(|c| c.key == in_use.key)
            .map(|c| Some(c.tag))
            .ok_or_else(|| refuse("new SRTP keys mid-call are not supported")),
    }
}

/// Whether an offer sends anything: an initial offer may already be inactive (on hold, or
/// a session that starts paused), and a re-offer pauses with `inactive` and resumes with
/// `sendonly` (RFC 7866 §8.1.2).
pub fn offer_sends(offer: &SessionDescription) -> bool {
    offer
        .media
        .iter()
        .filter(|m| m.is_audio() && m.port != 0)
        .any(|m| matches!(m.direction, Direction::SendOnly | Direction::SendRecv))
}

/// The AORs that may identify the recorded party, most telling first: the metadata's
/// participants, then the request's From and To.
pub fn candidate_aors(metadata: Option<&Metadata>, from: &str, to: &str) -> Vec<String> {
    let mut aors: Vec<String> = metadata
        .into_iter()
        .flat_map(|m| &m.participants)
        .flat_map(|p| p.aors.iter().cloned())
        .collect();
    aors.extend([from.to_string(), to.to_string()]);
    aors
}

/// Who is recorded and how: the first candidate whose policy says record. Refused (403,
/// with the reason) when every known candidate's policy says do not record, or none is known
/// while a policy exists. With no policy configured at all, everything is recorded with
/// [`default_policy`].
pub fn choose_policy(
    candidates: &[String],
    policy_configured: bool,
    lookup: impl Fn(&str) -> Lookup,
) -> Result<(Option<String>, Option<RecordingPolicy>), Refusal> {
    if !policy_configured {
        return Ok((candidates.first().cloned(), None));
    }
    let mut refusal = None;
    for aor in candidates {
        match lookup(aor) {
            Lookup::Known(Decision::Record(policy)) => {
                return Ok((Some(aor.clone()), Some(policy)))
            }
            Lookup::Known(Decision::DoNotRecord(reason)) => {
                refusal.get_or_insert((aor.clone(), reason));
            }
            Lookup::Unknown => {}
        }
    }
    let (who, reason) = refusal.unwrap_or_else(|| ("the call".into(), Reason::UnknownUser));
    Err(Refusal::new(
        403,
        format!("Forbidden: not recorded: {who}: {reason}"),
    ))
}

/// The recorder's settings for a call under `policy` (`None`: no policy configured), on top
/// of the server's `base` settings (format, codec, jitter).
pub fn recorder_config(
    base: &RecorderConfig,
    policy: Option<&RecordingPolicy>,
    recorded_legs: usize,
) -> RecorderConfig {
    let layout = match (recorded_legs, base.layout) {
        (1, Layout::Stereo) => Layout::Mono,
        (_, layout) => layout,
    };
    let beeps = Some((ToneSpec::PAUSE, ToneSpec::RESUME));
    let (reminder, notification) = match policy {
        None => (None, beeps),
        Some(p) => (
            p.reminder.map(|interval| Reminder {
                interval_secs: interval.seconds(),
                tone: ToneSpec::REMINDER,
            }),
            // An announcement is played by the platform and kept out of the file; a beep is
            // the recording's own mark.
            match p.pause_resume_notification {
                Some(NotificationType::Beep) => beeps,
                _ => None,
            },
        ),
    };
    RecorderConfig {
        layout,
        reminder,
        notification,
        pci: base.pci || policy.is_some_and(|p| p.pci_dtmf),
        ..base.clone()
    }
}

/// Whether the client's pause and resume are honoured: as the policy's mode says, always
/// when no policy is configured (then pauses are marked with a beep and there is no reminder),
/// and always under PCI handling (an agent pauses while the caller reads out a card number,
/// whatever the user's mode).
pub fn allows_pause(policy: Option<&RecordingPolicy>) -> bool {
    policy.is_none_or(|p| p.pause_resume || p.pci_dtmf)
}

/// Where a session's recording stands, as the client's SDP direction has said so far.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordingState {
    /// On Demand: nothing is recorded until the user's first start; the file begins there.
    AwaitingStart,
    Recording,
    /// Paused (or stopped, for On Demand): media is kept out of the file.
    Paused,
}

/// What a new offer's direction changes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DirectionChange {
    Unchanged,
    /// The user's first start (On Demand): the recording begins now, with no resume tone.
    FirstStart,
    Pause,
    Resume,
    /// A pause or resume the policy does not allow: ignored and noted.
    NotAllowed,
}

/// Whether the session waits for the user's start: On Demand with User Initiated Start
/// (the policy does not record from answer and lets the user start and stop).
pub fn waits_for_user_start(policy: Option<&RecordingPolicy>) -> bool {
    policy.is_some_and(|p| !p.record_from_answer && p.user_start_stop)
}

/// The state a session begins in. On Demand says start and stop with the SDP direction as
/// it says pause and resume (RFC 7866 §7.1.2: `a=inactive` means no media is being
/// recorded): an inactive first offer waits for the user's start, a sending one is the start.
/// The Always modes record from answer; an inactive first offer is paused from the start.
pub fn initial_state(waits_for_user_start: bool, sends: bool) -> RecordingState {
    match (sends, waits_for_user_start) {
        (true, _) => RecordingState::Recording,
        (false, true) => RecordingState::AwaitingStart,
        (false, false) => RecordingState::Paused,
    }
}

/// The next state after an offer that `sends` (or not): the first sending offer of a session
/// awaiting its start is the user's start; after it, stops and starts are pauses and resumes.
/// Without `allows_pause` only the stop is refused: a mode without pausing wants the call
/// recorded, so a resume (after an inactive first offer, an Always call on hold at set-up)
/// is always honoured.
pub fn on_direction(
    state: RecordingState,
    sends: bool,
    allows_pause: bool,
) -> (RecordingState, DirectionChange) {
    use DirectionChange as C;
    use RecordingState as S;
    match (state, sends) {
        (S::AwaitingStart, true) => (S::Recording, C::FirstStart),
        (S::AwaitingStart, false) | (S::Recording, true) | (S::Paused, false) => {
            (state, C::Unchanged)
        }
        (S::Recording, false) if allows_pause => (S::Paused, C::Pause),
        (S::Recording, false) => (state, C::NotAllowed),
        (S::Paused, true) => (S::Recording, C::Resume),
    }
}

/// What a session is, for the sidecar's `call.kind`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallKind {
    Call,
    /// A voicemail deposit or retrieval: a participant is a voicemail system.
    Voicemail,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Call => "call",
            CallKind::Voicemail => "voicemail",
        }
    }
}

/// Which way the recorded person's call went, as the sidecar says it: `outbound` when they
/// are the first participant of the metadata, `inbound` when another, `unknown` without
/// metadata or a recorded address among them. RFC 7865 does not say who called whom; the
/// recording clients we know (BroadWorks, Webex Calling) list the calling party first.
/// Addresses are compared as the policy compares them ([`normalise_aor`]).
pub fn direction(metadata: Option<&Metadata>, recorded_aor: Option<&str>) -> &'static str {
    let Some(recorded) = recorded_aor.and_then(normalise_aor) else {
        return "unknown";
    };
    let is_recorded = |p: &&crate::sip::metadata::Participant| {
        p.aors
            .iter()
            .any(|a| normalise_aor(a).as_ref() == Some(&recorded))
    };
    let participants = metadata.map(|m| m.participants.as_slice()).unwrap_or(&[]);
    match participants.iter().position(|p| is_recorded(&p)) {
        Some(0) => "outbound",
        Some(_) => "inbound",
        None => "unknown",
    }
}

/// A voicemail session is one with a participant whose AOR is one of `voicemail_aors`,
/// compared as the policy compares AORs (the key [`normalise_aor`] gives: `sips` read as
/// `sip`, display name, port and parameters dropped, the host's case ignored, the user part
/// as written). No SIPREC client we know of marks
/// voicemail in its metadata in a documented way, so the configured addresses decide.
pub fn call_kind(metadata: Option<&Metadata>, voicemail_aors: &[String]) -> CallKind {
    let voicemail: Vec<String> = voicemail_aors
        .iter()
        .filter_map(|a| normalise_aor(a))
        .collect();
    let is_voicemail = metadata
        .into_iter()
        .flat_map(|m| &m.participants)
        .flat_map(|p| &p.aors)
        .filter_map(|aor| normalise_aor(aor))
        .any(|aor| voicemail.contains(&aor));
    match is_voicemail {
        true => CallKind::Voicemail,
        false => CallKind::Call,
    }
}

/// A voicemail session is recorded only when the recorded user's `record_voicemail` is on
/// (`None`: no policy configured, everything is recorded); otherwise refused as other policy
/// refusals are (403, with the reason).
pub fn check_voicemail(
    kind: CallKind,
    record_voicemail: Option<bool>,
    recorded_aor: Option<&str>,
) -> Result<(), Refusal> {
    match (kind, record_voicemail) {
        (CallKind::Voicemail, Some(false)) => Err(Refusal::new(
            403,
            format!(
                "Forbidden: not recorded: {}: the user does not record voicemail",
                recorded_aor.unwrap_or("the call")
            ),
        )),
        _ => Ok(()),
    }
}

/// Announcements one call takes in; later ones are noted and not left out.
pub const MAX_ANNOUNCEMENTS: usize = 256;

/// The announcements in `metadata` that `reported` does not hold yet, as wall-clock spans to
/// leave out of the recording; each is added to `reported`. One that cannot be used (times not
/// RFC 3339 UTC, an end before its start, one too many) comes back as a note instead.
pub fn new_announcements(
    metadata: &Metadata,
    reported: &mut Vec<Announcement>,
) -> (Vec<(Time, Time)>, Vec<String>) {
    let (mut spans, mut notes) = (Vec::new(), Vec::new());
    for announcement in &metadata.announcements {
        if reported.contains(announcement) {
            continue;
        }
        let Announcement { start, end } = announcement;
        if reported.len() == MAX_ANNOUNCEMENTS {
            notes.push(format!(
                "announcement {start} to {end} not left out: over {MAX_ANNOUNCEMENTS} in one call"
            ));
            break;
        }
        reported.push(announcement.clone());
        match (Time::parse_rfc3339(start), Time::parse_rfc3339(end)) {
            (Some(from), Some(to)) if from < to => spans.push((from, to)),
            _ => notes.push(format!(
                "announcement {start} to {end} not left out: its times are not an RFC 3339 UTC span"
            )),
        }
    }
    (spans, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_demand_waits_for_the_first_sending_offer_then_pauses_like_the_always_modes() {
        use DirectionChange as C;
        use RecordingState as S;
        assert_eq!(initial_state(true, false), S::AwaitingStart);
        assert_eq!(
            initial_state(true, true),
            S::Recording,
            "a sending offer is the start"
        );
        assert_eq!(
            initial_state(false, false),
            S::Paused,
            "Always: paused from the start"
        );
        assert_eq!(initial_state(false, true), S::Recording);

        let mut state = S::AwaitingStart;
        let mut changes = Vec::new();
        for sends in [false, true, true, false, false, true] {
            let (next, change) = on_direction(state, sends, true);
            state = next;
            changes.push(change);
        }
        assert_eq!(
            changes,
            [
                C::Unchanged,
                C::FirstStart,
                C::Unchanged,
                C::Pause,
                C::Unchanged,
                C::Resume
            ]
        );
        assert_eq!(state, S::Recording);
        // Always without pause: stops are ignored, and the first start of an On Demand
        // session is never refused.
        assert_eq!(
            on_direction(S::Recording, false, false),
            (S::Recording, C::NotAllowed)
        );
        // An Always call whose first offer was inactive is recorded from the resume on.
        assert_eq!(
            on_direction(S::Paused, true, false),
            (S::Recording, C::Resume)
        );
        assert_eq!(
            on_direction(S::AwaitingStart, true, false),
            (S::Recording, C::FirstStart)
        );
    }

    /// An Always user's policy, with the organisation's PCI handling on or off.
    fn always(pci: bool) -> RecordingPolicy {
        serde_json::from_value(serde_json::json!({
            "orgId": "acme", "personId": "alice", "locationId": "paris", "mode": "Always",
            "recordFromAnswer": true, "userStartStop": false, "pauseResume": false,
            "pauseResumeNotification": null, "reminder": null,
            "announcement": { "internalCalls": false, "pstnCalls": false },
            "recordVoicemail": false, "provider": "dubber", "plan": "dubber-go",
            "retention": "30d", "region": "EU", "storage": "default",
            "platform": { "serviceProvider": "acme", "externalGroup": "paris",
                          "externalIdentifier": "alice" },
            "pciDtmfSuppression": pci,
        }))
        .expect("a recording policy")
    }

    #[test]
    fn under_pci_handling_an_always_users_pause_is_honoured_and_the_recorder_suppresses_dtmf() {
        use DirectionChange as C;
        use RecordingState as S;
        let (plain, pci) = (always(false), always(true));
        assert!(!allows_pause(Some(&plain)));
        assert!(allows_pause(Some(&pci)));
        // The agent pauses while the caller reads out a card number, then resumes.
        let (state, change) = on_direction(S::Recording, false, allows_pause(Some(&pci)));
        assert_eq!((state, change), (S::Paused, C::Pause));
        assert_eq!(on_direction(state, true, true), (S::Recording, C::Resume));
        let base = RecorderConfig::default();
        assert!(recorder_config(&base, Some(&pci), 2).pci);
        assert!(!recorder_config(&base, Some(&plain), 2).pci);
        assert!(!recorder_config(&base, None, 2).pci);
    }

    #[test]
    fn direction_is_the_recorded_person_s_place_among_the_participants() {
        let participant = |aor: &str| metadata::Participant {
            participant_id: aor.into(),
            aors: vec![aor.into()],
            names: Vec::new(),
        };
        let metadata = Metadata {
            participants: vec![
                participant("sip:alice@example.com"),
                participant("tel:+15550100"),
            ],
            ..Metadata::default()
        };
        let of = |recorded: Option<&str>| direction(Some(&metadata), recorded);
        assert_eq!(
            of(Some("<sips:alice@EXAMPLE.com;transport=tls>")),
            "outbound"
        );
        assert_eq!(of(Some("tel:+15550100")), "inbound");
        assert_eq!(of(Some("sip:carol@example.com")), "unknown");
        assert_eq!(of(None), "unknown");
        assert_eq!(direction(None, Some("sip:alice@example.com")), "unknown");
    }

    #[test]
    fn a_voicemail_participant_makes_the_session_voicemail_refused_unless_the_user_records_it() {
        let participant = |aor: &str| metadata::Participant {
            participant_id: aor.into(),
            aors: vec![aor.into()],
            names: Vec::new(),
        };
        let metadata = Metadata {
            participants: vec![
                participant("sip:alice@example.com"),
                participant("sips:voicemail@Example.COM:5061;transport=tls"),
            ],
            ..Metadata::default()
        };
        let configured = vec!["<sip:voicemail@example.com>".to_string()];
        assert_eq!(call_kind(Some(&metadata), &configured), CallKind::Voicemail);
        assert_eq!(call_kind(Some(&metadata), &[]), CallKind::Call);
        assert_eq!(call_kind(None, &configured), CallKind::Call);
        let other = vec!["sip:voicemail@other.example.com".to_string()];
        assert_eq!(call_kind(Some(&metadata), &other), CallKind::Call);

        let alice = Some("sip:alice@example.com");
        let Refusal { status, reason } =
            check_voicemail(CallKind::Voicemail, Some(false), alice).unwrap_err();
        assert_eq!(status, 403);
        assert!(reason.contains("sip:alice@example.com"), "{reason}");
        assert!(reason.contains("does not record voicemail"), "{reason}");
        assert!(check_voicemail(CallKind::Voicemail, Some(true), alice).is_ok());
        assert!(check_voicemail(CallKind::Voicemail, None, alice).is_ok());
        assert!(check_voicemail(CallKind::Call, Some(false), alice).is_ok());
    }

    #[test]
    fn each_announcement_is_reported_once_and_bad_ones_become_notes() {
        let announcement = |start: &str, end: &str| Announcement {
            start: start.into(),
            end: end.into(),
        };
        let mut metadata = Metadata {
            announcements: vec![
                announcement("2026-11-26T10:00:00Z", "2026-11-26T10:00:03.250Z"),
                announcement("2026-11-26T10:00:05Z", "2026-11-26T10:00:04Z"),
                announcement("2026-11-26T11:00:00+01:00", "2026-11-26T11:00:02+01:00"),
            ],
            ..Metadata::default()
        };
        let mut reported = Vec::new();
        let (spans, notes) = new_announcements(&metadata, &mut reported);
        let at = |text| Time::parse_rfc3339(text).unwrap();
        assert_eq!(
            spans,
            [(at("2026-11-26T10:00:00Z"), at("2026-11-26T10:00:03.250Z"))]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("10:00:05Z"), "{notes:?}");

        metadata
            .announcements
            .push(announcement("2026-11-26T10:01:00Z", "2026-11-26T10:01:01Z"));
        let (spans, notes) = new_announcements(&metadata, &mut reported);
        assert_eq!(
            spans,
            [(at("2026-11-26T10:01:00Z"), at("2026-11-26T10:01:01Z"))],
            "only the new one"
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn a_call_takes_a_bounded_number_of_announcements() {
        let metadata = Metadata {
            announcements: (0..MAX_ANNOUNCEMENTS + 5)
                .map(|i| Announcement {
                    start: Time::from_nanos(i as u64 * 2_000_000_000).to_rfc3339(),
                    end: Time::from_nanos(i as u64 * 2_000_000_000 + 1_000_000_000).to_rfc3339(),
                })
                .collect(),
            ..Metadata::default()
        };
        let mut reported = Vec::new();
        let (spans, notes) = new_announcements(&metadata, &mut reported);
        assert_eq!(spans.len(), MAX_ANNOUNCEMENTS);
        assert_eq!(reported.len(), MAX_ANNOUNCEMENTS);
        assert_eq!(notes.len(), 1);
        let (spans, notes) = new_announcements(&metadata, &mut reported);
        assert!(spans.is_empty());
        assert_eq!(notes.len(), 1, "still noted, still bounded");
    }
}

#[cfg(test)]
mod srtp_tests {
    use super::*;
    use crate::srtp::Suite;

    const KEY_CM: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
    /// 28 bytes: AEAD_AES_128_GCM's key and salt.
    const KEY_GCM: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==";

    fn offer(media: &str) -> SessionDescription {
        let text =
            format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n{media}");
        SessionDescription::parse(&text, &sdp::Limits::default()).expect("parses")
    }

    #[test]
    fn srtp_keys_are_taken_over_tls_or_where_configuration_allows_them() {
        let srtp = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_CM}\r\n"
        ));
        let plain = offer("m=audio 4000 RTP/AVP 0\r\n");
        let disabled = offer("m=audio 0 RTP/SAVP 0\r\nm=audio 4002 RTP/AVP 0\r\n");
        let cases = [
            (&srtp, false, false, Some(488)),
            (&srtp, true, false, None),
            (&srtp, false, true, None),
            (&plain, false, false, None),
            (&disabled, false, false, None),
        ];
        for (offer, tls, allowed, refused) in cases {
            let outcome = check_srtp_transport(offer, tls, allowed);
            assert_eq!(
                outcome.as_ref().err().map(|r| r.status),
                refused,
                "{tls} {allowed}"
            );
            if let Err(refusal) = outcome {
                assert!(
                    refusal.reason.contains("sip.srtp_over_plain_transport"),
                    "{refusal}"
                );
            }
        }
    }

    #[test]
    fn an_srtp_stream_is_planned_with_the_first_crypto_line_callrec_supports() {
        let description = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY_CM}\r\n\
             a=crypto:2 AEAD_AES_128_GCM inline:{KEY_GCM}\r\n\
             a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_CM}\r\n\
             m=audio 4002 RTP/AVP 0\r\n"
        ));
        let plans = plan_streams(&description, None, None).expect("planned");
        let srtp = plans[0]
            .as_ref()
            .and_then(|p| p.srtp.as_ref())
            .expect("SRTP");
        assert_eq!((srtp.tag, srtp.key.suite()), (2, Suite::AeadAes128Gcm));
        assert!(plans[1].as_ref().is_some_and(|p| p.srtp.is_none()));
    }

    #[test]
    fn srtp_streams_without_a_usable_key_are_refused_and_alone_they_are_a_488_naming_the_keys() {
        let mixed = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY_CM}\r\n\
             m=audio 4002 RTP/AVP 0\r\n"
        ));
        let plans = plan_streams(&mixed, None, None).expect("the plain stream");
        assert!(plans[0].is_none() && plans[1].is_some());
        for (media, why) in [
            (
                format!("m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_CM}|1:4\r\n"),
                "MKI is not supported",
            ),
            ("m=audio 4000 RTP/SAVP 0\r\n".into(), "no a=crypto line"),
            ("m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\na=fingerprint:sha-256 00\r\n".into(), "no a=crypto line"),
        ] {
            let refusal = plan_streams(&offer(&media), None, None).expect_err("nothing to receive");
            assert_eq!(refusal.status, 488);
            assert!(
                refusal.reason.contains("no SRTP keys callrec accepts") && refusal.reason.contains(why),
                "{refusal}"
            );
        }
    }

    #[test]
    fn a_reoffer_keeps_its_keys_or_is_refused() {
        let first = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_CM}\r\n"
        ));
        let plans = plan_streams(&first, None, None).expect("planned");
        let in_use = plans[0].as_ref().and_then(|p| p.srtp.as_ref());
        let same_key_new_tag = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:7 AEAD_AES_128_GCM inline:{KEY_GCM}\r\n\
             a=crypto:8 AES_CM_128_HMAC_SHA1_80 inline:{KEY_CM}\r\n"
        ));
        assert_eq!(
            reoffered_crypto(in_use, &same_key_new_tag.media[0]),
            Ok(Some(8))
        );
        let new_key = offer(&format!(
            "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AEAD_AES_128_GCM inline:{KEY_GCM}\r\n"
        ));
        let plain = offer("m=audio 4000 RTP/AVP 0\r\n");
        for (in_use, m) in [
            (in_use, &new_key.media[0]),
            (in_use, &plain.media[0]),
            (None, &first.media[0]),
        ] {
            assert_eq!(reoffered_crypto(in_use, m).map_err(|r| r.status), Err(488));
        }
        assert_eq!(reoffered_crypto(None, &plain.media[0]), Ok(None));
    }
}
