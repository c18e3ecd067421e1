//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA): one byte per sample at 8 kHz.
//!
//! Decoding is a lookup in 256-entry tables built at compile time from the segment formulas of
//! G.711 Tables 1a (A-law) and 2a (µ-law); encoding is the classic segment search, with the
//! ITU-T G.191 reference's one's complement for negative samples. Samples are 16-bit: the 14-bit
//! µ-law and 13-bit A-law values of the recommendation shifted left by 2 and 3 bits, as every
//! G.711 implementation (and ffmpeg) does.
//!
//! µ-law has two codes for zero: 0xFF (+0) and 0x7F (−0). Both decode to 0, which encodes to
//! 0xFF, so 0x7F is the one code that does not survive `encode(decode(c))`.

/// µ-law bias (33 at the 14-bit scale of G.711, 132 at 16 bits).
const ULAW_BIAS: i32 = 0x84;

/// Largest 14-bit magnitude µ-law can represent before the bias is added.
const ULAW_CLIP: i32 = 8159;

/// Upper end of each µ-law segment, 14-bit magnitude plus bias.
const ULAW_SEGMENT_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];

/// Upper end of each A-law segment, 13-bit magnitude.
const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

static ULAW_TABLE: [i16; 256] = table(Law::Ulaw);
static ALAW_TABLE: [i16; 256] = table(Law::Alaw);

enum Law {
    Ulaw,
    Alaw,
}

/// Decodes one µ-law byte.
pub(super) fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Decodes one A-law byte.
pub(super) fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Encodes one sample to µ-law: 14-bit magnitude plus bias, segment = position of the top bit,
/// four mantissa bits below it; all bits inverted on the wire (G.711 Table 2a).
pub(super) fn linear_to_ulaw(sample: i16) -> u8 {
    let (magnitude, mask) = sign_magnitude(sample, 0xFF, 0x7F);
    let biased = (i32::from(magnitude) >> 2).min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let code = match segment(biased, &ULAW_SEGMENT_END) {
        Some(seg) => (seg << 4) | ((biased >> (seg + 1)) & 0x0F),
        None => 0x7F,
    };
    (code ^ mask) as u8
}

/// Encodes one sample to A-law: 13-bit magnitude, segment and four mantissa bits, even bits
/// inverted on the wire (G.711 Table 1a).
pub(super) fn linear_to_alaw(sample: i16) -> u8 {
    let (magnitude, mask) = sign_magnitude(sample, 0xD5, 0x55);
    let magnitude = i32::from(magnitude) >> 3;
    let code = match segment(magnitude, &ALAW_SEGMENT_END) {
        Some(seg) => {
            let shift = if seg < 2 { 1 } else { seg };
            (seg << 4) | ((magnitude >> shift) & 0x0F)
        }
        None => 0x7F,
    };
    (code ^ mask) as u8
}

/// Magnitude and wire mask of a sample. Negative samples take the one's complement, as the
/// ITU-T G.191 reference does: `x` and `!x` (= −x − 1) encode to the same magnitude, so the
/// quantizer is symmetric around −½ and a code's two signs cover equally wide ranges.
fn sign_magnitude(sample: i16, positive_mask: i32, negative_mask: i32) -> (i16, i32) {
    if sample < 0 {
        (!sample, negative_mask)
    } else {
        (sample, positive_mask)
    }
}

/// The segment whose range holds `magnitude`, `None` above the last one.
fn segment(magnitude: i32, ends: &[i32; 8]) -> Option<i32> {
    ends.iter()
        .position(|&end| magnitude <= end)
        .map(|seg| seg as i32)
}

const fn table(law: Law) -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = match law {
            Law::Ulaw => ulaw_formula(code as u8),
            Law::Alaw => alaw_formula(code as u8),
        };
        code += 1;
    }
    table
}

/// µ-law decode: bits inverted, sign (1 = negative after inversion), 3-bit segment, 4-bit
/// mantissa; magnitude = ((mantissa·8 + bias) << segment) − bias.
const fn ulaw_formula(code: u8) -> i16 {
    let code = !code;
    let segment = (code >> 4) & 7;
    let mantissa = (code & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
    (if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    }) as i16
}

/// A-law decode: even bits inverted, sign (1 = positive), 3-bit segment, 4-bit mantissa; the
/// value is the middle of the quantization interval.
const fn alaw_formula(code: u8) -> i16 {
    let code = code ^ 0x55;
    let segment = (code >> 4) & 7;
    let mantissa = (code & 0x0F) as i32;
    let magnitude = if segment == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (segment - 1)
    };
    (if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoder output values of G.711 Table 2a (µ-law, 14-bit scale): for each segment the
    /// first value and the step between its 16 values.
    const ULAW_SEGMENTS: [(i32, i32); 8] = [
        (0, 2),
        (33, 4),
        (99, 8),
        (231, 16),
        (495, 32),
        (1023, 64),
        (2079, 128),
        (4191, 256),
    ];

    /// Decoder output values of G.711 Table 1a (A-law, 13-bit scale), same layout.
    const ALAW_SEGMENTS: [(i32, i32); 8] = [
        (1, 2),
        (33, 2),
        (66, 4),
        (132, 8),
        (264, 16),
        (528, 32),
        (1056, 64),
        (2112, 128),
    ];

    /// The ITU value for `code`, scaled to 16 bits. µ-law: bits inverted, sign bit clear =
    /// positive after inversion. A-law: even bits inverted, sign bit set = positive.
    fn itu_value(code: u8, ulaw: bool) -> i16 {
        let (wire, segments, scale) = if ulaw {
            (!code, ULAW_SEGMENTS, 4)
        } else {
            (code ^ 0x55, ALAW_SEGMENTS, 8)
        };
        let (first, step) = segments[usize::from((wire >> 4) & 7)];
        let magnitude = (first + step * i32::from(wire & 0x0F)) * scale;
        let positive = (wire & 0x80 != 0) != ulaw;
        (if positive { magnitude } else { -magnitude }) as i16
    }

    #[test]
    fn all_256_codes_decode_to_the_itu_values() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_to_linear(code),
                itu_value(code, true),
                "µ-law {code:#04x}"
            );
            assert_eq!(
                alaw_to_linear(code),
                itu_value(code, false),
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn table_ends_and_zeros() {
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
    }

    #[test]
    fn every_code_survives_a_round_trip_except_ulaw_negative_zero() {
        for code in 0..=255u8 {
            let expected_ulaw = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                linear_to_ulaw(ulaw_to_linear(code)),
                expected_ulaw,
                "µ-law {code:#04x}"
            );
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#04x}"
            );
        }
    }

    /// Every encoded magnitude lands in the decision interval of its code: each G.711 output
    /// value owns the half-steps either side of it (Tables 1a/2a), the top one everything above.
    #[test]
    fn encoders_follow_the_itu_decision_values() {
        for (ulaw, segments, scale) in [(true, ULAW_SEGMENTS, 4), (false, ALAW_SEGMENTS, 8)] {
            let top = segments[7].0 + 15 * segments[7].1;
            for sample in 0..=i16::MAX {
                let code = if ulaw {
                    linear_to_ulaw(sample)
                } else {
                    linear_to_alaw(sample)
                };
                let output = i32::from(itu_value(code, ulaw)) / scale;
                let step = segments
                    .iter()
                    .rev()
                    .find(|(first, _)| output >= *first)
                    .map_or(2, |s| s.1);
                let magnitude = i32::from(sample) / scale;
                assert!(magnitude >= output - step / 2, "{sample} -> {code:#04x}");
                assert!(
                    magnitude < output + step / 2 || output == top,
                    "{sample} -> {code:#04x}"
                );
            }
        }
    }

    #[test]
    fn negative_samples_mirror_their_ones_complement() {
        for sample in 0..=i16::MAX {
            assert_eq!(
                linear_to_ulaw(!sample),
                linear_to_ulaw(sample) ^ 0x80,
                "µ-law {sample}"
            );
            assert_eq!(
                linear_to_alaw(!sample),
                linear_to_alaw(sample) ^ 0x80,
                "A-law {sample}"
            );
        }
    }

    #[test]
    fn encoding_saturates_and_stays_monotonic() {
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        let mut previous = (i16::MIN, i16::MIN);
        for sample in i16::MIN..=i16::MAX {
            let decoded = (
                ulaw_to_linear(linear_to_ulaw(sample)),
                alaw_to_linear(linear_to_alaw(sample)),
            );
            assert!(
                decoded.0 >= previous.0 && decoded.1 >= previous.1,
                "at {sample}"
            );
            previous = decoded;
        }
    }
}
