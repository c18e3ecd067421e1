//! The one synthetic call that `callrec bench` records and `callrec loadtest` sends: two PCMU
//! legs of -12 dBFS tones (leg A at [`FREQ_A`], leg B at [`FREQ_B`]), made by callrec's fixture
//! generator. Both commands take it from here, and record it through [`record_once`], so the
//! recorder-alone cost the load test sets beside a live server's is the bench's cost for the
//! very same audio, not a look-alike.

use bytes::Bytes;
use callrec::encode::Format;
use callrec::media::codec::Codec;
use callrec::pcap::{CaptureFormat, CaptureReader, LinkType};
use callrec::recorder::payload::PayloadMap;
use callrec::recorder::{FileChunk, Leg, Recorder, RecorderConfig};
use callrec::rtp::RtpPacket;
use callrec::synth::{generate, LegSpec, FREQ_A, FREQ_B};
use callrec::time::Time;
use std::time::Duration;

/// Each RTP datagram of the call, in arrival order: when it arrived and on which leg.
pub type Packets = Vec<(Time, Leg, Bytes)>;

/// The call, `secs` long: both legs' RTP datagrams as a capture of them holds them.
pub fn call(secs: u64) -> Result<Packets, String> {
    let legs: Vec<LegSpec> = [(FREQ_A, 0), (FREQ_B, 1)]
        .map(|(f, i)| {
            let mut leg = LegSpec::tone(Codec::Pcmu, f, i);
            leg.duration = Duration::from_secs(secs);
            leg
        })
        .to_vec();
    let (capture, _) =
        generate(&legs, CaptureFormat::Pcap, LinkType::Ethernet).map_err(|e| e.to_string())?;
    let reader = CaptureReader::new(Bytes::from(capture)).map_err(|e| e.to_string())?;
    reader
        .map(|d| {
            let d = d.map_err(|e| e.to_string())?;
            let leg = if d.src == legs[0].src { Leg::A } else { Leg::B };
            Ok((d.time, leg, d.payload))
        })
        .collect()
}

/// Each leg's RTP payloads (20 ms of PCMU each), in the order the leg sent them: what the
/// load generator puts in its own RTP headers, so a live server decodes exactly the audio
/// the bench records.
pub fn leg_payloads(packets: &Packets) -> Result<[Vec<Bytes>; 2], String> {
    let mut legs = [Vec::new(), Vec::new()];
    for (_, leg, datagram) in packets {
        let rtp = RtpPacket::parse(datagram.clone()).map_err(|e| e.to_string())?;
        legs[usize::from(*leg == Leg::B)].push(rtp.payload_bytes());
    }
    Ok(legs)
}

/// What the recorder is set to for `format` at the Opus defaults (the server's unless its
/// configuration changes them).
pub fn recorder_config(format: Format) -> RecorderConfig {
    RecorderConfig {
        format,
        ..RecorderConfig::default()
    }
}

/// Records the call once, end to end, handing every chunk to `sink` as it comes out; returns
/// the bytes of its files.
pub fn record_once(
    packets: &Packets,
    config: &RecorderConfig,
    mut sink: impl FnMut(FileChunk),
) -> Result<u64, String> {
    let mut map = PayloadMap::with_static();
    map.retain(&[0]);
    let mut recorder =
        Recorder::new(config.clone(), [map.clone(), map]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (now, leg, datagram) in packets {
        recorder.push(*now, *leg, datagram.clone());
        while recorder.poll(*now, &mut out).map_err(|e| e.to_string())? {
            out.drain(..).for_each(&mut sink);
        }
        out.drain(..).for_each(&mut sink);
    }
    let summary = recorder.finish(&mut out).map_err(|e| e.to_string())?;
    out.drain(..).for_each(&mut sink);
    Ok(summary.files.iter().map(|f| f.bytes).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_leg_sends_fifty_frames_of_pcmu_a_second_of_its_own_tone() {
        let packets = call(2).expect("the synthetic call");
        let [a, b] = leg_payloads(&packets).expect("RTP");
        assert_eq!((a.len(), b.len()), (100, 100));
        assert!(a.iter().chain(&b).all(|p| p.len() == 160));
        // Different tones: the legs' frames differ (and a 440 Hz tone's frames are not all
        // alike, as one repeated frame would be).
        assert_ne!(a[0], b[0]);
        assert_ne!(a[0], a[1]);
    }
}
