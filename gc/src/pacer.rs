//! The pacer: when the next collection starts, and how hard allocating threads help the one
//! that runs (Go's GOGC and `gcControllerState`).
//!
//! **The goal.** After a collection finds `live` bytes alive by tracing, the heap may grow to
//! the goal `live * (1 + GOGC/100)` (at least `MIN_GOAL`) before the next one must be over.
//! `live` leaves out the objects allocated while the collection ran: they were born black and
//! kept without being examined, most of them garbage in a program that churns; counting them
//! would let each cycle's goal grow with the last cycle's allocation rate instead of the live
//! heap. They do count in the heap's size (`base`), since they take memory until the next
//! cycle frees them.
//!
//! **The trigger.** Marking runs beside the program, which keeps allocating meanwhile, so the
//! next cycle starts before the goal, at the trigger: the goal minus the bytes allocated while
//! the last cycle marked (its runway), plus a quarter, kept between `MIN_TRIGGER` and
//! `MAX_TRIGGER` sixteenths of the way from `live` to the goal.
//!
//! **Assists.** While marking, a thread may allocate only as fast as marking progresses: the
//! heap may reach `start + runway * progress`, where `start` is the heap when marking began,
//! `runway` what was left to the goal then (at least an eighth of `goal - live`), and
//! `progress` the objects traced so far over those the last cycle traced (at most 1). A thread
//! that is ahead traces grey objects for the marker, or waits for it (`collector.rs`), so a
//! program that outruns the marker is slowed down instead of growing the heap without bound.
//!
//! Allocation is counted per thread and reported in 64 KiB steps (`local.rs`), so the pacer
//! sees the heap to within 64 KiB per thread. A program that allocates too slowly to reach the
//! trigger still gets a cycle every two minutes, as Go's `forcegc` gives it
//! (`collector.rs`).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// The smallest goal: a young program does not collect every few kilobytes.
const MIN_GOAL: usize = 4 << 20;
/// The earliest and latest trigger, in sixteenths of the way from the live heap to the goal.
const MIN_TRIGGER: usize = 8;
const MAX_TRIGGER: usize = 14;

pub(crate) struct Pacer {
    percent: AtomicU32,
    /// Bytes the last cycle found alive by tracing.
    live: AtomicUsize,
    /// Bytes the last cycle kept: `live` and the objects allocated while it ran.
    base: AtomicUsize,
    /// Bytes allocated since the last sweep began.
    allocated: AtomicUsize,
    /// Bytes allocated while the last cycle marked.
    runway_used: AtomicUsize,
    /// `allocated` and the heap when marking began, and the runway it had.
    allocated_at_start: AtomicUsize,
    heap_at_start: AtomicUsize,
    runway: AtomicUsize,
    /// Objects the last cycle traced.
    expected: AtomicUsize,
}

impl Pacer {
    pub(crate) const fn new() -> Pacer {
        Pacer {
            percent: AtomicU32::new(100),
            live: AtomicUsize::new(0),
            base: AtomicUsize::new(0),
            allocated: AtomicUsize::new(0),
            runway_used: AtomicUsize::new(0),
            allocated_at_start: AtomicUsize::new(0),
            heap_at_start: AtomicUsize::new(0),
            runway: AtomicUsize::new(0),
            expected: AtomicUsize::new(0),
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
        let growth = live / 100 * self.percent.load(Relaxed) as usize;
        live.saturating_add(growth).max(MIN_GOAL)
    }

    fn trigger(&self) -> usize {
        let (live, goal) = (self.live(), self.goal());
        let sixteenth = (goal - live) / 16;
        let used = self.runway_used.load(Relaxed);
        goal.saturating_sub(used + used / 4).clamp(
            live + sixteenth * MIN_TRIGGER,
            live + sixteenth * MAX_TRIGGER,
        )
    }

    /// The heap's size as far as the pacer knows: what the last cycle kept and what was
    /// allocated since.
    pub(crate) fn heap(&self) -> usize {
        self.base.load(Relaxed) + self.allocated.load(Relaxed)
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

    /// Marking begins (under the stop-the-world of mark start).
    pub(crate) fn mark_started(&self) {
        let (live, goal, heap) = (self.live(), self.goal(), self.heap());
        self.allocated_at_start
            .store(self.allocated.load(Relaxed), Relaxed);
        self.heap_at_start.store(heap, Relaxed);
        let runway = goal.saturating_sub(heap).max((goal - live) / 8);
        self.runway.store(runway, Relaxed);
    }

    /// While marking: whether the threads have allocated ahead of marking's progress, with
    /// `traced` objects traced so far.
    pub(crate) fn ahead(&self, traced: usize) -> bool {
        let expected = self.expected.load(Relaxed).max(1);
        let traced = traced.min(expected);
        let runway = self.runway.load(Relaxed);
        // `runway * traced / expected` without overflow: both factors fit in 64 bits, the
        // product in 128.
        let allowed = (runway as u128 * traced as u128 / expected as u128) as usize;
        self.heap() > self.heap_at_start.load(Relaxed) + allowed
    }

    /// Marking is over: the bytes allocated since it began were born black.
    pub(crate) fn mark_done(&self) {
        let used = self.allocated.load(Relaxed) - self.allocated_at_start.load(Relaxed);
        self.runway_used.store(used, Relaxed);
    }

    /// A collection kept `marked` bytes, the objects it traced (`traced` of them) and those
    /// allocated black since marking began.
    pub(crate) fn swept(&self, marked: usize, traced: usize) {
        let black = self.allocated.load(Relaxed) - self.allocated_at_start.load(Relaxed);
        self.live.store(marked.saturating_sub(black), Relaxed);
        self.base.store(marked, Relaxed);
        self.allocated.store(0, Relaxed);
        self.expected.store(traced, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn after_cycle(marked: usize, black: usize) -> Pacer {
        let pacer = Pacer::new();
        pacer.mark_started();
        pacer.allocated(black);
        pacer.mark_done();
        pacer.swept(marked, 0);
        pacer
    }

    #[test]
    fn the_goal_follows_the_traced_heap_not_the_black_allocations() {
        let pacer = after_cycle(300 * MIB, 100 * MIB);
        assert_eq!(pacer.live(), 200 * MIB);
        assert_eq!(pacer.goal(), 400 * MIB);
        assert_eq!(pacer.heap(), 300 * MIB);
        pacer.set_percent(50);
        assert_eq!(pacer.goal(), 300 * MIB);
    }

    #[test]
    fn the_trigger_leaves_the_last_runway_and_stays_in_bounds() {
        // 40 MiB allocated while marking: start 50 MiB before the 400 MiB goal.
        let pacer = after_cycle(240 * MIB, 40 * MIB);
        assert_eq!(pacer.trigger(), 350 * MIB);
        // A tiny runway: no later than 14/16 of the way.
        let pacer = after_cycle(200 * MIB + MIB, MIB);
        assert_eq!(pacer.trigger(), 200 * MIB + 200 * MIB / 16 * 14);
        // A huge one: no earlier than half way.
        let pacer = after_cycle(1000 * MIB, 800 * MIB);
        assert_eq!(pacer.trigger(), 300 * MIB);
        assert!(
            pacer.allocated(0),
            "the kept black objects already pass the trigger"
        );
    }

    #[test]
    fn assists_hold_the_heap_to_marking_progress() {
        let pacer = after_cycle(200 * MIB, 0);
        pacer.swept(200 * MIB, 1000);
        // The last cycle traced 1000 objects; 200 MiB of runway from a 200 MiB heap.
        pacer.mark_started();
        assert!(!pacer.ahead(0));
        pacer.allocated(MIB);
        assert!(pacer.ahead(0), "nothing traced yet");
        pacer.allocated(98 * MIB);
        assert!(!pacer.ahead(500), "half traced, 99 MiB of 100 allowed");
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
}
