//! The pacer: when the next collection starts (Go's GOGC, `gcControllerState`).
//!
//! After a collection finds `live` bytes alive, the heap may grow to the goal
//! `live * (1 + GOGC/100)` (at least `MIN_GOAL`) before the next one must be over. Marking runs
//! beside the program, which keeps allocating meanwhile, so the next cycle starts earlier, at
//! the trigger: `TRIGGER_FRACTION` of the way from `live` to the goal. If the program outruns
//! the marker and the heap passes the goal while marking, allocating threads assist the marker
//! (`collector.rs`).
//!
//! Allocation is counted per thread and reported in 64 KiB steps (`local.rs`), so the pacer
//! sees the heap to within 64 KiB per thread. A program that allocates too slowly to reach the
//! trigger still gets a cycle every two minutes, as Go's `forcegc` gives it
//! (`collector.rs`).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// The smallest goal: a young program does not collect every few kilobytes.
const MIN_GOAL: usize = 4 << 20;
/// How far from the live heap to the goal the next cycle starts, in 1/16ths.
const TRIGGER_SIXTEENTHS: usize = 14;

pub(crate) struct Pacer {
    percent: AtomicU32,
    live: AtomicUsize,
    /// Bytes allocated since the last sweep.
    allocated: AtomicUsize,
}

impl Pacer {
    pub(crate) const fn new() -> Pacer {
        Pacer {
            percent: AtomicU32::new(100),
            live: AtomicUsize::new(0),
            allocated: AtomicUsize::new(0),
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
        let live = self.live();
        live + (self.goal() - live) / 16 * TRIGGER_SIXTEENTHS
    }

    /// The heap's size as far as the pacer knows: the live heap and what was allocated since.
    pub(crate) fn heap(&self) -> usize {
        self.live() + self.allocated.load(Relaxed)
    }

    /// Bytes allocated (and reported) since the last cycle's sweep.
    pub(crate) fn allocated_since_cycle(&self) -> usize {
        self.allocated.load(Relaxed)
    }

    /// Counts `bytes` of new objects; true if the heap has reached the trigger.
    pub(crate) fn allocated(&self, bytes: usize) -> bool {
        let allocated = self.allocated.fetch_add(bytes, Relaxed) + bytes;
        self.live() + allocated >= self.trigger()
    }

    /// A collection found `live` bytes alive.
    pub(crate) fn swept(&self, live: usize) {
        self.live.store(live, Relaxed);
        self.allocated.store(0, Relaxed);
    }
}
