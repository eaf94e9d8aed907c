//! Loom models of parking: the `Parker` (`park.rs`) and the idle protocol (`idle.rs`) through
//! which workers go to sleep and are woken.
//!
//! The invariant: no wake-up is lost. For the `Parker`, an `unpark` that comes before or during
//! a `park` ends it, and everything written before the `unpark` is visible after the `park`.
//! For the idle protocol, a task pushed to the injector is taken by some worker, whatever the
//! interleaving of the push and its `notify_parked` with the workers searching and parking.
//! A lost wake-up leaves every thread blocked, which loom reports as a deadlock.
//!
//! The workers here run the loop of `worker.rs` with the parts that matter to parking, on the
//! real `Idle`, `Parker` and `Injector`: take from the injector; otherwise become a searcher
//! (if fewer than half search) and look again; otherwise park (counted as parked first, the last
//! searcher re-checks the queues), and when unparked by a notification, search. The rings are
//! left out (work arrives only through the injector), and so are the steal rounds, which only
//! repeat the look, and the timer watcher's park timeout (modelled in `time/loom_time.rs`). The worker that takes the last task shuts the model down as
//! `Shared::shutdown` does, which releases the other workers.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime
//! --release --lib loom_park`. The time above each model is the whole model at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::idle::Idle;
use super::injector::Injector;
use super::park::{Parker, Unparker};
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::{Arc, UnsafeCell, thread};
use crate::task::{self, Header, Notified, Schedule};
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (15 executions), 2026-11-23
/// An `unpark` before or during the `park` ends it, and what the unparker wrote before is
/// visible after (the payload is a loom cell, so a missing happens-before is a reported race).
#[test]
fn unpark_ends_park() {
    loom::model(|| {
        let parker = Parker::new();
        let unparker = parker.unparker();
        let payload = Arc::new(UnsafeCell::new(0));
        let writer = {
            let payload = payload.clone();
            thread::spawn(move || {
                // SAFETY: the parked thread reads the cell only after its park returned, which
                // this unpark causes (loom checks that ordering).
                payload.with_mut(|p| unsafe { *p = 1 });
                unparker.unpark();
            })
        };
        // `park` does not return spuriously under loom (no condvar timeouts or spurious
        // wake-ups), so its return is this unpark's.
        parker.park();
        // SAFETY: see the writer.
        assert_eq!(payload.with(|p| unsafe { *p }), 1);
        writer.join().unwrap();
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.7 s (3808 executions), 2026-11-23
/// Two unparks from two threads, racing each other and two parks guarded by a flag, as the
/// worker loop parks again after a spurious return: the thread never sleeps with its flag set.
#[test]
fn unparks_racing_repeated_parks() {
    loom::model(|| {
        let parker = Parker::new();
        let pending = Arc::new(AtomicUsize::new(0));
        let unparkers: Vec<_> = (0..2)
            .map(|_| {
                let unparker = parker.unparker();
                let pending = pending.clone();
                thread::spawn(move || {
                    pending.fetch_add(1, SeqCst);
                    unparker.unpark();
                })
            })
            .collect();
        let mut seen = 0;
        while seen < 2 {
            if pending.load(SeqCst) == seen {
                parker.park();
            }
            seen = pending.load(SeqCst);
        }
        for unparker in unparkers {
            unparker.join().unwrap();
        }
    });
}

/// The models' tasks are never polled: a worker "runs" a task by taking it.
struct NoSchedule;

impl Schedule for NoSchedule {
    fn schedule(&self, _task: Notified) {
        unreachable!("the models never poll their tasks");
    }

    fn release(&self, _task: NonNull<Header>) -> bool {
        false
    }
}

struct Nothing;

impl Future for Nothing {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// A task whose only reference is the returned `Notified`.
fn new_task() -> Notified {
    let (task, notified, join) = task::new(Nothing, NoSchedule, Location::caller());
    drop(task);
    drop(join);
    notified
}

/// What the workers of one execution share: the `Shared` of `mod.rs`, cut down to parking.
struct Model {
    idle: Idle,
    injector: Injector,
    unparkers: Vec<Unparker>,
    shutdown: AtomicBool,
    /// Tasks still to take; the worker that takes the last shuts the model down.
    remaining: AtomicUsize,
}

impl Model {
    fn new(workers: usize, tasks: usize) -> (Arc<Model>, Vec<Parker>) {
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let model = Model {
            idle: Idle::new(workers, 0),
            injector: Injector::new(),
            unparkers: parkers.iter().map(Parker::unparker).collect(),
            shutdown: AtomicBool::new(false),
            remaining: AtomicUsize::new(tasks),
        };
        (Arc::new(model), parkers)
    }

    /// A thread outside the workers makes a task runnable (`Shared::schedule_task`).
    fn push(&self, task: Notified) {
        self.injector.push(task);
        self.notify_parked();
    }

    /// `Shared::notify_parked`.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.unparkers[index].unpark();
        }
    }

    /// `Shared::shutdown`.
    fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.idle.unpark_all();
        for unparker in &self.unparkers {
            unparker.unpark();
        }
    }

    /// `Shared::has_pending_work`, without rings.
    fn has_pending_work(&self) -> bool {
        !self.injector.is_empty()
    }

    /// The loop of worker `index` (`Worker::run_loop`); returns the tasks it took.
    fn run_worker(&self, index: usize, parker: Parker) -> Vec<Notified> {
        let mut taken = Vec::new();
        let mut is_searching = false;
        while !self.shutdown.load(SeqCst) {
            // `next_task`: no ring, so the injector.
            let mut task = self.injector.pop();
            // `search`: become a searcher if fewer than half search, then look again.
            if task.is_none() {
                if !is_searching && self.idle.transition_worker_to_searching() {
                    is_searching = true;
                }
                if is_searching {
                    task = self.injector.pop();
                }
            }
            match task {
                Some(task) => {
                    // `run_task`: the last searcher that found work lets another look.
                    if is_searching {
                        is_searching = false;
                        if self.idle.transition_worker_from_searching() {
                            self.notify_parked();
                        }
                    }
                    taken.push(task);
                    if self.remaining.fetch_sub(1, SeqCst) == 1 {
                        self.shutdown();
                    }
                }
                None => {
                    let was_searching = std::mem::replace(&mut is_searching, false);
                    is_searching = self.park(index, &parker, was_searching);
                }
            }
        }
        if is_searching {
            self.idle.transition_worker_from_searching();
        }
        taken
    }

    /// `Worker::park`; true if the worker was woken to search (false at shutdown).
    fn park(&self, index: usize, parker: &Parker, was_searching: bool) -> bool {
        if self.idle.transition_worker_to_parked(index, was_searching) && self.has_pending_work() {
            self.notify_parked();
        }
        loop {
            parker.park();
            if self.shutdown.load(SeqCst) {
                return false;
            }
            if self.idle.transition_worker_from_parked(index) {
                return true;
            }
        }
    }
}

/// Runs `workers` workers while the main thread pushes `tasks` tasks to the injector; every
/// task must be taken exactly once, and every thread must finish.
fn run_model(workers: usize, tasks: usize) {
    let (model, parkers) = Model::new(workers, tasks);
    let handles: Vec<_> = parkers
        .into_iter()
        .enumerate()
        .map(|(index, parker)| {
            let model = model.clone();
            thread::spawn(move || model.run_worker(index, parker))
        })
        .collect();
    for _ in 0..tasks {
        model.push(new_task());
    }
    let taken: usize = handles.into_iter().map(|h| h.join().unwrap().len()).sum();
    assert_eq!(taken, tasks);
    assert!(model.injector.is_empty());
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (88 executions), 2026-11-23
/// One worker, one task: the worker searches, finds nothing and parks as the last searcher
/// while the task arrives. Either the pusher sees no searcher and unparks it, or the worker's
/// re-check after it was counted as parked sees the task (and unparks itself).
#[test]
fn one_worker_no_lost_wakeup() {
    loom::model(|| run_model(1, 1));
}

// LOOM_MAX_PREEMPTIONS=3: 0.2 s (1170 executions), 2026-11-23
/// One worker, two tasks pushed one after the other: the second push may find the worker
/// searching, running or parked.
#[test]
fn one_worker_two_pushes() {
    loom::model(|| run_model(1, 2));
}

// LOOM_MAX_PREEMPTIONS=3: 12 s (57703 executions), 2026-11-23
/// Two workers, one task: only one of them may search at a time (half of two), so the other
/// parks without searching and without re-checking; the task must still be taken.
#[test]
fn two_workers_no_lost_wakeup() {
    loom::model(|| run_model(2, 1));
}
