//! The durable local spool: every recording is complete on local disk, fsynced, before any
//! upload starts, and stays there until the store has confirmed every byte.
//!
//! Layout: `SPOOL/jobs/{id}/` holds a recording's media files, its metadata document and, once
//! complete, `job.json` (the manifest). `job.json` is written last, atomically (write, fsync,
//! rename, fsync the directory), so a job either has a manifest and every file it names, or is
//! an interrupted write: a live job (a call being recorded, with its `live.json` descriptor,
//! see [`super::live`]) that [`Spool::recover`] (in [`super::recovery`]) makes into a
//! recording of what was written, or anything else, which it discards. The spool itself knows
//! nothing of live jobs but what recovery tells it. Every job gets a directory of its own (a
//! hash of destination and keys, and a random suffix): starting a job never touches another,
//! even one for the same keys.
//!
//! Processes sharing a spool: each job is locked (`flock`, released however its process
//! dies) by its writer until committed, and recovery leaves a locked job alone; one process
//! at a time owns the backlog (recovers and drains it), see [`Spool::own`].
//!
//! The bytes the spool holds are kept as a running count (one walk at [`Spool::open`], then
//! what jobs write, commit, abandon and finish), so checking the limit at a call's start costs
//! no disk access.

use super::atomic::write_atomically;
use super::error::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

const MANIFEST: &str = "job.json";
/// Locked (`flock`) by the process writing a job, for as long as it writes: recovery leaves a
/// job alone while another process, even one that shares the spool, is still writing it.
const WRITER_LOCK: &str = "writer.lock";
/// Locked by the process that owns the spool's backlog: a running `serve`, or `storage flush`.
const OWNER_LOCK: &str = "owner.lock";
/// A job's directory is made under this prefix and renamed once its writer lock is held, so
/// no other process ever sees a job without a lock to try.
const NEW_JOB_PREFIX: &str = ".new-";
/// Present once an upload of the job was tried ([`Spool::mark_tried`]).
const TRIED: &str = "tried";

/// What to upload, where, with which tags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The destination URL (options, credentials included, come from configuration).
    pub destination: String,
    pub media: Vec<SpooledFile>,
    /// Uploaded last, so a reader never sees metadata without its media.
    pub metadata: SpooledFile,
    pub tags: Vec<(String, String)>,
}

/// One file of a job: its name in the job directory, its key in the store, and what the stored
/// copy must match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpooledFile {
    pub name: String,
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A complete job waiting for upload.
#[derive(Clone, Debug)]
pub struct SpoolJob {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl SpoolJob {
    pub fn path(&self, file: &SpooledFile) -> PathBuf {
        self.dir.join(&file.name)
    }

    /// False once the job was uploaded and removed, by this process or another.
    pub fn still_spooled(&self) -> bool {
        self.dir.join(MANIFEST).exists()
    }
}

#[derive(Clone, Debug)]
pub struct Spool {
    jobs: PathBuf,
    limit: u64,
    /// Bytes held by every job, shared by every clone of this spool.
    used: Arc<AtomicU64>,
}

/// A job being written; nothing in it is uploaded until [`JobWriter::commit`].
#[derive(Debug)]
pub struct JobWriter {
    dir: PathBuf,
    used: Arc<AtomicU64>,
    /// What this job has added to the spool's count so far.
    counted: u64,
    /// The job's writer lock, held until the writer is committed or abandoned; `None` for a
    /// writer over a job that recovery or a rewrite owns already.
    _lock: Option<File>,
}

/// Proof that this process owns the spool's backlog: only the owner recovers live jobs,
/// discards interrupted writes and drains what earlier runs left. Released when dropped (or
/// when the process dies, however it dies).
#[derive(Debug)]
pub struct SpoolOwner {
    _lock: File,
}

impl Spool {
    /// 8 GiB: hours of a busy worker's recordings while the store is unreachable.
    pub const DEFAULT_LIMIT: u64 = 8 << 30;

    /// Opens (creating) the spool in `dir` and counts what it holds.
    pub fn open(dir: impl Into<PathBuf>, limit: u64) -> Result<Spool, StoreError> {
        let jobs = dir.into().join("jobs");
        std::fs::create_dir_all(&jobs).map_err(StoreError::spool(&jobs))?;
        let used = spool_bytes(&jobs)?;
        Ok(Spool {
            jobs,
            limit,
            used: Arc::new(AtomicU64::new(used)),
        })
    }

    /// Bytes held by every job, complete or not: the running count, no disk access.
    pub fn usage(&self) -> u64 {
        self.used.load(Relaxed)
    }

    /// Starts a job for the recording whose metadata goes to `metadata_key` at `destination`,
    /// in a directory of its own: an existing job, even for the same keys, is never touched.
    /// Refused with [`StoreError::SpoolFull`] when the spool already holds its limit; a job
    /// that is started may finish above it (the limit bounds what waits, not one recording).
    pub fn begin(&self, destination: &str, metadata_key: &str) -> Result<JobWriter, StoreError> {
        let used = self.usage();
        if used >= self.limit {
            return Err(StoreError::SpoolFull {
                used,
                limit: self.limit,
            });
        }
        let digest = Sha256::digest(format!("{destination}\n{metadata_key}").as_bytes());
        let id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        loop {
            let name = format!("{id}-{:016x}", random_u64());
            let dir = self.jobs.join(&name);
            let new = self.jobs.join(format!("{NEW_JOB_PREFIX}{name}"));
            match std::fs::create_dir(&new) {
                Ok(()) => {}
                // 64 random bits met another job's: draw again.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::spool(&new)(e)),
            }
            let lock = new.join(WRITER_LOCK);
            let taken = File::create(&lock).and_then(|file| {
                file.try_lock().map_err(std::io::Error::from)?;
                Ok(file)
            });
            let file = match taken {
                Ok(file) => file,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&new);
                    return Err(StoreError::spool(&lock)(e));
                }
            };
            if dir.exists() {
                let _ = std::fs::remove_dir_all(&new);
                continue;
            }
            std::fs::rename(&new, &dir).map_err(StoreError::spool(&dir))?;
            return Ok(JobWriter {
                dir,
                used: Arc::clone(&self.used),
                counted: 0,
                _lock: Some(file),
            });
        }
    }

    /// Makes this process the owner of the spool's backlog (see [`SpoolOwner`]), or fails
    /// with [`StoreError::SpoolInUse`] while another live process is: a `storage flush`
    /// beside a running `serve` would race it for the same jobs.
    pub fn own(&self) -> Result<SpoolOwner, StoreError> {
        let path = self.jobs.parent().unwrap_or(&self.jobs).join(OWNER_LOCK);
        let file = File::create(&path).map_err(StoreError::spool(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(SpoolOwner { _lock: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::SpoolInUse {
                spool: self.jobs.parent().unwrap_or(&self.jobs).to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::spool(&path)(e)),
        }
    }

    /// Every complete job, oldest first, leaving jobs still being written alone: what a
    /// running server uploads while its shards write new recordings.
    pub fn pending(&self) -> Result<Vec<SpoolJob>, StoreError> {
        Ok(self.scan(None)?.0)
    }

    /// The live jobs (no manifest, and `is_live` says they are one) whose writer is gone,
    /// each with a writer over it that now holds its lock: what recovery salvages. Their bytes
    /// were counted at open.
    pub(super) fn orphaned_live_jobs(
        &self,
        is_live: fn(&Path) -> bool,
    ) -> Result<Vec<JobWriter>, StoreError> {
        let mut orphans = Vec::new();
        for dir in read_dir(&self.jobs)? {
            if dir.join(MANIFEST).exists() || !is_live(&dir) {
                continue;
            }
            let Writer::Gone(lock) = writer_of(&dir)? else {
                continue;
            };
            // Counted at open; `recount` counts the spool again once recovery has changed it.
            orphans.push(JobWriter {
                dir,
                used: Arc::clone(&self.used),
                counted: u64::MAX,
                _lock: lock,
            });
        }
        Ok(orphans)
    }

    /// Counts the bytes the spool holds again, from the disk.
    pub(super) fn recount(&self) -> Result<(), StoreError> {
        self.used.store(spool_bytes(&self.jobs)?, Relaxed);
        Ok(())
    }

    /// Every complete job, oldest first, and (with `discard_unless`) the interrupted writes it
    /// removed: jobs without a manifest whose writer is gone, unless `discard_unless` keeps
    /// them (a live job that could not be salvaged stays for the next start).
    pub(super) fn scan(
        &self,
        discard_unless: Option<fn(&Path) -> bool>,
    ) -> Result<(Vec<SpoolJob>, Vec<PathBuf>), StoreError> {
        let mut discarded = Vec::new();
        let mut jobs = Vec::new();
        for dir in read_dir(&self.jobs)? {
            let manifest_path = dir.join(MANIFEST);
            match std::fs::read(&manifest_path) {
                Ok(bytes) => {
                    let manifest =
                        serde_json::from_slice(&bytes).map_err(|e| StoreError::BadJob {
                            path: dir.clone(),
                            reason: e.to_string(),
                        })?;
                    let modified = match std::fs::metadata(&manifest_path) {
                        Ok(metadata) => metadata.modified(),
                        // Uploaded and removed since it was read.
                        Err(e) if e.kind() == ErrorKind::NotFound => continue,
                        Err(e) => Err(e),
                    };
                    let modified = modified.map_err(StoreError::spool(&manifest_path))?;
                    jobs.push((modified, SpoolJob { dir, manifest }));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    // A job another process is writing is its writer's.
                    if discard_unless.is_some_and(|keep| !keep(&dir))
                        && matches!(writer_of(&dir)?, Writer::Gone(_))
                    {
                        let bytes = dir_bytes(&dir)?;
                        remove_job(&dir)?;
                        release(&self.used, bytes);
                        discarded.push(dir);
                    }
                }
                Err(e) => return Err(StoreError::spool(&manifest_path)(e)),
            }
        }
        jobs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.dir.cmp(&b.1.dir)));
        Ok((jobs.into_iter().map(|(_, job)| job).collect(), discarded))
    }

    /// Removes an uploaded job: the manifest first, so a crash half-way leaves an incomplete
    /// job that recovery discards, never a manifest naming missing files.
    pub fn finish(&self, job: &SpoolJob) -> Result<(), StoreError> {
        let bytes = dir_bytes(&job.dir)?;
        let manifest = job.dir.join(MANIFEST);
        match std::fs::remove_file(&manifest) {
            Ok(()) => {}
            // Another process uploaded and removed it (a `record` beside a `serve`).
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::spool(&manifest)(e)),
        }
        sync_dir(&job.dir)?;
        remove_job(&job.dir)?;
        release(&self.used, bytes);
        Ok(())
    }
}

/// What [`Spool::pending_new`] found.
#[derive(Debug, Default)]
pub struct NewJobs {
    /// Every job directory, complete or not.
    pub present: Vec<PathBuf>,
    /// Complete jobs not among those already known, oldest first.
    pub jobs: Vec<SpoolJob>,
    /// Job directories whose manifest cannot be read, and why.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Spool {
    /// Like [`Spool::pending`], but reads only the manifests of jobs not in `known`, and a
    /// manifest that cannot be read is reported instead of failing the whole scan: a running
    /// uploader rescans often, with thousands of jobs waiting while a store is down.
    pub fn pending_new(
        &self,
        known: &std::collections::HashSet<PathBuf>,
    ) -> Result<NewJobs, StoreError> {
        let mut found = NewJobs::default();
        let mut jobs = Vec::new();
        for dir in read_dir(&self.jobs)? {
            if !known.contains(&dir) {
                let manifest_path = dir.join(MANIFEST);
                let read = std::fs::read(&manifest_path).and_then(|bytes| {
                    let modified = std::fs::metadata(&manifest_path)?.modified()?;
                    Ok((bytes, modified))
                });
                match read {
                    Ok((bytes, modified)) => match serde_json::from_slice(&bytes) {
                        Ok(manifest) => jobs.push((
                            modified,
                            SpoolJob {
                                dir: dir.clone(),
                                manifest,
                            },
                        )),
                        Err(e) => found.unreadable.push((dir.clone(), e.to_string())),
                    },
                    // Still being written, or uploaded and removed since it was listed.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => found.unreadable.push((dir.clone(), e.to_string())),
                }
            }
            found.present.push(dir);
        }
        jobs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.dir.cmp(&b.1.dir)));
        found.jobs = jobs.into_iter().map(|(_, job)| job).collect();
        Ok(found)
    }

    /// Notes that an upload of `job` starts; true when none was tried before, so nothing of
    /// it can be in the store yet (see `upload::upload_attempt`). Not synced: a note lost in
    /// a crash only sends objects again, whole.
    pub fn mark_tried(&self, job: &SpoolJob) -> Result<bool, StoreError> {
        let path = job.dir.join(TRIED);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(StoreError::spool(&path)(e)),
        }
    }

    /// Replaces a complete job's manifest and metadata document (a plan change re-classed the
    /// recording before it left). The new document goes to a file of its own and the manifest
    /// is swapped atomically, so a crash at any point leaves the old job or the new one, each
    /// whole; the old document is removed last.
    pub fn rewrite(
        &self,
        job: &SpoolJob,
        mut manifest: Manifest,
        metadata: &[u8],
    ) -> Result<SpoolJob, StoreError> {
        let name = format!(
            "metadata-{}.json",
            &Sha256::digest(metadata)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()[..16]
        );
        manifest.metadata.name = name;
        let old = job.dir.join(&job.manifest.metadata.name);
        // The job is counted already; the few bytes its new document differs by are left to
        // `finish`, which takes off what the directory holds then.
        let writer = JobWriter {
            dir: job.dir.clone(),
            used: Arc::clone(&self.used),
            counted: u64::MAX,
            _lock: None,
        };
        let new = writer.commit(manifest, metadata)?;
        if new.path(&new.manifest.metadata) != old {
            match std::fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::spool(&old)(e)),
            }
        }
        Ok(new)
    }
}

impl JobWriter {
    /// Where the recording's media files are written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tells the spool's count that this job's media files now hold `bytes` in all (what
    /// [`crate::store::media_files::MediaFiles::written`] says).
    pub fn count(&mut self, bytes: u64) {
        if bytes > self.counted {
            self.used.fetch_add(bytes - self.counted, Relaxed);
            self.counted = bytes;
        }
    }

    /// Writes the metadata document and then the manifest, durably. Every media file the
    /// manifest names must already be in [`JobWriter::dir`], synced, with its stated size.
    pub fn commit(mut self, manifest: Manifest, metadata: &[u8]) -> Result<SpoolJob, StoreError> {
        for file in &manifest.media {
            let path = self.dir.join(&file.name);
            let len = std::fs::metadata(&path)
                .map_err(StoreError::spool(&path))?
                .len();
            if len != file.bytes {
                return Err(StoreError::BadJob {
                    path,
                    reason: format!("{len} bytes on disk, manifest says {}", file.bytes),
                });
            }
        }
        let media: u64 = manifest.media.iter().map(|f| f.bytes).sum();
        self.count(media);
        write_synced(&self.dir.join(&manifest.metadata.name), metadata)?;
        self.count(media + metadata.len() as u64);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadJob {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        self.count(media + (metadata.len() + json.len()) as u64);
        let manifest_path = self.dir.join(MANIFEST);
        write_atomically(&manifest_path, &json).map_err(StoreError::spool(&manifest_path))?;
        if let Some(jobs) = self.dir.parent() {
            sync_dir(jobs)?;
        }
        Ok(SpoolJob {
            dir: self.dir,
            manifest,
        })
    }

    /// Drops an unfinished job (the recording failed).
    pub fn abandon(self) -> Result<(), StoreError> {
        remove_job(&self.dir)?;
        release(&self.used, self.counted);
        Ok(())
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(StoreError::spool(dir))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(StoreError::spool(dir))?.path());
    }
    paths.sort();
    Ok(paths)
}

/// Bytes of every job's files.
fn spool_bytes(jobs: &Path) -> Result<u64, StoreError> {
    let mut used = 0;
    for job in read_dir(jobs)? {
        used += dir_bytes(&job)?;
    }
    Ok(used)
}

/// Bytes of the files in one job's directory; a job or file that goes while it counts (its
/// upload finished) counts as nothing.
fn dir_bytes(job: &Path) -> Result<u64, StoreError> {
    let files = match std::fs::read_dir(job) {
        Ok(files) => files,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::spool(job)(e)),
    };
    let mut total = 0;
    for file in files {
        let file = file.map_err(StoreError::spool(job))?;
        match file.metadata() {
            Ok(metadata) => total += metadata.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::spool(&file.path())(e)),
        }
    }
    Ok(total)
}

/// Takes `bytes` off the spool's count, never below zero.
fn release(used: &AtomicU64, bytes: u64) {
    let _ = used.fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(bytes)));
}

/// 64 bits from the system's random source: a job directory's suffix, a live recording's
/// unique part.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Without the system's randomness the clock's nanoseconds still differ between jobs.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = nanos.to_le_bytes();
    }
    u64::from_le_bytes(bytes)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let write = || -> std::io::Result<()> {
        let mut f = File::create(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(StoreError::spool(path))
}

/// A rename or unlink is durable only once its directory is synced.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::spool(dir))
}

/// Whether a job's writer is still alive, in this process or another.
enum Writer {
    Alive,
    /// Gone: here is its lock, now ours (`None` for a job without a lock file, one from before
    /// writer locks).
    Gone(Option<File>),
}

/// Takes the writer lock of the job in `dir` when no live writer holds it. A new job's
/// directory may not have its lock file yet: its writer is alive.
fn writer_of(dir: &Path) -> Result<Writer, StoreError> {
    let path = dir.join(WRITER_LOCK);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let new = dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(NEW_JOB_PREFIX));
            return Ok(if new {
                Writer::Alive
            } else {
                Writer::Gone(None)
            });
        }
        Err(e) => return Err(StoreError::spool(&path)(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Writer::Gone(Some(file))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Writer::Alive),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::spool(&path)(e)),
    }
}

fn remove_job(dir: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::spool(dir)(e)),
    }
    dir.parent().map_or(Ok(()), sync_dir)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The wall clock a recovery is told, in these tests: 2027-01-15 08:00 UTC.
    pub(in crate::store) const SALVAGED_AT: crate::time::Time =
        crate::time::Time::from_nanos(1_800_000_000_000_000_000);

    /// A directory of its own for one test, removed after it.
    pub(in crate::store) struct TempDir(pub(in crate::store) PathBuf);
    impl TempDir {
        pub(in crate::store) fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("callrec-spool-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn manifest(bytes: u64) -> Manifest {
        let file = |name: &str, bytes| SpooledFile {
            name: name.into(),
            key: format!("recordings/30d/o/2026/11/25/c/{name}"),
            bytes,
            sha256: "00".into(),
        };
        Manifest {
            destination: "memory://t".into(),
            media: vec![file("c.opus", bytes)],
            metadata: file("c.json", 2),
            tags: vec![("retention".into(), "30d".into())],
        }
    }

    fn write_job(spool: &Spool, key: &str, media: &[u8]) -> Result<SpoolJob, StoreError> {
        let writer = spool.begin("memory://t", key)?;
        std::fs::write(writer.dir().join("c.opus"), media).expect("write");
        writer.commit(manifest(media.len() as u64), b"{}")
    }

    #[test]
    fn committed_jobs_survive_and_interrupted_ones_are_discarded() {
        let tmp = TempDir::new("recover");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let done = write_job(&spool, "k1", b"media").expect("commit");
        let interrupted = spool.begin("memory://t", "k2").expect("begin");
        std::fs::write(interrupted.dir().join("c.opus.partial"), b"half").expect("write");
        let half_dir = interrupted.dir().to_path_buf();
        drop(interrupted); // the process died here

        let reopened = Spool::open(&tmp.0, 1 << 20).expect("reopen");
        let recovered = reopened
            .recover(&reopened.own().expect("own"), SALVAGED_AT)
            .expect("recover");
        assert_eq!(recovered.discarded, vec![half_dir.clone()]);
        assert!(!half_dir.exists());
        assert_eq!(recovered.jobs.len(), 1);
        assert_eq!(recovered.jobs[0].manifest, done.manifest);
        assert_eq!(
            std::fs::read(recovered.jobs[0].path(&done.manifest.media[0])).expect("media"),
            b"media"
        );
        assert_eq!(
            std::fs::read(done.dir.join("c.json")).expect("metadata"),
            b"{}"
        );

        reopened.finish(&recovered.jobs[0]).expect("finish");
        assert!(reopened
            .recover(&reopened.own().expect("own"), SALVAGED_AT)
            .expect("recover")
            .jobs
            .is_empty());
        assert_eq!(reopened.usage(), 0);
    }

    /// One owner at a time: the second is told the spool is in use, until the first is gone.
    #[test]
    fn the_spool_has_one_owner_at_a_time() {
        let tmp = TempDir::new("owner");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let first = spool.own().expect("own");
        let other = Spool::open(&tmp.0, 1 << 20).expect("reopen");
        let err = other.own().expect_err("owned already");
        assert!(matches!(err, StoreError::SpoolInUse { .. }), "{err}");
        assert!(err
            .to_string()
            .contains("in use by another callrec process"));
        drop(first);
        other.own().expect("free again");
    }

    /// Two sessions may share keys (a client reusing a Call-ID): each job is its own, and
    /// starting one never removes another, complete or still being written.
    #[test]
    fn a_job_for_the_same_keys_never_touches_another() {
        let tmp = TempDir::new("same-keys");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let first = write_job(&spool, "k1", b"first").expect("commit");
        let live = spool.begin("memory://t", "k1").expect("begin");
        std::fs::write(live.dir().join("c.opus.partial"), b"live").expect("write");
        let second = write_job(&spool, "k1", b"second!").expect("commit");
        assert_ne!(first.dir, second.dir);
        assert_ne!(live.dir(), second.dir);
        assert_eq!(
            std::fs::read(live.dir().join("c.opus.partial")).expect("live job kept"),
            b"live"
        );
        let jobs = spool.pending().expect("pending");
        let sizes: Vec<u64> = jobs.iter().map(|j| j.manifest.media[0].bytes).collect();
        assert_eq!(sizes.len(), 2);
        assert!(sizes.contains(&5) && sizes.contains(&7), "{sizes:?}");
    }

    /// The count follows every write, commit, abandon and finish without walking the disk,
    /// and a reopened spool finds the same number on disk.
    #[test]
    fn usage_is_a_running_count_that_matches_the_disk() {
        let tmp = TempDir::new("usage");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        assert_eq!(spool.usage(), 0);
        let mut live = spool.begin("memory://t", "live").expect("begin");
        std::fs::write(live.dir().join("c.opus.partial"), [1; 300]).expect("write");
        live.count(300);
        assert_eq!(spool.usage(), 300);
        let done = write_job(&spool, "done", &[2; 1000]).expect("commit");
        let on_disk = |spool: &Spool| -> u64 {
            read_dir(&spool.jobs)
                .expect("jobs")
                .iter()
                .map(|d| dir_bytes(d).expect("bytes"))
                .sum()
        };
        assert_eq!(spool.usage(), on_disk(&spool));
        assert_eq!(
            Spool::open(&tmp.0, 1 << 20).expect("reopen").usage(),
            spool.usage()
        );
        live.abandon().expect("abandon");
        assert_eq!(spool.usage(), on_disk(&spool));
        spool.finish(&done).expect("finish");
        assert_eq!(spool.usage(), 0);
    }

    #[test]
    fn a_full_spool_refuses_new_jobs_and_keeps_the_old_ones() {
        let tmp = TempDir::new("full");
        let spool = Spool::open(&tmp.0, 100).expect("open");
        write_job(&spool, "k1", &[7; 150]).expect("a started job may pass the limit");
        let err = write_job(&spool, "k2", b"x").unwrap_err();
        assert!(
            matches!(err, StoreError::SpoolFull { limit: 100, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("nothing spooled is lost"), "{err}");
        let jobs = spool
            .recover(&spool.own().expect("own"), SALVAGED_AT)
            .expect("recover")
            .jobs;
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            std::fs::read(jobs[0].path(&jobs[0].manifest.media[0])).expect("kept"),
            vec![7; 150]
        );
    }

    #[test]
    fn commit_refuses_media_that_is_not_what_the_manifest_says() {
        let tmp = TempDir::new("short");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let writer = spool.begin("memory://t", "k").expect("begin");
        std::fs::write(writer.dir().join("c.opus"), b"abc").expect("write");
        let err = writer.commit(manifest(4), b"{}").unwrap_err();
        assert!(
            err.to_string().contains("3 bytes on disk, manifest says 4"),
            "{err}"
        );
    }

    #[test]
    fn pending_new_reads_only_unknown_jobs_and_reports_broken_manifests() {
        let tmp = TempDir::new("new");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let first = write_job(&spool, "k1", b"one").expect("commit");
        let second = write_job(&spool, "k2", b"two").expect("commit");
        let writing = spool.begin("memory://t", "k3").expect("begin");
        let broken = spool.begin("memory://t", "k4").expect("begin");
        std::fs::write(broken.dir().join(MANIFEST), b"{not json").expect("write");

        let known = std::collections::HashSet::from([first.dir.clone()]);
        let found = spool.pending_new(&known).expect("scan");
        assert_eq!(found.present.len(), 4, "every job directory");
        assert!(found.present.contains(&writing.dir().to_path_buf()));
        assert_eq!(found.jobs.len(), 1);
        assert_eq!(found.jobs[0].manifest, second.manifest);
        assert_eq!(found.unreadable.len(), 1);
        assert_eq!(found.unreadable[0].0, broken.dir());
    }

    #[test]
    fn a_job_is_tried_first_once_even_after_a_restart() {
        let tmp = TempDir::new("tried");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let job = write_job(&spool, "k1", b"media").expect("commit");
        assert!(spool.mark_tried(&job).expect("mark"), "never tried");
        assert!(!spool.mark_tried(&job).expect("mark"));
        let reopened = Spool::open(&tmp.0, 1 << 20).expect("reopen");
        let jobs = reopened
            .recover(&reopened.own().expect("own"), SALVAGED_AT)
            .expect("recover")
            .jobs;
        assert!(
            !reopened.mark_tried(&jobs[0]).expect("mark"),
            "tried before the restart"
        );
        reopened.finish(&jobs[0]).expect("finish");
        assert!(!job.dir.exists());
    }

    #[test]
    fn rewrite_swaps_manifest_and_metadata_and_keeps_the_media() {
        let tmp = TempDir::new("rewrite");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let job = write_job(&spool, "k1", b"media").expect("commit");
        let mut manifest = job.manifest.clone();
        manifest.media[0].key = "recordings/unlimited/o/2026/11/25/c/c.opus".into();
        manifest.metadata.bytes = 9;
        let new = spool
            .rewrite(&job, manifest.clone(), b"{\"new\":1}")
            .expect("rewrite");
        assert_ne!(new.manifest.metadata.name, job.manifest.metadata.name);
        assert_eq!(
            std::fs::read(new.path(&new.manifest.metadata)).expect("doc"),
            b"{\"new\":1}"
        );
        assert!(
            !job.path(&job.manifest.metadata).exists(),
            "old document removed"
        );
        let jobs = spool
            .recover(&spool.own().expect("own"), SALVAGED_AT)
            .expect("recover")
            .jobs;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].manifest, new.manifest);
        assert_eq!(jobs[0].manifest.media[0].key, manifest.media[0].key);
        assert_eq!(
            std::fs::read(jobs[0].path(&jobs[0].manifest.media[0])).expect("media"),
            b"media"
        );
    }

    /// A server starts recordings while its uploader finishes others: counting the spool
    /// and listing what is pending must not trip over a job that vanishes meanwhile.
    #[test]
    fn jobs_finishing_while_others_begin_are_no_error() {
        let tmp = TempDir::new("race");
        let spool = Spool::open(&tmp.0, 1 << 30).expect("open");
        let uploader = {
            let spool = Spool::open(&tmp.0, 1 << 30).expect("open");
            std::thread::spawn(move || {
                for i in 0..300 {
                    let job = write_job(&spool, &format!("done-{i}"), &[1; 64]).expect("commit");
                    spool.finish(&job).expect("finish");
                }
            })
        };
        let mut rounds = 0;
        while !uploader.is_finished() {
            Spool::open(&tmp.0, 1 << 30).expect("counting while jobs finish");
            spool.pending().expect("pending while jobs finish");
            let writer = spool
                .begin("memory://t", &format!("new-{rounds}"))
                .expect("begin");
            writer.abandon().expect("abandon");
            rounds += 1;
        }
        uploader.join().expect("no panic");
        assert!(rounds > 0);
    }
}
