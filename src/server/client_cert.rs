//! Mutual TLS for SIP (`sip.tls_client_ca`, `sip.tls_client_names`): a recording client over
//! TLS must present a certificate that chains to one of the configured CAs (rustls'
//! `WebPkiClientVerifier` checks the chain, validity and key usage), and, when names are
//! listed, that names one of them. A handshake that fails here never reaches SIP.
//!
//! Which names count (RFC 5922 §7.1, as SIP servers identify peers): the certificate's DNS
//! subject alternative names; its subject's common name only when it has no DNS name. Names
//! compare exactly (ASCII case and a final dot aside): a wildcard certificate (`*.example.com`)
//! matches no listed name, as RFC 5922 §7.2 has SIP peers refuse wildcards.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, RootCertStore,
    SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

/// The verifier for clients whose certificates chain to the CAs in `ca` (a PEM file, one or
/// more certificates) and, unless `names` is empty, name one of `names`. Errors name the field.
pub(crate) fn client_verifier(
    ca: &Path,
    names: &[String],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let field = "sip.tls_client_ca";
    let cas = CertificateDer::pem_file_iter(ca)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{field}: {}: {e}", ca.display()))?;
    if cas.is_empty() {
        return Err(format!("{field}: {} holds no certificate", ca.display()));
    }
    let mut roots = RootCertStore::empty();
    for cert in cas {
        roots
            .add(cert)
            .map_err(|e| format!("{field}: {}: not a CA certificate: {e}", ca.display()))?;
    }
    let chain = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("{field}: {}: {e}", ca.display()))?;
    if names.is_empty() {
        return Ok(chain);
    }
    Ok(Arc::new(ListedNames {
        chain,
        names: names.iter().map(|n| normalise(n)).collect(),
    }))
}

/// A chain verifier, then the allow-list of names.
#[derive(Debug)]
struct ListedNames {
    chain: Arc<dyn ClientCertVerifier>,
    /// Normalised (see [`normalise`]).
    names: Vec<String>,
}

/// Why a verified certificate was refused: none of its names is listed.
#[derive(Debug)]
struct NameNotListed(Vec<String>);

impl std::fmt::Display for NameNotListed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client certificate names {:?}, none of them in sip.tls_client_names",
            self.0
        )
    }
}

impl std::error::Error for NameNotListed {}

impl ClientCertVerifier for ListedNames {
    fn offer_client_auth(&self) -> bool {
        self.chain.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.chain.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        let presented = certificate_names(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if presented.iter().any(|name| self.names.contains(name)) {
            return Ok(verified);
        }
        Err(Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(NameNotListed(presented))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// The names a certificate identifies its holder by, normalised: its DNS subject alternative
/// names, else its subject's common names.
pub(crate) fn certificate_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let parsed = webpki::EndEntityCert::try_from(cert).map_err(|e| e.to_string())?;
    let dns: Vec<String> = parsed.valid_dns_names().map(normalise).collect();
    if !dns.is_empty() {
        return Ok(dns);
    }
    Ok(common_names(parsed.subject())
        .iter()
        .map(|n| normalise(n))
        .collect())
}

/// A DNS name as compared: lower case, without a final dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The common names (OID 2.5.4.3) of a subject, given as the contents of its DER `Name`
/// (a sequence of SETs of SEQUENCE { OID, value }); whatever does not parse is skipped.
fn common_names(subject: &[u8]) -> Vec<String> {
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    const SET: u8 = 0x31;
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let mut names = Vec::new();
    let mut rdns = subject;
    while let Some((SET, mut set, rest)) = tlv(rdns) {
        rdns = rest;
        while let Some((SEQUENCE, attribute, more)) = tlv(set) {
            set = more;
            let Some((OID, oid, value)) = tlv(attribute) else {
                continue;
            };
            // UTF8String, PrintableString, IA5String.
            if let Some((0x0c | 0x13 | 0x16, text, _)) = tlv(value).filter(|_| oid == COMMON_NAME) {
                if let Ok(text) = std::str::from_utf8(text) {
                    names.push(text.to_string());
                }
            }
        }
    }
    names
}

/// One DER element at the start of `input`: its tag, its contents and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let (bytes, rest) = (rest.get(..n)?, &rest[n..]);
            (
                bytes.iter().fold(0, |len, b| len << 8 | usize::from(*b)),
                rest,
            )
        }
        _ => return None,
    };
    Some((tag, rest.get(..len)?, &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificates made with `openssl req -x509 -newkey ec -nodes -days 36500` and the
    /// subject and names each says.
    fn cert(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
    }

    /// `-subj /O=Example/CN=not-this.example.com -addext
    /// subjectAltName=DNS:sbc1.example.com,DNS:SBC2.example.com.,IP:192.0.2.7`
    const WITH_SANS: &str = "-----BEGIN CERTIFICATE-----
MIIB8TCCAZegAwIBAgIUXNpIouTZnJ3lGGO1mL2qeAc5OMcwCgYIKoZIzj0EAwIw
MTEQMA4GA1UECgwHRXhhbXBsZTEdMBsGA1UEAwwUbm90LXRoaXMuZXhhbXBsZS5j
b20wIBcNMjYxMjA3MTExNDM5WhgPMjEyNjExMTMxMTE0MzlaMDExEDAOBgNVBAoM
B0V4YW1wbGUxHTAbBgNVBAMMFG5vdC10aGlzLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEbuz1DakUiY/t/ajvSyBNwh7W7yWlk5oJVRhrvnVG
6KeIYX+W9jjQHxF0tNMlJNjTZkSSzvYyV1p7ID674DcZBaOBijCBhzAdBgNVHQ4E
FgQUAMbIz4JkpYVnvFCbR89gZoO2VpwwHwYDVR0jBBgwFoAUAMbIz4JkpYVnvFCb
R89gZoO2VpwwDwYDVR0TAQH/BAUwAwEB/zA0BgNVHREELTArghBzYmMxLmV4YW1w
bGUuY29tghFTQkMyLmV4YW1wbGUuY29tLocEwAACBzAKBggqhkjOPQQDAgNIADBF
AiA0NM7h9CjmWRmwZi+VkpRkd/jvlpnRot4lv7S4OP96rQIhAK5YoSeNlKyE+OUe
VobFJPyA2css0iw3+/QqxIvNEyMG
-----END CERTIFICATE-----";

    /// `-subj /O=Example/CN=SBC3.Example.com`, no subjectAltName.
    const CN_ONLY: &str = "-----BEGIN CERTIFICATE-----
MIIBsTCCAVegAwIBAgIUcRT5Qi9llzs+bLiZ9yvMY0LYBPEwCgYIKoZIzj0EAwIw
LTEQMA4GA1UECgwHRXhhbXBsZTEZMBcGA1UEAwwQU0JDMy5FeGFtcGxlLmNvbTAg
Fw0yNjEyMDcxMTE0MzlaGA8yMTI2MTExMzExMTQzOVowLTEQMA4GA1UECgwHRXhh
bXBsZTEZMBcGA1UEAwwQU0JDMy5FeGFtcGxlLmNvbTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABO33wGtWebLmob7L9dSMfnGmy3ezq8SSCBNgVJiU2nasQDvh9k0B
IMKnFEW/Vnx8ULouLtHtgXIvqgydPM3VS3GjUzBRMB0GA1UdDgQWBBR0HCLwJvoE
pavEP/El54dghFkPUTAfBgNVHSMEGDAWgBR0HCLwJvoEpavEP/El54dghFkPUTAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDilIIeQPryP6kukN/Z
XoFP0axvYpNsrmk4kPND94xlkAIgNzMKawVgezYh1UHRifmX7rQuVaOv6JJsLhc5
RpLDYnI=
-----END CERTIFICATE-----";

    /// `-subj /CN=sbc4.example.com -addext subjectAltName=IP:192.0.2.8`: no DNS name.
    const IP_SAN_ONLY: &str = "-----BEGIN CERTIFICATE-----
MIIBnjCCAUSgAwIBAgIUELlXehDVzN6BQzKgYrRmf9eib3cwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc2JjNC5leGFtcGxlLmNvbTAgFw0yNjEyMDcxMTE0MzlaGA8y
MTI2MTExMzExMTQzOVowGzEZMBcGA1UEAwwQc2JjNC5leGFtcGxlLmNvbTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABMBQQo1v6cpGVYfUzCYysY4iJVu5O8xx4QBZ
mnSt+bDZ+bR2YQpbbLPXKJ+Ss22g+tAWSp+v3MWHeUCnzjkdwzujZDBiMB0GA1Ud
DgQWBBTAPk4i/SY6vUp1Ya0d2+qJlC7cAzAfBgNVHSMEGDAWgBTAPk4i/SY6vUp1
Ya0d2+qJlC7cAzAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBMAAAggwCgYI
KoZIzj0EAwIDSAAwRQIhAMnEFcoUCVVFgxe8plSMFNdznpo9S8iqdVo3H0c7VE+f
AiA6P4WiiFJOuDB0PDMmzoxQGxKNlfFYogD7og7sgRFxwQ==
-----END CERTIFICATE-----";

    /// `-subj /CN=sbc5.example.com -addext subjectAltName=DNS:*.example.com`
    const WILDCARD: &str = "-----BEGIN CERTIFICATE-----
MIIBpzCCAU2gAwIBAgIUbbgymQa9VEdufDGuBEA51GQbflMwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQc2JjNS5leGFtcGxlLmNvbTAgFw0yNjEyMDcxMTE0MzlaGA8y
MTI2MTExMzExMTQzOVowGzEZMBcGA1UEAwwQc2JjNS5leGFtcGxlLmNvbTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABMRCAzUwhwGF0rxM7N4T1qVzutzd8ui5n7ag
Qh/NANfnYea8IQzxwCEGz5NOsGOOHxjI7axUychb5p4cXyoK8WGjbTBrMB0GA1Ud
DgQWBBSugBWf0rdgyCM6d0jC0FJ4wJTcdTAfBgNVHSMEGDAWgBSugBWf0rdgyCM6
d0jC0FJ4wJTcdTAPBgNVHRMBAf8EBTADAQH/MBgGA1UdEQQRMA+CDSouZXhhbXBs
ZS5jb20wCgYIKoZIzj0EAwIDSAAwRQIgF0pnWP0rZHtqwqniJNsvIqSQWAZ0A/Hh
yKkcChh5/0kCIQDAYBaAZp/bjQbZ1vBGIrNClueIjgRolqPNolk7Jjc8QQ==
-----END CERTIFICATE-----";

    #[test]
    fn dns_names_count_and_the_common_name_only_without_them() {
        let names = |pem| certificate_names(&cert(pem)).expect("parses");
        assert_eq!(names(WITH_SANS), ["sbc1.example.com", "sbc2.example.com"]);
        assert_eq!(names(CN_ONLY), ["sbc3.example.com"]);
        assert_eq!(names(IP_SAN_ONLY), ["sbc4.example.com"]);
        assert_eq!(names(WILDCARD), ["*.example.com"]);
        assert!(certificate_names(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).is_err());
    }

    #[test]
    fn common_names_are_read_from_any_position_and_junk_is_skipped() {
        // SET { SEQUENCE { OID 2.5.4.10, "Ex" } }, SET { SEQUENCE { OID 2.5.4.3, "a.b" } }
        let subject = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x02, b'E', b'x', 0x31,
            0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x03, b'a', b'.', b'b',
        ];
        assert_eq!(common_names(&subject), ["a.b"]);
        for cut in 0..subject.len() {
            let names = common_names(&subject[..cut]);
            assert!(names.is_empty(), "{cut}: {names:?}");
        }
        assert!(common_names(&[0x31, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff]).is_empty());
        assert!(common_names(&[0x31, 0x84, 0xff, 0xff, 0xff, 0xff]).is_empty());
    }
}
