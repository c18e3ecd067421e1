//! The bucket lifecycle configuration that makes the store itself delete recordings when
//! their retention ends (S3 `PutBucketLifecycleConfiguration`). Pure text, except [`apply`],
//! which sends it through [`S3Admin`]; never touches objects.
//!
//! For each finite retention class there is a tag-filtered rule (`retention` = `30d` under
//! `recordings/`) and optionally a prefix-filtered equivalent (`recordings/30d/`) for stores
//! that honour no tag filters. Both agree because a plan migration moves a recording to its
//! new class's prefix and re-tags it. One more rule aborts multipart uploads left incomplete,
//! so a crashed upload cannot hold storage forever. One more removes, a day later, the versions a
//! deletion leaves behind on a versioned bucket (every bucket with Object Lock is versioned):
//! there a delete, by callrec or by an expiration rule, only hides the object behind a delete
//! marker, so without it nothing deleted would ever be gone. A version under the store's legal
//! hold is never removed by it (the gateway skips locked versions), and the bare delete markers
//! left are cleared too. A store URL with a path
//! (`s3://bucket/path`) puts every filter under that path ([`configuration_under`]).
//!
//! A configuration is only trusted once read back unchanged ([`apply`]): some S3-compatible
//! servers accept a tag filter and silently drop it, which would turn "delete `30d` recordings
//! after 30 days" into "delete every recording after 30 days". [`parse`] and [`differences`]
//! are the pure part of that check.

use super::key::RetentionClass;
use super::s3::{Element, S3Admin, S3Error};
use std::fmt::{self, Write};

/// Days after which an incomplete multipart upload is aborted.
pub const ABORT_INCOMPLETE_AFTER_DAYS: u32 = 1;

/// Days after which a version hidden by a deletion (on a versioned bucket) is removed.
pub const DELETED_VERSIONS_AFTER_DAYS: u32 = 1;

/// The lifecycle configuration XML for `classes` (unlimited ones need no rule).
pub fn configuration(classes: &[RetentionClass], with_prefix_rules: bool) -> String {
    configuration_under("", classes, with_prefix_rules)
}

/// The same for a store whose keys live under `root` inside the bucket (`""` or `path/`).
pub fn configuration_under(
    root: &str,
    classes: &[RetentionClass],
    with_prefix_rules: bool,
) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n",
    );
    let mut days: Vec<u32> = classes
        .iter()
        .filter_map(|c| match c {
            RetentionClass::Days(d) => Some(*d),
            RetentionClass::Unlimited => None,
        })
        .collect();
    days.sort_unstable();
    days.dedup();
    for d in days {
        let class = RetentionClass::Days(d);
        let _ = write!(
            xml,
            "  <Rule>\n    <ID>callrec-retention-{class}-tag</ID>\n    <Filter>\n      <And>\n        \
             <Prefix>{root}recordings/</Prefix>\n        <Tag><Key>retention</Key><Value>{class}</Value></Tag>\n      \
             </And>\n    </Filter>\n    <Status>Enabled</Status>\n    <Expiration><Days>{d}</Days></Expiration>\n  </Rule>\n"
        );
        if with_prefix_rules {
            let _ = write!(
                xml,
                "  <Rule>\n    <ID>callrec-retention-{class}-prefix</ID>\n    <Filter><Prefix>{root}recordings/{class}/</Prefix></Filter>\n    \
                 <Status>Enabled</Status>\n    <Expiration><Days>{d}</Days></Expiration>\n  </Rule>\n"
            );
        }
    }
    let _ = write!(
        xml,
        "  <Rule>\n    <ID>callrec-abort-incomplete-uploads</ID>\n    <Filter><Prefix>{root}recordings/</Prefix></Filter>\n    \
         <Status>Enabled</Status>\n    <AbortIncompleteMultipartUpload><DaysAfterInitiation>{ABORT_INCOMPLETE_AFTER_DAYS}</DaysAfterInitiation></AbortIncompleteMultipartUpload>\n  </Rule>\n"
    );
    let _ = write!(
        xml,
        "  <Rule>\n    <ID>callrec-deleted-versions</ID>\n    <Filter><Prefix>{root}recordings/</Prefix></Filter>\n    \
         <Status>Enabled</Status>\n    <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\n    \
         <NoncurrentVersionExpiration><NoncurrentDays>{DELETED_VERSIONS_AFTER_DAYS}</NoncurrentDays></NoncurrentVersionExpiration>\n  </Rule>\n"
    );
    xml.push_str("</LifecycleConfiguration>\n");
    xml
}

/// One lifecycle rule, normalized so that equal rules compare equal whatever the XML's
/// layout, element order or namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `<ID>`; empty if the rule has none.
    pub id: String,
    /// `<Status>Enabled</Status>`.
    pub enabled: bool,
    /// Which objects the rule applies to.
    pub filter: Filter,
    /// `<Expiration><Days>`.
    pub expiration_days: Option<u32>,
    /// `<AbortIncompleteMultipartUpload><DaysAfterInitiation>`.
    pub abort_incomplete_days: Option<u32>,
    /// Every element this module does not model (transitions, dates, size filters...), as
    /// sorted `path=text` lines: compared, never interpreted.
    pub other: Vec<String>,
}

/// A rule's filter: objects under `prefix` carrying every one of `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The key prefix; `None` (also for an empty one) matches every key.
    pub prefix: Option<String>,
    /// Tags (key, value) an object must carry, sorted.
    pub tags: Vec<(String, String)>,
}

impl fmt::Display for Filter {
    /// `prefix "recordings/" and tag retention=30d`, or `every object`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .prefix
            .iter()
            .map(|p| format!("prefix {p:?}"))
            .collect();
        parts.extend(self.tags.iter().map(|(k, v)| format!("tag {k}={v}")));
        if parts.is_empty() {
            f.write_str("every object")
        } else {
            f.write_str(&parts.join(" and "))
        }
    }
}

/// Why a lifecycle configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// The root element is not `LifecycleConfiguration`.
    #[error("the root element is <{0}>, not <LifecycleConfiguration>")]
    Root(String),
    /// A rule element is missing or has a value out of range.
    #[error("rule {rule}: {reason}")]
    Rule {
        /// The rule's ID, or its position (`#2`) if it has none.
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

/// The rules of lifecycle configuration `xml` (what `GetBucketLifecycleConfiguration` returns
/// and `PutBucketLifecycleConfiguration` takes), in document order.
pub fn parse(xml: &str) -> Result<Vec<Rule>, ParseError> {
    let root = Element::parse(xml).map_err(ParseError::Xml)?;
    if root.name != "LifecycleConfiguration" {
        return Err(ParseError::Root(root.name));
    }
    root.children
        .iter()
        .enumerate()
        .map(|(i, element)| {
            if element.name != "Rule" {
                return Err(ParseError::Rule {
                    rule: format!("#{}", i + 1),
                    reason: format!("unexpected <{}>", element.name),
                });
            }
            parse_rule(element).map_err(|reason| ParseError::Rule {
                rule: element
                    .child("ID")
                    .map_or_else(|| format!("#{}", i + 1), |id| id.text.clone()),
                reason,
            })
        })
        .collect()
}

fn parse_rule(rule: &Element) -> Result<Rule, String> {
    let mut parsed = Rule {
        id: String::new(),
        enabled: false,
        filter: Filter::default(),
        expiration_days: None,
        abort_incomplete_days: None,
        other: Vec::new(),
    };
    let mut status = None;
    let mut legacy_prefix = None;
    let mut filter = None;
    for child in &rule.children {
        match child.name.as_str() {
            "ID" => parsed.id = child.text.clone(),
            "Status" => status = Some(child.text.trim()),
            "Prefix" => legacy_prefix = Some(child.text.clone()),
            "Filter" => filter = Some(parse_filter(child, &mut parsed.other)?),
            "Expiration" => {
                parsed.expiration_days = days(child, "Days", &mut parsed.other, "Expiration")?
            }
            "AbortIncompleteMultipartUpload" => {
                parsed.abort_incomplete_days = days(
                    child,
                    "DaysAfterInitiation",
                    &mut parsed.other,
                    "AbortIncompleteMultipartUpload",
                )?
            }
            _ => flatten(&child.name, child, &mut parsed.other),
        }
    }
    parsed.enabled = match status {
        Some("Enabled") => true,
        Some("Disabled") => false,
        Some(other) => return Err(format!("status {other:?} is neither Enabled nor Disabled")),
        None => return Err("no Status".into()),
    };
    parsed.filter = match (filter, legacy_prefix) {
        (Some(_), Some(_)) => return Err("both a Prefix and a Filter".into()),
        (Some(filter), None) => filter,
        (None, prefix) => Filter {
            prefix,
            tags: Vec::new(),
        },
    };
    if parsed.filter.prefix.as_deref() == Some("") {
        parsed.filter.prefix = None;
    }
    parsed.filter.tags.sort();
    parsed.other.sort();
    Ok(parsed)
}

/// `<Filter>`: a `Prefix`, a `Tag`, or an `And` of a prefix and tags.
fn parse_filter(element: &Element, other: &mut Vec<String>) -> Result<Filter, String> {
    let mut filter = Filter::default();
    for child in &element.children {
        match child.name.as_str() {
            "Prefix" => filter.prefix = Some(child.text.clone()),
            "Tag" => filter.tags.push(tag(child)?),
            "And" => {
                for part in &child.children {
                    match part.name.as_str() {
                        "Prefix" => filter.prefix = Some(part.text.clone()),
                        "Tag" => filter.tags.push(tag(part)?),
                        _ => flatten(&format!("Filter/And/{}", part.name), part, other),
                    }
                }
            }
            _ => flatten(&format!("Filter/{}", child.name), child, other),
        }
    }
    Ok(filter)
}

fn tag(element: &Element) -> Result<(String, String), String> {
    match (element.child("Key"), element.child("Value")) {
        (Some(key), Some(value)) => Ok((key.text.clone(), value.text.clone())),
        _ => Err("a Tag without Key or Value".into()),
    }
}

/// The day count in child `name` of `element`; its other children go to `other`.
fn days(
    element: &Element,
    name: &str,
    other: &mut Vec<String>,
    path: &str,
) -> Result<Option<u32>, String> {
    let mut days = None;
    for child in &element.children {
        if child.name == name {
            let text = child.text.trim();
            days = Some(
                text.parse()
                    .map_err(|_| format!("{path}/{name} {text:?} is not a day count"))?,
            );
        } else {
            flatten(&format!("{path}/{}", child.name), child, other);
        }
    }
    Ok(days)
}

/// `element`'s leaves as `path/to/leaf=text` lines.
fn flatten(path: &str, element: &Element, out: &mut Vec<String>) {
    if element.children.is_empty() {
        out.push(format!("{path}={}", element.text.trim()));
    }
    for child in &element.children {
        flatten(&format!("{path}/{}", child.name), child, out);
    }
}

/// Everything in which the rules a server kept (`applied`) differ from those `sent`, one line
/// each, matched by ID; empty if the server kept every rule as sent.
pub fn differences(sent: &[Rule], applied: &[Rule]) -> Vec<String> {
    let days = |d: Option<u32>| d.map_or_else(|| "none".to_string(), |d| format!("{d} days"));
    let status = |enabled| if enabled { "Enabled" } else { "Disabled" };
    let mut out = Vec::new();
    for s in sent {
        let Some(a) = applied.iter().find(|a| a.id == s.id) else {
            out.push(format!("rule {:?} was dropped", s.id));
            continue;
        };
        if s.enabled != a.enabled {
            out.push(format!(
                "rule {:?}: status {} became {}",
                s.id,
                status(s.enabled),
                status(a.enabled)
            ));
        }
        if s.filter != a.filter {
            out.push(format!(
                "rule {:?}: filter {} became {}",
                s.id, s.filter, a.filter
            ));
        }
        if s.expiration_days != a.expiration_days {
            out.push(format!(
                "rule {:?}: expiration {} became {}",
                s.id,
                days(s.expiration_days),
                days(a.expiration_days)
            ));
        }
        if s.abort_incomplete_days != a.abort_incomplete_days {
            out.push(format!(
                "rule {:?}: abort of incomplete uploads {} became {}",
                s.id,
                days(s.abort_incomplete_days),
                days(a.abort_incomplete_days)
            ));
        }
        if s.other != a.other {
            out.push(format!(
                "rule {:?}: other settings {:?} became {:?}",
                s.id, s.other, a.other
            ));
        }
    }
    for a in applied
        .iter()
        .filter(|a| !sent.iter().any(|s| s.id == a.id))
    {
        out.push(format!("rule {:?} was added", a.id));
    }
    out
}

/// Whether the configuration read back from the server keeps every rule of the one sent, as
/// a list of what differs (see [`differences`]).
pub fn check_applied(sent: &str, read_back: &str) -> Result<(), Vec<String>> {
    let sent = parse(sent).map_err(|e| vec![format!("the configuration sent: {e}")])?;
    let applied =
        parse(read_back).map_err(|e| vec![format!("the configuration read back: {e}")])?;
    let out = differences(&sent, &applied);
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

/// Why [`apply`] did not leave the configuration in place.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The configuration to apply does not parse; nothing was sent.
    #[error("the lifecycle configuration to apply is invalid: {0}")]
    Invalid(#[source] ParseError),
    /// A request failed before the configuration was replaced, or the server refused it.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// The server did not keep the configuration as sent; the previous one is back.
    #[error("the server changed the lifecycle configuration ({}); the previous configuration is restored", .differences.join("; "))]
    Changed {
        /// What differs (see [`differences`]).
        differences: Vec<String>,
    },
    /// The server did not keep the configuration as sent, and restoring the previous one
    /// failed: the bucket's lifecycle is in an unknown state and must be checked by hand.
    #[error("the server changed the lifecycle configuration ({}), and restoring the previous configuration FAILED: {restore}; check the bucket's lifecycle by hand", .differences.join("; "))]
    ChangedNotRestored {
        /// What differs.
        differences: Vec<String>,
        /// Why the restore failed.
        restore: S3Error,
    },
}

/// Replaces the bucket's lifecycle configuration with `xml`, reads it back, and keeps it only
/// if the server kept every rule as sent; otherwise puts back the configuration the bucket had
/// before (or none) and says what the server changed.
pub async fn apply(admin: &S3Admin, xml: &str) -> Result<(), ApplyError> {
    parse(xml).map_err(ApplyError::Invalid)?;
    let previous = admin.get_bucket_lifecycle().await?;
    admin.put_bucket_lifecycle(xml).await?;
    let differences = match admin.get_bucket_lifecycle().await {
        Ok(Some(read_back)) => match check_applied(xml, &read_back) {
            Ok(()) => return Ok(()),
            Err(differences) => differences,
        },
        Ok(None) => vec!["the bucket has no lifecycle configuration after it was set".into()],
        Err(e) => vec![format!("cannot read the configuration back: {e}")],
    };
    // The changed configuration may delete what it should keep: do not leave it in place.
    let restored = match previous {
        Some(previous) => admin.put_bucket_lifecycle(&previous).await,
        None => admin.delete_bucket_lifecycle().await,
    };
    match restored {
        Ok(()) => Err(ApplyError::Changed { differences }),
        Err(restore) => Err(ApplyError::ChangedNotRestored {
            differences,
            restore,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_day_class_gets_a_tag_rule_and_uploads_are_aborted() {
        let xml = configuration(
            &[RetentionClass::Days(30), RetentionClass::Unlimited],
            false,
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">
  <Rule>
    <ID>callrec-retention-30d-tag</ID>
    <Filter>
      <And>
        <Prefix>recordings/</Prefix>
        <Tag><Key>retention</Key><Value>30d</Value></Tag>
      </And>
    </Filter>
    <Status>Enabled</Status>
    <Expiration><Days>30</Days></Expiration>
  </Rule>
  <Rule>
    <ID>callrec-abort-incomplete-uploads</ID>
    <Filter><Prefix>recordings/</Prefix></Filter>
    <Status>Enabled</Status>
    <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>
  </Rule>
  <Rule>
    <ID>callrec-deleted-versions</ID>
    <Filter><Prefix>recordings/</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>
    <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>
  </Rule>
</LifecycleConfiguration>
"
        );
    }

    #[test]
    fn a_store_path_puts_every_filter_under_it() {
        let xml = configuration_under("tenant/a/", &[RetentionClass::Days(30)], true);
        let prefixes: Vec<&str> = xml
            .lines()
            .filter_map(|l| {
                let start = l.find("<Prefix>")? + "<Prefix>".len();
                Some(&l[start..start + l[start..].find("</Prefix>")?])
            })
            .collect();
        assert_eq!(
            prefixes,
            vec![
                "tenant/a/recordings/",
                "tenant/a/recordings/30d/",
                "tenant/a/recordings/",
                "tenant/a/recordings/"
            ]
        );
        assert_eq!(
            configuration_under("", &[RetentionClass::Days(30)], true),
            configuration(&[RetentionClass::Days(30)], true)
        );
    }

    #[test]
    fn prefix_rules_match_the_key_layout_and_unlimited_has_no_rule() {
        let xml = configuration(
            &[
                RetentionClass::Days(90),
                RetentionClass::Days(30),
                RetentionClass::Days(30),
            ],
            true,
        );
        let ids: Vec<&str> = xml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("<ID>")?.strip_suffix("</ID>"))
            .collect();
        assert_eq!(
            ids,
            vec![
                "callrec-retention-30d-tag",
                "callrec-retention-30d-prefix",
                "callrec-retention-90d-tag",
                "callrec-retention-90d-prefix",
                "callrec-abort-incomplete-uploads",
                "callrec-deleted-versions",
            ]
        );
        assert!(xml.contains("<Filter><Prefix>recordings/30d/</Prefix></Filter>"));
        let key = super::super::key::RecordingKey {
            class: RetentionClass::Days(30),
            org: "acme".into(),
            date: (2026, 1, 2),
            call: "c".into(),
        };
        assert!(key.prefix().starts_with("recordings/30d/"));
        let unlimited = configuration(&[RetentionClass::Unlimited], true);
        assert!(!unlimited.contains("<Expiration><Days>"));
    }

    /// The 30-day configuration as a server could return it, with `tag_rule` and `abort_rule`
    /// as the rules' bodies after their IDs.
    fn read_back(tag_rule: &str, abort_rule: &str) -> String {
        format!(
            "<LifecycleConfiguration><Rule><ID>callrec-abort-incomplete-uploads</ID>{abort_rule}</Rule>\
             <Rule><ID>callrec-retention-30d-tag</ID>{tag_rule}</Rule>\
             <Rule><ID>callrec-deleted-versions</ID>{DELETED_RULE}</Rule></LifecycleConfiguration>"
        )
    }

    const TAG_RULE: &str = "<Status>Enabled</Status><Filter><And><Tag><Key>retention</Key>\
        <Value>30d</Value></Tag><Prefix>recordings/</Prefix></And></Filter><Expiration><Days>30</Days></Expiration>";
    const ABORT_RULE: &str = "<Filter><Prefix>recordings/</Prefix></Filter><Status>Enabled</Status>\
        <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>";
    const DELETED_RULE: &str = "<Filter><Prefix>recordings/</Prefix></Filter><Status>Enabled</Status>\
        <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>\
        <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>";

    #[test]
    fn read_back_configurations_are_checked_against_the_one_sent() {
        let sent = configuration(&[RetentionClass::Days(30)], false);
        let tag = "rule \"callrec-retention-30d-tag\"";
        let cases: Vec<(&str, String, Vec<String>)> = vec![
            ("identical", sent.clone(), vec![]),
            (
                "reordered rules and elements, no whitespace, no namespace",
                read_back(TAG_RULE, ABORT_RULE),
                vec![],
            ),
            (
                "namespace prefixes and a legacy rule-level Prefix",
                format!(
                    "<?xml version=\"1.0\"?><s3:LifecycleConfiguration xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                     <s3:Rule><s3:ID>callrec-retention-30d-tag</s3:ID>{TAG_RULE}</s3:Rule>\
                     <s3:Rule><s3:ID>callrec-abort-incomplete-uploads</s3:ID><s3:Prefix>recordings/</s3:Prefix>\
                     <s3:Status>Enabled</s3:Status><AbortIncompleteMultipartUpload><DaysAfterInitiation> 1 \
                     </DaysAfterInitiation></AbortIncompleteMultipartUpload></s3:Rule>\
                     <s3:Rule><s3:ID>callrec-deleted-versions</s3:ID>{DELETED_RULE}</s3:Rule></s3:LifecycleConfiguration>"
                ),
                vec![],
            ),
            (
                "tag filter dropped: every recording would expire",
                read_back(
                    "<Status>Enabled</Status><Filter><Prefix>recordings/</Prefix></Filter><Expiration><Days>30</Days></Expiration>",
                    ABORT_RULE,
                ),
                vec![format!(
                    "{tag}: filter prefix \"recordings/\" and tag retention=30d became prefix \"recordings/\""
                )],
            ),
            (
                "whole filter dropped",
                read_back(
                    "<Status>Enabled</Status><Filter></Filter><Expiration><Days>30</Days></Expiration>",
                    ABORT_RULE,
                ),
                vec![format!(
                    "{tag}: filter prefix \"recordings/\" and tag retention=30d became every object"
                )],
            ),
            (
                "tag value changed",
                read_back(&TAG_RULE.replace("<Value>30d", "<Value>30"), ABORT_RULE),
                vec![format!(
                    "{tag}: filter prefix \"recordings/\" and tag retention=30d became prefix \"recordings/\" and tag retention=30"
                )],
            ),
            (
                "days changed",
                read_back(&TAG_RULE.replace("<Days>30", "<Days>1"), ABORT_RULE),
                vec![format!("{tag}: expiration 30 days became 1 days")],
            ),
            (
                "expiration replaced by a date",
                read_back(
                    &TAG_RULE.replace("<Days>30</Days>", "<Date>2026-01-01T00:00:00Z</Date>"),
                    ABORT_RULE,
                ),
                vec![
                    format!("{tag}: expiration 30 days became none"),
                    format!("{tag}: other settings [] became [\"Expiration/Date=2026-01-01T00:00:00Z\"]"),
                ],
            ),
            (
                "disabled",
                read_back(&TAG_RULE.replace("Enabled", "Disabled"), ABORT_RULE),
                vec![format!("{tag}: status Enabled became Disabled")],
            ),
            (
                "abort rule dropped, another added",
                format!(
                    "<LifecycleConfiguration><Rule><ID>callrec-retention-30d-tag</ID>{TAG_RULE}</Rule>\
                     <Rule><ID>x</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
                     <Rule><ID>callrec-deleted-versions</ID>{DELETED_RULE}</Rule></LifecycleConfiguration>"
                ),
                vec![
                    "rule \"callrec-abort-incomplete-uploads\" was dropped".into(),
                    "rule \"x\" was added".into(),
                ],
            ),
            (
                "unreadable",
                "<Error><Code>NoSuchLifecycleConfiguration</Code></Error>".into(),
                vec!["the configuration read back: the root element is <Error>, not <LifecycleConfiguration>".into()],
            ),
        ];
        for (name, back, expected) in cases {
            let got = check_applied(&sent, &back).err().unwrap_or_default();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn rules_parse_into_filters_days_and_other_settings() {
        let rules = parse(&configuration(&[RetentionClass::Days(30)], true)).expect("ours parse");
        let recordings = Some("recordings/".to_string());
        assert_eq!(
            rules,
            vec![
                Rule {
                    id: "callrec-retention-30d-tag".into(),
                    enabled: true,
                    filter: Filter {
                        prefix: recordings.clone(),
                        tags: vec![("retention".into(), "30d".into())],
                    },
                    expiration_days: Some(30),
                    abort_incomplete_days: None,
                    other: vec![],
                },
                Rule {
                    id: "callrec-retention-30d-prefix".into(),
                    enabled: true,
                    filter: Filter {
                        prefix: Some("recordings/30d/".into()),
                        tags: vec![],
                    },
                    expiration_days: Some(30),
                    abort_incomplete_days: None,
                    other: vec![],
                },
                Rule {
                    id: "callrec-abort-incomplete-uploads".into(),
                    enabled: true,
                    filter: Filter {
                        prefix: recordings.clone(),
                        tags: vec![],
                    },
                    expiration_days: None,
                    abort_incomplete_days: Some(1),
                    other: vec![],
                },
                Rule {
                    id: "callrec-deleted-versions".into(),
                    enabled: true,
                    filter: Filter {
                        prefix: recordings,
                        tags: vec![],
                    },
                    expiration_days: None,
                    abort_incomplete_days: None,
                    other: vec![
                        "Expiration/ExpiredObjectDeleteMarker=true".into(),
                        "NoncurrentVersionExpiration/NoncurrentDays=1".into(),
                    ],
                },
            ]
        );
        let other = parse(
            "<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><And><Prefix></Prefix>\
             <ObjectSizeGreaterThan>9</ObjectSizeGreaterThan><Tag><Key>b</Key><Value>2</Value></Tag>\
             <Tag><Key>a</Key><Value>1</Value></Tag></And></Filter><Transition><Days>5</Days>\
             <StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>",
        )
        .expect("valid");
        assert_eq!(
            other,
            vec![Rule {
                id: String::new(),
                enabled: true,
                filter: Filter {
                    prefix: None,
                    tags: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
                },
                expiration_days: None,
                abort_incomplete_days: None,
                other: vec![
                    "Filter/And/ObjectSizeGreaterThan=9".into(),
                    "Transition/Days=5".into(),
                    "Transition/StorageClass=GLACIER".into(),
                ],
            }]
        );
    }

    #[test]
    fn malformed_configurations_are_typed_errors() {
        let rule = |body: &str| {
            format!(
                "<LifecycleConfiguration><Rule><ID>r</ID>{body}</Rule></LifecycleConfiguration>"
            )
        };
        let r = |reason: &str| ParseError::Rule {
            rule: "r".into(),
            reason: reason.into(),
        };
        let cases = [
            (
                "<LifecycleConfiguration>".to_string(),
                ParseError::Xml("document ends inside an element".into()),
            ),
            ("<Tagging/>".to_string(), ParseError::Root("Tagging".into())),
            (
                "<LifecycleConfiguration><Foo/></LifecycleConfiguration>".to_string(),
                ParseError::Rule {
                    rule: "#1".into(),
                    reason: "unexpected <Foo>".into(),
                },
            ),
            (rule(""), r("no Status")),
            (
                rule("<Status>On</Status>"),
                r("status \"On\" is neither Enabled nor Disabled"),
            ),
            (
                rule("<Status>Enabled</Status><Expiration><Days>-1</Days></Expiration>"),
                r("Expiration/Days \"-1\" is not a day count"),
            ),
            (
                rule("<Status>Enabled</Status><Filter><Tag><Key>k</Key></Tag></Filter>"),
                r("a Tag without Key or Value"),
            ),
            (
                rule("<Status>Enabled</Status><Prefix>a</Prefix><Filter/>"),
                r("both a Prefix and a Filter"),
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(parse(&xml), Err(expected), "{xml}");
        }
    }
}
