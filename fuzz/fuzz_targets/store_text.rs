//! Every text parser of the storage side on any input: the lifecycle configuration an S3
//! server returns, the config file, stored metadata, object keys, RFC 3339 times. None may
//! panic, and what each accepts must be consistent with what we write.
#![no_main]

use callrec::config::Config;
use callrec::store::key::RecordingDir;
use callrec::store::lifecycle;
use callrec::store::metadata::StoredMetadata;
use callrec::time::Time;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        let _ = serde_json::from_slice::<StoredMetadata>(data);
        return;
    };
    if let Ok(rules) = lifecycle::parse(text) {
        assert!(lifecycle::differences(&rules, &rules).is_empty());
    }
    let _ = Config::parse(text);
    if let Ok(metadata) = serde_json::from_str::<StoredMetadata>(text) {
        let _ = metadata.storage.expiry();
    }
    if let Some((dir, file)) = RecordingDir::parse(text) {
        // A key we accept is exactly the one we would write for what it names.
        assert_eq!(format!("{}{file}", dir.prefix()), text);
    }
    if let Some(t) = Time::parse_rfc3339(text) {
        let written = t.to_rfc3339();
        let back = Time::parse_rfc3339(&written).expect("we read what we write");
        assert_eq!(back.as_nanos(), t.as_nanos() / 1_000_000 * 1_000_000);
    }
});
