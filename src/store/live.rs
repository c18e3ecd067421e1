//! Live jobs: a spool job whose call is still being recorded. Beside its `.partial` media files
//! it holds a descriptor, `live.json`, written atomically when the call starts (and again when
//! its first packet fixes the recording's start): everything needed to make a recording of the
//! files if the process dies mid-call. On the next start, [`salvage`] repairs the files
//! (`encode::repair`: the longest valid prefix), writes a sidecar marked
//! `call.ended: "recovered"`, and commits the job, which is then uploaded like any other.

use super::atomic::{sync_parent, write_atomically};
use super::envelope::Keyring;
use super::error::StoreError;
use super::job::{self, FinishedFile};
use super::key::RecordingKey;
use super::media_files::sha256_file;
use super::metadata::StorageInfo;
use super::spool::{JobWriter, SpoolJob};
use crate::encode::repair::{self, Repair};
use crate::encode::{Format, OpusSettings};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The descriptor's name in a job directory.
pub const DESCRIPTOR: &str = "live.json";

/// Why a salvaged recording ends where it does, as its sidecar says.
pub const RECOVERED_REASON: &str =
    "the recorder stopped during the call (crash or power loss); recovered what was written";

/// What a live job's recording is, written before any of its audio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveDescriptor {
    /// The destination URL the job goes to.
    pub destination: String,
    pub storage: StorageInfo,
    /// The recording's name: the sidecar's `call.id` and the keys' call segment.
    pub name: String,
    /// The SIP Call-ID (the sidecar's `call.sip_call_id`); none for older descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_call_id: Option<String>,
    /// Media file names in file order; written as `NAME.partial` until the call ends.
    pub files: Vec<String>,
    pub format: Format,
    pub sample_rate: u32,
    pub channels: u8,
    pub opus: OpusSettings,
    /// Ogg stream serial of the first file (the second file's is the next number).
    pub stream_serial: u32,
    /// The sidecar's `encoder` section, as the recorder reports it.
    pub encoder: serde_json::Value,
    /// When the job began (RFC 3339).
    pub began: String,
    /// When the first packet arrived (RFC 3339): where the recording starts.
    #[serde(default)]
    pub call_start: Option<String>,
    /// Signalling's account of the call as it started (who was on it, which stream is which
    /// leg): the recovered sidecar's `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// An On Demand session still waiting for the user's start: nothing of the call is in the
    /// files, so recovery drops the job rather than store an empty recording.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_start: bool,
    /// The sidecar's `call.kind` (`"call"`, `"voicemail"`); none for older descriptors
    /// (a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Writes (or replaces) a job's descriptor durably: write, fsync, rename, fsync the
/// directory (which also makes the media files created before it durable) and its parent
/// (so the job itself survives a power cut). A crash leaves the old descriptor or the new
/// one, never a torn one.
pub fn write_descriptor(dir: &Path, descriptor: &LiveDescriptor) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(descriptor).map_err(std::io::Error::other)?;
    write_atomically(&dir.join(DESCRIPTOR), &json)?;
    sync_parent(dir)
}

/// A live job made into a committed one.
#[derive(Debug)]
pub struct Salvaged {
    pub job: SpoolJob,
    /// The recording's name (`call.id`).
    pub name: String,
    /// The longest file's length, seconds.
    pub duration_secs: f64,
    /// Media bytes kept, over all files.
    pub bytes: u64,
}

/// Makes the live job in `job`'s directory a committed recording of what its files hold.
/// `now` starts the retention clock (as spooling does for a call that ends normally).
///
/// With `keyring`, a recording of an organisation in it is encrypted as any other of its
/// recordings would be.
pub fn salvage(job: JobWriter, now: Time, keyring: &Keyring) -> Result<Salvaged, StoreError> {
    let dir = job.dir().to_path_buf();
    let bad = |reason: String| StoreError::BadJob {
        path: dir.clone(),
        reason,
    };
    let descriptor: LiveDescriptor = std::fs::read(dir.join(DESCRIPTOR))
        .map_err(StoreError::spool(&dir.join(DESCRIPTOR)))
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string())))?;
    let mut media = Vec::new();
    let mut files = Vec::new();
    let mut warnings = vec![RECOVERED_REASON.to_string()];
    for (index, name) in descriptor.files.iter().enumerate() {
        if name.contains('/') || name == DESCRIPTOR || name.ends_with(".json") {
            return Err(bad(format!("'{name}' is not a media file name")));
        }
        let final_path = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        // A crash while the call was being committed may have renamed some files already.
        let path = if !partial.exists() && final_path.exists() {
            final_path.clone()
        } else {
            partial
        };
        let serial = descriptor.stream_serial.wrapping_add(index as u32);
        let (repair, empty) = repair_file(&path, &descriptor, serial)?;
        if empty {
            warnings.push(format!("{name}: none of its audio had reached the disk"));
        }
        if path != final_path {
            std::fs::rename(&path, &final_path).map_err(StoreError::spool(&path))?;
        }
        sync_parent(&final_path).map_err(StoreError::spool(&final_path))?;
        let (bytes, sha256) = sha256_file(&final_path).map_err(StoreError::spool(&final_path))?;
        files.push(json!({
            "name": name,
            "legs": match (descriptor.files.len(), index) {
                (1, _) => "both",
                (_, 0) => "a",
                _ => "b",
            },
            "bytes": bytes,
            "duration_secs": repair.duration_secs(),
            "sha256": sha256,
        }));
        media.push((
            FinishedFile {
                name: name.clone(),
                bytes,
                sha256,
            },
            repair.duration_secs(),
        ));
    }
    let duration_secs = media.iter().map(|(_, d)| *d).fold(0.0, f64::max);
    let bytes = media.iter().map(|(f, _)| f.bytes).sum();
    let call_start = descriptor
        .call_start
        .as_deref()
        .and_then(Time::parse_rfc3339);
    let sidecar = json!({
        "callrec_version": env!("CARGO_PKG_VERSION"),
        "call": {
            "id": descriptor.name,
            "sip_call_id": descriptor.sip_call_id,
            "kind": descriptor.kind.as_deref().unwrap_or("call"),
            "start": call_start.map(Time::to_rfc3339),
            "end": call_start
                .map(|s| (s + std::time::Duration::from_secs_f64(duration_secs)).to_rfc3339()),
            "duration_secs": duration_secs,
            "ended": "recovered",
        },
        "recovered": {
            "reason": RECOVERED_REASON,
            "duration_secs": duration_secs,
            "bytes": bytes,
            "at": now.to_rfc3339(),
        },
        // Per-leg counts are the recorder's, at the call's end; who was on each leg is in
        // `input`.
        "legs": [],
        "encoder": descriptor.encoder,
        "files": files,
        "pauses": [],
        "exclusions": [],
        "tones": [],
        "packets_beyond_max_duration": 0,
        "input": descriptor.input,
        "warnings": warnings,
    });
    let sidecar = serde_json::to_vec_pretty(&sidecar).map_err(|e| bad(e.to_string()))?;
    let storage = StorageInfo {
        retained_since: now.to_rfc3339(),
        ..descriptor.storage
    };
    let key = RecordingKey {
        class: storage.retention,
        org: storage.org.clone(),
        date: call_start.unwrap_or(now).date(),
        call: descriptor.name.clone(),
    };
    let finished = media.into_iter().map(|(f, _)| f).collect();
    let job = job::commit(
        job,
        &descriptor.destination,
        &key,
        &storage,
        &sidecar,
        finished,
        keyring.get(&storage.org),
    )?;
    forget(&job.dir);
    Ok(Salvaged {
        job,
        name: descriptor.name,
        duration_secs,
        bytes,
    })
}

/// Repairs one media file in place, durably; a file with nothing usable (or none at all)
/// becomes a valid empty one. Returns the repair and whether the file had to be emptied.
fn repair_file(
    path: &Path,
    descriptor: &LiveDescriptor,
    serial: u32,
) -> Result<(Repair, bool), StoreError> {
    let io = StoreError::spool;
    let found = match File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            match descriptor.format {
                Format::OggOpus => file.read_to_end(&mut bytes),
                // Only the header: the sizes follow from the file's length.
                Format::Wav => (&mut file).take(64).read_to_end(&mut bytes),
            }
            .map_err(io(path))?;
            let len = file.metadata().map_err(io(path))?.len();
            Some(match descriptor.format {
                Format::OggOpus => repair::repair_ogg_opus(&bytes),
                Format::Wav => repair::repair_wav(&bytes, len),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(path)(e)),
    };
    // Nothing usable (no header, no audio page, no file): a valid empty file instead.
    if let Some(Ok(repair)) = found {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        file.set_len(repair.keep).map_err(io(path))?;
        for patch in &repair.patches {
            if let crate::encode::Chunk::Patch { offset, bytes } = patch {
                file.write_all_at(bytes, *offset).map_err(io(path))?;
            }
        }
        file.sync_all().map_err(io(path))?;
        return Ok((repair, false));
    }
    let empty = repair::empty_file(
        descriptor.format,
        descriptor.sample_rate,
        descriptor.channels,
        descriptor.opus,
        serial,
    )
    .map_err(|e| StoreError::BadJob {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(&empty).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    let repair = match descriptor.format {
        Format::OggOpus => repair::repair_ogg_opus(&empty),
        Format::Wav => repair::repair_wav(&empty, empty.len() as u64),
    }
    .map_err(|e| StoreError::BadJob {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok((repair, true))
}

/// Whether `dir` is a live job: it has a descriptor.
pub fn is_live(dir: &Path) -> bool {
    dir.join(DESCRIPTOR).exists()
}

/// Whether the live job in `dir` is an On Demand session the user never started (its
/// descriptor says so; an unreadable one does not).
pub fn awaits_start(dir: &Path) -> bool {
    std::fs::read(dir.join(DESCRIPTOR))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<LiveDescriptor>(&bytes).ok())
        .is_some_and(|d| d.awaiting_start)
}

/// Removes the descriptor of a job just committed: its manifest now says what it is, and a
/// crash while its upload removes the job must not make it a live job again. Unsynced: the
/// upload's removal of the manifest syncs the directory first.
pub fn forget(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(DESCRIPTOR));
}
