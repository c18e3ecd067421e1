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
    /// `SSRC 0xdeadbeef (3735928559), 10.0.0.1:4000 → 10.0.0.9:5000, payload type 0, 250
    /// packets`: SSRCs in hex and decimal, as Wireshark shows them in its two views.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ssrcs: Vec<String> = self.ssrcs.iter().map(|&s| ssrc_text(s)).collect();
        let types: Vec<String> = self.payload_types.iter().map(u8::to_string).collect();
        write!(
            f,
            "SSRC {}, {} → {}, payload type {}, {} packets",
            ssrcs.join(" and "),
            self.src,
            self.dst,
            types.join(","),
            self.packets
        )
    }
}

/// An SSRC as people compare it with Wireshark: `0xdeadbeef (3735928559)`.
pub fn ssrc_text(ssrc: u32) -> String {
    format!("{ssrc:#010x} ({ssrc})")
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

/// How the operator names a leg: by SSRC or by UDP port.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LegSelector {
    Ssrc(u32),
    Port(u16),
}

impl std::str::FromStr for LegSelector {
    type Err = String;
    /// Written the way Wireshark shows them: `0xdeadbeef` is an SSRC in hex; plain digits are
    /// decimal, a UDP port up to 65535 and an SSRC above (`ssrc:N` names a small decimal SSRC,
    /// `port:N` a port explicitly). Hex without `0x` is refused rather than guessed: `1234`
    /// would read differently in the two bases.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "'{s}' is neither an SSRC (0x1a2b3c4d in hex, or decimal) nor a UDP port \
                 (ssrc:N and port:N say which)"
            )
        };
        let decimal = |d: &str| d.trim().parse::<u32>().map_err(|_| bad());
        let text = s.trim();
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .map(LegSelector::Ssrc)
                .map_err(|_| bad());
        }
        if let Some(n) = text.strip_prefix("ssrc:") {
            return match n.trim().strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).map_err(|_| bad()),
                None => decimal(n),
            }
            .map(LegSelector::Ssrc);
        }
        if let Some(n) = text.strip_prefix("port:") {
            return n.trim().parse().map(LegSelector::Port).map_err(|_| bad());
        }
        if text.chars().all(|c| c.is_ascii_digit()) {
            let n = decimal(text)?;
            return Ok(match u16::try_from(n) {
                Ok(port) => LegSelector::Port(port),
                Err(_) => LegSelector::Ssrc(n),
            });
        }
        if u32::from_str_radix(text, 16).is_ok() {
            return Err(format!(
                "'{s}': write a hexadecimal SSRC with 0x (0x{text}), a decimal one as digits"
            ));
        }
        Err(bad())
    }
}

impl fmt::Display for LegSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LegSelector::Ssrc(ssrc) => write!(f, "SSRC {}", ssrc_text(ssrc)),
            LegSelector::Port(port) => write!(f, "UDP port {port}"),
        }
    }
}

/// The streams a capture holds, for a message: `1) SSRC ...; 2) SSRC ...`.
fn listing(flows: &[RtpFlow]) -> String {
    let each: Vec<String> = flows
        .iter()
        .enumerate()
        .map(|(i, flow)| format!("{}) {flow}", i + 1))
        .collect();
    each.join("; ")
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
    /// An operator's selector matches no RTP flow; the flows the capture holds, to choose from.
    #[error("no RTP stream matches {0}; the capture holds: {streams}", streams = listing(.1))]
    NoMatch(LegSelector, Vec<RtpFlow>),
    /// Both legs name the same stream: a call's two legs are two streams.
    #[error(
        "--leg-a {0} and --leg-b {1} name the same stream ({2}): a leg is one stream, name two"
    )]
    SameStream(LegSelector, LegSelector, Box<RtpFlow>),
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
    let named = |sel: LegSelector, not| {
        sel.pick(flows, not)
            .ok_or_else(|| LegChoiceError::NoMatch(sel, flows.to_vec()))
    };
    let earliest_other = |not: usize| (0..flows.len()).find(|&i| i != not);
    let (a, b) = match (leg_a, leg_b) {
        (Some(sel_a), Some(sel_b)) => {
            let a = named(sel_a, None)?;
            match sel_b.pick(flows, Some(a)) {
                Some(b) => (a, Some(b)),
                None if sel_b.pick(flows, None) == Some(a) => {
                    let flow = Box::new(flows[a].clone());
                    return Err(LegChoiceError::SameStream(sel_a, sel_b, flow));
                }
                None => return Err(LegChoiceError::NoMatch(sel_b, flows.to_vec())),
            }
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
            Err(LegChoiceError::NoMatch(
                LegSelector::Ssrc(0x1234),
                flows.clone()
            ))
        );
        let message = missing.expect_err("no match").to_string();
        assert!(
            message.starts_with("no RTP stream matches SSRC 0x00001234 (4660); the capture holds: 1) SSRC 0x0000aaaa (43690), 10.0.0.1:4000 → 10.0.0.9:5000, payload type 0, 10 packets; 2) SSRC 0x0000bbbb (48059)"),
            "{message}"
        );
        let same = choose_legs(
            &flows,
            Some(LegSelector::Ssrc(0xaaaa)),
            Some(LegSelector::Port(5000)),
        );
        assert_eq!(
            same,
            Err(LegChoiceError::SameStream(
                LegSelector::Ssrc(0xaaaa),
                LegSelector::Port(5000),
                Box::new(flows[0].clone())
            ))
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
        // Decimal, as Wireshark's decimal view shows SSRCs: above any port, an SSRC.
        assert_eq!("3735928559".parse(), Ok(LegSelector::Ssrc(0xdeadbeef)));
        assert_eq!("99999".parse(), Ok(LegSelector::Ssrc(99999)));
        assert_eq!("ssrc:42".parse(), Ok(LegSelector::Ssrc(42)));
        assert_eq!("port:5004".parse(), Ok(LegSelector::Port(5004)));
        let unprefixed = "deadbeef".parse::<LegSelector>().expect_err("hex needs 0x");
        assert!(unprefixed.contains("0xdeadbeef"), "{unprefixed}");
        assert!("zz".parse::<LegSelector>().is_err());
        assert!("4294967296".parse::<LegSelector>().is_err());
    }
}
