//! Loom models of `Mutex` (`mutex.rs`): lockers racing an unlock in both modes, and lockers
//! cancelled at every point of their wait.
//!
//! The value behind the mutex is a loom `UnsafeCell`, so loom itself reports two holders at
//! once. Futures are polled by hand with counting wakers (`crate::loom_harness`): a lost
//! wake-up is a loom deadlock. Starvation mode is reached without a clock: under loom a mutex
//! made by `starving_for_models` counts every waiter as having waited over 1 ms.
//!
//! The invariants, on every interleaving:
//!
//! - at most one holder at a time, and every locker that waits gets the lock;
//! - a locker cancelled while it waits, after it was woken, or after it was handed the lock
//!   leaves the mutex free for the others (the last check takes it with `try_lock`).
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_mutex`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::Mutex;
use crate::loom::Arc;
use crate::loom_harness::Polled;
use loom::cell::UnsafeCell;
use loom::thread;

type Counter = Mutex<UnsafeCell<u32>>;

/// Takes the lock with a hand-polled `lock()`, adds one, unlocks.
fn add_one(m: &Counter) {
    let mut lock = Polled::new(m.lock());
    let guard = lock.wait();
    // SAFETY: the guard holds the lock; loom checks that no other access overlaps.
    guard.with_mut(|n| unsafe { *n += 1 });
    drop(guard);
    lock.finish().assert_each_pending_woken_once();
}

/// The count, once every thread is done (and so the lock free).
fn count(m: &Counter) -> u32 {
    let guard = m.try_lock().expect("the mutex is free at the end");
    // SAFETY: the guard holds the lock.
    guard.with(|n| unsafe { *n })
}

/// The body of models 1 and 3: the main thread holds the lock while two lockers arrive, then
/// unlocks; with `hog`, it then locks again at once (a hog, as in Go's `TestMutexFairness`):
/// in starvation mode a waiter that loses to it is handed the lock at the hog's next unlock,
/// while the other locker may arrive at any point.
fn lockers_racing_an_unlock(m: Counter, hog: bool) {
    let m = Arc::new(m);
    let guard = m.try_lock().unwrap();
    let lockers: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || add_one(&m))
        })
        .collect();
    drop(guard);
    if hog {
        add_one(&m);
    }
    for locker in lockers {
        locker.join().unwrap();
    }
    assert_eq!(count(&m), 2 + u32::from(hog));
}

// Model 1a. Normal mode: a woken waiter competes with the other locker.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn two_lockers_racing_an_unlock_normal() {
    loom::model(|| lockers_racing_an_unlock(Mutex::new(UnsafeCell::new(0)), false));
}

// Model 1b. Starvation mode: unlocks hand the lock to the head of the queue.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn two_lockers_racing_an_unlock_starving() {
    loom::model(|| lockers_racing_an_unlock(Mutex::starving_for_models(UnsafeCell::new(0)), false));
}

/// Model 2's body: the main thread holds the lock; one locker polls once and is cancelled
/// (while queued, or after an unlock woke it or handed it the lock), another waits for the
/// lock; then the main thread unlocks.
fn a_cancelled_locker(m: Counter) {
    let m = Arc::new(m);
    let guard = m.try_lock().unwrap();
    let m1 = m.clone();
    let cancelled = thread::spawn(move || {
        let mut lock = Polled::new(m1.lock());
        if let std::task::Poll::Ready(guard) = lock.poll() {
            drop(guard);
        }
        drop(lock);
    });
    let m2 = m.clone();
    let waiter = thread::spawn(move || add_one(&m2));
    drop(guard);
    cancelled.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(count(&m), 1);
}

// Model 2a. Normal mode.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn a_cancelled_locker_normal() {
    loom::model(|| a_cancelled_locker(Mutex::new(UnsafeCell::new(0))));
}

// Model 2b. Starvation mode: the cancelled locker may have been handed the lock.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn a_cancelled_locker_starving() {
    loom::model(|| a_cancelled_locker(Mutex::starving_for_models(UnsafeCell::new(0))));
}

// Model 3a. Normal mode, with a hog.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn a_hog_and_two_lockers_normal() {
    loom::model(|| lockers_racing_an_unlock(Mutex::new(UnsafeCell::new(0)), true));
}

// Model 3b. Starvation mode, with a hog.
// LOOM_MAX_PREEMPTIONS=3: under 2 s (the six models together), 2026-12-07
#[test]
fn a_hog_and_two_lockers_starving() {
    loom::model(|| lockers_racing_an_unlock(Mutex::starving_for_models(UnsafeCell::new(0)), true));
}
