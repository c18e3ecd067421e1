//! Streaming RIFF/WAVE writer, 16-bit PCM: owns the 44-byte header and the little-endian sample
//! bytes. It never seeks: the header goes out first with placeholder sizes and `finish` returns
//! the two size fields as [`Chunk::Patch`]es. That is why this is not `hound`: hound needs
//! `Seek` on its sink, and the core stays sans-IO (the caller may be writing to a spool or a
//! socket).

use bytes::{BufMut, Bytes, BytesMut};

use super::{Chunk, EncodeError, EncodeSummary};

/// Length of the canonical PCM header: RIFF, `fmt ` (16 bytes of format) and `data` headers.
pub(crate) const HEADER_LEN: u64 = 44;
/// Offset of the RIFF chunk size (file length - 8).
pub(crate) const RIFF_SIZE_OFFSET: u64 = 4;
/// Offset of the `data` chunk size.
pub(crate) const DATA_SIZE_OFFSET: u64 = 40;
/// Largest data chunk whose RIFF size (`36 + data`) still fits the header's u32: just under
/// 4 GiB. Beyond it the header would be corrupt, so pushes that would cross it are refused.
pub(crate) const MAX_DATA_BYTES: u64 = u32::MAX as u64 - (HEADER_LEN - 8);
/// Bytes per sample (16-bit PCM).
const SAMPLE_BYTES: u64 = 2;

pub(crate) struct WavWriter {
    channels: u8,
    /// Header (until first emitted) and samples not yet handed out.
    buf: BytesMut,
    header_emitted: bool,
    /// Bytes in the `data` chunk so far, handed out or buffered.
    data_bytes: u64,
    /// Hand out a chunk once this many bytes are buffered: half a second of audio, which
    /// bounds what a crash loses (as Ogg Opus pages do) and keeps the chunk count low.
    flush_bytes: usize,
}

impl WavWriter {
    pub(crate) fn new(sample_rate: u32, channels: u8) -> Result<Self, EncodeError> {
        let byte_rate = u64::from(sample_rate) * u64::from(channels) * SAMPLE_BYTES;
        if sample_rate == 0 || u32::try_from(byte_rate).is_err() {
            return Err(EncodeError::UnsupportedSampleRate {
                format: super::Format::Wav,
                sample_rate,
            });
        }
        let flush_bytes = byte_rate as usize / 2;
        let mut buf = BytesMut::with_capacity(flush_bytes + HEADER_LEN as usize);
        write_header(&mut buf, sample_rate, channels);
        Ok(WavWriter {
            channels,
            buf,
            header_emitted: false,
            data_bytes: 0,
            flush_bytes,
        })
    }

    /// Appends interleaved samples. Refuses, leaving the file unchanged and still finishable,
    /// a push that would take the data chunk past [`MAX_DATA_BYTES`].
    pub(crate) fn push(&mut self, pcm: &[i16], out: &mut Vec<Chunk>) -> Result<(), EncodeError> {
        let add = pcm.len() as u64 * SAMPLE_BYTES;
        let data_bytes = self.data_bytes + add;
        if data_bytes > MAX_DATA_BYTES {
            return Err(EncodeError::WavTooLarge { data_bytes });
        }
        self.data_bytes = data_bytes;
        let start = self.buf.len();
        self.buf.resize(start + pcm.len() * 2, 0);
        // A plain zip over fixed-size chunks: the compiler turns it into vector stores, with no
        // per-sample capacity check.
        for (dst, sample) in self.buf[start..].chunks_exact_mut(2).zip(pcm) {
            dst.copy_from_slice(&sample.to_le_bytes());
        }
        if self.buf.len() >= self.flush_bytes {
            self.emit(out);
        }
        Ok(())
    }

    /// Hands out what is buffered, then the RIFF and data sizes as patches.
    pub(crate) fn finish(mut self, out: &mut Vec<Chunk>) -> EncodeSummary {
        self.emit(out);
        let riff_size = u32::try_from(self.data_bytes + HEADER_LEN - 8)
            .expect("push bounds data to MAX_DATA_BYTES");
        let data_size = u32::try_from(self.data_bytes).expect("push bounds data to MAX_DATA_BYTES");
        out.push(Chunk::Patch {
            offset: RIFF_SIZE_OFFSET,
            bytes: Bytes::copy_from_slice(&riff_size.to_le_bytes()),
        });
        out.push(Chunk::Patch {
            offset: DATA_SIZE_OFFSET,
            bytes: Bytes::copy_from_slice(&data_size.to_le_bytes()),
        });
        let frame_bytes = u64::from(self.channels) * SAMPLE_BYTES;
        EncodeSummary {
            samples_per_channel: self.data_bytes / frame_bytes,
            bytes: HEADER_LEN + self.data_bytes,
        }
    }

    fn emit(&mut self, out: &mut Vec<Chunk>) {
        if !self.buf.is_empty() || !self.header_emitted {
            self.header_emitted = true;
            out.push(Chunk::Append(self.buf.split().freeze()));
            self.buf.reserve(self.flush_bytes);
        }
    }
}

/// The canonical 44-byte PCM WAVE header, sizes zero until patched.
fn write_header(buf: &mut BytesMut, sample_rate: u32, channels: u8) {
    let block_align = u16::from(channels) * SAMPLE_BYTES as u16;
    buf.put_slice(b"RIFF");
    buf.put_u32_le(0); // RIFF size, patched by finish
    buf.put_slice(b"WAVE");
    buf.put_slice(b"fmt ");
    buf.put_u32_le(16); // fmt chunk size
    buf.put_u16_le(1); // WAVE_FORMAT_PCM
    buf.put_u16_le(u16::from(channels));
    buf.put_u32_le(sample_rate);
    buf.put_u32_le(sample_rate * u32::from(block_align)); // byte rate, checked by new
    buf.put_u16_le(block_align);
    buf.put_u16_le(16); // bits per sample
    buf.put_slice(b"data");
    buf.put_u32_le(0); // data size, patched by finish
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appended(chunks: &[Chunk]) -> Vec<u8> {
        let mut file = Vec::new();
        for chunk in chunks {
            if let Chunk::Append(bytes) = chunk {
                file.extend_from_slice(bytes);
            }
        }
        file
    }

    #[test]
    fn header_samples_and_patches_are_exact() {
        let mut w = WavWriter::new(8000, 2).expect("valid");
        let mut out = Vec::new();
        w.push(&[1, -2, 0x1234, -32768], &mut out).expect("push");
        assert!(out.is_empty(), "under a second is buffered");
        let summary = w.finish(&mut out);
        assert_eq!(
            summary,
            EncodeSummary {
                samples_per_channel: 2,
                bytes: 52
            }
        );
        let mut expected = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        expected.extend_from_slice(&[16, 0, 0, 0, 1, 0, 2, 0]); // fmt size, PCM, 2 channels
        expected.extend_from_slice(&8000u32.to_le_bytes());
        expected.extend_from_slice(&32000u32.to_le_bytes()); // byte rate
        expected.extend_from_slice(&[4, 0, 16, 0]); // block align, bits
        expected.extend_from_slice(b"data\0\0\0\0");
        expected.extend_from_slice(&[1, 0, 0xfe, 0xff, 0x34, 0x12, 0x00, 0x80]);
        assert_eq!(appended(&out), expected);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[1],
            Chunk::Patch {
                offset: 4,
                bytes: Bytes::from_static(&[44, 0, 0, 0])
            }
        );
        assert_eq!(
            out[2],
            Chunk::Patch {
                offset: 40,
                bytes: Bytes::from_static(&[8, 0, 0, 0])
            }
        );
    }

    #[test]
    fn emits_a_chunk_per_half_second_of_audio() {
        // 8 kHz mono: a chunk once 8000 bytes are buffered, the header counting in the first.
        let mut w = WavWriter::new(8000, 1).expect("valid");
        let mut out = Vec::new();
        w.push(&[7; 3977], &mut out).expect("push");
        assert!(out.is_empty());
        w.push(&[7; 1], &mut out).expect("push");
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Chunk::Append(b) if b.len() == 8000));
        w.push(&[7; 3999], &mut out).expect("push");
        assert_eq!(out.len(), 1);
        w.push(&[7; 3], &mut out).expect("push");
        assert!(matches!(&out[1], Chunk::Append(b) if b.len() == 8004));
        w.push(&[7; 5], &mut out).expect("push");
        assert_eq!(w.finish(&mut out).bytes, 44 + 2 * 7985);
        assert!(matches!(&out[2], Chunk::Append(b) if b.len() == 10));
        assert_eq!(out.len(), 5);
        let file = appended(&out);
        assert_eq!(file.len(), 44 + 2 * 7985);
        assert!(file[44..].chunks(2).all(|s| s == [7, 0]));
    }

    #[test]
    fn empty_recording_is_a_header_with_zero_sizes() {
        let mut out = Vec::new();
        let summary = WavWriter::new(16000, 1).expect("valid").finish(&mut out);
        assert_eq!(
            summary,
            EncodeSummary {
                samples_per_channel: 0,
                bytes: 44
            }
        );
        assert_eq!(appended(&out).len(), 44);
        assert_eq!(
            out[1],
            Chunk::Patch {
                offset: 4,
                bytes: Bytes::from_static(&[36, 0, 0, 0])
            }
        );
        assert_eq!(
            out[2],
            Chunk::Patch {
                offset: 40,
                bytes: Bytes::from_static(&[0, 0, 0, 0])
            }
        );
    }

    #[test]
    fn refuses_data_past_the_u32_header_limit_and_stays_finishable() {
        let mut w = WavWriter::new(8000, 1).expect("valid");
        let mut out = Vec::new();
        // Pretend all but 2 samples' worth has been written.
        w.data_bytes = MAX_DATA_BYTES - 5;
        w.push(&[1, 2], &mut out).expect("4 bytes fit");
        let err = w.push(&[3], &mut out).expect_err("2 more do not");
        assert!(
            matches!(err, EncodeError::WavTooLarge { data_bytes } if data_bytes == MAX_DATA_BYTES + 1)
        );
        w.finish(&mut out);
        let riff = (MAX_DATA_BYTES - 1 + 36) as u32;
        assert_eq!(riff, u32::MAX - 1);
        assert_eq!(
            out[out.len() - 2],
            Chunk::Patch {
                offset: 4,
                bytes: Bytes::copy_from_slice(&riff.to_le_bytes())
            }
        );
    }

    #[test]
    fn rejects_zero_rate_and_byte_rates_past_u32() {
        assert!(WavWriter::new(0, 1).is_err());
        assert!(WavWriter::new(u32::MAX / 2, 2).is_err());
        assert!(WavWriter::new(48000, 2).is_ok());
    }
}
