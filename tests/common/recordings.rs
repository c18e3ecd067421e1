//! Stored recordings for the recordings API's tests: real calls recorded from a capture by
//! `callrec record` into a filesystem store (real Ogg Opus media and a real metadata
//! document), then catalogued from that document as the uploader does
//! (`catalog::entry::entry`), with what the capture cannot say (who took part, when) set
//! by the test.

use callrec::catalog::entry::entry;
use callrec::policydb::recordings::CatalogRecording;
use callrec::policydb::PolicyDb;
use callrec::store::key::RecordingDir;
use callrec::time::Time;
use std::path::Path;
use std::process::Command;

/// Records the test capture as call `call_id` of `person` in `org` on `plan`, into the store
/// that `dir/callrec.toml` names.
pub fn record_call(dir: &Path, org: &str, person: &str, call_id: &str, plan: &str) {
    let capture = format!("{}/fixtures/pcmu-impaired.pcap", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .current_dir(dir)
        .args(["record", &capture, "--config", "callrec.toml", "--org", org])
        .args(["--user", person, "--call-id", call_id, "--plan", plan])
        .output()
        .expect("record");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

/// The catalog rows of every recording in the store at `dir/store` (destination URL
/// `store`, as `callrec.toml` names it), each changed by `edit` (given the call id), written
/// to the policy database at `db_url`. Returns them by call id.
pub fn catalogue(
    dir: &Path,
    db_url: &str,
    edit: impl Fn(&str, &mut CatalogRecording),
) -> Vec<CatalogRecording> {
    let store = dir.join("store");
    let documents: Vec<String> = super::cli::files(&store)
        .into_iter()
        .filter(|f| f.ends_with(".json"))
        .collect();
    assert!(!documents.is_empty(), "no metadata documents in {store:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let db = PolicyDb::open(db_url).await.expect("the policy store");
        let mut rows = Vec::new();
        for key in documents {
            let bytes = std::fs::read(store.join(&key)).expect("metadata document");
            let (recording, _) = RecordingDir::parse(&key).expect("a key of callrec's layout");
            let mut row = entry(
                "store",
                &recording,
                &key,
                &bytes,
                Time::from_secs_f64(1.8e9),
            )
            .expect("a metadata document");
            let call = row.id.clone();
            edit(&call, &mut row);
            db.put_recording(&row).await.expect("catalogued");
            rows.push(row);
        }
        rows
    })
}
