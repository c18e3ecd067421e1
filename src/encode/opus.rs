//! Ogg Opus writer (RFC 7845): owns the `OpusHead`/`OpusTags` headers, 20 ms framing, the
//! libopus encoder settings, granule positions and end trimming. Pages go through
//! [`PageWriter`]; it never touches the page format itself.
//!
//! libopus encodes at the input rate itself (8 or 16 kHz for calls): no resampling to 48 kHz.
//! Only the granule positions and pre-skip are in 48 kHz units (RFC 7845 §4).
//!
//! Application: `VOIP`. The input is conversational speech that already went through a
//! telephony codec; VOIP favours SILK and intelligibility at 16–32 kbit/s, and its high-pass
//! filter only removes rumble below the telephone band.
//!
//! Stereo is two independent mono streams (RFC 7845 §5.1.1.2, channel mapping family 1, no
//! coupled stream), not one coupled stereo stream (family 0). The two channels are the two legs
//! of a call, two different people: joint stereo coding narrows the image at call bitrates and
//! one leg bleeds into the other (measured with libopus 1.6 at 16 kHz: 0 dB of separation at
//! 16–20 kbit/s, 4 dB at 24 kbit/s, complexity 5). Separate streams cannot bleed. The bitrate
//! setting is the total, split evenly between the streams. Mono stays family 0: a one-stream
//! multistream packet is a plain Opus packet.

use ::opus::{Application, Bitrate, MSEncoder};
use bytes::{BufMut, BytesMut};

use super::ogg::PageWriter;
use super::{Chunk, EncodeError, EncodeSummary, Format, OpusSettings};

/// Frames per second: 20 ms frames.
const FRAMES_PER_SECOND: u32 = 50;
/// Frames per page: half a second of audio. A page is only handed out when complete, so this
/// bounds what a crash loses (with the jitter buffer's wait, under a second); fewer, longer
/// pages would save only ~50 bytes a second of page headers.
const FRAMES_PER_PAGE: usize = FRAMES_PER_SECOND as usize / 2;
/// Output buffer for one packet: the size libopus documents as always enough.
const MAX_PACKET: usize = 4000;
/// Granule positions count samples at 48 kHz (RFC 7845 §4).
const GRANULE_RATE: u32 = 48_000;
/// Channel i is stream i (family 1's channel mapping table).
const STREAM_MAPPING: [u8; 2] = [0, 1];
/// Input rates libopus encodes natively.
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

pub(crate) struct OggOpusWriter {
    encoder: MSEncoder,
    pages: PageWriter,
    channels: usize,
    /// Samples per channel in one frame, at the input rate.
    frame_len: usize,
    /// Interleaved samples in one frame.
    frame_samples: usize,
    /// 48 kHz samples per input sample.
    granule_per_sample: u64,
    /// Encoder delay, in input samples.
    lookahead: u64,
    /// The same delay in 48 kHz units, as written in `OpusHead`.
    pre_skip: u64,
    /// Interleaved samples of the frame being filled.
    frame: Vec<i16>,
    packet: Vec<u8>,
    /// Complete pages not yet handed out.
    staged: BytesMut,
    frames_on_page: usize,
    /// Input samples per channel the packets so far decode to (padding included).
    encoded: u64,
    /// Input samples per channel pushed so far.
    samples: u64,
    /// Bytes handed out so far.
    bytes: u64,
}

impl OggOpusWriter {
    /// Sets up the encoder and stages the two header pages (RFC 7845 §3: each on its own page).
    pub(crate) fn new(
        sample_rate: u32,
        channels: u8,
        settings: OpusSettings,
        serial: u32,
    ) -> Result<Self, EncodeError> {
        if !OPUS_RATES.contains(&sample_rate) {
            return Err(EncodeError::UnsupportedSampleRate {
                format: Format::OggOpus,
                sample_rate,
            });
        }
        settings.validate()?;
        if !(1..=2).contains(&channels) {
            return Err(EncodeError::UnsupportedChannels(channels));
        }
        // One mono stream per channel, channel i decoded from stream i.
        let mapping = &STREAM_MAPPING[..usize::from(channels)];
        let mut encoder = MSEncoder::new(sample_rate, channels, 0, mapping, Application::Voip)?;
        encoder.set_bitrate(Bitrate::Bits(settings.bitrate as i32))?;
        encoder.set_complexity(i32::from(settings.complexity))?;
        encoder.set_vbr(true)?;
        let lookahead =
            u64::try_from(encoder.get_lookahead()?).expect("libopus lookahead is non-negative");
        let granule_per_sample = u64::from(GRANULE_RATE / sample_rate);
        let pre_skip = lookahead * granule_per_sample;
        let frame_len = (sample_rate / FRAMES_PER_SECOND) as usize;

        let mut pages = PageWriter::new(serial);
        let mut staged = BytesMut::new();
        pages.add_packet(&opus_head(channels, pre_skip, sample_rate), 0, &mut staged);
        pages.flush(false, &mut staged);
        pages.add_packet(&opus_tags(settings), 0, &mut staged);
        pages.flush(false, &mut staged);

        Ok(OggOpusWriter {
            encoder,
            pages,
            channels: usize::from(channels),
            frame_len,
            frame_samples: frame_len * usize::from(channels),
            granule_per_sample,
            lookahead,
            pre_skip,
            frame: Vec::with_capacity(frame_len * usize::from(channels)),
            packet: vec![0; MAX_PACKET],
            staged,
            frames_on_page: 0,
            encoded: 0,
            samples: 0,
            bytes: 0,
        })
    }

    /// Encodes every whole frame of `pcm` (interleaved, whole sample frames), keeping the rest
    /// for the next call; hands out the pages completed so far.
    pub(crate) fn push(&mut self, pcm: &[i16], out: &mut Vec<Chunk>) -> Result<(), EncodeError> {
        self.samples += (pcm.len() / self.channels) as u64;
        let mut rest = pcm;
        if !self.frame.is_empty() {
            let take = rest.len().min(self.frame_samples - self.frame.len());
            self.frame.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.frame.len() == self.frame_samples {
                self.encode_buffered(None)?;
            }
        }
        let mut frames = rest.chunks_exact(self.frame_samples);
        for frame in &mut frames {
            self.encode(frame, None)?;
        }
        self.frame.extend_from_slice(frames.remainder());
        self.emit(out);
        Ok(())
    }

    /// Encodes the rest, zero-padded, and closes the stream with end trimming (RFC 7845 §4.5).
    pub(crate) fn finish(mut self, out: &mut Vec<Chunk>) -> Result<EncodeSummary, EncodeError> {
        let samples = self.samples;
        // Decoders drop `pre_skip` samples first, so the packets must cover the lookahead as
        // well as the input; the last packet's padding is then trimmed by its granule.
        let needed = samples + self.lookahead;
        let end_granule = self.pre_skip + samples * self.granule_per_sample;
        while self.encoded < needed {
            self.frame.resize(self.frame_samples, 0);
            let last = self.encoded + self.frame_len as u64 >= needed;
            self.encode_buffered(last.then_some(end_granule))?;
        }
        self.pages.flush(true, &mut self.staged);
        self.emit(out);
        Ok(EncodeSummary {
            samples_per_channel: samples,
            bytes: self.bytes,
        })
    }

    /// Encodes the frame buffer as one packet.
    fn encode_buffered(&mut self, end_granule: Option<u64>) -> Result<(), EncodeError> {
        let frame = std::mem::take(&mut self.frame);
        let result = self.encode(&frame, end_granule);
        self.frame = frame;
        self.frame.clear();
        result
    }

    /// Encodes one packet. Its granule is where it ends in 48 kHz samples (RFC 7845 §4), or
    /// `end_granule` for the trimmed last packet.
    fn encode(&mut self, frame: &[i16], end_granule: Option<u64>) -> Result<(), EncodeError> {
        let len = self.encoder.encode(frame, &mut self.packet)?;
        self.encoded += (frame.len() / self.channels) as u64;
        let granule = end_granule.unwrap_or(self.encoded * self.granule_per_sample);
        // A full page is closed only when the next packet arrives, so the last packet always
        // lands on the EOS page, whose granule does the end trimming.
        if self.frames_on_page == FRAMES_PER_PAGE || !self.pages.fits(len) {
            self.pages.flush(false, &mut self.staged);
            self.frames_on_page = 0;
        }
        self.pages
            .add_packet(&self.packet[..len], granule, &mut self.staged);
        self.frames_on_page += 1;
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Chunk>) {
        if !self.staged.is_empty() {
            self.bytes += self.staged.len() as u64;
            out.push(Chunk::Append(self.staged.split().freeze()));
        }
    }
}

/// Identification header (RFC 7845 §5.1): family 0 for mono, family 1 with one uncoupled
/// stream per channel for stereo.
fn opus_head(channels: u8, pre_skip: u64, sample_rate: u32) -> Vec<u8> {
    let mut head = Vec::with_capacity(23);
    head.put_slice(b"OpusHead");
    head.put_u8(1); // version
    head.put_u8(channels);
    head.put_u16_le(
        u16::try_from(pre_skip).expect("libopus lookahead is a few ms, far below 65535 at 48 kHz"),
    );
    head.put_u32_le(sample_rate); // input sample rate, informational
    head.put_i16_le(0); // output gain
    if channels == 1 {
        head.put_u8(0); // family 0: one stream, no mapping table
    } else {
        head.put_u8(1); // family 1 (§5.1.1.2)
        head.put_u8(channels); // stream count
        head.put_u8(0); // coupled stream count
        head.put_slice(&STREAM_MAPPING[..usize::from(channels)]);
    }
    head
}

/// Comment header (RFC 7845 §5.2): vendor string and one ENCODER comment.
fn opus_tags(settings: OpusSettings) -> Vec<u8> {
    let vendor = concat!("callrec ", env!("CARGO_PKG_VERSION"));
    let encoder = format!(
        "ENCODER={vendor} ({}; voip, vbr, {} bit/s, complexity {})",
        ::opus::version(),
        settings.bitrate,
        settings.complexity
    );
    let mut tags = Vec::with_capacity(24 + vendor.len() + encoder.len());
    tags.put_slice(b"OpusTags");
    tags.put_u32_le(vendor.len() as u32);
    tags.put_slice(vendor.as_bytes());
    tags.put_u32_le(1); // comment count
    tags.put_u32_le(encoder.len() as u32);
    tags.put_slice(encoder.as_bytes());
    tags
}

#[cfg(test)]
mod tests {
    use super::super::ogg::tests::{pages, parse};
    use super::*;

    const SETTINGS: OpusSettings = OpusSettings {
        bitrate: 24000,
        complexity: 5,
    };
    const BOS: u8 = 0x02;
    const EOS: u8 = 0x04;

    /// A 300 Hz tone, interleaved, `len` samples per channel.
    fn tone(rate: u32, channels: usize, len: usize) -> Vec<i16> {
        (0..len * channels)
            .map(|i| {
                let t = (i / channels) as f64 / f64::from(rate);
                (8000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16
            })
            .collect()
    }

    fn encode(rate: u32, channels: u8, pcm: &[i16], piece: usize) -> (Vec<u8>, EncodeSummary) {
        let mut w = OggOpusWriter::new(rate, channels, SETTINGS, 0x1234_5678).expect("valid");
        let mut out = Vec::new();
        for part in pcm.chunks(piece.max(1)) {
            w.push(part, &mut out).expect("push");
        }
        let summary = w.finish(&mut out).expect("finish");
        let mut file = Vec::new();
        for chunk in out {
            match chunk {
                Chunk::Append(bytes) => file.extend_from_slice(&bytes),
                Chunk::Patch { .. } => panic!("Ogg Opus never patches"),
            }
        }
        assert_eq!(summary.bytes, file.len() as u64);
        (file, summary)
    }

    #[test]
    fn id_header_matches_opusenc_for_8khz_mono() {
        // OpusHead as opusenc 0.2 wrote it for 8 kHz mono: pre-skip 312, rate 8000.
        let (file, _) = encode(8000, 1, &[], 1);
        let pages = pages(&file);
        let (flags, granule, seq, _, head) = parse(&pages[0]);
        assert_eq!((flags, granule, seq), (BOS, 0, 0));
        let expected: &[u8] = &[
            b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 1, 0x38, 0x01, 0x40, 0x1f, 0, 0, 0,
            0, 0,
        ];
        assert_eq!(head, expected);
    }

    #[test]
    fn id_header_for_16khz_stereo_and_tags_page() {
        let (file, _) = encode(16000, 2, &[], 1);
        let pages = pages(&file);
        let (_, _, _, _, head) = parse(&pages[0]);
        // Pre-skip 312: libopus lookahead at 16 kHz is 2.5 ms + 4 ms delay compensation, 104
        // samples. Family 1, two streams, none coupled, channel i from stream i.
        let expected: &[u8] = &[
            b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 2, 0x38, 0x01, 0x80, 0x3e, 0, 0, 0,
            0, 1, 2, 0, 0, 1,
        ];
        assert_eq!(head, expected);
        let (flags, granule, seq, _, tags) = parse(&pages[1]);
        assert_eq!((flags, granule, seq), (0, 0, 1));
        let vendor = concat!("callrec ", env!("CARGO_PKG_VERSION"));
        assert_eq!(&tags[..8], b"OpusTags");
        assert_eq!(tags[8..12], (vendor.len() as u32).to_le_bytes());
        assert_eq!(&tags[12..12 + vendor.len()], vendor.as_bytes());
        let rest = &tags[12 + vendor.len()..];
        assert_eq!(rest[..4], 1u32.to_le_bytes());
        let comment_len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        assert_eq!(rest.len(), 8 + comment_len);
        let comment = std::str::from_utf8(&rest[8..]).expect("UTF-8");
        assert!(
            comment.starts_with(&format!("ENCODER={vendor} (libopus ")),
            "{comment}"
        );
        assert!(
            comment.ends_with("; voip, vbr, 24000 bit/s, complexity 5)"),
            "{comment}"
        );
    }

    #[test]
    fn zero_samples_is_headers_and_one_trimmed_eos_page() {
        let (file, summary) = encode(8000, 1, &[], 1);
        assert_eq!(summary.samples_per_channel, 0);
        let pages = pages(&file);
        assert_eq!(pages.len(), 3);
        let (flags, granule, seq, lacing, packet) = parse(&pages[2]);
        // One 20 ms packet covers the 52-sample lookahead; the granule keeps none of it.
        assert_eq!((flags, granule, seq, lacing.len()), (EOS, 312, 2, 1));
        assert_eq!(
            ::opus::packet::get_nb_samples(&packet, 48000).expect("TOC"),
            960
        );
    }

    #[test]
    fn granules_count_48khz_samples_and_the_last_trims_to_the_input() {
        // 65 s at 8 kHz: 3251 packets cover 520000 samples + 52 lookahead; 130 pages of 25
        // packets (half a second each), then the EOS page with the last packet.
        let (file, summary) = encode(8000, 1, &tone(8000, 1, 520_000), 4000);
        assert_eq!(summary.samples_per_channel, 520_000);
        let pages = pages(&file);
        assert_eq!(pages.len(), 2 + 130 + 1);
        for (k, page) in pages[2..132].iter().enumerate() {
            let (flags, granule, seq, lacing, _) = parse(page);
            let k = k as u64 + 1;
            assert_eq!((flags, granule, u64::from(seq)), (0, k * 24_000, k + 1));
            assert_eq!(
                lacing.iter().filter(|&&v| v < 255).count(),
                25,
                "packets on page {k}"
            );
        }
        let (flags, granule, seq, lacing, packet) = parse(&pages[132]);
        assert_eq!((flags, granule, seq), (EOS, 312 + 65 * 48_000, 132));
        assert_eq!(lacing.iter().filter(|&&v| v < 255).count(), 1);
        assert_eq!(
            ::opus::packet::get_nb_samples(&packet, 48000).expect("TOC"),
            960
        );
    }

    #[test]
    fn odd_push_sizes_give_the_same_file_as_one_push() {
        // 1.013 s of 16 kHz stereo: not a whole number of frames.
        let pcm = tone(16000, 2, 16_208);
        let (whole, summary) = encode(16000, 2, &pcm, pcm.len());
        for piece in [2, 14, 638, 642, 10_000] {
            assert_eq!(encode(16000, 2, &pcm, piece).0, whole, "pushes of {piece}");
        }
        assert_eq!(summary.samples_per_channel, 16_208);
        let pages = pages(&whole);
        let (flags, granule, _, _, _) = parse(&pages[pages.len() - 1]);
        assert_eq!((flags, granule), (EOS, 312 + 16_208 * 3));
    }
}
