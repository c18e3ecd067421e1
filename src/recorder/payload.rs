//! Which payload type means what on a leg: RFC 3551's static types plus the dynamic ones that
//! signalling (SDP `a=rtpmap`) or the operator (`--pt 111=opus/48000`) names.

use crate::media::codec::{Codec, PayloadKind};

/// What one payload type carries and the RTP clock its timestamps run on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PayloadType {
    pub kind: PayloadKind,
    pub clock_rate: u32,
}

/// Payload types 0..=127 of one leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadMap([Option<PayloadType>; 128]);

/// A mapping the operator or SDP gave that callrec cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadMapError {
    /// Not of the form `N=NAME/RATE`.
    #[error("payload mapping '{0}' is not of the form N=NAME/RATE (e.g. 111=opus/48000)")]
    Syntax(String),
    /// The payload type number is outside 0..=127 (RFC 3550 §5.1: 7 bits).
    #[error("payload type {0} is outside 0..=127")]
    Number(String),
    /// The encoding name is not one callrec decodes.
    #[error("codec '{0}' is not supported (PCMU, PCMA, G722, opus, telephone-event, CN)")]
    Codec(String),
    /// The clock rate is not a positive number.
    #[error("clock rate '{0}' is not a positive number")]
    Rate(String),
    /// Opus named with a clock rate other than 48000: RTP Opus always runs at 48000 (RFC 7587
    /// §4.1), so another rate is a mistake that would play the call at the wrong speed.
    #[error("opus/{0}: RTP Opus always has clock rate 48000 (RFC 7587), whatever its audio bandwidth: write N=opus/48000")]
    OpusRate(u32),
}

impl PayloadMap {
    /// No payload type known.
    pub fn empty() -> Self {
        PayloadMap([None; 128])
    }

    /// The static audio types of RFC 3551 §6 that callrec decodes: 0, 8, 9 and 13.
    pub fn with_static() -> Self {
        let mut map = Self::empty();
        for pt in 0..128u8 {
            if let Some(kind) = Codec::from_static_payload_type(pt) {
                map.0[usize::from(pt)] = Some(PayloadType {
                    kind,
                    clock_rate: 8000,
                });
            }
        }
        map
    }

    pub fn get(&self, pt: u8) -> Option<PayloadType> {
        self.0.get(usize::from(pt)).copied().flatten()
    }

    pub fn insert(&mut self, pt: u8, payload: PayloadType) {
        if let Some(slot) = self.0.get_mut(usize::from(pt)) {
            *slot = Some(payload);
        }
    }

    /// Keeps only the types in `seen` (what a leg actually sent), so the recording's rate
    /// follows the codecs in use rather than every codec that could have been.
    pub fn retain(&mut self, seen: &[u8]) {
        for (pt, slot) in self.0.iter_mut().enumerate() {
            if !seen.iter().any(|&s| usize::from(s) == pt) {
                *slot = None;
            }
        }
    }

    /// The audio codecs this map can decode.
    pub fn codecs(&self) -> impl Iterator<Item = Codec> + '_ {
        self.0.iter().flatten().filter_map(|p| match p.kind {
            PayloadKind::Audio(codec) => Some(codec),
            _ => None,
        })
    }

    /// Parses `N=NAME/RATE` (the SDP rtpmap form; a trailing `/CHANNELS` is accepted).
    pub fn parse_mapping(text: &str) -> Result<(u8, PayloadType), PayloadMapError> {
        let syntax = || PayloadMapError::Syntax(text.to_string());
        let (number, encoding) = text.split_once('=').ok_or_else(syntax)?;
        let mut parts = encoding.split('/');
        let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(syntax)?;
        let rate = parts.next().ok_or_else(syntax)?;
        let pt: u8 = number
            .trim()
            .parse()
            .ok()
            .filter(|&n: &u8| n < 128)
            .ok_or_else(|| PayloadMapError::Number(number.to_string()))?;
        let clock_rate: u32 = rate
            .trim()
            .parse()
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| PayloadMapError::Rate(rate.to_string()))?;
        let kind = PayloadKind::from_name(name.trim())
            .ok_or_else(|| PayloadMapError::Codec(name.to_string()))?;
        // RFC 7587 §4.1: RTP Opus always states 48000, whatever rate the encoder ran at.
        let opus = PayloadKind::Audio(Codec::Opus);
        if kind == opus && clock_rate != Codec::Opus.rtp_clock_rate() {
            return Err(PayloadMapError::OpusRate(clock_rate));
        }
        Ok((pt, PayloadType { kind, clock_rate }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_types_are_pcmu_pcma_g722_and_cn() {
        let map = PayloadMap::with_static();
        assert_eq!(
            map.get(0).map(|p| p.kind),
            Some(PayloadKind::Audio(Codec::Pcmu))
        );
        assert_eq!(
            map.get(8).map(|p| p.kind),
            Some(PayloadKind::Audio(Codec::Pcma))
        );
        assert_eq!(
            map.get(9).map(|p| p.kind),
            Some(PayloadKind::Audio(Codec::G722))
        );
        assert_eq!(map.get(9).map(|p| p.clock_rate), Some(8000));
        assert_eq!(map.get(13).map(|p| p.kind), Some(PayloadKind::ComfortNoise));
        assert_eq!(map.get(18), None);
        assert_eq!(map.get(200), None);
    }

    #[test]
    fn mappings_parse_like_rtpmap() {
        let cases = [
            (
                "111=opus/48000",
                111,
                PayloadKind::Audio(Codec::Opus),
                48000,
            ),
            (
                "111=opus/48000/2",
                111,
                PayloadKind::Audio(Codec::Opus),
                48000,
            ),
            (
                "101=telephone-event/8000",
                101,
                PayloadKind::TelephoneEvent,
                8000,
            ),
            ("96=PCMU/8000", 96, PayloadKind::Audio(Codec::Pcmu), 8000),
        ];
        for (text, pt, kind, clock_rate) in cases {
            assert_eq!(
                PayloadMap::parse_mapping(text),
                Ok((pt, PayloadType { kind, clock_rate })),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_mappings_say_what_is_wrong() {
        let cases = [
            ("opus", PayloadMapError::Syntax("opus".into())),
            ("128=opus/48000", PayloadMapError::Number("128".into())),
            ("x=opus/48000", PayloadMapError::Number("x".into())),
            ("96=speex/8000", PayloadMapError::Codec("speex".into())),
            ("96=opus/0", PayloadMapError::Rate("0".into())),
            ("111=opus/8000", PayloadMapError::OpusRate(8000)),
            ("111=opus/16000", PayloadMapError::OpusRate(16000)),
            ("96=/8000", PayloadMapError::Syntax("96=/8000".into())),
        ];
        for (text, err) in cases {
            assert_eq!(PayloadMap::parse_mapping(text), Err(err), "{text}");
        }
    }

    #[test]
    fn retain_keeps_only_what_was_seen() {
        let mut map = PayloadMap::with_static();
        map.retain(&[0, 13]);
        assert_eq!(map.codecs().collect::<Vec<_>>(), vec![Codec::Pcmu]);
        assert!(map.get(13).is_some() && map.get(9).is_none());
    }
}
