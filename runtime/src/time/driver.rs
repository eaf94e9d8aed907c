//! The time driver: one timing wheel per worker, fired by whichever worker gets there first,
//! and a parked worker that watches the earliest deadline.
//!
//! # Sharding
//!
//! A timer registers in the wheel of the worker that polls it first (Go 1.14's per-P timer
//! heaps), so arming and cancelling timers on different workers never contend. Each shard is a
//! spin lock around a `Wheel` (critical sections of a few pointer moves) plus an atomic copy of its next deadline, which lets anyone find due
//! shards without locking. Firing takes a shard's lock, collects up to 32 due entries (marking
//! each `FIRED` and taking its waker), releases the lock and wakes them: expired timers are
//! fired in batches, and no waker runs under a lock.
//!
//! # Who fires
//!
//! - A running worker checks every 61 ticks and whenever it runs out of work (`fire_due`), on all
//!   shards, skipping a shard another thread holds: like Go's `checkTimers` on every P, and its
//!   timer stealing from other Ps in `findrunnable`. It fires no more timers than its run
//!   queue has room for: the goroutines they wake go to its ring, and past its room they would
//!   overflow to the back of the global queue, behind every goroutine waiting there (a burst
//!   of spawns), while timers left in the wheel fire at its next check, ahead of those.
//! - When every worker is parked, one of them is the *watcher* (Go's M blocked in `netpoll` with
//!   a timeout): it parks with a timeout that ends at the earliest deadline. Registering an
//!   earlier deadline unparks the watcher so it recomputes its timeout.
//!
//! No missed deadline: the watcher publishes `watch_until` (a swap) and then re-reads the
//! shards' next deadlines; a registrar publishes the shard's next deadline and then reads
//! `watch_until` (a read-modify-write). The two RMWs on `watch_until` are ordered, so either the
//! watcher's swap reads after the registrar's RMW and the watcher sees the new deadline, or the
//! registrar's RMW reads the watcher's value and it unparks the watcher.
//!
//! # Shutdown
//!
//! At shutdown every remaining timer fires at once and later registrations complete
//! immediately: a timer on a runtime that is going away resolves, it never hangs.

use super::clock::Clock;
use super::entry::Entry;
use super::wheel::{MAX_TICK, Wheel};
use crate::loom::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use crate::spin::SpinLock;
use std::ptr::NonNull;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Wakers collected under a shard's lock and woken after it is released.
const WAKE_BATCH: usize = 32;
const NO_DEADLINE: u64 = u64::MAX;
const NO_WATCHER: usize = usize::MAX;
const NANOS_PER_TICK: u64 = 1_000_000;

pub(crate) struct TimeDriver {
    pub(crate) clock: Clock,
    shards: Box<[Shard]>,
    watcher: AtomicUsize,
    watch_until: AtomicU64,
    shutdown: AtomicBool,
}

struct Shard {
    wheel: SpinLock<Wheel>,
    next: AtomicU64,
}

/// The tick a deadline (nanoseconds since the driver's start) maps to, rounded up so that a
/// timer never fires early.
pub(crate) fn tick_of(deadline: i64) -> u64 {
    (deadline.max(0) as u64)
        .div_ceil(NANOS_PER_TICK)
        .min(MAX_TICK)
}

/// What a registration asks of the scheduler.
#[must_use]
pub(crate) enum Registered {
    /// The timer is armed; unpark this worker (the watcher sleeps past the new deadline).
    Armed { unpark: Option<usize> },
    /// Already due, or the runtime is shutting down: the timer completes now.
    Fired,
}

impl TimeDriver {
    pub(crate) fn new(shards: usize) -> TimeDriver {
        let shards = (0..shards.max(1))
            .map(|_| Shard {
                wheel: SpinLock::new(Wheel::new()),
                next: AtomicU64::new(NO_DEADLINE),
            })
            .collect();
        TimeDriver {
            clock: Clock::new(),
            shards,
            watcher: AtomicUsize::new(NO_WATCHER),
            watch_until: AtomicU64::new(NO_DEADLINE),
            shutdown: AtomicBool::new(false),
        }
    }

    pub(crate) fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Milliseconds since the driver started, rounded down: entries due at or before this tick
    /// fire.
    pub(crate) fn now_tick(&self) -> u64 {
        (self.clock.now() / NANOS_PER_TICK).min(MAX_TICK)
    }

    /// The tick a deadline maps to, rounded up so that a timer never fires early.
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        tick_of(self.clock.signed_nanos(deadline))
    }

    /// The first instant at or after `t` that falls on a tick boundary: a deadline there loses
    /// nothing to rounding.
    pub(crate) fn align_up(&self, t: Instant) -> Instant {
        self.tick_to_instant(self.deadline_tick(t)).max(t)
    }

    fn tick_to_instant(&self, tick: u64) -> Instant {
        let start = self.clock.start();
        start
            .checked_add(Duration::from_millis(tick))
            .unwrap_or_else(|| start + Duration::from_secs(1 << 32))
    }

    /// Arms `entry` in `shard`, due at `when`, with `waker`. The caller has checked that
    /// `when` is in the future.
    ///
    /// # Safety
    /// `entry` is pinned and alive until it is cancelled or observed `FIRED`, and is not armed.
    pub(crate) unsafe fn register(
        &self,
        shard: usize,
        entry: NonNull<Entry>,
        when: u64,
        waker: &Waker,
    ) -> Registered {
        let shard_ref = &self.shards[shard];
        let (old_waker, lowered) = {
            let mut wheel = shard_ref.wheel.lock();
            if self.shutdown.load(Acquire) {
                return Registered::Fired;
            }
            if when <= wheel.elapsed() {
                // The wheel's clock has passed it already (it only ever lags the real one).
                return Registered::Fired;
            }
            // SAFETY: the lock gives us the entry's node and waker; the caller keeps it alive.
            let old = unsafe {
                wheel.insert(Entry::node(entry), when);
                entry.as_ref().set_waker(waker)
            };
            // `next` only moves earlier here (and is recomputed when the shard fires), so it may
            // be early, never late: an early `next` costs one fruitless check, nothing more.
            let lowered = when < shard_ref.next.load(Relaxed);
            if lowered {
                shard_ref.next.store(when, SeqCst);
            }
            (old, lowered)
        };
        drop(old_waker);
        if !lowered {
            // The shard was due no later than this already: whoever watches it wakes in time.
            return Registered::Armed { unpark: None };
        }
        // A read-modify-write, not a load: it is ordered with the watcher's swap either way
        // (plain SeqCst loads and stores would need a fence; loom checks RMWs exactly).
        let unpark = if when < self.watch_until.fetch_add(0, SeqCst) {
            Some(self.watcher.load(SeqCst)).filter(|w| *w != NO_WATCHER)
        } else {
            None
        };
        Registered::Armed { unpark }
    }

    /// Replaces the waker of an armed entry. False if it fired meanwhile.
    ///
    /// # Safety
    /// As for `register`; `entry` was armed in `shard`.
    pub(crate) unsafe fn update_waker(
        &self,
        shard: usize,
        entry: NonNull<Entry>,
        waker: &Waker,
    ) -> bool {
        let wheel = self.shards[shard].wheel.lock();
        // SAFETY: the caller keeps the entry alive.
        let e = unsafe { entry.as_ref() };
        if e.is_fired() {
            return false;
        }
        // SAFETY: under the lock.
        let old = unsafe { e.set_waker(waker) };
        drop(wheel);
        drop(old);
        true
    }

    /// Disarms `entry`; true if it was armed (not yet fired).
    ///
    /// # Safety
    /// `entry` is alive; if armed, it was armed in `shard`.
    pub(crate) unsafe fn cancel(&self, shard: usize, entry: NonNull<Entry>) -> bool {
        let shard_ref = &self.shards[shard];
        let mut wheel = shard_ref.wheel.lock();
        // SAFETY: under the lock the node is ours to unlink; it is alive by contract. Removing
        // it leaves it unlinked; `next` is left as it is (early at worst).
        unsafe { wheel.remove(Entry::node(entry)) }
    }

    /// The earliest deadline over all shards, as a tick.
    fn next_deadline(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.next.load(SeqCst))
            .min()
            .unwrap_or(NO_DEADLINE)
    }

    /// True if some shard has a timer due now.
    pub(crate) fn has_due(&self) -> bool {
        let next = self.next_deadline();
        next != NO_DEADLINE && next <= self.now_tick()
    }

    /// Fires due timers of every shard not locked by someone else, at most `max` of them (the
    /// room in the caller's run queue). Returns how many fired.
    pub(crate) fn fire_due(&self, max: usize) -> usize {
        if self.next_deadline() == NO_DEADLINE {
            return 0;
        }
        self.fire_due_at(self.now_tick(), max)
    }

    /// `fire_due` with the clock read by the caller.
    pub(crate) fn fire_due_at(&self, now: u64, max: usize) -> usize {
        if self.next_deadline() > now {
            return 0;
        }
        let mut fired = 0;
        for shard in self.shards.iter() {
            if fired >= max {
                break;
            }
            fired += self.fire_shard(shard, now, true, max - fired);
        }
        fired
    }

    fn fire_shard(&self, shard: &Shard, now: u64, skip_if_busy: bool, max: usize) -> usize {
        if shard.next.load(SeqCst) > now {
            return 0;
        }
        let mut fired = 0;
        let mut wakers: Vec<Waker> = Vec::with_capacity(WAKE_BATCH.min(max));
        loop {
            let mut wheel = if skip_if_busy {
                match shard.wheel.try_lock() {
                    Some(wheel) => wheel,
                    None => return fired,
                }
            } else {
                shard.wheel.lock()
            };
            let mut full = false;
            while fired < max {
                // SAFETY: every linked node belongs to an armed, alive entry (register's
                // contract).
                let Some(node) = (unsafe { wheel.poll(now) }) else {
                    break;
                };
                // SAFETY: nodes in a wheel are the first field of an `Entry`; we hold the lock.
                if let Some(waker) = unsafe { Entry::from_node(node).as_ref().fire() } {
                    wakers.push(waker);
                }
                fired += 1;
                if wakers.len() == WAKE_BATCH {
                    full = true;
                    break;
                }
            }
            shard
                .next
                .store(wheel.next_deadline().unwrap_or(NO_DEADLINE), SeqCst);
            drop(wheel);
            for waker in wakers.drain(..) {
                waker.wake();
            }
            if !full || fired >= max {
                return fired;
            }
        }
    }

    /// A parking worker offers to watch the deadlines. If it becomes the watcher, returns how
    /// long it may sleep (`None`: no timer at all, sleep until unparked).
    pub(crate) fn try_watch(&self, worker: usize) -> Option<Option<Duration>> {
        if self
            .watcher
            .compare_exchange(NO_WATCHER, worker, SeqCst, SeqCst)
            .is_err()
        {
            return None;
        }
        let mut next = self.next_deadline();
        loop {
            self.watch_until.swap(next, SeqCst);
            let again = self.next_deadline();
            if again >= next {
                break;
            }
            next = again;
        }
        if next == NO_DEADLINE {
            return Some(None);
        }
        let at = self.tick_to_instant(next);
        Some(Some(at.saturating_duration_since(Instant::now())))
    }

    /// The deadline the watcher sleeps until, as a tick.
    #[cfg(all(test, gort_loom))]
    pub(crate) fn watch_until_tick(&self) -> u64 {
        self.watch_until.load(SeqCst)
    }

    /// The watcher woke up.
    pub(crate) fn unwatch(&self, worker: usize) {
        self.watch_until.store(NO_DEADLINE, SeqCst);
        let _ = self
            .watcher
            .compare_exchange(worker, NO_WATCHER, SeqCst, SeqCst);
    }

    /// Fires every timer, and makes later registrations complete at once.
    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        for shard in self.shards.iter() {
            self.fire_shard(shard, MAX_TICK, false, usize::MAX);
        }
    }
}
