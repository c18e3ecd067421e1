//! The durable local spool: every recording is complete on local disk, fsynced, before any
//! upload starts, and stays there until the store has confirmed every byte.
//!
//! Layout: `SPOOL/jobs/{id}/` holds a recording's media files, its metadata document and, once
//! complete, `job.json` (the manifest). `job.json` is written last, atomically (write, fsync,
//! rename, fsync the directory), so a job either has a manifest and every file it names, or is
//! an interrupted write: a live job (a call being recorded, with its `live.json` descriptor,
//! see [`super::live`]) that [`Spool::recover`] makes into a recording of what was written, or
//! anything else, which it discards. The job id is a hash of destination and
//! keys, so recording the same call again replaces its job instead of duplicating it.

use super::error::StoreError;
use super::live::{self, Salvaged};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

const MANIFEST: &str = "job.json";

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
}

/// What a restart found: jobs to upload, and interrupted writes it removed.
#[derive(Debug, Default)]
pub struct Recovered {
    pub jobs: Vec<SpoolJob>,
    pub discarded: Vec<PathBuf>,
    /// Live jobs (calls being recorded when the process died) made into recordings; their
    /// jobs are among `jobs`.
    pub salvaged: Vec<Salvaged>,
    /// Live jobs that could not be made into recordings, and why; they stay in the spool and
    /// are tried again on the next start.
    pub unsalvaged: Vec<(PathBuf, String)>,
}

#[derive(Clone, Debug)]
pub struct Spool {
    jobs: PathBuf,
    limit: u64,
}

/// A job being written; nothing in it is uploaded until [`JobWriter::commit`].
#[derive(Debug)]
pub struct JobWriter {
    dir: PathBuf,
}

impl Spool {
    /// 8 GiB: hours of a busy worker's recordings while the store is unreachable.
    pub const DEFAULT_LIMIT: u64 = 8 << 30;

    pub fn open(dir: impl Into<PathBuf>, limit: u64) -> Result<Spool, StoreError> {
        let jobs = dir.into().join("jobs");
        std::fs::create_dir_all(&jobs).map_err(StoreError::spool(&jobs))?;
        Ok(Spool { jobs, limit })
    }

    /// Bytes held by every job, complete or not. A job or file that goes while it counts (its
    /// upload finished) counts as nothing.
    pub fn usage(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for job in read_dir(&self.jobs)? {
            let files = match std::fs::read_dir(&job) {
                Ok(files) => files,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::spool(&job)(e)),
            };
            for file in files {
                let file = file.map_err(StoreError::spool(&job))?;
                match file.metadata() {
                    Ok(metadata) => total += metadata.len(),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::spool(&file.path())(e)),
                }
            }
        }
        Ok(total)
    }

    /// Starts a job for the recording whose metadata goes to `metadata_key` at `destination`.
    /// Refused with [`StoreError::SpoolFull`] when the spool already holds its limit; a job
    /// that is started may finish above it (the limit bounds what waits, not one recording).
    pub fn begin(&self, destination: &str, metadata_key: &str) -> Result<JobWriter, StoreError> {
        let used = self.usage()?;
        if used >= self.limit {
            return Err(StoreError::SpoolFull {
                used,
                limit: self.limit,
            });
        }
        let digest = Sha256::digest(format!("{destination}\n{metadata_key}").as_bytes());
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.jobs.join(id);
        if dir.exists() {
            remove_job(&dir)?;
        }
        std::fs::create_dir(&dir).map_err(StoreError::spool(&dir))?;
        Ok(JobWriter { dir })
    }

    /// Every complete job, oldest first, leaving jobs still being written alone: what a
    /// running server uploads while its shards write new recordings.
    pub fn pending(&self) -> Result<Vec<SpoolJob>, StoreError> {
        Ok(self.scan(false)?.jobs)
    }

    /// Every complete job, oldest first. Live jobs (a call being recorded when the process
    /// died: a descriptor, no manifest) are first made into recordings of what was written;
    /// other interrupted writes (no manifest) are removed. Only for a start: a running
    /// server's jobs in progress have no manifest yet either.
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        let (salvaged, unsalvaged) = self.salvage_live_jobs()?;
        let mut recovered = self.scan(true)?;
        recovered.salvaged = salvaged;
        recovered.unsalvaged = unsalvaged;
        Ok(recovered)
    }

    /// Commits every live job without a manifest as a recovered recording.
    #[allow(clippy::type_complexity)]
    fn salvage_live_jobs(&self) -> Result<(Vec<Salvaged>, Vec<(PathBuf, String)>), StoreError> {
        let now = Time::from_nanos(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        );
        let (mut salvaged, mut unsalvaged) = (Vec::new(), Vec::new());
        for dir in read_dir(&self.jobs)? {
            if dir.join(MANIFEST).exists() || !live::is_live(&dir) {
                continue;
            }
            match live::salvage(JobWriter { dir: dir.clone() }, now) {
                Ok(job) => salvaged.push(job),
                Err(e) => unsalvaged.push((dir, e.to_string())),
            }
        }
        Ok((salvaged, unsalvaged))
    }

    fn scan(&self, discard_incomplete: bool) -> Result<Recovered, StoreError> {
        let mut recovered = Recovered::default();
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
                    // A live job that could not be salvaged stays for the next start.
                    if discard_incomplete && !live::is_live(&dir) {
                        remove_job(&dir)?;
                        recovered.discarded.push(dir);
                    }
                }
                Err(e) => return Err(StoreError::spool(&manifest_path)(e)),
            }
        }
        jobs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.dir.cmp(&b.1.dir)));
        recovered.jobs = jobs.into_iter().map(|(_, job)| job).collect();
        Ok(recovered)
    }

    /// Removes an uploaded job: the manifest first, so a crash half-way leaves an incomplete
    /// job that recovery discards, never a manifest naming missing files.
    pub fn finish(&self, job: &SpoolJob) -> Result<(), StoreError> {
        let manifest = job.dir.join(MANIFEST);
        std::fs::remove_file(&manifest).map_err(StoreError::spool(&manifest))?;
        sync_dir(&job.dir)?;
        remove_job(&job.dir)
    }
}

impl JobWriter {
    /// Where the recording's media files are written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the metadata document and then the manifest, durably. Every media file the
    /// manifest names must already be in [`JobWriter::dir`], synced, with its stated size.
    pub fn commit(self, manifest: Manifest, metadata: &[u8]) -> Result<SpoolJob, StoreError> {
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
        write_synced(&self.dir.join(&manifest.metadata.name), metadata)?;
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::BadJob {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        let partial = self.dir.join("job.json.partial");
        write_synced(&partial, &json)?;
        let manifest_path = self.dir.join(MANIFEST);
        std::fs::rename(&partial, &manifest_path).map_err(StoreError::spool(&manifest_path))?;
        sync_dir(&self.dir)?;
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
        remove_job(&self.dir)
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

fn remove_job(dir: &Path) -> Result<(), StoreError> {
    std::fs::remove_dir_all(dir).map_err(StoreError::spool(dir))?;
    dir.parent().map_or(Ok(()), sync_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
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
        let recovered = reopened.recover().expect("recover");
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
        assert!(reopened.recover().expect("recover").jobs.is_empty());
        assert_eq!(reopened.usage().expect("usage"), 0);
    }

    #[test]
    fn the_same_recording_replaces_its_job_instead_of_adding_one() {
        let tmp = TempDir::new("replace");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        write_job(&spool, "k1", b"first").expect("commit");
        write_job(&spool, "k1", b"second!").expect("commit");
        let jobs = spool.recover().expect("recover").jobs;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].manifest.media[0].bytes, 7);
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
        let jobs = spool.recover().expect("recover").jobs;
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
            spool.usage().expect("usage while jobs finish");
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
