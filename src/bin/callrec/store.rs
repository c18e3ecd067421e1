//! The store side of the CLI: which destination and spool a command uses, putting a finished
//! recording into the spool, and draining the spool into the store.

use crate::failure::Failure;
use crate::output::notice;
use crate::output::{Line, Output};
use crate::runtime;
use callrec::catalog::sync as catalog_sync;
use callrec::config::{Config, Origin, Section, Sources, Target};
use callrec::policy::plan::Plan;
use callrec::policydb::{Create, DbError, PolicyDb};
use callrec::server::clock;
use callrec::store::envelope::OrgKeys;
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

/// The configuration a store command reads: the store, the organisations' own, and the policy
/// database (whose recordings catalog the command keeps in step, when it exists).
const SECTIONS: [Section; 3] = [Section::Store, Section::Orgs, Section::Policy];

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

/// Which store a command reads or changes, for the commands that use no spool (`storage ls`,
/// `verify`, `sweep`, `lifecycle`, `retention migrate`): they offer no `--spool` to ignore.
#[derive(clap::Args, Clone, Debug)]
pub struct StoreOnlyArgs {
    /// Store URL: a directory, file:///dir, s3://bucket/prefix, gs://..., az://..., memory://name
    /// (CALLREC_STORE_URL or CALLREC_STORE, store.url; default "." for ./recordings/...).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The TOML configuration file (else CALLREC_CONFIG, else
    /// $XDG_CONFIG_HOME/callrec/config.toml, else /etc/callrec/config.toml, if one exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl StoreOnlyArgs {
    /// The same choice as the spool-using commands make, without a spool of its own.
    pub fn full(&self) -> StoreArgs {
        StoreArgs {
            store: self.store.clone(),
            config: self.config.clone(),
            spool: None,
        }
    }
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
        Config::load(&self.sources(&SECTIONS))
    }

    /// [`StoreArgs::config`] with the policy database `--policy-db` names, if given.
    pub fn config_with_policy_db(&self, policy_db: Option<&str>) -> Result<Config, String> {
        let flag = policy_db.map(str::to_owned);
        Config::load(
            &self
                .sources(&SECTIONS)
                .flag("--policy-db", "policy.db", flag),
        )
    }

    /// The store's settings from their flags, within `sections` (which must include the
    /// store's), for a command that reads more sections than the store's.
    pub fn sources<'a>(&'a self, sections: &'a [Section]) -> Sources<'a> {
        Sources::new(self.config.as_deref(), sections)
            .flag("--store", "store.url", self.store.clone())
            .flag(
                "--spool",
                "store.spool",
                self.spool.as_ref().map(|p| p.display().to_string()),
            )
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

/// The recordings catalog a store command keeps in step with what it changes: the configured
/// policy database (`policy.db`), when it exists. A store used without `serve` has none, and
/// none is created for it.
pub async fn existing_catalog(config: &Config) -> Result<Option<PolicyDb>, String> {
    let named = |e: DbError| format!("{}: {e}", config.origins.name("policy.db"));
    match PolicyDb::open_with(&config.policy.db, Create::Never).await {
        Ok(db) => {
            db.migrate().await.map_err(named)?;
            Ok(Some(db))
        }
        Err(DbError::NoDatabase { .. }) => Ok(None),
        Err(e) => Err(named(e)),
    }
}

pub fn open(target: &Target) -> Result<Destination, String> {
    if let Some((org, url)) = callrec::store::owned_parts(&target.url) {
        return Err(format!(
            "{url} is organisation {org}'s own bucket: only `serve` uploads there, with the \
             credentials {org} supplied (never this process's)"
        ));
    }
    if let Some(missing) = missing_s3_credentials(target, |name| std::env::var_os(name).is_some()) {
        return Err(missing);
    }
    let options: Vec<(String, String)> = target.options.clone().into_iter().collect();
    Destination::open(&target.url, &options).map_err(|e| e.to_string())
}

/// An S3 store with no credentials anywhere, said before any network call: left alone, the
/// S3 client falls back to the cloud's instance metadata address and ends in an HTTP error
/// that names neither the variables nor the options. Credentials count from the store's
/// options (`access_key_id`, `secret_access_key`), the `AWS_*` variables, a web identity or
/// container role, or unsigned access; an EC2 instance role is used when `AWS_METADATA_ENDPOINT`
/// (or the option `metadata_endpoint`) says to ask it.
fn missing_s3_credentials(target: &Target, env_has: impl Fn(&str) -> bool) -> Option<String> {
    let scheme = target.url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("s3" | "s3a")) {
        return None;
    }
    let option = |names: &[&str]| {
        target.options.keys().any(|k| {
            let k = k.to_ascii_lowercase();
            names.iter().any(|n| k == *n || k == format!("aws_{n}"))
        })
    };
    let key = option(&["access_key_id"]) || env_has("AWS_ACCESS_KEY_ID");
    let secret = option(&["secret_access_key"]) || env_has("AWS_SECRET_ACCESS_KEY");
    let other_source = option(&["skip_signature", "metadata_endpoint"])
        || [
            "AWS_SKIP_SIGNATURE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_METADATA_ENDPOINT",
        ]
        .iter()
        .any(|name| env_has(name));
    if (key && secret) || other_source {
        return None;
    }
    let lacking = match (key, secret) {
        (true, false) => "secret key",
        (false, true) => "access key id",
        _ => "credentials",
    };
    Some(format!(
        "{}: no S3 {lacking} given: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT \
         for a server other than AWS), or the store's options access_key_id and \
         secret_access_key in the config file (an EC2 instance role: set AWS_METADATA_ENDPOINT)",
        target.url
    ))
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
    /// The plan that decides retention: dubber-go keeps recordings 30 days, the others
    /// without limit.
    #[arg(long, value_name = "PLAN", default_value = "dubber-go", value_parser = plan_parser())]
    pub plan: Plan,
}

/// The plans' names as users type them (`Plan`'s `Display`; a test keeps the two in step).
const PLAN_NAMES: [&str; 5] = [
    "dubber-go",
    "dubber-standard",
    "dubber-ai",
    "imagicle",
    "callcabinet",
];

/// `--plan`'s parser: clap lists the plans in the help and suggests one for a typo.
pub fn plan_parser() -> impl clap::builder::TypedValueParser<Value = Plan> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(PLAN_NAMES).map(|name| {
        name.parse::<Plan>()
            .expect("PLAN_NAMES are Plan::ALL's names")
    })
}

/// Writes the metadata document and the manifest: the recording is now safe on local disk
/// (its media encrypted first with `keys`, the organisation's, when it has some).
#[allow(clippy::too_many_arguments)]
pub fn commit(
    job: JobWriter,
    target: &Target,
    owner: &Owner,
    call_id: &str,
    call_start: Option<Time>,
    sidecar: &[u8],
    media: Vec<FinishedFile>,
    keys: Option<&OrgKeys>,
) -> Result<SpoolJob, String> {
    let now = clock::now();
    let storage = StorageInfo {
        org: owner.org.clone(),
        user: owner.user.clone(),
        location: None,
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
    job::commit(job, &target.url, &key, &storage, sidecar, media, keys).map_err(|e| e.to_string())
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
    let keyring = config.keyring()?;
    let recovered = spool
        .recover_with(owner, clock::now(), &keyring)
        .map_err(|e| e.to_string())?;
    for dir in &recovered.discarded {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        notice!(
            "discarded spool job {} (interrupted while being written; record it again)",
            name.unwrap_or_default()
        );
    }
    for salvaged in &recovered.salvaged {
        notice!(
            "recovered {} ({:.1} s, {} bytes): its recorder stopped during the call",
            salvaged.job.manifest.metadata.key,
            salvaged.duration_secs,
            salvaged.bytes
        );
    }
    for (dir, error) in &recovered.unsalvaged {
        notice!(
            "could not recover the live recording in {} (kept for the next start): {error}",
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
    let catalog = runtime.block_on(existing_catalog(config))?;
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
        let result = runtime.block_on(store_job(dest, &job, catalog.as_ref(), give_up_after));
        match result {
            Ok(done) => {
                spool.finish(&job).map_err(|e| e.to_string())?;
                Output::stdout().line(&StoredLine::new(
                    &job,
                    done.objects_sent,
                    done.bytes_sent,
                    done.retries,
                ))?;
                report.stored += 1;
            }
            // Only an owner's verified upload removes a job: another process stored it.
            Err(_) if !job.still_spooled() => report.stored += 1,
            Err(e) => {
                notice!(
                    "{} stays in the spool, upload failed: {e}",
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

/// One job uploaded and gone from the spool (`"type": "stored"`): a `storage flush` line, and
/// `record --store`'s: the metadata document's key, where it went, the media keys, and what the
/// upload took.
#[derive(serde::Serialize)]
pub struct StoredLine {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The metadata document's key: the recording is complete in the store once it is there.
    pub metadata: String,
    pub destination: String,
    pub media: Vec<String>,
    pub objects_sent: usize,
    pub bytes_sent: u64,
    pub retries: u32,
}

impl StoredLine {
    fn new(job: &SpoolJob, objects_sent: usize, bytes_sent: u64, retries: u32) -> Self {
        StoredLine {
            kind: "stored",
            metadata: job.manifest.metadata.key.clone(),
            destination: job.manifest.destination.clone(),
            media: job.manifest.media.iter().map(|m| m.key.clone()).collect(),
            objects_sent,
            bytes_sent,
            retries,
        }
    }
}

impl Line for StoredLine {
    fn text(&self) -> String {
        format!(
            "stored {} in {} ({} object(s), {} bytes)",
            self.metadata, self.destination, self.objects_sent, self.bytes_sent
        )
    }
}

/// A recording on its way to the store: the spool job it is written into.
///
/// `record --store` uploads its own job and nothing else: what an earlier run left in the
/// spool (perhaps for a store that is down, perhaps for another store entirely) is `storage
/// flush`'s work, so an old job can never hold up, or be mistaken for, this recording. It
/// only says how many wait.
pub struct StoreContext {
    config: Config,
    target: Target,
    spool: Spool,
    pub job: JobWriter,
    upload_timeout: Duration,
    /// The organisation's keys, when its recordings are encrypted at rest.
    keys: Option<OrgKeys>,
}

impl StoreContext {
    /// Opens the destination (refusing a misconfigured one before any network call) and the
    /// spool, then starts this recording's job.
    pub fn start(
        store: &StoreArgs,
        owner: &Owner,
        upload_timeout: u64,
        call_id: &str,
    ) -> Result<StoreContext, Failure> {
        let config = store.config()?;
        let target = store.target(&config, Some(&owner.org));
        open(&target)?;
        let keys = config.keyring()?.remove(&owner.org);
        let spool = Spool::open(&config.store.spool, config.store.spool_limit_bytes)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let job = match spool.begin(&target.url, &format!("{}\n{call_id}", owner.org)) {
            Ok(job) => job,
            // The disk is full of recordings that wait: nothing of this one is kept.
            Err(e @ StoreError::SpoolFull { .. }) => {
                let waiting = spool.pending().map(|jobs| jobs.len()).unwrap_or(0);
                return Err(Failure::Failed(format!(
                    "{e}; {waiting} recording(s) wait in the spool for their store: `callrec \
                     storage flush` uploads them"
                )));
            }
            Err(e) => return Err(Failure::Failed(e.to_string())),
        };
        Ok(StoreContext {
            config,
            target,
            spool,
            job,
            upload_timeout: Duration::from_secs(upload_timeout),
            keys,
        })
    }

    /// Commits the recording to the spool, then uploads it (and only it). Its upload not done
    /// in time is [`Failure::Postponed`]: the recording is safe in the spool, under the job
    /// named in the message.
    pub fn finish(
        self,
        owner: &Owner,
        call_id: &str,
        call_start: Option<Time>,
        sidecar: &[u8],
        media: Vec<FinishedFile>,
    ) -> Result<StoredLine, Failure> {
        let job = commit(
            self.job,
            &self.target,
            owner,
            call_id,
            call_start,
            sidecar,
            media,
            self.keys.as_ref(),
        )
        .map_err(Failure::Failed)?;
        let uploaded = upload_own(&self.config, &self.spool, &job, self.upload_timeout);
        let older = self
            .spool
            .pending()
            .map(|jobs| jobs.iter().filter(|j| j.dir != job.dir).count())
            .unwrap_or(0);
        if older > 0 {
            notice!(
                "{older} older recording(s) wait in the spool ({}): `callrec storage \
                 flush` uploads them",
                self.config.store.spool.display()
            );
        }
        uploaded
    }
}

/// Uploads `job` (retrying until `give_up_after`), then writes its row in `catalog`: stored,
/// then catalogued, then (the caller) out of the spool, so a row always has its media and a
/// recording whose row could not be written stays spooled for the next flush.
async fn store_job(
    dest: &Destination,
    job: &SpoolJob,
    catalog: Option<&PolicyDb>,
    give_up_after: Option<Duration>,
) -> Result<upload::UploadReport, StoreError> {
    let done = upload::upload(
        dest,
        job,
        &UploadConfig::default(),
        give_up_after,
        |e, delay| notice!("upload failed, retrying in {delay:.1?}: {e}"),
    )
    .await?;
    if let Some(db) = catalog {
        catalog_sync::catalogue_job(db, dest, job, clock::now()).await?;
    }
    Ok(done)
}

/// Uploads one job until it is stored or `give_up_after` passes, and removes it from the
/// spool; other jobs are not looked at.
fn upload_own(
    config: &Config,
    spool: &Spool,
    job: &SpoolJob,
    give_up_after: Duration,
) -> Result<StoredLine, Failure> {
    let url = &job.manifest.destination;
    let target = config.target_by_url(url).unwrap_or(Target {
        url: url.clone(),
        options: Default::default(),
    });
    let dest = open(&target)?;
    let runtime = runtime::current_thread()?;
    let catalog = runtime.block_on(existing_catalog(config))?;
    let result = runtime.block_on(store_job(&dest, job, catalog.as_ref(), Some(give_up_after)));
    let line =
        |objects_sent, bytes_sent, retries| StoredLine::new(job, objects_sent, bytes_sent, retries);
    match result {
        Ok(done) => {
            spool
                .finish(job)
                .map_err(|e| Failure::Failed(e.to_string()))?;
            Ok(line(done.objects_sent, done.bytes_sent, done.retries))
        }
        // Only an owner's verified upload removes a job: another process (a running `serve`)
        // stored it.
        Err(_) if !job.still_spooled() => Ok(line(0, 0, 0)),
        Err(e) => {
            let id = job
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(Failure::Postponed(format!(
                "recording kept in the spool as job {id} ({}) for a later upload, the store \
                 did not take it within {} s ({e}): run `callrec storage flush` when the store \
                 is reachable",
                job.dir.display(),
                give_up_after.as_secs()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_are_every_plans_name() {
        let names: Vec<String> = Plan::ALL.iter().map(Plan::to_string).collect();
        assert_eq!(names, PLAN_NAMES);
    }

    fn target(url: &str, options: &[&str]) -> Target {
        Target {
            url: url.into(),
            options: options
                .iter()
                .map(|k| (k.to_string(), "x".into()))
                .collect(),
        }
    }

    #[test]
    fn s3_without_credentials_is_refused_naming_what_to_set() {
        let none = |_: &str| false;
        let message = missing_s3_credentials(&target("s3://bucket/p", &[]), none)
            .expect("no credentials anywhere");
        assert!(
            message.starts_with("s3://bucket/p: no S3 credentials given"),
            "{message}"
        );
        assert!(
            message.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
            "{message}"
        );
        assert!(
            message.contains("access_key_id and secret_access_key"),
            "{message}"
        );
        let half = missing_s3_credentials(&target("s3://b", &["access_key_id"]), none);
        assert!(half.expect("no secret").contains("no S3 secret key given"));
    }

    #[test]
    fn credentials_from_any_source_or_another_scheme_pass() {
        let env = |set: &'static [&'static str]| move |name: &str| set.contains(&name);
        let both = env(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert_eq!(missing_s3_credentials(&target("s3://b", &[]), both), None);
        let options = target("s3://b", &["AWS_ACCESS_KEY_ID", "secret_access_key"]);
        assert_eq!(missing_s3_credentials(&options, env(&[])), None);
        let role = env(&["AWS_WEB_IDENTITY_TOKEN_FILE"]);
        assert_eq!(missing_s3_credentials(&target("s3://b", &[]), role), None);
        assert_eq!(
            missing_s3_credentials(&target("./local", &[]), env(&[])),
            None
        );
        assert_eq!(
            missing_s3_credentials(&target("gs://b", &[]), env(&[])),
            None
        );
    }
}
