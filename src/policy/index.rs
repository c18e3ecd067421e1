//! Every organisation, location, user and AOR mapping held in memory ([`PolicyIndex`]), and
//! the AOR key both the admin API and the recorder use ([`normalise_aor`]). Pure: it decodes
//! and applies documents and answers lookups; loading and refreshing it from the policy store
//! is [`crate::policydb::cache`]'s, deciding policy is [`effective_policy`]'s.
//!
//! **Unknown parties** ([`Lookup::Unknown`]) are not recorded: recording is something an
//! administrator enables per user, so a party nobody configured is treated like a new user
//! (`DoNotRecord(UnknownUser)`). A store with no policy at all is the server's case to decide
//! ([`PolicyIndex::is_empty`]).

use super::effective::{effective_policy, Decision, Reason};
use super::location::Location;
use super::model::{LocationId, OrgId, UserId};
use super::organisation::Organisation;
use super::user::User;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest text [`normalise_aor`] reads (a whole `From`/`To` header value, display name and
/// parameters included); anything longer is no AOR.
pub const MAX_AOR_INPUT: usize = 1024;

/// Document kind of an [`Organisation`] (id = org id).
pub const KIND_ORGANISATION: &str = "organisation";
/// Document kind of a [`Location`].
pub const KIND_LOCATION: &str = "location";
/// Document kind of a [`User`].
pub const KIND_USER: &str = "user";
/// Document kind of an AOR mapping: id = the [`normalise_aor`] form, body = [`AorTarget`].
pub const KIND_AOR: &str = "aor";

/// The body of an `aor` document: whose address it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AorTarget {
    pub user: UserId,
}

/// The key an AOR is stored and looked up by, from a SIP URI, a `tel:` URI or a whole
/// `From`/`To` header value (RFC 3261 §20.10: display name, angle brackets, header
/// parameters): `sip:user@host` with the scheme and host lowercased (RFC 3261 §19.1.4: they
/// compare case-insensitively, the user part does not) and the port, URI parameters and
/// headers dropped (RFC 3261 §10.3 drops parameters from an AOR). `sips:` gives the `sip:`
/// key: the same party, reached over TLS. `tel:` keeps global numbers only, as `tel:+digits`
/// without visual separators (RFC 3966 §5.1.1); a local number means nothing without its
/// phone context, so it is no AOR. Anything else, or anything with a space inside, is `None`.
pub fn normalise_aor(text: &str) -> Option<String> {
    if text.len() > MAX_AOR_INPUT {
        return None;
    }
    let uri = addr_spec(text.trim())?;
    if uri.is_empty() || uri.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = uri.split_once(':')?;
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        sip_key(rest)
    } else if scheme.eq_ignore_ascii_case("tel") {
        tel_key(rest)
    } else {
        None
    }
}

/// The URI of a name-addr (`"Name" <uri>;params`, the URI between the first `<` outside a
/// quoted display name and the next `>`) or an addr-spec (the whole text).
fn addr_spec(text: &str) -> Option<&str> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => {
                let inner = text.get(at + 1..)?;
                return inner.split_once('>').map(|(uri, _)| uri);
            }
            _ => {}
        }
    }
    (!quoted && !text.contains('>')).then_some(text)
}

/// `user[:password]@host[:port][;params][?headers]` → `sip:user@host`. A SIP URI has at most
/// one `@` (the user part, parameters and headers escape theirs); the user part may hold `;`
/// and `?` (RFC 3261 §25.1 user-unreserved), so parameters are cut from the host part only.
fn sip_key(rest: &str) -> Option<String> {
    let (userinfo, hostport) = rest.split_once('@')?;
    if hostport.contains('@') {
        return None;
    }
    let user = userinfo.split(':').next().unwrap_or_default();
    if user.is_empty() || user.contains(['<', '>', '"']) {
        return None;
    }
    let hostport = hostport.split([';', '?']).next().unwrap_or_default();
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']')?;
            let hex = |c: char| c.is_ascii_hexdigit() || ":.".contains(c);
            if address.is_empty() || !address.chars().all(hex) {
                return None;
            }
            (hostport.get(..address.len() + 2)?, after.strip_prefix(':'))
        }
        None => match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        },
    };
    let name_ok = |h: &str| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    };
    if host.is_empty() || !(host.starts_with('[') || name_ok(host)) {
        return None;
    }
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    Some(format!("sip:{user}@{}", host.to_ascii_lowercase()))
}

/// `+digits` with visual separators (`-`, `.`, `(`, `)`) and parameters dropped → `tel:+digits`.
fn tel_key(rest: &str) -> Option<String> {
    let number = rest
        .split(';')
        .next()
        .unwrap_or_default()
        .strip_prefix('+')?;
    let mut key = String::with_capacity(number.len() + 5);
    key.push_str("tel:+");
    for c in number.chars() {
        match c {
            '0'..='9' => key.push(c),
            '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (key.len() > "tel:+".len()).then_some(key)
}

/// What [`PolicyIndex::lookup`] knows about a party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The AOR is a known user's: the decision for their calls.
    Known(Decision),
    /// No user has this AOR (or has it but is gone, or their organisation is), or the text is
    /// no AOR at all.
    Unknown,
}

impl Lookup {
    /// The decision to act on: an unknown party is not recorded (see the module documentation).
    pub fn decision(self) -> Decision {
        match self {
            Lookup::Known(decision) => decision,
            Lookup::Unknown => Decision::DoNotRecord(Reason::UnknownUser),
        }
    }
}

/// A document that the index cannot take.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The body does not decode as its kind's document.
    #[error("{kind} {id:?} does not decode: {reason}")]
    Decode {
        kind: &'static str,
        id: String,
        reason: String,
    },
    /// The body carries another id than the document's.
    #[error("{kind} {id:?} holds the body of {body_id:?}")]
    IdMismatch {
        kind: &'static str,
        id: String,
        body_id: String,
    },
    /// An `aor` document whose id is not an AOR ([`normalise_aor`] refuses it).
    #[error("aor document {0:?} is not a SIP or tel URI")]
    NotAnAor(String),
}

/// One document's new state, decoded (`None`: deleted), ready for [`PolicyIndex::update`].
/// Decoding is the costly part of a change, so the cache does it before taking its lock.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    Organisation(OrgId, Option<Organisation>),
    Location(LocationId, Option<Location>),
    User(UserId, Option<User>),
    /// The AOR's key and whose it is.
    Aor(String, Option<UserId>),
    /// A document of a kind the index does not hold (the admin API's own): nothing to do.
    Other,
}

impl Update {
    /// Decodes what an audit row's `after` (or a stored document) says about `kind`/`id`.
    pub fn decode(
        kind: &str,
        id: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Update, IndexError> {
        Ok(match kind {
            KIND_ORGANISATION => {
                let doc = decode::<Organisation>(KIND_ORGANISATION, id, body, |o| Some(&o.id.0))?;
                Update::Organisation(OrgId::from(id), doc)
            }
            KIND_LOCATION => {
                let doc = decode::<Location>(KIND_LOCATION, id, body, |l| Some(&l.id.0))?;
                Update::Location(LocationId::from(id), doc)
            }
            KIND_USER => {
                let doc = decode::<User>(KIND_USER, id, body, |u| Some(&u.id.0))?;
                Update::User(UserId::from(id), doc)
            }
            KIND_AOR => {
                let key = normalise_aor(id).ok_or_else(|| IndexError::NotAnAor(id.into()))?;
                let doc = decode::<AorTarget>(KIND_AOR, id, body, |_| None)?;
                Update::Aor(key, doc.map(|target| target.user))
            }
            _ => Update::Other,
        })
    }
}

/// `body` as a `T` whose own id, if it has one (`id_of`), must be `id`.
fn decode<T: DeserializeOwned>(
    kind: &'static str,
    id: &str,
    body: Option<&serde_json::Value>,
    id_of: impl Fn(&T) -> Option<&str>,
) -> Result<Option<T>, IndexError> {
    let Some(body) = body else { return Ok(None) };
    let doc = T::deserialize(body).map_err(|e| IndexError::Decode {
        kind,
        id: id.into(),
        reason: e.to_string(),
    })?;
    if let Some(body_id) = id_of(&doc).filter(|&body_id| body_id != id) {
        return Err(IndexError::IdMismatch {
            kind,
            id: id.into(),
            body_id: body_id.into(),
        });
    }
    Ok(Some(doc))
}

/// What the index did with the documents it was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Documents stored or replaced.
    pub upserts: u64,
    /// Deletions applied (of documents held or not).
    pub deletes: u64,
    /// Documents of kinds the index does not hold.
    pub ignored: u64,
}

/// Every policy document in memory, by id, and each AOR's user: a lookup is a few hash-map
/// reads and [`effective_policy`]. Documents are taken one at a time, in any order; the index
/// answers from whatever it holds (a user whose organisation is missing is
/// [`Lookup::Unknown`], one whose location is missing is `DoNotRecord(UnknownLocation)`).
#[derive(Clone, Debug, Default)]
pub struct PolicyIndex {
    organisations: HashMap<OrgId, Organisation>,
    locations: HashMap<LocationId, Location>,
    users: HashMap<UserId, User>,
    aors: HashMap<String, UserId>,
    stats: IndexStats,
}

impl PolicyIndex {
    /// Stores, replaces or (`body` `None`) deletes the document `kind`/`id`. A document that
    /// does not decode changes nothing.
    pub fn apply(
        &mut self,
        kind: &str,
        id: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(), IndexError> {
        self.update(Update::decode(kind, id, body)?);
        Ok(())
    }

    /// The organisation document with this id, if known.
    pub fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations.get(&OrgId(id.to_string()))
    }

    /// Applies one decoded document.
    pub fn update(&mut self, update: Update) {
        let deleted = match update {
            Update::Organisation(id, doc) => upsert(&mut self.organisations, id, doc),
            Update::Location(id, doc) => upsert(&mut self.locations, id, doc),
            Update::User(id, doc) => upsert(&mut self.users, id, doc),
            Update::Aor(key, user) => upsert(&mut self.aors, key, user),
            Update::Other => {
                self.stats.ignored += 1;
                return;
            }
        };
        match deleted {
            true => self.stats.deletes += 1,
            false => self.stats.upserts += 1,
        }
    }

    /// The decision for the party whose AOR (or `From`/`To` header value) is `aor`.
    pub fn lookup(&self, aor: &str) -> Lookup {
        let Some(key) = normalise_aor(aor) else {
            return Lookup::Unknown;
        };
        match self.aors.get(&key) {
            Some(user) => self.lookup_user(&user.0),
            None => Lookup::Unknown,
        }
    }

    /// The decision for the user with this id: what a recording made for them gets now (a
    /// plan change reaches recordings still waiting to be uploaded this way).
    pub fn lookup_user(&self, user: &str) -> Lookup {
        let Some(user) = self.users.get(&UserId::from(user)) else {
            return Lookup::Unknown;
        };
        let Some(org) = self.organisations.get(&user.org) else {
            return Lookup::Unknown;
        };
        let location = self.locations.get(&user.location);
        Lookup::Known(effective_policy(org, location, Some(user)))
    }

    /// No policy at all: no organisation, location, user or AOR.
    pub fn is_empty(&self) -> bool {
        self.organisations.is_empty()
            && self.locations.is_empty()
            && self.users.is_empty()
            && self.aors.is_empty()
    }

    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }
}

/// Inserts `doc` under `id`, or removes `id` when `doc` is `None`; true for a removal.
fn upsert<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, id: K, doc: Option<V>) -> bool {
    match doc {
        Some(doc) => {
            map.insert(id, doc);
            false
        }
        None => {
            map.remove(&id);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rows_of_recordings_reached_are_no_document_to_replay() {
        let access = serde_json::json!({
            "action": "play", "recordingId": "rec-1", "person": "alice", "from": "192.0.2.1",
        });
        // policydb's RECORDING_ACCESS (the pure core imports no persistence).
        let kind = "recordingAccess";
        let update = Update::decode(kind, "rec-1", Some(&access));
        assert!(matches!(update, Ok(Update::Other)), "{kind}");
    }

    #[test]
    fn aors_normalise_to_one_key() {
        let cases: &[(&str, Option<&str>)] = &[
            ("sip:alice@example.com", Some("sip:alice@example.com")),
            // Scheme and host are case-insensitive, the user part is not.
            ("SIP:Alice@EXAMPLE.Com", Some("sip:Alice@example.com")),
            ("sips:alice@example.com", Some("sip:alice@example.com")),
            ("  sip:alice@example.com\t", Some("sip:alice@example.com")),
            // Name-addr: display name, brackets, header parameters.
            ("<sip:alice@example.com>", Some("sip:alice@example.com")),
            (
                "\"Alice Martin\" <sip:alice@example.com;transport=tcp>;tag=a73kszlfl",
                Some("sip:alice@example.com"),
            ),
            (
                "Alice <sip:alice@example.com>",
                Some("sip:alice@example.com"),
            ),
            (
                r#""Bob \"<the boss>\"" <sip:bob@example.com>"#,
                Some("sip:bob@example.com"),
            ),
            // Addr-spec: parameters, headers, port and password dropped.
            (
                "sip:alice@example.com;tag=1928301774",
                Some("sip:alice@example.com"),
            ),
            (
                "sip:alice@example.com:5061;transport=tls",
                Some("sip:alice@example.com"),
            ),
            (
                "sip:alice:secret@example.com",
                Some("sip:alice@example.com"),
            ),
            (
                "sip:alice@example.com?subject=hi",
                Some("sip:alice@example.com"),
            ),
            ("sip:alice@192.0.2.4:5060", Some("sip:alice@192.0.2.4")),
            (
                "sip:alice@[2001:DB8::1]:5060",
                Some("sip:alice@[2001:db8::1]"),
            ),
            (
                "sip:+15551234567;npdi@example.com;user=phone",
                Some("sip:+15551234567;npdi@example.com"),
            ),
            // tel: global numbers only, visual separators and parameters dropped.
            ("tel:+1-555-123-4567", Some("tel:+15551234567")),
            ("<TEL:+33-1-23-45-67-89>", Some("tel:+33123456789")),
            ("tel:+33 1 23 45 67 89", None),
            ("tel:+33.1.(23).45.67.89;ext=12", Some("tel:+33123456789")),
            ("tel:5551234;phone-context=example.com", None),
            ("tel:+", None),
            ("tel:+1a", None),
            // Garbage.
            ("", None),
            ("   ", None),
            ("alice", None),
            ("alice@example.com", None),
            ("http://example.com/", None),
            ("mailto:alice@example.com", None),
            ("sip:", None),
            ("sip:example.com", None),
            ("sip:@example.com", None),
            ("sip:alice@", None),
            ("sip:alice@exa mple.com", None),
            ("sip: alice@example.com", None),
            ("sip:alice@example.com:50x0", None),
            ("sip:alice@example.com:", None),
            ("sip:alice@bob@example.com", None),
            ("sip:alice@exa_mple.com", None),
            ("sip:alice@[2001:db8::1", None),
            ("sip:alice@[]", None),
            ("<sip:alice@example.com", None),
            ("sip:alice@example.com>", None),
            ("\"Alice <sip:alice@example.com>", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(normalise_aor(text).as_deref(), expected, "{text:?}");
        }
        let long = format!("sip:{}@example.com", "a".repeat(MAX_AOR_INPUT));
        assert_eq!(normalise_aor(&long), None);
        let longest = format!("sip:{}@x.io", "a".repeat(MAX_AOR_INPUT - "sip:@x.io".len()));
        assert_eq!(normalise_aor(&longest).as_deref(), Some(longest.as_str()));
    }

    #[test]
    fn unknown_parties_are_not_recorded() {
        assert_eq!(
            Lookup::Unknown.decision(),
            Decision::DoNotRecord(Reason::UnknownUser)
        );
        let index = PolicyIndex::default();
        assert!(index.is_empty());
        assert_eq!(index.lookup("sip:alice@example.com"), Lookup::Unknown);
        assert_eq!(index.lookup("not an aor"), Lookup::Unknown);
    }
}
