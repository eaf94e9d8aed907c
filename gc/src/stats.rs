//! `GcStats`: what the collector has done (Go's `runtime.MemStats`, the GC part).

use std::collections::VecDeque;
use std::time::Duration;

/// Pauses kept in [`GcStats::last_pauses`], as Go keeps the last 256 in `PauseNs`.
const KEPT_PAUSES: usize = 256;

/// The collector's counters, from [`stats`](crate::stats).
///
/// ```
/// let before = gort_gc::stats().cycles;
/// gort_gc::collect();
/// let after = gort_gc::stats();
/// assert!(after.cycles > before);
/// assert!(after.pause_max >= *after.last_pauses.iter().max().unwrap());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Completed collections.
    pub cycles: u64,
    /// Bytes of objects the last collection found alive.
    pub heap_live: usize,
    /// The heap size at which the pacer aims to finish the next collection.
    pub heap_goal: usize,
    /// Objects freed by all collections so far.
    pub objects_freed: u64,
    /// Total stop-the-world time (two pauses per cycle: mark start and mark termination,
    /// and one more for each termination attempt that found work left).
    pub pause_total: Duration,
    /// The longest stop-the-world pause.
    pub pause_max: Duration,
    /// The most recent pauses, oldest first (up to 256).
    pub last_pauses: Vec<Duration>,
}

/// The collector's running totals behind [`GcStats`].
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) cycles: u64,
    pub(crate) objects_freed: u64,
    pub(crate) pause_total: Duration,
    pub(crate) pause_max: Duration,
    pauses: VecDeque<Duration>,
}

impl Totals {
    pub(crate) fn pause(&mut self, pause: Duration) {
        self.pause_total += pause;
        self.pause_max = self.pause_max.max(pause);
        if self.pauses.len() == KEPT_PAUSES {
            self.pauses.pop_front();
        }
        self.pauses.push_back(pause);
    }

    pub(crate) fn snapshot(&self, heap_live: usize, heap_goal: usize) -> GcStats {
        GcStats {
            cycles: self.cycles,
            heap_live,
            heap_goal,
            objects_freed: self.objects_freed,
            pause_total: self.pause_total,
            pause_max: self.pause_max,
            last_pauses: self.pauses.iter().copied().collect(),
        }
    }
}
