//! The store side of the CLI: which destination and spool a command uses, putting a finished
//! recording into the spool, and draining the spool into the store.

use crate::runtime;
use callrec::config::{Config, Origin, Section, Sources, Target};
use callrec::policy::plan::Plan;
use callrec::server::clock;
use callrec::store::job::{self, FinishedFile};
use callrec::store::key::RecordingKey;
use callrec::store::metadata::StorageInfo;
use callrec::store::spool::{JobWriter, Spool, SpoolJob, SpoolOwner};
use callrec::store::upload::{self, UploadConfig};
use callrec::store::{Destination, StoreError};
use callrec::time::Time;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// The configuration a store command reads: the store and the organisations' own.
const SECTIONS: [Section; 2] = [Section::Store, Section::Orgs];

/// Where recordings go: each setting from its flag, else its environment variable, else the
/// configuration file, else the default.
#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Store URL: a directory, file:///dir, s3://bucket/prefix, gs://..., az://..., memory://name
    /// (CALLREC_STORE_URL or CALLREC_STORE, store.url; default "." for ./recordings/...).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The TOML configuration file (else CALLREC_CONFIG, else
    /// $XDG_CONFIG_HOME/callrec/config.toml, else /etc/callrec/config.toml, if one exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Spool directory (CALLREC_SPOOL or CALLREC_STORE_SPOOL, store.spool; default ./spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
}

impl StoreArgs {
    /// True when a store was asked for at all, so that `record` stores into it rather than
    /// writing plain files to --out: `--store` or `--config` given, `CALLREC_CONFIG` set, or
    /// the store URL set by the environment or by a configuration file found at a standard
    /// place.
    pub fn given(&self, config: &Config) -> bool {
        self.store.is_some()
            || config.file.as_ref().is_some_and(|f| f.named())
            || *config.origins.of("store.url") != Origin::Default
    }

    pub fn config(&self) -> Result<Config, String> {
        let sources = Sources::new(self.config.as_deref(), &SECTIONS)
            .flag("--store", "store.url", self.store.clone())
            .flag(
                "--spool",
                "store.spool",
                self.spool.as_ref().map(|p| p.display().to_string()),
            );
        Config::load(&sources)
    }

    /// The destination for `org` (its own storage if configured); `--store` overrides.
    pub fn target(&self, config: &Config, org: Option<&str>) -> Target {
        let mut target = config.destination_for(org);
        if let Some(url) = &self.store {
            target = config.target_by_url(url).unwrap_or(Target {
                url: url.clone(),
                options: Default::default(),
            });
        }
        target
    }
}

pub fn open(target: &Target) -> Result<Destination, String> {
    let options: Vec<(String, String)> = target.options.clone().into_iter().collect();
    Destination::open(&target.url, &options).map_err(|e| e.to_string())
}

/// Whose recording this is, and under which plan.
#[derive(clap::Args, Clone, Debug)]
pub struct Owner {
    /// Organisation the recording belongs to.
    #[arg(long, default_value = "default")]
    pub org: String,
    /// The recorded user (AOR or id).
    #[arg(long)]
    pub user: Option<String>,
    /// The plan that decides retention: dubber-go (30 days), dubber-standard, dubber-ai,
    /// imagicle, callcabinet (unlimited).
    #[arg(long, default_value = "dubber-go")]
    pub plan: Plan,
}

/// Writes the metadata document and the manifest: the recording is now safe on local disk.
pub fn commit(
    job: JobWriter,
    target: &Target,
    owner: &Owner,
    call_id: &str,
    call_start: Option<Time>,
    sidecar: &[u8],
    media: Vec<FinishedFile>,
) -> Result<SpoolJob, String> {
    let now = clock::now();
    let storage = StorageInfo {
        org: owner.org.clone(),
        user: owner.user.clone(),
        provider: owner.plan.provider().as_str().into(),
        plan: owner.plan.to_string(),
        retention: owner.plan.retention(),
        retained_since: now.to_rfc3339(),
    };
    let key = RecordingKey {
        class: storage.retention,
        org: owner.org.clone(),
        date: call_start.unwrap_or(now).date(),
        call: call_id.to_string(),
    };
    job::commit(job, &target.url, &key, &storage, sidecar, media).map_err(|e| e.to_string())
}

/// Uploads every complete job in the spool (interrupted writes are discarded, live jobs whose
/// writer died recovered), each until it is stored or `give_up_after` passes; prints one JSON
/// line per job. Jobs that could not be uploaded stay in the spool.
pub fn drain(
    config: &Config,
    spool: &Spool,
    owner: &SpoolOwner,
    give_up_after: Option<Duration>,
) -> Result<DrainReport, String> {
    let recovered = spool
        .recover(owner, clock::now())
        .map_err(|e| e.to_string())?;
    for dir in &recovered.discarded {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        eprintln!(
            "callrec: discarded spool job {} (interrupted while being written; record it again)",
            name.unwrap_or_default()
        );
    }
    for salvaged in &recovered.salvaged {
        eprintln!(
            "callrec: recovered {} ({:.1} s, {} bytes): its recorder stopped during the call",
            salvaged.job.manifest.metadata.key, salvaged.duration_secs, salvaged.bytes
        );
    }
    for (dir, error) in &recovered.unsalvaged {
        eprintln!(
            "callrec: could not recover the live recording in {} (kept for the next start): {error}",
            dir.display()
        );
    }
    upload_jobs(config, spool, recovered.jobs, give_up_after)
}

/// Uploads `jobs`, each until it is stored or `give_up_after` passes, and removes each stored
/// one from the spool; prints one JSON line per job.
fn upload_jobs(
    config: &Config,
    spool: &Spool,
    jobs: Vec<SpoolJob>,
    give_up_after: Option<Duration>,
) -> Result<DrainReport, String> {
    let runtime = runtime::current_thread()?;
    let mut report = DrainReport::default();
    let mut opened: HashMap<String, Destination> = HashMap::new();
    for job in jobs {
        let url = &job.manifest.destination;
        if !opened.contains_key(url) {
            let target = config.target_by_url(url).unwrap_or(Target {
                url: url.clone(),
                options: Default::default(),
            });
            opened.insert(url.clone(), open(&target)?);
        }
        let dest = &opened[url];
        let result = runtime.block_on(upload::upload(
            dest,
            &job,
            &UploadConfig::default(),
            give_up_after,
            |e, delay| eprintln!("callrec: upload failed, retrying in {delay:.1?}: {e}"),
        ));
        match result {
            Ok(done) => {
                spool.finish(&job).map_err(|e| e.to_string())?;
                let line = serde_json::json!({
                    "stored": job.manifest.metadata.key,
                    "destination": job.manifest.destination,
                    "media": job.manifest.media.iter().map(|m| &m.key).collect::<Vec<_>>(),
                    "objects_sent": done.objects_sent,
                    "bytes_sent": done.bytes_sent,
                    "retries": done.retries,
                });
                println!("{line}");
                report.stored += 1;
            }
            // Only an owner's verified upload removes a job: another process stored it.
            Err(_) if !job.still_spooled() => report.stored += 1,
            Err(e) => {
                eprintln!(
                    "callrec: {} stays in the spool, upload failed: {e}",
                    job.manifest.metadata.key
                );
                report.pending += 1;
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Default)]
pub struct DrainReport {
    pub stored: usize,
    pub pending: usize,
}

/// A recording on its way to the store: the spool job it is written into.
pub struct StoreContext {
    config: Config,
    target: Target,
    spool: Spool,
    /// `None` when another process (a running `serve`, another `record`) owns the spool's
    /// backlog: this recording then uploads only itself.
    owner: Option<SpoolOwner>,
    pub job: JobWriter,
    upload_timeout: Duration,
}

impl StoreContext {
    /// Opens the spool, first finishing whatever an earlier run left pending (unless another
    /// process owns the spool's backlog), then starts this recording's job.
    pub fn start(
        store: &StoreArgs,
        owner: &Owner,
        upload_timeout: u64,
        call_id: &str,
    ) -> Result<StoreContext, String> {
        let config = store.config()?;
        let target = store.target(&config, Some(&owner.org));
        open(&target)?;
        let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
            .map_err(|e| e.to_string())?;
        let spool_owner = match spool.own() {
            Ok(owner) => Some(owner),
            Err(StoreError::SpoolInUse { .. }) => None,
            Err(e) => return Err(e.to_string()),
        };
        // One attempt each for what an earlier run left: a store that is down must not hold
        // up this recording (they are retried, with backoff, after it).
        if let Some(spool_owner) = &spool_owner {
            drain(&config, &spool, spool_owner, Some(Duration::ZERO))?;
        }
        let job = spool
            .begin(&target.url, &format!("{}\n{call_id}", owner.org))
            .map_err(|e| e.to_string())?;
        Ok(StoreContext {
            config,
            target,
            spool,
            owner: spool_owner,
            job,
            upload_timeout: Duration::from_secs(upload_timeout),
        })
    }

    /// Commits the recording to the spool, then uploads it (and anything else pending).
    pub fn finish(
        self,
        owner: &Owner,
        call_id: &str,
        call_start: Option<Time>,
        sidecar: &[u8],
        media: Vec<FinishedFile>,
    ) -> Result<(), String> {
        let job = commit(
            self.job,
            &self.target,
            owner,
            call_id,
            call_start,
            sidecar,
            media,
        )?;
        let timeout = Some(self.upload_timeout);
        let report = match &self.owner {
            Some(owner) => drain(&self.config, &self.spool, owner, timeout)?,
            // The owner may upload this job too: uploads of one job are idempotent, and
            // whichever finishes second finds it gone from the spool.
            None => upload_jobs(&self.config, &self.spool, vec![job.clone()], timeout)?,
        };
        match report.pending {
            0 => Ok(()),
            n => Err(format!(
                "{n} recording(s) kept in the spool ({}) for a later upload: run `callrec \
                 storage flush` when the store is reachable",
                job.dir.display()
            )),
        }
    }
}
