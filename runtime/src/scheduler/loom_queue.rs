//! Loom models of a worker's run queue (`queue.rs`): the ring, its overflow into the injector,
//! and `runnext`.
//!
//! The invariant every model checks: each `Notified` pushed is taken exactly once, whichever way
//! it leaves the queue (the owner's `pop` or `pop_runnext`, a thief's `steal_into`,
//! `steal_into_before` or `steal_runnext`, the overflow of a full ring into the injector). The
//! models push real tasks (`task::new`), collect every `Notified` the threads take, and after
//! the threads are joined check that the collected headers are exactly the spawned ones, with
//! no duplicate, before running them all: each future must then be polled once and dropped
//! once.
//!
//! Under loom the ring holds `CAPACITY = 4` tasks, so a handful of pushes reaches the full ring,
//! the overflow and the wrap-around of the slot indices.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime
//! --release --lib loom_queue`. The time above each model is the whole model at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::injector::Injector;
use super::queue::{self, CAPACITY, Local, Ring};
use crate::loom::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::loom::{Arc, thread};
use crate::task::{self, Header, Notified, Schedule};
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// The scheduler of the models' tasks: their futures complete on their first poll, so nothing
/// is ever rescheduled, and there is no owned list.
struct NoSchedule;

impl Schedule for NoSchedule {
    fn schedule(&self, _task: Notified) {
        unreachable!("the models' futures complete on their first poll");
    }

    fn release(&self, _task: NonNull<Header>) -> bool {
        false
    }
}

/// How often the models' futures were polled and dropped.
#[derive(Default)]
struct Counts {
    polled: AtomicUsize,
    dropped: AtomicUsize,
}

/// A future that counts its polls and its drop.
struct Probe(Arc<Counts>);

impl Future for Probe {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.0.polled.fetch_add(1, Relaxed);
        Poll::Ready(())
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Relaxed);
    }
}

/// The tasks of one execution of a model.
struct Tasks {
    headers: Vec<NonNull<Header>>,
    counts: Arc<Counts>,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            headers: Vec::new(),
            counts: Arc::new(Counts::default()),
        }
    }

    /// A new task whose only reference is the returned `Notified` (the owned list's `Task` and
    /// the `JoinHandle` are dropped at once).
    fn spawn(&mut self) -> Notified {
        let (task, notified, join) =
            task::new(Probe(self.counts.clone()), NoSchedule, Location::caller());
        self.headers.push(task.header_ptr());
        drop(task);
        drop(join);
        notified
    }

    fn spawn_n(&mut self, n: usize) -> Vec<Notified> {
        (0..n).map(|_| self.spawn()).collect()
    }

    /// Checks that `taken` holds every task exactly once, then runs them all.
    fn check(self, taken: Vec<Notified>) {
        let mut seen: Vec<NonNull<Header>> = taken.into_iter().map(Notified::into_raw).collect();
        seen.sort();
        let mut expected = self.headers.clone();
        expected.sort();
        // Compare before running anything: a duplicate must not be run (it would free the
        // task twice).
        let duplicate = seen.windows(2).any(|w| w[0] == w[1]);
        assert!(!duplicate, "a task was taken twice");
        assert_eq!(seen.len(), expected.len(), "a task was lost");
        assert_eq!(seen, expected, "a task was lost");
        for ptr in seen {
            // SAFETY: every pointer came from `Notified::into_raw` above, and the comparison
            // showed each is there once.
            unsafe { Notified::from_raw(ptr) }.run();
        }
        let n = self.headers.len();
        assert_eq!(self.counts.polled.load(Relaxed), n);
        assert_eq!(self.counts.dropped.load(Relaxed), n);
    }
}

/// Pops everything the owner side and the injector still hold, `runnext` first.
fn drain(local: &Local, injector: &Injector, taken: &mut Vec<Notified>) {
    taken.extend(local.pop_runnext());
    while let Some(task) = local.pop() {
        taken.push(task);
    }
    taken.extend(injector.pop_batch(usize::MAX));
}

/// What a thief does in the worker loop: steal half of the victim's ring into its own, then run
/// everything it got.
fn steal_and_drain(victim: &queue::Steal, own: &Local) -> Vec<Notified> {
    let mut taken = Vec::new();
    taken.extend(victim.steal_into(own));
    while let Some(task) = own.pop() {
        taken.push(task);
    }
    taken
}

// LOOM_MAX_PREEMPTIONS=3: 0.5 s (3250 executions), 2026-11-23
/// The owner pushes and pops while one thief steals twice; the slot indices wrap around the
/// ring, so the owner may overwrite a slot a thief with a stale `head` is reading.
#[test]
fn push_pop_racing_one_thief() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (owner, steal) = queue::local();
        let (thief_local, _) = queue::local();
        let mut taken = Vec::new();
        // Move `head` and `tail` to 3 first, so that the pushes below wrap around.
        for task in tasks.spawn_n(3) {
            owner.push_back(task, &injector);
        }
        drain(&owner, &injector, &mut taken);
        let mut new = tasks.spawn_n(4).into_iter();

        let thief = thread::spawn(move || {
            let mut taken = steal_and_drain(&steal, &thief_local);
            taken.extend(steal_and_drain(&steal, &thief_local));
            taken
        });

        owner.push_back(new.next().unwrap(), &injector);
        owner.push_back(new.next().unwrap(), &injector);
        taken.extend(owner.pop());
        owner.push_back(new.next().unwrap(), &injector);
        owner.push_back(new.next().unwrap(), &injector);
        taken.extend(owner.pop());

        taken.extend(thief.join().unwrap());
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (28 executions), 2026-11-23
/// The owner moves a batch from the injector into its ring (`push_many`, as
/// `take_from_injector` does) and pops, while a thief steals from the ring.
#[test]
fn push_many_racing_steal() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (owner, steal) = queue::local();
        let (thief_local, _) = queue::local();
        owner.push_back(tasks.spawn(), &injector);
        injector.push_batch(tasks.spawn_n(CAPACITY).into_iter());

        let thief = thread::spawn(move || steal_and_drain(&steal, &thief_local));

        let mut batch = injector.pop_batch(CAPACITY);
        owner.push_many(&mut batch);
        injector.push_batch(batch);
        let mut taken: Vec<Notified> = owner.pop().into_iter().collect();

        taken.extend(thief.join().unwrap());
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (485 executions), 2026-11-23
/// The owner pushes into a full ring, so half of it moves to the injector, while a thief
/// steals from it (the thief's claim of `head` and the overflow's claim race).
#[test]
fn overflow_racing_steal() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Arc::new(Injector::new());
        let (owner, steal) = queue::local();
        let (thief_local, _) = queue::local();
        for task in tasks.spawn_n(CAPACITY) {
            owner.push_back(task, &injector);
        }
        let mut new = tasks.spawn_n(2).into_iter();

        let thief = {
            let injector = injector.clone();
            thread::spawn(move || {
                let mut taken = steal_and_drain(&steal, &thief_local);
                // A thief that found the ring emptied by the overflow looks in the injector.
                taken.extend(injector.pop());
                taken
            })
        };

        owner.push_back(new.next().unwrap(), &injector);
        owner.push_back(new.next().unwrap(), &injector);
        let mut taken: Vec<Notified> = owner.pop().into_iter().collect();

        taken.extend(thief.join().unwrap());
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.8 s (3848 executions), 2026-11-23
/// Two thieves steal from one full ring while its owner pops and pushes (which overflows if
/// neither thief has claimed anything yet).
#[test]
fn two_thieves() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (owner, steal) = queue::local();
        for task in tasks.spawn_n(CAPACITY) {
            owner.push_back(task, &injector);
        }
        let new = tasks.spawn();
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let steal = steal.clone();
                let (own, _) = queue::local();
                thread::spawn(move || steal_and_drain(&steal, &own))
            })
            .collect();

        owner.push_back(new, &injector);
        let mut taken: Vec<Notified> = owner.pop().into_iter().collect();

        for thief in thieves {
            taken.extend(thief.join().unwrap());
        }
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (687 executions), 2026-11-23
/// A thief steals from a worker that is itself stealing from a third: the middle worker writes
/// stolen tasks past its `tail` while its own thief reads below it.
#[test]
fn chained_steal() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (a, a_steal) = queue::local();
        let (b, b_steal) = queue::local();
        let (c, _) = queue::local();
        for task in tasks.spawn_n(2) {
            a.push_back(task, &injector);
        }
        for task in tasks.spawn_n(2) {
            b.push_back(task, &injector);
        }

        // The owner of `b` steals from `a` into `b`; another worker steals from `b` into `c`.
        let middle = thread::spawn(move || {
            let mut taken = steal_and_drain(&a_steal, &b);
            taken.extend(b.pop());
            taken
        });
        let last = thread::spawn(move || steal_and_drain(&b_steal, &c));

        let mut taken: Vec<Notified> = a.pop().into_iter().collect();

        taken.extend(middle.join().unwrap());
        taken.extend(last.join().unwrap());
        drain(&a, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (168 executions), 2026-11-23
/// The owner replaces, then takes, its `runnext` while a thief takes it with `steal_runnext`
/// and then steals from the ring; the displaced task goes to the ring as `schedule_local` does.
#[test]
fn runnext_racing_steal_runnext() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (owner, steal) = queue::local();
        let (thief_local, _) = queue::local();
        let mut new = tasks.spawn_n(2).into_iter();
        assert!(owner.push_runnext(new.next().unwrap()).is_none());

        let thief = thread::spawn(move || {
            let mut taken: Vec<Notified> = steal.steal_runnext(|| {}).into_iter().collect();
            taken.extend(steal_and_drain(&steal, &thief_local));
            taken
        });

        let mut taken = Vec::new();
        if let Some(displaced) = owner.push_runnext(new.next().unwrap()) {
            owner.push_back(displaced, &injector);
        }
        taken.extend(owner.pop_runnext());
        taken.extend(owner.pop());

        taken.extend(thief.join().unwrap());
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s, 2026-12-07
/// The owner displaces two tasks from `runnext` into its ring, held, and pops one, while a
/// thief sees the ring held and then steals what is still queued before the tail it saw, as
/// the last round of stealing does after its grace period (`worker.rs`).
#[test]
fn held_ring_racing_a_thief_after_grace() {
    loom::model(|| {
        let mut tasks = Tasks::new();
        let injector = Injector::new();
        let (owner, steal) = queue::local();
        let (thief_local, _) = queue::local();
        let mut new = tasks.spawn_n(3).into_iter();
        assert!(owner.push_runnext(new.next().unwrap()).is_none());
        let displaced = owner.push_runnext(new.next().unwrap()).unwrap();
        owner.push_back_held(displaced, &injector);
        let Ring::Held(seen) = steal.ring() else {
            panic!("one displaced task: the ring is held")
        };

        let thief = thread::spawn(move || {
            let mut taken = Vec::new();
            let seen = match steal.ring() {
                Ring::Held(tail) => tail,
                _ => seen,
            };
            taken.extend(steal.steal_into_before(&thief_local, Some(seen)));
            while let Some(task) = thief_local.pop() {
                taken.push(task);
            }
            taken
        });

        let mut taken = Vec::new();
        let displaced = owner.push_runnext(new.next().unwrap()).unwrap();
        owner.push_back_held(displaced, &injector);
        taken.extend(owner.pop());

        taken.extend(thief.join().unwrap());
        drain(&owner, &injector, &mut taken);
        tasks.check(taken);
    });
}
