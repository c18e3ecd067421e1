//! Shared helpers for callrec's integration tests: record a capture into memory, read WAV
//! back with an independent reader (hound), and measure tones (Goertzel).
#![allow(dead_code)]

use bytes::Bytes;
use callrec::encode::Chunk;
use callrec::offline::{record_capture, CaptureOptions, Replay};
use callrec::recorder::RecorderConfig;
use std::io::Cursor;
pub mod admin;
pub mod cli;
pub mod in_process;
pub mod lifecycle;
pub mod postgres;
pub mod recordings;
pub mod s3;
pub mod scenario_db;
pub mod serve;
pub mod sqlite;
pub mod tls;
pub mod webdriver;

/// Records `capture` and returns each output file's bytes and the replay.
pub fn record(
    capture: &[u8],
    config: RecorderConfig,
    options: &CaptureOptions,
) -> (Vec<Vec<u8>>, Replay) {
    let mut files: Vec<Vec<u8>> = vec![Vec::new(), Vec::new()];
    let replay = record_capture(
        Bytes::copy_from_slice(capture),
        config,
        options,
        |c| {
            apply(&mut files[c.file], c.chunk);
            Ok(())
        },
        |_, _| {},
    )
    .expect("the capture records");
    let used = replay.summary.files.len();
    files.truncate(used);
    (files, replay)
}

/// Writes one chunk of an encoder's output into the file it builds: appended, or written over
/// bytes already there (a header's lengths, once they are known).
pub fn apply(file: &mut Vec<u8>, chunk: Chunk) {
    match chunk {
        Chunk::Append(b) => file.extend_from_slice(&b),
        Chunk::Patch { offset, bytes } => {
            let at = offset as usize;
            file[at..at + bytes.len()].copy_from_slice(&bytes);
        }
    }
}

/// A WAV file's channels, de-interleaved, read by hound.
pub fn wav_channels(bytes: &[u8]) -> (u32, Vec<Vec<i16>>) {
    let reader = hound::WavReader::new(Cursor::new(bytes)).expect("hound reads our WAV");
    let spec = reader.spec();
    assert_eq!(spec.bits_per_sample, 16);
    let channels = usize::from(spec.channels);
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples");
    let mut out = vec![Vec::new(); channels];
    for frame in samples.chunks(channels) {
        for (c, s) in frame.iter().enumerate() {
            out[c].push(*s);
        }
    }
    (spec.sample_rate, out)
}

/// Power of `freq` in `samples` relative to a full-scale sine (1.0 = full scale).
pub fn tone_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    4.0 * power / (n * n)
}

/// Mean power of `freq` over 20 ms windows: robust to the small phase steps that drift
/// correction and concealment make, which a single long window would average away.
pub fn band_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let win = rate as usize / 50;
    let windows: Vec<f64> = samples
        .chunks_exact(win)
        .map(|w| tone_power(w, rate, freq))
        .collect();
    windows.iter().sum::<f64>() / windows.len().max(1) as f64
}

/// Start (in samples) of the first 10 ms window from `from` on where `freq` is present.
pub fn onset(samples: &[i16], rate: u32, freq: f64, from: usize) -> Option<usize> {
    let win = rate as usize / 100;
    (from..samples.len().saturating_sub(win))
        .step_by(win / 4)
        .find(|&i| tone_power(&samples[i..i + win], rate, freq) > 0.01)
}

/// Peak absolute sample in a range.
pub fn peak(samples: &[i16]) -> u16 {
    samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0)
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A directory of its own under the system temp dir, unique per process, test and call;
/// removed on drop unless the test is failing (so what it held can be looked at).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("callrec-{}-{test}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `program` and returns its stdout and stderr together; it must succeed.
pub fn run(program: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{program} failed: {text}");
    text
}

/// `opusinfo`'s "Playback length: 1m:05.013s" (pre-skip and end trimming applied), in seconds.
pub fn playback_length(info: &str) -> f64 {
    let length = info
        .lines()
        .find_map(|line| line.trim().strip_prefix("Playback length: "))
        .unwrap_or_else(|| panic!("no playback length: {info}"));
    let (minutes, seconds) = length
        .trim_end_matches('s')
        .split_once("m:")
        .expect("MMm:SS.sss");
    minutes.parse::<f64>().expect("minutes") * 60.0 + seconds.parse::<f64>().expect("seconds")
}

/// 20 ms of tone at `freq` in G.711 `codec` (a whole number of cycles for multiples of 50 Hz,
/// so frames repeat seamlessly): what the live tests send as RTP payload.
pub fn g711_frame(codec: callrec::media::codec::Codec, freq: f64) -> Vec<u8> {
    let pcm: Vec<i16> = (0..160)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * freq * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect();
    let mut out = Vec::new();
    callrec::media::codec::Encoder::new(codec, 8000)
        .and_then(|mut e| e.encode(&pcm, &mut out))
        .expect("G.711 encodes");
    out
}

/// 20 ms of PCMU tone at `freq` ([`g711_frame`]).
pub fn pcmu_frame(freq: f64) -> Vec<u8> {
    g711_frame(callrec::media::codec::Codec::Pcmu, freq)
}
