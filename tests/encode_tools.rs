//! The encoders' files, checked by independent tools: `opusinfo` and `opusdec` (opus-tools),
//! `ffprobe` (FFmpeg) and `hound`. Each test writes its files to its own directory under the
//! system temp dir and removes it when it passes.

mod common;

use common::{playback_length, run};
use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use callrec::encode::{Chunk, EncodeSummary, Format, MediaEncoder, OpusSettings};

const SETTINGS: OpusSettings = OpusSettings {
    bitrate: 24000,
    complexity: 5,
};

/// A directory of its own for one test, removed on drop unless the test failed.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("callrec-encode-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
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

/// Encodes `pcm` in pushes of `piece` samples and writes the file as the chunks describe:
/// appends in order, then patches.
fn encode_to(
    path: &Path,
    format: Format,
    rate: u32,
    channels: u8,
    settings: OpusSettings,
    pcm: &[i16],
) -> EncodeSummary {
    let mut enc =
        MediaEncoder::new(format, rate, channels, settings, 0x0ca1_1ec0).expect("valid encoder");
    let mut chunks = Vec::new();
    // Pushes of 7 ms: not a multiple of the 20 ms frame.
    let piece = (rate as usize * 7 / 1000) * usize::from(channels);
    for part in pcm.chunks(piece) {
        enc.push(part, &mut chunks).expect("push");
    }
    let summary = enc.finish(&mut chunks).expect("finish");
    let mut file = Vec::new();
    for chunk in &chunks {
        if let Chunk::Append(bytes) = chunk {
            file.extend_from_slice(bytes);
        }
    }
    for chunk in &chunks {
        if let Chunk::Patch { offset, bytes } = chunk {
            let at = *offset as usize;
            file[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }
    assert_eq!(summary.bytes, file.len() as u64);
    std::fs::write(path, &file).expect("write file");
    summary
}

/// `len` samples per channel: a tone per channel (300 Hz, 700 Hz) with a little noise.
fn signal(rate: u32, channels: u8, len: usize) -> Vec<i16> {
    let mut noise = 0x2545_f491u32;
    let mut pcm = Vec::with_capacity(len * usize::from(channels));
    for i in 0..len {
        let t = i as f64 / f64::from(rate);
        for ch in 0..channels {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let freq = if ch == 0 { 300.0 } else { 700.0 };
            let tone = 9000.0 * (2.0 * PI * freq * t).sin();
            pcm.push((tone + f64::from(noise as i16) / 64.0) as i16);
        }
    }
    pcm
}

/// What `ffprobe` reports: container duration (None for "N/A"), channels, sample rate.
struct Probe {
    duration: Option<f64>,
    channels: u8,
    sample_rate: u32,
}

fn ffprobe(path: &Path) -> Probe {
    let out = run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "format=duration:stream=sample_rate,channels".as_ref(),
            "-of".as_ref(),
            "default=noprint_wrappers=1".as_ref(),
            path.as_os_str(),
        ],
    );
    let field = |key: &str| -> &str {
        out.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("ffprobe {key} of {}: {out}", path.display()))
    };
    Probe {
        duration: field("duration").parse().ok(),
        channels: field("channels").parse().expect("channels"),
        sample_rate: field("sample_rate").parse().expect("sample_rate"),
    }
}

/// Interleaved samples FFmpeg's own Opus decoder outputs at 48 kHz, pre-skip and end trimming
/// applied.
fn ffmpeg_decoded_samples(path: &Path) -> usize {
    let out = Command::new("ffmpeg")
        .args([
            "-v".as_ref(),
            "error".as_ref(),
            "-i".as_ref(),
            path.as_os_str(),
        ])
        .args(["-f", "s16le", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len() / 2
}

/// Decodes with `opusdec` at `rate` to a WAV and reads it back.
fn opusdec(opus: &Path, wav: &Path, rate: u32) -> (hound::WavSpec, Vec<i16>) {
    let rate = rate.to_string();
    run(
        "opusdec",
        &[
            "--quiet".as_ref(),
            "--rate".as_ref(),
            rate.as_ref(),
            opus.as_os_str(),
            wav.as_os_str(),
        ],
    );
    let mut reader = hound::WavReader::open(wav).expect("opusdec wrote a WAV");
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .expect("16-bit samples");
    (reader.spec(), samples)
}

/// Lengths in milliseconds: whole frames, not whole frames, empty, and many pages.
const LENGTHS_MS: [u64; 4] = [1000, 1013, 0, 65_000];
const SHAPES: [(u32, u8); 4] = [(8000, 1), (8000, 2), (16000, 1), (16000, 2)];

#[test]
fn opus_files_pass_opusinfo_ffprobe_and_opusdec_exactly() {
    let dir = TempDir::new("opus");
    for (rate, channels) in SHAPES {
        for ms in LENGTHS_MS {
            let case = format!("{rate} Hz, {channels} ch, {ms} ms");
            let len = (u64::from(rate) * ms / 1000) as usize;
            let seconds = ms as f64 / 1000.0;
            let opus = dir.path(&format!("{rate}-{channels}-{ms}.opus"));
            let summary = encode_to(
                &opus,
                Format::OggOpus,
                rate,
                channels,
                SETTINGS,
                &signal(rate, channels, len),
            );
            assert_eq!(summary.samples_per_channel, len as u64, "{case}");

            let info = run("opusinfo", &[opus.as_os_str()]);
            assert!(
                !info.contains("WARNING") && !info.contains("ERROR"),
                "{case}: {info}"
            );
            assert!(
                info.contains(&format!("Channels: {channels}\n")),
                "{case}: {info}"
            );
            assert!(
                info.contains(&format!("Original sample rate: {rate} Hz\n")),
                "{case}: {info}"
            );
            assert!(info.contains("Pre-skip: 312\n"), "{case}: {info}");
            let length = playback_length(&info);
            assert!(
                (length - seconds).abs() < 0.001,
                "{case}: opusinfo says {length} s"
            );

            // ffprobe 5.1's container duration is the last granule position over 48 kHz, the
            // 312 pre-skip samples included; it says 1.0065 s for opusenc's own 1 s file too.
            let probe = ffprobe(&opus);
            let duration = probe.duration.expect("a duration");
            let expected = (312.0 + seconds * 48000.0) / 48000.0;
            assert!(
                (duration - expected).abs() < 0.001,
                "{case}: ffprobe says {duration} s"
            );
            assert_eq!(probe.channels, channels, "{case}");
            // FFmpeg's native decoder does not trim a stream whose only audio packet is SILK: it
            // decodes 648 samples of an empty recording, where opusdec and opusinfo see none.
            if len > 0 {
                let at_48k = len * (48000 / rate as usize) * usize::from(channels);
                assert_eq!(
                    ffmpeg_decoded_samples(&opus),
                    at_48k,
                    "{case}: FFmpeg decoded sample count"
                );
            }

            let (spec, decoded) = opusdec(&opus, &dir.path("decoded.wav"), rate);
            assert_eq!(
                (spec.sample_rate, spec.channels),
                (rate, u16::from(channels)),
                "{case}"
            );
            assert_eq!(
                decoded.len(),
                len * usize::from(channels),
                "{case}: decoded sample count"
            );
        }
    }
}

/// Power of `freq` in `x` (Goertzel).
fn goertzel(x: &[f64], rate: u32, freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * PI * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[test]
fn stereo_channels_stay_apart_even_at_the_lowest_bitrate() {
    // Two legs of a call: 440 Hz on the left, 1000 Hz on the right. Coupled stereo coding would
    // blend them at 16 kbit/s; each channel must be dominated by its own tone by 20 dB.
    let dir = TempDir::new("stereo");
    for rate in [8000, 16000] {
        let len = rate as usize * 2;
        let pcm: Vec<i16> = (0..len)
            .flat_map(|i| {
                let t = i as f64 / f64::from(rate);
                [
                    (10000.0 * (2.0 * PI * 440.0 * t).sin()) as i16,
                    (10000.0 * (2.0 * PI * 1000.0 * t).sin()) as i16,
                ]
            })
            .collect();
        let opus = dir.path(&format!("{rate}.opus"));
        let settings = OpusSettings {
            bitrate: 16000,
            complexity: 0,
        };
        encode_to(&opus, Format::OggOpus, rate, 2, settings, &pcm);
        let (_, decoded) = opusdec(&opus, &dir.path("decoded.wav"), rate);
        assert_eq!(decoded.len(), pcm.len());
        // Skip the first 100 ms while the encoder settles.
        let skip = rate as usize / 10;
        let channel = |c: usize| -> Vec<f64> {
            decoded
                .iter()
                .skip(c)
                .step_by(2)
                .skip(skip)
                .map(|&s| f64::from(s))
                .collect()
        };
        let (left, right) = (channel(0), channel(1));
        let (l440, l1000) = (goertzel(&left, rate, 440.0), goertzel(&left, rate, 1000.0));
        let (r440, r1000) = (
            goertzel(&right, rate, 440.0),
            goertzel(&right, rate, 1000.0),
        );
        assert!(
            l440 > 100.0 * l1000,
            "{rate} Hz left: 440 Hz {l440:e}, 1000 Hz {l1000:e}"
        );
        assert!(
            r1000 > 100.0 * r440,
            "{rate} Hz right: 440 Hz {r440:e}, 1000 Hz {r1000:e}"
        );
    }
}

#[test]
fn wav_files_read_back_bit_exact_with_hound_and_ffprobe() {
    let dir = TempDir::new("wav");
    for (rate, channels) in SHAPES {
        for ms in LENGTHS_MS {
            let case = format!("{rate} Hz, {channels} ch, {ms} ms");
            let len = (u64::from(rate) * ms / 1000) as usize;
            let mut pcm = signal(rate, channels, len);
            if let Some(first) = pcm.first_mut() {
                *first = i16::MIN;
            }
            if let Some(last) = pcm.last_mut() {
                *last = i16::MAX;
            }
            let wav = dir.path(&format!("{rate}-{channels}-{ms}.wav"));
            let summary = encode_to(&wav, Format::Wav, rate, channels, SETTINGS, &pcm);
            assert_eq!(
                summary,
                EncodeSummary {
                    samples_per_channel: len as u64,
                    bytes: 44 + 2 * pcm.len() as u64
                },
                "{case}"
            );

            let mut reader = hound::WavReader::open(&wav).expect("hound opens it");
            let spec = reader.spec();
            assert_eq!(
                (spec.sample_rate, spec.channels, spec.bits_per_sample),
                (rate, u16::from(channels), 16),
                "{case}"
            );
            assert_eq!(spec.sample_format, hound::SampleFormat::Int, "{case}");
            let read = reader
                .samples::<i16>()
                .collect::<Result<Vec<_>, _>>()
                .expect("samples");
            assert!(read == pcm, "{case}: samples differ");

            // ffprobe has no duration for an empty data chunk ("N/A", as for sox's empty WAV).
            let probe = ffprobe(&wav);
            assert_eq!(
                (probe.channels, probe.sample_rate),
                (channels, rate),
                "{case}"
            );
            match probe.duration {
                Some(duration) => assert!(
                    (duration - ms as f64 / 1000.0).abs() < 0.001,
                    "{case}: ffprobe says {duration} s"
                ),
                None => assert_eq!(ms, 0, "{case}: ffprobe has no duration"),
            }
        }
    }
}

/// What an encoder has handed out after `seconds` of audio, in 20 ms pushes, never finished:
/// the file a recording's process leaves when it dies.
fn interrupted(format: Format, rate: u32, channels: u8, seconds: f64) -> Vec<u8> {
    let mut enc = MediaEncoder::new(format, rate, channels, SETTINGS, 0x0ca1_1ec0).expect("valid");
    let mut chunks = Vec::new();
    let len = (f64::from(rate) * seconds) as usize;
    let pcm = signal(rate, channels, len);
    for part in pcm.chunks(rate as usize / 50 * usize::from(channels)) {
        enc.push(part, &mut chunks).expect("push");
    }
    let mut file = Vec::new();
    for chunk in &chunks {
        if let Chunk::Append(bytes) = chunk {
            file.extend_from_slice(bytes);
        }
    }
    file
}

/// A recording cut anywhere by a crash, repaired by `encode::repair`, is a file the tools
/// accept, as long as the repair says, holding the audio written before the cut.
#[test]
fn interrupted_files_repaired_pass_opusinfo_ffprobe_opusdec_and_hound() {
    use callrec::encode::repair::{repair_ogg_opus, repair_wav, RepairError};
    let dir = TempDir::new("repair");
    for (rate, channels) in SHAPES {
        let whole = interrupted(Format::OggOpus, rate, channels, 3.3);
        for cut in [
            whole.len(),
            whole.len() - 1,
            whole.len() * 2 / 3,
            whole.len() / 4,
            200,
        ] {
            let case = format!(
                "opus {rate} Hz, {channels} ch, cut at {cut} of {}",
                whole.len()
            );
            let mut file = whole[..cut].to_vec();
            file.extend(std::iter::repeat_n(0xa5, 300)); // a torn tail
            let repair = match repair_ogg_opus(&file) {
                Ok(repair) => repair,
                Err(RepairError::NoAudio) if cut < whole.len() / 6 => continue,
                Err(e) => panic!("{case}: {e}"),
            };
            assert!(repair.keep <= cut as u64, "{case}");
            repair.apply(&mut file);
            let opus = dir.path(&format!("cut-{rate}-{channels}-{cut}.opus"));
            std::fs::write(&opus, &file).expect("write");
            let seconds = repair.duration_secs();
            assert!(seconds >= 0.45, "{case}: {seconds} s");

            let info = run("opusinfo", &[opus.as_os_str()]);
            assert!(
                !info.contains("WARNING") && !info.contains("ERROR"),
                "{case}: {info}"
            );
            let length = playback_length(&info);
            assert!(
                (length - seconds).abs() < 0.001,
                "{case}: opusinfo {length} s"
            );
            let duration = ffprobe(&opus).duration.expect("a duration");
            assert!(
                (duration - (seconds + 312.0 / 48000.0)).abs() < 0.001,
                "{case}: ffprobe {duration} s"
            );
            let (_, decoded) = opusdec(&opus, &dir.path("decoded.wav"), rate);
            let expected = (seconds * f64::from(rate)).round() as usize * usize::from(channels);
            assert_eq!(decoded.len(), expected, "{case}: decoded samples");
        }

        let whole = interrupted(Format::Wav, rate, channels, 1.7);
        for cut in [44, 45, whole.len() / 2 + 1, whole.len()] {
            let case = format!(
                "wav {rate} Hz, {channels} ch, cut at {cut} of {}",
                whole.len()
            );
            let mut file = whole[..cut].to_vec();
            let repair = repair_wav(&file, file.len() as u64).expect("repairable");
            repair.apply(&mut file);
            let wav = dir.path(&format!("cut-{rate}-{channels}-{cut}.wav"));
            std::fs::write(&wav, &file).expect("write");
            let read = hound::WavReader::open(&wav)
                .expect("hound opens it")
                .samples::<i16>()
                .collect::<Result<Vec<_>, _>>()
                .expect("samples");
            let frame = 2 * usize::from(channels);
            let samples = (cut - 44) / frame * usize::from(channels);
            assert_eq!(
                read,
                signal(rate, channels, samples / usize::from(channels)),
                "{case}"
            );
            let probe = ffprobe(&wav);
            if samples > 0 {
                let duration = probe.duration.expect("a duration");
                assert!((duration - repair.duration_secs()).abs() < 0.001, "{case}");
            }
        }
    }
}
