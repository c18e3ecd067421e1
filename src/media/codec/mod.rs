//! Audio codecs: RTP payloads to 16-bit mono PCM for the recording, and PCM to payloads for the
//! fixture generator and the benches. Owns the payload type and encoding name mapping
//! (RFC 3551 §6, SDP rtpmap), G.711, G.722, Opus, and concealment of lost packets.
//!
//! It never decides that a packet is lost or how long a gap is (the jitter buffer does), never
//! panics on a payload (every bad payload is a [`CodecError`]), and does no IO.

mod g711;
mod g722;
mod opus;
mod plc;

use serde::Serialize;

pub use plc::FADE_MS as CONCEAL_FADE_MS;

/// An audio codec callrec decodes.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 at 64 kbit/s.
    G722,
    /// Opus (RFC 7587 payload format).
    Opus,
}

/// What an RTP payload type carries.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PayloadKind {
    /// Audio in one of the codecs.
    Audio(Codec),
    /// Comfort noise (RFC 3389): no audio of its own.
    ComfortNoise,
    /// DTMF and other telephone events (RFC 4733): no audio of its own.
    TelephoneEvent,
}

impl Codec {
    /// The static payload types of RFC 3551 §6 (Table 4) that callrec knows.
    pub fn from_static_payload_type(pt: u8) -> Option<PayloadKind> {
        match pt {
            0 => Some(PayloadKind::Audio(Codec::Pcmu)),
            8 => Some(PayloadKind::Audio(Codec::Pcma)),
            9 => Some(PayloadKind::Audio(Codec::G722)),
            13 => Some(PayloadKind::ComfortNoise),
            _ => None,
        }
    }

    /// The codec of an SDP rtpmap encoding name, compared case-insensitively as media subtype
    /// names are.
    pub fn from_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus]
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
    }

    /// The RTP timestamp rate. G.722 samples at 16 kHz but its RTP clock runs at 8 kHz, an
    /// error kept for compatibility (RFC 3551 §4.5.2); Opus always uses 48 kHz (RFC 7587 §4.1).
    pub fn rtp_clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus => 48000,
        }
    }

    /// The SDP rtpmap encoding name (RFC 3551 §6; "opus" from RFC 7587).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
        }
    }

    /// Whether the codec runs at `sample_rate`: G.711 only at 8 kHz, G.722 only at 16 kHz,
    /// Opus at 8, 12, 16, 24 or 48 kHz.
    fn check_sample_rate(self, sample_rate: u32) -> Result<(), CodecError> {
        let supported = match self {
            Codec::Pcmu | Codec::Pcma => sample_rate == 8000,
            Codec::G722 => sample_rate == 16000,
            Codec::Opus => opus::SAMPLE_RATES.contains(&sample_rate),
        };
        if supported {
            Ok(())
        } else {
            Err(CodecError::UnsupportedSampleRate {
                codec: self,
                sample_rate,
            })
        }
    }
}

impl PayloadKind {
    /// The kind of an SDP rtpmap encoding name, case-insensitive: a codec, "CN" (RFC 3389) or
    /// "telephone-event" (RFC 4733).
    pub fn from_name(name: &str) -> Option<PayloadKind> {
        if name.eq_ignore_ascii_case("CN") {
            Some(PayloadKind::ComfortNoise)
        } else if name.eq_ignore_ascii_case("telephone-event") {
            Some(PayloadKind::TelephoneEvent)
        } else {
            Codec::from_name(name).map(PayloadKind::Audio)
        }
    }
}

/// Why a codec could not be set up or could not decode or encode.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CodecError {
    /// The codec does not run at this sample rate (G.711: 8000, G.722: 16000, Opus: 8000,
    /// 12000, 16000, 24000 or 48000).
    #[error("{codec:?} does not run at {sample_rate} Hz")]
    UnsupportedSampleRate { codec: Codec, sample_rate: u32 },
    /// The PCM given to an encoder is not one frame: G.722 takes a whole number of sample
    /// pairs (one byte each), Opus exactly 20 ms.
    #[error("{samples} samples are not one {codec:?} frame")]
    FrameSize { codec: Codec, samples: usize },
    /// An empty Opus payload: every Opus packet has at least one byte (RFC 6716 §3.4, R1).
    #[error("empty Opus payload")]
    EmptyOpusPacket,
    /// libopus rejected the packet or the call; `description` is libopus's own text.
    #[error("libopus {function}: {description}")]
    Opus {
        function: &'static str,
        description: &'static str,
    },
}

/// Decodes one leg's payloads to 16-bit mono PCM at a fixed sample rate.
pub struct Decoder {
    sample_rate: u32,
    inner: DecoderInner,
}

enum DecoderInner {
    Pcmu(plc::Concealer),
    Pcma(plc::Concealer),
    G722(Box<g722::Decoder>, plc::Concealer),
    Opus(opus::Decoder),
}

impl Decoder {
    /// A decoder for `codec` producing `sample_rate` Hz. G.711 runs only at 8000 and G.722 only
    /// at 16000; Opus decodes at 8000, 12000, 16000, 24000 or 48000. Output is always mono: a
    /// stereo Opus leg is downmixed by libopus.
    pub fn new(codec: Codec, sample_rate: u32) -> Result<Decoder, CodecError> {
        codec.check_sample_rate(sample_rate)?;
        let concealer = || plc::Concealer::new(sample_rate);
        let inner = match codec {
            Codec::Pcmu => DecoderInner::Pcmu(concealer()),
            Codec::Pcma => DecoderInner::Pcma(concealer()),
            Codec::G722 => DecoderInner::G722(Box::new(g722::Decoder::new()), concealer()),
            Codec::Opus => DecoderInner::Opus(opus::Decoder::new(sample_rate)?),
        };
        Ok(Decoder { sample_rate, inner })
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Decodes one payload, appending its samples to `out`; returns how many. On error
    /// nothing is appended.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        let start = out.len();
        match &mut self.inner {
            DecoderInner::Pcmu(plc) => {
                out.extend(payload.iter().map(|&code| g711::ulaw_to_linear(code)));
                plc.remember(&out[start..]);
            }
            DecoderInner::Pcma(plc) => {
                out.extend(payload.iter().map(|&code| g711::alaw_to_linear(code)));
                plc.remember(&out[start..]);
            }
            DecoderInner::G722(decoder, plc) => {
                decoder.decode(payload, out);
                plc.remember(&out[start..]);
            }
            DecoderInner::Opus(decoder) => return decoder.decode(payload, out),
        }
        Ok(out.len() - start)
    }

    /// Appends exactly `samples` samples standing in for lost audio. Opus uses libopus's
    /// concealment; G.711 and G.722 repeat the last pitch period and fade to silence over
    /// [`CONCEAL_FADE_MS`]. The caller bounds `samples` (its gap limit).
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        match &mut self.inner {
            DecoderInner::Pcmu(plc) | DecoderInner::Pcma(plc) | DecoderInner::G722(_, plc) => {
                plc.conceal(samples, out)
            }
            DecoderInner::Opus(decoder) => decoder.conceal(samples, out),
        }
    }

    /// The packet before `next_payload` was lost: appends exactly `samples` samples for it and
    /// returns that count. Opus rebuilds them from the in-band FEC data of `next_payload`
    /// (RFC 6716 §2.1.7), the others conceal. `next_payload` itself still has to be decoded.
    /// On error (an Opus payload libopus rejects) nothing is appended.
    pub fn recover(
        &mut self,
        next_payload: &[u8],
        samples: usize,
        out: &mut Vec<i16>,
    ) -> Result<usize, CodecError> {
        match &mut self.inner {
            DecoderInner::Opus(decoder) => decoder.recover(next_payload, samples, out),
            _ => {
                self.conceal(samples, out);
                Ok(samples)
            }
        }
    }
}

/// Encodes PCM to payloads, one packet at a time (for fixtures and benches).
pub struct Encoder {
    codec: Codec,
    inner: EncoderInner,
}

enum EncoderInner {
    Pcmu,
    Pcma,
    G722(Box<g722::Encoder>),
    Opus(opus::Encoder),
}

impl Encoder {
    /// An encoder for `codec` taking `sample_rate` Hz (the rates of [`Decoder::new`]). Opus
    /// runs as libopus's VoIP application with in-band FEC on, one 20 ms frame per packet.
    pub fn new(codec: Codec, sample_rate: u32) -> Result<Encoder, CodecError> {
        codec.check_sample_rate(sample_rate)?;
        let inner = match codec {
            Codec::Pcmu => EncoderInner::Pcmu,
            Codec::Pcma => EncoderInner::Pcma,
            Codec::G722 => EncoderInner::G722(Box::new(g722::Encoder::new())),
            Codec::Opus => EncoderInner::Opus(opus::Encoder::new(sample_rate)?),
        };
        Ok(Encoder { codec, inner })
    }

    /// Encodes one packet's samples, appending the payload to `out`; returns its length in
    /// bytes. On error nothing is appended.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<usize, CodecError> {
        let start = out.len();
        match &mut self.inner {
            EncoderInner::Pcmu => out.extend(pcm.iter().map(|&s| g711::linear_to_ulaw(s))),
            EncoderInner::Pcma => out.extend(pcm.iter().map(|&s| g711::linear_to_alaw(s))),
            EncoderInner::G722(encoder) => {
                if !pcm.len().is_multiple_of(2) {
                    return Err(self.frame_size_error(pcm));
                }
                encoder.encode(pcm, out);
            }
            EncoderInner::Opus(encoder) => {
                if pcm.len() != encoder.frame_samples() {
                    return Err(self.frame_size_error(pcm));
                }
                return encoder.encode(pcm, out);
            }
        }
        Ok(out.len() - start)
    }

    fn frame_size_error(&self, pcm: &[i16]) -> CodecError {
        CodecError::FrameSize {
            codec: self.codec,
            samples: pcm.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn tone(freq: f64, rate: u32, range: std::ops::Range<usize>, amplitude: f64) -> Vec<i16> {
        range
            .map(|n| (amplitude * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()) as i16)
            .collect()
    }

    /// Power of `freq` in `pcm` (Goertzel), normalized so a full-length sine of amplitude A
    /// gives A²/2 — the same scale as the mean square.
    fn goertzel(pcm: &[i16], freq: f64, rate: u32) -> f64 {
        let coeff = 2.0 * (2.0 * PI * freq / f64::from(rate)).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in pcm {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let n = pcm.len() as f64;
        2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
    }

    fn mean_square(pcm: &[i16]) -> f64 {
        pcm.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / pcm.len() as f64
    }

    #[test]
    fn static_payload_types() {
        let cases = [
            (0, Some(PayloadKind::Audio(Codec::Pcmu))),
            (8, Some(PayloadKind::Audio(Codec::Pcma))),
            (9, Some(PayloadKind::Audio(Codec::G722))),
            (13, Some(PayloadKind::ComfortNoise)),
            (3, None),  // GSM
            (18, None), // G729
            (96, None), // dynamic
            (101, None),
            (127, None),
            (255, None),
        ];
        for (pt, kind) in cases {
            assert_eq!(Codec::from_static_payload_type(pt), kind, "pt {pt}");
        }
    }

    #[test]
    fn encoding_names() {
        let cases = [
            ("PCMU", Some(PayloadKind::Audio(Codec::Pcmu))),
            ("pcma", Some(PayloadKind::Audio(Codec::Pcma))),
            ("g722", Some(PayloadKind::Audio(Codec::G722))),
            ("OPUS", Some(PayloadKind::Audio(Codec::Opus))),
            ("opus", Some(PayloadKind::Audio(Codec::Opus))),
            ("cn", Some(PayloadKind::ComfortNoise)),
            ("Telephone-Event", Some(PayloadKind::TelephoneEvent)),
            ("G729", None),
            ("PCMU/8000", None),
            ("", None),
        ];
        for (name, kind) in cases {
            assert_eq!(PayloadKind::from_name(name), kind, "{name}");
        }
        assert_eq!(Codec::from_name("CN"), None);
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus] {
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
        }
    }

    #[test]
    fn clock_rates_and_serialized_names() {
        let cases = [
            (Codec::Pcmu, 8000, "\"pcmu\""),
            (Codec::Pcma, 8000, "\"pcma\""),
            (Codec::G722, 8000, "\"g722\""),
            (Codec::Opus, 48000, "\"opus\""),
        ];
        for (codec, rate, json) in cases {
            assert_eq!(codec.rtp_clock_rate(), rate);
            assert_eq!(serde_json::to_string(&codec).expect("serializes"), json);
        }
    }

    #[test]
    fn sample_rates() {
        let cases = [
            (Codec::Pcmu, 8000, true),
            (Codec::Pcmu, 16000, false),
            (Codec::Pcma, 8000, true),
            (Codec::Pcma, 48000, false),
            (Codec::G722, 16000, true),
            (Codec::G722, 8000, false),
            (Codec::Opus, 8000, true),
            (Codec::Opus, 12000, true),
            (Codec::Opus, 16000, true),
            (Codec::Opus, 24000, true),
            (Codec::Opus, 48000, true),
            (Codec::Opus, 44100, false),
            (Codec::Opus, 0, false),
        ];
        for (codec, sample_rate, ok) in cases {
            let expected = if ok {
                Ok(sample_rate)
            } else {
                Err(CodecError::UnsupportedSampleRate { codec, sample_rate })
            };
            assert_eq!(
                Decoder::new(codec, sample_rate).map(|d| d.sample_rate()),
                expected
            );
            assert_eq!(
                Encoder::new(codec, sample_rate).map(|_| sample_rate),
                expected
            );
        }
    }

    #[test]
    fn g711_decodes_byte_by_byte_and_appends() {
        let mut out = vec![1, 2];
        let mut pcmu = Decoder::new(Codec::Pcmu, 8000).expect("8 kHz");
        assert_eq!(pcmu.decode(&[0x00, 0x80, 0xFF, 0x7E], &mut out), Ok(4));
        assert_eq!(out, [1, 2, -32124, 32124, 0, -8]);
        let mut pcma = Decoder::new(Codec::Pcma, 8000).expect("8 kHz");
        assert_eq!(pcma.decode(&[0xD5, 0x55, 0xAA], &mut out), Ok(3));
        assert_eq!(out[6..], [8, -8, 32256]);
        assert_eq!(pcma.decode(&[], &mut out), Ok(0));
        assert_eq!(out.len(), 9);
    }

    #[test]
    fn encoders_check_frame_sizes() {
        let mut g722 = Encoder::new(Codec::G722, 16000).expect("16 kHz");
        let mut out = Vec::new();
        assert_eq!(
            g722.encode(&[0; 319], &mut out),
            Err(CodecError::FrameSize {
                codec: Codec::G722,
                samples: 319
            })
        );
        assert_eq!(g722.encode(&[0; 320], &mut out), Ok(160));
        let mut opus = Encoder::new(Codec::Opus, 16000).expect("16 kHz");
        assert_eq!(
            opus.encode(&[0; 160], &mut out),
            Err(CodecError::FrameSize {
                codec: Codec::Opus,
                samples: 160
            })
        );
        assert_eq!(out.len(), 160, "nothing appended on error");
        let mut pcmu = Encoder::new(Codec::Pcmu, 8000).expect("8 kHz");
        assert_eq!(pcmu.encode(&[0, -8, i16::MAX], &mut out), Ok(3));
        assert_eq!(out[160..], [0xFF, 0x7E, 0x80]);
    }

    #[test]
    fn g711_and_g722_conceal_then_recover_by_concealing() {
        for (codec, rate) in [
            (Codec::Pcmu, 8000),
            (Codec::Pcma, 8000),
            (Codec::G722, 16000),
        ] {
            let mut encoder = Encoder::new(codec, rate).expect("rate");
            let mut decoder = Decoder::new(codec, rate).expect("rate");
            let pcm = tone(400.0, rate, 0..rate as usize / 10, 8000.0);
            let mut payload = Vec::new();
            encoder.encode(&pcm, &mut payload).expect("encodes");
            let mut out = Vec::new();
            decoder.decode(&payload, &mut out).expect("decodes");
            let peak = out.iter().map(|s| s.unsigned_abs()).max();
            let packet = rate as usize / 50;
            decoder.conceal(packet, &mut out);
            assert_eq!(decoder.recover(&payload, packet, &mut out), Ok(packet));
            decoder.conceal(2 * packet, &mut out);
            let concealed = &out[pcm.len()..];
            assert_eq!(concealed.len(), 4 * packet);
            assert!(concealed.iter().map(|s| s.unsigned_abs()).max() <= peak);
            assert!(
                mean_square(&concealed[..packet]) > mean_square(&concealed[packet..2 * packet])
            );
            let fade_end = CONCEAL_FADE_MS * rate as usize / 1000;
            assert!(concealed[fade_end..].iter().all(|&s| s == 0), "{codec:?}");
        }
    }

    fn opus_round_trip(rate: u32, freq: f64) -> Vec<i16> {
        let mut encoder = Encoder::new(Codec::Opus, rate).expect("rate");
        let mut decoder = Decoder::new(Codec::Opus, rate).expect("rate");
        let frame = rate as usize / 50;
        let pcm = tone(freq, rate, 0..rate as usize, 10000.0);
        let mut out = Vec::new();
        for chunk in pcm.chunks(frame) {
            let mut payload = Vec::new();
            encoder.encode(chunk, &mut payload).expect("encodes");
            assert_eq!(decoder.decode(&payload, &mut out), Ok(frame));
        }
        out
    }

    #[test]
    fn opus_round_trip_keeps_the_tone() {
        for (rate, freq) in [(8000, 1000.0), (16000, 1000.0), (16000, 5000.0)] {
            let out = opus_round_trip(rate, freq);
            assert_eq!(out.len(), rate as usize);
            let settled = &out[rate as usize / 2..];
            let total = mean_square(settled);
            let at_tone = goertzel(settled, freq, rate);
            let input_power = 10000.0f64.powi(2) / 2.0;
            let level_db = 10.0 * (total / input_power).log10();
            assert!(level_db.abs() < 1.0, "{rate} Hz: level {level_db:.2} dB");
            assert!(
                at_tone / total > 0.95,
                "{rate} Hz: {:.3} of the power at {freq} Hz",
                at_tone / total
            );
            assert!(goertzel(settled, freq * 1.3, rate) / total < 0.01);
        }
    }

    #[test]
    fn opus_fec_rebuilds_the_lost_packet_and_plc_fills_exact_counts() {
        for rate in [8000, 16000] {
            let frame = rate as usize / 50;
            let mut encoder = Encoder::new(Codec::Opus, rate).expect("rate");
            // 300 ms at 440 Hz, then 1 kHz; the first 1 kHz packet is lost.
            let pcm: Vec<i16> = tone(440.0, rate, 0..15 * frame, 10000.0)
                .into_iter()
                .chain(tone(1000.0, rate, 15 * frame..30 * frame, 10000.0))
                .collect();
            let payloads: Vec<Vec<u8>> = pcm
                .chunks(frame)
                .map(|chunk| {
                    let mut payload = Vec::new();
                    encoder.encode(chunk, &mut payload).expect("encodes");
                    payload
                })
                .collect();
            let mut with_fec = Decoder::new(Codec::Opus, rate).expect("rate");
            let mut with_plc = Decoder::new(Codec::Opus, rate).expect("rate");
            let (mut fec_out, mut plc_out) = (Vec::new(), Vec::new());
            for payload in &payloads[..15] {
                with_fec.decode(payload, &mut fec_out).expect("decodes");
                with_plc.decode(payload, &mut plc_out).expect("decodes");
            }
            assert_eq!(
                with_fec.recover(&payloads[16], frame, &mut fec_out),
                Ok(frame)
            );
            with_plc.conceal(frame, &mut plc_out);
            assert_eq!(fec_out.len(), 16 * frame);
            assert_eq!(plc_out.len(), 16 * frame);
            // Opus delays its output by a few ms: look at the second half of the lost packet.
            let fec = &fec_out[15 * frame + frame / 2..];
            let plc = &plc_out[15 * frame + frame / 2..];
            let share = |pcm: &[i16], freq| goertzel(pcm, freq, rate) / mean_square(pcm);
            assert!(share(fec, 1000.0) > 0.5, "{rate}: FEC has the new tone");
            assert!(
                share(plc, 1000.0) < 0.1,
                "{rate}: PLC only continues the old one"
            );
            // Counts that are not whole 2.5 ms steps still come out exact.
            for samples in [1, frame / 8 + 3, frame, 7 * frame + 1] {
                let before = fec_out.len();
                with_fec.conceal(samples, &mut fec_out);
                assert_eq!(fec_out.len() - before, samples);
                assert_eq!(
                    with_fec.recover(&payloads[20], samples, &mut fec_out),
                    Ok(samples)
                );
                assert_eq!(fec_out.len() - before, 2 * samples);
            }
        }
    }

    #[test]
    fn opus_rejects_malformed_packets_without_appending() {
        let mut decoder = Decoder::new(Codec::Opus, 16000).expect("16 kHz");
        let mut out = vec![5];
        assert_eq!(
            decoder.decode(&[], &mut out),
            Err(CodecError::EmptyOpusPacket)
        );
        // RFC 6716 §3.4: code 3 without its frame count byte (R6), code 3 with zero frames (R5),
        // code 1 with an odd number of data bytes (R3), code 2 whose length exceeds the packet (R4).
        for packet in [&[0x03][..], &[0x03, 0x00], &[0x01, 0x00], &[0x02, 0xFF]] {
            let error = decoder.decode(packet, &mut out).expect_err("malformed");
            assert!(
                matches!(
                    error,
                    CodecError::Opus {
                        description: "corrupted stream",
                        ..
                    }
                ),
                "{error}"
            );
            assert!(matches!(
                decoder.recover(packet, 320, &mut out),
                Err(CodecError::Opus { .. })
            ));
        }
        assert_eq!(out, [5]);
        // Noise: whatever libopus accepts decodes to at most 120 ms, the rest is an error.
        let mut state = 0x1234_5678u32;
        for len in 1..2000 {
            let packet: Vec<u8> = (0..len % 300 + 1)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let before = out.len();
            match decoder.decode(&packet, &mut out) {
                Ok(samples) => assert!(samples <= 1920 && out.len() - before == samples),
                Err(_) => assert_eq!(out.len(), before),
            }
        }
    }
}
