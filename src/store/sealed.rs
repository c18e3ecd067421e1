//! Secrets kept at rest sealed with AES-256-GCM (aws-lc-rs): the credentials an organisation
//! supplies for its own storage. Owns the key (from configuration: a file or a variable, never
//! the policy database) and the sealed text's format; must never log or return what it opens.
//!
//! A sealed text is `v1:` and the base64 (standard, unpadded) of a random 96-bit nonce followed
//! by the ciphertext and its tag. The associated data binds it to what it is for (the
//! organisation and the URL): a sealed text copied into another organisation's document does
//! not open there.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;

const VERSION: &str = "v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// What an organisation's storage credentials are sealed for (the associated data): the
/// organisation and its URL, so they open for nothing else.
pub fn storage_owner(org: &str, url: &str) -> String {
    format!("customer-storage\n{org}\n{url}")
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The key given is not 32 bytes as 64 hex digits or base64.
    #[error("the secrets key must be 32 bytes, as 64 hex digits or base64 ({0})")]
    BadKey(String),
    /// The system gave no randomness for a nonce.
    #[error("no randomness for a nonce: {0}")]
    Random(String),
    /// The sealed text is not one this version wrote.
    #[error("not a sealed secret")]
    Malformed,
    /// The tag did not verify: another key, another owner, or altered text.
    #[error("the sealed secret does not open with this key for this owner")]
    Refused,
}

/// The AES-256 key secrets are sealed with. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    /// A key written as 64 hex digits or as base64 of 32 bytes (surrounding blanks ignored,
    /// as a key file ends with a newline).
    pub fn parse(text: &str) -> Result<SecretsKey, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| SealError::BadKey(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| B64.decode(text))
                .map_err(|_| SealError::BadKey("neither hex nor base64".into()))?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SealError::BadKey(format!("{} bytes", b.len())))?;
        Ok(SecretsKey(key))
    }

    /// A key of its own for `purpose` (HMAC-SHA256 of the purpose under this key), so one
    /// configured secret serves other jobs (signing recording links) without the sealing key
    /// itself ever being used for them.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn cipher(&self) -> LessSafeKey {
        let key = UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key is AES-256's");
        LessSafeKey::new(key)
    }

    /// `plain` sealed for `owner` (associated data: it opens only for the same owner).
    pub fn seal(&self, plain: &[u8], owner: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let mut text = plain.to_vec();
        self.cipher()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut text,
            )
            .map_err(|_| SealError::Refused)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&text);
        Ok(format!("{VERSION}{}", B64.encode(out)))
    }

    /// What [`SecretsKey::seal`] sealed for `owner`.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(SealError::Malformed)?;
        let mut bytes = B64.decode(encoded).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .cipher()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| SealError::Refused)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_owner() {
        let key = SecretsKey::parse(HEX).expect("hex key");
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.0);
        assert_eq!(SecretsKey::parse(&format!("{b64}\n")), Ok(key.clone()));
        let sealed = key.seal(b"the secret", "acme s3://b").expect("seal");
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains("the secret"));
        assert_ne!(sealed, key.seal(b"the secret", "acme s3://b").unwrap());
        assert_eq!(key.open(&sealed, "acme s3://b").unwrap(), b"the secret");
        assert_eq!(key.open(&sealed, "globex s3://b"), Err(SealError::Refused));
        let other = SecretsKey::parse(&HEX.replace("1f", "ff")).unwrap();
        assert_eq!(other.open(&sealed, "acme s3://b"), Err(SealError::Refused));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(key.open(&altered, "acme s3://b").is_err());
        assert_eq!(key.open("secret", "acme"), Err(SealError::Malformed));
        assert_eq!(key.open("v1:AAAA", "acme"), Err(SealError::Malformed));
        assert_eq!(format!("{key:?}"), "SecretsKey(..)");
        for bad in ["", "abc", &HEX[..62]] {
            assert!(
                matches!(SecretsKey::parse(bad), Err(SealError::BadKey(_))),
                "{bad}"
            );
        }
    }
}
