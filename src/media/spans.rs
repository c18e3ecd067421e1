//! What must not be heard in the recording: paused spans (the user paused recording) and
//! excluded spans (the start/stop announcement the parties heard). Owns those spans on the call
//! clock, in output samples from the call's start, and applies them to output blocks: excluded
//! spans always become silence; paused spans become silence or are cut out, as configured.

use serde::{Deserialize, Serialize};

/// What a pause leaves in the file.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PauseMode {
    /// Keep the paused time as silence: the file stays aligned with the call clock.
    #[default]
    Silence,
    /// Remove the paused time: the file is shorter than the call by the paused time.
    Cut,
}

/// A half-open range of call samples.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    fn overlaps(&self, from: u64, to: u64) -> bool {
        self.start < to && from < self.end
    }
}

/// How many pause and exclusion spans one call may hold; more are refused and counted, so a
/// client toggling pause without end cannot grow a call's memory.
pub const MAX_SPANS: usize = 4096;

#[derive(Debug)]
pub struct Spans {
    mode: PauseMode,
    pauses: Vec<Span>,
    open_pause: Option<u64>,
    exclusions: Vec<Span>,
    /// Span requests refused because [`MAX_SPANS`] was reached.
    pub refused: u64,
}

impl Spans {
    pub fn new(mode: PauseMode) -> Self {
        Spans {
            mode,
            pauses: Vec::new(),
            open_pause: None,
            exclusions: Vec::new(),
            refused: 0,
        }
    }

    /// Starts a pause at `at`; a second pause while paused is a no-op (returns false).
    pub fn pause(&mut self, at: u64) -> bool {
        if self.open_pause.is_some() {
            return false;
        }
        if self.pauses.len() + self.exclusions.len() >= MAX_SPANS {
            self.refused += 1;
            return false;
        }
        // Pausing inside an earlier pause reopens it, so no paused time is counted twice.
        let start = match self
            .pauses
            .iter()
            .position(|p| p.start <= at && at <= p.end)
        {
            Some(i) => self.pauses.remove(i).start,
            None => at,
        };
        self.open_pause = Some(start);
        true
    }

    /// Ends the open pause at `at`; without one it is a no-op (returns false).
    pub fn resume(&mut self, at: u64) -> bool {
        match self.open_pause.take() {
            Some(start) => {
                let mut span = Span {
                    start,
                    end: at.max(start),
                };
                // Pauses it overlaps or touches become part of it.
                self.pauses.retain(|p| {
                    let overlaps = p.start <= span.end && span.start <= p.end;
                    if overlaps {
                        span.start = span.start.min(p.start);
                        span.end = span.end.max(p.end);
                    }
                    !overlaps
                });
                let at = self.pauses.partition_point(|p| p.start < span.start);
                self.pauses.insert(at, span);
                true
            }
            None => false,
        }
    }

    /// Excludes `[start, end)` from the recording (kept sorted by start).
    pub fn exclude(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        if self.pauses.len() + self.exclusions.len() >= MAX_SPANS {
            self.refused += 1;
            return;
        }
        let at = self.exclusions.partition_point(|s| s.start <= start);
        self.exclusions.insert(at, Span { start, end });
    }

    fn all_pauses(&self) -> impl Iterator<Item = Span> + '_ {
        let open = self.open_pause.map(|start| Span {
            start,
            end: u64::MAX,
        });
        self.pauses.iter().copied().chain(open)
    }

    /// Closed pauses, then the open one (ending at `u64::MAX`), in order.
    pub fn pauses(&self) -> Vec<Span> {
        self.all_pauses().collect()
    }

    pub fn exclusions(&self) -> &[Span] {
        &self.exclusions
    }

    /// Whether call sample `pos` is paused or excluded (tones starting there are skipped).
    pub fn is_hidden(&self, pos: u64) -> bool {
        self.all_pauses()
            .chain(self.exclusions.iter().copied())
            .any(|s| s.start <= pos && pos < s.end)
    }

    /// Silences, in the `channels`-interleaved `block` starting at call sample `block_start`,
    /// every sample that is excluded, or paused when pauses are kept as silence.
    pub fn silence(&self, block: &mut [i16], block_start: u64, channels: usize) {
        let block_end = block_start + (block.len() / channels.max(1)) as u64;
        let pauses = self
            .all_pauses()
            .filter(|_| self.mode == PauseMode::Silence);
        for span in pauses.chain(self.exclusions.iter().copied()) {
            if span.overlaps(block_start, block_end) {
                let from = (span.start.max(block_start) - block_start) as usize * channels;
                let to = (span.end.min(block_end) - block_start) as usize * channels;
                block[from..to].fill(0);
            }
        }
    }

    /// Sets `kept` to the sub-ranges of `[from, to)` that stay in the file: all of it, minus
    /// paused spans when pauses are cut. The caller's buffer is reused: this runs every block.
    pub fn kept(&self, from: u64, to: u64, kept: &mut Vec<(u64, u64)>) {
        kept.clear();
        kept.push((from, to));
        if self.mode == PauseMode::Silence {
            return;
        }
        for span in self.all_pauses().filter(|s| s.overlaps(from, to)) {
            // Each range gives what lies before and after the span, appended in order; then the
            // old ranges go.
            let old = kept.len();
            for i in 0..old {
                let (a, b) = kept[i];
                for (x, y) in [(a, b.min(span.start)), (a.max(span.end), b)] {
                    if x < y {
                        kept.push((x, y));
                    }
                }
            }
            kept.drain(..old);
        }
    }

    /// Samples of `[0, to)` that are cut out of the file.
    pub fn cut_before(&self, to: u64) -> u64 {
        if self.mode == PauseMode::Silence {
            return 0;
        }
        self.all_pauses()
            .map(|s| s.end.min(to).saturating_sub(s.start.min(to)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(spans: &Spans, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut kept = vec![(99, 99)]; // replaced, not appended to
        spans.kept(from, to, &mut kept);
        kept
    }

    #[test]
    fn excluded_and_paused_samples_are_silenced_in_silence_mode() {
        let mut spans = Spans::new(PauseMode::Silence);
        spans.exclude(2, 4);
        assert!(spans.pause(6));
        assert!(spans.resume(7));
        assert!(spans.pause(9)); // open until the end
        let mut block = vec![1i16; 20]; // 10 stereo frames
        spans.silence(&mut block, 0, 2);
        let frames: Vec<i16> = block.chunks(2).map(|f| f[0] + f[1]).collect();
        assert_eq!(frames, vec![2, 2, 0, 0, 2, 2, 0, 2, 2, 0]);
        assert_eq!(kept(&spans, 0, 10), vec![(0, 10)]);
        assert_eq!(spans.cut_before(10), 0);
    }

    #[test]
    fn cut_mode_removes_pauses_but_only_silences_exclusions() {
        let mut spans = Spans::new(PauseMode::Cut);
        spans.exclude(0, 1);
        spans.pause(3);
        spans.resume(5);
        spans.pause(8);
        assert_eq!(kept(&spans, 0, 10), vec![(0, 3), (5, 8)]);
        assert_eq!(kept(&spans, 4, 6), vec![(5, 6)]);
        assert_eq!(spans.cut_before(10), 4);
        let mut block = vec![1i16; 10];
        spans.silence(&mut block, 0, 1);
        assert_eq!(block, vec![0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn pause_and_resume_toggle_only_once_each() {
        let mut spans = Spans::new(PauseMode::Silence);
        assert!(!spans.resume(1));
        assert!(spans.pause(2));
        assert!(!spans.pause(3));
        assert!(spans.resume(4));
        assert!(!spans.resume(5));
        assert_eq!(spans.pauses(), vec![Span { start: 2, end: 4 }]);
        assert!(spans.is_hidden(3) && !spans.is_hidden(4));
    }

    #[test]
    fn overlapping_pauses_merge_so_cut_time_is_counted_once() {
        let mut spans = Spans::new(PauseMode::Cut);
        spans.pause(20);
        spans.resume(40);
        spans.pause(10); // before, overlapping
        spans.resume(30);
        spans.pause(35); // inside: reopens [10, 40)
        spans.resume(50);
        spans.pause(60);
        spans.resume(70);
        assert_eq!(
            spans.pauses(),
            vec![Span { start: 10, end: 50 }, Span { start: 60, end: 70 }]
        );
        assert_eq!(spans.cut_before(100), 50);
        assert_eq!(kept(&spans, 0, 100), vec![(0, 10), (50, 60), (70, 100)]);
    }

    #[test]
    fn span_count_is_bounded() {
        let mut spans = Spans::new(PauseMode::Silence);
        for i in 0..(MAX_SPANS as u64 + 10) {
            spans.exclude(i * 2, i * 2 + 1);
        }
        assert_eq!(spans.exclusions().len(), MAX_SPANS);
        assert_eq!(spans.refused, 10);
    }
}
