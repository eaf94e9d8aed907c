//! gort's collector pauses over a stretch of time, from `gort::gc::stats()`.
//!
//! `stats()` keeps only the last 256 pauses (as Go's `MemStats.PauseNs` does), and a workload
//! that allocates fast runs more cycles than that in a few seconds. So a thread polls it every
//! 10 ms while the workload runs, and each poll takes the pauses the last one had not seen: the
//! shortest tail of the new list whose head overlaps the end of the old one and whose sum is
//! the growth of `pause_total` (pauses are nanosecond counts, so two lists that overlap by
//! chance and also add up by chance are not a worry). A poll that finds no such tail saw more
//! than 256 new pauses; it keeps the 256 and counts itself in [`PauseLog::lost`].

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;
use std::time::Duration;

use gort::gc::GcStats;

/// How often [`logging_pauses`] polls: missing a pause would take 256 of them in 10 ms.
const POLL: Duration = Duration::from_millis(10);

/// gort's cycles and stop-the-world pauses over a stretch of time.
#[derive(Clone, Debug, Default)]
pub struct PauseLog {
    /// Cycles completed.
    pub cycles: u64,
    /// Every pause, in order.
    pub pauses: Vec<Duration>,
    /// Polls that found more than 256 new pauses: some are missing.
    pub lost: u64,
}

/// The pauses of `now` that `seen` did not have, or `None` if more than `now` holds came in
/// between (see the module's docs).
pub fn new_pauses<'a>(seen: &GcStats, now: &'a GcStats) -> Option<&'a [Duration]> {
    let added = now.pause_total.checked_sub(seen.pause_total)?;
    let (old, new) = (&seen.last_pauses, &now.last_pauses);
    (0..=new.len()).find_map(|fresh| {
        let kept = new.len() - fresh;
        let overlaps = kept <= old.len() && old[old.len() - kept..] == new[..kept];
        let tail = &new[kept..];
        (overlaps && tail.iter().sum::<Duration>() == added).then_some(tail)
    })
}

impl PauseLog {
    /// Adds the pauses between two snapshots of `stats()`, `seen` and the later `now`.
    pub fn add(&mut self, seen: &GcStats, now: &GcStats) {
        match new_pauses(seen, now) {
            Some(tail) => self.pauses.extend_from_slice(tail),
            None => {
                self.pauses.extend_from_slice(&now.last_pauses);
                self.lost += 1;
            }
        }
        self.cycles += now.cycles - seen.cycles;
    }

    /// Adds another log's cycles and pauses.
    pub fn extend(&mut self, other: PauseLog) {
        self.cycles += other.cycles;
        self.pauses.extend(other.pauses);
        self.lost += other.lost;
    }

    /// The sum of the pauses.
    pub fn total(&self) -> Duration {
        self.pauses.iter().sum()
    }

    /// The pause at quantile `q` (0 to 1, nearest rank); zero if there is none.
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.pauses, q)
    }

    /// A note on missing pauses for a table, empty if none is missing.
    pub fn lost_note(&self) -> String {
        match self.lost {
            0 => String::new(),
            n => format!(" ({n} polls found more than 256 new pauses: some are missing)"),
        }
    }
}

/// The value of `values` at quantile `q` (0 to 1, nearest rank); zero if there is none.
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied().unwrap_or_default()
}

/// Runs `f` while a thread logs gort's cycles and pauses.
pub fn logging_pauses<R>(f: impl FnOnce() -> R) -> (R, PauseLog) {
    let stop = AtomicBool::new(false);
    let first = gort::gc::stats();
    thread::scope(|s| {
        let poller = s.spawn(|| {
            let (mut seen, mut log) = (first, PauseLog::default());
            loop {
                let last = stop.load(Relaxed);
                let now = gort::gc::stats();
                log.add(&seen, &now);
                seen = now;
                if last {
                    return log;
                }
                thread::park_timeout(POLL);
            }
        });
        let result = f();
        stop.store(true, Relaxed);
        poller.thread().unpark();
        (result, poller.join().expect("the pause poller"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cycles: u64, pauses: &[u64], total: u64) -> GcStats {
        GcStats {
            cycles,
            pause_total: Duration::from_nanos(total),
            last_pauses: pauses.iter().map(|&p| Duration::from_nanos(p)).collect(),
            ..GcStats::default()
        }
    }

    fn nanos(pauses: &[Duration]) -> Vec<u64> {
        pauses.iter().map(|p| p.as_nanos() as u64).collect()
    }

    #[test]
    fn takes_the_tail_that_adds_up() {
        let seen = stats(1, &[5, 7], 12);
        assert_eq!(nanos(new_pauses(&seen, &seen).unwrap()), [] as [u64; 0]);
        // Not yet full: appended.
        let now = stats(2, &[5, 7, 7, 9], 28);
        assert_eq!(nanos(new_pauses(&seen, &now).unwrap()), [7, 9]);
        // Full: the oldest fell off the front.
        let seen = stats(1, &[5, 7, 9], 21);
        let now = stats(2, &[9, 9, 3], 33);
        assert_eq!(nanos(new_pauses(&seen, &now).unwrap()), [9, 3]);
        // More new pauses than the list holds.
        let now = stats(9, &[1, 2, 3], 100);
        assert_eq!(new_pauses(&seen, &now), None);
    }

    #[test]
    fn log_counts_cycles_and_lost_polls() {
        let mut log = PauseLog::default();
        log.add(&stats(1, &[5], 5), &stats(2, &[5, 6, 7], 18));
        log.add(&stats(2, &[5, 6, 7], 18), &stats(9, &[1, 2, 3], 100));
        assert_eq!((log.cycles, log.lost), (8, 1));
        assert_eq!(nanos(&log.pauses), [6, 7, 1, 2, 3]);
        assert_eq!(log.quantile(0.5), Duration::from_nanos(3));
        assert_eq!(log.quantile(1.0), Duration::from_nanos(7));
        assert_eq!(quantile(&[], 0.99), Duration::ZERO);
    }
}
