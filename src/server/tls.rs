//! SIP over TLS (RFC 3261 §26.2.1, RFC 5630): the server's rustls configuration, read from
//! the PEM files `[sip]` names. Server authentication only; clients are not asked for
//! certificates (a calling platform authenticates the recorder, and the recorder's peers are
//! pinned by network policy, as SBCs' SIP trunks usually are).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::Path;
use std::sync::Arc;

/// The TLS configuration for certificate chain `certificate` (leaf first) and its `key`.
/// Errors name the configuration field at fault.
pub(crate) fn server_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sip.tls_certificate: {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "sip.tls_certificate: {} holds no certificate",
            certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("sip.tls_key: {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("sip.tls_listen: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("sip.tls_key: does not match sip.tls_certificate: {e}"))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files the configuration accepts (they exist) but that hold no PEM are refused when the
    /// server reads them, naming the setting.
    #[test]
    fn files_without_pem_are_refused_naming_the_setting() {
        let err = server_config(Path::new("Cargo.toml"), Path::new("Cargo.toml")).unwrap_err();
        assert!(
            err.starts_with("sip.tls_certificate: Cargo.toml holds no certificate"),
            "{err}"
        );
    }
}
