//! Which source addresses may speak SIP to the recorder (`sip.allow`): networks in CIDR
//! notation and single addresses, IPv4 and IPv6. Anyone who reaches the SIP port could
//! otherwise make the recorder record, store and bill whatever they send. Pure: an address
//! in, yes or no out; it never sees a socket, and says nothing of what a refusal looks like.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// One entry of the allow-list: `10.0.0.0/8`, `2001:db8::/32`, or one address (`192.0.2.7`,
/// taken as `/32` or `/128`). Host bits under the prefix are ignored (`10.1.2.3/8` is
/// `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceNetwork(IpNet);

impl SourceNetwork {
    /// Whether `ip` lies in this network. An IPv4 address carried in IPv6 (`::ffff:10.0.0.1`,
    /// as a dual-stack socket reports IPv4 peers) is compared as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for SourceNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<SourceNetwork, String> {
        let text = text.trim();
        let net = match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip.to_canonical()),
            Err(_) => text.parse::<IpNet>().map_err(|_| {
                format!("'{text}' is not an address nor a network (10.0.0.0/8, 2001:db8::/32)")
            })?,
        };
        Ok(SourceNetwork(net.trunc()))
    }
}

impl fmt::Display for SourceNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.prefix_len() == self.0.max_prefix_len() {
            true => write!(f, "{}", self.0.addr()),
            false => write!(f, "{}", self.0),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SourceNetwork {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The sources allowed: an address is admitted when any network holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedSources(Vec<SourceNetwork>);

impl AllowedSources {
    pub fn new(networks: Vec<SourceNetwork>) -> AllowedSources {
        AllowedSources(networks)
    }

    /// The embedded default: this machine only (127.0.0.0/8 and ::1), so a recorder started
    /// without configuration records nobody else's calls.
    pub fn loopback() -> AllowedSources {
        AllowedSources(vec![
            SourceNetwork(IpNet::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8).expect("/8")),
            SourceNetwork(IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ])
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    pub fn networks(&self) -> &[SourceNetwork] {
        &self.0
    }

    /// A comma-separated list (`CALLREC_SIP_ALLOW`): `10.0.0.0/8, 192.0.2.7`.
    pub fn parse_list(text: &str) -> Result<AllowedSources, String> {
        text.split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedSources)
    }
}

impl Default for AllowedSources {
    fn default() -> Self {
        AllowedSources::loopback()
    }
}

impl<'de> serde::Deserialize<'de> for AllowedSources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<SourceNetwork>::deserialize(d).map(AllowedSources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowedSources {
        AllowedSources(entries.iter().map(|e| e.parse().expect(e)).collect())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    #[test]
    fn networks_and_single_addresses_admit_exactly_their_members() {
        let list = allow(&["10.0.0.0/8", "192.0.2.7", "2001:db8:1::/48", "fe80::1"]);
        // (address, admitted)
        let cases = [
            ("10.0.0.0", true),
            ("10.255.255.255", true),
            ("11.0.0.0", false),
            ("9.255.255.255", false),
            ("192.0.2.7", true),
            ("192.0.2.6", false),
            ("192.0.2.8", false),
            ("2001:db8:1::", true),
            ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8:2::", false),
            ("fe80::1", true),
            ("fe80::2", false),
            // IPv4 peers of a dual-stack socket, as it reports them.
            ("::ffff:10.1.2.3", true),
            ("::ffff:192.0.2.7", true),
            ("::ffff:192.0.2.8", false),
            ("127.0.0.1", false),
            ("::1", false),
        ];
        for (address, admitted) in cases {
            assert_eq!(list.admits(ip(address)), admitted, "{address}");
        }
    }

    #[test]
    fn the_default_is_this_machine_only() {
        let loopback = AllowedSources::default();
        for address in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(loopback.admits(ip(address)), "{address}");
        }
        for address in ["10.0.0.1", "128.0.0.1", "0.0.0.0", "::2", "::", "192.0.2.1"] {
            assert!(!loopback.admits(ip(address)), "{address}");
        }
    }

    #[test]
    fn entries_parse_as_written_and_show_as_networks() {
        let shown = |text: &str| text.parse::<SourceNetwork>().map(|n| n.to_string());
        assert_eq!(shown("10.0.0.0/8"), Ok("10.0.0.0/8".into()));
        assert_eq!(shown(" 10.1.2.3/8 "), Ok("10.0.0.0/8".into()));
        assert_eq!(shown("192.0.2.7"), Ok("192.0.2.7".into()));
        assert_eq!(shown("192.0.2.7/32"), Ok("192.0.2.7".into()));
        assert_eq!(shown("0.0.0.0/0"), Ok("0.0.0.0/0".into()));
        assert_eq!(shown("2001:db8::/32"), Ok("2001:db8::/32".into()));
        assert_eq!(shown("::ffff:192.0.2.7"), Ok("192.0.2.7".into()));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "::/129",
            "10.0.0.1:5060",
        ] {
            let err = bad.parse::<SourceNetwork>().expect_err(bad);
            assert!(err.contains("is not an address nor a network"), "{err}");
        }
    }

    #[test]
    fn a_comma_separated_list_is_read_entry_by_entry() {
        let list = AllowedSources::parse_list("10.0.0.0/8, 192.0.2.7,::1").expect("valid");
        assert_eq!(list, allow(&["10.0.0.0/8", "192.0.2.7", "::1"]));
        let err = AllowedSources::parse_list("10.0.0.0/8,nowhere").expect_err("invalid");
        assert!(err.starts_with("'nowhere' is not"), "{err}");
        assert_eq!(
            AllowedSources::parse_list(""),
            Ok(AllowedSources(Vec::new()))
        );
    }
}
