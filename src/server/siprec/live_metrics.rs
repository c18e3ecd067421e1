//! The recording server's counters as Prometheus text: calls, packets by outcome, loss,
//! interarrival jitter, encode time, the delays to the shards and to decode, spool and upload
//! backlog (in all and by destination), errors. The cores keep plain counters; this is the
//! one place that names them for the outside.

use super::shard::ShardMetrics;
use super::uploader::UploadMetrics;
use crate::store::upload_schedule::DestinationBacklog;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Counters `/metrics` shows for signalling and media sockets (kept by the driver, the call
/// table and the transports).
#[derive(Debug, Default)]
pub struct SipMetrics {
    pub calls_active: AtomicU64,
    pub calls_total: AtomicU64,
    pub calls_rejected: AtomicU64,
    pub calls_idle_ended: AtomicU64,
    pub packets_kept: AtomicU64,
    pub packets_foreign: AtomicU64,
    pub packets_not_latchable: AtomicU64,
    pub sip_requests: AtomicU64,
    pub sip_unanswerable: AtomicU64,
    /// TCP or TLS connections closed at once: `MAX_CONNECTIONS` were open.
    pub connections_refused: AtomicU64,
    /// BYEs we sent to end calls ourselves, and those never answered.
    pub byes_sent: AtomicU64,
    pub byes_unanswered: AtomicU64,
    /// Answered calls we ended because their recording failed.
    pub calls_recording_failed: AtomicU64,
    /// On Demand sessions that ended without the user's start: nothing stored.
    pub calls_never_started: AtomicU64,
    /// TCP or TLS connections closed after `sip.connection_idle_secs` without a byte.
    pub connections_idle_closed: AtomicU64,
    pub draining: AtomicU64,
}

/// Everything `serve` counts besides the admin API.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    pub sip: Arc<SipMetrics>,
    pub shards: Arc<ShardMetrics>,
    pub uploads: Arc<UploadMetrics>,
}

impl LiveMetrics {
    /// Ready for calls: listening and not draining.
    pub fn ready(&self) -> bool {
        self.sip.draining.load(Relaxed) == 0
    }

    pub fn render(&self) -> String {
        let (sip, shards, uploads) = (&self.sip, &self.shards, &self.uploads);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Relaxed);
        metric(
            "callrec_calls_active",
            "gauge",
            "Calls being recorded.",
            &[("", load(&sip.calls_active))],
        );
        metric(
            "callrec_calls_total",
            "counter",
            "Calls accepted for recording.",
            &[("", load(&sip.calls_total))],
        );
        metric(
            "callrec_calls_rejected_total",
            "counter",
            "Recording sessions refused (policy, capacity, bad offers).",
            &[("", load(&sip.calls_rejected))],
        );
        metric(
            "callrec_calls_idle_ended_total",
            "counter",
            "Calls ended because the client went silent.",
            &[("", load(&sip.calls_idle_ended))],
        );
        metric(
            "callrec_recordings_total",
            "counter",
            "Recordings committed to the spool, or failed.",
            &[
                ("{outcome=\"stored\"}", load(&shards.calls_stored)),
                ("{outcome=\"failed\"}", load(&shards.calls_failed)),
            ],
        );
        metric(
            "callrec_packets_total",
            "counter",
            "Media datagrams by outcome (socket counts are added when a call ends).",
            &[
                ("{outcome=\"recorded\"}", load(&shards.packets)),
                ("{outcome=\"kept\"}", load(&sip.packets_kept)),
                ("{outcome=\"foreign_source\"}", load(&sip.packets_foreign)),
                ("{outcome=\"not_rtp\"}", load(&sip.packets_not_latchable)),
                ("{outcome=\"queue_full\"}", load(&shards.packets_queue_full)),
                (
                    "{outcome=\"unknown_call\"}",
                    load(&shards.packets_unknown_call),
                ),
            ],
        );
        metric(
            "callrec_live_syncs_deferred_total",
            "counter",
            "Live calls' file syncs put off a tick because their syncer's queue was full.",
            &[("", load(&shards.live_syncs_deferred))],
        );
        metric(
            "callrec_packets_lost_total",
            "counter",
            "RTP packets the senders sent that never arrived (from finished calls).",
            &[("", load(&shards.packets_lost))],
        );
        metric(
            "callrec_record_seconds_total",
            "counter",
            "Time the media shards spent decoding, mixing, encoding and writing.",
            &[],
        );
        let _ = writeln!(
            out,
            "callrec_record_seconds_total {}",
            load(&shards.record_nanos) as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "# HELP callrec_audio_dropped_seconds_total Audio of finished calls that arrived too late (or too far ahead) to be placed.\n\
             # TYPE callrec_audio_dropped_seconds_total counter\n\
             callrec_audio_dropped_seconds_total {}",
            load(&shards.audio_dropped_ms) as f64 / 1e3
        );
        for (name, help, delay) in [
            (
                "callrec_packet_delay_seconds",
                "From a packet's arrival to the recorder",
                &shards.packet_delay,
            ),
            (
                "callrec_decode_delay_seconds",
                "From a packet's arrival to its decode, the jitter buffer's wait included",
                &shards.decode_delay,
            ),
            (
                "callrec_interarrival_jitter_seconds",
                "Finished calls' legs' largest RFC 3550 interarrival jitter",
                &shards.interarrival_jitter,
            ),
            (
                "callrec_live_sync_seconds",
                "The fdatasync of a live call's file, made about once a second so a crash loses at most about a second",
                &shards.live_sync,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}, upper bound of the bucket at the quantile.\n# TYPE {name} gauge"
            );
            for q in [0.5, 0.99] {
                let value = delay.quantile(q).map_or(0.0, |d| d.as_secs_f64());
                let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {value}");
            }
        }
        let counters = [
            (
                "callrec_sip_requests_total",
                "counter",
                "SIP requests received.",
                &sip.sip_requests,
            ),
            (
                "callrec_sip_unanswerable_total",
                "counter",
                "Datagrams or requests too broken to answer.",
                &sip.sip_unanswerable,
            ),
            (
                "callrec_sip_byes_sent_total",
                "counter",
                "BYEs sent to end calls the recorder ended itself (idle, drain deadline).",
                &sip.byes_sent,
            ),
            (
                "callrec_sip_byes_unanswered_total",
                "counter",
                "BYEs that got no final response within 64*T1.",
                &sip.byes_unanswered,
            ),
            (
                "callrec_calls_recording_failed_total",
                "counter",
                "Answered calls ended with a BYE (Reason cause 503) because their recording failed.",
                &sip.calls_recording_failed,
            ),
            (
                "callrec_calls_never_started_total",
                "counter",
                "On Demand sessions that ended without the user's start: nothing was stored.",
                &sip.calls_never_started,
            ),
            (
                "callrec_sip_connections_idle_closed_total",
                "counter",
                "TCP or TLS connections closed after sip.connection_idle_secs with no message and no call.",
                &sip.connections_idle_closed,
            ),
            (
                "callrec_sip_connections_refused_total",
                "counter",
                "TCP or TLS connections closed on arrival: too many were open.",
                &sip.connections_refused,
            ),
            (
                "callrec_upload_backlog",
                "gauge",
                "Recordings waiting in the spool for upload.",
                &uploads.backlog,
            ),
            (
                "callrec_uploads_total",
                "counter",
                "Recordings stored and verified.",
                &uploads.stored,
            ),
            (
                "callrec_upload_errors_total",
                "counter",
                "Upload attempts that failed.",
                &uploads.failures,
            ),
            (
                "callrec_draining",
                "gauge",
                "1 while the server drains after SIGTERM.",
                &sip.draining,
            ),
        ];
        for (name, kind, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                load(counter)
            );
        }
        render_destinations(&mut out, &uploads.destinations());
        out
    }
}

/// Each upload destination's backlog, whether it is failing, and its failures, labelled by
/// its URL without credentials.
fn render_destinations(out: &mut String, destinations: &BTreeMap<String, DestinationBacklog>) {
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&DestinationBacklog) -> u64,
    );
    let families: [Family; 3] = [
        (
            "callrec_upload_destination_backlog",
            "gauge",
            "Recordings waiting in the spool for upload, by destination.",
            |d| d.backlog,
        ),
        (
            "callrec_upload_destination_failing",
            "gauge",
            "1 while uploads to the destination fail and it is retried with backoff.",
            |d| u64::from(d.failing),
        ),
        (
            "callrec_upload_destination_errors_total",
            "counter",
            "Upload attempts to the destination that failed.",
            |d| d.failures,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (destination, state) in destinations {
            let label = label_value(destination);
            let _ = writeln!(out, "{name}{{destination=\"{label}\"}} {}", value(state));
        }
    }
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_metric_has_its_help_type_and_value() {
        let metrics = LiveMetrics::default();
        metrics.sip.byes_sent.store(3, Relaxed);
        metrics.uploads.backlog.store(7, Relaxed);
        metrics.uploads.destinations.lock().unwrap().insert(
            "s3://acme-\"rec\"/x".into(),
            DestinationBacklog {
                backlog: 5,
                running: 1,
                failing: true,
                failures: 9,
            },
        );
        metrics
            .shards
            .decode_delay
            .record(Duration::from_millis(70));
        let text = metrics.render();
        assert!(text.contains(
            "# TYPE callrec_sip_byes_sent_total counter\ncallrec_sip_byes_sent_total 3\n"
        ));
        assert!(text.contains("# TYPE callrec_upload_backlog gauge\ncallrec_upload_backlog 7\n"));
        for line in [
            "callrec_upload_destination_backlog{destination=\"s3://acme-\\\"rec\\\"/x\"} 5\n",
            "callrec_upload_destination_failing{destination=\"s3://acme-\\\"rec\\\"/x\"} 1\n",
            "callrec_upload_destination_errors_total{destination=\"s3://acme-\\\"rec\\\"/x\"} 9\n",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        // 70 ms lies in [65.536, 81.92) ms.
        assert!(text.contains("callrec_decode_delay_seconds{quantile=\"0.99\"} 0.08192\n"));
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "each metric once");
        for name in names {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(
                text.lines()
                    .any(|l| l.starts_with(name) && !l.starts_with('#')),
                "{name} has a value"
            );
        }
    }
}
