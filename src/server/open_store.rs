//! Opens the destination a stored recording is in, by the URL the uploader wrote it with:
//! one function the uploader and the recordings API share, so a customer-owned bucket
//! (`customer:ORG:URL`) is opened the same way by both, with the credentials that
//! organisation supplied and nothing else. Reads no store itself: the caller hands in the
//! organisation's current storage (the uploader from its policy cache, the API from the
//! policy store).

use crate::config::{Config, Target};
use crate::policy::organisation::CustomerStorage;
use crate::store::destination::{owned_parts, Destination, OwnCredentials};
use crate::store::error::StoreError;
use crate::store::sealed;

/// The destination `url` names (as a catalog row or an upload job holds it): a configured or
/// plain URL with the configuration's options for it, or organisation `ORG`'s own bucket for
/// `customer:ORG:URL`, opened with `storage`, that organisation's current storage settings
/// (`has_policy`: whether there is a policy store they could come from).
pub(crate) fn open_url(
    config: &Config,
    has_policy: bool,
    storage: Option<CustomerStorage>,
    url: &str,
) -> Result<Destination, StoreError> {
    if let Some((org, own_url)) = owned_parts(url) {
        return open_owned(config, has_policy, storage, org, own_url);
    }
    let target = config.target_by_url(url).unwrap_or(Target {
        url: url.to_string(),
        options: Default::default(),
    });
    let options: Vec<(String, String)> = target.options.into_iter().collect();
    Destination::open(url, &options)
}

/// Organisation `org`'s own bucket at `url`, with the credentials it supplied for that URL.
pub(crate) fn open_owned(
    config: &Config,
    has_policy: bool,
    storage: Option<CustomerStorage>,
    org: &str,
    url: &str,
) -> Result<Destination, StoreError> {
    let fail = |reason: String| StoreError::Destination {
        url: url.to_string(),
        reason: format!("organisation {org}'s own storage: {reason}"),
    };
    if !has_policy {
        return Err(fail("no policy store to read its credentials from".into()));
    }
    let Some(CustomerStorage::Own {
        url: current,
        sealed_credentials: Some(sealed),
        options,
    }) = storage
    else {
        return Err(fail("it has no credentials for this URL any more".into()));
    };
    if current != url {
        return Err(fail(format!("its storage is now {current}, not this URL")));
    }
    let key = config
        .secrets_key()
        .map_err(fail)?
        .ok_or_else(|| fail("no secrets key is configured to unseal its credentials".into()))?;
    let credentials: OwnCredentials = key
        .open(&sealed, &sealed::storage_owner(org, url))
        .map_err(|e| fail(e.to_string()))
        .and_then(|plain| serde_json::from_slice(&plain).map_err(|e| fail(e.to_string())))?;
    let options: Vec<(String, String)> = options.into_iter().collect();
    Destination::open_own(url, &credentials, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_organisations_bucket_opens_only_with_its_own_sealed_credentials() {
        let key = sealed::SecretsKey::parse(&"11".repeat(32)).expect("key");
        let url = "s3://theirs/calls";
        let credentials = OwnCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "their-secret".into(),
            session_token: None,
        };
        let plain = serde_json::to_vec(&credentials).expect("json");
        let sealed = key
            .seal(&plain, &sealed::storage_owner("acme", url))
            .expect("seal");
        let own = |sealed: Option<&str>, url: &str| {
            Some(CustomerStorage::Own {
                url: url.into(),
                sealed_credentials: sealed.map(str::to_string),
                options: BTreeMap::new(),
            })
        };
        let refused = |r: Result<Destination, StoreError>| r.unwrap_err().to_string();
        let mut config = Config::default();
        let err = refused(open_owned(
            &config,
            true,
            own(Some(&sealed), url),
            "acme",
            url,
        ));
        assert!(err.contains("no secrets key is configured"), "{err}");
        config.store.secrets_key = Some(key);
        let dest = open_owned(&config, true, own(Some(&sealed), url), "acme", url).expect("opens");
        assert_eq!((dest.url.as_str(), dest.prefix.as_str()), (url, "calls"));
        // Sealed for acme and this URL: another organisation's job cannot use them.
        let err = refused(open_owned(
            &config,
            true,
            own(Some(&sealed), url),
            "globex",
            url,
        ));
        assert!(err.contains("does not open"), "{err}");
        let err = refused(open_owned(
            &config,
            true,
            own(Some(&sealed), "s3://elsewhere"),
            "acme",
            url,
        ));
        assert!(err.contains("its storage is now s3://elsewhere"), "{err}");
        let err = refused(open_owned(&config, true, own(None, url), "acme", url));
        assert!(err.contains("no credentials for this URL"), "{err}");
        let err = refused(open_owned(&config, false, None, "acme", url));
        assert!(err.contains("no policy store"), "{err}");
        assert!(!err.contains("their-secret"));
    }

    #[test]
    fn a_plain_url_opens_with_the_configurations_options() {
        let dest = open_url(&Config::default(), false, None, "memory://calls").expect("opens");
        assert_eq!(dest.url, "memory://calls");
        let err = open_url(&Config::default(), false, None, "customer:acme:s3://theirs")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no policy store"), "{err}");
    }
}
