//! The codecs against an independent implementation: ffmpeg's G.711 decode tables and its
//! G.722 encoder and decoder must agree with ours sample for sample. Needs `ffmpeg` on the PATH.
//!
//! ffmpeg's G.711 *encoders* are deliberately not compared: they round to the nearest output
//! value and mirror negatives around 0, while ours follows the ITU decision values and the
//! ITU-T G.191 one's complement for negatives (tested in the unit tests); the two pick adjacent
//! codes for a few samples at each segment edge.

use std::f64::consts::PI;
use std::io::Write;
use std::process::{Command, Stdio};

use callrec::media::codec::{Codec, Decoder, Encoder};

/// Runs ffmpeg with `args` (input and output are pipes), feeding `input`, returning stdout.
fn ffmpeg(args: &[&str], input: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed to run these tests");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("ffmpeg runs");
    writer
        .join()
        .expect("writer thread")
        .expect("ffmpeg reads all input");
    assert!(
        output.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn from_s16le(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(bytes.len() % 2, 0);
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn to_s16le(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().flat_map(|s| s.to_le_bytes()).collect()
}

fn decode_all(codec: Codec, rate: u32, payload: &[u8]) -> Vec<i16> {
    let mut decoder = Decoder::new(codec, rate).expect("supported rate");
    let mut pcm = Vec::new();
    // 20 ms packets, as they would arrive over RTP; the decoders keep state across them.
    for packet in payload.chunks(160) {
        decoder.decode(packet, &mut pcm).expect("decodes");
    }
    pcm
}

fn encode_g722(pcm: &[i16]) -> Vec<u8> {
    let mut encoder = Encoder::new(Codec::G722, 16000).expect("16 kHz");
    let mut payload = Vec::new();
    for frame in pcm.chunks(320) {
        encoder.encode(frame, &mut payload).expect("whole frames");
    }
    payload
}

fn ffmpeg_decode_g722(payload: &[u8]) -> Vec<i16> {
    from_s16le(&ffmpeg(
        &[
            "-f", "g722", "-i", "pipe:0", "-f", "s16le", "-ar", "16000", "pipe:1",
        ],
        payload.to_vec(),
    ))
}

/// Test signals at 16 kHz, 2 s each.
fn signals() -> Vec<(&'static str, Vec<i16>)> {
    let n = 32000;
    let t = |i: usize| i as f64 / 16000.0;
    let mix = (0..n)
        .map(|i| {
            (9000.0 * (2.0 * PI * 1000.0 * t(i)).sin() + 6000.0 * (2.0 * PI * 3300.0 * t(i)).sin())
                as i16
        })
        .collect();
    // Linear chirp 50 Hz → 7950 Hz: phase = 2π(f0·t + (f1 − f0)·t²/(2T)).
    let chirp = (0..n)
        .map(|i| (12000.0 * (2.0 * PI * (50.0 * t(i) + 7900.0 * t(i) * t(i) / 4.0)).sin()) as i16)
        .collect();
    // Near full scale, with hard clipping, to drive the limiters and saturations.
    let loud = (0..n)
        .map(|i| (60000.0 * (2.0 * PI * 440.0 * t(i)).sin()).clamp(-32768.0, 32767.0) as i16)
        .collect();
    let mut state = 7u32;
    let noise = (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 16) as i16
        })
        .collect();
    vec![
        ("1 kHz + 3.3 kHz", mix),
        ("chirp", chirp),
        ("loud 440 Hz", loud),
        ("noise", noise),
    ]
}

#[test]
fn g711_decode_tables_match_ffmpeg() {
    let all: Vec<u8> = (0..=255).collect();
    for (codec, format) in [(Codec::Pcmu, "mulaw"), (Codec::Pcma, "alaw")] {
        let expected = from_s16le(&ffmpeg(
            &[
                "-f", format, "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "s16le", "pipe:1",
            ],
            all.clone(),
        ));
        assert_eq!(decode_all(codec, 8000, &all), expected, "{codec:?}");
    }
}

#[test]
fn g722_our_encoding_decodes_identically_in_ffmpeg() {
    for (name, pcm) in signals() {
        let payload = encode_g722(&pcm);
        assert_eq!(payload.len(), pcm.len() / 2);
        let ours = decode_all(Codec::G722, 16000, &payload);
        let theirs = ffmpeg_decode_g722(&payload);
        assert_eq!(ours.len(), pcm.len(), "{name}");
        assert_eq!(theirs.len(), pcm.len(), "{name}");
        let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "{name}");
    }
}

#[test]
fn g722_ffmpeg_encoding_decodes_identically_in_ours() {
    for (name, pcm) in signals() {
        let payload = ffmpeg(
            &[
                "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "pipe:0", "-c:a", "g722", "-f",
                "g722", "pipe:1",
            ],
            to_s16le(&pcm),
        );
        assert_eq!(payload.len(), pcm.len() / 2, "{name}");
        let ours = decode_all(Codec::G722, 16000, &payload);
        let theirs = ffmpeg_decode_g722(&payload);
        assert_eq!(ours.len(), pcm.len(), "{name}");
        assert_eq!(theirs.len(), pcm.len(), "{name}");
        let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "{name}");
    }
}
