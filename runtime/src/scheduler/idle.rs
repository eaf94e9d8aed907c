//! Which workers are searching for work and which are parked (Go's `sched.nmspinning` and
//! `sched.pidle`), and the protocol that keeps a runnable task from waiting while a core idles.
//!
//! One atomic word counts the *searching* workers (spinning over the other queues) and the
//! *unparked* ones; a mutex-guarded list holds the parked workers' indices.
//!
//! - At most half of the workers search at once (`transition_worker_to_searching`), so stealing
//!   never turns into a thundering herd.
//! - Whoever makes work available (a push to a ring or the injector) calls `worker_to_notify`
//!   *after* the push: if nobody is searching and someone is parked, it unparks one worker and
//!   counts it as searching on its behalf. If someone is searching, that searcher will find the
//!   work, so nothing is woken (Go's `wakep`).
//! - A searcher that finds work stops searching; if it was the last searcher it wakes another
//!   worker, which may find more work (Go: "a spinning M that finds work wakes another").
//! - A worker that parks while it was the last searcher re-checks every queue after it is
//!   counted as parked, and wakes a worker if it finds anything.
//!
//! No lost wake-up: the pusher does (push; SeqCst fence; read the counts) and the parking last
//! searcher does (SeqCst decrement; read the queues). One of the two sees the other's write:
//! either the pusher sees no searcher and wakes someone, or the searcher sees the work.
//! `loom_park.rs` checks this.
//!
//! Spare workers (`spare.rs`) count as unparked while they wait for sysmon to start them: they
//! are on no list a notifier pops from, so `unparked < total` still means "someone is on the
//! parked list". Once started, a spare parks and searches like any worker.

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::loom::{Mutex, lock};

const UNPARKED_SHIFT: usize = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;

pub(crate) struct Idle {
    /// `(unparked << 16) | searching`.
    state: AtomicUsize,
    /// Indices of the parked workers.
    sleepers: Mutex<Vec<usize>>,
    /// Workers and spares.
    total: usize,
    /// Workers (GOMAXPROCS): at most half of this many search.
    procs: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

impl Idle {
    /// All workers and spares start unparked and not searching.
    pub(crate) fn new(procs: usize, spares: usize) -> Idle {
        let total = procs + spares;
        assert!(total < SEARCHING_MASK, "gort: too many workers");
        Idle {
            state: AtomicUsize::new(total << UNPARKED_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(total)),
            total,
            procs,
        }
    }

    /// After making work available: the index of a parked worker to unpark, if one should be.
    /// The returned worker is already counted as unparked and searching.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wakeup() {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if !self.notify_should_wakeup() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add((1 << UNPARKED_SHIFT) | 1, SeqCst);
        Some(worker)
    }

    fn notify_should_wakeup(&self) -> bool {
        // A SeqCst read-modify-write orders this read after the caller's push (see the module
        // comment); a plain load could be satisfied before it.
        let state = self.state.fetch_add(0, SeqCst);
        searching(state) == 0 && unparked(state) < self.total
    }

    /// A worker out of local work asks to search; refused when half are searching already.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.procs {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searcher found work (or gave up). True if it was the last searcher.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// A worker parks. True if it was the last searcher: it must re-check the queues.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = lock(&self.sleepers);
        let dec = (1 << UNPARKED_SHIFT) | usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// After waking up: false if the worker is still on the parked list (a spurious wake-up).
    pub(crate) fn transition_worker_from_parked(&self, worker: usize) -> bool {
        !lock(&self.sleepers).contains(&worker)
    }

    /// A parked worker wakes itself (a timer deadline came): takes it off the parked list and
    /// counts it as unparked, not searching. False if someone unparked it meanwhile.
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        let Some(pos) = sleepers.iter().position(|w| *w == worker) else {
            return false;
        };
        sleepers.swap_remove(pos);
        self.state.fetch_add(1 << UNPARKED_SHIFT, SeqCst);
        true
    }

    /// For shutdown: takes every worker off the parked list.
    pub(crate) fn unpark_all(&self) -> Vec<usize> {
        let mut sleepers = lock(&self.sleepers);
        let woken = std::mem::take(&mut *sleepers);
        self.state.fetch_add(woken.len() << UNPARKED_SHIFT, SeqCst);
        woken
    }

    /// Workers currently searching.
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(Relaxed))
    }

    /// Workers currently parked.
    pub(crate) fn num_parked(&self) -> usize {
        self.total - unparked(self.state.load(Relaxed))
    }

    /// Workers and spares not parked (spares that sysmon has not started included). A
    /// read-modify-write, for sysmon's Dekker-style check against workers leaving their park
    /// (see `sysmon.rs`).
    #[cfg_attr(gort_loom, allow(dead_code))] // no sysmon thread under loom (see `loom_sysmon.rs`)
    pub(crate) fn num_unparked(&self) -> usize {
        unparked(self.state.fetch_add(0, SeqCst))
    }
}
