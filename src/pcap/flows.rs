//! Finding a call's RTP streams in a capture without signalling, and picking its two legs.
//!
//! Like Wireshark's RTP heuristic: a UDP flow (source → destination) is RTP when its
//! datagrams parse as version 2 with a payload type outside the RTCP range, and a source
//! (SSRC) in it sends rising sequence numbers. A flow may carry several SSRCs in turn (a
//! sender that restarts): they stay one leg, because a leg is the flow, not the SSRC.

use super::Datagram;
use crate::rtp::{looks_like_rtcp, RtpPacket};
use crate::time::Time;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

/// Packets an SSRC needs before its flow counts as RTP.
const MIN_PACKETS: u64 = 3;
/// A sequence step this small counts as "rising".
const MAX_STEP: u16 = 100;
/// Flows and SSRCs tracked per capture; beyond these, more are ignored (hostile captures).
const MAX_FLOWS: usize = 4096;
const MAX_SSRCS_PER_FLOW: usize = 64;

/// One RTP stream found in a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpFlow {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// SSRCs that passed the heuristic, in order of appearance.
    pub ssrcs: Vec<u32>,
    /// Payload types seen from those SSRCs, ascending.
    pub payload_types: Vec<u8>,
    pub first: Time,
    pub last: Time,
    pub packets: u64,
}

impl fmt::Display for RtpFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ssrcs: Vec<String> = self.ssrcs.iter().map(|s| format!("{s:#010x}")).collect();
        write!(
            f,
            "{} -> {} ssrc {} pt {:?}, {} packets",
            self.src,
            self.dst,
            ssrcs.join(","),
            self.payload_types,
            self.packets
        )
    }
}

#[derive(Default)]
struct SsrcTally {
    packets: u64,
    rising: u64,
    last_seq: Option<u16>,
    payload_types: u128,
}

struct FlowTally {
    first: Time,
    last: Time,
    ssrcs: Vec<(u32, SsrcTally)>,
}

/// Finds the RTP flows in `datagrams`, ordered by their first packet.
pub fn find_rtp_flows<'a>(datagrams: impl IntoIterator<Item = &'a Datagram>) -> Vec<RtpFlow> {
    let mut flows: HashMap<(SocketAddr, SocketAddr), FlowTally> = HashMap::new();
    for d in datagrams {
        if looks_like_rtcp(&d.payload) {
            continue;
        }
        let Ok(packet) = RtpPacket::parse(d.payload.clone()) else {
            continue;
        };
        if flows.len() >= MAX_FLOWS && !flows.contains_key(&(d.src, d.dst)) {
            continue;
        }
        let flow = flows.entry((d.src, d.dst)).or_insert(FlowTally {
            first: d.time,
            last: d.time,
            ssrcs: Vec::new(),
        });
        flow.last = flow.last.max(d.time);
        let i = match flow.ssrcs.iter().position(|(s, _)| *s == packet.ssrc()) {
            Some(i) => i,
            None if flow.ssrcs.len() < MAX_SSRCS_PER_FLOW => {
                flow.ssrcs.push((packet.ssrc(), SsrcTally::default()));
                flow.ssrcs.len() - 1
            }
            None => continue,
        };
        let tally = &mut flow.ssrcs[i].1;
        tally.packets += 1;
        tally.payload_types |= 1u128 << (packet.payload_type() & 0x7f);
        if let Some(last) = tally.last_seq {
            let step = packet.sequence().wrapping_sub(last);
            if (1..=MAX_STEP).contains(&step) {
                tally.rising += 1;
            }
        }
        tally.last_seq = Some(packet.sequence());
    }

    let mut found: Vec<RtpFlow> = flows
        .into_iter()
        .filter_map(|((src, dst), flow)| {
            let rtp: Vec<&(u32, SsrcTally)> = flow
                .ssrcs
                .iter()
                .filter(|(_, t)| t.packets >= 2 && t.rising * 2 >= t.packets - 1)
                .collect();
            if !rtp.iter().any(|(_, t)| t.packets >= MIN_PACKETS) {
                return None;
            }
            let types = rtp.iter().fold(0u128, |acc, (_, t)| acc | t.payload_types);
            Some(RtpFlow {
                src,
                dst,
                ssrcs: rtp.iter().map(|(s, _)| *s).collect(),
                payload_types: (0..128u8).filter(|pt| types & (1 << pt) != 0).collect(),
                first: flow.first,
                last: flow.last,
                packets: rtp.iter().map(|(_, t)| t.packets).sum(),
            })
        })
        .collect();
    found.sort_by_key(|f| (f.first, f.src, f.dst));
    found
}

/// How the operator names a leg: by SSRC (hex) or by UDP port.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LegSelector {
    Ssrc(u32),
    Port(u16),
}

impl std::str::FromStr for LegSelector {
    type Err = String;
    /// `0x1234abcd` is an SSRC; a plain number up to 65535 is a port; longer hex is an SSRC.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is neither an SSRC (hex, e.g. 0x1a2b3c4d) nor a UDP port");
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .map(LegSelector::Ssrc)
                .map_err(|_| bad());
        }
        if let Ok(port) = s.parse::<u16>() {
            return Ok(LegSelector::Port(port));
        }
        u32::from_str_radix(s, 16)
            .map(LegSelector::Ssrc)
            .map_err(|_| bad())
    }
}

impl LegSelector {
    /// How well `flow` matches: SSRC, else the port it is sent to, else the port it comes from.
    fn rank(self, flow: &RtpFlow) -> Option<u8> {
        match self {
            LegSelector::Ssrc(ssrc) => flow.ssrcs.contains(&ssrc).then_some(0),
            LegSelector::Port(port) if flow.dst.port() == port => Some(0),
            LegSelector::Port(port) if flow.src.port() == port => Some(1),
            LegSelector::Port(_) => None,
        }
    }

    fn pick(self, flows: &[RtpFlow], not: Option<usize>) -> Option<usize> {
        (0..flows.len())
            .filter(|&i| Some(i) != not)
            .filter_map(|i| self.rank(&flows[i]).map(|r| (r, i)))
            .min()
            .map(|(_, i)| i)
    }
}

/// Why a capture's legs could not be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LegChoiceError {
    /// Nothing in the capture looks like RTP.
    #[error("the capture holds no RTP stream")]
    NoRtp,
    /// An operator's selector matches no RTP flow.
    #[error("no RTP stream matches {0:?}")]
    NoMatch(LegSelector),
    /// Leg B was named and is the only stream, which leaves nothing to be leg A.
    #[error("the stream named as leg B is the capture's only RTP stream: name it as leg A")]
    OnlyLegB,
}

/// The chosen legs, as indexes into the flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegChoice {
    pub a: usize,
    /// `None` for a one-leg capture: it is still recorded.
    pub b: Option<usize>,
}

/// Picks leg A and leg B: the selectors given, else the flows that start first (A first).
pub fn choose_legs(
    flows: &[RtpFlow],
    leg_a: Option<LegSelector>,
    leg_b: Option<LegSelector>,
) -> Result<LegChoice, LegChoiceError> {
    if flows.is_empty() {
        return Err(LegChoiceError::NoRtp);
    }
    let named = |sel: LegSelector, not| sel.pick(flows, not).ok_or(LegChoiceError::NoMatch(sel));
    let earliest_other = |not: usize| (0..flows.len()).find(|&i| i != not);
    let (a, b) = match (leg_a, leg_b) {
        (Some(a), Some(b)) => {
            let a = named(a, None)?;
            (a, Some(named(b, Some(a))?))
        }
        (Some(a), None) => {
            let a = named(a, None)?;
            (a, earliest_other(a))
        }
        (None, Some(b)) => {
            let b = named(b, None)?;
            let a = earliest_other(b).ok_or(LegChoiceError::OnlyLegB)?;
            (a, Some(b))
        }
        (None, None) => (0, earliest_other(0)),
    };
    Ok(LegChoice { a, b })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rtp(ssrc: u32, seq: u16, pt: u8) -> Bytes {
        let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        Bytes::from(p)
    }

    fn datagram(ms: u64, src: &str, dst: &str, payload: Bytes) -> Datagram {
        Datagram {
            time: Time::from_nanos(ms * 1_000_000),
            src: src.parse().expect("test address"),
            dst: dst.parse().expect("test address"),
            payload,
        }
    }

    fn call() -> Vec<Datagram> {
        let mut d = Vec::new();
        for i in 0..10u16 {
            let t = u64::from(i) * 20;
            d.push(datagram(
                t + 250,
                "10.0.0.2:6000",
                "10.0.0.9:5002",
                rtp(0xbbbb, i, 8),
            ));
            d.push(datagram(
                t,
                "10.0.0.1:4000",
                "10.0.0.9:5000",
                rtp(0xaaaa, 100 + i, 0),
            ));
            // noise: RTCP and a non-RTP flow
            d.push(datagram(
                t,
                "10.0.0.1:4001",
                "10.0.0.9:5001",
                Bytes::from_static(&[0x81, 200, 0, 1, 0, 0, 0, 1]),
            ));
            d.push(datagram(
                t,
                "10.0.0.7:53",
                "10.0.0.9:53",
                Bytes::from_static(b"dns?"),
            ));
        }
        d
    }

    #[test]
    fn finds_both_legs_and_orders_them_by_start() {
        let flows = find_rtp_flows(&call());
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].ssrcs, vec![0xaaaa]);
        assert_eq!(flows[0].payload_types, vec![0]);
        assert_eq!(flows[1].ssrcs, vec![0xbbbb]);
        assert_eq!(flows[1].payload_types, vec![8]);
        assert_eq!(flows[0].packets, 10);
        let choice = choose_legs(&flows, None, None).expect("two legs");
        assert_eq!(choice, LegChoice { a: 0, b: Some(1) });
    }

    #[test]
    fn an_ssrc_change_stays_one_flow() {
        let mut d = Vec::new();
        for i in 0..6u16 {
            d.push(datagram(
                u64::from(i) * 20,
                "10.0.0.1:4000",
                "10.0.0.9:5000",
                rtp(1, i, 0),
            ));
        }
        for i in 0..6u16 {
            d.push(datagram(
                200 + u64::from(i) * 20,
                "10.0.0.1:4000",
                "10.0.0.9:5000",
                rtp(2, 9000 + i, 0),
            ));
        }
        let flows = find_rtp_flows(&d);
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].ssrcs, vec![1, 2]);
    }

    #[test]
    fn random_sequence_numbers_are_not_rtp() {
        let d: Vec<Datagram> = (0..20u16)
            .map(|i| {
                datagram(
                    u64::from(i),
                    "10.0.0.1:4000",
                    "10.0.0.9:5000",
                    rtp(7, i.wrapping_mul(7919), 0),
                )
            })
            .collect();
        assert!(find_rtp_flows(&d).is_empty());
        assert_eq!(choose_legs(&[], None, None), Err(LegChoiceError::NoRtp));
    }

    #[test]
    fn selectors_override_the_order() {
        let flows = find_rtp_flows(&call());
        let by_ssrc = choose_legs(&flows, Some(LegSelector::Ssrc(0xbbbb)), None);
        assert_eq!(by_ssrc, Ok(LegChoice { a: 1, b: Some(0) }));
        let by_port = choose_legs(
            &flows,
            Some(LegSelector::Port(5002)),
            Some(LegSelector::Port(4000)),
        );
        assert_eq!(by_port, Ok(LegChoice { a: 1, b: Some(0) }));
        let only_b = choose_legs(&flows, None, Some(LegSelector::Port(5000)));
        assert_eq!(only_b, Ok(LegChoice { a: 1, b: Some(0) }));
        let missing = choose_legs(&flows, Some(LegSelector::Ssrc(0x1234)), None);
        assert_eq!(
            missing,
            Err(LegChoiceError::NoMatch(LegSelector::Ssrc(0x1234)))
        );
    }

    #[test]
    fn one_leg_capture_has_no_leg_b() {
        let flows: Vec<RtpFlow> = find_rtp_flows(&call()).into_iter().take(1).collect();
        assert_eq!(
            choose_legs(&flows, None, None),
            Ok(LegChoice { a: 0, b: None })
        );
    }

    #[test]
    fn selector_syntax() {
        assert_eq!("0x1A2b".parse(), Ok(LegSelector::Ssrc(0x1a2b)));
        assert_eq!("5004".parse(), Ok(LegSelector::Port(5004)));
        assert_eq!("deadbeef".parse(), Ok(LegSelector::Ssrc(0xdeadbeef)));
        assert!("zz".parse::<LegSelector>().is_err());
    }
}
