//! What reaches the policy from outside, on any input: SIP addresses (From/To headers, API
//! bodies), user settings bodies, and policy documents replayed into the lookup index. None may
//! panic; a normalised address is a fixed point; the index stays answerable.
#![no_main]

use callrec::policy::api_json::UserRecordingSettings;
use callrec::policy::index::{normalise_aor, PolicyIndex, KIND_AOR, KIND_LOCATION, KIND_ORGANISATION, KIND_USER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(key) = normalise_aor(text) {
        assert_eq!(normalise_aor(&key).as_deref(), Some(key.as_str()), "{text:?}");
    }
    let _ = serde_json::from_str::<UserRecordingSettings>(text);
    // The first line names the document; the rest is its body.
    let (head, body) = text.split_once('\n').unwrap_or((text, ""));
    let kinds = [KIND_ORGANISATION, KIND_LOCATION, KIND_USER, KIND_AOR];
    let kind = kinds[head.len() % kinds.len()];
    let mut index = PolicyIndex::default();
    let value = serde_json::from_str::<serde_json::Value>(body).ok();
    let _ = index.apply(kind, head, value.as_ref());
    let _ = index.apply(kind, head, None);
    let _ = index.lookup(head);
});
