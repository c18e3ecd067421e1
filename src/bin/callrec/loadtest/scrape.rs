//! What `--target` mode reads of the external server: its `/metrics`, fetched over loopback
//! and parsed into the few counters a step's figures are made of. The parsing is pure; only
//! [`fetch`] does IO.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The samples a step reads, as the server's `/metrics` names them.
pub const CPU: &str = "process_cpu_seconds_total";
pub const LOST: &str = "callrec_packets_lost_total";
pub const QUEUE_FULL: &str = "callrec_packets_total{outcome=\"queue_full\"}";
pub const AUDIO_DROPPED: &str = "callrec_audio_dropped_seconds_total";
pub const CALLS: &str = "callrec_calls_total";
pub const ACTIVE: &str = "callrec_calls_active";
pub const STORED: &str = "callrec_recordings_total{outcome=\"stored\"}";
pub const FAILED: &str = "callrec_recordings_total{outcome=\"failed\"}";
pub const UPLOADS: &str = "callrec_uploads_total";
pub const BACKLOG: &str = "callrec_upload_backlog";

/// The server's counters at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    /// CPU seconds the server has used, user and system, over all its threads.
    pub cpu: f64,
    pub lost: f64,
    pub queue_full: f64,
    pub audio_dropped_secs: f64,
    /// Calls accepted for recording.
    pub calls: f64,
    pub active: f64,
    pub stored: f64,
    pub failed: f64,
    pub uploads: f64,
    pub backlog: f64,
}

impl Counters {
    /// The counters out of a `/metrics` text; a sample missing names itself (a server without
    /// `/proc` has no CPU figure, and one that is not callrec has none of them).
    pub fn from_text(text: &str) -> Result<Counters, String> {
        let samples = samples(text);
        let get = |name: &str| {
            samples.get(name).copied().ok_or_else(|| {
                format!("the target's /metrics has no {name}: is it `callrec serve` on Linux?")
            })
        };
        Ok(Counters {
            cpu: get(CPU)?,
            lost: get(LOST)?,
            queue_full: get(QUEUE_FULL)?,
            audio_dropped_secs: get(AUDIO_DROPPED)?,
            calls: get(CALLS)?,
            active: get(ACTIVE)?,
            stored: get(STORED)?,
            failed: get(FAILED)?,
            uploads: get(UPLOADS)?,
            backlog: get(BACKLOG)?,
        })
    }

    /// These counters and `other`'s, added (two workers read as one).
    pub fn plus(&self, other: &Counters) -> Counters {
        Counters {
            cpu: self.cpu + other.cpu,
            lost: self.lost + other.lost,
            queue_full: self.queue_full + other.queue_full,
            audio_dropped_secs: self.audio_dropped_secs + other.audio_dropped_secs,
            calls: self.calls + other.calls,
            active: self.active + other.active,
            stored: self.stored + other.stored,
            failed: self.failed + other.failed,
            uploads: self.uploads + other.uploads,
            backlog: self.backlog + other.backlog,
        }
    }

    /// Whether every call accepted since `before` has ended and been stored: none active,
    /// each ended one committed to the spool (or failed), each committed one uploaded, nothing
    /// waiting in the spool. Until then the server is still paying for the step.
    pub fn settled_since(&self, before: &Counters) -> bool {
        let accepted = self.calls - before.calls;
        let ended = (self.stored - before.stored) + (self.failed - before.failed);
        self.active == 0.0
            && self.backlog == 0.0
            && ended >= accepted
            && self.uploads - before.uploads >= self.stored - before.stored
    }

    /// What is still outstanding, for the error when a step never settles.
    pub fn pending(&self, before: &Counters) -> String {
        format!(
            "{} calls active, {} recordings of {} calls committed, {} uploads waiting",
            self.active,
            (self.stored - before.stored) + (self.failed - before.failed),
            self.calls - before.calls,
            self.backlog
        )
    }
}

/// Prometheus/OpenMetrics text as `name{labels}` → value: comments and `# EOF` skipped, a
/// label value may hold spaces (the sample ends at the last `}`), a timestamp after the value
/// is ignored, and a line that does not parse is skipped rather than failing the scrape.
pub fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (name, rest) = match line.rfind('}') {
                Some(end) => line.split_at(end + 1),
                None => line.split_once(' ')?,
            };
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((name.trim().to_string(), value))
        })
        .collect()
}

/// `GET http://ADMIN/metrics`, never through a proxy (the address is on this machine).
pub async fn fetch(client: &reqwest::Client, admin: SocketAddr) -> Result<Counters, String> {
    let url = format!("http://{admin}/metrics");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    Counters::from_text(&text)
}

/// Every server's counters summed: a fleet behind a balancer read as one server (each
/// counter, the CPU and the backlogs add up; "settled" then means settled on every worker).
pub async fn fetch_all(
    client: &reqwest::Client,
    admins: &[SocketAddr],
) -> Result<Counters, String> {
    let mut sum = Counters::default();
    for &admin in admins {
        sum = sum.plus(&fetch(client, admin).await?);
    }
    Ok(sum)
}

/// The client [`fetch`] uses: no proxy, a timeout so a stuck server fails the run.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "# HELP callrec_calls_active Calls being recorded.\n\
        # TYPE callrec_calls_active gauge\n\
        callrec_calls_active 3\n\
        callrec_calls_total 12\n\
        callrec_recordings_total{outcome=\"stored\"} 8\n\
        callrec_recordings_total{outcome=\"failed\"} 1\n\
        callrec_packets_total{outcome=\"recorded\"} 4000\n\
        callrec_packets_total{outcome=\"queue_full\"} 7\n\
        callrec_packets_lost_total 2\n\
        callrec_audio_dropped_seconds_total 0.06\n\
        callrec_upload_backlog 1\n\
        callrec_uploads_total 7\n\
        callrec_destination_backlog{destination=\"s3://a b/c\"} 4 1700000000\n\
        process_cpu_seconds_total 12.5\n\
        not a sample\n\
        # EOF\n";

    #[test]
    fn samples_are_read_by_name_and_labels_past_spaces_and_timestamps() {
        let s = samples(SCRAPE);
        assert_eq!(s["callrec_calls_active"], 3.0);
        assert_eq!(s["callrec_packets_total{outcome=\"queue_full\"}"], 7.0);
        assert_eq!(s["callrec_packets_total{outcome=\"recorded\"}"], 4000.0);
        assert_eq!(
            s["callrec_destination_backlog{destination=\"s3://a b/c\"}"],
            4.0
        );
        assert_eq!(s["process_cpu_seconds_total"], 12.5);
        assert!(!s.keys().any(|k| k.starts_with('#') || k.starts_with("not")));
    }

    #[test]
    fn the_counters_a_step_needs_come_out_of_the_text() {
        let c = Counters::from_text(SCRAPE).expect("every sample is there");
        assert_eq!(
            c,
            Counters {
                cpu: 12.5,
                lost: 2.0,
                queue_full: 7.0,
                audio_dropped_secs: 0.06,
                calls: 12.0,
                active: 3.0,
                stored: 8.0,
                failed: 1.0,
                uploads: 7.0,
                backlog: 1.0,
            }
        );
    }

    #[test]
    fn workers_add_up_to_one_fleet_settled_only_when_each_is() {
        let one = Counters::from_text(SCRAPE).expect("parsed");
        let idle = Counters {
            active: 0.0,
            backlog: 0.0,
            ..one
        };
        let fleet = one.plus(&idle);
        assert_eq!(fleet.cpu, 25.0);
        assert_eq!(fleet.calls, 24.0);
        assert_eq!(fleet.active, 3.0);
        assert!(
            !fleet.settled_since(&Counters::default()),
            "one worker busy"
        );
        assert_eq!(idle.plus(&Counters::default()), idle);
    }

    #[test]
    fn a_missing_sample_is_named() {
        let without_cpu = SCRAPE.replace("process_cpu_seconds_total 12.5\n", "");
        let err = Counters::from_text(&without_cpu).expect_err("no CPU figure");
        assert!(err.contains("process_cpu_seconds_total"), "{err}");
        let err = Counters::from_text("<html>hello</html>").expect_err("not metrics");
        assert!(err.contains("callrec serve"), "{err}");
    }

    #[test]
    fn a_step_has_settled_once_every_call_is_ended_committed_and_uploaded() {
        let before = Counters {
            calls: 10.0,
            stored: 9.0,
            failed: 1.0,
            uploads: 9.0,
            ..Counters::default()
        };
        let done = Counters {
            calls: 14.0,
            stored: 12.0,
            failed: 2.0,
            uploads: 12.0,
            ..before
        };
        assert!(done.settled_since(&before));
        for (what, not_yet) in [
            (
                "a call still active",
                Counters {
                    active: 1.0,
                    ..done
                },
            ),
            (
                "an upload waiting",
                Counters {
                    backlog: 1.0,
                    ..done
                },
            ),
            (
                "a call not committed",
                Counters {
                    stored: 11.0,
                    ..done
                },
            ),
            (
                "a recording not uploaded",
                Counters {
                    uploads: 11.0,
                    ..done
                },
            ),
        ] {
            assert!(!not_yet.settled_since(&before), "{what}");
        }
        assert!(Counters {
            active: 1.0,
            ..done
        }
        .pending(&before)
        .contains("1 calls active"));
    }
}
