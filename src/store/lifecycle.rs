//! The bucket lifecycle configuration that makes the store itself delete recordings when
//! their retention ends (S3 `PutBucketLifecycleConfiguration`). Pure text, no IO.
//!
//! For each finite retention class there is a tag-filtered rule (`retention` = `30d` under
//! `recordings/`), which follows a plan migration that re-tags objects in place; optionally a
//! prefix-filtered equivalent (`recordings/30d/`) for stores that honour no tag filters, whose
//! migrations must move objects to the new class's prefix instead. One more rule aborts
//! multipart uploads left incomplete, so a crashed upload cannot hold storage forever.

use super::key::RetentionClass;
use std::fmt::Write;

/// Days after which an incomplete multipart upload is aborted.
pub const ABORT_INCOMPLETE_AFTER_DAYS: u32 = 1;

/// The lifecycle configuration XML for `classes` (unlimited ones need no rule).
pub fn configuration(classes: &[RetentionClass], with_prefix_rules: bool) -> String {
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
             <Prefix>recordings/</Prefix>\n        <Tag><Key>retention</Key><Value>{class}</Value></Tag>\n      \
             </And>\n    </Filter>\n    <Status>Enabled</Status>\n    <Expiration><Days>{d}</Days></Expiration>\n  </Rule>\n"
        );
        if with_prefix_rules {
            let _ = write!(
                xml,
                "  <Rule>\n    <ID>callrec-retention-{class}-prefix</ID>\n    <Filter><Prefix>recordings/{class}/</Prefix></Filter>\n    \
                 <Status>Enabled</Status>\n    <Expiration><Days>{d}</Days></Expiration>\n  </Rule>\n"
            );
        }
    }
    let _ = write!(
        xml,
        "  <Rule>\n    <ID>callrec-abort-incomplete-uploads</ID>\n    <Filter><Prefix>recordings/</Prefix></Filter>\n    \
         <Status>Enabled</Status>\n    <AbortIncompleteMultipartUpload><DaysAfterInitiation>{ABORT_INCOMPLETE_AFTER_DAYS}</DaysAfterInitiation></AbortIncompleteMultipartUpload>\n  </Rule>\n"
    );
    xml.push_str("</LifecycleConfiguration>\n");
    xml
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
</LifecycleConfiguration>
"
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
        assert!(!unlimited.contains("<Expiration>"));
    }
}
