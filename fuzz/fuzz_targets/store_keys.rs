//! The key layout on any organisation, call and file name: a key always parses back to the
//! recording and file it was made from, never escapes `recordings/{class}/{org}/`, and two
//! different inputs never share a segment. A live recording's name, from any Call-ID, is a
//! plain segment of its own, and two sessions (two unique parts) never share one, whatever
//! their Call-IDs.
#![no_main]

use arbitrary::Arbitrary;
use callrec::store::key::{
    recording_name, segment, RecordingDir, RecordingKey, RetentionClass,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    org: String,
    call: String,
    file: String,
    other: String,
    days: Option<u16>,
    date: (u16, u8, u8),
    sessions: (u64, u64),
}

fuzz_target!(|input: Input| {
    let class = match input.days {
        Some(d) => RetentionClass::Days(u32::from(d.max(1))),
        None => RetentionClass::Unlimited,
    };
    let (y, m, d) = input.date;
    let key = RecordingKey {
        class,
        org: input.org.clone(),
        date: (u32::from(y % 10_000), u32::from(m % 12 + 1), u32::from(d % 31 + 1)),
        call: input.call.clone(),
    };
    let object = key.object(&input.file);
    assert!(object.len() <= 1024, "S3 keys are at most 1024 bytes");
    let (dir, file) = RecordingDir::parse(&object).expect("our keys parse");
    assert_eq!(dir, key.dir());
    assert_eq!(file, segment(&input.file));
    assert!(object.starts_with(&format!("recordings/{class}/{}/", segment(&input.org))));
    if input.other != input.org {
        assert_ne!(segment(&input.other), segment(&input.org), "segments are injective");
    }
    let (a, b) = input.sessions;
    let name = recording_name(&input.call, a);
    assert_eq!(segment(&name), name, "a recording's name needs no escaping");
    assert!(name.len() <= 120, "and no hashing");
    if a != b {
        assert_ne!(name, recording_name(&input.other, b), "two sessions, two names");
    }
});
