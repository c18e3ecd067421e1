//! SRTP (RFC 3711) and SRTCP for media that arrives encrypted, keyed by SDES (RFC 4568,
//! [`sdes`]): the suites a recording client may offer, the master key, and one stream's
//! receiving context that authenticates and decrypts each datagram before anything else reads
//! its payload. Pure: the caller brings each datagram and the keys (ours come from the shell's
//! random source), and gets plaintext or a typed reason to drop it. It must never hand out a
//! payload that did not authenticate, write the keys anywhere (their `Debug` is redacted), or
//! keep state beyond what RFC 3711 needs: the rollover counter and replay list per SSRC.
//!
//! **Why `webrtc-srtp`** (the webrtc-rs project's SRTP, pure Rust over the RustCrypto `aes`,
//! `ctr`, `hmac`, `sha1` and `aes-gcm` crates) rather than libsrtp2 through a binding:
//! - it implements all four suites callrec answers (AES_CM_128_HMAC_SHA1_80 and _32 of
//!   RFC 3711/4568, AEAD_AES_128_GCM and AEAD_AES_256_GCM of RFC 7714), SRTCP for each, the
//!   RFC 3711 Appendix A rollover-counter estimate per SSRC (index kept as 48 bits, updated only
//!   after a packet authenticates) and a replay window;
//! - it is maintained with the rest of the webrtc-rs stack (0.17, released in step with
//!   `webrtc`) and builds with cargo alone, where the libsrtp2 bindings on crates.io (`srtp`
//!   0.7 over `srtp2-sys` 3) are stale (they still depend on `bytes` 0.6), need bindgen and
//!   libclang at build time, and offer the GCM suites only with OpenSSL (`libsrtp` 0.1, a
//!   pure-Rust port, calls itself experimental);
//! - callrec keeps `#![forbid(unsafe_code)]` and no C on the media path; and
//! - the tests' independent sender is libsrtp itself (Debian's `python3-pylibsrtp`), so the
//!   interoperability tests pit two implementations against each other instead of libsrtp
//!   against itself.
//!
//! What it lacks, and how this module covers it: it keeps state for every SSRC it is shown,
//! before the packet authenticates (a sender of forged SSRCs would grow it without bound), so
//! a packet of an SSRC that has not yet authenticated is checked first in a probe context
//! replaced every 64 SSRCs; MKI and key derivation rates other than 0
//! (offers carrying them are not accepted, [`sdes`]); it reads the ROC only internally, which
//! SDES does not need (both sides start at 0, RFC 4568 §6.4, and the estimate follows every
//! wrap); it indexes the SRTCP trailer of a datagram too short to hold one (such datagrams are
//! refused here first); and with the AES-CM suites it returns an SRTCP packet whose E flag is
//! clear without checking its tag (RFC 3711 §3.4 authenticates every SRTCP packet): no offer we
//! accept allows unencrypted SRTCP (`UNENCRYPTED_SRTCP` is refused), so such a packet is a
//! forgery and is dropped here as an authentication failure.

pub mod sdes;

use crate::rtp::looks_like_rtcp;
use bytes::Bytes;
use std::collections::HashSet;
use std::fmt;
use thiserror::Error;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

/// The replay window in packets (libsrtp's default; RFC 3711 §3.3.2 asks for at least 64). A
/// packet older than the window is dropped as replayed; the jitter buffer would find it too
/// late to play anyway.
const REPLAY_WINDOW: usize = 128;

/// SSRCs a probe context may hold before it is replaced by a fresh one: `webrtc-srtp` keeps
/// state for every SSRC it is shown, authenticated or not, so packets of unknown SSRCs are
/// first checked in a context of their own that is thrown away this often (see
/// [`Inbound::unprotect`]); the stream's own context only ever holds SSRCs that authenticated.
const MAX_PROBED: usize = 64;

/// SRTCP's trailer: the E flag and the 31-bit SRTCP index (RFC 3711 §3.4).
const SRTCP_INDEX_LEN: usize = 4;

/// An SRTP crypto suite callrec receives, by its SDES name (RFC 4568 §6.2, RFC 7714 §14.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
    AeadAes128Gcm,
    AeadAes256Gcm,
}

impl Suite {
    pub const ALL: [Suite; 4] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AeadAes128Gcm,
        Suite::AeadAes256Gcm,
    ];

    /// The name `a=crypto` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Suite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Suite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// The suite `name` names (case as RFC 4568 writes it), if callrec supports it.
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Master key bytes.
    pub fn key_len(self) -> usize {
        match self {
            Suite::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master salt bytes: 112 bits for AES-CM (RFC 3711 §8.2), 96 for GCM (RFC 7714 §12).
    pub fn salt_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AesCm128HmacSha1_32 => 14,
            Suite::AeadAes128Gcm | Suite::AeadAes256Gcm => 12,
        }
    }

    /// What an SRTP packet carries after its payload: the HMAC-SHA1 tag (80 or 32 bits) or the
    /// GCM tag (128 bits).
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
            Suite::AeadAes128Gcm | Suite::AeadAes256Gcm => 16,
        }
    }

    /// SRTCP's tag: always 80 bits for AES-CM (RFC 3711 §5.2: the _32 suites shorten only
    /// SRTP's), 128 for GCM.
    pub fn rtcp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 | Suite::AesCm128HmacSha1_32 => 10,
            Suite::AeadAes128Gcm | Suite::AeadAes256Gcm => 16,
        }
    }

    fn is_aead(self) -> bool {
        matches!(self, Suite::AeadAes128Gcm | Suite::AeadAes256Gcm)
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            Suite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            Suite::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suite's master key and salt, as SDES carries them (`key || salt`). Its `Debug` never
/// shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: Suite,
    bytes: Vec<u8>,
}

/// Key and salt of the wrong length for the suite.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{suite} needs {expected} bytes of key and salt, got {got}")]
pub struct KeyLengthError {
    pub suite: Suite,
    pub expected: usize,
    pub got: usize,
}

impl MasterKey {
    /// `key || salt` for `suite`.
    pub fn new(suite: Suite, bytes: Vec<u8>) -> Result<MasterKey, KeyLengthError> {
        let expected = suite.key_len() + suite.salt_len();
        if bytes.len() != expected {
            return Err(KeyLengthError {
                suite,
                expected,
                got: bytes.len(),
            });
        }
        Ok(MasterKey { suite, bytes })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// `key || salt`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.suite)
    }
}

/// Why a datagram was dropped. Each is counted; none reaches the jitter buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Error)]
pub enum SrtpError {
    /// Too short for an RTP or RTCP header and the suite's trailer, or no header at all.
    #[error("too short or malformed for SRTP")]
    Malformed,
    /// The authentication tag does not verify: tampered, sent with another key, or an SRTCP
    /// packet claiming to be unencrypted (RFC 3711 §3.3 step 5: discard, never decode).
    #[error("SRTP authentication failed")]
    Authentication,
    /// Its index was already received (RFC 3711 §3.3.2), or is older than the replay window.
    #[error("SRTP packet replayed")]
    Replayed,
}

/// What one stream's datagrams came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SrtpStats {
    pub rtp: u64,
    pub rtcp: u64,
    pub malformed: u64,
    pub authentication: u64,
    pub replayed: u64,
}

/// The receiving side of one stream's SRTP and SRTCP (RTCP multiplexed or not: each SSRC of
/// each kind has its own state), for one master key.
pub struct Inbound {
    key: MasterKey,
    /// The stream's context: rollover counters and replay windows of the SSRCs that
    /// authenticated.
    context: Context,
    /// SSRCs of SRTP and of SRTCP that authenticated, so `context` holds their state.
    known: [HashSet<u32>; 2],
    /// Where packets of other SSRCs are authenticated first, and how many it has seen.
    probe: Context,
    probed: usize,
    pub stats: SrtpStats,
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("suite", &self.key.suite)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Inbound {
    pub fn new(key: &MasterKey) -> Inbound {
        Inbound {
            key: key.clone(),
            context: context(key),
            known: [HashSet::new(), HashSet::new()],
            probe: context(key),
            probed: 0,
            stats: SrtpStats::default(),
        }
    }

    pub fn suite(&self) -> Suite {
        self.key.suite
    }

    /// Authenticates and decrypts one datagram, SRTP or (by RFC 5761's rule) SRTCP: the plain
    /// RTP packet or RTCP compound, without the tag or SRTCP trailer; or why it was dropped.
    pub fn unprotect(&mut self, datagram: &[u8]) -> Result<Bytes, SrtpError> {
        let outcome = match looks_like_rtcp(datagram) {
            true => self.unprotect_rtcp(datagram),
            false => self.unprotect_rtp(datagram),
        };
        let stats = &mut self.stats;
        match (&outcome, looks_like_rtcp(datagram)) {
            (Ok(_), true) => stats.rtcp += 1,
            (Ok(_), false) => stats.rtp += 1,
            (Err(SrtpError::Malformed), _) => stats.malformed += 1,
            (Err(SrtpError::Authentication), _) => stats.authentication += 1,
            (Err(SrtpError::Replayed), _) => stats.replayed += 1,
        }
        outcome
    }

    fn unprotect_rtp(&mut self, datagram: &[u8]) -> Result<Bytes, SrtpError> {
        // The fixed header, version 2, and room for the tag after it.
        if datagram.len() < 12 + self.suite().rtp_tag_len()
            || datagram[0] >> 6 != 2
            || !extension_elements_fit(datagram)
        {
            return Err(SrtpError::Malformed);
        }
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);
        self.admit(0, ssrc, |c| c.decrypt_rtp(datagram))?;
        self.context.decrypt_rtp(datagram).map_err(classify)
    }

    /// Lets a packet of `ssrc` reach the stream's context only once that SSRC has sent one
    /// that authenticates (checked in the probe context), so no forged SSRC leaves state there.
    fn admit(
        &mut self,
        kind: usize,
        ssrc: u32,
        decrypt: impl FnOnce(&mut Context) -> Result<Bytes, webrtc_srtp::Error>,
    ) -> Result<(), SrtpError> {
        if self.known[kind].contains(&ssrc) {
            return Ok(());
        }
        if self.probed == MAX_PROBED {
            self.probe = context(&self.key);
            self.probed = 0;
        }
        self.probed += 1;
        decrypt(&mut self.probe).map_err(classify)?;
        self.known[kind].insert(ssrc);
        Ok(())
    }

    fn unprotect_rtcp(&mut self, datagram: &[u8]) -> Result<Bytes, SrtpError> {
        // The first RTCP header with its SSRC, the E flag and index, the tag.
        let suite = self.suite();
        if datagram.len() < 8 + SRTCP_INDEX_LEN + suite.rtcp_tag_len() || datagram[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let trailer = datagram.len() - suite.rtcp_tag_len() - SRTCP_INDEX_LEN;
        let trailer = match suite.is_aead() {
            // RFC 7714 §9.3: GCM's trailer follows the tag.
            true => datagram.len() - SRTCP_INDEX_LEN,
            false => trailer,
        };
        if datagram[trailer] & 0x80 == 0 {
            return Err(SrtpError::Authentication);
        }
        let ssrc = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
        self.admit(1, ssrc, |c| c.decrypt_rtcp(datagram))?;
        self.context.decrypt_rtcp(datagram).map_err(classify)
    }
}

/// Whether each RFC 8285 header extension element lies inside its extension block (and the
/// block inside the datagram). `webrtc-srtp`'s RTP header reader panics on an element that
/// runs past the datagram (found by the `srtp_unprotect` fuzz target), so such a header is
/// refused here, before it; an element past its block is malformed by RFC 8285 §4 anyway.
fn extension_elements_fit(datagram: &[u8]) -> bool {
    if datagram[0] & 0x10 == 0 {
        return true;
    }
    let at = 12 + 4 * usize::from(datagram[0] & 0x0f);
    let Some(header) = datagram.get(at..at + 4) else {
        return false;
    };
    let profile = u16::from_be_bytes([header[0], header[1]]);
    let (start, end) = (
        at + 4,
        at + 4 + 4 * usize::from(u16::from_be_bytes([header[2], header[3]])),
    );
    if end > datagram.len() {
        return false;
    }
    let mut i = start;
    match profile {
        // One-byte elements: ID and length - 1 in one byte; ID 15 ends the walk.
        0xBEDE => {
            while i < end {
                let b = datagram[i];
                i += 1;
                match (b, b >> 4) {
                    (0, _) => continue,
                    (_, 15) => break,
                    _ => i += usize::from(b & 0x0f) + 1,
                }
                if i > end {
                    return false;
                }
            }
        }
        // Two-byte elements: ID, then length.
        0x1000 => {
            while i < end {
                if datagram[i] == 0 {
                    i += 1;
                    continue;
                }
                if i + 2 > end {
                    return false;
                }
                i += 2 + usize::from(datagram[i + 1]);
                if i > end {
                    return false;
                }
            }
        }
        _ => {}
    }
    true
}

/// A receiving context for `key`, with replay windows.
fn context(key: &MasterKey) -> Context {
    let suite = key.suite;
    let (master, salt) = key.bytes.split_at(suite.key_len());
    Context::new(
        master,
        salt,
        suite.profile(),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
    )
    .expect("a MasterKey holds exactly its suite's key and salt lengths")
}

fn classify(error: webrtc_srtp::Error) -> SrtpError {
    use webrtc_srtp::Error as E;
    match error {
        E::SrtpSsrcDuplicated(..) | E::SrtcpSsrcDuplicated(..) | E::ErrDuplicated => {
            SrtpError::Replayed
        }
        E::ErrFailedToVerifyAuthTag
        | E::RtpFailedToVerifyAuthTag
        | E::RtcpFailedToVerifyAuthTag
        | E::AesGcm(_) => SrtpError::Authentication,
        _ => SrtpError::Malformed,
    }
}

#[cfg(test)]
mod tests;
