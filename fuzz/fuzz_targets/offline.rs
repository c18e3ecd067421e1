//! `offline::record_capture` on any capture, recording to WAV: the capture reader, RTP flow
//! discovery, leg choice, payload maps and the whole recorder behind them. Never panics; on
//! success each file's appended chunks add up to the size its summary reports, and that size
//! is the 44-byte header plus the samples the summary counts, which are the call's duration.
#![no_main]

use bytes::Bytes;
use callrec::encode::{Chunk, Format};
use callrec::offline::{record_capture, CaptureOptions};
use callrec::recorder::RecorderConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = RecorderConfig {
        format: Format::Wav,
        ..RecorderConfig::default()
    };
    let mut appended = [0u64; 2];
    let sink = |c: callrec::recorder::FileChunk| {
        if let Chunk::Append(bytes) = &c.chunk {
            appended[c.file] += bytes.len() as u64;
        }
        Ok(())
    };
    let Ok(replay) = record_capture(
        Bytes::copy_from_slice(data),
        config,
        &CaptureOptions::default(),
        sink,
        |_, _| {},
    ) else {
        return;
    };
    let summary = replay.summary;
    let channels = summary.encoder.channels as u64;
    for (file, f) in summary.files.iter().enumerate() {
        assert_eq!(appended[file], f.bytes);
        assert_eq!(f.bytes, 44 + 2 * channels * f.samples_per_channel);
        assert_eq!(f.duration_secs, summary.call_duration_secs);
    }
});
