//! The recording server's counters for `/metrics`: calls, packets by outcome, loss,
//! interarrival jitter, encode time, the delays to the shards and to decode, spool and upload
//! backlog (in all and by destination), errors. The cores keep plain counters; this is the
//! one place that names them for the outside.
//!
//! Why `prometheus-client` (the official Prometheus crate) writes the text: it gives the
//! standard OpenMetrics exposition (HELP and TYPE lines, `_total` on counters, label values
//! escaped, the closing `# EOF`) that every scraper reads, instead of a format of our own to
//! keep right. Why the plain `AtomicU64`s stay: the media shards and the SIP server bump them
//! with one relaxed add, and [`LiveMetrics`] is a [`Collector`] that reads them only when
//! `/metrics` is scraped, so the crate adds nothing to the media path (no registry, no lock,
//! no label lookup per packet).

use super::shard::ShardMetrics;
use super::uploader::UploadMetrics;
use crate::server::process_cpu;
use crate::store::upload_schedule::DestinationBacklog;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::fmt;
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
    /// New INVITEs answered 503 because they were read too late (`sip.max_invite_wait_ms`).
    pub sip_stale_invites: AtomicU64,
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
    /// Requests answered 403 because their source is not in `sip.allow`.
    pub refused_address: AtomicU64,
    /// TLS handshakes failed on the client's certificate (mutual TLS).
    pub refused_certificate: AtomicU64,
    pub draining: AtomicU64,
}

/// Everything `serve` counts besides the admin API.
#[derive(Debug, Default, Clone)]
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

    /// These counters alone as OpenMetrics text (`/metrics` encodes them with the admin API's
    /// through the same [`Collector`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("the collector only fails when its writer does, and a String never does");
        text
    }
}

/// Read at each scrape: the counters the media path bumps, as they are at that moment.
/// Counters are named without `_total`, which the encoder appends to their samples.
impl Collector for LiveMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let out = &mut encoder;
        let (sip, shards, uploads) = (&self.sip, &self.shards, &self.uploads);
        let count = |c: &AtomicU64| ConstCounter::new(c.load(Relaxed));
        let level = |c: &AtomicU64| ConstGauge::new(c.load(Relaxed));
        one(
            out,
            "callrec_calls_active",
            "Calls being recorded.",
            level(&sip.calls_active),
        )?;
        one(
            out,
            "callrec_calls",
            "Calls accepted for recording.",
            count(&sip.calls_total),
        )?;
        one(
            out,
            "callrec_calls_rejected",
            "Recording sessions refused (policy, capacity, bad offers).",
            count(&sip.calls_rejected),
        )?;
        one(
            out,
            "callrec_calls_idle_ended",
            "Calls ended because the client went silent.",
            count(&sip.calls_idle_ended),
        )?;
        by_label(
            out,
            "callrec_recordings",
            "Recordings committed to the spool, or failed.",
            "outcome",
            [
                ("stored", count(&shards.calls_stored)),
                ("failed", count(&shards.calls_failed)),
            ],
        )?;
        by_label(
            out,
            "callrec_packets",
            "Media datagrams by outcome (socket counts are added when a call ends).",
            "outcome",
            [
                ("recorded", count(&shards.packets)),
                ("kept", count(&sip.packets_kept)),
                ("foreign_source", count(&sip.packets_foreign)),
                ("not_rtp", count(&sip.packets_not_latchable)),
                ("queue_full", count(&shards.packets_queue_full)),
                ("unknown_call", count(&shards.packets_unknown_call)),
            ],
        )?;
        by_label(
            out,
            "callrec_srtp_packets",
            "SRTP and SRTCP datagrams authenticated and decrypted before the recorder.",
            "kind",
            [
                ("rtp", count(&shards.srtp_decrypted)),
                ("rtcp", count(&shards.srtcp_decrypted)),
            ],
        )?;
        by_label(
            out,
            "callrec_srtp_dropped",
            "SRTP and SRTCP datagrams dropped, never decoded: their tag did not verify (tampered, another key), replayed, or too short for SRTP.",
            "reason",
            [
                ("authentication", count(&shards.srtp_auth_failed)),
                ("replayed", count(&shards.srtp_replayed)),
                ("malformed", count(&shards.srtp_malformed)),
            ],
        )?;
        one(
            out,
            "callrec_live_syncs_deferred",
            "Live calls' file syncs put off a tick because their syncer's queue was full.",
            count(&shards.live_syncs_deferred),
        )?;
        one(
            out,
            "callrec_packets_lost",
            "RTP packets the senders sent that never arrived (from finished calls).",
            count(&shards.packets_lost),
        )?;
        one(
            out,
            "callrec_record_seconds",
            "Time the media shards spent decoding, mixing, encoding and writing.",
            ConstCounter::new(shards.record_nanos.load(Relaxed) as f64 / 1e9),
        )?;
        one(
            out,
            "callrec_audio_dropped_seconds",
            "Audio of finished calls that arrived too late (or too far ahead) to be placed.",
            ConstCounter::new(shards.audio_dropped_ms.load(Relaxed) as f64 / 1e3),
        )?;
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
            // Gauges labelled by quantile, as before: a histogram's buckets would be a new
            // family under another name for the dashboards that read these.
            by_label(
                out,
                name,
                &format!("{help}, upper bound of the bucket at the quantile."),
                "quantile",
                [0.5, 0.99].map(|q| {
                    let value = delay.quantile(q).map_or(0.0, |d| d.as_secs_f64());
                    (q, ConstGauge::new(value))
                }),
            )?;
        }
        for (name, help, counter) in [
            (
                "callrec_sip_requests",
                "SIP requests received.",
                &sip.sip_requests,
            ),
            (
                "callrec_sip_unanswerable",
                "Datagrams or requests too broken to answer.",
                &sip.sip_unanswerable,
            ),
            (
                "callrec_sip_stale_invites",
                "New INVITEs answered 503 because they waited in the socket longer than \
                 sip.max_invite_wait_ms (the server stalled; the client has moved on).",
                &sip.sip_stale_invites,
            ),
            (
                "callrec_sip_byes_sent",
                "BYEs sent to end calls the recorder ended itself (idle, drain deadline).",
                &sip.byes_sent,
            ),
            (
                "callrec_sip_byes_unanswered",
                "BYEs that got no final response within 64*T1.",
                &sip.byes_unanswered,
            ),
            (
                "callrec_calls_recording_failed",
                "Answered calls ended with a BYE (Reason cause 503) because their recording failed.",
                &sip.calls_recording_failed,
            ),
            (
                "callrec_calls_never_started",
                "On Demand sessions that ended without the user's start: nothing was stored.",
                &sip.calls_never_started,
            ),
            (
                "callrec_sip_connections_idle_closed",
                "TCP or TLS connections closed after sip.connection_idle_secs with no message and no call.",
                &sip.connections_idle_closed,
            ),
            (
                "callrec_sip_connections_refused",
                "TCP or TLS connections closed on arrival: too many were open.",
                &sip.connections_refused,
            ),
        ] {
            one(out, name, help, count(counter))?;
        }
        by_label(
            out,
            "callrec_sip_refused_clients",
            "Clients refused: requests from a source not in sip.allow (answered 403), TLS handshakes failing client certificate verification.",
            "reason",
            [
                ("address", count(&sip.refused_address)),
                ("certificate", count(&sip.refused_certificate)),
            ],
        )?;
        one(
            out,
            "callrec_upload_backlog",
            "Recordings waiting in the spool for upload.",
            level(&uploads.backlog),
        )?;
        one(
            out,
            "callrec_uploads",
            "Recordings stored and verified.",
            count(&uploads.stored),
        )?;
        one(
            out,
            "callrec_upload_errors",
            "Upload attempts that failed.",
            count(&uploads.failures),
        )?;
        one(
            out,
            "callrec_draining",
            "1 while the server drains after SIGTERM.",
            level(&sip.draining),
        )?;
        if let Some(seconds) = process_cpu::seconds() {
            one(
                out,
                "process_cpu_seconds",
                "CPU time the process has used, user and system, every thread.",
                ConstCounter::new(seconds),
            )?;
        }
        encode_destinations(out, &uploads.destinations())
    }
}

/// Each upload destination's backlog, whether it is failing, and its failures, labelled by
/// its URL without credentials.
fn encode_destinations(
    out: &mut DescriptorEncoder,
    destinations: &BTreeMap<String, DestinationBacklog>,
) -> fmt::Result {
    by_label(
        out,
        "callrec_upload_destination_backlog",
        "Recordings waiting in the spool for upload, by destination.",
        "destination",
        destinations
            .iter()
            .map(|(url, d)| (url.as_str(), ConstGauge::new(d.backlog))),
    )?;
    by_label(
        out,
        "callrec_upload_destination_failing",
        "1 while uploads to the destination fail and it is retried with backoff.",
        "destination",
        destinations
            .iter()
            .map(|(url, d)| (url.as_str(), ConstGauge::new(u64::from(d.failing)))),
    )?;
    by_label(
        out,
        "callrec_upload_destination_errors",
        "Upload attempts to the destination that failed.",
        "destination",
        destinations
            .iter()
            .map(|(url, d)| (url.as_str(), ConstCounter::new(d.failures))),
    )
}

/// A family of one unlabelled sample.
fn one<M: EncodeMetric + TypedMetric>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    sample: M,
) -> fmt::Result {
    sample.encode(out.encode_descriptor(name, help, None, M::TYPE)?)
}

/// A family of samples told apart by one label (the encoder escapes its values); its HELP and
/// TYPE even when it has no sample yet.
fn by_label<V: EncodeLabelValue, M: EncodeMetric + TypedMetric>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (V, M)>,
) -> fmt::Result {
    let mut family = out.encode_descriptor(name, help, None, M::TYPE)?;
    for (value, sample) in samples {
        let labels = [(label, value)];
        sample.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every sample `/metrics` showed before the crate wrote it, in order, as dashboards read
    /// them: the names and labels must not change.
    const SAMPLES: [&str; 48] = [
        "callrec_calls_active",
        "callrec_calls_total",
        "callrec_calls_rejected_total",
        "callrec_calls_idle_ended_total",
        "callrec_recordings_total{outcome=\"stored\"}",
        "callrec_recordings_total{outcome=\"failed\"}",
        "callrec_packets_total{outcome=\"recorded\"}",
        "callrec_packets_total{outcome=\"kept\"}",
        "callrec_packets_total{outcome=\"foreign_source\"}",
        "callrec_packets_total{outcome=\"not_rtp\"}",
        "callrec_packets_total{outcome=\"queue_full\"}",
        "callrec_packets_total{outcome=\"unknown_call\"}",
        "callrec_srtp_packets_total{kind=\"rtp\"}",
        "callrec_srtp_packets_total{kind=\"rtcp\"}",
        "callrec_srtp_dropped_total{reason=\"authentication\"}",
        "callrec_srtp_dropped_total{reason=\"replayed\"}",
        "callrec_srtp_dropped_total{reason=\"malformed\"}",
        "callrec_live_syncs_deferred_total",
        "callrec_packets_lost_total",
        "callrec_record_seconds_total",
        "callrec_audio_dropped_seconds_total",
        "callrec_packet_delay_seconds{quantile=\"0.5\"}",
        "callrec_packet_delay_seconds{quantile=\"0.99\"}",
        "callrec_decode_delay_seconds{quantile=\"0.5\"}",
        "callrec_decode_delay_seconds{quantile=\"0.99\"}",
        "callrec_interarrival_jitter_seconds{quantile=\"0.5\"}",
        "callrec_interarrival_jitter_seconds{quantile=\"0.99\"}",
        "callrec_live_sync_seconds{quantile=\"0.5\"}",
        "callrec_live_sync_seconds{quantile=\"0.99\"}",
        "callrec_sip_requests_total",
        "callrec_sip_unanswerable_total",
        "callrec_sip_stale_invites_total",
        "callrec_sip_byes_sent_total",
        "callrec_sip_byes_unanswered_total",
        "callrec_calls_recording_failed_total",
        "callrec_calls_never_started_total",
        "callrec_sip_connections_idle_closed_total",
        "callrec_sip_connections_refused_total",
        "callrec_sip_refused_clients_total{reason=\"address\"}",
        "callrec_sip_refused_clients_total{reason=\"certificate\"}",
        "callrec_upload_backlog",
        "callrec_uploads_total",
        "callrec_upload_errors_total",
        "callrec_draining",
        "process_cpu_seconds_total",
        "callrec_upload_destination_backlog{destination=\"s3://acme-\\\"rec\\\"/x\"}",
        "callrec_upload_destination_failing{destination=\"s3://acme-\\\"rec\\\"/x\"}",
        "callrec_upload_destination_errors_total{destination=\"s3://acme-\\\"rec\\\"/x\"}",
    ];

    /// Counters with values, one destination whose URL needs escaping, one delay recorded.
    fn busy() -> LiveMetrics {
        let metrics = LiveMetrics::default();
        metrics.sip.byes_sent.store(3, Relaxed);
        metrics.sip.calls_total.store(11, Relaxed);
        metrics.shards.packets_queue_full.store(2, Relaxed);
        metrics.shards.record_nanos.store(1_500_000_000, Relaxed);
        metrics.shards.audio_dropped_ms.store(250, Relaxed);
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
        metrics
    }

    #[test]
    fn every_sample_keeps_its_name_and_labels() {
        let text = busy().render();
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').expect("name and value").0)
            .collect();
        assert_eq!(samples, SAMPLES, "{text}");
    }

    #[test]
    fn values_are_read_from_the_counters_at_each_render() {
        let metrics = busy();
        let text = metrics.render();
        for line in [
            "# TYPE callrec_sip_byes_sent counter\ncallrec_sip_byes_sent_total 3\n",
            "# TYPE callrec_calls counter\ncallrec_calls_total 11\n",
            "# TYPE callrec_upload_backlog gauge\ncallrec_upload_backlog 7\n",
            "callrec_packets_total{outcome=\"queue_full\"} 2\n",
            "callrec_record_seconds_total 1.5\n",
            "callrec_audio_dropped_seconds_total 0.25\n",
            // The quotes in the URL escaped, as OpenMetrics (and Prometheus before it) says.
            "callrec_upload_destination_backlog{destination=\"s3://acme-\\\"rec\\\"/x\"} 5\n",
            "callrec_upload_destination_failing{destination=\"s3://acme-\\\"rec\\\"/x\"} 1\n",
            "callrec_upload_destination_errors_total{destination=\"s3://acme-\\\"rec\\\"/x\"} 9\n",
            // 70 ms lies in [65.536, 81.92) ms.
            "# TYPE callrec_decode_delay_seconds gauge\n",
            "callrec_decode_delay_seconds{quantile=\"0.99\"} 0.08192\n",
            "callrec_packet_delay_seconds{quantile=\"0.99\"} 0.0\n",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        metrics.sip.byes_sent.fetch_add(1, Relaxed);
        assert!(metrics.render().contains("callrec_sip_byes_sent_total 4\n"));
    }

    #[test]
    fn every_family_has_its_help_and_type_once_and_the_text_ends_with_eof() {
        let text = busy().render();
        assert!(text.ends_with("\n# EOF\n"), "{text}");
        let mut families: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split_once(' ').expect("name and type"))
            .collect();
        assert_eq!(families.len(), 34);
        for (name, kind) in &families {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            let sample = match *kind {
                "counter" => format!("{name}_total"),
                "gauge" => name.to_string(),
                other => panic!("{name}: {other}"),
            };
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{sample} "))
                    || l.starts_with(&format!("{sample}{{"))),
                "{name} has a value"
            );
        }
        let count = families.len();
        families.sort();
        families.dedup();
        assert_eq!(families.len(), count, "each family once");
    }
}
