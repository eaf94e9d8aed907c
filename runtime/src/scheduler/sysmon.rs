//! sysmon: the thread that watches the workers (Go's `sysmon` and its `retake`).
//!
//! A goroutine that blocks its thread (a blocking call, a loop that never awaits) stalls its
//! worker. Its ring and `runnext` can still be stolen, and its timers fire on other workers,
//! but the runtime is down one P for as long as the poll lasts. sysmon notices and makes up
//! for it.
//!
//! # Noticing a stuck worker
//!
//! Each worker publishes `polls << 1 | polling` in its `Remote::sched` around every poll (two
//! plain stores on a line only it writes). Every `PERIOD` sysmon reads each word: a word that
//! changed resets that worker's clock; a word that is odd (polling) and has not changed for
//! `STUCK` (10 ms, Go's `forcePreemptNS`) means one poll has lasted that long.
//!
//! `PERIOD` is 10 ms, the delay Go's sysmon settles at in a busy program, so a stuck worker
//! is relieved 10 to 20 ms into its poll. Looking more often costs more than it seems: each
//! look wakes a third thread on machines whose cores the workers keep busy, and it preempts
//! one of them. With a 2 ms period, 10,000 spawns across two workers took 10 to 15% longer
//! than without sysmon; with 10 ms, 1 to 2%.
//!
//! # The hand-off
//!
//! sysmon then starts a spare worker (`spare.rs`) in the stuck one's stead and moves the
//! goroutines that had yielded on the stuck worker to the global queue (nobody else can take
//! them from its private list; nothing can be added to it while its one poll lasts). When the
//! stuck worker's word changes again (its poll ended), sysmon asks the spare to stop: the spare
//! gives its goroutines to the global queue and waits for the next hand-off. At most one spare
//! stands in for a worker at a time; spares are workers too, so a stuck spare gets relieved
//! the same way while idle spares remain.
//!
//! # Not adding a thread to busy cores
//!
//! Go hands a P to a new M only when its M sits in a system call, which uses no CPU; a
//! goroutine that computes too long is preempted instead, never given a rival thread. gort
//! cannot preempt a poll, but it can ask the kernel whether the stuck worker's thread is on a
//! CPU (`oncpu.rs`). If it is, and some other worker that is not stuck is awake, no spare
//! starts: that worker already steals the stuck one's ring and `runnext` and fires its timers,
//! and a spare would be one more thread than cores, which the kernel time-slices in slices of
//! milliseconds. (100,000 sleepers spawned in one poll on two workers were woken up to 5 ms
//! late at p99 with the spare, 1.3 to 1.7 ms without.) sysmon still moves the stuck worker's
//! yielded goroutines to the global queue. A spare does start when every awake worker is
//! stuck, or when the stuck thread blocks in the kernel, or when the kernel cannot say.
//!
//! # Sleeping
//!
//! When every worker has been parked for 10 looks in a row (100 ms) there is nothing to
//! watch, and sysmon sleeps without a timeout (Go's `sysmonwait`), so an idle runtime costs no
//! wake-ups. It waits those 100 ms first because waking it is not free: a runtime whose
//! workers park and unpark thousands of times a second (goroutines ping-ponging across two
//! workers) would otherwise wake sysmon each time, a system call on the unparking worker's
//! path and a third thread competing for the cores.
//!
//! To sleep, sysmon sets `waiting`, then re-reads the idle counts; a worker that leaves its
//! park, counted as unparked first, then reads `waiting` and wakes sysmon. Each side writes
//! its word and then reads the other's with a SeqCst read-modify-write, so either sysmon sees
//! the unparked worker or the worker sees `waiting` (`loom_sysmon.rs` checks this; with plain
//! loads it finds sysmon asleep beside a running worker).
//!
//! Go's sysmon also polls the network when no worker has for 10 ms, and starts the GC when none
//! ran for two minutes; gort's will do both once the net poller and the collector exist.

use super::idle::Idle;
use super::park::{Parker, Unparker};
use crate::loom::atomic::{AtomicBool, Ordering::*};
// A statistic, not part of any protocol: std's atomic even under loom.
use std::sync::atomic::AtomicU64;
#[cfg(not(gort_loom))]
use {
    super::Shared,
    crate::loom::Arc,
    std::time::{Duration, Instant},
};

/// How often sysmon looks at the workers while any of them runs.
#[cfg(not(any(gort_loom, miri)))]
const PERIOD: Duration = Duration::from_millis(10);
/// Looks in a row with every worker parked before sysmon sleeps until one unparks (100 ms).
#[cfg(not(gort_loom))]
const IDLE_LOOKS_BEFORE_SLEEP: u32 = 10;
/// A poll longer than this gets its worker relieved (Go's `forcePreemptNS`).
#[cfg(not(any(gort_loom, miri)))]
const STUCK: Duration = Duration::from_millis(10);
// Under miri every poll is a thousand times slower and every look is interpreted: looks are
// rarer and a poll counts as stuck only after a second, so that the hand-off still runs (the
// `sysmon` tests block for longer) without relieving every worker all the time.
#[cfg(all(miri, not(gort_loom)))]
const PERIOD: Duration = Duration::from_millis(50);
#[cfg(all(miri, not(gort_loom)))]
const STUCK: Duration = Duration::from_secs(1);

/// The part of sysmon that workers and the runtime reach.
pub(crate) struct Sysmon {
    unparker: Unparker,
    /// True while sysmon sleeps without a timeout because every worker was parked.
    waiting: AtomicBool,
    /// Hand-offs so far (a statistic).
    handoffs: AtomicU64,
}

/// What the sysmon thread takes.
pub(crate) struct SysmonParts {
    #[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
    pub(super) parker: Parker,
}

impl Sysmon {
    pub(super) fn new() -> (Sysmon, SysmonParts) {
        let parker = Parker::new();
        let sysmon = Sysmon {
            unparker: parker.unparker(),
            waiting: AtomicBool::new(false),
            handoffs: AtomicU64::new(0),
        };
        (sysmon, SysmonParts { parker })
    }

    /// Wakes sysmon (at shutdown).
    pub(super) fn unpark(&self) {
        self.unparker.unpark();
    }

    /// A worker left its park, already counted as unparked: wakes sysmon if it sleeps.
    pub(super) fn worker_unparked(&self) {
        // A read-modify-write, not a load: a load could be satisfied before the RMW that
        // counted this worker unparked (see the module comment).
        if self.waiting.swap(false, SeqCst) {
            self.unparker.unpark();
        }
    }

    /// If `idle()` (every worker parked), sleeps until a worker unparks or sysmon is unparked;
    /// false at once otherwise. `idle` is read again after `waiting` is set (see the module
    /// comment).
    #[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
    pub(super) fn sleep_while_idle(&self, parker: &Parker, idle: impl Fn() -> bool) -> bool {
        if !idle() {
            return false;
        }
        self.waiting.swap(true, SeqCst);
        if idle() {
            parker.park();
        }
        self.waiting.store(false, SeqCst);
        true
    }

    pub(super) fn handoffs(&self) -> u64 {
        self.handoffs.load(Relaxed)
    }
}

/// What sysmon remembers of one worker.
#[cfg(not(gort_loom))]
#[derive(Clone, Copy)]
struct Watch {
    sched: u64,
    since: Instant,
    /// The spare standing in for this worker.
    relief: Option<usize>,
}

/// The body of the sysmon thread.
#[cfg(not(gort_loom))]
pub(crate) fn run(shared: Arc<Shared>, parts: SysmonParts) {
    let SysmonParts { parker } = parts;
    let now = Instant::now();
    let mut watches = vec![
        Watch {
            sched: 0,
            since: now,
            relief: None,
        };
        shared.remotes.len()
    ];
    let idle = || all_parked(&shared.idle, stopped_spares(&shared)) && !shared.is_shutdown();
    let mut idle_looks = 0;
    while !shared.is_shutdown() {
        if idle_looks >= IDLE_LOOKS_BEFORE_SLEEP && shared.sysmon.sleep_while_idle(&parker, idle) {
            idle_looks = 0;
            continue;
        }
        parker.park_timeout(Some(PERIOD));
        idle_looks = if idle() { idle_looks + 1 } else { 0 };
        retake(&shared, &mut watches, Instant::now());
    }
}

/// True if no worker is running or searching, given how many spares are not started (those
/// count as unparked, see `idle.rs`).
#[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
pub(super) fn all_parked(idle: &Idle, stopped_spares: usize) -> bool {
    idle.num_unparked() <= stopped_spares
}

/// Spares not started: they count as unparked (see `idle.rs`).
#[cfg(not(gort_loom))]
fn stopped_spares(shared: &Shared) -> usize {
    shared.remotes[shared.procs..]
        .iter()
        .filter(|r| !r.spare.is_running())
        .count()
}

/// One look at every worker (Go's `retake`).
#[cfg(not(gort_loom))]
fn retake(shared: &Shared, watches: &mut [Watch], now: Instant) {
    for (index, watch) in watches.iter_mut().enumerate() {
        let sched = shared.remotes[index].sched.load(Relaxed);
        if sched != watch.sched {
            // It moved on: its spare, if any, can stop.
            watch.sched = sched;
            watch.since = now;
            if let Some(spare) = watch.relief.take() {
                shared.remotes[spare].spare.request_stop();
                shared.remotes[spare].unparker.unpark();
            }
        }
    }
    let is_stuck = |w: &Watch| w.sched & 1 == 1 && now.duration_since(w.since) >= STUCK;
    let stuck = watches.iter().filter(|w| is_stuck(w)).count();
    for (index, watch) in watches.iter_mut().enumerate() {
        if !is_stuck(watch) || watch.relief.is_some() {
            continue;
        }
        if keeps_its_cpu(shared, index) && others_run(shared, stuck) {
            rescue_yielded(shared, index);
            continue;
        }
        let Some(spare) = (shared.procs..shared.remotes.len())
            .find(|&s| s != index && !shared.remotes[s].spare.is_running())
        else {
            // Every spare is busy already.
            continue;
        };
        watch.relief = Some(spare);
        hand_off(shared, index, spare);
    }
}

/// True if the stuck worker's thread computes rather than blocks (see `oncpu.rs`).
#[cfg(not(gort_loom))]
fn keeps_its_cpu(shared: &Shared, index: usize) -> bool {
    shared.remotes[index]
        .thread
        .get()
        .and_then(|t| t.is_on_cpu())
        .unwrap_or(false)
}

/// True if some worker that is not stuck is awake (running or searching), `stuck` of them
/// being stuck.
#[cfg(not(gort_loom))]
fn others_run(shared: &Shared, stuck: usize) -> bool {
    shared
        .idle
        .num_unparked()
        .saturating_sub(stopped_spares(shared))
        > stuck
}

/// The stuck worker's yielded goroutines go to the global queue: only it would ever run them.
#[cfg(not(gort_loom))]
fn rescue_yielded(shared: &Shared, stuck: usize) {
    let yielded = std::mem::take(&mut *shared.remotes[stuck].yielded.lock());
    if !yielded.is_empty() {
        shared.injector.push_batch(yielded.into_iter());
        shared.notify_parked();
    }
}

/// Starts `spare` in place of the stuck worker `stuck`.
#[cfg(not(gort_loom))]
fn hand_off(shared: &Shared, stuck: usize, spare: usize) {
    rescue_yielded(shared, stuck);
    // Counted first, so that whatever the spare runs sees the hand-off in the metrics.
    shared.sysmon.handoffs.fetch_add(1, Relaxed);
    let remote = &shared.remotes[spare];
    remote.spare.start();
    remote.unparker.unpark();
}
