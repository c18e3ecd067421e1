//! SDES key exchange (RFC 4568): the `a=crypto` attribute's value read into a tag, a suite
//! and a master key, and written back for our answer. Sans-IO text in, values out; it never
//! makes keys (the shell's random source does) and never logs them.
//!
//! Grammar (RFC 4568 §9.1, SRTP key-info from §6.1):
//!
//! ```text
//! crypto-attr = tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
//! key-params  = key-param *(";" key-param)
//! key-param   = "inline:" key-salt ["|" lifetime] ["|" mki-value ":" mki-length]
//! ```
//!
//! What callrec accepts: one key-param (several are only for MKI), no MKI (its packets carry
//! an identifier our SRTP does not read), a lifetime (it is only the sender's promise to
//! re-key before then; a re-key comes as a re-offer, see the call table), and of the session
//! parameters (§6.3) only `WSH=` and `FEC_ORDER=`, which change nothing for a receiver that
//! uses no FEC. `KDR=` other than 0, `UNENCRYPTED_SRTP`, `UNENCRYPTED_SRTCP`,
//! `UNAUTHENTICATED_SRTP`, `FEC_KEY=` and any unknown parameter make the line unacceptable, so
//! the next line of the offer is tried (RFC 4568 §7.1.2: the answerer picks one line it
//! supports, in the offerer's order of preference).

use super::{KeyLengthError, MasterKey, Suite};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use thiserror::Error;

/// Standard base64 (RFC 4568 §9.1 `base64`), with or without its `=` padding: offerers differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest `a=crypto` value read; a real one is under 100 bytes.
const MAX_LEN: usize = 1024;

/// One acceptable `a=crypto` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// 1 to 9 digits; the answer repeats it (RFC 4568 §5.1.2).
    pub tag: u32,
    pub key: MasterKey,
    /// Packets the key may protect (`2^31` or a number), when given.
    pub lifetime: Option<u64>,
}

/// Why an `a=crypto` line is not one callrec can use.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// Not `tag suite key-params [params]`, or its tag is not 1-9 digits.
    #[error("malformed a=crypto: {0}")]
    Malformed(&'static str),
    /// A suite callrec does not receive (F8, AES-192/256-CM, NULL ciphers, ...).
    #[error("crypto suite {0} is not supported")]
    UnsupportedSuite(String),
    /// Key-method other than `inline`.
    #[error("key method {0} is not supported")]
    UnsupportedKeyMethod(String),
    /// The key and salt are not base64.
    #[error("the inline key is not base64")]
    Base64,
    #[error(transparent)]
    KeyLength(#[from] KeyLengthError),
    /// A master key identifier, or several keys (which need one).
    #[error("MKI is not supported")]
    Mki,
    /// A session parameter that changes how packets are protected.
    #[error("session parameter {0} is not supported")]
    UnsupportedParameter(String),
    /// The offer has no `a=crypto` line for an SRTP stream.
    #[error("no a=crypto line")]
    Missing,
}

impl Crypto {
    /// Reads one attribute's value, the text after `a=crypto:`.
    pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
        if value.len() > MAX_LEN {
            return Err(CryptoError::Malformed("too long"));
        }
        let mut fields = value.split_ascii_whitespace();
        let (Some(tag), Some(suite), Some(key_params)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(CryptoError::Malformed("missing tag, suite or key"));
        };
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoError::Malformed("tag is not 1 to 9 digits"));
        }
        let tag: u32 = tag.parse().expect("1 to 9 ASCII digits fit a u32");
        let suite =
            Suite::from_name(suite).ok_or_else(|| CryptoError::UnsupportedSuite(suite.into()))?;
        for param in fields {
            session_parameter(param)?;
        }
        if key_params.contains(';') {
            return Err(CryptoError::Mki);
        }
        let (method, info) = key_params
            .split_once(':')
            .ok_or(CryptoError::Malformed("key-param is not method:info"))?;
        if method != "inline" {
            return Err(CryptoError::UnsupportedKeyMethod(method.into()));
        }
        let mut parts = info.split('|');
        let key = parts.next().unwrap_or_default();
        let mut lifetime = None;
        for part in parts {
            match part.contains(':') {
                true => return Err(CryptoError::Mki),
                false if lifetime.is_none() => lifetime = Some(parse_lifetime(part)?),
                false => return Err(CryptoError::Malformed("two lifetimes")),
            }
        }
        let bytes = BASE64.decode(key).map_err(|_| CryptoError::Base64)?;
        let key = MasterKey::new(suite, bytes)?;
        Ok(Crypto { tag, key, lifetime })
    }

    /// The attribute's value for our answer: the tag, the suite and our key, no lifetime, no
    /// MKI, no session parameter.
    pub fn encode(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.key.suite().name(),
            BASE64.encode(self.key.bytes())
        )
    }
}

/// The first line of `offered` (attribute values in the offer's order: its preference) that
/// callrec can use; else why the first line could not be used ([`CryptoError::Missing`] for
/// none).
pub fn choose<'a>(offered: impl IntoIterator<Item = &'a str>) -> Result<Crypto, CryptoError> {
    let mut first_error = None;
    for value in offered {
        match Crypto::parse(value) {
            Ok(crypto) => return Ok(crypto),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(CryptoError::Missing))
}

/// `2^n` or a decimal number of packets (RFC 4568 §6.1).
fn parse_lifetime(text: &str) -> Result<u64, CryptoError> {
    let bad = CryptoError::Malformed("lifetime is not 2^n or a number");
    let number = |digits: &str| -> Result<u64, CryptoError> {
        match !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            true => digits.parse().map_err(|_| bad.clone()),
            false => Err(bad.clone()),
        }
    };
    match text.strip_prefix("2^") {
        Some(exponent) => match number(exponent)? {
            n @ 0..=63 => Ok(1 << n),
            _ => Err(bad.clone()),
        },
        None => number(text),
    }
}

/// RFC 4568 §6.3's session parameters: the ones that change nothing for us pass.
fn session_parameter(param: &str) -> Result<(), CryptoError> {
    let (name, value) = param.split_once('=').unwrap_or((param, ""));
    match name {
        "WSH" | "FEC_ORDER" => Ok(()),
        "KDR" if value == "0" => Ok(()),
        _ => Err(CryptoError::UnsupportedParameter(name.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4568 §4's example key (30 bytes of AES_CM key and salt).
    const KEY: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

    #[test]
    fn reads_the_rfc_4568_example() {
        let crypto = Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"));
        assert_eq!(crypto, Err(CryptoError::Mki));
        let crypto =
            Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20")).expect("reads");
        assert_eq!(crypto.tag, 1);
        assert_eq!(crypto.key.suite(), Suite::AesCm128HmacSha1_80);
        assert_eq!(crypto.key.bytes().len(), 30);
        assert_eq!(crypto.lifetime, Some(1 << 20));
    }

    #[test]
    fn every_suite_with_its_key_length_and_padding() {
        let cases = [
            (Suite::AesCm128HmacSha1_80, 30),
            (Suite::AesCm128HmacSha1_32, 30),
            (Suite::AeadAes128Gcm, 28),
            (Suite::AeadAes256Gcm, 44),
        ];
        for (suite, len) in cases {
            let bytes: Vec<u8> = (0..len as u8).collect();
            let key = MasterKey::new(suite, bytes.clone()).expect("length fits");
            let ours = Crypto {
                tag: 7,
                key,
                lifetime: None,
            };
            let text = ours.encode();
            assert_eq!(Crypto::parse(&text), Ok(ours.clone()), "{text}");
            // Without its padding, as some offerers write it.
            let unpadded = text.trim_end_matches('=');
            assert_eq!(Crypto::parse(unpadded), Ok(ours), "{unpadded}");
            // A key of the other length is refused, naming both.
            let short = format!("7 {suite} inline:{}", BASE64.encode(&bytes[1..]));
            assert_eq!(
                Crypto::parse(&short),
                Err(CryptoError::KeyLength(KeyLengthError {
                    suite,
                    expected: len,
                    got: len - 1
                }))
            );
        }
    }

    #[test]
    fn refusals_table() {
        use CryptoError as E;
        let cases: Vec<(String, CryptoError)> = vec![
            ("".into(), E::Malformed("missing tag, suite or key")),
            (
                "1 AES_CM_128_HMAC_SHA1_80".into(),
                E::Malformed("missing tag, suite or key"),
            ),
            (
                format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                E::Malformed("tag is not 1 to 9 digits"),
            ),
            (
                format!("1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                E::Malformed("tag is not 1 to 9 digits"),
            ),
            (
                format!("-1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                E::Malformed("tag is not 1 to 9 digits"),
            ),
            (
                format!("1 F8_128_HMAC_SHA1_80 inline:{KEY}"),
                E::UnsupportedSuite("F8_128_HMAC_SHA1_80".into()),
            ),
            (
                format!("1 aes_cm_128_hmac_sha1_80 inline:{KEY}"),
                E::UnsupportedSuite("aes_cm_128_hmac_sha1_80".into()),
            ),
            (
                format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
                E::UnsupportedSuite("AES_256_CM_HMAC_SHA1_80".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 outline:{KEY}"),
                E::UnsupportedKeyMethod("outline".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 {KEY}"),
                E::Malformed("key-param is not method:info"),
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:not*base64".into(),
                E::Base64,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4"),
                E::Mki,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
                E::Mki,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^64"),
                E::Malformed("lifetime is not 2^n or a number"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^x"),
                E::Malformed("lifetime is not 2^n or a number"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|99999999999999999999"),
                E::Malformed("lifetime is not 2^n or a number"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31|2^31"),
                E::Malformed("two lifetimes"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTCP"),
                E::UnsupportedParameter("UNENCRYPTED_SRTCP".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
                E::UnsupportedParameter("UNENCRYPTED_SRTP".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNAUTHENTICATED_SRTP"),
                E::UnsupportedParameter("UNAUTHENTICATED_SRTP".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=24"),
                E::UnsupportedParameter("KDR".into()),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} FEC_KEY=inline:{KEY}"),
                E::UnsupportedParameter("FEC_KEY".into()),
            ),
            (
                format!(
                    "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} {}",
                    "x".repeat(MAX_LEN)
                ),
                E::Malformed("too long"),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(Crypto::parse(&text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn harmless_session_parameters_and_a_decimal_lifetime_pass() {
        let crypto = Crypto::parse(&format!(
            "9 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|1048576 KDR=0 WSH=128 FEC_ORDER=FEC_SRTP"
        ))
        .expect("reads");
        assert_eq!((crypto.tag, crypto.lifetime), (9, Some(1 << 20)));
        assert_eq!(crypto.key.suite(), Suite::AesCm128HmacSha1_32);
    }

    #[test]
    fn choose_takes_the_first_usable_line_in_offer_order() {
        let gcm = BASE64.encode([7u8; 28]);
        let lines = [
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
            format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4"),
            format!("3 AEAD_AES_128_GCM inline:{gcm}"),
            format!("4 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
        ];
        let chosen = choose(lines.iter().map(String::as_str)).expect("one fits");
        assert_eq!((chosen.tag, chosen.key.suite()), (3, Suite::AeadAes128Gcm));
        assert_eq!(
            choose(lines[..2].iter().map(String::as_str)),
            Err(CryptoError::UnsupportedSuite(
                "AES_256_CM_HMAC_SHA1_80".into()
            ))
        );
        assert_eq!(choose([]), Err(CryptoError::Missing));
    }

    #[test]
    fn keys_never_show_in_debug() {
        let crypto = Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")).unwrap();
        let debug = format!("{crypto:?}");
        assert!(
            !debug.contains(KEY) && debug.contains("redacted"),
            "{debug}"
        );
        assert!(
            !debug.contains(&format!("{:?}", crypto.key.bytes())),
            "{debug}"
        );
    }
}
