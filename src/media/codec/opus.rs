//! Opus (RFC 6716) through libopus: mono decoding with libopus's own loss concealment and
//! in-band FEC, and the encoder the fixture generator uses.
//!
//! A stereo Opus leg is decoded to mono: libopus downmixes when the decoder has one channel.

use super::CodecError;

/// libopus conceals and recovers in whole multiples of 2.5 ms.
const QUANTUM_PER_SECOND: u32 = 400;
/// The longest Opus packet lasts 120 ms (RFC 6716 §3.2.5).
const MAX_PACKET_MS: u32 = 120;
/// Encoder frames last 20 ms.
const FRAMES_PER_SECOND: u32 = 50;
/// Encoder bitrate: high enough that libopus adds in-band FEC at every bandwidth.
const BITRATE: i32 = 32_000;
/// Expected loss the encoder is told about; libopus only adds FEC when this is above zero.
const EXPECTED_LOSS_PERCENT: i32 = 10;
/// Largest encoded frame libopus writes (RFC 6716 §3.4, R2 for one frame: 1275 bytes).
const MAX_FRAME_BYTES: usize = 1275;

pub(super) const SAMPLE_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

impl From<opus::Error> for CodecError {
    fn from(error: opus::Error) -> CodecError {
        CodecError::Opus {
            function: error.function(),
            description: error.description(),
        }
    }
}

/// libopus decoder for one leg.
pub(super) struct Decoder {
    inner: opus::Decoder,
    /// 2.5 ms at the output rate.
    quantum: usize,
    /// 120 ms at the output rate.
    max_packet: usize,
}

impl Decoder {
    /// `sample_rate` is one of [`SAMPLE_RATES`] (checked by the caller).
    pub(super) fn new(sample_rate: u32) -> Result<Decoder, CodecError> {
        Ok(Decoder {
            inner: opus::Decoder::new(sample_rate, opus::Channels::Mono)?,
            quantum: (sample_rate / QUANTUM_PER_SECOND) as usize,
            max_packet: (sample_rate / 1000 * MAX_PACKET_MS) as usize,
        })
    }

    /// Decodes one packet; on error nothing is appended.
    pub(super) fn decode(
        &mut self,
        payload: &[u8],
        out: &mut Vec<i16>,
    ) -> Result<usize, CodecError> {
        // libopus reads an empty packet as "lost" (RFC 6716 §3.4 R1: packets have ≥ 1 byte).
        if payload.is_empty() {
            return Err(CodecError::EmptyOpusPacket);
        }
        let start = out.len();
        out.resize(start + self.max_packet, 0);
        match self.inner.decode(payload, &mut out[start..], false) {
            Ok(samples) => {
                out.truncate(start + samples);
                Ok(samples)
            }
            Err(error) => {
                out.truncate(start);
                Err(error.into())
            }
        }
    }

    /// libopus packet loss concealment, exactly `samples`. libopus works in 2.5 ms steps, so a
    /// count that is not a multiple is rounded up and the excess dropped.
    pub(super) fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        let mut left = samples;
        while left > 0 {
            let chunk = left.min(self.max_packet);
            let start = out.len();
            out.resize(start + chunk.next_multiple_of(self.quantum), 0);
            if self.inner.decode(&[], &mut out[start..], false).is_err() {
                // Cannot happen for a whole number of quanta; silence keeps the count exact.
                out[start..].fill(0);
            }
            out.truncate(start + chunk);
            left -= chunk;
        }
    }

    /// The packet before `next_payload` was lost: rebuild its last `samples` from the in-band
    /// FEC data in `next_payload` (libopus conceals what FEC does not cover). Counts that are
    /// not whole 2.5 ms steps are concealed instead. On error nothing is appended.
    pub(super) fn recover(
        &mut self,
        next_payload: &[u8],
        samples: usize,
        out: &mut Vec<i16>,
    ) -> Result<usize, CodecError> {
        if next_payload.is_empty() || !samples.is_multiple_of(self.quantum) {
            self.conceal(samples, out);
            return Ok(samples);
        }
        let start = out.len();
        out.resize(start + samples, 0);
        match self.inner.decode(next_payload, &mut out[start..], true) {
            Ok(decoded) => {
                // libopus returns the requested size; keep the count exact regardless.
                out.truncate(start + decoded.min(samples));
                out.resize(start + samples, 0);
                Ok(samples)
            }
            Err(error) => {
                out.truncate(start);
                Err(error.into())
            }
        }
    }
}

/// libopus encoder: VoIP application, mono, in-band FEC on, 20 ms frames.
pub(super) struct Encoder {
    inner: opus::Encoder,
    frame: usize,
}

impl Encoder {
    /// `sample_rate` is one of [`SAMPLE_RATES`] (checked by the caller).
    pub(super) fn new(sample_rate: u32) -> Result<Encoder, CodecError> {
        let mut inner =
            opus::Encoder::new(sample_rate, opus::Channels::Mono, opus::Application::Voip)?;
        inner.set_bitrate(opus::Bitrate::Bits(BITRATE))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(EXPECTED_LOSS_PERCENT)?;
        Ok(Encoder {
            inner,
            frame: (sample_rate / FRAMES_PER_SECOND) as usize,
        })
    }

    /// Samples in one 20 ms frame.
    pub(super) fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Encodes exactly one frame (checked by the caller); on error nothing is appended.
    pub(super) fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        let start = out.len();
        out.resize(start + MAX_FRAME_BYTES, 0);
        match self.inner.encode(pcm, &mut out[start..]) {
            Ok(bytes) => {
                out.truncate(start + bytes);
                Ok(bytes)
            }
            Err(error) => {
                out.truncate(start);
                Err(error.into())
            }
        }
    }
}
