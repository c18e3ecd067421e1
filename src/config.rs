//! callrec's configuration: one typed struct, read from a TOML file, overridden by environment
//! variables, validated when loaded with errors that name the field.
//!
//! ```toml
//! [store]
//! url = "s3://recordings/callrec"        # default "." : ./recordings/... on local disk
//! spool = "/var/spool/callrec"           # default ./spool
//! spool_limit_bytes = 8589934592         # default 8 GiB
//! [store.options]                        # object_store keys; AWS_* variables also apply
//! aws_endpoint = "http://127.0.0.1:7480"
//!
//! [orgs.acme.store]                      # customer-owned storage: acme's own bucket
//! url = "s3://acme-recordings"
//! options = { aws_region = "eu-west-1" }
//!
//! [policy]
//! db = "postgres://callrec@db/callrec"   # default sqlite://policy.sqlite (beside ./recordings)
//!
//! [providers.dubber]                     # what the admin API shows administrators
//! terms_url = "https://www.dubber.net/"  # the terms they accept; default: the provider's site
//! login_url = "https://www.dubber.net/"  # where users reach recordings; default: the same
//! ```
//!
//! Environment: `CALLREC_STORE` (store.url), `CALLREC_SPOOL`, `CALLREC_SPOOL_LIMIT_BYTES`,
//! `CALLREC_POLICY_DB` (policy.db), `CALLREC_{DUBBER,IMAGICLE,CALLCABINET}_{TERMS,LOGIN}_URL`
//! (providers.PROVIDER.terms_url, .login_url).

use crate::policy::plan::Provider;
use crate::store::spool::Spool;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    /// Per-organisation settings, by organisation id.
    #[serde(default)]
    pub orgs: BTreeMap<String, OrgConfig>,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
}

/// The providers' pages the admin API links to, by provider.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub dubber: ProviderPages,
    #[serde(default)]
    pub imagicle: ProviderPages,
    #[serde(default)]
    pub callcabinet: ProviderPages,
}

/// One provider's pages; each left out is the provider's public site
/// ([`ProviderPages::public_site`]). The agreement with a provider names the exact terms page.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderPages {
    /// The terms of service an administrator accepts on the customer's behalf (shown before,
    /// and in the 409 that asks for them).
    pub terms_url: Option<String>,
    /// Where users and administrators sign in to reach the recordings.
    pub login_url: Option<String>,
}

impl ProviderPages {
    /// The default of both pages.
    pub fn public_site(provider: Provider) -> &'static str {
        match provider {
            Provider::Dubber => "https://www.dubber.net/",
            Provider::Imagicle => "https://www.imagicle.com/",
            Provider::CallCabinet => "https://www.callcabinet.com/",
        }
    }
}

impl ProvidersConfig {
    fn pages(&self, provider: Provider) -> &ProviderPages {
        match provider {
            Provider::Dubber => &self.dubber,
            Provider::Imagicle => &self.imagicle,
            Provider::CallCabinet => &self.callcabinet,
        }
    }

    fn pages_mut(&mut self, provider: Provider) -> &mut ProviderPages {
        match provider {
            Provider::Dubber => &mut self.dubber,
            Provider::Imagicle => &mut self.imagicle,
            Provider::CallCabinet => &mut self.callcabinet,
        }
    }

    pub fn terms_url(&self, provider: Provider) -> &str {
        let pages = self.pages(provider);
        pages
            .terms_url
            .as_deref()
            .unwrap_or(ProviderPages::public_site(provider))
    }

    pub fn login_url(&self, provider: Provider) -> &str {
        let pages = self.pages(provider);
        pages
            .login_url
            .as_deref()
            .unwrap_or(ProviderPages::public_site(provider))
    }
}

/// Where the recording policy is kept.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://...` (shared by a fleet).
    #[serde(default = "default_policy_db")]
    pub db: String,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            db: default_policy_db(),
        }
    }
}

fn default_policy_db() -> String {
    "sqlite://policy.sqlite".into()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Where recordings go unless their organisation has its own destination.
    #[serde(default = "default_store_url")]
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default = "default_spool")]
    pub spool: PathBuf,
    #[serde(default = "default_spool_limit")]
    pub spool_limit_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            options: BTreeMap::new(),
            spool: default_spool(),
            spool_limit_bytes: default_spool_limit(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// The organisation's own storage (its own bucket), used instead of `[store]`.
    pub store: Option<Target>,
}

/// A destination URL with its object_store options.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

fn default_store_url() -> String {
    ".".into()
}

fn default_spool() -> PathBuf {
    "spool".into()
}

fn default_spool_limit() -> u64 {
    Spool::DEFAULT_LIMIT
}

impl Config {
    /// Reads `path` (or starts from the defaults), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let mut config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Parses TOML; unknown fields and wrong types are errors naming the field.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config =
            toml::from_str(text).map_err(|e| e.message().to_string() + &span(text, e.span()))?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(url) = var("CALLREC_STORE") {
            self.store.url = url;
        }
        if let Some(spool) = var("CALLREC_SPOOL") {
            self.store.spool = spool.into();
        }
        if let Some(db) = var("CALLREC_POLICY_DB") {
            self.policy.db = db;
        }
        for provider in Provider::ALL {
            let prefix = format!("CALLREC_{}", provider.as_str().to_uppercase());
            let pages = self.providers.pages_mut(provider);
            if let Some(url) = var(&format!("{prefix}_TERMS_URL")) {
                pages.terms_url = Some(url);
            }
            if let Some(url) = var(&format!("{prefix}_LOGIN_URL")) {
                pages.login_url = Some(url);
            }
        }
        if let Some(limit) = var("CALLREC_SPOOL_LIMIT_BYTES") {
            self.store.spool_limit_bytes = limit
                .parse()
                .map_err(|_| format!("CALLREC_SPOOL_LIMIT_BYTES: '{limit}' is not a byte count"))?;
        }
        self.validate()
    }

    fn validate(&self) -> Result<(), String> {
        if self.store.url.is_empty() {
            return Err("store.url: empty".into());
        }
        if self.policy.db.is_empty() {
            return Err("policy.db: empty".into());
        }
        if self.store.spool_limit_bytes == 0 {
            return Err("store.spool_limit_bytes: must be above 0".into());
        }
        for (org, settings) in &self.orgs {
            if settings.store.as_ref().is_some_and(|t| t.url.is_empty()) {
                return Err(format!("orgs.{org}.store.url: empty"));
            }
        }
        for provider in Provider::ALL {
            let pages = self.providers.pages(provider);
            for (field, url) in [
                ("terms_url", &pages.terms_url),
                ("login_url", &pages.login_url),
            ] {
                if let Some(url) = url.as_deref().filter(|u| !is_web_page(u)) {
                    return Err(format!(
                        "providers.{}.{field}: '{url}' is not an http:// or https:// URL",
                        provider.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where `org`'s recordings go: its own storage if it has one, else the default.
    pub fn destination_for(&self, org: Option<&str>) -> Target {
        org.and_then(|org| self.orgs.get(org)?.store.clone())
            .unwrap_or_else(|| Target {
                url: self.store.url.clone(),
                options: self.store.options.clone(),
            })
    }

    /// The configured destination with this URL (for resuming a spooled job), if any.
    pub fn target_by_url(&self, url: &str) -> Option<Target> {
        std::iter::once(self.destination_for(None))
            .chain(self.orgs.values().filter_map(|o| o.store.clone()))
            .find(|t| t.url == url)
    }
}

/// An `http://` or `https://` URL with a host, and nothing a browser would not take literally.
fn is_web_page(url: &str) -> bool {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split(['/', '?', '#']).next());
    host.is_some_and(|h| !h.is_empty())
        && !url.contains(|c: char| c.is_whitespace() || c.is_control())
}

fn span(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    format!(" (line {line})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orgs_with_their_own_storage_get_it_and_others_the_default() {
        let config = Config::parse(
            r#"
            [store]
            url = "s3://shared/rec"
            options = { aws_region = "us-east-1" }
            [orgs.acme.store]
            url = "s3://acme-own"
            options = { aws_region = "eu-west-1" }
            [orgs.globex]
            "#,
        )
        .expect("valid");
        assert_eq!(config.destination_for(Some("acme")).url, "s3://acme-own");
        assert_eq!(
            config.destination_for(Some("acme")).options["aws_region"],
            "eu-west-1"
        );
        assert_eq!(
            config.destination_for(Some("globex")).url,
            "s3://shared/rec"
        );
        assert_eq!(
            config.destination_for(None).options["aws_region"],
            "us-east-1"
        );
        assert_eq!(
            config.target_by_url("s3://acme-own").map(|t| t.url),
            Some("s3://acme-own".into())
        );
        assert_eq!(config.store.spool_limit_bytes, Spool::DEFAULT_LIMIT);
    }

    #[test]
    fn provider_pages_default_to_the_public_sites_and_are_set_by_file_or_environment() {
        let mut config = Config::parse(
            r#"
            [providers.dubber]
            terms_url = "https://partner.example/dubber-terms"
            [providers.callcabinet]
            login_url = "https://login.callcabinet.example/"
            "#,
        )
        .expect("valid");
        let pages = |c: &Config, p: Provider| {
            (
                c.providers.terms_url(p).to_string(),
                c.providers.login_url(p).to_string(),
            )
        };
        let both = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            pages(&config, Provider::Dubber),
            both(
                "https://partner.example/dubber-terms",
                "https://www.dubber.net/"
            )
        );
        assert_eq!(
            pages(&config, Provider::Imagicle),
            both("https://www.imagicle.com/", "https://www.imagicle.com/")
        );
        assert_eq!(
            pages(&config, Provider::CallCabinet),
            both(
                "https://www.callcabinet.com/",
                "https://login.callcabinet.example/"
            )
        );
        config
            .apply_env(|n| match n {
                "CALLREC_IMAGICLE_TERMS_URL" => Some("https://imagicle.example/terms".into()),
                "CALLREC_DUBBER_LOGIN_URL" => Some("https://dubber.example/login".into()),
                _ => None,
            })
            .expect("valid");
        assert_eq!(
            pages(&config, Provider::Dubber),
            both(
                "https://partner.example/dubber-terms",
                "https://dubber.example/login"
            )
        );
        assert_eq!(
            config.providers.terms_url(Provider::Imagicle),
            "https://imagicle.example/terms"
        );
        for bad in ["", "www.dubber.net", "ftp://x/", "https://", "https:// x/"] {
            let text = format!("[providers.dubber]\nterms_url = \"{bad}\"\n");
            let err = Config::parse(&text).unwrap_err();
            assert_eq!(
                err,
                format!("providers.dubber.terms_url: '{bad}' is not an http:// or https:// URL")
            );
        }
        let err = Config::parse("[providers.zoom]\n").unwrap_err();
        assert!(err.contains("unknown field `zoom`"), "{err}");
        let err = Config::default()
            .apply_env(|n| (n == "CALLREC_CALLCABINET_LOGIN_URL").then(|| "x".into()))
            .unwrap_err();
        assert_eq!(
            err,
            "providers.callcabinet.login_url: 'x' is not an http:// or https:// URL"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = Config::parse("[store]\nurl = 5\n").unwrap_err();
        assert!(
            err.contains("invalid type") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("[store]\nbucket = \"x\"\n").unwrap_err();
        assert!(err.contains("unknown field `bucket`"), "{err}");
        let err = Config::parse("[orgs.acme.store]\nurl = \"\"\n").unwrap_err();
        assert_eq!(err, "orgs.acme.store.url: empty");
        let mut config = Config::default();
        let err = config
            .apply_env(|n| (n == "CALLREC_SPOOL_LIMIT_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.starts_with("CALLREC_SPOOL_LIMIT_BYTES"), "{err}");
        config
            .apply_env(|n| (n == "CALLREC_STORE").then(|| "memory://x".into()))
            .expect("valid");
        assert_eq!(config.store.url, "memory://x");
    }
}
