//! Recording file encoders: interleaved 16-bit PCM in, file bytes out as [`Chunk`]s (Ogg Opus
//! or WAV). Sans-IO: the caller decides where bytes go (file, spool, memory); this module never
//! opens, seeks or flushes anything, and knows nothing of RTP or storage.

mod ogg;
mod opus;
pub mod repair;
mod wav;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use self::opus::OggOpusWriter;
use self::wav::WavWriter;

/// Container and codec of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Opus in Ogg (RFC 7845), `.opus`.
    #[serde(rename = "opus")]
    OggOpus,
    /// RIFF/WAVE, 16-bit PCM, `.wav`.
    #[serde(rename = "wav")]
    Wav,
}

impl Format {
    /// File name extension, also the name used in configuration and metadata.
    pub fn extension(self) -> &'static str {
        match self {
            Format::OggOpus => "opus",
            Format::Wav => "wav",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for Format {
    type Err = EncodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opus" => Ok(Format::OggOpus),
            "wav" => Ok(Format::Wav),
            _ => Err(EncodeError::UnknownFormat(s.to_owned())),
        }
    }
}

/// libopus settings for [`Format::OggOpus`]. VBR is always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpusSettings {
    /// Target bitrate for all channels together, bit/s, in [`OpusSettings::BITRATE`].
    pub bitrate: u32,
    /// libopus complexity, in [`OpusSettings::COMPLEXITY`]: CPU against quality.
    pub complexity: u8,
}

/// The defaults, chosen from `benches/encode.rs` on 8 kHz stereo speech-like audio: the
/// encoder is nearly the whole CPU budget, and complexity 1 costs about what 0 does (2.6-2.9
/// ms per second of stereo audio) while 3 costs twice that and 10 four times. 32 kbit/s gives
/// each leg's own stream 16 kbit/s: enough for wideband (G.722, Opus) voice, about 3.6 kB/s.
impl Default for OpusSettings {
    fn default() -> Self {
        OpusSettings {
            bitrate: 32_000,
            complexity: 1,
        }
    }
}

impl OpusSettings {
    /// Settings checked against what libopus accepts.
    pub fn new(bitrate: u32, complexity: u8) -> Result<Self, EncodeError> {
        let settings = OpusSettings {
            bitrate,
            complexity,
        };
        settings.validate().map(|()| settings)
    }

    /// Bitrates libopus accepts (bit/s).
    pub const BITRATE: std::ops::RangeInclusive<u32> = 6000..=510_000;
    /// Complexities libopus accepts.
    pub const COMPLEXITY: std::ops::RangeInclusive<u8> = 0..=10;

    /// Checks both settings are in range.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if !Self::BITRATE.contains(&self.bitrate) {
            return Err(EncodeError::BitrateOutOfRange(self.bitrate));
        }
        if !Self::COMPLEXITY.contains(&self.complexity) {
            return Err(EncodeError::ComplexityOutOfRange(self.complexity));
        }
        Ok(())
    }
}

/// A piece of the output file. The file is all `Append`s concatenated in order, then every
/// `Patch` written over the bytes at its offset (only `finish` returns patches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes that follow everything appended so far.
    Append(Bytes),
    /// Bytes that replace those at `offset` from the start of the file.
    Patch { offset: u64, bytes: Bytes },
}

/// What a finished file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeSummary {
    /// Input samples per channel, all of which the file plays back.
    pub samples_per_channel: u64,
    /// File length in bytes (the sum of all appends).
    pub bytes: u64,
}

/// Errors from setting up or feeding an encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The format cannot encode at this sample rate (Opus: 8, 12, 16, 24 or 48 kHz).
    #[error("{format} cannot encode at {sample_rate} Hz")]
    UnsupportedSampleRate { format: Format, sample_rate: u32 },
    /// Only mono and stereo are supported.
    #[error("{0} channels: only mono and stereo are supported")]
    UnsupportedChannels(u8),
    /// Opus bitrate outside [`OpusSettings::BITRATE`].
    #[error("opus bitrate {0} bit/s outside 6000..=510000")]
    BitrateOutOfRange(u32),
    /// Opus complexity outside [`OpusSettings::COMPLEXITY`].
    #[error("opus complexity {0} outside 0..=10")]
    ComplexityOutOfRange(u8),
    /// A push whose length is not a whole number of sample frames (one sample per channel).
    #[error("{samples} samples is not a whole number of {channels}-channel frames")]
    PartialFrame { samples: usize, channels: u8 },
    /// The WAV data chunk would outgrow the 32-bit sizes of its header (about 4 GiB).
    #[error("WAV data of {data_bytes} bytes would not fit the header's 32-bit sizes")]
    WavTooLarge { data_bytes: u64 },
    /// libopus refused a setting or a frame.
    #[error("libopus: {0}")]
    Opus(#[from] ::opus::Error),
    /// Not a format name: expected "opus" or "wav".
    #[error("unknown recording format {0:?}: expected \"opus\" or \"wav\"")]
    UnknownFormat(String),
}

/// Encodes one recording file in the chosen [`Format`].
pub struct MediaEncoder {
    writer: Writer,
    channels: u8,
}

enum Writer {
    OggOpus(Box<OggOpusWriter>),
    Wav(WavWriter),
}

impl MediaEncoder {
    /// An encoder for `channels` (1 or 2) at `sample_rate`. `opus` is checked and used only for
    /// [`Format::OggOpus`]; `stream_serial` is its Ogg stream serial number.
    pub fn new(
        format: Format,
        sample_rate: u32,
        channels: u8,
        opus: OpusSettings,
        stream_serial: u32,
    ) -> Result<Self, EncodeError> {
        if !(1..=2).contains(&channels) {
            return Err(EncodeError::UnsupportedChannels(channels));
        }
        let writer = match format {
            Format::OggOpus => Writer::OggOpus(Box::new(OggOpusWriter::new(
                sample_rate,
                channels,
                opus,
                stream_serial,
            )?)),
            Format::Wav => Writer::Wav(WavWriter::new(sample_rate, channels)?),
        };
        Ok(MediaEncoder { writer, channels })
    }

    /// Encodes interleaved samples (any number of whole sample frames) and appends the file
    /// bytes that are complete to `out`; may append nothing until a page or buffer fills. A
    /// refused push leaves the file unchanged and finishable, except a libopus failure
    /// ([`EncodeError::Opus`]), after which the file is only good for dropping.
    pub fn push(&mut self, pcm: &[i16], out: &mut Vec<Chunk>) -> Result<(), EncodeError> {
        if !pcm.len().is_multiple_of(usize::from(self.channels)) {
            return Err(EncodeError::PartialFrame {
                samples: pcm.len(),
                channels: self.channels,
            });
        }
        match &mut self.writer {
            Writer::OggOpus(w) => w.push(pcm, out),
            Writer::Wav(w) => w.push(pcm, out),
        }
    }

    /// Completes the file: appends the rest, then any patches.
    pub fn finish(self, out: &mut Vec<Chunk>) -> Result<EncodeSummary, EncodeError> {
        match self.writer {
            Writer::OggOpus(w) => w.finish(out),
            Writer::Wav(w) => Ok(w.finish(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: OpusSettings = OpusSettings {
        bitrate: 24000,
        complexity: 5,
    };

    #[test]
    fn format_names_round_trip() {
        for (format, name) in [(Format::OggOpus, "opus"), (Format::Wav, "wav")] {
            assert_eq!(format.extension(), name);
            assert_eq!(format.to_string(), name);
            assert_eq!(name.parse::<Format>().expect("known"), format);
            assert_eq!(
                serde_json::to_string(&format).expect("serializes"),
                format!("\"{name}\"")
            );
        }
        assert!(
            matches!("ogg".parse::<Format>(), Err(EncodeError::UnknownFormat(s)) if s == "ogg")
        );
        assert!("WAV".parse::<Format>().is_err());
    }

    #[test]
    fn opus_settings_bounds() {
        let cases = [
            (6000, 0, true),
            (510_000, 10, true),
            (5999, 5, false),
            (510_001, 5, false),
            (24000, 11, false),
        ];
        for (bitrate, complexity, ok) in cases {
            let settings = OpusSettings {
                bitrate,
                complexity,
            };
            assert_eq!(settings.validate().is_ok(), ok, "{settings:?}");
            let made = MediaEncoder::new(Format::OggOpus, 8000, 1, settings, 1);
            assert_eq!(made.is_ok(), ok, "{settings:?}");
        }
        // WAV ignores the Opus settings.
        let bad = OpusSettings {
            bitrate: 0,
            complexity: 99,
        };
        assert!(MediaEncoder::new(Format::Wav, 8000, 1, bad, 1).is_ok());
    }

    #[test]
    fn rejects_unsupported_shapes() {
        for format in [Format::OggOpus, Format::Wav] {
            for channels in [0, 3] {
                let made = MediaEncoder::new(format, 8000, channels, SETTINGS, 1);
                assert!(matches!(made, Err(EncodeError::UnsupportedChannels(c)) if c == channels));
            }
            let mut enc = MediaEncoder::new(format, 8000, 2, SETTINGS, 1).expect("valid");
            let mut out = Vec::new();
            let err = enc.push(&[0; 3], &mut out).expect_err("partial frame");
            assert!(matches!(
                err,
                EncodeError::PartialFrame {
                    samples: 3,
                    channels: 2
                }
            ));
            enc.push(&[0; 4], &mut out).expect("whole frames");
        }
        for rate in [0, 11025, 44100] {
            let made = MediaEncoder::new(Format::OggOpus, rate, 1, SETTINGS, 1);
            assert!(
                matches!(made, Err(EncodeError::UnsupportedSampleRate { sample_rate, .. }) if sample_rate == rate)
            );
        }
    }
}
