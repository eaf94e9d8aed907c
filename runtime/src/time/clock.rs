//! The timers' clock: the time as nanoseconds since the time driver started, and a cheap
//! upper bound of it for the workers that arm timers.
//!
//! Arming a timer starts with the time now: its deadline is now plus the duration. Reading the
//! system's monotonic clock (`Instant::now`, `clock_gettime` through the vDSO) costs 20 to 30
//! ns on our machines, as much as the rest of arming and cancelling a timer together, and a
//! worker that arms timers back to back (a timeout around every request) reads it each time.
//!
//! On x86-64 with an invariant TSC (a time-stamp counter that ticks at one rate in every power
//! state and is kept in step across cores: the counter the kernel reads its own clock from on
//! such machines), a worker instead extrapolates from its last real read, its *anchor*: one
//! `rdtsc` (about 10 ns) and a multiply. It reads the real clock again, and re-anchors, once
//! the anchor is `WINDOW_NANOS` (1 ms) old.
//!
//! # Never behind
//!
//! A timer must never fire early, so the estimate must never be behind the real clock (the one
//! the driver fires by). It is an upper bound by construction:
//!
//! - An anchor is a real read between two counter reads `c1 <= c2`, so at `c1` the real clock
//!   had not yet passed the anchor's time. The estimate counts cycles from `c1`: at least the
//!   cycles that passed since the real read.
//! - The rate (nanoseconds per cycle, as a 32.32 fixed-point number) is an upper bound. It is
//!   measured between the driver's start and an anchor at least `CALIBRATE_NANOS` (10 ms)
//!   later, dividing the nanoseconds by the fewest cycles that can have passed between the
//!   two real reads (the later `c1` minus the earlier `c2`), and then raised by 1/512: more
//!   than NTP's slewing of the monotonic clock can take from it (at most 500 ppm either way,
//!   so 1,000 ppm between the slew at the measurement and a later one).
//! - `SLACK_NANOS` (1 µs) is added for the counter's skew between cores, which the kernel
//!   keeps far below that (it stops using the TSC as its clock if it sees any).
//! - A counter below the anchor (another core, a migrated virtual machine) or more than the
//!   window above it, and a real read whose two counter reads are far apart (the thread was
//!   preempted between them), fall back to the real clock.
//!
//! The estimate is ahead by at most the slack, the rate's margin over the window and the
//! anchor's two counter reads apart (`MAX_PAIR_CYCLES`): a few microseconds, where deadlines
//! are rounded up to the next 1 ms tick anyway.
//!
//! Elsewhere (other architectures, no invariant TSC, miri, loom) and on threads that are not
//! workers, every read is a real one.

use std::time::{Duration, Instant};

#[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
pub(crate) use tsc::ClockCache;

/// A runtime's clock: its start, and the counter's calibration.
pub(crate) struct Clock {
    start: Instant,
    #[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
    tsc: Option<tsc::Calibration>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        #[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
        {
            let (start, tsc) = tsc::Calibration::start();
            Clock { start, tsc }
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(gort_loom))))]
        Clock {
            start: Instant::now(),
        }
    }

    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Nanoseconds from the start to `t` (0 before it), saturating. Plain u64 arithmetic:
    /// `Duration::as_nanos` works in u128, which costs more than the rest of arming a timer.
    pub(crate) fn nanos_since_start(&self, t: Instant) -> u64 {
        duration_nanos(t.saturating_duration_since(self.start))
    }

    /// The time now, read from the system's clock.
    pub(crate) fn now(&self) -> u64 {
        self.nanos_since_start(Instant::now())
    }

    /// The time now or a little later (a few microseconds), never earlier: extrapolated from
    /// the worker's anchor where the counter allows, read from the system's clock otherwise.
    #[inline]
    pub(crate) fn now_upper(&self, cache: &ClockCache) -> u64 {
        #[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
        {
            cache.estimate().unwrap_or_else(|| self.reanchor(cache))
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri), not(gort_loom))))]
        {
            let _ = cache;
            self.now()
        }
    }

    /// A real read, which becomes the worker's anchor if the counter can extrapolate from it.
    #[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
    #[cold]
    fn reanchor(&self, cache: &ClockCache) -> u64 {
        let (c1, now, c2) = tsc::bracket(Instant::now);
        let nanos = self.nanos_since_start(now);
        cache.clear();
        if let Some(tsc) = &self.tsc
            && let Some(rate) = tsc.rate(c1, nanos, c2)
        {
            cache.anchor(c1, nanos, rate);
        }
        nanos
    }

    /// The instant `nanos` after the start (or before it, if negative).
    pub(crate) fn instant(&self, nanos: i64) -> Instant {
        let d = Duration::from_nanos(nanos.unsigned_abs());
        let t = if nanos >= 0 {
            self.start.checked_add(d)
        } else {
            self.start.checked_sub(d)
        };
        t.unwrap_or(self.start)
    }

    /// `t` as nanoseconds from the start, negative before it, saturating (292 years).
    pub(crate) fn signed_nanos(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.start) {
            Some(after) => clamp_i64(duration_nanos(after)),
            None => -clamp_i64(duration_nanos(self.start.duration_since(t))),
        }
    }
}

/// Without a usable counter a worker keeps no anchor.
#[cfg(not(all(target_arch = "x86_64", not(miri), not(gort_loom))))]
pub(crate) struct ClockCache;

#[cfg(not(all(target_arch = "x86_64", not(miri), not(gort_loom))))]
impl ClockCache {
    pub(crate) fn new() -> ClockCache {
        ClockCache
    }
}

/// `d` in nanoseconds, saturating.
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

pub(crate) fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(all(target_arch = "x86_64", not(miri), not(gort_loom)))]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::time::Instant;

    /// How long a worker extrapolates from one real read.
    const WINDOW_NANOS: u64 = 1_000_000;
    /// The shortest interval the counter's rate is measured over.
    const CALIBRATE_NANOS: u64 = 10_000_000;
    /// Added to every estimate: the counter's skew between cores, with room to spare.
    const SLACK_NANOS: u64 = 1_000;
    /// Two counter reads around a real read further apart than this (3 µs at 3 GHz; the read
    /// takes about 100 cycles) mean the thread was interrupted between them: the pair is not
    /// used.
    const MAX_PAIR_CYCLES: u64 = 10_000;

    /// The counter's calibration, shared by a runtime's workers.
    pub(super) struct Calibration {
        /// The counter read just after the real read of the clock's start (its `c2`).
        start_c2: u64,
        /// Nanoseconds per cycle << 32, an upper bound; 0 until measured.
        rate: AtomicU64,
    }

    impl Calibration {
        /// The clock's start, and a calibration if the counter is invariant and a tight pair
        /// of reads around the start could be taken.
        pub(super) fn start() -> (Instant, Option<Calibration>) {
            if invariant() {
                for _ in 0..3 {
                    let (c1, start, c2) = bracket(Instant::now);
                    if c2.wrapping_sub(c1) <= MAX_PAIR_CYCLES {
                        let rate = AtomicU64::new(0);
                        return (start, Some(Calibration { start_c2: c2, rate }));
                    }
                }
            }
            (Instant::now(), None)
        }

        /// The rate to extrapolate with from a real read of `nanos` between counter reads
        /// `c1` and `c2`, measuring it if that has not been done; `None` if the pair is not
        /// tight or it is too early to measure.
        pub(super) fn rate(&self, c1: u64, nanos: u64, c2: u64) -> Option<u64> {
            if c2.wrapping_sub(c1) > MAX_PAIR_CYCLES {
                return None;
            }
            let rate = self.rate.load(Relaxed);
            if rate != 0 {
                return Some(rate);
            }
            // At least CALIBRATE_NANOS after the start, over cycles that went forward (`c1`
            // after the start's `c2`): otherwise measure later.
            let cycles = c1.wrapping_sub(self.start_c2);
            if nanos < CALIBRATE_NANOS || cycles == 0 || cycles > u64::MAX / 2 {
                return None;
            }
            let rate = upper_rate(nanos, cycles);
            // Every worker's measurement is an upper bound; the last one stored wins.
            self.rate.store(rate, Relaxed);
            Some(rate)
        }
    }

    /// A worker's anchor: its last real read and how far it may extrapolate from it. Only the
    /// worker's thread touches it.
    pub(crate) struct ClockCache {
        anchor_cycles: Cell<u64>,
        anchor_nanos: Cell<u64>,
        /// The rate, copied from the calibration.
        rate: Cell<u64>,
        /// Cycles after the anchor that the estimate may use; 0 while there is no anchor.
        window: Cell<u64>,
    }

    impl ClockCache {
        pub(crate) fn new() -> ClockCache {
            ClockCache {
                anchor_cycles: Cell::new(0),
                anchor_nanos: Cell::new(0),
                rate: Cell::new(0),
                window: Cell::new(0),
            }
        }

        /// The anchor's time plus the cycles since, as an upper bound; `None` outside the
        /// window (or below the anchor: the subtraction wraps).
        #[inline(always)]
        pub(super) fn estimate(&self) -> Option<u64> {
            let cycles = read().wrapping_sub(self.anchor_cycles.get());
            // `cycles * rate` is about WINDOW_NANOS << 32 at most, far below 2^64.
            (cycles < self.window.get())
                .then(|| self.anchor_nanos.get() + ((cycles * self.rate.get()) >> 32) + SLACK_NANOS)
        }

        pub(super) fn clear(&self) {
            self.window.set(0);
        }

        pub(super) fn anchor(&self, cycles: u64, nanos: u64, rate: u64) {
            self.anchor_cycles.set(cycles);
            self.anchor_nanos.set(nanos);
            self.rate.set(rate);
            let window = (u128::from(WINDOW_NANOS) << 32).div_ceil(u128::from(rate));
            self.window.set(u64::try_from(window).unwrap_or(u64::MAX));
        }

        #[cfg(test)]
        pub(super) fn is_anchored(&self) -> bool {
            self.window.get() > 0
        }
    }

    /// True if the CPU says its counter is invariant (CPUID 8000_0007h, EDX bit 8).
    fn invariant() -> bool {
        // The extended leaf is read only if the highest extended leaf reaches it.
        __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    }

    #[inline(always)]
    fn read() -> u64 {
        // SAFETY: RDTSC exists on every x86-64 CPU and has no memory effects.
        unsafe { _rdtsc() }
    }

    /// `f()` between two counter reads.
    pub(super) fn bracket<T>(f: impl FnOnce() -> T) -> (u64, T, u64) {
        let c1 = read();
        let t = f();
        let c2 = read();
        (c1, t, c2)
    }

    /// Nanoseconds per cycle << 32, rounded up and raised by 1/512.
    fn upper_rate(nanos: u64, cycles: u64) -> u64 {
        let rate = (u128::from(nanos) << 32).div_ceil(u128::from(cycles));
        let rate = rate + rate.div_ceil(512);
        u64::try_from(rate).unwrap_or(u64::MAX)
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_never_behind_the_clock() {
        let clock = Clock::new();
        let cache = ClockCache::new();
        // Long enough for the rate to be measured (10 ms) and for many re-anchorings (1 ms).
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut extrapolated = false;
        while Instant::now() < deadline {
            extrapolated |= is_anchored(&cache);
            let before = clock.now();
            let estimate = clock.now_upper(&cache);
            let after = clock.now();
            assert!(estimate >= before, "estimate {estimate} behind {before}");
            // Ahead of the clock by a few microseconds at most: well within one wheel tick
            // (an interruption between the reads only makes `after` later).
            assert!(
                estimate < after + 1_000_000,
                "estimate {estimate} ahead of {after}"
            );
        }
        assert_eq!(extrapolated, has_counter(&clock), "the counter went unused");
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    fn is_anchored(cache: &ClockCache) -> bool {
        cache.is_anchored()
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    fn has_counter(clock: &Clock) -> bool {
        clock.tsc.is_some()
    }

    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    fn is_anchored(_: &ClockCache) -> bool {
        false
    }

    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    fn has_counter(_: &Clock) -> bool {
        false
    }

    #[test]
    fn instants_round_trip() {
        let clock = Clock::new();
        let start = clock.start();
        for t in [
            start,
            start + Duration::from_nanos(1),
            start + Duration::from_secs(3600),
            start.checked_sub(Duration::from_millis(7)).unwrap_or(start),
        ] {
            assert_eq!(clock.instant(clock.signed_nanos(t)), t);
        }
    }

    #[test]
    fn nanos_saturate() {
        assert_eq!(duration_nanos(Duration::MAX), u64::MAX);
        assert_eq!(clamp_i64(u64::MAX), i64::MAX);
        assert_eq!(duration_nanos(Duration::new(2, 5)), 2_000_000_005);
    }
}
