//! The few S3 requests object_store cannot make: object tagging and the bucket lifecycle
//! configuration. Owns building, signing and sending them, and reading S3's XML answers; must
//! never hold object data (uploads and downloads stay with object_store).
//!
//! Requests are signed with object_store's own [`AwsAuthorizer`] (SigV4) using the credentials
//! of an [`AmazonS3`] built from the same URL, options and `AWS_*` environment as the store, and
//! sent through object_store's HTTP client with the same client options, so both reach the same
//! endpoint the same way. No retries: callers decide what a failed admin request means.

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{HeaderName, CONTENT_TYPE};
use http::Method;
use md5::Digest as _;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path;
use quick_xml::events::Event;
use std::fmt::Write as _;

/// Largest response body read from S3; a lifecycle configuration of 1000 rules (S3's limit)
/// stays well below.
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// Deepest XML element nesting accepted in a response (S3's documents nest five deep).
pub const MAX_XML_DEPTH: usize = 16;

const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
const OBJECT_LOCK_ENABLED: HeaderName = HeaderName::from_static("x-amz-bucket-object-lock-enabled");

/// Why an S3 admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The store URL is not `s3://bucket[/prefix]`.
    #[error("'{0}' is not an S3 store URL (s3://bucket[/prefix])")]
    Url(String),
    /// An option name object_store does not know for S3.
    #[error("unknown S3 option '{0}'")]
    UnknownOption(String),
    /// object_store refused the configuration (bad option value, missing credentials...).
    #[error("S3 configuration: {0}")]
    Config(#[source] object_store::Error),
    /// The credentials could not be obtained or the request could not be signed.
    #[error("{request}: cannot sign: {source}")]
    Sign {
        /// The request, e.g. `PutObjectTagging recordings/30d/x`.
        request: String,
        /// What object_store reported.
        source: object_store::Error,
    },
    /// The URL built for the request is invalid.
    #[error("{request}: invalid request: {source}")]
    Request {
        /// The request.
        request: String,
        /// What the `http` crate reported.
        source: http::Error,
    },
    /// The request did not get an answer (connection, timeout, body read).
    #[error("{request}: {source}")]
    Http {
        /// The request.
        request: String,
        /// What the HTTP client reported.
        source: object_store::client::HttpError,
    },
    /// The server answered with an error status; `code` and `message` come from its XML body.
    #[error("{request}: HTTP {status} {code}: {message}")]
    Status {
        /// The request.
        request: String,
        /// The HTTP status code.
        status: u16,
        /// The S3 error code (`NoSuchKey`...), empty if the body had none.
        code: String,
        /// The S3 error message, empty if the body had none.
        message: String,
    },
    /// The response body exceeded [`MAX_RESPONSE_BYTES`].
    #[error("{request}: response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge {
        /// The request.
        request: String,
    },
    /// The response body is not the XML document expected.
    #[error("{request}: malformed response: {reason}")]
    Malformed {
        /// The request.
        request: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Signs and sends the S3 admin requests for one store (`s3://bucket[/prefix]`).
#[derive(Debug)]
pub struct S3Admin {
    client: HttpClient,
    credentials: AwsCredentialProvider,
    region: String,
    /// `https://s3.{region}.amazonaws.com/{bucket}`, `{endpoint}/{bucket}`, ...: no trailing `/`.
    bucket_endpoint: String,
    /// The store URL's path: object keys are relative to it, as in the store.
    prefix: Path,
}

impl S3Admin {
    /// The admin for store `url`, configured like object_store's `parse_url_opts`: the `AWS_*`
    /// environment first, then `options` (object_store's S3 option names, e.g. `aws_endpoint`,
    /// `region`, `allow_http`), which win. Unknown option names are an error.
    pub fn new(url: &str, options: &[(String, String)]) -> Result<Self, S3Error> {
        // The same settings object_store reads, in the same order: environment, then options.
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .filter(|(k, _)| k.parse::<AmazonS3ConfigKey>().is_ok())
            .collect();
        let settings: Vec<(String, String)> = env.into_iter().chain(options.to_vec()).collect();
        S3Admin::with_settings_only(url, &settings)
    }

    /// The admin for store `url` configured by `settings` alone: no `AWS_*` variable, no
    /// instance metadata (an organisation's own bucket, opened with its own credentials).
    pub fn with_settings_only(url: &str, settings: &[(String, String)]) -> Result<Self, S3Error> {
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| S3Error::Url(url.into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3Error::Url(url.into()));
        }
        let prefix = Path::parse(prefix).map_err(|_| S3Error::Url(url.into()))?;

        let mut builder = AmazonS3Builder::new();
        let mut client_options = ClientOptions::new();
        for (name, value) in settings {
            let key: AmazonS3ConfigKey = name
                .parse()
                .map_err(|_| S3Error::UnknownOption(name.clone()))?;
            if let AmazonS3ConfigKey::Client(client_key) = &key {
                client_options = client_options.with_config(*client_key, value);
            }
            builder = builder.with_config(key, value);
        }
        builder = builder.with_bucket_name(bucket);
        let config = |key| builder.get_config_value(&key);
        let region = config(AmazonS3ConfigKey::Region).unwrap_or_else(|| "us-east-1".into());
        let virtual_hosted =
            config(AmazonS3ConfigKey::VirtualHostedStyleRequest).is_some_and(|v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "1" | "true" | "on" | "yes" | "y"
                )
            });
        let endpoint =
            config(AmazonS3ConfigKey::S3Endpoint).or(config(AmazonS3ConfigKey::Endpoint));
        let bucket_endpoint = bucket_endpoint(endpoint.as_deref(), virtual_hosted, bucket, &region);

        let store = builder.build().map_err(S3Error::Config)?;
        let client = ReqwestConnector::default()
            .connect(&client_options)
            .map_err(S3Error::Config)?;
        Ok(S3Admin {
            client,
            credentials: store.credentials().clone(),
            region,
            bucket_endpoint,
            prefix,
        })
    }

    /// The store URL's path (empty for `s3://bucket`). Object keys are taken relative to it;
    /// lifecycle rules are not: they filter on whole keys, bucket-wide.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Creates the bucket (S3 `CreateBucket`), in the configured region. Creating a bucket
    /// this account already owns is an error on AWS outside us-east-1 only.
    pub async fn create_bucket(&self) -> Result<(), S3Error> {
        let body = (self.region != "us-east-1").then(|| {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                quick_xml::escape::escape(&self.region)
            )
        });
        self.send(
            "CreateBucket",
            Method::PUT,
            self.bucket_endpoint.clone(),
            body,
        )
        .await?;
        Ok(())
    }

    /// Creates the bucket with S3 Object Lock enabled (and so versioning on): objects in it
    /// can carry a legal hold. Only at creation: S3 cannot turn Object Lock on later for a
    /// bucket made without it through this API.
    pub async fn create_bucket_with_object_lock(&self) -> Result<(), S3Error> {
        let body = (self.region != "us-east-1").then(|| {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                quick_xml::escape::escape(&self.region)
            )
        });
        let headers = [(OBJECT_LOCK_ENABLED, "true")];
        self.send_with(
            "CreateBucket",
            Method::PUT,
            self.bucket_endpoint.clone(),
            body,
            &headers,
        )
        .await?;
        Ok(())
    }

    /// Whether the bucket has Object Lock enabled (S3 `GetObjectLockConfiguration`): false
    /// when the server says the bucket has no such configuration.
    pub async fn object_lock_enabled(&self) -> Result<bool, S3Error> {
        let url = format!("{}?object-lock", self.bucket_endpoint);
        match self
            .send("GetObjectLockConfiguration", Method::GET, url, None)
            .await
        {
            Ok(xml) => {
                let root = Element::parse(&xml).map_err(|reason| S3Error::Malformed {
                    request: "GetObjectLockConfiguration".into(),
                    reason,
                })?;
                Ok(root
                    .child("ObjectLockEnabled")
                    .is_some_and(|e| e.text == "Enabled"))
            }
            Err(S3Error::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets or clears the legal hold of `version` of object `key` (its current version when
    /// `None`) (S3 `PutObjectLegalHold`): while on, no request deletes that version.
    pub async fn put_object_legal_hold(
        &self,
        key: &Path,
        version: Option<&str>,
        on: bool,
    ) -> Result<(), S3Error> {
        let status = if on { "ON" } else { "OFF" };
        let xml = format!("<LegalHold><Status>{status}</Status></LegalHold>");
        let key = self.key(key);
        let request = format!("PutObjectLegalHold {key}");
        let mut url = self.object_url(&key, "legal-hold");
        if let Some(version) = version {
            url = format!("{url}&versionId={}", uri_encode(version));
        }
        self.send(&request, Method::PUT, url, Some(xml)).await?;
        Ok(())
    }

    /// Whether the current version of object `key` carries a legal hold (S3
    /// `GetObjectLegalHold`); false when it has none, also in a bucket without Object Lock
    /// (which AWS and radosgw answer with 400 `InvalidRequest`).
    pub async fn get_object_legal_hold(&self, key: &Path) -> Result<bool, S3Error> {
        let key = self.key(key);
        let request = format!("GetObjectLegalHold {key}");
        match self
            .send(
                &request,
                Method::GET,
                self.object_url(&key, "legal-hold"),
                None,
            )
            .await
        {
            Ok(xml) => {
                let root = Element::parse(&xml).map_err(|reason| S3Error::Malformed {
                    request: request.clone(),
                    reason,
                })?;
                Ok(root.child("Status").is_some_and(|e| e.text == "ON"))
            }
            Err(S3Error::Status {
                status: 404, code, ..
            }) if code != "NoSuchKey" => Ok(false),
            Err(S3Error::Status {
                status: 400, code, ..
            }) if code == "InvalidRequest" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes one version of object `key` for good (S3 `DeleteObject` with `versionId`): what
    /// Object Lock refuses while the version is held.
    pub async fn delete_object_version(&self, key: &Path, version: &str) -> Result<(), S3Error> {
        let key = self.key(key);
        let request = format!("DeleteObject {key} version {version}");
        let url = format!(
            "{}/{}?versionId={}",
            self.bucket_endpoint,
            uri_encode(key.as_ref()),
            uri_encode(version)
        );
        self.send(&request, Method::DELETE, url, None).await?;
        Ok(())
    }

    /// Replaces the tags of object `key` (S3 `PutObjectTagging`).
    pub async fn put_object_tagging(
        &self,
        key: &Path,
        tags: &[(&str, &str)],
    ) -> Result<(), S3Error> {
        let mut xml = String::from("<Tagging><TagSet>");
        for (k, v) in tags {
            let (k, v) = (quick_xml::escape::escape(*k), quick_xml::escape::escape(*v));
            let _ = write!(xml, "<Tag><Key>{k}</Key><Value>{v}</Value></Tag>");
        }
        xml.push_str("</TagSet></Tagging>");
        let key = self.key(key);
        let request = format!("PutObjectTagging {key}");
        self.send(
            &request,
            Method::PUT,
            self.object_url(&key, "tagging"),
            Some(xml),
        )
        .await?;
        Ok(())
    }

    /// The tags of object `key`, in the server's order (S3 `GetObjectTagging`).
    pub async fn get_object_tagging(&self, key: &Path) -> Result<Vec<(String, String)>, S3Error> {
        let key = self.key(key);
        let request = format!("GetObjectTagging {key}");
        let body = self
            .send(
                &request,
                Method::GET,
                self.object_url(&key, "tagging"),
                None,
            )
            .await?;
        let malformed = |reason: String| S3Error::Malformed {
            request: request.clone(),
            reason,
        };
        let root = Element::parse(&body).map_err(malformed)?;
        let set = root
            .child("TagSet")
            .ok_or_else(|| malformed("no TagSet".into()))?;
        set.children("Tag")
            .map(|tag| match (tag.child("Key"), tag.child("Value")) {
                (Some(k), Some(v)) => Ok((k.text.clone(), v.text.clone())),
                _ => Err(malformed("a Tag without Key or Value".into())),
            })
            .collect()
    }

    /// Replaces the bucket's lifecycle configuration with `xml` (S3
    /// `PutBucketLifecycleConfiguration`). See `lifecycle::apply` for the checked version.
    pub async fn put_bucket_lifecycle(&self, xml: &str) -> Result<(), S3Error> {
        let url = format!("{}?lifecycle", self.bucket_endpoint);
        self.send(
            "PutBucketLifecycleConfiguration",
            Method::PUT,
            url,
            Some(xml.into()),
        )
        .await?;
        Ok(())
    }

    /// The bucket's lifecycle configuration as the server returns it, `None` if it has none
    /// (S3 `GetBucketLifecycleConfiguration`).
    pub async fn get_bucket_lifecycle(&self) -> Result<Option<String>, S3Error> {
        let url = format!("{}?lifecycle", self.bucket_endpoint);
        match self
            .send("GetBucketLifecycleConfiguration", Method::GET, url, None)
            .await
        {
            Ok(xml) => Ok(Some(xml)),
            Err(S3Error::Status {
                status: 404, code, ..
            }) if code == "NoSuchLifecycleConfiguration" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the bucket's lifecycle configuration (S3 `DeleteBucketLifecycle`).
    pub async fn delete_bucket_lifecycle(&self) -> Result<(), S3Error> {
        let url = format!("{}?lifecycle", self.bucket_endpoint);
        self.send("DeleteBucketLifecycle", Method::DELETE, url, None)
            .await?;
        Ok(())
    }

    /// The object key in the bucket for store key `key`.
    fn key(&self, key: &Path) -> Path {
        self.prefix.parts().chain(key.parts()).collect()
    }

    fn object_url(&self, key: &Path, subresource: &str) -> String {
        format!(
            "{}/{}?{subresource}",
            self.bucket_endpoint,
            uri_encode(key.as_ref())
        )
    }

    /// Signs and sends one request; the body of a 2xx answer, or the error the server named.
    async fn send(
        &self,
        request: &str,
        method: Method,
        url: String,
        body: Option<String>,
    ) -> Result<String, S3Error> {
        self.send_with(request, method, url, body, &[]).await
    }

    /// [`S3Admin::send`] with extra headers.
    async fn send_with(
        &self,
        request: &str,
        method: Method,
        url: String,
        body: Option<String>,
        headers: &[(HeaderName, &str)],
    ) -> Result<String, S3Error> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(name, *value);
        }
        if let Some(body) = &body {
            // Content-MD5 is required on PutObjectTagging, PutObjectLegalHold and
            // PutBucketLifecycleConfiguration.
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
            builder = builder
                .header(CONTENT_MD5, md5)
                .header(CONTENT_TYPE, "application/xml");
        }
        let body = body.map_or_else(HttpRequestBody::empty, HttpRequestBody::from);
        let mut http_request = builder.body(body).map_err(|source| S3Error::Request {
            request: request.into(),
            source,
        })?;
        let sign_error = |source| S3Error::Sign {
            request: request.into(),
            source,
        };
        let credential = self
            .credentials
            .get_credential()
            .await
            .map_err(sign_error)?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut http_request, None)
            .map_err(sign_error)?;

        let http_error = |source| S3Error::Http {
            request: request.into(),
            source,
        };
        let response = self
            .client
            .execute(http_request)
            .await
            .map_err(http_error)?;
        let status = response.status();
        let mut stream = response.into_body().bytes_stream();
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk: Bytes = chunk.map_err(http_error)?;
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(S3Error::TooLarge {
                    request: request.into(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            return Ok(body);
        }
        // <Error><Code>NoSuchKey</Code><Message>...</Message>...</Error>; HEAD-like answers
        // and some proxies send no body at all.
        let error = Element::parse(&body).ok();
        let text = |name| {
            error
                .as_ref()
                .and_then(|e| e.child(name))
                .map(|e| e.text.clone())
                .unwrap_or_default()
        };
        Err(S3Error::Status {
            request: request.into(),
            status: status.as_u16(),
            code: text("Code"),
            message: text("Message"),
        })
    }
}

/// The URL of the bucket, as object_store's `AmazonS3Builder::build` makes it: an explicit
/// endpoint is used as is for virtual-hosted requests and gets `/{bucket}` otherwise; without
/// one, AWS's regional endpoint (path style unless virtual-hosted is asked for).
fn bucket_endpoint(
    endpoint: Option<&str>,
    virtual_hosted: bool,
    bucket: &str,
    region: &str,
) -> String {
    match (endpoint, virtual_hosted) {
        (Some(endpoint), true) => endpoint.trim_end_matches('/').to_string(),
        (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    }
}

/// `key` as a SigV4 canonical URI path for S3: every byte but the unreserved ones
/// (`A-Za-z0-9-._~`) and `/` as `%XX`, encoded once (AWS SigV4 "canonical request").
fn uri_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An XML element, as much of one as S3's documents need: local name (namespace prefixes
/// dropped), the text directly inside it (entities resolved), and child elements.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The root element of document `xml`.
    pub(crate) fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().expand_empty_elements = true;
        let mut open: Vec<Element> = Vec::new();
        let mut root = None;
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            match event {
                Event::Start(start) => {
                    if root.is_some() {
                        return Err("more than one root element".into());
                    }
                    if open.len() >= MAX_XML_DEPTH {
                        return Err(format!("elements nested deeper than {MAX_XML_DEPTH}"));
                    }
                    let name = std::str::from_utf8(start.local_name().into_inner())
                        .map_err(|e| e.to_string())?;
                    open.push(Element {
                        name: name.into(),
                        ..Element::default()
                    });
                }
                Event::End(_) => {
                    let done = open.pop().expect("the reader checks that end tags match");
                    match open.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
                Event::Text(text) => {
                    if let Some(element) = open.last_mut() {
                        element
                            .text
                            .push_str(&text.decode().map_err(|e| e.to_string())?);
                    }
                }
                Event::CData(text) => {
                    if let Some(element) = open.last_mut() {
                        element
                            .text
                            .push_str(&text.decode().map_err(|e| e.to_string())?);
                    }
                }
                Event::GeneralRef(reference) => {
                    let Some(element) = open.last_mut() else {
                        continue;
                    };
                    match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => element.text.push(c),
                        None => {
                            let name = reference.decode().map_err(|e| e.to_string())?;
                            let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| format!("unknown entity &{name};"))?;
                            element.text.push_str(resolved);
                        }
                    }
                }
                Event::Eof => break,
                Event::Empty(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_) => {}
            }
        }
        if !open.is_empty() {
            return Err("document ends inside an element".into());
        }
        root.ok_or_else(|| "no root element".into())
    }

    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_once_with_only_unreserved_bytes_plain() {
        for (key, encoded) in [
            ("recordings/30d/acme/x.opus", "recordings/30d/acme/x.opus"),
            ("recordings/30d/ac%2Fme/a~b", "recordings/30d/ac%252Fme/a~b"),
            ("a b+c=d&e", "a%20b%2Bc%3Dd%26e"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(uri_encode(key), encoded, "{key}");
        }
    }

    #[test]
    fn bucket_endpoint_matches_object_store() {
        let cases = [
            (
                Some("http://127.0.0.1:7480"),
                false,
                "http://127.0.0.1:7480/b",
            ),
            (
                Some("http://127.0.0.1:7480/"),
                false,
                "http://127.0.0.1:7480/b",
            ),
            (Some("https://b.example.com"), true, "https://b.example.com"),
            (None, false, "https://s3.eu-west-1.amazonaws.com/b"),
            (None, true, "https://b.s3.eu-west-1.amazonaws.com"),
        ];
        for (endpoint, virtual_hosted, url) in cases {
            assert_eq!(
                bucket_endpoint(endpoint, virtual_hosted, "b", "eu-west-1"),
                url
            );
        }
    }

    #[test]
    fn admin_takes_bucket_prefix_and_endpoint_from_url_and_options() {
        let options = [
            (
                "aws_endpoint".to_string(),
                "http://127.0.0.1:9/".to_string(),
            ),
            ("region".to_string(), "eu-west-1".to_string()),
            ("aws_access_key_id".to_string(), "k".to_string()),
            ("aws_secret_access_key".to_string(), "s".to_string()),
        ];
        let admin = S3Admin::new("s3://bucket/some/prefix", &options).expect("valid");
        assert_eq!(admin.bucket_endpoint, "http://127.0.0.1:9/bucket");
        assert_eq!(admin.region, "eu-west-1");
        assert_eq!(admin.prefix().as_ref(), "some/prefix");
        let key = admin.key(&Path::from("recordings/x"));
        assert_eq!(key.as_ref(), "some/prefix/recordings/x");
        assert_eq!(
            admin.object_url(&key, "tagging"),
            "http://127.0.0.1:9/bucket/some/prefix/recordings/x?tagging"
        );
        for url in ["gs://bucket", "s3://", "s3:///x", "bucket"] {
            assert!(
                matches!(S3Admin::new(url, &options), Err(S3Error::Url(_))),
                "{url}"
            );
        }
        let bad = [("aws_endpiont".to_string(), "x".to_string())];
        assert!(matches!(
            S3Admin::new("s3://b", &bad),
            Err(S3Error::UnknownOption(name)) if name == "aws_endpiont"
        ));
    }

    #[test]
    fn xml_elements_keep_local_names_text_and_order() {
        let xml = "<?xml version=\"1.0\"?>\n<s3:Tagging xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                   <s3:TagSet><Tag><Key>a&amp;b</Key><Value>&#x33;0d &lt;x&gt;</Value></Tag>\
                   <Tag><Key><![CDATA[c]]></Key><Value/></Tag></s3:TagSet><!-- c --></s3:Tagging>";
        let root = Element::parse(xml).expect("well-formed");
        assert_eq!(root.name, "Tagging");
        let tags: Vec<(&str, &str)> = root.children[0]
            .children("Tag")
            .map(|t| (t.children[0].text.as_str(), t.children[1].text.as_str()))
            .collect();
        assert_eq!(tags, vec![("a&b", "30d <x>"), ("c", "")]);
    }

    #[test]
    fn malformed_xml_is_an_error() {
        let deep = "<a>".repeat(MAX_XML_DEPTH + 1) + &"</a>".repeat(MAX_XML_DEPTH + 1);
        for xml in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a>&nbsp;</a>",
            deep.as_str(),
        ] {
            assert!(Element::parse(xml).is_err(), "{xml}");
        }
        let ok = "<a>".repeat(MAX_XML_DEPTH) + &"</a>".repeat(MAX_XML_DEPTH);
        assert!(Element::parse(&ok).is_ok());
    }
}
