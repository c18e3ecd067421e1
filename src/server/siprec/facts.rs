//! What a call's answer and records say, as pure functions of the offer, the session's plans,
//! the policy and the ports: the SDP answer, whose recording it is and how long it is kept,
//! and the description of the call its sidecar keeps. No IO, no clock, no state: the call
//! table does the acting.

use super::latch::LatchStats;
use super::ports::PortBlock;
use crate::policy::effective::RecordingPolicy;
use crate::recorder::Leg;
use crate::session::StreamPlan;
use crate::sip::metadata::Metadata;
use crate::sip::sdp::{self, Answer, LocalOrigin, SessionDescription, StreamAnswer};
use crate::sip::Transport;
use crate::store::key::RetentionClass;
use crate::store::metadata::StorageInfo;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// How the client reached us, as the logs and the sidecar say it.
pub(super) fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "udp",
        Transport::Tcp(_) => "tcp",
        Transport::Tls(_) => "tls",
    }
}

/// A received stream as the sidecar describes it: its label, leg and sender.
pub(super) fn stream(plan: &StreamPlan) -> Value {
    let mut stream = json!({
        "label": plan.label,
        "leg": plan.leg.map(|l| if l == Leg::A { "a" } else { "b" }),
        "sender": plan.sender.as_ref().map(|(name, aor)| json!({ "name": name, "aor": aor })),
    });
    // An SRTP stream names its suite (never its keys).
    if let Some(crypto) = &plan.srtp {
        stream["srtp"] = crypto.key.suite().name().into();
    }
    stream
}

/// What one of a stream's sockets received, once it is closed.
pub(super) fn socket(stats: &LatchStats, source: Option<SocketAddr>) -> Value {
    json!({
        "source": source.map(|s| s.to_string()),
        "kept": stats.kept,
        "dropped_foreign": stats.foreign,
        "dropped_not_rtp": stats.not_latchable,
    })
}

/// The metadata's participants as the sidecar lists them.
pub(super) fn participants(metadata: &Metadata) -> serde_json::Value {
    metadata
        .participants
        .iter()
        .map(|p| json!({ "id": p.participant_id, "names": p.names, "aors": p.aors }))
        .collect()
}

/// The SDP answer: each received stream on its port (with our `a=crypto` value from
/// `crypto`, by media index, for an SRTP one), the rest refused.
pub(super) fn answer(
    offer: &SessionDescription,
    plans: &[Option<StreamPlan>],
    ports: &PortBlock,
    origin: &LocalOrigin,
    address: IpAddr,
    crypto: &[Option<String>],
) -> Result<String, sdp::AnswerError> {
    let mut next = 0u32;
    let streams: Vec<StreamAnswer> = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| match plans.get(i).cloned().flatten() {
            Some(plan) if m.port != 0 => {
                let port = ports.rtp_port(next);
                next += 1;
                let offered: Vec<u8> = plan
                    .payload_types
                    .iter()
                    .copied()
                    .filter(|pt| m.rtp_format(*pt).is_some())
                    .collect();
                if offered.is_empty() {
                    return StreamAnswer::Reject;
                }
                StreamAnswer::Accept {
                    port,
                    rtcp_mux: plan.rtcp_mux && m.rtcp_mux,
                    payload_types: offered,
                    crypto: crypto.get(i).cloned().flatten(),
                }
            }
            Some(_) => {
                next += 1;
                StreamAnswer::Reject
            }
            None => StreamAnswer::Reject,
        })
        .collect();
    Ok(Answer::new(offer, origin.clone(), address, &streams)?.encode())
}

/// Whose recording and how long it is kept: from policy, or the defaults (the organisation
/// `default`, Dubber Go, 30 days) when none is configured.
pub(super) fn storage_info(
    policy: Option<&RecordingPolicy>,
    recorded: Option<String>,
) -> StorageInfo {
    match policy {
        Some(p) => StorageInfo {
            org: p.org.0.clone(),
            user: Some(p.user.0.clone()),
            location: Some(p.location.0.clone()),
            provider: p.provider.as_str().to_string(),
            plan: p.plan.to_string(),
            retention: p.retention,
            retained_since: String::new(),
        },
        None => StorageInfo {
            org: "default".into(),
            user: recorded,
            location: None,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: RetentionClass::Days(30),
            retained_since: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::siprec::ports::PortPool;
    use crate::session::plan_streams;
    use crate::sip::metadata::Participant;

    /// Two labelled audio streams (PCMU and a dynamic type callrec does not decode, PCMA,
    /// telephone-event; the second muxes RTCP) and a video stream.
    const OFFER: &str = "v=0\r\no=src 7 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n\
        t=0 0\r\n\
        m=audio 40000 RTP/AVP 0 96 8 101\r\na=rtpmap:96 X-UNKNOWN/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=label:1\r\na=sendonly\r\n\
        m=audio 40002 RTP/AVP 8\r\na=label:2\r\na=rtcp-mux\r\na=sendonly\r\n\
        m=video 40004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n";

    fn offer(text: &str) -> SessionDescription {
        SessionDescription::parse(text, &sdp::Limits::default()).expect("the offer parses")
    }

    fn origin() -> LocalOrigin {
        LocalOrigin {
            username: "callrec".into(),
            session_id: 42,
            version: 1,
        }
    }

    #[test]
    fn the_answer_takes_each_planned_stream_on_its_port_and_refuses_the_rest() {
        let offer = offer(OFFER);
        let plans = plan_streams(&offer, None, None).expect("two audio streams are planned");
        assert_eq!(plans.iter().flatten().count(), 2);
        let ports = PortPool::new(30_000..=30_009)
            .expect("a range")
            .allocate(2)
            .expect("ports");
        let address: IpAddr = "198.51.100.7".parse().expect("an address");
        let text = answer(&offer, &plans, &ports, &origin(), address, &[]).expect("an answer");

        let answer =
            SessionDescription::parse(&text, &sdp::Limits::default()).expect("the answer parses");
        assert_eq!(answer.media.len(), 3, "one answer line per offered stream");
        let (first, second, video) = (&answer.media[0], &answer.media[1], &answer.media[2]);
        assert_eq!(first.port, ports.rtp_port(0));
        assert_eq!(second.port, ports.rtp_port(1));
        assert_eq!(video.port, 0, "video is refused");
        // Only what the plan decodes, in the offer's order.
        let first_types: Vec<u8> = first.rtp_formats.iter().map(|f| f.payload_type).collect();
        assert!(first_types.contains(&0) && first_types.contains(&8));
        assert!(!first_types.contains(&96), "the unknown codec is left out");
        assert_eq!(second.formats, vec!["8".to_string()]);
        assert!(!first.rtcp_mux, "the first stream did not offer rtcp-mux");
        assert!(second.rtcp_mux);
        assert_eq!(first.connection, Some(address));
        assert!(
            text.contains("o=callrec 42 1 IN IP4 198.51.100.7"),
            "{text}"
        );
    }

    #[test]
    fn a_stream_the_offerer_disabled_is_refused_but_keeps_its_port_slot() {
        let disabled = OFFER.replace("m=audio 40000", "m=audio 0");
        let offer = offer(&disabled);
        let mut plans = plan_streams(&offer, None, None).expect("the second stream is planned");
        // As a re-offer sees it: the plans of the first offer, the first stream now disabled.
        if plans[0].is_none() {
            plans[0] = plan_streams(&self::offer(OFFER), None, None).expect("plans")[0].clone();
        }
        let ports = PortPool::new(30_000..=30_009)
            .expect("a range")
            .allocate(2)
            .expect("ports");
        let text = answer(
            &offer,
            &plans,
            &ports,
            &origin(),
            "127.0.0.1".parse().unwrap(),
            &[],
        )
        .expect("an answer");
        let answer = SessionDescription::parse(&text, &sdp::Limits::default()).expect("parses");
        assert_eq!(answer.media[0].port, 0);
        assert_eq!(
            answer.media[1].port,
            ports.rtp_port(1),
            "the second stream stays on its own port"
        );
    }

    #[test]
    fn storage_info_comes_from_the_policy_else_the_defaults() {
        let policy: RecordingPolicy = serde_json::from_value(json!({
            "orgId": "acme", "personId": "alice", "locationId": "site-acme",
            "mode": "Always with Pause/Resume",
            "recordFromAnswer": true, "userStartStop": false, "pauseResume": true,
            "pauseResumeNotification": "Play Announcement", "reminder": 30,
            "announcement": { "internalCalls": false, "pstnCalls": true },
            "recordVoicemail": true, "provider": "dubber", "plan": "dubber-standard",
            "retention": "90d", "region": "EU", "storage": "default",
            "platform": { "serviceProvider": "acme", "externalGroup": "site-acme",
                          "externalIdentifier": "alice" },
        }))
        .expect("a recording policy");
        let info = storage_info(Some(&policy), Some("sip:alice@acme.example".into()));
        assert_eq!(info.org, "acme");
        assert_eq!(
            info.user.as_deref(),
            Some("alice"),
            "the person, not the AOR"
        );
        assert_eq!(info.provider, "dubber");
        assert_eq!(info.plan, "dubber-standard");
        assert_eq!(info.retention, RetentionClass::Days(90));
        assert_eq!(info.retained_since, "");

        let info = storage_info(None, Some("sip:bob@example.com".into()));
        assert_eq!(info.org, "default");
        assert_eq!(info.user.as_deref(), Some("sip:bob@example.com"));
        assert_eq!(info.provider, "dubber");
        assert_eq!(info.plan, "dubber-go");
        assert_eq!(info.retention, RetentionClass::Days(30));
        assert_eq!(storage_info(None, None).user, None);
    }

    #[test]
    fn the_sidecar_describes_streams_sockets_and_participants() {
        let offer = offer(OFFER);
        let plans = plan_streams(&offer, None, None).expect("plans");
        let first = plans[0].as_ref().expect("the first stream is planned");
        let described = stream(first);
        assert_eq!(described["label"], "1");
        assert_eq!(described["leg"], "a");
        assert_eq!(described["sender"], Value::Null, "no metadata, no sender");

        let stats = LatchStats {
            kept: 250,
            foreign: 3,
            not_latchable: 1,
        };
        let source: SocketAddr = "192.0.2.10:40000".parse().expect("an address");
        assert_eq!(
            socket(&stats, Some(source)),
            json!({ "source": "192.0.2.10:40000", "kept": 250, "dropped_foreign": 3,
                    "dropped_not_rtp": 1 })
        );
        assert_eq!(socket(&stats, None)["source"], Value::Null);

        let metadata = Metadata {
            participants: vec![Participant {
                participant_id: "p1".into(),
                aors: vec!["sip:alice@example.com".into()],
                names: vec!["Alice".into()],
            }],
            ..Metadata::default()
        };
        assert_eq!(
            participants(&metadata),
            json!([{ "id": "p1", "names": ["Alice"], "aors": ["sip:alice@example.com"] }])
        );
        assert_eq!(transport_name(Transport::Udp), "udp");
        assert_eq!(transport_name(Transport::Tcp(3)), "tcp");
        assert_eq!(transport_name(Transport::Tls(4)), "tls");
    }
}
