//! Which source a stream's port listens to: the first one that sends it RTP from the address
//! the SDP offer named (any port: clients and SBCs often send from a port other than the one
//! they offered). Everything from anywhere else is counted and dropped, so a stranger's flood
//! or stray garbage cannot reach the recording. Pure: the caller brings the datagram and its
//! source, the latch says keep or drop.

use std::net::{IpAddr, SocketAddr};

/// What happened to a datagram arriving on a stream's port.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// From the latched source: record it.
    Keep,
    /// From another source, or not RTP before the latch was made.
    Drop(DropReason),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The stream is latched to another source.
    ForeignSource,
    /// Nothing latched yet, and this datagram is not RTP from the offered address.
    NotLatchable,
}

/// Counts of a stream's datagrams by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LatchStats {
    pub kept: u64,
    pub foreign: u64,
    pub not_latchable: u64,
}

/// One stream's latch.
#[derive(Clone, Debug)]
pub(crate) struct Latch {
    /// The address the SDP offer gave (`None`: it gave none usable, e.g. `0.0.0.0`, so the
    /// first RTP source from anywhere is taken).
    offered: Option<IpAddr>,
    latched: Option<SocketAddr>,
    pub stats: LatchStats,
}

impl Latch {
    pub(crate) fn new(offered: Option<IpAddr>) -> Latch {
        Latch {
            offered: offered.filter(|ip| !ip.is_unspecified()),
            latched: None,
            stats: LatchStats::default(),
        }
    }

    /// The source this stream is latched to, once one is.
    pub(crate) fn source(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// Judges one datagram from `source`. The first RTP packet from the offered address
    /// makes the latch; RTCP (on a muxed port) from the latched source is kept too.
    pub(crate) fn judge(&mut self, source: SocketAddr, datagram: &[u8]) -> Verdict {
        let verdict = match self.latched {
            Some(latched) if latched == source => Verdict::Keep,
            Some(_) => Verdict::Drop(DropReason::ForeignSource),
            None if self.offered.is_none_or(|ip| same_ip(ip, source.ip()))
                && looks_like_rtp(datagram) =>
            {
                self.latched = Some(source);
                Verdict::Keep
            }
            None => Verdict::Drop(DropReason::NotLatchable),
        };
        match verdict {
            Verdict::Keep => self.stats.kept += 1,
            Verdict::Drop(DropReason::ForeignSource) => self.stats.foreign += 1,
            Verdict::Drop(DropReason::NotLatchable) => self.stats.not_latchable += 1,
        }
        verdict
    }
}

/// An IPv4 address and its IPv4-mapped IPv6 form are the same source.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// A fixed RTP header of version 2 whose second byte is not an RTCP packet type
/// (RFC 5761 §4: 192-223 belong to RTCP on a muxed port).
fn looks_like_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(pt: u8) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn latches_to_the_first_rtp_source_at_the_offered_address_on_any_port() {
        let mut latch = Latch::new(Some("10.0.0.5".parse().unwrap()));
        let cases = [
            (
                "10.0.0.9:4000",
                rtp(0),
                Verdict::Drop(DropReason::NotLatchable),
            ),
            (
                "10.0.0.5:4000",
                b"garbage".to_vec(),
                Verdict::Drop(DropReason::NotLatchable),
            ),
            (
                "10.0.0.5:4000",
                vec![0x80, 200, 0, 6, 1, 2, 3, 4],
                Verdict::Drop(DropReason::NotLatchable),
            ),
            ("10.0.0.5:31000", rtp(0), Verdict::Keep),
            ("10.0.0.5:31000", rtp(8), Verdict::Keep),
            (
                "10.0.0.5:31002",
                rtp(0),
                Verdict::Drop(DropReason::ForeignSource),
            ),
            (
                "10.0.0.9:31000",
                rtp(0),
                Verdict::Drop(DropReason::ForeignSource),
            ),
            ("10.0.0.5:31000", b"x".to_vec(), Verdict::Keep),
        ];
        for (i, (from, datagram, expected)) in cases.into_iter().enumerate() {
            assert_eq!(latch.judge(addr(from), &datagram), expected, "case {i}");
        }
        assert_eq!(latch.source(), Some(addr("10.0.0.5:31000")));
        assert_eq!(
            latch.stats,
            LatchStats {
                kept: 3,
                foreign: 2,
                not_latchable: 3
            }
        );
    }

    #[test]
    fn an_unspecified_offer_latches_to_anyone_sending_rtp() {
        let mut latch = Latch::new(Some("0.0.0.0".parse().unwrap()));
        assert_eq!(latch.judge(addr("192.0.2.1:5000"), &rtp(9)), Verdict::Keep);
        assert_eq!(
            latch.judge(addr("192.0.2.2:5000"), &rtp(9)),
            Verdict::Drop(DropReason::ForeignSource)
        );
    }

    #[test]
    fn ipv4_mapped_sources_match_an_ipv4_offer() {
        let mut latch = Latch::new(Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            latch.judge(addr("[::ffff:127.0.0.1]:7000"), &rtp(0)),
            Verdict::Keep
        );
    }
}
