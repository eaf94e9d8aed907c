//! A worker (Go's P with its M): the loop that finds a runnable goroutine and polls it.
//!
//! The loop, its order of queues and the runnext guard are described in `mod.rs`. A `Worker`
//! lives on its thread's stack for the thread's whole life; the thread-local context points to
//! it so that wakes and spawns made by the goroutine it polls reach its queue. All its mutable
//! fields are `Cell`s because a poll re-enters the worker through those wakes.

use super::metrics::WorkerMetrics;
use super::park::Parker;
use super::queue::{self, CAPACITY, Ring};
use super::{Shared, WorkerParts};
use crate::coop::{self, Budget};
use crate::loom::Arc;
use crate::loom::atomic::Ordering::Relaxed;
use crate::task::{Header, Notified};
use crate::time::ClockCache;
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
#[cfg(not(gort_loom))]
use std::time::Duration;

/// Every this many polls the injector gets a turn and due timers fire (Go's `schedtick % 61`).
const GLOBAL_INTERVAL: u32 = 61;
/// How long yielders may take turns with other runnable goroutines on one worker before their
/// rejoin wakes a parked worker to take some (see `flush_yielded`).
const CROWDED_NANOS: u64 = 100_000;
/// Rounds over all victims before a searcher gives up (Go's `stealTries`).
const STEAL_ROUNDS: usize = 4;

/// A victim the last round of stealing waits for: its held ring's tail and its `runnext`, as
/// seen before the wait.
struct Graced {
    victim: usize,
    /// The victim's `Remote::sched`: which poll it was in.
    sched: u64,
    held: Option<u32>,
    runnext: Option<NonNull<Header>>,
}

pub(crate) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) index: usize,
    pub(super) local: queue::Local,
    pub(super) parker: Parker,
    /// A spare worker (see `spare.rs`).
    pub(super) is_spare: bool,
    /// Polls since the injector last had a turn.
    tick: Cell<u32>,
    /// Polls so far, published in `Remote::sched` for sysmon.
    polls: Cell<u64>,
    is_searching: Cell<bool>,
    /// True while a goroutine is being polled: its wakes and spawns go to `runnext`.
    is_polling: Cell<bool>,
    /// When (on the time driver's clock, never 0) the yielders began to rejoin two or more at
    /// a time; 0 when the last rejoin was of one.
    crowded_since: Cell<u64>,
    /// References to `shared` lent out of its count and stocked for timers (see `lend.rs`).
    pub(super) handle_refs: Cell<usize>,
    /// The anchor this worker's timers read the time from (see `time/clock.rs`).
    clock: ClockCache,
    rng: RefCell<fastrand::Rng>,
    /// The victims of the last round of stealing (kept to reuse its buffer).
    graced: RefCell<Vec<Graced>>,
}

/// The body of worker thread `parts.index`.
pub(crate) fn run(shared: Arc<Shared>, parts: WorkerParts) {
    let WorkerParts {
        index,
        local,
        parker,
    } = parts;
    #[cfg(not(gort_loom))]
    let _ = shared.remotes[index]
        .thread
        .set(super::oncpu::ThreadState::current());
    let worker = Worker {
        is_spare: shared.is_spare(index),
        shared: shared.clone(),
        index,
        local,
        parker,
        tick: Cell::new(0),
        polls: Cell::new(0),
        is_searching: Cell::new(false),
        is_polling: Cell::new(false),
        crowded_since: Cell::new(0),
        handle_refs: Cell::new(0),
        clock: ClockCache::new(),
        rng: RefCell::new(fastrand::Rng::with_seed(
            0x9E37_79B9_7F4A_7C15 ^ index as u64,
        )),
        graced: RefCell::new(Vec::with_capacity(shared.remotes.len())),
    };
    // Declared after `worker`, so dropped before it: the thread stops being this worker before
    // the worker gives back its stocked references (see `lend.rs`).
    let _enter = crate::context::enter_worker(shared, &worker);
    worker.run_loop();
}

impl Worker {
    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        std::ptr::eq(&*self.shared, shared)
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn clock_cache(&self) -> &ClockCache {
        &self.clock
    }

    /// The time driver's clock now or a little later, from this worker's counter anchor
    /// (cheap: see `time/clock.rs`).
    pub(crate) fn clock_nanos(&self) -> u64 {
        self.shared.time.clock.now_upper(&self.clock)
    }

    pub(crate) fn metrics(&self) -> &WorkerMetrics {
        &self.shared.remotes[self.index].metrics
    }

    fn remote(&self) -> &super::Remote {
        &self.shared.remotes[self.index]
    }

    fn run_loop(&self) {
        self.wait_until_started();
        while !self.shared.is_shutdown() {
            if self.is_spare && self.remote().spare.should_stop() {
                self.stop_spare();
                continue;
            }
            if let Some(task) = self.next_task() {
                self.run_task(task);
            } else if self.shared.time.fire_due(CAPACITY) > 0 {
                // Fired timers woke goroutines onto this worker's queue.
                continue;
            } else if let Some(task) = self.search() {
                self.run_task(task);
            } else {
                self.park();
            }
        }
        if self.is_searching.replace(false) {
            self.shared.idle.transition_worker_from_searching();
        }
        // The goroutines that yielded here hold references to the runtime: drop them now,
        // after the lock is released (a goroutine's destructor may yield).
        let yielded = std::mem::take(&mut *self.remote().yielded.lock());
        drop(yielded);
    }

    /// Stops searching; if this was the last searcher, another worker may have to look.
    pub(super) fn stop_searching(&self) {
        if self.is_searching.replace(false) && self.shared.idle.transition_worker_from_searching() {
            self.shared.notify_parked();
        }
    }

    fn next_task(&self) -> Option<Notified> {
        if self.tick.get() >= GLOBAL_INTERVAL {
            // Maintenance: due timers of every worker fire (Go's checkTimers), yielders rejoin
            // the ring, and the global queue gets a turn however busy the local one is.
            self.tick.set(0);
            // No more than the ring has room for: goroutines woken past that would overflow
            // to the back of the global queue, behind every goroutine waiting there, where
            // the timers left in the wheel fire at the next check, ahead of them.
            self.shared
                .time
                .fire_due(CAPACITY.saturating_sub(self.local.len()));
            self.flush_yielded(self.local.len());
            // A fair share, but no more than half of the ring's free room: a busy worker that
            // pulled a full share here every 61 polls would overfill its ring, and the
            // overflow (goroutines just woken among them) would go to the back of the global
            // queue, behind everything waiting there.
            if let Some(task) = self.take_from_injector() {
                return Some(task);
            }
        }
        self.local
            .pop_runnext()
            .or_else(|| self.local.pop())
            .or_else(|| self.take_from_injector())
            .or_else(|| {
                if self.flush_yielded(0) {
                    self.local.pop()
                } else {
                    None
                }
            })
    }

    /// The 61-tick maintenance of `next_task`, due in the middle of a `runnext` chain: due
    /// timers fire and yielders rejoin the ring. True if nothing else waits then (the ring and
    /// the global queue are empty), so the chain may go on: a ping-pong pair keeps its worker
    /// and wakes nobody. Otherwise the caller gives the global queue its share and ends the
    /// chain.
    fn maintain_in_chain(&self) -> bool {
        self.tick.set(0);
        self.shared
            .time
            .fire_due(CAPACITY.saturating_sub(self.local.len()));
        // The chain's next goroutine is runnable too.
        self.flush_yielded(self.local.len() + 1);
        self.local.len() == 0 && self.shared.injector.is_empty()
    }

    /// Moves the yielded goroutines to the back of the ring, where thieves can reach them.
    /// True if there were any. `others` counts the goroutines runnable here besides them (the
    /// ring's, and a `runnext` chain's next one).
    ///
    /// Yielders that rejoin while another goroutine is runnable here could run in parallel
    /// with it, so a parked worker is woken to steal some, but only once they have done so at
    /// every rejoin for `CROWDED_NANOS` (100 µs): a rejoin with nothing else runnable restarts
    /// the count. Goroutines that spend their coop budget on one channel (a producer and its
    /// consumer) yielded every 128 operations before a young slice renewed its budget
    /// (`coop.rs`), and still yield every 20 µs or so; woken at every such rejoin, the idle
    /// worker stole one of them at once, and the two then ran on two cores through one lock, a
    /// cache miss per operation, until one of them parked (SPSC through 1,024 slots: 18 ms,
    /// against 12 on one worker). Such a pair soon rejoins with nothing else runnable (the
    /// other one parked on a full or empty buffer), which restarts the count. A yielder beside
    /// independent work (another yielder, or a chain of `runnext` hops such as a ping-pong
    /// pair) spreads within 100 µs, and once it has, each worker rejoins alone and wakes
    /// nobody.
    fn flush_yielded(&self, others: usize) -> bool {
        let mut yielded = {
            let mut list = self.remote().yielded.lock();
            if list.is_empty() {
                return false;
            }
            std::mem::take(&mut *list)
        };
        let moved = yielded.len();
        let mut drain = yielded.drain(..);
        self.local.push_many(&mut drain);
        // What did not fit overflows to the global queue, as a full ring does.
        self.shared.injector.push_batch(drain);
        // Give the list its (empty) buffer back, so a yield does not allocate.
        let mut list = self.remote().yielded.lock();
        if list.is_empty() {
            *list = yielded;
        }
        drop(list);
        if moved + others > 1 {
            let now = self.clock_nanos().max(1);
            let since = self.crowded_since.get();
            if since == 0 {
                self.crowded_since.set(now);
            } else if now.saturating_sub(since) >= CROWDED_NANOS {
                self.crowded_since.set(0);
                self.shared.notify_parked();
            }
        } else {
            self.crowded_since.set(0);
        }
        true
    }

    /// Counts a poll that is starting, and tells sysmon (see `sysmon.rs`).
    fn count_poll(&self) {
        self.tick.set(self.tick.get() + 1);
        let polls = self.polls.get() + 1;
        self.polls.set(polls);
        self.remote().sched.store(polls << 1 | 1, Relaxed);
        self.metrics().polled.incr();
    }

    /// Takes a fair share of the injector, at most half of the ring's free room: one task to
    /// run, the rest into the local ring.
    fn take_from_injector(&self) -> Option<Notified> {
        let injector = &self.shared.injector;
        if injector.is_empty() {
            return None;
        }
        let share = injector.len() / self.shared.num_workers() + 1;
        let room = CAPACITY.saturating_sub(self.local.len()) / 2;
        let mut batch = injector.pop_batch(share.min(room).max(1));
        let first = batch.next()?;
        let taken = 1 + batch.len();
        self.local.push_many(&mut batch);
        injector.push_batch(batch);
        self.metrics().injector_taken.add(taken as u64);
        if taken > 1 {
            self.shared.notify_parked();
        }
        Some(first)
    }

    /// Polls `task`, then the tasks it hands `runnext` within the same time slice.
    fn run_task(&self, task: Notified) {
        // If this was the last searcher, there may be more work: another worker looks.
        self.stop_searching();
        coop::set(Budget::initial());
        self.is_polling.set(true);
        self.count_poll();
        task.run();
        while let Some(next) = self.local.pop_runnext() {
            if self.tick.get() >= GLOBAL_INTERVAL && !self.maintain_in_chain() {
                // The global queue's turn, in a chain of `runnext` hops (goroutines waking or
                // spawning their successors): its share goes into the ring ahead of `runnext`'s
                // goroutine, which goes to the back, or such a chain would leave the global
                // queue one task per 61 polls.
                self.cut_chain(next);
                break;
            }
            if !coop::try_spend() {
                if self.local.len() > 0 || !self.shared.injector.is_empty() {
                    // The slice is spent and others wait: no more inherited time (and the
                    // global queue gets its share first, as above).
                    self.cut_chain(next);
                    break;
                }
                // Nobody else is waiting: a fresh slice costs no one anything.
                coop::set(Budget::initial());
            }
            if self.shared.is_shutdown() {
                drop(next);
                break;
            }
            self.count_poll();
            self.metrics().runnext_hits.incr();
            next.run();
        }
        self.is_polling.set(false);
        self.remote().sched.store(self.polls.get() << 1, Relaxed);
        coop::set(Budget::unconstrained());
    }

    /// A task became runnable on this worker's thread (see the table in `mod.rs`).
    pub(crate) fn schedule_local(&self, task: Notified, is_yield: bool) {
        if is_yield {
            // Goroutines that yielded (or spent their budget) run after everything runnable
            // now, the ring and the global queue included, as Go's Gosched puts a goroutine at
            // the back of the global queue. The list is this worker's; it rejoins the ring
            // (stealable) when the ring and the global queue are empty, and every 61 polls, so
            // yielders are never starved either. Its lock is uncontended: only sysmon takes it
            // from another thread, when this worker is stuck in a poll.
            self.remote().yielded.lock().push_back(task);
            return;
        }
        if !self.is_polling.get() {
            self.push_back(task, false);
        } else if let Some(displaced) = self.local.push_runnext(task) {
            // Most often a partner of the running goroutine: held for it (see `queue.rs`).
            self.push_back(displaced, true);
        }
    }

    /// Ends a chain of `runnext` hops: the injector's share, then `next`, go to the back of
    /// the ring, without waking a parked worker. Nothing became runnable here: the injector's
    /// goroutines woke a worker when they were pushed, and `next` was about to run on this one.
    /// A chain is most often cut because a yielder rejoined the ring (`maintain_in_chain`);
    /// yielders taking turns with other work wake a parked worker only once they have for
    /// 100 µs (`flush_yielded`, which counts the chain), and a wake-up at every cut undid that:
    /// a producer and consumer taking
    /// turns through a buffered channel were split across two workers about 7 times per
    /// million messages, each time running on two cores through the channel's lock until one
    /// of them parked.
    fn cut_chain(&self, next: Notified) {
        if let Some(task) = self.take_from_injector() {
            self.requeue(task, false);
        }
        // It was in `runnext`: a partner of the goroutine that just ran, held for this worker.
        self.requeue(next, true);
    }

    /// Puts `task` at the back of the ring, waking a parked worker only if the ring overflowed
    /// into the injector.
    fn requeue(&self, task: Notified, held: bool) {
        if self.enqueue(task, held) {
            self.shared.notify_parked();
        }
    }

    /// Puts `task` at the back of the ring and wakes a parked worker if nobody is searching.
    fn push_back(&self, task: Notified, held: bool) {
        self.enqueue(task, held);
        self.shared.notify_parked();
    }

    /// Puts `task` at the back of the ring, `held` for this worker if it comes from `runnext`
    /// (see `queue.rs`); true if the ring overflowed into the injector.
    fn enqueue(&self, task: Notified, held: bool) -> bool {
        let injector = &self.shared.injector;
        let overflowed = if held {
            self.local.push_back_held(task, injector)
        } else {
            self.local.push_back(task, injector)
        };
        if overflowed {
            self.metrics().overflowed.incr();
        }
        overflowed
    }

    /// Steals from other workers and checks the injector (Go's `findrunnable`).
    fn search(&self) -> Option<Notified> {
        let shared = &*self.shared;
        if !self.is_searching.get() {
            if !shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let n = shared.remotes.len();
        for round in 0..STEAL_ROUNDS {
            let last = round == STEAL_ROUNDS - 1;
            let start = self.rng.borrow_mut().usize(..n);
            let mut graced = self.graced.borrow_mut();
            graced.clear();
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                let remote = &shared.remotes[victim];
                let ring = remote.steal.ring();
                if ring == Ring::Open
                    && let Some(task) = remote.steal.steal_into(&self.local)
                {
                    return Some(self.count_stolen(task));
                }
                let held = match ring {
                    Ring::Held(tail) => Some(tail),
                    _ => None,
                };
                let runnext = if last { remote.steal.runnext() } else { None };
                if last && (held.is_some() || runnext.is_some()) {
                    graced.push(Graced {
                        victim,
                        sched: remote.sched.load(Relaxed),
                        held,
                        runnext,
                    });
                }
            }
            if let Some(task) = self.steal_after_grace(&graced) {
                return Some(task);
            }
            drop(graced);
            if let Some(task) = self.take_from_injector() {
                return Some(task);
            }
        }
        None
    }

    /// The last round's steals from the `graced` victims, after one `GRACE` for them all: a
    /// held ring (`queue.rs`) whose owner has not got to a task seen before the wait, or a
    /// `runnext` whose owner is still in the poll it was in before the wait. If the global
    /// queue or one of those rings has work to take at once after the wait (a ring that grew,
    /// a spawning owner's most often), that is taken instead.
    fn steal_after_grace(&self, graced: &[Graced]) -> Option<Notified> {
        if graced.is_empty() {
            return None;
        }
        let shared = &*self.shared;
        let remotes = &shared.remotes;
        let open = |g: &Graced| remotes[g.victim].steal.ring() == Ring::Open;
        if grace(|| !shared.injector.is_empty() || graced.iter().any(open)) {
            let task = graced
                .iter()
                .filter(|g| open(g))
                .find_map(|g| remotes[g.victim].steal.steal_into(&self.local));
            return task.map(|task| self.count_stolen(task));
        }
        for g in graced {
            let remote = &remotes[g.victim];
            if let Some(seen) = g.held
                && let Some(task) = remote.steal.steal_into_before(&self.local, Some(seen))
            {
                return Some(self.count_stolen(task));
            }
            // The same task may be back in `runnext`, woken again since: only a victim that
            // has not moved on to another poll has left it waiting.
            if let Some(seen) = g.runnext
                && remote.sched.load(Relaxed) == g.sched
                && let Some(task) = remote.steal.take_runnext(seen)
            {
                self.metrics().steal_operations.incr();
                self.metrics().stolen.incr();
                return Some(task);
            }
        }
        None
    }

    /// Counts a steal from a ring, of `task` and what went into the local ring with it.
    fn count_stolen(&self, task: Notified) -> Notified {
        self.metrics().steal_operations.incr();
        self.metrics().stolen.add(1 + self.local.len() as u64);
        task
    }

    /// Sleeps until another thread has work for this worker (or shutdown).
    fn park(&self) {
        let shared = &*self.shared;
        let was_searching = self.is_searching.replace(false);
        if shared
            .idle
            .transition_worker_to_parked(self.index, was_searching)
            && shared.has_pending_work()
        {
            // The last searcher saw work arrive as it parked: make sure someone takes it.
            shared.notify_parked();
        }
        self.metrics().parks.incr();
        loop {
            // One parked worker watches the earliest timer deadline; the others sleep until
            // unparked (see `time/driver.rs`).
            let watch = shared.time.try_watch(self.index);
            self.parker.park_timeout(watch.flatten());
            if watch.is_some() {
                shared.time.unwatch(self.index);
            }
            if shared.is_shutdown() {
                return;
            }
            if shared.idle.transition_worker_from_parked(self.index) {
                // Whoever unparked us counted us as searching.
                self.is_searching.set(true);
                shared.sysmon.worker_unparked();
                return;
            }
            if watch.is_some()
                && shared.time.has_due()
                && shared.idle.unpark_worker_by_id(self.index)
            {
                // A deadline came: back to the loop, which fires the timers.
                shared.sysmon.worker_unparked();
                return;
            }
            if self.is_spare && self.stop_parked_spare() {
                return;
            }
        }
    }
}

/// How long a thief leaves a victim to run its own `runnext` and its held ring (`queue.rs`)
/// before taking them (Go's `runqgrab` gives `runnext` 3 µs).
///
/// Both are most often partners of the goroutine the victim is running, due to run when its
/// time slice ends: a slice lasts at least 20 µs (`coop.rs`), and a producer that wakes its
/// consumer into `runnext` and then fills the rest of a 1,024-slot buffer runs 4 to 8 µs more.
/// Taken sooner, a partner runs on another core beside the goroutine it exchanges values with,
/// through a channel's lock whose lines then move between the cores at every operation; once
/// split, a pair splits again whenever the worker of the one that parks takes its partner back
/// the same way. With 3 µs for `runnext`, in alternating runs of the channel bench: select
/// over 4 channels of 128 slots 8.8-10.5 ms a run; with 20 µs, 5.6-6.0 ms.
///
/// Measured on that select fan-in (100,000 selects a run, two workers), before held rings:
/// 69 ns per select, 1,300 steals a run, against 46 on one worker. Holding short rings for
/// 20 µs left 87 ring steals a run (a consumer's slice outlasts that); for 50 µs, 6, and 57
/// ns. The `runnext` steals that remained were of a producer woken again into `runnext` since
/// the thief first saw it (the same task, so the pointer matched); taking `runnext` only from
/// a victim still in the same poll left 2 steals a run, and 45 to 47 ns per select.
///
/// A goroutine queued behind a long poll waits that much longer for another core: 50 to 100
/// µs (see `grace`), about what waking a parked thread takes on our VMs.
#[cfg(not(gort_loom))]
const GRACE: Duration = Duration::from_micros(50);

/// Waits out `GRACE` asleep, then asks `work_now` whether there is work to take at once.
///
/// Asleep, not spinning: with more workers than cores (tokio's benches run 4 on our 2), a
/// spinning thief takes the CPU from the very owner it waits for. Spinning, the runtime
/// bench's `spawn_many_local` took 4.5 ms instead of 3.2, as its spawner's ring kept being
/// held; yielding the CPU between looks, 4.0; asleep, 3.3 to 3.5. The thief stays counted as
/// searching while it sleeps, as a spinning M in Go keeps `nmspinning`: pushes meanwhile wake
/// nobody else, and it looks at the global queue and the open rings first when it wakes. The
/// kernel's timer slack (50 µs by default) may stretch the sleep to twice `GRACE`.
fn grace(work_now: impl FnOnce() -> bool) -> bool {
    #[cfg(not(gort_loom))]
    std::thread::sleep(GRACE);
    #[cfg(gort_loom)]
    crate::loom::spin_loop();
    work_now()
}
