//! Signed links to a recording's audio: what lets an `<audio src>` (which cannot send an
//! Authorization header) fetch a recording its caller may hear. A link names the recording,
//! its organisation, what it is for (play or download), when it expires and the token it was
//! made for; an HMAC-SHA256 over all of them under the server's link key is its signature.
//! Pure: the caller hands in the time; must never read a clock or a request.
//!
//! The key: derived from the configured secrets key (`store.secrets_key[_file]`) when there is
//! one, so every worker of a fleet sharing it accepts every worker's links and a restart keeps
//! them; otherwise 32 random bytes drawn at start, and links die with the process (acceptable:
//! they live [`LINK_LIFE_SECS`] and the portal asks for fresh ones).
//!
//! A valid signature is not the whole of the right: the route checks again, as of now, that the
//! token is still active and its role may still do this with this recording.

use crate::config::Config;
use crate::time::Time;
use aws_lc_rs::hmac;
use std::fmt::Write as _;

/// How long a link works: long enough to listen to a long call from one page view.
pub(crate) const LINK_LIFE_SECS: u64 = 15 * 60;

/// What a link is for: the audio inline, or as a file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Play,
    Download,
}

impl Purpose {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Play => "play",
            Purpose::Download => "download",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Purpose> {
        match text {
            "play" => Some(Purpose::Play),
            "download" => Some(Purpose::Download),
            _ => None,
        }
    }
}

/// Everything a link's signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link<'a> {
    pub org: &'a str,
    pub id: &'a str,
    pub purpose: Purpose,
    /// Unix seconds after which the link is refused.
    pub expires: u64,
    /// The person and the token the link was made for.
    pub person: &'a str,
    pub token_id: &'a str,
}

/// Why a link is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LinkRefusal {
    /// Signed by another key, or any part of it changed since.
    #[error("this link is not valid")]
    NotValid,
    /// Genuine, but too old.
    #[error("this link expired at {0}")]
    Expired(String),
}

/// The server's key for signing links (see the module doc).
pub struct LinkKey(hmac::Key);

impl LinkKey {
    /// The key `config` gives: derived from its secrets key, or random when it has none.
    pub fn from_config(config: &Config) -> Result<LinkKey, String> {
        match config.secrets_key()? {
            Some(secrets) => Ok(LinkKey::from_bytes(
                &secrets.derive("callrec recording links v1"),
            )),
            None => LinkKey::random(),
        }
    }

    /// 32 bytes from the operating system's random generator.
    pub fn random() -> Result<LinkKey, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| format!("no randomness for the recording links' key: {e}"))?;
        Ok(LinkKey::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; 32]) -> LinkKey {
        LinkKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The link's signature, as lowercase hex.
    pub(crate) fn sign(&self, link: &Link<'_>) -> String {
        let tag = hmac::sign(&self.0, &message(link));
        tag.as_ref().iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }

    /// Accepts `signature` for `link` at `now`: genuine (compared in constant time) and not
    /// expired.
    pub(crate) fn check(
        &self,
        link: &Link<'_>,
        signature: &str,
        now: Time,
    ) -> Result<(), LinkRefusal> {
        let tag = from_hex(signature).ok_or(LinkRefusal::NotValid)?;
        hmac::verify(&self.0, &message(link), &tag).map_err(|_| LinkRefusal::NotValid)?;
        if now.as_nanos() / 1_000_000_000 >= link.expires {
            let at = Time::from_nanos(link.expires.saturating_mul(1_000_000_000));
            return Err(LinkRefusal::Expired(at.to_rfc3339()));
        }
        Ok(())
    }
}

/// The signed bytes: every field prefixed by its length, so no two links share a message
/// however their fields are cut.
fn message(link: &Link<'_>) -> Vec<u8> {
    let expires = link.expires.to_string();
    let fields = [
        "recording-link-v1",
        link.org,
        link.id,
        link.purpose.as_str(),
        &expires,
        link.person,
        link.token_id,
    ];
    let mut out = Vec::new();
    for field in fields {
        out.extend_from_slice(format!("{}:", field.len()).as_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// 64 hex digits as 32 bytes, or `None`.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000;

    fn at(secs: u64) -> Time {
        Time::from_nanos(secs * 1_000_000_000)
    }

    fn link(expires: u64) -> Link<'static> {
        Link {
            org: "acme",
            id: "a84b4c76e667-00f3a9c2e1b4d765",
            purpose: Purpose::Play,
            expires,
            person: "alice",
            token_id: "0123456789abcdef",
        }
    }

    #[test]
    fn a_link_works_until_it_expires_then_says_when_it_did() {
        let key = LinkKey::random().expect("key");
        let fresh = link(NOW + LINK_LIFE_SECS);
        let sig = key.sign(&fresh);
        assert_eq!(sig.len(), 64);
        assert_eq!(key.check(&fresh, &sig, at(NOW)), Ok(()));
        assert_eq!(
            key.check(&fresh, &sig, at(NOW + LINK_LIFE_SECS - 1)),
            Ok(())
        );
        let expired = key.check(&fresh, &sig, at(NOW + LINK_LIFE_SECS));
        assert_eq!(
            expired.map_err(|e| e.to_string()),
            Err("this link expired at 2026-11-18T11:21:40.000Z".into())
        );
        // Signed with an expiry already past: refused at once.
        let past = link(NOW - 1);
        let sig = key.sign(&past);
        assert!(matches!(
            key.check(&past, &sig, at(NOW)),
            Err(LinkRefusal::Expired(_))
        ));
    }

    #[test]
    fn any_change_to_a_link_or_its_signature_makes_it_invalid() {
        let key = LinkKey::random().expect("key");
        let genuine = link(NOW + 60);
        let sig = key.sign(&genuine);
        let changed = [
            Link {
                org: "globex",
                ..genuine.clone()
            },
            Link {
                id: "another",
                ..genuine.clone()
            },
            Link {
                purpose: Purpose::Download,
                ..genuine.clone()
            },
            Link {
                expires: NOW + 61,
                ..genuine.clone()
            },
            Link {
                person: "bob",
                ..genuine.clone()
            },
            Link {
                token_id: "fedcba9876543210",
                ..genuine.clone()
            },
        ];
        for other in changed {
            assert_eq!(
                key.check(&other, &sig, at(NOW)),
                Err(LinkRefusal::NotValid),
                "{other:?}"
            );
        }
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("hex");
        for bad in [flipped.as_str(), "", "zz", &sig[..62], &format!("{sig}00")] {
            assert_eq!(
                key.check(&genuine, bad, at(NOW)),
                Err(LinkRefusal::NotValid),
                "{bad}"
            );
        }
        // Another server's key (another start without a configured secret).
        let other = LinkKey::random().expect("key");
        assert_eq!(
            other.check(&genuine, &sig, at(NOW)),
            Err(LinkRefusal::NotValid)
        );
    }

    #[test]
    fn a_configured_secret_gives_every_server_the_same_key() {
        let mut config = Config::default();
        config.store.secrets_key =
            Some(crate::store::sealed::SecretsKey::parse(&"22".repeat(32)).expect("key"));
        let one = LinkKey::from_config(&config).expect("key");
        let two = LinkKey::from_config(&config).expect("key");
        let l = link(NOW + 60);
        assert_eq!(two.check(&l, &one.sign(&l), at(NOW)), Ok(()));
        let unset = LinkKey::from_config(&Config::default()).expect("random key");
        assert_eq!(
            unset.check(&l, &one.sign(&l), at(NOW)),
            Err(LinkRefusal::NotValid)
        );
    }
}
