//! HTTP `Range: bytes=...` for one stored object (RFC 9110 §14): which bytes of an object of a
//! known length a request asks for. Pure; must never read the object.
//!
//! One range only (`bytes=a-b`, `bytes=a-`, `bytes=-n`). Several ranges are answered with the
//! whole object (200), which §14.2 allows; so is a header in another unit or one that does not
//! parse (§14.2: a server may ignore Range). A range that starts past the end, or a suffix of
//! zero bytes, cannot be satisfied (416, §15.5.17).

use std::ops::Range;

/// What to send of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// All of it (200).
    Whole,
    /// These bytes (206), never empty, within the object.
    Part(Range<u64>),
    /// Nothing it holds (416).
    Unsatisfiable,
}

/// The bytes of an object of `len` bytes that a `Range` header value asks for.
pub(crate) fn resolve(header: Option<&str>, len: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first, last) {
        ("", suffix) => match number(suffix) {
            None => Ranged::Whole,
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len.saturating_sub(n)..len),
        },
        (start, "") => match number(start) {
            None => Ranged::Whole,
            Some(start) if start >= len => Ranged::Unsatisfiable,
            Some(start) => Ranged::Part(start..len),
        },
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part(start..end.saturating_add(1).min(len))
                }
            }
            _ => Ranged::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_of_every_form_within_the_object() {
        let cases: &[(&str, Ranged)] = &[
            ("bytes=0-99", Ranged::Part(0..100)),
            ("bytes=100-", Ranged::Part(100..1000)),
            ("bytes=-50", Ranged::Part(950..1000)),
            ("bytes=990-2000", Ranged::Part(990..1000)),
            ("bytes=-5000", Ranged::Part(0..1000)),
            ("bytes=999-999", Ranged::Part(999..1000)),
            (" bytes=0-0 ", Ranged::Part(0..1)),
            ("bytes=1000-", Ranged::Unsatisfiable),
            ("bytes=1000-1001", Ranged::Unsatisfiable),
            ("bytes=-0", Ranged::Unsatisfiable),
            // Ignored: the whole object.
            ("bytes=0-9,20-29", Ranged::Whole),
            ("bytes=9-0", Ranged::Whole),
            ("bytes=a-b", Ranged::Whole),
            ("bytes=-", Ranged::Whole),
            ("bytes=+1-2", Ranged::Whole),
            ("bytes=99999999999999999999-", Ranged::Whole),
            ("items=0-1", Ranged::Whole),
            ("bytes=5", Ranged::Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(&resolve(Some(header), 1000), expected, "{header}");
        }
        assert_eq!(resolve(None, 1000), Ranged::Whole);
    }

    #[test]
    fn nothing_of_an_empty_object_can_be_asked_for() {
        for header in ["bytes=0-0", "bytes=0-", "bytes=-1"] {
            assert_eq!(resolve(Some(header), 0), Ranged::Unsatisfiable, "{header}");
        }
    }
}
