//! Spare workers: the Ps that sysmon starts while a worker is stuck in one poll.
//!
//! Go hands the P of a goroutine blocked in a system call to another M, so the other goroutines
//! keep running. gort cannot take a P away from a thread in the middle of a poll: the goroutine
//! being polled may spawn or wake at any moment, and those go to its worker's queue without a
//! lock. So the stuck worker keeps its P, and sysmon starts a spare one instead: a worker with
//! its own ring, `runnext` and timer shard, created with the runtime and parked until needed.
//! It steals from the stuck worker's ring and `runnext` as any thief would (sysmon moves the
//! goroutines that had yielded there to the global queue), and runs everything else meanwhile.
//! There are as many spares as workers, so even with every worker stuck GOMAXPROCS workers
//! still run goroutines.
//!
//! # States
//!
//! `running` and `stop`, two flags that only sysmon sets to true:
//!
//! - not running: the spare's thread waits in `wait_until_started`, counted as unparked by
//!   `Idle` but on no list a notifier pops from (see `idle.rs`), with an empty queue.
//! - running: a worker like any other; it parks on the idle list when it runs out of work.
//! - running with `stop`: sysmon saw the stuck worker move on. At the top of its next loop
//!   (after its current poll), or in its park if it is parked, the spare stops searching,
//!   moves its queued goroutines to the global queue, wakes a parked worker (which takes them,
//!   and becomes the timer watcher if the spare was it), clears both flags and waits to be
//!   started again. A parked spare takes itself off the idle list first (as the timer
//!   watcher does), so `Idle`'s counts stay exact.
//!
//! sysmon only starts a spare that is not running, so a spare is never started twice; it sets
//! `running` before it unparks the thread, and the thread re-reads `running` after each wake,
//! so no start is lost.

use super::Shared;
use super::worker::Worker;
use crate::loom::atomic::{AtomicBool, Ordering::*};

/// The flags of a spare worker (unused for the others).
#[derive(Default)]
pub(crate) struct SpareFlags {
    running: AtomicBool,
    stop: AtomicBool,
}

impl SpareFlags {
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Acquire)
    }

    /// sysmon: starts the spare (which must not be running); the caller then unparks it.
    #[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
    pub(super) fn start(&self) {
        debug_assert!(!self.is_running());
        self.stop.store(false, Relaxed);
        self.running.store(true, Release);
    }

    /// sysmon: asks the running spare to stop; the caller then unparks it.
    #[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
    pub(super) fn request_stop(&self) {
        self.stop.store(true, Release);
    }

    pub(super) fn should_stop(&self) -> bool {
        self.stop.load(Acquire)
    }

    /// The spare: it has stopped (its queue is empty and it is off the idle list).
    pub(super) fn stopped(&self) {
        self.stop.store(false, Relaxed);
        self.running.store(false, Release);
    }
}

impl Worker {
    /// A spare waits here until sysmon starts it; returns at once for the other workers.
    /// Also returns at shutdown.
    pub(super) fn wait_until_started(&self) {
        let shared: &Shared = &self.shared;
        let flags = &shared.remotes[self.index].spare;
        while self.is_spare && !shared.is_shutdown() && !flags.is_running() {
            self.parker.park();
        }
    }

    /// The spare stops: its goroutines go to the global queue and it waits to be started
    /// again (or for shutdown).
    pub(super) fn stop_spare(&self) {
        let shared: &Shared = &self.shared;
        self.stop_searching();
        let mut moved = Vec::new();
        while let Some(task) = self.local.pop_runnext().or_else(|| self.local.pop()) {
            moved.push(task);
        }
        moved.extend(shared.remotes[self.index].yielded.lock().drain(..));
        if !moved.is_empty() {
            shared.injector.push_batch(moved.into_iter());
        }
        // Wake a parked worker (unless one is searching): it takes the goroutines just moved,
        // and, finding nothing more, parks again and watches the timers if nobody does. This
        // spare may have been the watcher, with every other worker parked without a timeout.
        shared.notify_parked();
        shared.remotes[self.index].spare.stopped();
        self.wait_until_started();
    }

    /// In the park loop of a parked spare that was woken: if sysmon asked it to stop, it takes
    /// itself off the idle list (counted unparked, not searching, as a watcher that wakes
    /// itself) and stops. False if it should go on parking.
    pub(super) fn stop_parked_spare(&self) -> bool {
        let shared: &Shared = &self.shared;
        if !shared.remotes[self.index].spare.should_stop()
            || !shared.idle.unpark_worker_by_id(self.index)
        {
            return false;
        }
        self.stop_spare();
        true
    }
}
