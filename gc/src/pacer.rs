//! The pacer: when the next collection starts, and how hard allocating threads help the one
//! that runs (Go's GOGC and `gcControllerState`).
//!
//! **The goal.** After a collection keeps `live` bytes (those it found by tracing, and those
//! allocated while it ran, born black and kept without being examined: Go's `heapMarked`
//! counts both), the heap may grow to the goal `live * (1 + GOGC/100)` (at least
//! `MIN_GOAL`) before the next one must be over. The objects born black count because they
//! take memory until the next cycle frees them; how many there are is bounded by the assists
//! below, which hold allocation during marking to the runway the trigger left. (Leaving them
//! out of the growth kept the heap smaller, 3.6 instead of 4.7 GiB with 1.25 GiB live and a
//! thread churning 1.3 GiB/s, but ran binary-trees' cycles back to back: 1.97 instead of 1.58
//! times `Arc`'s time.)
//!
//! **The trigger.** Marking runs beside the program, which keeps allocating meanwhile, so the
//! next cycle starts before the goal, at the trigger: the goal minus the runway the last
//! cycle needed, plus a quarter, kept between `MIN_TRIGGER` and `MAX_TRIGGER` sixteenths of
//! the way from `base` to the goal. The runway is what the threads allocated while it marked,
//! or, if more, what they would have allocated at the rate they had before it began (when
//! assists held them back, the first undercounts).
//!
//! **Assists.** While marking, the threads may allocate only as fast as marking progresses:
//! the heap may reach `start + runway * progress`, where `start` is the heap when marking
//! began, `runway` what was left to the goal then (at least an eighth of `goal - base`), and
//! `progress` the marker's work so far (objects looked at by the root scan, and traced) over
//! the last cycle's (at most 1). A thread that is ahead traces grey objects for the marker
//! (`collector.rs`); if there are none to take and the heap has passed its goal, it waits
//! for the marker, so a program that outruns the marker is slowed down instead of growing
//! the heap without bound.
//!
//! Allocation is counted per thread and reported in 64 KiB steps (`local.rs`), so the pacer
//! sees the heap to within 64 KiB per thread. A program that allocates too slowly to reach the
//! trigger still gets a cycle every two minutes, as Go's `forcegc` gives it
//! (`collector.rs`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The smallest goal: a young program does not collect every few kilobytes.
const MIN_GOAL: usize = 4 << 20;
/// The earliest and latest trigger, in sixteenths of the way from the live heap to the goal.
const MIN_TRIGGER: usize = 8;
const MAX_TRIGGER: usize = 14;

pub(crate) struct Pacer {
    percent: AtomicU32,
    /// Bytes the last cycle kept.
    live: AtomicUsize,
    /// Bytes allocated since the last sweep began.
    allocated: AtomicUsize,
    /// Bytes allocated while the last cycle marked.
    runway_used: AtomicUsize,
    /// `allocated` and the heap when marking began, and the runway it had.
    allocated_at_start: AtomicUsize,
    heap_at_start: AtomicUsize,
    runway: AtomicUsize,
    /// The marker's work in the last cycle (see `ahead`).
    expected: AtomicUsize,
    /// When the last sweep began and when marking began (`now` nanoseconds).
    swept_at: AtomicU64,
    mark_started_at: AtomicU64,
    /// Bytes per second allocated from the last sweep to this mark's start.
    rate: AtomicU64,
}

/// Nanoseconds since the pacer first looked at the clock.
fn now() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl Pacer {
    pub(crate) const fn new() -> Pacer {
        Pacer {
            percent: AtomicU32::new(100),
            live: AtomicUsize::new(0),
            allocated: AtomicUsize::new(0),
            runway_used: AtomicUsize::new(0),
            allocated_at_start: AtomicUsize::new(0),
            heap_at_start: AtomicUsize::new(0),
            runway: AtomicUsize::new(0),
            expected: AtomicUsize::new(0),
            swept_at: AtomicU64::new(0),
            mark_started_at: AtomicU64::new(0),
            rate: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_percent(&self, percent: u32) -> u32 {
        self.percent.swap(percent, Relaxed)
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Relaxed)
    }

    pub(crate) fn goal(&self) -> usize {
        let live = self.live();
        let growth = live as u128 * self.percent.load(Relaxed) as u128 / 100;
        live.saturating_add(growth.min(usize::MAX as u128) as usize)
            .max(MIN_GOAL)
    }

    fn trigger(&self) -> usize {
        let (base, goal) = (self.live(), self.goal());
        let sixteenth = (goal - base) / 16;
        let used = self.runway_used.load(Relaxed);
        goal.saturating_sub(used + used / 4).clamp(
            base + sixteenth * MIN_TRIGGER,
            base + sixteenth * MAX_TRIGGER,
        )
    }

    /// The heap's size as far as the pacer knows: what the last cycle kept and what was
    /// allocated since.
    pub(crate) fn heap(&self) -> usize {
        self.live() + self.allocated.load(Relaxed)
    }

    /// Bytes allocated (and reported) since the last cycle's sweep.
    pub(crate) fn allocated_since_cycle(&self) -> usize {
        self.allocated.load(Relaxed)
    }

    /// Counts `bytes` of new objects; true if the heap has reached the trigger.
    pub(crate) fn allocated(&self, bytes: usize) -> bool {
        self.allocated.fetch_add(bytes, Relaxed);
        self.heap() >= self.trigger()
    }

    /// Whether the heap has passed its goal.
    pub(crate) fn over_goal(&self) -> bool {
        self.heap() > self.goal()
    }

    /// Marking begins (under the stop-the-world of mark start).
    pub(crate) fn mark_started(&self) {
        self.mark_started_at(now());
    }

    fn mark_started_at(&self, now: u64) {
        let (base, goal, heap) = (self.live(), self.goal(), self.heap());
        let allocated = self.allocated.load(Relaxed);
        self.allocated_at_start.store(allocated, Relaxed);
        let since = now.saturating_sub(self.swept_at.load(Relaxed)).max(1);
        let rate = allocated as u128 * 1_000_000_000 / since as u128;
        self.rate.store(rate.min(u64::MAX as u128) as u64, Relaxed);
        self.mark_started_at.store(now, Relaxed);
        self.heap_at_start.store(heap, Relaxed);
        let runway = goal.saturating_sub(heap).max((goal - base) / 8);
        self.runway.store(runway, Relaxed);
    }

    /// While marking: whether the threads have allocated ahead of marking's progress, with
    /// `work` done so far (objects the root scan looked at, and objects traced).
    pub(crate) fn ahead(&self, work: usize) -> bool {
        let expected = self.expected.load(Relaxed).max(1);
        let work = work.min(expected);
        let runway = self.runway.load(Relaxed);
        // `runway * work / expected` without overflow: both factors fit in 64 bits, the
        // product in 128.
        let allowed = (runway as u128 * work as u128 / expected as u128) as usize;
        self.heap() > self.heap_at_start.load(Relaxed) + allowed
    }

    /// Marking is over: the bytes allocated since it began were born black.
    pub(crate) fn mark_done(&self) {
        self.mark_done_at(now());
    }

    fn mark_done_at(&self, now: u64) {
        let used = self.allocated.load(Relaxed) - self.allocated_at_start.load(Relaxed);
        let took = now.saturating_sub(self.mark_started_at.load(Relaxed));
        let projected = self.rate.load(Relaxed) as u128 * took as u128 / 1_000_000_000;
        let projected = projected.min(usize::MAX as u128) as usize;
        self.runway_used.store(used.max(projected), Relaxed);
    }

    /// A collection kept `marked` bytes, the objects it traced and those allocated black
    /// since marking began; its marker did `work` (see `ahead`).
    pub(crate) fn swept(&self, marked: usize, work: usize) {
        self.swept_at(marked, work, now());
    }

    fn swept_at(&self, marked: usize, work: usize, now: u64) {
        self.live.store(marked, Relaxed);
        self.allocated.store(0, Relaxed);
        self.expected.store(work, Relaxed);
        self.swept_at.store(now, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn after_cycle(marked: usize, black: usize) -> Pacer {
        let pacer = Pacer::new();
        pacer.mark_started_at(1);
        pacer.allocated(black);
        pacer.mark_done_at(1);
        pacer.swept_at(marked, 0, 1);
        pacer
    }

    #[test]
    fn the_goal_is_gogc_percent_over_what_was_kept() {
        let pacer = after_cycle(300 * MIB, 100 * MIB);
        assert_eq!(pacer.live(), 300 * MIB);
        assert_eq!(pacer.heap(), 300 * MIB);
        assert_eq!(pacer.goal(), 600 * MIB);
        pacer.set_percent(50);
        assert_eq!(pacer.goal(), 450 * MIB);
        pacer.set_percent(0);
        assert_eq!(pacer.goal(), 300 * MIB);
        assert_eq!(after_cycle(MIB, 0).goal(), MIN_GOAL);
    }

    #[test]
    fn the_trigger_leaves_the_last_runway_and_stays_in_bounds() {
        // 40 MiB allocated while marking: start 50 MiB before the 480 MiB goal.
        let pacer = after_cycle(240 * MIB, 40 * MIB);
        assert_eq!(pacer.goal(), 480 * MIB);
        assert_eq!(pacer.trigger(), 430 * MIB);
        // A tiny runway: no later than 14/16 of the way from what was kept.
        let pacer = after_cycle(208 * MIB, MIB);
        assert_eq!(pacer.trigger(), 208 * MIB + 208 * MIB / 16 * 14);
        // A huge one: no earlier than half way.
        let pacer = after_cycle(1000 * MIB, 800 * MIB);
        assert_eq!(pacer.trigger(), 1500 * MIB);
        assert!(!pacer.allocated(499 * MIB));
        assert!(pacer.allocated(MIB));
    }

    #[test]
    fn assists_hold_the_heap_to_marking_progress() {
        let pacer = after_cycle(200 * MIB, 0);
        pacer.swept(200 * MIB, 1000);
        // The last cycle's marker did 1000 objects' work; 200 MiB of runway from a 200 MiB
        // heap.
        pacer.mark_started();
        assert!(!pacer.ahead(0));
        pacer.allocated(MIB);
        assert!(pacer.ahead(0), "no work done yet");
        pacer.allocated(98 * MIB);
        assert!(!pacer.ahead(500), "half done, 99 MiB of 100 allowed");
        pacer.allocated(2 * MIB);
        assert!(pacer.ahead(500));
        pacer.allocated(99 * MIB);
        assert!(
            !pacer.ahead(5500),
            "past the expected work: the whole runway"
        );
        pacer.allocated(MIB);
        assert!(pacer.ahead(5500));
    }

    #[test]
    fn the_runway_is_what_the_threads_would_have_allocated_at_their_rate() {
        const SECOND: u64 = 1_000_000_000;
        let pacer = after_cycle(200 * MIB, 0);
        // 100 MiB in the second before marking; 20 MiB while it marked for half a second
        // (held back by assists): the next cycle leaves 50 MiB, plus a quarter.
        pacer.allocated(100 * MIB);
        pacer.mark_started_at(1 + SECOND);
        pacer.allocated(20 * MIB);
        pacer.mark_done_at(1 + SECOND + SECOND / 2);
        pacer.swept_at(220 * MIB, 0, 2 * SECOND);
        assert_eq!(pacer.live(), 220 * MIB);
        assert_eq!(pacer.trigger(), 440 * MIB - 50 * MIB - 50 * MIB / 4);
    }
}
