//! The server side of TLS, for SIP over TLS (RFC 3261 §26.2.1, RFC 5630) and the admin API
//! over HTTPS: a rustls configuration read from the PEM files a section names
//! (`sip.tls_certificate`, `admin.tls_certificate`, ...). Clients are asked for certificates
//! only when a verifier is given (SIP's mutual TLS, [`super::client_cert`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::ServerConfig;
use std::path::Path;
use std::sync::Arc;

/// The crypto every TLS listener uses (aws-lc-rs, already built for object_store's HTTPS).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS configuration for certificate chain `certificate` (leaf first) and its `key`, as
/// `section` (`sip`, `admin`) names them; clients verified by `clients` when given. Errors name
/// the configuration field at fault.
pub(crate) fn server_config(
    section: &str,
    certificate: &Path,
    key: &Path,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{section}.tls_certificate: {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{section}.tls_certificate: {} holds no certificate",
            certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{section}.tls_key: {}: {e}", key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{section}.tls_certificate: {e}"))?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{section}.tls_key: does not match {section}.tls_certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files the configuration accepts (they exist) but that hold no PEM are refused when the
    /// server reads them, naming the setting.
    #[test]
    fn files_without_pem_are_refused_naming_the_setting() {
        let err = server_config(
            "sip",
            Path::new("Cargo.toml"),
            Path::new("Cargo.toml"),
            None,
        )
        .unwrap_err();
        assert!(
            err.starts_with("sip.tls_certificate: Cargo.toml holds no certificate"),
            "{err}"
        );
    }
}
