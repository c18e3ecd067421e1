//! Encryption at rest (envelope encryption): a recording's media sealed with a data key of its
//! own before it leaves the worker, the data key wrapped by its organisation's key. Owns the
//! chunked format, the keyring's types and the `encryption` section of the metadata document;
//! sans-IO (bytes in, bytes out: no files, no store) and must never log or return a key.
//!
//! **Cryptography**: AES-256-GCM from aws-lc-rs (the FIPS-validated AWS-LC, already built for
//! rustls and object_store), for the media and for wrapping the data key.
//!
//! **The media object** is a 20-byte header, then chunks:
//!
//! ```text
//! header  "CRECENC" (7) | version 1 (1) | chunk size, u32 big-endian (4) | nonce prefix (7) | 0 (1)
//! chunk i AES-256-GCM(data key, nonce = prefix ‖ i as u32 BE ‖ last? 1 : 0,
//!                     aad = header ‖ recording id ‖ "\n" ‖ file name) — chunk size + 16 bytes,
//!                     the last one shorter (an empty file is one empty last chunk)
//! ```
//!
//! This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the chunk's
//! index in the nonce detects reordering, the last-chunk flag detects truncation (a file cut at
//! a chunk boundary ends on a chunk not sealed as last), the header in the associated data
//! detects any change to it, and the recording id and file name stop a chunk or a whole file
//! from opening as another recording's. Neither binds the object key: plan migration copies
//! the ciphertext to another prefix unchanged, and it still opens. Seekable: plaintext offset
//! `o` is in chunk `o / chunk size`, whose ciphertext is at a fixed offset ([`Layout`]), so a
//! byte range needs only the chunks it touches.
//!
//! **The data key** (32 random bytes, one per recording, shared by its media files) is not in
//! the media object: the metadata document's `encryption` section ([`Encryption`]) holds it
//! wrapped (AES-256-GCM, the format of [`super::sealed`], bound to the organisation and the
//! recording id) with the id of the organisation key that wrapped it. Rotating keys rewrites
//! that small document only ("rewrap"); the media objects are never rewritten.

use super::sealed::SecretsKey;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;

/// The `scheme` of media this module seals.
pub const SCHEME: &str = "callrec-aes256gcm-stream-v1";
/// The default plaintext bytes per chunk: 64 KiB (a few seconds of a call), so a range read
/// decrypts at most two extra partial chunks and the tag costs 0.02 % of the size.
pub const DEFAULT_CHUNK: u32 = 64 << 10;
/// The header's length in bytes.
pub const HEADER_LEN: u64 = 20;
/// The tag each chunk carries.
pub const TAG_LEN: u64 = 16;
const MAGIC: &[u8; 7] = b"CRECENC";
const VERSION: u8 = 1;
const PREFIX_LEN: usize = 7;
/// Chunk sizes accepted: 1 KiB to 16 MiB (a header outside them is malformed, so a hostile
/// header cannot ask for a huge buffer).
pub const CHUNK_LIMITS: Range<u32> = 1024..(16 << 20) + 1;

/// Why media could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The system gave no randomness for a key or nonce.
    #[error("no randomness: {0}")]
    Random(String),
    /// The header is not one this version wrote.
    #[error("not encrypted media of this format")]
    Malformed,
    /// A chunk did not open: another key, another recording, altered, reordered or truncated.
    #[error("chunk {0} does not open (altered, truncated, reordered, or another key)")]
    Refused(u64),
    /// The ciphertext ended before the range asked for.
    #[error("the encrypted media ends early")]
    Truncated,
    /// More chunks than the nonce's counter can number.
    #[error("too large to encrypt with this chunk size")]
    TooLarge,
    /// No key of this id in the organisation's keyring.
    #[error("organisation {org} has no key '{key_id}' in the keyring")]
    UnknownKey { org: String, key_id: String },
    /// The wrapped data key did not open with the named key.
    #[error("the data key does not open with key '{0}'")]
    Unwrap(String),
}

/// A recording's data key. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<DataKey, EnvelopeError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| EnvelopeError::Random(e.to_string()))?;
        Ok(DataKey(key))
    }

    fn cipher(&self) -> LessSafeKey {
        let key = UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key is AES-256's");
        LessSafeKey::new(key)
    }
}

/// What a wrapped data key is bound to: its organisation and recording.
fn wrap_owner(org: &str, recording: &str) -> String {
    format!("recording-data-key\n{org}\n{recording}")
}

/// One organisation's keys, by id, and the id new recordings are wrapped with. Old keys stay
/// so older recordings open until `callrec storage rewrap` moves them to the current one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgKeys {
    pub current: String,
    pub keys: BTreeMap<String, SecretsKey>,
    /// Plaintext bytes per chunk of new recordings ([`DEFAULT_CHUNK`] unless configured).
    pub chunk_size: u32,
}

impl OrgKeys {
    /// `data` wrapped with the current key for `org`'s `recording`: (key id, wrapped text).
    pub fn wrap(
        &self,
        org: &str,
        recording: &str,
        data: &DataKey,
    ) -> Result<(String, String), EnvelopeError> {
        let key = self.key(org, &self.current)?;
        let wrapped = key
            .seal(&data.0, &wrap_owner(org, recording))
            .map_err(|e| EnvelopeError::Random(e.to_string()))?;
        Ok((self.current.clone(), wrapped))
    }

    /// The data key `wrapped` holds, opened with key `key_id`.
    pub fn unwrap(
        &self,
        org: &str,
        recording: &str,
        key_id: &str,
        wrapped: &str,
    ) -> Result<DataKey, EnvelopeError> {
        let key = self.key(org, key_id)?;
        let plain = key
            .open(wrapped, &wrap_owner(org, recording))
            .map_err(|_| EnvelopeError::Unwrap(key_id.to_string()))?;
        let bytes: [u8; 32] = plain
            .try_into()
            .map_err(|_| EnvelopeError::Unwrap(key_id.to_string()))?;
        Ok(DataKey(bytes))
    }

    fn key(&self, org: &str, key_id: &str) -> Result<&SecretsKey, EnvelopeError> {
        self.keys
            .get(key_id)
            .ok_or_else(|| EnvelopeError::UnknownKey {
                org: org.to_string(),
                key_id: key_id.to_string(),
            })
    }
}

/// Every organisation's keys (from the configuration): an organisation in it has its
/// recordings encrypted.
pub type Keyring = BTreeMap<String, OrgKeys>;

/// The metadata document's `encryption` section: how the media is sealed, and what the store
/// holds (the top-level `files` keep the plaintext's size and SHA-256 as recorded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// [`SCHEME`].
    pub scheme: String,
    /// The organisation key that wrapped the data key.
    pub key_id: String,
    /// The data key, wrapped ([`OrgKeys::wrap`]).
    pub wrapped_key: String,
    pub chunk_size: u32,
    /// The media objects as stored (ciphertext): what the upload checks.
    pub files: Vec<SealedFile>,
}

impl Encryption {
    /// The stored (ciphertext) size and SHA-256 of the media file `name`.
    pub fn file(&self, name: &str) -> Option<&SealedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The data key, opened with `keys`.
    pub fn data_key(
        &self,
        keys: &OrgKeys,
        org: &str,
        recording: &str,
    ) -> Result<DataKey, EnvelopeError> {
        keys.unwrap(org, recording, &self.key_id, &self.wrapped_key)
    }
}

/// A media object as stored encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Where a plaintext of `plain_len` bytes lies in its ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub chunk_size: u32,
    pub plain_len: u64,
}

impl Layout {
    /// Chunks in the object (at least one: an empty file is one empty last chunk).
    pub fn chunks(&self) -> u64 {
        self.plain_len.div_ceil(u64::from(self.chunk_size)).max(1)
    }

    /// The ciphertext's length.
    pub fn cipher_len(&self) -> u64 {
        HEADER_LEN + self.plain_len + self.chunks() * TAG_LEN
    }

    /// Where chunk `index` starts in the ciphertext.
    fn chunk_offset(&self, index: u64) -> u64 {
        HEADER_LEN + index * (u64::from(self.chunk_size) + TAG_LEN)
    }

    /// The chunks holding plaintext bytes `range` (non-empty, within the plaintext) and their
    /// ciphertext bytes: what to fetch for a byte range.
    pub fn span(&self, range: &Range<u64>) -> (Range<u64>, Range<u64>) {
        let size = u64::from(self.chunk_size);
        let first = range.start / size;
        let last = (range.end.max(1) - 1) / size;
        let chunks = first..(last + 1).min(self.chunks());
        let end = if chunks.end == self.chunks() {
            self.cipher_len()
        } else {
            self.chunk_offset(chunks.end)
        };
        (chunks.clone(), self.chunk_offset(chunks.start)..end)
    }
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u64, last: bool) -> Result<Nonce, EnvelopeError> {
    let index = u32::try_from(index).map_err(|_| EnvelopeError::TooLarge)?;
    let mut bytes = [0u8; 12];
    bytes[..PREFIX_LEN].copy_from_slice(prefix);
    bytes[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    bytes[11] = u8::from(last);
    Ok(Nonce::assume_unique_for_key(bytes))
}

fn aad(header: &[u8; HEADER_LEN as usize], recording: &str, file: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(recording.as_bytes());
    aad.push(b'\n');
    aad.extend_from_slice(file.as_bytes());
    aad
}

/// Seals one media file, chunk by chunk: [`Sealer::header`] first, then [`Sealer::seal`] on
/// each chunk-size piece of plaintext in order, the last one (possibly shorter or empty) with
/// `last`.
pub struct Sealer {
    cipher: LessSafeKey,
    header: [u8; HEADER_LEN as usize],
    prefix: [u8; PREFIX_LEN],
    aad: Vec<u8>,
    chunk_size: u32,
    next: u64,
    done: bool,
}

impl Sealer {
    /// A sealer for `file` of `recording` with a fresh random nonce prefix (a data key seals
    /// every file of its recording; the prefix keeps their nonces apart).
    pub fn new(
        key: &DataKey,
        chunk_size: u32,
        recording: &str,
        file: &str,
    ) -> Result<Sealer, EnvelopeError> {
        if !CHUNK_LIMITS.contains(&chunk_size) {
            return Err(EnvelopeError::TooLarge);
        }
        let mut prefix = [0u8; PREFIX_LEN];
        getrandom::fill(&mut prefix).map_err(|e| EnvelopeError::Random(e.to_string()))?;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..7].copy_from_slice(MAGIC);
        header[7] = VERSION;
        header[8..12].copy_from_slice(&chunk_size.to_be_bytes());
        header[12..19].copy_from_slice(&prefix);
        Ok(Sealer {
            cipher: key.cipher(),
            aad: aad(&header, recording, file),
            header,
            prefix,
            chunk_size,
            next: 0,
            done: false,
        })
    }

    /// The header, written before the first chunk.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The plaintext bytes each chunk but the last must hold.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size as usize
    }

    /// `plain` (one chunk: exactly the chunk size unless `last`) sealed in place, its tag
    /// appended.
    pub fn seal(&mut self, plain: &mut Vec<u8>, last: bool) -> Result<(), EnvelopeError> {
        if self.done
            || plain.len() > self.chunk_size()
            || (!last && plain.len() < self.chunk_size())
        {
            return Err(EnvelopeError::Malformed);
        }
        let nonce = nonce(&self.prefix, self.next, last)?;
        self.cipher
            .seal_in_place_append_tag(nonce, Aad::from(&self.aad[..]), plain)
            .map_err(|_| EnvelopeError::TooLarge)?;
        self.next += 1;
        self.done = last;
        Ok(())
    }
}

/// All of `plain` sealed (header and chunks): for tests and benchmarks; files go through
/// [`Sealer`] a chunk at a time.
pub fn seal_all(
    key: &DataKey,
    chunk_size: u32,
    recording: &str,
    file: &str,
    plain: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let mut sealer = Sealer::new(key, chunk_size, recording, file)?;
    let layout = Layout {
        chunk_size,
        plain_len: plain.len() as u64,
    };
    let mut out = Vec::with_capacity(layout.cipher_len() as usize);
    out.extend_from_slice(sealer.header());
    let mut pieces = plain.chunks(sealer.chunk_size()).peekable();
    if pieces.peek().is_none() {
        let mut empty = Vec::new();
        sealer.seal(&mut empty, true)?;
        out.extend_from_slice(&empty);
    }
    while let Some(piece) = pieces.next() {
        let mut chunk = piece.to_vec();
        sealer.seal(&mut chunk, pieces.peek().is_none())?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Opens a byte range of a sealed file from its header and the ciphertext of the chunks
/// holding the range ([`Layout::span`]), fed in pieces of any size as they arrive: push
/// ciphertext, take plaintext; memory stays at one chunk.
pub struct Opener {
    cipher: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    aad: Vec<u8>,
    layout: Layout,
    /// The next chunk to open, and the end of the chunks to open.
    next: u64,
    end: u64,
    /// The plaintext wanted, as absolute offsets.
    want: Range<u64>,
    buf: Vec<u8>,
}

impl Opener {
    /// An opener for plaintext bytes `want` (non-empty, within `plain_len`; empty: the whole
    /// file) of `file` of `recording`, whose header is `header`. The ciphertext to push is
    /// `Layout::span(&want).1`, from the object.
    pub fn new(
        key: &DataKey,
        header: &[u8],
        plain_len: u64,
        want: Range<u64>,
        recording: &str,
        file: &str,
    ) -> Result<(Opener, Range<u64>), EnvelopeError> {
        let header: [u8; HEADER_LEN as usize] =
            header.try_into().map_err(|_| EnvelopeError::Malformed)?;
        if &header[..7] != MAGIC || header[7] != VERSION || header[19] != 0 {
            return Err(EnvelopeError::Malformed);
        }
        let chunk_size = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
        if !CHUNK_LIMITS.contains(&chunk_size) {
            return Err(EnvelopeError::Malformed);
        }
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[12..19]);
        let layout = Layout {
            chunk_size,
            plain_len,
        };
        let want = if want.is_empty() {
            0..plain_len
        } else {
            want.start.min(plain_len)..want.end.min(plain_len)
        };
        let (chunks, cipher) = layout.span(&want);
        let opener = Opener {
            cipher: key.cipher(),
            prefix,
            aad: aad(&header, recording, file),
            layout,
            next: chunks.start,
            end: chunks.end,
            want,
            buf: Vec::new(),
        };
        Ok((opener, cipher))
    }

    /// The sealed length of chunk `index`.
    fn sealed_len(&self, index: u64) -> usize {
        let size = u64::from(self.layout.chunk_size);
        let plain = if index + 1 == self.layout.chunks() {
            self.layout.plain_len - index * size
        } else {
            size
        };
        (plain + TAG_LEN) as usize
    }

    /// Plaintext of the range from ciphertext `data` (the next bytes of the span): whatever
    /// whole chunks it completes, trimmed to the range.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.next >= self.end {
                return Err(EnvelopeError::Malformed);
            }
            let need = self.sealed_len(self.next) - self.buf.len();
            let take = need.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == self.sealed_len(self.next) {
                self.open_chunk(&mut out)?;
            }
        }
        Ok(out)
    }

    fn open_chunk(&mut self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        let index = self.next;
        let last = index + 1 == self.layout.chunks();
        let nonce = nonce(&self.prefix, index, last)?;
        let plain = self
            .cipher
            .open_in_place(nonce, Aad::from(&self.aad[..]), &mut self.buf)
            .map_err(|_| EnvelopeError::Refused(index))?;
        let start = index * u64::from(self.layout.chunk_size);
        let from = self.want.start.saturating_sub(start) as usize;
        let to = ((self.want.end - start) as usize).min(plain.len());
        if from < to {
            out.extend_from_slice(&plain[from..to]);
        }
        self.buf.clear();
        self.next += 1;
        Ok(())
    }

    /// Checks that every chunk of the range arrived (a short object is an error, never a short
    /// answer).
    pub fn finish(&self) -> Result<(), EnvelopeError> {
        match self.next == self.end && self.buf.is_empty() {
            true => Ok(()),
            false => Err(EnvelopeError::Truncated),
        }
    }
}

/// Plaintext `want` (empty: all) of a whole sealed object held in memory: for tests, benches
/// and small objects.
pub fn open_all(
    key: &DataKey,
    sealed: &[u8],
    plain_len: u64,
    want: Range<u64>,
    recording: &str,
    file: &str,
) -> Result<Vec<u8>, EnvelopeError> {
    let header = sealed
        .get(..HEADER_LEN as usize)
        .ok_or(EnvelopeError::Malformed)?;
    let (mut opener, span) = Opener::new(key, header, plain_len, want, recording, file)?;
    if sealed.len() as u64 != opener.layout.cipher_len() {
        return Err(EnvelopeError::Truncated);
    }
    let piece = sealed
        .get(span.start as usize..span.end as usize)
        .ok_or(EnvelopeError::Truncated)?;
    let out = opener.push(piece)?;
    opener.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: u32 = 1024;

    fn keys(ids: &[(&str, u8)], current: &str) -> OrgKeys {
        OrgKeys {
            current: current.into(),
            keys: ids
                .iter()
                .map(|(id, byte)| {
                    let hex: String = std::iter::repeat_n(format!("{byte:02x}"), 32).collect();
                    (id.to_string(), SecretsKey::parse(&hex).expect("hex key"))
                })
                .collect(),
            chunk_size: CHUNK,
        }
    }

    fn plain(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn every_range_of_every_size_opens_bit_exact() {
        let key = DataKey::generate().unwrap();
        let c = CHUNK as usize;
        for len in [0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 17] {
            let text = plain(len);
            let sealed = seal_all(&key, CHUNK, "rec-1", "a.opus", &text).unwrap();
            let layout = Layout {
                chunk_size: CHUNK,
                plain_len: len as u64,
            };
            assert_eq!(sealed.len() as u64, layout.cipher_len(), "{len}");
            assert_eq!(&sealed[..7], MAGIC);
            let whole = open_all(&key, &sealed, len as u64, 0..0, "rec-1", "a.opus").unwrap();
            assert_eq!(whole, text, "{len}");
            // Every range starting or ending on, beside or across a chunk boundary.
            let edges: Vec<u64> = [0, 1, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, len]
                .into_iter()
                .filter(|&e| e <= len)
                .map(|e| e as u64)
                .collect();
            for &start in &edges {
                for &end in &edges {
                    if start >= end {
                        continue;
                    }
                    let got =
                        open_all(&key, &sealed, len as u64, start..end, "rec-1", "a.opus").unwrap();
                    assert_eq!(
                        got,
                        &text[start as usize..end as usize],
                        "{len} {start}..{end}"
                    );
                    // Fed a few bytes at a time, as a store streams it.
                    let (mut opener, span) = Opener::new(
                        &key,
                        &sealed[..20],
                        len as u64,
                        start..end,
                        "rec-1",
                        "a.opus",
                    )
                    .unwrap();
                    let mut out = Vec::new();
                    for piece in sealed[span.start as usize..span.end as usize].chunks(333) {
                        out.extend(opener.push(piece).unwrap());
                    }
                    opener.finish().unwrap();
                    assert_eq!(out, &text[start as usize..end as usize]);
                }
            }
        }
    }

    #[test]
    fn a_span_covers_only_the_chunks_of_its_range() {
        let layout = Layout {
            chunk_size: CHUNK,
            plain_len: 3000,
        };
        let sealed = u64::from(CHUNK) + TAG_LEN;
        assert_eq!(layout.chunks(), 3);
        assert_eq!(layout.span(&(0..1)), (0..1, 20..20 + sealed));
        assert_eq!(layout.span(&(1023..1025)), (0..2, 20..20 + 2 * sealed));
        assert_eq!(
            layout.span(&(1024..2048)),
            (1..2, 20 + sealed..20 + 2 * sealed)
        );
        assert_eq!(
            layout.span(&(2999..3000)),
            (2..3, 20 + 2 * sealed..layout.cipher_len())
        );
    }

    #[test]
    fn tampering_truncation_reordering_and_other_recordings_are_refused() {
        let key = DataKey::generate().unwrap();
        let text = plain(3 * CHUNK as usize + 5);
        let len = text.len() as u64;
        let sealed = seal_all(&key, CHUNK, "rec-1", "a.opus", &text).unwrap();
        let open =
            |bytes: &[u8], rec: &str, file: &str| open_all(&key, bytes, len, 0..0, rec, file);
        for at in [0, 8, 12, 19, 20, 500, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x01;
            assert!(open(&bad, "rec-1", "a.opus").is_err(), "byte {at}");
        }
        // Chunks 1 and 2 swapped.
        let s = (CHUNK as u64 + TAG_LEN) as usize;
        let mut swapped = sealed.clone();
        let (one, two) = (20 + s..20 + 2 * s, 20 + 2 * s..20 + 3 * s);
        let chunk1 = sealed[one.clone()].to_vec();
        swapped.copy_from_slice(
            &[
                &sealed[..one.start],
                &sealed[two.clone()],
                &chunk1,
                &sealed[two.end..],
            ]
            .concat(),
        );
        assert_eq!(
            open(&swapped, "rec-1", "a.opus"),
            Err(EnvelopeError::Refused(1))
        );
        // Cut after a whole chunk: the remaining last chunk was not sealed as last.
        let cut = &sealed[..20 + 3 * s];
        assert_eq!(
            open_all(&key, cut, 3 * u64::from(CHUNK), 0..0, "rec-1", "a.opus"),
            Err(EnvelopeError::Refused(2))
        );
        assert_eq!(
            open(&sealed[..sealed.len() - 1], "rec-1", "a.opus"),
            Err(EnvelopeError::Truncated)
        );
        assert_eq!(
            open(&sealed, "rec-2", "a.opus"),
            Err(EnvelopeError::Refused(0))
        );
        assert_eq!(
            open(&sealed, "rec-1", "b.opus"),
            Err(EnvelopeError::Refused(0))
        );
        let other = DataKey::generate().unwrap();
        assert_eq!(
            open_all(&other, &sealed, len, 0..0, "rec-1", "a.opus"),
            Err(EnvelopeError::Refused(0))
        );
        assert_eq!(
            open(b"OggS", "rec-1", "a.opus"),
            Err(EnvelopeError::Malformed)
        );
    }

    #[test]
    fn a_rewrapped_data_key_opens_the_same_media_with_the_new_key_only() {
        let data = DataKey::generate().unwrap();
        let text = plain(5000);
        let sealed = seal_all(&data, CHUNK, "rec-1", "a.opus", &text).unwrap();
        let old = keys(&[("k1", 1)], "k1");
        let (id, wrapped) = old.wrap("acme", "rec-1", &data).unwrap();
        assert_eq!(id, "k1");
        // Rotation: k2 current, the data key rewrapped; the media is untouched.
        let both = keys(&[("k1", 1), ("k2", 2)], "k2");
        let opened = both.unwrap("acme", "rec-1", "k1", &wrapped).unwrap();
        let (id2, rewrapped) = both.wrap("acme", "rec-1", &opened).unwrap();
        assert_eq!(id2, "k2");
        let only_new = keys(&[("k2", 2)], "k2");
        let again = only_new.unwrap("acme", "rec-1", "k2", &rewrapped).unwrap();
        assert_eq!(
            open_all(&again, &sealed, 5000, 0..0, "rec-1", "a.opus").unwrap(),
            text
        );
        assert_eq!(
            only_new.unwrap("acme", "rec-1", "k1", &wrapped),
            Err(EnvelopeError::UnknownKey {
                org: "acme".into(),
                key_id: "k1".into()
            })
        );
        // The wrong key under the right id, another recording, another organisation.
        let impostor = keys(&[("k2", 9)], "k2");
        assert!(impostor.unwrap("acme", "rec-1", "k2", &rewrapped).is_err());
        assert!(only_new.unwrap("acme", "rec-2", "k2", &rewrapped).is_err());
        assert!(only_new
            .unwrap("globex", "rec-1", "k2", &rewrapped)
            .is_err());
        assert_eq!(format!("{again:?}"), "DataKey(..)");
    }
}
