//! The work-stealing M:N scheduler: Go's G-M-P model over futures.
//!
//! # Pieces
//!
//! - **G**, the goroutine, is a task (`crate::task`): a future in one allocation, queued as a
//!   `Notified` pointer.
//! - **P**, the processor, is a `Worker` (`worker.rs`): a local ring of 256 tasks that only it
//!   pushes, a `runnext` slot (`queue.rs`), a coop budget, counters. There are `workers` of them
//!   (GOMAXPROCS).
//! - **M**, the OS thread: here each P has exactly one thread for its whole life. Blocking work
//!   goes to a separate pool (`crate::blocking`) instead of handing the P to a new M.
//! - **sysmon** (`sysmon.rs`) watches the workers; when one is stuck in a single poll for over
//!   10 ms it starts a *spare* worker (`spare.rs`), a P of its own kept parked until then, which
//!   runs the goroutines the stuck one cannot (Go's retake, hand-off of a P in a syscall),
//!   unless the stuck thread computes on a CPU while another worker runs (`oncpu.rs`).
//! - The global run queue is the `Injector` (`injector.rs`); the idle and spinning accounting
//!   is `Idle` (`idle.rs`); a thread with nothing to do sleeps in a `Parker` (`park.rs`).
//!
//! # Where a runnable task goes
//!
//! | who makes it runnable                          | where it goes                           |
//! |------------------------------------------------|-----------------------------------------|
//! | the running goroutine spawns it or wakes it    | `runnext` (the old occupant to the ring) |
//! | it woke itself during its poll (a yield)       | the worker's yielded list, which rejoins |
//! |                                                | the ring once ring and injector are empty |
//! | a worker, outside any poll                     | the back of the local ring              |
//! | any other thread, or a worker of another runtime | the injector                          |
//! | a full ring                                    | half of the ring moves to the injector  |
//!
//! Whenever work lands somewhere other workers can take it (a ring or the injector), the
//! pusher calls `notify_parked`, which unparks one worker if none is searching (Go's `wakep`).
//! Two exceptions: yielders that rejoin the ring two or more at a time with nothing else to run
//! (goroutines taking turns on one worker, such as a producer and consumer that spend their
//! budget on one channel) wake a parked worker only once they have taken turns for 100 µs
//! (see `Worker::flush_yielded`); and a chain of `runnext` hops that is cut goes back to the
//! ring without waking anyone, as nothing new became runnable (`Worker::cut_chain`).
//!
//! # The worker loop (Go's `schedule` / `findrunnable`)
//!
//! 1. Every 61 polls (runnext hops included), due timers fire and a share of the injector
//!    comes first, so the global queue never starves behind busy local work.
//! 2. `runnext`, then the local ring, then a share of the injector, then the goroutines that
//!    yielded (Go's Gosched sends them to the back of the global queue; gort keeps them in a
//!    per-worker list that rejoins the ring when nothing else is runnable, and every 61 polls).
//!    A share of the injector is `len / workers + 1`, but never more than half of the ring's
//!    free room: a busy ring that overflowed would send its goroutines, just-woken ones among
//!    them, to the back of the global queue. A chain of `runnext` hops that is cut (at the
//!    61st poll, or when its slice is spent) puts the injector's share in the ring ahead of it.
//! 3. Search: if fewer than half the workers are searching, become a searcher and try four
//!    rounds of stealing half of another worker's ring (random start), checking the injector
//!    after each round. A short ring that begins with goroutines displaced from `runnext` is
//!    *held* for its owner (`queue.rs`), and so is `runnext`: the last round waits 50 µs once
//!    for all victims, then takes a held ring only if a goroutine it saw is still queued, and
//!    a `runnext` only if its owner is still in the same poll.
//! 4. Park (see `idle.rs` for the protocol that loses no wake-up).
//!
//! Running a task starts a time slice with a fresh coop budget. If the poll puts a task in
//! `runnext`, that task runs next in the same slice, paying one unit per hop; when the slice is
//! spent and others are waiting, the `runnext` task goes to the back of the ring instead, so two
//! goroutines bouncing through `runnext` cannot starve the rest (Go's `inheritTime`).
//!
//! # Shutdown
//!
//! `Shared::shutdown` sets the flag and unparks everyone; each worker leaves its loop at the
//! next tick and drops the references in its queue. The runtime then closes the injector and
//! cancels every live task through the owned list, which drops their futures.

mod idle;
mod injector;
mod lend;
mod metrics;
#[cfg(not(gort_loom))]
mod oncpu;
mod park;
mod queue;
mod spare;
mod sysmon;
mod worker;

#[cfg(all(test, gort_loom))]
mod loom_park;
#[cfg(all(test, gort_loom))]
mod loom_queue;
#[cfg(all(test, gort_loom))]
mod loom_sysmon;
#[cfg(all(test, not(gort_loom)))]
mod proptest_queue;

pub use metrics::Metrics;
pub(crate) use park::{Parker, Unparker};
pub(crate) use sysmon::SysmonParts;
#[cfg(not(gort_loom))]
pub(crate) use sysmon::run as run_sysmon;
pub(crate) use worker::{Worker, run as run_worker};

use crate::blocking;
use crate::lent::{Lends, LentCount};
use crate::loom::Arc;
use crate::loom::atomic::{AtomicBool, AtomicU64, Ordering::*};
use crate::spin::SpinLock;
use crate::task::{self, Header, JoinHandle, Notified, Schedule, owned::OwnedTasks};
use crate::time::TimeDriver;
use idle::Idle;
use injector::Injector;
use metrics::WorkerMetrics;
use queue::Steal;
use spare::SpareFlags;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::ptr::NonNull;

/// The state of one runtime that every worker and every task's scheduler handle shares.
pub(crate) struct Shared {
    /// The workers (GOMAXPROCS of them), then the spares.
    remotes: Box<[Remote]>,
    /// GOMAXPROCS: the workers that are not spares.
    procs: usize,
    injector: Injector,
    idle: Idle,
    pub(crate) owned: OwnedTasks,
    shutdown: AtomicBool,
    pub(crate) blocking: blocking::Spawner,
    pub(crate) time: TimeDriver,
    remote_spawns: AtomicU64,
    sysmon: sysmon::Sysmon,
    /// The references lent to timers (see `lent.rs` and `lend.rs`).
    lent: LentCount,
}

impl Lends for Shared {
    fn lent_count(&self) -> &LentCount {
        &self.lent
    }
}

/// What other threads may touch of a worker.
///
/// Aligned to two cache lines (the adjacent-line prefetcher pairs them) so that what one
/// worker writes on every poll (its counters, `sched`) never shares a line with its
/// neighbour's.
#[repr(align(128))]
struct Remote {
    steal: Steal,
    unparker: Unparker,
    metrics: WorkerMetrics,
    /// The goroutines that yielded on this worker (see `Worker::schedule_local`). Behind a lock
    /// only so that a searcher can take them when the owner is stuck in a poll; the owner's
    /// lock is uncontended otherwise.
    yielded: SpinLock<VecDeque<Notified>>,
    /// `polls << 1 | polling`, written by the owner around each poll, read by sysmon to see
    /// a worker stuck in one poll.
    sched: AtomicU64,
    /// For a spare: whether sysmon started it, and whether it should stop.
    spare: SpareFlags,
    /// The worker's thread, for sysmon to see whether a stuck poll keeps it on a CPU; set
    /// when the thread starts.
    #[cfg(not(gort_loom))]
    thread: std::sync::OnceLock<oncpu::ThreadState>,
}

/// What a worker thread needs to start: its queue's owner side and its parker.
pub(crate) struct WorkerParts {
    index: usize,
    local: queue::Local,
    parker: Parker,
}

impl Shared {
    /// The state of a runtime with `workers` workers and `spares` spare workers (all parked
    /// until sysmon starts them), with the parts their threads and sysmon's take.
    pub(crate) fn new(
        workers: usize,
        spares: usize,
        blocking: blocking::Spawner,
    ) -> (Arc<Shared>, Vec<WorkerParts>, SysmonParts) {
        let total = workers + spares;
        let mut remotes = Vec::with_capacity(total);
        let mut parts = Vec::with_capacity(total);
        for index in 0..total {
            let (local, steal) = queue::local();
            let parker = Parker::new();
            remotes.push(Remote {
                steal,
                unparker: parker.unparker(),
                metrics: Default::default(),
                yielded: SpinLock::new(VecDeque::new()),
                sched: AtomicU64::new(0),
                spare: SpareFlags::default(),
                #[cfg(not(gort_loom))]
                thread: std::sync::OnceLock::new(),
            });
            parts.push(WorkerParts {
                index,
                local,
                parker,
            });
        }
        let (sysmon, sysmon_parts) = sysmon::Sysmon::new();
        let shared = Shared {
            remotes: remotes.into_boxed_slice(),
            procs: workers,
            injector: Injector::new(),
            idle: Idle::new(workers, spares),
            owned: OwnedTasks::new(workers * 4),
            shutdown: AtomicBool::new(false),
            blocking,
            time: TimeDriver::new(total),
            remote_spawns: AtomicU64::new(0),
            sysmon,
            lent: LentCount::new(),
        };
        (Arc::new(shared), parts, sysmon_parts)
    }

    /// GOMAXPROCS: the workers, not counting spares.
    pub(crate) fn num_workers(&self) -> usize {
        self.procs
    }

    fn is_spare(&self, index: usize) -> bool {
        index >= self.procs
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    /// Starts a goroutine.
    pub(crate) fn spawn<F>(
        this: &Arc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // SAFETY: the future and its output are 'static.
        unsafe { Shared::spawn_unchecked(this, future, location) }
    }

    /// Starts a goroutine whose future may borrow.
    ///
    /// # Safety
    /// If `F` or its output is not `'static`, the caller must not let the borrow end before
    /// the task has completed (`block_on` waits for its `JoinHandle`).
    pub(crate) unsafe fn spawn_unchecked<F>(
        this: &Arc<Self>,
        future: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let (task, notified, join) = task::new(future, this.clone(), location);
        crate::context::with_worker(|worker| match worker {
            Some(w) if w.belongs_to(this) => w.metrics().spawned.incr(),
            _ => {
                this.remote_spawns.fetch_add(1, Relaxed);
            }
        });
        if let Some(notified) = this.owned.bind(task, notified) {
            this.schedule_task(notified, false);
        }
        join
    }

    fn schedule_task(&self, task: Notified, is_yield: bool) {
        crate::context::with_worker(|worker| match worker {
            Some(w) if w.belongs_to(self) => w.schedule_local(task, is_yield),
            _ => {
                self.injector.push(task);
                self.notify_parked();
            }
        });
    }

    /// Wakes worker `index` from its park (the timer watcher, for an earlier deadline).
    pub(crate) fn unpark_worker(&self, index: usize) {
        self.remotes[index].unparker.unpark();
    }

    /// Unparks a worker if work is waiting and nobody is searching for it.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unparker.unpark();
        }
    }

    /// True if any queue holds a task (a hint; used by the last searcher before it parks).
    fn has_pending_work(&self) -> bool {
        !self.injector.is_empty() || self.remotes.iter().any(|r| !r.steal.is_empty())
    }

    /// Stops the workers: they leave their loops at their next tick.
    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.idle.unpark_all();
        for remote in self.remotes.iter() {
            remote.unparker.unpark();
        }
        self.sysmon.unpark();
    }

    /// After the workers stopped: drop queued references and cancel every live task.
    pub(crate) fn shutdown_tasks(&self) {
        // Timers resolve rather than hang: fire them all, refuse new ones.
        self.time.shutdown();
        for remote in self.remotes.iter() {
            // Goroutines that yielded on a worker that did not stop in time.
            let yielded = std::mem::take(&mut *remote.yielded.lock());
            drop(yielded);
        }
        self.injector.close();
        self.owned.close_and_shutdown_all();
        // Destructors run by the line above may have queued wake-ups: drop those too.
        self.injector.close();
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = Metrics {
            workers: self.num_workers(),
            goroutines: self.owned.len(),
            spawned: self.remote_spawns.load(Relaxed),
            injector_depth: self.injector.len(),
            parked_workers: self.idle.num_parked(),
            searching_workers: self.idle.num_searching(),
            handoffs: self.sysmon.handoffs(),
            ..Metrics::default()
        };
        for (index, remote) in self.remotes.iter().enumerate() {
            let spare = self.is_spare(index);
            m.add_worker(&remote.metrics, spare);
            m.running_spares += usize::from(spare && remote.spare.is_running());
        }
        (m.blocking_threads, m.idle_blocking_threads) = self.blocking.thread_counts();
        m
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        self.schedule_task(task, false);
    }

    fn yield_now(&self, task: Notified) {
        self.schedule_task(task, true);
    }

    fn release(&self, task: NonNull<Header>) -> bool {
        self.owned.remove(task)
    }
}
