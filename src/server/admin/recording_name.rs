//! How a recording is named to people: its topic ("Alice to +1 555 0100", "Alice from Bob"),
//! the file name a download is saved as ("2026-11-25 10-02 Alice to +1 555 0100.opus") with its
//! `Content-Disposition` (RFC 6266, with RFC 8187's `filename*` for names beyond ASCII), and
//! the media type of its audio. Pure; must never read a store or decide who may download.
//!
//! Which participant is the recorded person follows the catalog's direction rule (recording
//! clients list the calling party first): outbound, the first; inbound, the second.

use crate::policydb::recordings::{CatalogRecording, Direction, Participant};
use std::fmt::Write as _;

/// The topic of a recording: the recorded side's name, " to " or " from ", the other side's.
pub(crate) fn topic(row: &CatalogRecording) -> String {
    let label = |i: usize| row.participants.get(i).and_then(label);
    let (mine, theirs, joiner) = match row.direction {
        Direction::Outbound => (label(0), label(1), " to "),
        Direction::Inbound => (label(1), label(0), " from "),
        Direction::Unknown => (label(0), label(1), " and "),
    };
    let person = row.person.clone();
    match (mine.or(person), theirs) {
        (Some(mine), Some(theirs)) => format!("{mine}{joiner}{theirs}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => format!("Recording {}", row.id),
    }
}

/// A participant as people call them: their first name, else their first address shown as a
/// number (`+1 555 0100`) or a SIP user part.
fn label(p: &Participant) -> Option<String> {
    if let Some(name) = p.names.iter().map(|n| n.trim()).find(|n| !n.is_empty()) {
        return Some(name.to_string());
    }
    p.addresses.first().map(|a| address_label(a))
}

/// `tel:+15550100` or `sip:+15550100@host` as `+1 555 0100`; `sip:alice@host` as `alice`;
/// anything else as it is.
fn address_label(address: &str) -> String {
    let rest = address
        .strip_prefix("sips:")
        .or_else(|| address.strip_prefix("sip:"))
        .or_else(|| address.strip_prefix("tel:"))
        .unwrap_or(address);
    let user = rest.split(['@', ';']).next().unwrap_or(rest);
    match user.strip_prefix('+') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            number_label(digits)
        }
        _ if !user.is_empty() => user.to_string(),
        _ => address.to_string(),
    }
}

/// An E.164 number's digits grouped for reading: North American numbers as `+1 555 123 4567`
/// (or `+1 555 0100` for seven digits), others as `+CC` and groups of up to four from the end.
fn number_label(digits: &str) -> String {
    let (country, national) = match digits.strip_prefix('1') {
        Some(national) if national.len() == 10 || national.len() == 7 => ("1", national),
        _ => digits.split_at(digits.len().min(2)),
    };
    let groups: Vec<&str> = match national.len() {
        10 => vec![&national[..3], &national[3..6], &national[6..]],
        7 => vec![&national[..3], &national[3..]],
        n if n > 4 => vec![&national[..n - 4], &national[n - 4..]],
        _ => vec![national],
    };
    let mut out = format!("+{country}");
    for group in groups.into_iter().filter(|g| !g.is_empty()) {
        out.push(' ');
        out.push_str(group);
    }
    out
}

/// The name a download is saved as: start (UTC) as `YYYY-MM-DD HH-MM`, the topic, the
/// format's extension; characters file systems refuse become `_`.
pub(crate) fn file_name(row: &CatalogRecording) -> String {
    let stamp = row.start.to_rfc3339();
    // "2026-11-25T10:02:00.000Z": the date, then hours and minutes.
    let when = format!("{} {}-{}", &stamp[..10], &stamp[11..13], &stamp[14..16]);
    let ext = if row.format.is_empty() {
        "audio"
    } else {
        &row.format
    };
    let name = format!("{when} {}.{ext}", topic(row));
    name.chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `Content-Disposition` for `name`: `attachment` (download) or `inline` (play), an ASCII
/// `filename` any client reads and `filename*` with the name as it is.
pub(crate) fn content_disposition(attachment: bool, name: &str) -> String {
    let kind = if attachment { "attachment" } else { "inline" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        // RFC 8187's attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~".
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The media type of a recording's audio.
pub(crate) fn content_type(format: &str) -> &'static str {
    match format {
        "opus" | "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    fn row(direction: Direction, participants: &[(&str, &str)]) -> CatalogRecording {
        CatalogRecording {
            id: "rec-1".into(),
            org_id: "acme".into(),
            person: Some("alice".into()),
            location: None,
            participants: participants
                .iter()
                .map(|(name, aor)| Participant {
                    names: [name]
                        .iter()
                        .filter(|n| !n.is_empty())
                        .map(|n| n.to_string())
                        .collect(),
                    addresses: vec![aor.to_string()],
                })
                .collect(),
            direction,
            kind: "call".into(),
            start: Time::parse_rfc3339("2026-11-25T10:02:00.000Z").expect("time"),
            end: Time::ZERO,
            duration_ms: 0,
            provider: "dubber".into(),
            plan: "dubber-go".into(),
            retention: "30d".into(),
            expires_at: None,
            legal_hold: false,
            size_bytes: 0,
            sha256: String::new(),
            format: "opus".into(),
            destination: String::new(),
            prefix: String::new(),
            files: vec![],
            metadata_key: String::new(),
            ended: "bye".into(),
            stored_at: Time::ZERO,
        }
    }

    #[test]
    fn topics_name_the_recorded_side_then_the_other() {
        let out = row(
            Direction::Outbound,
            &[("Alice", "sip:alice@example.com"), ("", "tel:+15550100")],
        );
        assert_eq!(topic(&out), "Alice to +1 555 0100");
        assert_eq!(
            file_name(&out),
            "2026-11-25 10-02 Alice to +1 555 0100.opus"
        );
        let inbound = row(
            Direction::Inbound,
            &[("Bob", "sip:bob@example.com"), ("Alice", "sip:alice@x")],
        );
        assert_eq!(topic(&inbound), "Alice from Bob");
        let unknown = row(Direction::Unknown, &[]);
        assert_eq!(topic(&unknown), "alice");
        let mut nobody = unknown.clone();
        nobody.person = None;
        assert_eq!(topic(&nobody), "Recording rec-1");
    }

    #[test]
    fn addresses_read_as_numbers_or_user_names() {
        for (address, shown) in [
            ("tel:+15550100", "+1 555 0100"),
            (
                "sip:+12125551234@carrier.example;user=phone",
                "+1 212 555 1234",
            ),
            ("sip:+442079460000@example.com", "+44 207 946 0000"),
            ("sips:bob@example.com", "bob"),
            ("urn:service:sos", "urn:service:sos"),
        ] {
            assert_eq!(address_label(address), shown, "{address}");
        }
    }

    #[test]
    fn file_names_keep_to_what_file_systems_and_headers_allow() {
        let odd = row(
            Direction::Outbound,
            &[("Zoë/Ops", "sip:z@x"), ("A \"B\"", "sip:b@x")],
        );
        let name = file_name(&odd);
        assert_eq!(name, "2026-11-25 10-02 Zoë_Ops to A _B_.opus");
        assert_eq!(
            content_disposition(true, &name),
            "attachment; filename=\"2026-11-25 10-02 Zo__Ops to A _B_.opus\"; \
             filename*=UTF-8''2026-11-25%2010-02%20Zo%C3%AB_Ops%20to%20A%20_B_.opus"
        );
        assert!(content_disposition(false, "a.wav").starts_with("inline; filename=\"a.wav\""));
        assert_eq!(content_type("opus"), "audio/ogg");
        assert_eq!(content_type("wav"), "audio/wav");
    }
}
