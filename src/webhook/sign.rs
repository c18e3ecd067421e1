//! The signature of one delivery (see the module above for the contract): HMAC-SHA256 keyed
//! with the secret's bytes over `"{t}.{body}"`, sent as `callrec-signature: t=T,v1=HEX`.
//! The same scheme as Stripe's, so receivers' existing code for it carries over.

use super::{hex, TOLERANCE_SECS};
use aws_lc_rs::hmac;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "callrec-signature";
/// The header that carries the event's id (receivers dedupe by it).
pub const EVENT_ID_HEADER: &str = "callrec-event-id";

/// The `callrec-signature` value for `body` sent at `t` (Unix seconds).
pub fn header(secret: &str, t: u64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex(tag(secret, t, body).as_ref()))
}

fn tag(secret: &str, t: u64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// Why a receiver would refuse a delivery.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The header is not `t=...,v1=...`.
    #[error("the signature header does not read")]
    Malformed,
    /// No `v1` matches the body under this secret.
    #[error("the signature does not match")]
    Mismatch,
    /// `t` is further than [`TOLERANCE_SECS`] from now: a replay, or a clock far off.
    #[error("the signature's time is {0} s from now")]
    Stale(u64),
}

/// What a receiver does, for our tests and as the reference for receivers: the header must
/// sign `body` with `secret` (any of its `v1` values, in constant time) at a `t` within
/// [`TOLERANCE_SECS`] of `now` (Unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: u64) -> Result<(), Refusal> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<u64>().map_err(|_| Refusal::Malformed)?),
            Some(("v1", v)) => signatures.push(unhex(v).ok_or(Refusal::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(Refusal::Malformed)?;
    if signatures.is_empty() {
        return Err(Refusal::Malformed);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    if !signatures
        .iter()
        .any(|s| hmac::verify(&key, &message, s).is_ok())
    {
        return Err(Refusal::Mismatch);
    }
    let off = now.abs_diff(t);
    if off > TOLERANCE_SECS {
        return Err(Refusal::Stale(off));
    }
    Ok(())
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let h = header("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            h,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn a_receiver_accepts_a_fresh_signature_and_refuses_the_rest() {
        let body = br#"{"id":"evt_1"}"#;
        let h = header("s3cret", 1_000, body);
        assert_eq!(verify("s3cret", &h, body, 1_000), Ok(()));
        assert_eq!(verify("s3cret", &h, body, 1_000 + TOLERANCE_SECS), Ok(()));
        assert_eq!(
            verify("s3cret", &h, body, 1_001 + TOLERANCE_SECS),
            Err(Refusal::Stale(TOLERANCE_SECS + 1))
        );
        assert_eq!(verify("other", &h, body, 1_000), Err(Refusal::Mismatch));
        assert_eq!(
            verify("s3cret", &h, br#"{"id":"evt_2"}"#, 1_000),
            Err(Refusal::Mismatch)
        );
        // A replay with a new time: the signature covered the old one.
        let moved = h.replace("t=1000", "t=2000");
        assert_eq!(
            verify("s3cret", &moved, body, 2_000),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify("s3cret", "v1=zz", body, 1_000),
            Err(Refusal::Malformed)
        );
        assert_eq!(verify("s3cret", "t=1", body, 1), Err(Refusal::Malformed));
    }
}
