//! Where recordings go, by URL: `file:///path` (or a plain path), `s3://bucket/prefix` (AWS and
//! any S3-compatible server; endpoint, credentials and region from the usual `AWS_*` variables
//! or options), `gs://bucket/prefix`, `az://container/prefix`, and `memory://name` for tests
//! (one in-process store per name).

use super::error::StoreError;
use super::s3::S3Admin;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    File,
    S3,
    Gcs,
    Azure,
}

/// An opened store: every key is relative to the URL's prefix.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The URL as configured (credentials never appear in it).
    pub url: String,
    pub backend: Backend,
    pub store: Arc<dyn ObjectStore>,
    /// Prefix inside the bucket (empty for none); keys handed out are below it.
    pub prefix: String,
    options: Vec<(String, String)>,
    /// The requests object_store cannot make (tags, lifecycle), for S3 destinations.
    s3: Option<Arc<S3Admin>>,
}

/// The settings a customer may give with its own credentials: where its S3 service is and how
/// to address it, never a credential or a credential source.
pub const OWN_OPTIONS: [&str; 4] = [
    "aws_endpoint",
    "aws_region",
    "aws_allow_http",
    "aws_virtual_hosted_style_request",
];

/// The credentials an organisation supplied for its own S3 bucket (kept sealed at rest, see
/// [`super::sealed`]). Its `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for OwnCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// How a spool job names a destination that opens only with an organisation's own
/// credentials: `customer:ORG:URL`. No backend opens that as a URL, so a reader that does not
/// know the form fails rather than trying the server's credentials.
const OWNED: &str = "customer:";

/// The spool's name for `url` opened with organisation `org`'s own credentials.
pub fn owned_destination(org: &str, url: &str) -> String {
    format!("{OWNED}{org}:{url}")
}

/// The organisation and URL of a destination named by [`owned_destination`].
pub fn owned_parts(destination: &str) -> Option<(&str, &str)> {
    let rest = destination.strip_prefix(OWNED)?;
    let (org, url) = rest.split_once(':')?;
    (!org.is_empty() && url.contains("://")).then_some((org, url))
}

/// object_store retries each request a little by itself; our upload loop does the long wait.
fn request_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    }
}

impl Destination {
    /// Opens `url`; `options` are object_store configuration keys (`aws_endpoint`,
    /// `aws_region`, ...) that override the environment.
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Destination, StoreError> {
        let fail = |reason: String| StoreError::Destination {
            url: url.to_string(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").unwrap_or(("file", url));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        let mut admin = None;
        let (backend, store): (Backend, Arc<dyn ObjectStore>) = match scheme {
            "memory" => (Backend::Memory, memory_store(rest)),
            "file" => {
                let dir = if url.contains("://") { rest } else { url };
                let dir = if dir.is_empty() { "." } else { dir };
                std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| fail(e.to_string()))?
                    .with_fsync(true);
                return Ok(Destination {
                    url: url.to_string(),
                    backend: Backend::File,
                    store: Arc::new(fs),
                    prefix: String::new(),
                    options: options.to_vec(),
                    s3: None,
                });
            }
            "s3" | "s3a" => {
                let builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(request_retry());
                let s3 = configure(builder, options, AmazonS3Builder::with_config)
                    .map_err(fail)?
                    .build()
                    .map_err(|e| fail(e.to_string()))?;
                let signer = S3Admin::new(url, options).map_err(|e| fail(e.to_string()))?;
                admin = Some(Arc::new(signer));
                (Backend::S3, Arc::new(s3))
            }
            "gs" => {
                let builder = GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(request_retry());
                let gcs = configure(builder, options, GoogleCloudStorageBuilder::with_config)
                    .map_err(fail)?
                    .build()
                    .map_err(|e| fail(e.to_string()))?;
                (Backend::Gcs, Arc::new(gcs))
            }
            "az" | "azure" => {
                let builder = MicrosoftAzureBuilder::from_env()
                    .with_container_name(bucket)
                    .with_retry(request_retry());
                let azure = configure(builder, options, MicrosoftAzureBuilder::with_config)
                    .map_err(fail)?
                    .build()
                    .map_err(|e| fail(e.to_string()))?;
                (Backend::Azure, Arc::new(azure))
            }
            other => {
                return Err(fail(format!(
                    "unknown scheme '{other}' (file, s3, gs, az or memory)"
                )))
            }
        };
        if scheme != "memory" && bucket.is_empty() {
            return Err(fail("no bucket named".into()));
        }
        let store = under_prefix(store, &prefix).map_err(fail)?;
        Ok(Destination {
            url: url.to_string(),
            backend,
            store,
            prefix,
            options: options.to_vec(),
            s3: admin,
        })
    }

    /// Opens an organisation's own `s3://` bucket with the credentials it supplied and nothing
    /// else: no `AWS_*` variable, no configuration file credentials, no instance metadata or
    /// container role (the builder starts empty; it never looks at the environment). `options`
    /// are the few non-secret settings a customer may give (endpoint, region, ...); any
    /// credential among them is refused. Other schemes are refused: only S3 credentials are
    /// taken from customers (register a destination in the configuration for the others).
    pub fn open_own(
        url: &str,
        credentials: &OwnCredentials,
        options: &[(String, String)],
    ) -> Result<Destination, StoreError> {
        let fail = |reason: String| StoreError::Destination {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| fail("only s3:// URLs are opened with supplied credentials".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        if bucket.is_empty() {
            return Err(fail("no bucket named".into()));
        }
        if credentials.access_key_id.is_empty() || credentials.secret_access_key.is_empty() {
            return Err(fail("no access key id or secret access key".into()));
        }
        if let Some((name, _)) = options
            .iter()
            .find(|(name, _)| !OWN_OPTIONS.contains(&name.as_str()))
        {
            return Err(fail(format!(
                "option '{name}' is not one a customer may set ({})",
                OWN_OPTIONS.join(", ")
            )));
        }
        let mut settings = options.to_vec();
        settings.push((
            "aws_access_key_id".into(),
            credentials.access_key_id.clone(),
        ));
        settings.push((
            "aws_secret_access_key".into(),
            credentials.secret_access_key.clone(),
        ));
        if let Some(token) = &credentials.session_token {
            settings.push(("aws_session_token".into(), token.clone()));
        }
        let builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_retry(request_retry());
        let s3 = configure(builder, &settings, AmazonS3Builder::with_config)
            .map_err(fail)?
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let admin = S3Admin::with_settings_only(url, &settings).map_err(|e| fail(e.to_string()))?;
        let store = under_prefix(Arc::new(s3), &prefix).map_err(fail)?;
        Ok(Destination {
            url: url.to_string(),
            backend: Backend::S3,
            store,
            prefix,
            options: settings,
            s3: Some(Arc::new(admin)),
        })
    }

    /// The same destination through a wrapper around its store (instrumentation, throttling).
    pub fn map_store(
        mut self,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Destination {
        self.store = wrap(self.store);
        self
    }

    /// Whether the store keeps object tags (and so tag-filtered lifecycle rules can work).
    pub fn keeps_tags(&self) -> bool {
        self.s3.is_some()
    }

    /// Signed S3 requests beyond object_store's (tags, lifecycle); `None` off S3.
    pub fn s3(&self) -> Option<&S3Admin> {
        self.s3.as_deref()
    }

    /// The options this destination was opened with (for requests object_store cannot make).
    pub fn options(&self) -> &[(String, String)] {
        &self.options
    }

    /// The key inside the bucket that a destination-relative key lands on.
    pub fn bucket_key(&self, key: &str) -> String {
        match self.prefix.as_str() {
            "" => key.to_string(),
            prefix => format!("{prefix}/{key}"),
        }
    }
}

/// Applies object_store option names (`aws_region`, ...) to a builder; an unknown name is an
/// error, not silently ignored as object_store's own URL parsing does.
fn configure<B, K>(
    builder: B,
    options: &[(String, String)],
    with_config: impl Fn(B, K, String) -> B,
) -> Result<B, String>
where
    K: std::str::FromStr,
    K::Err: std::fmt::Display,
{
    options.iter().try_fold(builder, |b, (name, value)| {
        let key = name
            .to_ascii_lowercase()
            .parse()
            .map_err(|e| format!("{e}"))?;
        Ok(with_config(b, key, value.clone()))
    })
}

/// `memory://name`: the same in-process store each time the name is opened.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    stores
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

/// `store` seen from under `prefix` (as is when there is none).
fn under_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Arc<dyn ObjectStore>, String> {
    if prefix.is_empty() {
        return Ok(store);
    }
    let path = Path::parse(prefix).map_err(|e| e.to_string())?;
    Ok(Arc::new(PrefixStore::new(store, path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend_and_bad_ones_say_why() {
        let memory = Destination::open("memory://unit-a", &[]).expect("memory");
        assert_eq!(memory.backend, Backend::Memory);
        let again = Destination::open("memory://unit-a", &[]).expect("memory");
        assert!(
            Arc::ptr_eq(&memory.store, &again.store),
            "one store per name"
        );
        let s3 = Destination::open(
            "s3://bucket/some/prefix/",
            &[("aws_region".into(), "eu-west-1".into())],
        )
        .expect("s3");
        assert_eq!(
            (s3.backend, s3.prefix.as_str()),
            (Backend::S3, "some/prefix")
        );
        assert_eq!(s3.bucket_key("recordings/x"), "some/prefix/recordings/x");
        let err = Destination::open("ftp://host/x", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scheme 'ftp'"), "{err}");
        let err = Destination::open("s3://b", &[("no_such_option".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_option"), "{err}");
        assert!(Destination::open("s3://", &[]).is_err());
        let gcs = Destination::open("gs://bucket/p", &[]).expect("gcs");
        assert_eq!((gcs.backend, gcs.prefix.as_str()), (Backend::Gcs, "p"));
        let account = [("azure_storage_account_name".to_string(), "acct".to_string())];
        let azure = Destination::open("az://container/p", &account).expect("azure");
        assert_eq!(azure.backend, Backend::Azure);
    }

    #[test]
    fn owned_destinations_name_their_organisation_and_open_as_nothing_else() {
        let named = owned_destination("acme", "s3://theirs/calls");
        assert_eq!(named, "customer:acme:s3://theirs/calls");
        assert_eq!(owned_parts(&named), Some(("acme", "s3://theirs/calls")));
        assert_eq!(owned_parts("s3://theirs/calls"), None);
        let err = Destination::open(&named, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown scheme"), "{err}");
    }

    #[test]
    fn own_buckets_take_their_credentials_and_no_others() {
        let own = OwnCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        };
        let region = [("aws_region".to_string(), "eu-west-1".to_string())];
        let dest = Destination::open_own("s3://theirs/calls", &own, &region).expect("own");
        assert_eq!((dest.backend, dest.prefix.as_str()), (Backend::S3, "calls"));
        assert!(!format!("{own:?}").contains("secret"));
        let refuse = |url: &str, own: &OwnCredentials, options: &[(String, String)]| {
            Destination::open_own(url, own, options)
                .unwrap_err()
                .to_string()
        };
        let err = refuse("gs://theirs", &own, &[]);
        assert!(err.contains("only s3://"), "{err}");
        let err = refuse("s3://", &own, &[]);
        assert!(err.contains("no bucket"), "{err}");
        let keyless = OwnCredentials {
            secret_access_key: String::new(),
            ..own.clone()
        };
        let err = refuse("s3://theirs", &keyless, &[]);
        assert!(err.contains("no access key id or secret"), "{err}");
        for borrowed in [
            "aws_access_key_id",
            "aws_metadata_endpoint",
            "aws_skip_signature",
        ] {
            let err = refuse("s3://theirs", &own, &[(borrowed.into(), "x".into())]);
            assert!(err.contains(&format!("option '{borrowed}'")), "{err}");
        }
    }
}
