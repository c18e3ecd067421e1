//! Recovery at start: what a restart finds in the spool. Live jobs (calls being recorded when
//! the process died) are first made into recordings of what was written ([`live::salvage`]),
//! then the spool is scanned: committed jobs are kept for upload, other interrupted writes
//! are removed. It sits above both the spool and live jobs, so that the spool never needs to
//! know what a live job is. Must never touch a job whose writer (in any process) is alive.

use super::envelope::Keyring;
use super::error::StoreError;
use super::live::{self, Salvaged};
use super::spool::{Spool, SpoolJob, SpoolOwner};
use crate::time::Time;
use std::path::PathBuf;

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

impl Spool {
    /// Every complete job, oldest first. `now` (the caller's wall clock: the store reads
    /// none) stamps what is salvaged. Live jobs (a call being recorded when the process
    /// died: a descriptor, no manifest) are first made into recordings of what was written;
    /// other interrupted writes (no manifest) are removed. Only for the spool's owner, and a
    /// job whose writer (in any process) is still alive is left alone.
    pub fn recover(&self, owner: &SpoolOwner, now: Time) -> Result<Recovered, StoreError> {
        self.recover_with(owner, now, &Keyring::new())
    }

    /// [`Spool::recover`], salvaged recordings of the organisations in `keyring` encrypted.
    pub fn recover_with(
        &self,
        _owner: &SpoolOwner,
        now: Time,
        keyring: &Keyring,
    ) -> Result<Recovered, StoreError> {
        let (salvaged, unsalvaged) = self.salvage_live_jobs(now, keyring)?;
        let (jobs, discarded) = self.scan(Some(live::is_live))?;
        self.recount()?;
        Ok(Recovered {
            jobs,
            discarded,
            salvaged,
            unsalvaged,
        })
    }

    /// Commits every live job without a manifest as a recovered recording.
    #[allow(clippy::type_complexity)]
    fn salvage_live_jobs(
        &self,
        now: Time,
        keyring: &Keyring,
    ) -> Result<(Vec<Salvaged>, Vec<(PathBuf, String)>), StoreError> {
        let (mut salvaged, mut unsalvaged) = (Vec::new(), Vec::new());
        for writer in self.orphaned_live_jobs(live::is_live)? {
            let dir = writer.dir().to_path_buf();
            if live::awaits_start(&dir) {
                // On Demand, never started: nothing to store. Without its descriptor it is an
                // incomplete job, which the scan that follows discards.
                live::forget(&dir);
                continue;
            }
            match live::salvage(writer, now, keyring) {
                Ok(job) => salvaged.push(job),
                Err(e) => unsalvaged.push((dir, e.to_string())),
            }
        }
        Ok((salvaged, unsalvaged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::spool::tests::{TempDir, SALVAGED_AT};

    /// Recovery run by one process never touches a job another process is still writing
    /// (a `storage flush` beside a running `serve`); once that writer is gone, it does.
    #[test]
    fn recovery_leaves_a_job_alone_while_its_writer_lives() {
        let tmp = TempDir::new("writer-alive");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let live = spool.begin("memory://t", "live").expect("begin");
        std::fs::write(live.dir().join(live::DESCRIPTOR), b"not json").expect("write");
        let writing = spool.begin("memory://t", "writing").expect("begin");
        let (live_dir, writing_dir) = (live.dir().to_path_buf(), writing.dir().to_path_buf());

        let other = Spool::open(&tmp.0, 1 << 20).expect("reopen");
        let recovered = other
            .recover(&other.own().expect("own"), SALVAGED_AT)
            .expect("recover");
        assert!(recovered.discarded.is_empty(), "{:?}", recovered.discarded);
        assert!(recovered.salvaged.is_empty() && recovered.unsalvaged.is_empty());
        assert!(live_dir.join(live::DESCRIPTOR).exists() && writing_dir.exists());

        drop((live, writing)); // their process died
        let recovered = other
            .recover(&other.own().expect("own"), SALVAGED_AT)
            .expect("recover");
        assert_eq!(recovered.discarded, vec![writing_dir]);
        assert_eq!(recovered.unsalvaged.len(), 1, "the live job is tried");
        assert_eq!(recovered.unsalvaged[0].0, live_dir);
    }

    /// An On Demand session the user never started holds nothing of the call: a crash while
    /// it waits leaves no recording, empty or not, and its job is discarded.
    #[test]
    fn recovery_drops_a_live_job_still_waiting_for_the_users_start() {
        let tmp = TempDir::new("awaiting-start");
        let spool = Spool::open(&tmp.0, 1 << 20).expect("open");
        let waiting = spool.begin("memory://t", "waiting").expect("begin");
        let dir = waiting.dir().to_path_buf();
        std::fs::write(dir.join("c.wav.partial"), b"").expect("write");
        let descriptor = live::LiveDescriptor {
            destination: "memory://t".into(),
            storage: crate::store::metadata::StorageInfo {
                org: "acme".into(),
                user: Some("alice".into()),
                location: None,
                provider: "dubber".into(),
                plan: "dubber-go".into(),
                retention: crate::store::key::RetentionClass::Days(30),
                retained_since: String::new(),
            },
            name: "waiting".into(),
            sip_call_id: None,
            files: vec!["c.wav".into()],
            format: crate::encode::Format::Wav,
            sample_rate: 8000,
            channels: 2,
            opus: Default::default(),
            stream_serial: 1,
            encoder: serde_json::Value::Null,
            began: "2026-12-06T10:00:00Z".into(),
            call_start: None,
            input: None,
            awaiting_start: true,
            kind: None,
        };
        live::write_descriptor(&dir, &descriptor).expect("descriptor");
        assert!(live::awaits_start(&dir));
        drop(waiting); // its process died

        let recovered = spool
            .recover(&spool.own().expect("own"), SALVAGED_AT)
            .expect("recover");
        assert!(recovered.salvaged.is_empty() && recovered.unsalvaged.is_empty());
        assert!(recovered.jobs.is_empty(), "no recording of it");
        assert_eq!(recovered.discarded, vec![dir.clone()]);
        assert!(!dir.exists());
        assert_eq!(spool.usage(), 0);
    }
}
