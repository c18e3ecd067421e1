//! Which URLs a webhook may name. A customer administrator chooses the URL and the server
//! sends to it, so the rules keep a customer from steering the server at addresses only it
//! can reach:
//! - `https://` only; `http://` to loopback (a receiver on the same machine, and the tests),
//!   or anywhere when the operator sets `webhooks.allow_http`.
//! - Never link-local (169.254.0.0/16, where cloud metadata services answer; fe80::/10), the
//!   unspecified address, multicast or broadcast: checked here for an address in the URL and
//!   by the deliverer for every address a name resolves to ([`forbidden`]).
//! - No user name or password in the URL (the secret signs; credentials would be logged).
//!
//! Private networks (10/8, 172.16/12, 192.168/16) are allowed: a receiver on the customer's
//! own network behind the recorder is a normal deployment, and the operator who runs callrec
//! on a network with internal services to protect fronts it with an egress policy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL cannot be a webhook's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("'{0}' is not an https:// URL")]
    Scheme(String),
    #[error("'{0}': http:// is accepted to loopback only (the operator's webhooks.allow_http allows it elsewhere)")]
    PlainHttp(String),
    #[error("'{0}' has no host")]
    NoHost(String),
    #[error("'{0}' carries a user name or password")]
    Userinfo(String),
    #[error("'{0}' is longer than {MAX_URL_LEN} bytes or holds spaces or control characters")]
    Unreadable(String),
    #[error("'{0}' names an address webhooks may not reach (link-local, unspecified, multicast or broadcast)")]
    Address(String),
}

/// Checks `url` against the rules above.
pub fn check(url: &str, allow_http: bool) -> Result<(), TargetError> {
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::Unreadable(url.into()));
    }
    let (plain, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else {
        return Err(TargetError::Scheme(url.into()));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(TargetError::Userinfo(url.into()));
    }
    let host = host_of(authority);
    if host.is_empty() {
        return Err(TargetError::NoHost(url.into()));
    }
    let ip = host.parse::<IpAddr>().ok();
    if ip.is_some_and(forbidden) {
        return Err(TargetError::Address(url.into()));
    }
    let loopback = ip.is_some_and(|ip| ip.is_loopback()) || host.eq_ignore_ascii_case("localhost");
    if plain && !loopback && !allow_http {
        return Err(TargetError::PlainHttp(url.into()));
    }
    Ok(())
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`), without brackets.
fn host_of(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// An address no webhook delivery may go to.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4 == Ipv4Addr::BROADCAST
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden(IpAddr::V4(v4)),
            None => {
                v6.is_unspecified()
                    || v6.is_multicast()
                    || (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6 == Ipv6Addr::UNSPECIFIED
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_public_or_private_and_http_to_loopback() {
        for url in [
            "https://hooks.example.com/callrec",
            "https://10.1.2.3:8443/in",
            "https://[2001:db8::1]/in",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/",
            "http://localhost/x",
        ] {
            assert_eq!(check(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn plain_http_elsewhere_only_when_the_operator_allows() {
        let url = "http://hooks.example.com/in";
        assert!(matches!(check(url, false), Err(TargetError::PlainHttp(_))));
        assert_eq!(check(url, true), Ok(()));
    }

    #[test]
    fn metadata_link_local_and_other_internal_addresses_are_refused() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/",
            "https://[fe80::1]/",
            "https://0.0.0.0/",
            "https://[::ffff:169.254.169.254]/",
            "https://224.0.0.1/",
        ] {
            assert!(
                matches!(check(url, true), Err(TargetError::Address(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        assert!(matches!(
            check("ftp://x/", true),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            check("https:///p", true),
            Err(TargetError::NoHost(_))
        ));
        assert!(matches!(
            check("https://u:p@example.com/", true),
            Err(TargetError::Userinfo(_))
        ));
        assert!(matches!(
            check("https://exa mple.com/", true),
            Err(TargetError::Unreadable(_))
        ));
    }
}
