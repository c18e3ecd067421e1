//! Repair of a recording file whose writer stopped mid-call (a crash, a power cut): finds the
//! longest prefix that is a valid file of ours and says how to make it whole. Pure functions
//! over bytes; the caller truncates the file to [`Repair::keep`] and writes the patches.
//!
//! Ogg Opus: pages are kept from the start while each is complete, carries a valid CRC, the
//! first page's serial and the next sequence number, back to the last page on which a packet
//! ends (a packet cut between pages is dropped). The last kept page gets the EOS flag, so
//! players see a closed stream whose last granule gives its length. WAV: the header must be
//! the one [`super::wav`] writes; the RIFF and `data` sizes are set to the whole sample frames
//! present (PCM has no checksums: a torn tail plays as whatever reached the disk).

use bytes::Bytes;

use super::ogg::{CRC_OFFSET, FLAG_BOS, FLAG_EOS, HEADER_LEN as OGG_HEADER_LEN};
use super::wav::{
    DATA_SIZE_OFFSET, HEADER_LEN as WAV_HEADER_LEN, MAX_DATA_BYTES, RIFF_SIZE_OFFSET,
};
use super::{Chunk, EncodeError, Format, MediaEncoder, OpusSettings};

/// How to turn an interrupted file into a valid one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Bytes to keep from the start of the file; everything after is dropped.
    pub keep: u64,
    /// [`Chunk::Patch`]es to write over the kept bytes (sizes, flags, CRCs).
    pub patches: Vec<Chunk>,
    /// Samples per channel the repaired file plays.
    pub samples_per_channel: u64,
    /// The rate those samples are counted at (Ogg Opus: 48 kHz granules).
    pub sample_rate: u32,
}

impl Repair {
    /// The repaired file's length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.samples_per_channel as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Applies the repair to a whole file held in memory.
    pub fn apply(&self, file: &mut Vec<u8>) {
        file.truncate(usize::try_from(self.keep).unwrap_or(usize::MAX));
        for patch in &self.patches {
            if let Chunk::Patch { offset, bytes } = patch {
                let start = usize::try_from(*offset).unwrap_or(usize::MAX);
                if let Some(dst) = file.get_mut(start..start.saturating_add(bytes.len())) {
                    dst.copy_from_slice(bytes);
                }
            }
        }
    }
}

/// Why nothing of a file could be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    /// The file does not start with the headers callrec writes (it was cut before they
    /// reached the disk, or it is not ours).
    #[error("no complete {0} header at the start of the file")]
    NoHeader(&'static str),
    /// Only the headers reached the disk: an Ogg Opus stream with no audio packet is not one
    /// players accept (opusinfo: "stream is empty"). [`empty_file`] makes one that is.
    #[error("no audio after the headers")]
    NoAudio,
}

/// A valid file of `format` holding no audio: what a recording whose first bytes never reached
/// the disk becomes (the call is still on record). Same arguments as [`MediaEncoder::new`].
pub fn empty_file(
    format: Format,
    sample_rate: u32,
    channels: u8,
    opus: OpusSettings,
    serial: u32,
) -> Result<Vec<u8>, EncodeError> {
    let mut chunks = Vec::new();
    MediaEncoder::new(format, sample_rate, channels, opus, serial)?.finish(&mut chunks)?;
    let mut file = Vec::new();
    for chunk in &chunks {
        if let Chunk::Append(bytes) = chunk {
            file.extend_from_slice(bytes);
        }
    }
    for chunk in chunks {
        if let Chunk::Patch { offset, bytes } = chunk {
            let start = offset as usize;
            file[start..start + bytes.len()].copy_from_slice(&bytes);
        }
    }
    Ok(file)
}

/// Granule rate of Ogg Opus (RFC 7845 §4).
const GRANULE_RATE: u32 = 48_000;
/// Granule of a page on which no packet ends (RFC 3533 §6).
const NO_GRANULE: u64 = u64::MAX;

/// One page as found in the bytes.
struct Page<'a> {
    start: usize,
    flags: u8,
    granule: u64,
    serial: u32,
    sequence: u32,
    /// The whole page, header to end of body.
    bytes: &'a [u8],
    /// A packet ends on this page (its last lacing value is below 255).
    packet_ends: bool,
    body: &'a [u8],
}

/// Reads the page at `start`, if it is complete and its CRC holds.
fn page_at(file: &[u8], start: usize) -> Option<Page<'_>> {
    let rest = file.get(start..)?;
    let header = rest.get(..OGG_HEADER_LEN)?;
    if &header[..4] != b"OggS" || header[4] != 0 {
        return None;
    }
    let segments = usize::from(header[26]);
    let lacing = rest.get(OGG_HEADER_LEN..OGG_HEADER_LEN + segments)?;
    let body_len: usize = lacing.iter().map(|&v| usize::from(v)).sum();
    let len = OGG_HEADER_LEN + segments + body_len;
    let bytes = rest.get(..len)?;
    let stored = u32::from_le_bytes(bytes[CRC_OFFSET..CRC_OFFSET + 4].try_into().ok()?);
    if crc_with_zeroed_field(bytes) != stored {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    Some(Page {
        start,
        flags: header[5],
        granule: u64::from_le_bytes(header[6..14].try_into().expect("8 bytes")),
        serial: u32_at(14),
        sequence: u32_at(18),
        bytes,
        packet_ends: lacing.last().is_some_and(|&v| v < 255),
        body: &bytes[OGG_HEADER_LEN + segments..],
    })
}

fn crc_with_zeroed_field(page: &[u8]) -> u32 {
    let (head, tail) = page.split_at(CRC_OFFSET);
    let zeroed = [head, &[0; 4], &tail[4..]];
    // The CRC runs over the page with its own field zeroed: feed the three parts in turn.
    zeroed
        .iter()
        .fold(0, |crc, part| super::ogg::crc32_update(crc, part))
}

/// Repairs an Ogg Opus file cut anywhere: keeps its header pages and every whole audio page
/// after them, and closes the stream with EOS. `file` is the whole file as found.
pub fn repair_ogg_opus(file: &[u8]) -> Result<Repair, RepairError> {
    let no_header = RepairError::NoHeader("Ogg Opus");
    let head = page_at(file, 0).ok_or(no_header.clone())?;
    // RFC 7845 §5.1: OpusHead alone on the BOS page; pre-skip at bytes 10..12.
    if head.flags & FLAG_BOS == 0 || head.sequence != 0 || !head.body.starts_with(b"OpusHead") {
        return Err(no_header);
    }
    let pre_skip = head
        .body
        .get(10..12)
        .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
        .ok_or(no_header.clone())?;
    let tags = page_at(file, head.bytes.len()).ok_or(no_header.clone())?;
    if tags.serial != head.serial
        || tags.sequence != 1
        || !tags.packet_ends
        || !tags.body.starts_with(b"OpusTags")
    {
        return Err(no_header);
    }
    // The last page a packet ends on, and the granule it ends at.
    let tags_start = tags.start;
    let mut last = tags;
    let mut granule = 0;
    let mut next = last.start + last.bytes.len();
    let (mut sequence, mut closed) = (1u32, last.flags & FLAG_EOS != 0);
    while let Some(page) = page_at(file, next) {
        let ours = page.serial == head.serial
            && page.sequence == sequence.wrapping_add(1)
            && page.flags & FLAG_BOS == 0;
        if !ours || closed {
            break;
        }
        (sequence, closed) = (page.sequence, page.flags & FLAG_EOS != 0);
        next = page.start + page.bytes.len();
        if page.packet_ends && page.granule != NO_GRANULE {
            granule = page.granule;
            last = page;
        }
    }
    if last.start == tags_start {
        return Err(RepairError::NoAudio);
    }
    let mut patches = Vec::new();
    if last.flags & FLAG_EOS == 0 {
        let mut header = last.bytes[..OGG_HEADER_LEN].to_vec();
        header[5] |= FLAG_EOS;
        let mut page = last.bytes.to_vec();
        page[5] = header[5];
        let crc = crc_with_zeroed_field(&page);
        header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        patches.push(Chunk::Patch {
            offset: last.start as u64,
            bytes: Bytes::from(header),
        });
    }
    Ok(Repair {
        keep: (last.start + last.bytes.len()) as u64,
        patches,
        samples_per_channel: granule.saturating_sub(pre_skip),
        sample_rate: GRANULE_RATE,
    })
}

/// Repairs a WAV file cut anywhere: `head` is its first bytes (at least the 44-byte header),
/// `len` its length. The sizes are set to the whole sample frames present.
pub fn repair_wav(head: &[u8], len: u64) -> Result<Repair, RepairError> {
    let no_header = RepairError::NoHeader("WAV");
    let header = head
        .get(..WAV_HEADER_LEN as usize)
        .filter(|_| len >= WAV_HEADER_LEN)
        .ok_or(no_header.clone())?;
    let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let channels = u16_at(22);
    let sample_rate = u32_at(24);
    let ours = &header[..4] == b"RIFF"
        && &header[8..16] == b"WAVEfmt "
        && u32_at(16) == 16
        && u16_at(20) == 1
        && (1..=2).contains(&channels)
        && sample_rate > 0
        && u16_at(32) == channels * 2
        && u16_at(34) == 16
        && &header[36..40] == b"data";
    if !ours {
        return Err(no_header);
    }
    let frame = u64::from(channels) * 2;
    let data = (len - WAV_HEADER_LEN).min(MAX_DATA_BYTES);
    let data = data - data % frame;
    let patch = |offset: u64, value: u64| Chunk::Patch {
        offset,
        bytes: Bytes::copy_from_slice(
            &u32::try_from(value)
                .expect("data is bounded by MAX_DATA_BYTES")
                .to_le_bytes(),
        ),
    };
    Ok(Repair {
        keep: WAV_HEADER_LEN + data,
        patches: vec![
            patch(RIFF_SIZE_OFFSET, data + WAV_HEADER_LEN - 8),
            patch(DATA_SIZE_OFFSET, data),
        ],
        samples_per_channel: data / frame,
        sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ogg::tests::{pages, parse};
    use super::*;

    /// The serial `parse` expects.
    const SERIAL: u32 = 0x1234_5678;

    /// A whole file as the encoder writes it: 300 Hz, `seconds` long, with the offsets where
    /// each append ended (where a crash between writes would cut it).
    fn encode(format: Format, rate: u32, channels: u8, seconds: f64) -> (Vec<u8>, Vec<usize>) {
        let mut enc = MediaEncoder::new(format, rate, channels, OpusSettings::default(), SERIAL)
            .expect("valid");
        let mut chunks = Vec::new();
        let mut cuts = Vec::new();
        let mut file = Vec::new();
        let frames = (seconds * f64::from(rate)) as usize;
        let pcm: Vec<i16> = (0..frames * usize::from(channels))
            .map(|i| {
                let t = (i / usize::from(channels)) as f64 / f64::from(rate);
                (6000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
            })
            .collect();
        for part in pcm.chunks(320 * usize::from(channels)) {
            enc.push(part, &mut chunks).expect("push");
            for chunk in chunks.drain(..) {
                if let Chunk::Append(bytes) = chunk {
                    file.extend_from_slice(&bytes);
                    cuts.push(file.len());
                }
            }
        }
        (file, cuts)
    }

    fn repaired(file: &[u8], repair: &Repair) -> Vec<u8> {
        let mut out = file.to_vec();
        repair.apply(&mut out);
        out
    }

    #[test]
    fn an_ogg_cut_between_writes_keeps_every_page_and_gets_eos() {
        let (file, cuts) = encode(Format::OggOpus, 16000, 2, 3.3);
        // Headers, then a page every half second.
        assert_eq!(cuts.len(), 1 + 6, "{cuts:?}");
        assert_eq!(repair_ogg_opus(&file[..cuts[0]]), Err(RepairError::NoAudio));
        for &cut in &cuts[1..] {
            let repair = repair_ogg_opus(&file[..cut]).expect("repairable");
            assert_eq!(repair.keep, cut as u64);
            let out = repaired(&file[..cut], &repair);
            let pages = pages(&out);
            let (flags, granule, _, _, _) = parse(pages.last().expect("a page"));
            assert_eq!(flags & FLAG_EOS, FLAG_EOS);
            assert_eq!(
                pages.iter().filter(|p| parse(p).0 & FLAG_EOS != 0).count(),
                1
            );
            let audio_pages = pages.len() as u64 - 2;
            assert_eq!(repair.samples_per_channel, audio_pages * 24_000 - 312);
            assert_eq!(granule, audio_pages * 24_000);
            // Repairing again changes nothing.
            let again = repair_ogg_opus(&out).expect("still valid");
            assert_eq!((again.keep, again.patches.len()), (out.len() as u64, 0));
            assert_eq!(again.samples_per_channel, repair.samples_per_channel);
        }
    }

    #[test]
    fn an_ogg_cut_or_garbled_anywhere_keeps_the_pages_before() {
        let (file, cuts) = encode(Format::OggOpus, 8000, 1, 2.2);
        let page_ends: Vec<usize> = cuts.clone();
        for cut in 0..=file.len() {
            let whole_before = page_ends.iter().rev().find(|&&end| end <= cut).copied();
            match repair_ogg_opus(&file[..cut]) {
                Ok(repair) => assert_eq!(Some(repair.keep as usize), whole_before, "cut {cut}"),
                Err(RepairError::NoHeader(_)) => assert_eq!(whole_before, None, "cut {cut}"),
                Err(RepairError::NoAudio) => assert_eq!(whole_before, Some(cuts[0]), "cut {cut}"),
            }
            // A torn write: the tail after the cut is garbage instead of missing.
            let mut torn = file.clone();
            torn[cut..].iter_mut().for_each(|b| *b ^= 0x5a);
            if let Some(end) = whole_before.filter(|&end| end > cuts[0]) {
                let repair = repair_ogg_opus(&torn).expect("repairable");
                assert_eq!(repair.keep as usize, end, "torn at {cut}");
            }
        }
    }

    #[test]
    fn a_page_where_a_packet_continues_is_dropped_with_its_packet() {
        // Two pages: one big packet spanning both (its first page ends in a 255 lacing value),
        // after the two header pages of a real file.
        let (file, cuts) = encode(Format::OggOpus, 8000, 1, 0.02);
        let headers = &file[..cuts[0]];
        let mut w = super::super::ogg::PageWriter::new(SERIAL);
        let mut out = bytes::BytesMut::new();
        // Skip the header pages' sequence numbers 0 and 1.
        w.add_packet(b"x", 0, &mut out);
        w.flush(false, &mut out);
        w.add_packet(b"y", 0, &mut out);
        w.flush(false, &mut out);
        out.clear();
        w.add_packet(&[9; 300], 960, &mut out);
        w.flush(false, &mut out);
        w.add_packet(&vec![5; 255 * 255 + 10], 1920, &mut out);
        w.flush(false, &mut out);
        let pages_written = pages(&out);
        assert_eq!(pages_written.len(), 3);
        let mut cut_file = headers.to_vec();
        cut_file.extend_from_slice(&pages_written[0]);
        cut_file.extend_from_slice(&pages_written[1]); // the packet's first part only
        let repair = repair_ogg_opus(&cut_file).expect("repairable");
        assert_eq!(repair.keep as usize, headers.len() + pages_written[0].len());
        assert_eq!(repair.samples_per_channel, 960 - 312);
        cut_file.extend_from_slice(&pages_written[2]);
        let repair = repair_ogg_opus(&cut_file).expect("repairable");
        assert_eq!(repair.keep as usize, cut_file.len());
        assert_eq!(repair.samples_per_channel, 1920 - 312);
    }

    #[test]
    fn empty_files_are_valid_and_hold_nothing() {
        let ogg = empty_file(Format::OggOpus, 16000, 2, OpusSettings::default(), 1).expect("ok");
        let repair = repair_ogg_opus(&ogg).expect("valid");
        assert_eq!((repair.keep, repair.patches.len()), (ogg.len() as u64, 0));
        assert_eq!(repair.samples_per_channel, 0);
        let wav = empty_file(Format::Wav, 8000, 1, OpusSettings::default(), 1).expect("ok");
        assert_eq!(wav.len(), 44);
        let repair = repair_wav(&wav, 44).expect("valid");
        assert_eq!(repaired(&wav, &repair), wav);
    }

    #[test]
    fn not_ours_is_no_header() {
        assert!(repair_ogg_opus(b"").is_err());
        assert!(repair_ogg_opus(b"OggS").is_err());
        let (wav, _) = encode(Format::Wav, 8000, 1, 1.0);
        assert!(repair_ogg_opus(&wav).is_err());
        let (ogg, _) = encode(Format::OggOpus, 8000, 1, 1.0);
        assert!(repair_wav(&ogg, ogg.len() as u64).is_err());
        assert!(repair_wav(&wav[..43], 43).is_err());
    }

    #[test]
    fn a_wav_cut_anywhere_gets_the_sizes_of_its_whole_frames() {
        let (file, cuts) = encode(Format::Wav, 8000, 2, 1.6);
        assert!(cuts.len() >= 3, "{cuts:?}");
        for cut in [44, 45, 46, 47, 48, 49, 1001, cuts[0], file.len()] {
            let repair = repair_wav(&file[..cut.min(64)], cut as u64).expect("repairable");
            let data = (cut as u64 - 44) / 4 * 4;
            assert_eq!(repair.keep, 44 + data, "cut {cut}");
            assert_eq!(repair.samples_per_channel, data / 4);
            assert_eq!(repair.sample_rate, 8000);
            let out = repaired(&file[..cut], &repair);
            assert_eq!(out.len() as u64, 44 + data);
            assert_eq!(
                u32::from_le_bytes(out[4..8].try_into().expect("4")),
                36 + data as u32
            );
            assert_eq!(
                u32::from_le_bytes(out[40..44].try_into().expect("4")),
                data as u32
            );
            assert_eq!(&out[44..], &file[44..44 + data as usize]);
        }
    }
}
