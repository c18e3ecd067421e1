//! The recorder's Ogg Opus output, read by independent tools: `opusinfo` and `opusdec`
//! (opus-tools) and `ffprobe` (FFmpeg). Each call is made by callrec's own generator, so what
//! the file must hold is known: its length, each leg's tone in its own channel, the reminder
//! tone only where policy put it, and a cut pause taken out of the playback length.

mod common;

use callrec::encode::Format;
use callrec::media::codec::Codec;
use callrec::media::mix::Layout;
use callrec::media::spans::PauseMode;
use callrec::media::tones::ToneSpec;
use callrec::offline::CaptureOptions;
use callrec::pcap::{CaptureFormat, LinkType};
use callrec::recorder::{RecorderConfig, Reminder};
use callrec::synth::{fixture_rate, generate, LegSpec, FREQ_A, FREQ_B};
use common::*;
use std::path::Path;
use std::time::Duration;

/// Leg B starts this long after leg A (and both last as long), so the call ends after A.
const B_DELAY: Duration = Duration::from_millis(250);

/// A clean call: leg A plays 440 Hz for `secs`, leg B 1000 Hz for `secs` from [`B_DELAY`].
fn call(codec: Codec, secs: u64) -> Vec<u8> {
    let mut a = LegSpec::tone(codec, FREQ_A, 0);
    let mut b = LegSpec::tone(codec, FREQ_B, 1);
    a.duration = Duration::from_secs(secs);
    b.duration = Duration::from_secs(secs);
    b.start = B_DELAY;
    generate(&[a, b], CaptureFormat::Pcap, LinkType::Ethernet)
        .expect("fixture encodes")
        .0
}

fn opus(layout: Layout) -> RecorderConfig {
    RecorderConfig {
        layout,
        format: Format::OggOpus,
        ..RecorderConfig::default()
    }
}

/// `opusinfo`'s report on a file it must accept without a warning or an error.
fn opusinfo(path: &Path) -> String {
    let info = run("opusinfo", &[path.as_os_str()]);
    assert!(
        !info.contains("WARNING") && !info.contains("ERROR"),
        "{}: {info}",
        path.display()
    );
    info
}

/// `ffprobe`'s codec name and channel count of the file's only stream.
fn ffprobe_stream(path: &Path) -> (String, usize) {
    let out = run(
        "ffprobe",
        &[
            "-v".as_ref(),
            "error".as_ref(),
            "-show_entries".as_ref(),
            "stream=codec_name,channels".as_ref(),
            "-of".as_ref(),
            "default=noprint_wrappers=1".as_ref(),
            path.as_os_str(),
        ],
    );
    let field = |key: &str| -> String {
        out.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("ffprobe {key} of {}: {out}", path.display()))
            .to_string()
    };
    (
        field("codec_name"),
        field("channels").parse().expect("channels"),
    )
}

/// Decodes with `opusdec --rate RATE` and returns the channels, de-interleaved.
fn opusdec(opus: &Path, rate: u32) -> Vec<Vec<i16>> {
    let wav = opus.with_extension("decoded.wav");
    let rate_arg = rate.to_string();
    run(
        "opusdec",
        &[
            "--quiet".as_ref(),
            "--rate".as_ref(),
            rate_arg.as_ref(),
            opus.as_os_str(),
            wav.as_os_str(),
        ],
    );
    let (decoded_rate, channels) = wav_channels(&std::fs::read(&wav).expect("opusdec wrote a WAV"));
    assert_eq!(decoded_rate, rate, "opusdec --rate {rate}");
    channels
}

/// Writes the recording's files into `dir` and returns their paths.
fn write_files(dir: &TempDir, stem: &str, files: &[Vec<u8>]) -> Vec<std::path::PathBuf> {
    files
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let path = dir.path(&format!("{stem}-{i}.opus"));
            std::fs::write(&path, bytes).expect("write recording");
            path
        })
        .collect()
}

/// How far (dB) `own` stands above `other` in `channel` over `region`, by 20 ms Goertzel.
fn margin_db(
    channel: &[i16],
    rate: u32,
    region: std::ops::Range<usize>,
    own: f64,
    other: f64,
) -> f64 {
    let part = &channel[region];
    10.0 * (band_power(part, rate, own) / band_power(part, rate, other)).log10()
}

/// Every layout at 8 kHz (PCMU) and 16 kHz (G.722): opusinfo accepts the files and says they
/// play as long as the call; opusdec gives exactly the call's samples at the call's rate; each
/// leg's tone is in its own channel (or file), 20 dB above the other leg's.
#[test]
fn opus_recordings_play_the_calls_length_with_each_voice_in_its_channel() {
    let dir = TempDir::new("opus-layouts");
    for codec in [Codec::Pcmu, Codec::G722] {
        let rate = fixture_rate(codec);
        let capture = call(codec, 3);
        for layout in [Layout::Stereo, Layout::Separate, Layout::Mono] {
            let case = format!("{codec:?} {layout:?}");
            let (files, replay) = record(&capture, opus(layout), &CaptureOptions::default());
            let summary = &replay.summary;
            // A from 0 to 3 s, B from 0.25 to 3.25 s: the call is 3.25 s long.
            assert_eq!(summary.call_duration_secs, 3.25, "{case}");
            assert_eq!(summary.encoder.sample_rate, rate, "{case}");
            let expected_samples = rate as usize * 13 / 4;
            let channels_per_file = if layout == Layout::Stereo { 2 } else { 1 };
            assert_eq!(
                files.len(),
                if layout == Layout::Separate { 2 } else { 1 },
                "{case}"
            );

            let paths = write_files(&dir, &format!("{codec:?}-{layout:?}"), &files);
            let mut decoded = Vec::new();
            for (path, file) in paths.iter().zip(&summary.files) {
                let info = opusinfo(path);
                assert!(
                    info.contains(&format!("Channels: {channels_per_file}\n")),
                    "{case}: {info}"
                );
                assert!(
                    info.contains(&format!("Original sample rate: {rate} Hz\n")),
                    "{case}: {info}"
                );
                let length = playback_length(&info);
                assert!(
                    (length - summary.call_duration_secs).abs() < 0.001,
                    "{case}: opusinfo says {length} s, the call lasts {} s",
                    summary.call_duration_secs
                );
                assert_eq!(
                    ffprobe_stream(path),
                    ("opus".to_string(), channels_per_file),
                    "{case}"
                );

                let channels = opusdec(path, rate);
                assert_eq!(channels.len(), channels_per_file, "{case}");
                for c in &channels {
                    assert_eq!(c.len(), expected_samples, "{case}: decoded samples");
                }
                assert_eq!(file.samples_per_channel, expected_samples as u64, "{case}");
                decoded.extend(channels);
            }

            // From 1 s to 3 s both legs sound.
            let both = rate as usize..rate as usize * 3;
            let r = rate;
            match layout {
                Layout::Stereo | Layout::Separate => {
                    let (a, b) = (&decoded[0], &decoded[1]);
                    let left = margin_db(a, r, both.clone(), FREQ_A, FREQ_B);
                    let right = margin_db(b, r, both.clone(), FREQ_B, FREQ_A);
                    assert!(
                        left >= 20.0,
                        "{case}: A above B by {left:.1} dB on the left"
                    );
                    assert!(
                        right >= 20.0,
                        "{case}: B above A by {right:.1} dB on the right"
                    );
                    assert!(
                        band_power(&a[both.clone()], r, FREQ_A) > 0.02,
                        "{case}: A heard"
                    );
                    assert!(
                        band_power(&b[both.clone()], r, FREQ_B) > 0.02,
                        "{case}: B heard"
                    );
                    // Each leg sounds where it started: A at once, B 250 ms later.
                    let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(r);
                    let a_on = ms(onset(a, r, FREQ_A, 0).expect("A sounds"));
                    let b_on = ms(onset(b, r, FREQ_B, 0).expect("B sounds"));
                    assert!(a_on < 10.0, "{case}: A starts at {a_on} ms");
                    assert!((b_on - 250.0).abs() < 10.0, "{case}: B starts at {b_on} ms");
                }
                Layout::Mono => {
                    let m = &decoded[0][both.clone()];
                    assert!(band_power(m, r, FREQ_A) > 0.02, "{case}: A in the mix");
                    assert!(band_power(m, r, FREQ_B) > 0.02, "{case}: B in the mix");
                }
            }
        }
    }
}

/// A 25 s call with a reminder every 10 s: the decoded Opus has 1400 Hz in the 100 ms windows
/// the two 250 ms beeps (at 10 s and 20 s) cover, on both channels, and in no other window.
#[test]
fn opus_reminder_tone_sounds_only_at_ten_and_twenty_seconds() {
    let dir = TempDir::new("opus-reminder");
    for codec in [Codec::Pcmu, Codec::G722] {
        let rate = fixture_rate(codec);
        let config = RecorderConfig {
            reminder: Some(Reminder {
                interval_secs: 10,
                tone: ToneSpec::REMINDER,
            }),
            ..opus(Layout::Stereo)
        };
        let (files, replay) = record(&call(codec, 25), config, &CaptureOptions::default());
        let times: Vec<f64> = replay.summary.tones.iter().map(|t| t.call_secs).collect();
        assert_eq!(times, vec![10.0, 20.0], "{codec:?}");
        let paths = write_files(&dir, &format!("{codec:?}"), &files);
        let channels = opusdec(&paths[0], rate);
        let win = rate as usize / 10;
        for (c, channel) in channels.iter().enumerate() {
            let found: Vec<usize> = (0..channel.len() / win)
                .filter(|&w| {
                    let part = &channel[w * win..(w + 1) * win];
                    tone_power(part, rate, ToneSpec::REMINDER.frequency_hz) > 0.001
                })
                .collect();
            assert_eq!(
                found,
                vec![100, 101, 102, 200, 201, 202],
                "{codec:?} channel {c}: 100 ms windows with 1400 Hz"
            );
        }
    }
}

/// A 1 s pause cut out of the call shortens the Opus file's playback by exactly 1 s; the same
/// pause kept as silence leaves it as long as the call.
#[test]
fn opus_cut_pause_shortens_playback_by_the_paused_time() {
    let dir = TempDir::new("opus-cut");
    for codec in [Codec::Pcmu, Codec::G722] {
        let rate = fixture_rate(codec);
        let capture = call(codec, 4);
        let options = CaptureOptions {
            pauses: vec![(Duration::from_secs(1), Duration::from_secs(2))],
            ..CaptureOptions::default()
        };
        for (mode, removed) in [(PauseMode::Silence, 0.0), (PauseMode::Cut, 1.0)] {
            let case = format!("{codec:?} {mode:?}");
            let config = RecorderConfig {
                pause_mode: mode,
                ..opus(Layout::Stereo)
            };
            let (files, replay) = record(&capture, config, &options);
            let call_secs = replay.summary.call_duration_secs;
            assert_eq!(call_secs, 4.25, "{case}");
            let paths = write_files(&dir, &format!("{codec:?}-{mode:?}"), &files);
            let length = playback_length(&opusinfo(&paths[0]));
            assert!(
                (length - (call_secs - removed)).abs() < 0.001,
                "{case}: opusinfo says {length} s of a {call_secs} s call"
            );
            let channels = opusdec(&paths[0], rate);
            let expected = (f64::from(rate) * (call_secs - removed)).round() as usize;
            assert_eq!(channels[0].len(), expected, "{case}: decoded samples");
        }
    }
}
