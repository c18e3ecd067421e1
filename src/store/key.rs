//! Where a recording lives in the object store: the key layout, and the retention class it
//! carries. Pure functions, no IO.
//!
//! Layout: `recordings/{class}/{org}/{yyyy}/{mm}/{dd}/{call}/{file}`, e.g.
//! `recordings/30d/acme/2026/11/25/call-42/call-42.opus`. The retention class comes first so a
//! store without tag-filtered lifecycle rules can still expire a class by prefix
//! (`recordings/30d/`); the organisation next keeps each customer's recordings under a prefix
//! of its own; the date partitions listings.
//!
//! Every part that comes from outside (organisation ids, call ids, file names) goes through
//! [`segment`], which is injective: no input can add a `/`, climb with `..`, or land on another
//! input's key.

use sha2::{Digest, Sha256};
use std::fmt;

/// How long a recording is kept.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetentionClass {
    /// Deleted this many days after the recording (Dubber Go: 30).
    Days(u32),
    /// Kept until someone deletes it (paid plans, Imagicle, CallCabinet).
    Unlimited,
}

impl fmt::Display for RetentionClass {
    /// The tag value and key segment: `30d` or `unlimited`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionClass::Days(days) => write!(f, "{days}d"),
            RetentionClass::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl std::str::FromStr for RetentionClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "unlimited" {
            return Ok(RetentionClass::Unlimited);
        }
        s.strip_suffix('d')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0 && !s.starts_with('0'))
            .map(RetentionClass::Days)
            .ok_or_else(|| format!("'{s}' is not a retention class (e.g. 30d or unlimited)"))
    }
}

/// A call id made safe as a file name (the recording's files and its key's last part): only
/// `[A-Za-z0-9._-]`, no leading dot (so never `..`), at most 128 characters, never empty.
pub fn safe_file_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    match clean.trim_start_matches('.') {
        "" => "call".into(),
        rest => rest.to_string(),
    }
}

/// How much of a Call-ID a live recording's name keeps for people to read.
const READABLE_CALL_ID: usize = 64;

/// A live recording's name (its spool job, files and key segment): the readable start of the
/// SIP Call-ID and `unique` in hex, e.g. `a84b4c76e66710_pc33.example.com-00f3a9c2e1b4d765`.
/// The Call-ID part is for people and may be shared by many calls (clients reuse Call-IDs,
/// [`safe_file_name`] folds and cuts them); `unique`, drawn at random per recording session,
/// is what keeps two recordings apart.
pub fn recording_name(call_id: &str, unique: u64) -> String {
    let readable: String = safe_file_name(call_id)
        .chars()
        .take(READABLE_CALL_ID)
        .collect();
    format!("{readable}-{unique:016x}")
}

/// Segments longer than this keep a prefix and a hash, so keys stay within S3's 1024 bytes.
const MAX_SEGMENT: usize = 120;

/// One key segment from outside input: `[A-Za-z0-9_-]` and non-leading `.` pass; every other
/// byte becomes `%XX`; the empty string becomes `%`. A segment over [`MAX_SEGMENT`] bytes keeps
/// its first 100 and `~` plus 16 hex digits of its SHA-256 (`~` never passes unencoded).
pub fn segment(input: &str) -> String {
    if input.is_empty() {
        return "%".into();
    }
    let mut out = String::with_capacity(input.len());
    for (i, b) in input.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() <= MAX_SEGMENT {
        return out;
    }
    let digest = Sha256::digest(input.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    // `out` is ASCII; back off so the cut never splits a `%XX` escape.
    let mut cut = 100;
    if let Some(p) = out[..cut].rfind('%').filter(|&p| cut - p < 3) {
        cut = p;
    }
    format!("{}~{hash}", &out[..cut])
}

/// A recording's place: everything its keys are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingKey {
    pub class: RetentionClass,
    pub org: String,
    /// UTC date of the call's start.
    pub date: (u32, u32, u32),
    pub call: String,
}

impl RecordingKey {
    /// The prefix all of this recording's objects share, ending in `/`.
    pub fn prefix(&self) -> String {
        self.dir().prefix()
    }

    /// The key of one of the recording's files (media or sidecar).
    pub fn object(&self, file: &str) -> String {
        format!("{}{}", self.prefix(), segment(file))
    }

    /// Where this recording's objects are, as a listing reads it back.
    pub fn dir(&self) -> RecordingDir {
        RecordingDir {
            class: self.class,
            org: segment(&self.org),
            date: self.date,
            call: segment(&self.call),
        }
    }
}

/// A recording's prefix read back from its keys. `org` and `call` are key segments (already
/// escaped by [`segment`]); compare them with `segment(input)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingDir {
    pub class: RetentionClass,
    pub org: String,
    pub date: (u32, u32, u32),
    pub call: String,
}

impl RecordingDir {
    /// The prefix all of the recording's objects share, ending in `/`.
    pub fn prefix(&self) -> String {
        let (y, m, d) = self.date;
        let (class, org, call) = (self.class, &self.org, &self.call);
        format!("recordings/{class}/{org}/{y:04}/{m:02}/{d:02}/{call}/")
    }

    /// The same recording in another retention class.
    pub fn with_class(&self, class: RetentionClass) -> RecordingDir {
        RecordingDir {
            class,
            ..self.clone()
        }
    }

    /// Splits an object key of our layout into its recording and file name; `None` for any
    /// key that is not one of ours.
    pub fn parse(key: &str) -> Option<(RecordingDir, &str)> {
        let mut parts = key.split('/');
        let mut next = || parts.next().filter(|p| !p.is_empty());
        if next()? != "recordings" {
            return None;
        }
        let class = next()?.parse().ok()?;
        let org = next()?.to_string();
        let mut number = |digits: usize| {
            next()
                .filter(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u32>().ok())
        };
        let date = (number(4)?, number(2)?, number(2)?);
        let call = next()?.to_string();
        let file = next()?;
        if parts.next().is_some() {
            return None;
        }
        let dir = RecordingDir {
            class,
            org,
            date,
            call,
        };
        Some((dir, file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_safe_file_names() {
        assert_eq!(
            safe_file_name("a84b4c76e66710@pc33.example.com"),
            "a84b4c76e66710_pc33.example.com"
        );
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("..."), "call");
        assert_eq!(safe_file_name(""), "call");
        assert_eq!(safe_file_name(&"x".repeat(500)).len(), 128);
    }

    /// Call-IDs that fold or cut to the same readable part still name two recordings; the
    /// name stays a plain file name and a segment of its own (no escaping, no hashing).
    #[test]
    fn live_recording_names_keep_the_call_id_readable_and_sessions_apart() {
        let long = "7".repeat(139);
        let cases = [
            ("coll-1@host", "coll-1_host"),
            ("coll-1_host", "coll-1_host"),
            (&format!("{long}a")[..], &long[..READABLE_CALL_ID]),
            (&format!("{long}b")[..], &long[..READABLE_CALL_ID]),
        ];
        let mut seen = std::collections::HashSet::new();
        for (unique, (call_id, readable)) in cases.iter().enumerate() {
            let name = recording_name(call_id, unique as u64);
            assert_eq!(name, format!("{readable}-{unique:016x}"), "{call_id}");
            assert_eq!(safe_file_name(&name), name);
            assert_eq!(segment(&name), name);
            assert!(seen.insert(name));
        }
    }

    fn key(org: &str, call: &str) -> RecordingKey {
        RecordingKey {
            class: RetentionClass::Days(30),
            org: org.into(),
            date: (2026, 11, 5),
            call: call.into(),
        }
    }

    #[test]
    fn layout_puts_class_first_then_org_then_date() {
        let k = key("acme", "call-42");
        assert_eq!(k.prefix(), "recordings/30d/acme/2026/11/05/call-42/");
        assert_eq!(
            k.object("call-42.opus"),
            "recordings/30d/acme/2026/11/05/call-42/call-42.opus"
        );
        let unlimited = RecordingKey {
            class: RetentionClass::Unlimited,
            ..k
        };
        assert!(unlimited.prefix().starts_with("recordings/unlimited/acme/"));
    }

    #[test]
    fn outside_input_cannot_escape_its_segment() {
        let cases = [
            ("../other-org", "%2E.%2Fother-org"),
            ("a/b", "a%2Fb"),
            (".", "%2E"),
            ("..", "%2E."),
            ("", "%"),
            ("%2F", "%252F"),
            ("sip:alice@example.com", "sip%3Aalice%40example.com"),
            ("ü", "%C3%BC"),
            ("a~b", "a%7Eb"),
        ];
        for (input, expected) in cases {
            let s = segment(input);
            assert_eq!(s, expected, "{input:?}");
            assert!(!s.contains('/') && s != "." && s != "..", "{input:?}");
        }
    }

    #[test]
    fn distinct_inputs_never_share_a_key() {
        let inputs = [
            "a/b", "a%2Fb", "a_b", "a.b", ".ab", "%2Eab", "", "%", "a", "A", "a b", "a+b", "a%20b",
            "..", ".%2E",
        ];
        let mut seen = std::collections::HashSet::new();
        for input in inputs {
            assert!(seen.insert(segment(input)), "{input:?} collides");
        }
        let long_a = "x".repeat(300);
        let long_b = format!("{}y", "x".repeat(299));
        assert_ne!(segment(&long_a), segment(&long_b));
        assert!(segment(&long_a).len() <= MAX_SEGMENT);
    }

    #[test]
    fn long_segments_keep_a_prefix_and_a_hash() {
        let s = segment(&"é".repeat(200)); // every byte encoded: 1200 characters
        assert!(s.len() <= MAX_SEGMENT, "{}", s.len());
        let (head, hash) = s.split_once('~').expect("hashed");
        assert_eq!(hash.len(), 16);
        assert!(head.starts_with("%C3%A9"));
        // The cut never splits an escape.
        assert!(!head.ends_with('%') && head.rsplit('%').next().is_some_and(|t| t.len() >= 2));
    }

    #[test]
    fn keys_parse_back_into_their_recording_and_file() {
        let k = key("a/../b", "sip:x@y");
        let object = k.object("call.opus");
        let (dir, file) = RecordingDir::parse(&object).expect("our key");
        assert_eq!(dir, k.dir());
        assert_eq!(file, "call.opus");
        assert_eq!(dir.prefix(), k.prefix());
        let moved = dir.with_class(RetentionClass::Unlimited);
        assert!(moved
            .prefix()
            .starts_with("recordings/unlimited/a%2F..%2Fb/2026/11/05/"));
        for foreign in [
            "recordings/30d/acme/2026/11/05/call",
            "recordings/30d/acme/2026/11/05/call/f/extra",
            "recordings/forever/acme/2026/11/05/call/f",
            "recordings/30d/acme/26/11/05/call/f",
            "other/30d/acme/2026/11/05/call/f",
            "recordings/30d//2026/11/05/call/f",
        ] {
            assert_eq!(RecordingDir::parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn retention_classes_read_and_write_their_tag_values() {
        assert_eq!(RetentionClass::Days(30).to_string(), "30d");
        assert_eq!(RetentionClass::Unlimited.to_string(), "unlimited");
        assert_eq!("30d".parse(), Ok(RetentionClass::Days(30)));
        assert_eq!("unlimited".parse(), Ok(RetentionClass::Unlimited));
        for bad in ["0d", "030d", "30", "d", "-1d", "forever", ""] {
            assert!(bad.parse::<RetentionClass>().is_err(), "{bad:?}");
        }
    }
}
