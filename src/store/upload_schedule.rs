//! Which spooled recording to upload next: a queue per destination, a bound on uploads in
//! flight, and a capped exponential backoff per destination. Sans-IO: the caller scans the
//! spool, runs the uploads and passes `now`; this only decides.
//!
//! Why per destination: one organisation's broken bucket must not delay anybody else's. A
//! destination whose upload failed waits out its own backoff without holding a slot, then
//! gets one probe at a time until an upload succeeds; the other destinations share the slots
//! round-robin meanwhile. Each destination with work may hold its fair share of the slots
//! (more only when nobody else wants them), so a slow one cannot take them all either. A job never runs twice at once: it leaves its queue while it runs.
//! A job that fails for reasons of its own (its spool files unreadable) waits on its own
//! backoff and does not mark its destination as failing.

use super::backoff::{Backoff, BackoffConfig};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

/// How an upload ended, as far as scheduling cares.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored and verified, and out of the spool.
    Stored,
    /// The destination failed (unreachable, refused, broken bucket): it backs off.
    DestinationFailed,
    /// The job itself failed (its spool files): it alone backs off.
    JobFailed,
    /// The job left the spool some other way: forgotten, its destination's state unchanged.
    Gone,
}

/// One destination's state, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationBacklog {
    /// Jobs not yet stored: waiting, running or backing off.
    pub backlog: u64,
    pub running: u64,
    /// The last upload failed and the destination is backing off or probing.
    pub failing: bool,
    /// Failed uploads since the start.
    pub failures: u64,
}

#[derive(Debug)]
struct Queue<J> {
    waiting: VecDeque<J>,
    running: usize,
    /// Jobs backing off on their own, with when they may run again.
    parked: Vec<(J, Instant)>,
    /// The backoff of each job that failed on its own, until it is stored.
    job_backoffs: HashMap<J, Backoff>,
    backoff: Backoff,
    /// `Some` while failing: when the next probe may start.
    retry_at: Option<Instant>,
    failures: u64,
}

/// The upload scheduler; `J` names a job (its spool directory).
#[derive(Debug)]
pub(crate) struct UploadScheduler<J> {
    concurrency: usize,
    backoff: BackoffConfig,
    queues: BTreeMap<String, Queue<J>>,
    /// Every job known, with its destination.
    jobs: HashMap<J, String>,
    running: usize,
    /// The destination served last, so the next pick starts after it.
    last_served: Option<String>,
    seed: u64,
}

impl<J: Clone + Eq + Hash> UploadScheduler<J> {
    /// At most `concurrency` uploads at once (at least one).
    pub(crate) fn new(concurrency: usize, backoff: BackoffConfig, seed: u64) -> Self {
        UploadScheduler {
            concurrency: concurrency.max(1),
            backoff,
            queues: BTreeMap::new(),
            jobs: HashMap::new(),
            running: 0,
            last_served: None,
            seed,
        }
    }

    /// Queues `job` for `destination`; a job already known is left where it is.
    pub(crate) fn add(&mut self, job: J, destination: &str) {
        if self.jobs.contains_key(&job) {
            return;
        }
        self.jobs.insert(job.clone(), destination.to_string());
        self.queue(destination).waiting.push_back(job);
    }

    /// Forgets queued jobs for which `present` is false (gone from the spool); running jobs
    /// are kept until they finish.
    pub(crate) fn retain(&mut self, mut present: impl FnMut(&J) -> bool) {
        let mut gone = Vec::new();
        for queue in self.queues.values_mut() {
            queue
                .waiting
                .retain(|j| present(j) || !gone_too(&mut gone, j));
            queue
                .parked
                .retain(|(j, _)| present(j) || !gone_too(&mut gone, j));
        }
        for job in gone {
            if let Some(destination) = self.jobs.remove(&job) {
                self.queue(&destination).job_backoffs.remove(&job);
            }
        }
    }

    /// The next job to start and its destination, if a slot is free and some destination may
    /// go; the job counts as running until [`UploadScheduler::finished`].
    #[must_use]
    pub(crate) fn next(&mut self, now: Instant) -> Option<(J, String)> {
        if self.running >= self.concurrency {
            return None;
        }
        for queue in self.queues.values_mut() {
            unpark(queue, now);
        }
        // Round-robin: the destinations after the last one served, then the rest.
        let names: Vec<&String> = self.queues.keys().collect();
        let start = match &self.last_served {
            Some(last) => names.partition_point(|n| *n <= last),
            None => 0,
        };
        let order: Vec<String> = names[start..]
            .iter()
            .chain(&names[..start])
            .map(|n| n.to_string())
            .collect();
        // A destination with jobs that may go gets its fair share of the slots first, so a
        // slow one (each upload hanging until it times out) cannot take them all; slots no
        // one else wants go to whoever has work.
        let eligible: Vec<bool> = order
            .iter()
            .map(|name| may_go(&self.queues[name], now))
            .collect();
        let wanting = eligible.iter().filter(|e| **e).count();
        let share = self.concurrency.div_ceil(wanting.max(1));
        for fair in [true, false] {
            for (name, eligible) in order.iter().zip(&eligible) {
                let queue = self.queues.get_mut(name).expect("name from the map");
                if !eligible || (fair && queue.running >= share) {
                    continue;
                }
                let job = queue.waiting.pop_front().expect("eligible: has a job");
                queue.running += 1;
                self.running += 1;
                self.last_served = Some(name.clone());
                return Some((job, name.clone()));
            }
        }
        None
    }

    /// Records how `job` (returned by [`UploadScheduler::next`]) ended.
    pub(crate) fn finished(&mut self, job: &J, outcome: Outcome, now: Instant) {
        let Some(destination) = self.jobs.get(job).cloned() else {
            return;
        };
        self.running = self.running.saturating_sub(1);
        let (seed, config) = (self.seed, self.backoff);
        let queue = self.queue(&destination);
        queue.running = queue.running.saturating_sub(1);
        match outcome {
            Outcome::Gone => {
                queue.job_backoffs.remove(job);
                self.jobs.remove(job);
            }
            Outcome::Stored => {
                queue.retry_at = None;
                queue.backoff = Backoff::new(config, seed);
                queue.job_backoffs.remove(job);
                self.jobs.remove(job);
            }
            Outcome::DestinationFailed => {
                queue.failures += 1;
                // Uploads that were already running when the destination failed report the
                // same outage: only a failure after the backoff has passed backs off further.
                if queue.retry_at.is_none_or(|at| now >= at) {
                    queue.retry_at = Some(now + queue.backoff.next_delay());
                }
                // To the back: if it was this job's fault after all, the next probe differs.
                queue.waiting.push_back(job.clone());
            }
            Outcome::JobFailed => {
                queue.failures += 1;
                let backoff = queue
                    .job_backoffs
                    .entry(job.clone())
                    .or_insert_with(|| Backoff::new(config, seed ^ 0x5EED));
                let at = now + backoff.next_delay();
                queue.parked.push((job.clone(), at));
            }
        }
    }

    /// Ends every destination's and job's backoff now (a last attempt before stopping).
    pub(crate) fn retry_all(&mut self, now: Instant) {
        for queue in self.queues.values_mut() {
            if queue.retry_at.is_some() {
                queue.retry_at = Some(now);
            }
            for (_, at) in &mut queue.parked {
                *at = now;
            }
        }
    }

    /// When a backoff ends and [`UploadScheduler::next`] may have something new to say;
    /// `None` when only a finished upload or a new job can change its answer (every slot
    /// taken, or nothing backing off).
    #[must_use]
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        if self.running >= self.concurrency {
            return None;
        }
        self.queues
            .values()
            .flat_map(|q| {
                let probe = q
                    .retry_at
                    .filter(|_| !q.waiting.is_empty() && q.running == 0);
                probe.into_iter().chain(q.parked.iter().map(|(_, at)| *at))
            })
            .min()
    }

    /// Jobs known and not yet stored.
    pub(crate) fn backlog(&self) -> usize {
        self.jobs.len()
    }

    /// Uploads running.
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// Each destination's backlog, by destination.
    pub(crate) fn destinations(&self) -> BTreeMap<String, DestinationBacklog> {
        self.queues
            .iter()
            .map(|(name, q)| {
                let backlog = q.waiting.len() + q.running + q.parked.len();
                let state = DestinationBacklog {
                    backlog: backlog as u64,
                    running: q.running as u64,
                    failing: q.retry_at.is_some(),
                    failures: q.failures,
                };
                (name.clone(), state)
            })
            .collect()
    }

    fn queue(&mut self, destination: &str) -> &mut Queue<J> {
        let (config, seed) = (self.backoff, self.seed);
        self.queues
            .entry(destination.to_string())
            .or_insert_with(|| Queue {
                waiting: VecDeque::new(),
                running: 0,
                parked: Vec::new(),
                job_backoffs: HashMap::new(),
                backoff: Backoff::new(config, seed),
                retry_at: None,
                failures: 0,
            })
    }
}

/// Whether a job of this destination may start now: it has one waiting, and it is healthy,
/// or failing with its backoff passed and no probe running.
fn may_go<J>(queue: &Queue<J>, now: Instant) -> bool {
    let healthy_or_due = match queue.retry_at {
        None => true,
        Some(at) => now >= at && queue.running == 0,
    };
    healthy_or_due && !queue.waiting.is_empty()
}

/// Notes `job` as gone; always true (for use inside `retain`).
fn gone_too<J: Clone>(gone: &mut Vec<J>, job: &J) -> bool {
    gone.push(job.clone());
    true
}

/// Moves jobs whose own backoff has passed back to the front of their queue.
fn unpark<J>(queue: &mut Queue<J>, now: Instant) {
    let mut i = 0;
    while i < queue.parked.len() {
        if queue.parked[i].1 <= now {
            let (job, _) = queue.parked.swap_remove(i);
            queue.waiting.push_front(job);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        }
    }

    fn scheduler(concurrency: usize) -> UploadScheduler<u32> {
        UploadScheduler::new(concurrency, config(), 1)
    }

    /// Starts every job that may start now.
    fn drain(s: &mut UploadScheduler<u32>, now: Instant) -> Vec<(u32, String)> {
        std::iter::from_fn(|| s.next(now)).collect()
    }

    #[test]
    fn at_most_the_concurrency_runs_and_each_job_once() {
        let now = Instant::now();
        let mut s = scheduler(3);
        for job in 0..10 {
            s.add(job, "a");
        }
        s.add(4, "a"); // already known: not queued twice
        let started = drain(&mut s, now);
        assert_eq!(started.len(), 3);
        assert_eq!(s.running(), 3);
        s.finished(&started[0].0, Outcome::Stored, now);
        let more = drain(&mut s, now);
        assert_eq!(more.len(), 1);
        let mut seen: Vec<u32> = started.iter().chain(&more).map(|(j, _)| *j).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4, "no job handed out twice");
        assert_eq!(s.backlog(), 9);
    }

    #[test]
    fn destinations_share_the_slots_round_robin() {
        let now = Instant::now();
        let mut s = scheduler(4);
        for job in 0..10 {
            s.add(job, "a");
            s.add(100 + job, "b");
        }
        let started = drain(&mut s, now);
        let to_b = started.iter().filter(|(_, d)| d == "b").count();
        assert_eq!((started.len(), to_b), (4, 2), "{started:?}");
    }

    #[test]
    fn a_slow_destination_gets_its_fair_share_of_slots_not_all() {
        let now = Instant::now();
        let mut s = scheduler(4);
        for job in 0..10 {
            s.add(job, "slow");
        }
        // Alone, it may take every slot.
        assert_eq!(drain(&mut s, now).len(), 4);
        // Another destination's jobs arrive: every slot freed goes to it until the two
        // share the slots evenly.
        for job in 100..110 {
            s.add(job, "fast");
        }
        for freed in 0..2 {
            s.finished(&freed, Outcome::Stored, now);
        }
        let started = drain(&mut s, now);
        assert!(started.iter().all(|(_, d)| d == "fast"), "{started:?}");
        assert_eq!(started.len(), 2);
        s.finished(&started[0].0, Outcome::Stored, now);
        assert_eq!(s.next(now).map(|(_, d)| d), Some("fast".to_string()));
        assert_eq!(
            s.destinations()["slow"].running,
            2,
            "its share of four slots"
        );
        assert_eq!(s.destinations()["fast"].running, 2);
        s.finished(&2, Outcome::Stored, now);
        assert_eq!(s.next(now).map(|(_, d)| d), Some("slow".to_string()));
    }

    #[test]
    fn a_failing_destination_backs_off_without_holding_slots_or_delaying_others() {
        let t0 = Instant::now();
        let mut s = scheduler(2);
        for job in 0..5 {
            s.add(job, "broken");
            s.add(100 + job, "healthy");
        }
        let first = drain(&mut s, t0);
        assert_eq!(first.len(), 2);
        for (job, _) in &first {
            let outcome = if *job < 100 {
                Outcome::DestinationFailed
            } else {
                Outcome::Stored
            };
            s.finished(job, outcome, t0);
        }
        // While "broken" backs off, both slots go to "healthy" until it is done.
        let mut healthy_done = 1;
        loop {
            let started = drain(&mut s, t0);
            assert!(started.iter().all(|(_, d)| d == "healthy"), "{started:?}");
            if started.is_empty() {
                break;
            }
            for (job, _) in started {
                s.finished(&job, Outcome::Stored, t0);
                healthy_done += 1;
            }
        }
        assert_eq!(healthy_done, 5);
        let states = s.destinations();
        assert_eq!(states["broken"].backlog, 5);
        assert!(states["broken"].failing);
        assert!(!states.contains_key("healthy") || states["healthy"].backlog == 0);
        // The first delay is in [0.5 s, 1 s]; then one probe, not a burst.
        let wake = s.next_wake().expect("a probe is due later");
        assert!(wake > t0 && wake <= t0 + Duration::from_secs(1));
        let probes = drain(&mut s, wake);
        assert_eq!(probes.len(), 1, "one probe at a time while failing");
        s.finished(&probes[0].0, Outcome::DestinationFailed, wake);
        let second = s.next_wake().expect("backing off again");
        assert!(second - wake >= Duration::from_secs(1), "the delay doubled");
        // Recovered: the probe succeeds and the queue opens fully.
        let probe = drain(&mut s, second);
        assert_eq!(probe.len(), 1);
        s.finished(&probe[0].0, Outcome::Stored, second);
        assert_eq!(drain(&mut s, second).len(), 2);
        assert!(!s.destinations()["broken"].failing);
    }

    #[test]
    fn failures_of_uploads_already_running_count_as_one_outage() {
        let t0 = Instant::now();
        let mut s = scheduler(4);
        for job in 0..4 {
            s.add(job, "a");
        }
        let started = drain(&mut s, t0);
        for (job, _) in &started {
            s.finished(job, Outcome::DestinationFailed, t0);
        }
        let wake = s.next_wake().expect("due");
        assert!(
            wake <= t0 + Duration::from_secs(1),
            "not backed off four times"
        );
        assert_eq!(s.destinations()["a"].failures, 4);
    }

    #[test]
    fn the_backoff_stops_at_its_cap() {
        let mut now = Instant::now();
        let mut s = scheduler(1);
        s.add(1, "a");
        for _ in 0..12 {
            let (job, _) = s.next(now).expect("due");
            s.finished(&job, Outcome::DestinationFailed, now);
            let wake = s.next_wake().expect("due");
            assert!(wake - now <= Duration::from_secs(8));
            assert!(s.next(now).is_none(), "not before its time");
            now = wake;
        }
    }

    #[test]
    fn a_broken_job_backs_off_alone() {
        let t0 = Instant::now();
        let mut s = scheduler(1);
        s.add(1, "a");
        s.add(2, "a");
        let (job, _) = s.next(t0).expect("first");
        assert_eq!(job, 1);
        s.finished(&1, Outcome::JobFailed, t0);
        assert!(!s.destinations()["a"].failing);
        assert_eq!(
            s.next(t0).map(|(j, _)| j),
            Some(2),
            "the destination is fine"
        );
        s.finished(&2, Outcome::Stored, t0);
        assert_eq!(s.next(t0), None, "job 1 waits for its own backoff");
        let wake = s.next_wake().expect("job 1 is due later");
        assert_eq!(s.next(wake).map(|(j, _)| j), Some(1));
        assert_eq!(s.destinations()["a"].backlog, 1);
    }

    #[test]
    fn jobs_gone_from_the_spool_are_forgotten_but_running_ones_are_kept() {
        let t0 = Instant::now();
        let mut s = scheduler(1);
        for job in 0..3 {
            s.add(job, "a");
        }
        let (running, _) = s.next(t0).expect("one");
        s.retain(|j| *j == 2);
        assert_eq!(s.backlog(), 2, "the running job and job 2");
        s.finished(&running, Outcome::Stored, t0);
        assert_eq!(drain(&mut s, t0), vec![(2, "a".to_string())]);
    }

    #[test]
    fn with_every_slot_taken_no_backoff_end_wakes_the_caller() {
        let t0 = Instant::now();
        let mut s = scheduler(1);
        s.add(1, "a");
        s.add(2, "b");
        let (job, _) = s.next(t0).expect("one");
        s.finished(&job, Outcome::DestinationFailed, t0);
        let due = s.next_wake().expect("a backoff");
        let (other, _) = s.next(t0).expect("the other destination");
        assert_eq!(s.next_wake(), None, "only a finished upload frees a slot");
        assert_eq!(s.next(due), None);
        s.finished(&other, Outcome::Stored, due);
        assert_eq!(s.next_wake(), Some(due));
    }

    #[test]
    fn retry_all_ends_every_backoff_for_a_last_attempt() {
        let t0 = Instant::now();
        let mut s = scheduler(2);
        s.add(1, "a");
        s.add(2, "b");
        for (job, _) in drain(&mut s, t0) {
            let outcome = if job == 1 {
                Outcome::DestinationFailed
            } else {
                Outcome::JobFailed
            };
            s.finished(&job, outcome, t0);
        }
        assert!(drain(&mut s, t0).is_empty());
        s.retry_all(t0);
        assert_eq!(drain(&mut s, t0).len(), 2);
    }
}
