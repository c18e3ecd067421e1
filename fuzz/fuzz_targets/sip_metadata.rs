//! SIPREC recording metadata, on any input: reading never panics; a document that reads
//! applies to itself without change and to an empty state as itself made complete; and
//! `sender_of` answers, for every stream label, a participant that sends on a stream with
//! that label, or nobody when no known participant does.
#![no_main]

use callrec::sip::metadata::{DataMode, Limits, Metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok(metadata) = Metadata::parse(text, &limits) else {
        return;
    };
    let mut itself = metadata.clone();
    itself
        .apply(metadata.clone(), &limits)
        .unwrap_or_else(|e| panic!("a document within the limits applies to itself: {e}"));
    assert_eq!(itself, metadata);
    let mut empty = Metadata::default();
    empty
        .apply(metadata.clone(), &limits)
        .unwrap_or_else(|e| panic!("a document within the limits applies to nothing: {e}"));
    let complete = Metadata {
        datamode: DataMode::Complete,
        ..metadata.clone()
    };
    assert_eq!(empty, complete);
    for label in metadata.streams.iter().filter_map(|s| s.label.as_deref()) {
        let sends_on_label = |participant_id: &str| {
            metadata
                .participant_streams
                .iter()
                .filter(|a| a.participant_id == participant_id)
                .flat_map(|a| &a.send)
                .any(|id| {
                    metadata
                        .streams
                        .iter()
                        .any(|s| &s.stream_id == id && s.label.as_deref() == Some(label))
                })
        };
        match metadata.sender_of(label) {
            Some(sender) => {
                assert!(metadata.participants.contains(sender));
                assert!(sends_on_label(&sender.participant_id), "{label:?}");
            }
            None => assert!(
                !metadata
                    .participants
                    .iter()
                    .any(|p| sends_on_label(&p.participant_id)),
                "{label:?}"
            ),
        }
    }
});
