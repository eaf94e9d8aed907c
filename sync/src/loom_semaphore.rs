//! Loom models of `Semaphore` (`semaphore.rs`): releases racing waiters that set `WAITERS`,
//! and a cancelled head of the queue racing the release that would have granted it.
//!
//! The invariants, on every interleaving:
//!
//! - never more permits in use than the size (the value guarded is a loom `UnsafeCell`, so two
//!   holders of the one permit are reported by loom itself);
//! - every acquire that waits is granted once the permits it wants are free and it reaches the
//!   head of the queue (a lost wake-up is a loom deadlock, `crate::loom_harness`);
//! - at the end every permit is free again.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_semaphore`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::Semaphore;
use crate::loom::Arc;
use crate::loom_harness::Polled;
use loom::cell::UnsafeCell;
use loom::thread;

/// A semaphore of one permit guarding a counter.
struct Guarded {
    sem: Semaphore,
    count: UnsafeCell<u32>,
}

// SAFETY: `count` is only touched by the holder of the semaphore's one permit.
unsafe impl Sync for Guarded {}

impl Guarded {
    fn add_one(&self) {
        let mut acquire = Polled::new(self.sem.acquire(1));
        let permit = acquire.wait();
        // SAFETY: we hold the one permit; loom checks that no other access overlaps.
        self.count.with_mut(|n| unsafe { *n += 1 });
        drop(permit);
        acquire.finish().assert_each_pending_woken_once();
    }
}

// Model 1. The main thread holds the one permit while two acquirers arrive, then releases it.
// LOOM_MAX_PREEMPTIONS=3: under 0.5 s (the two models together), 2026-12-07
#[test]
fn two_acquirers_racing_a_release() {
    loom::model(|| {
        let g = Arc::new(Guarded {
            sem: Semaphore::new(1),
            count: UnsafeCell::new(0),
        });
        let held = g.sem.try_acquire(1).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                thread::spawn(move || g.add_one())
            })
            .collect();
        drop(held);
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: every thread is joined.
        assert_eq!(g.count.with(|n| unsafe { *n }), 2);
        assert_eq!(g.sem.available(), 1);
    });
}

// Model 2. A waiter for 2 of 2 permits heads the queue while one is held; a waiter for 1
// queues behind it; the big one is cancelled while the held permit is released.
// LOOM_MAX_PREEMPTIONS=3: under 0.5 s (the two models together), 2026-12-07
#[test]
fn cancelled_head_racing_a_release() {
    loom::model(|| {
        // Leaked, so that the permit and the acquires, which borrow it, can move to threads.
        let sem: &'static Semaphore = Box::leak(Box::new(Semaphore::new(2)));
        let held = sem.try_acquire(1).unwrap();
        let mut big = Polled::new(sem.acquire(2));
        assert!(big.poll().is_pending());
        let small = thread::spawn(move || {
            let mut small = Polled::new(sem.acquire(1));
            drop(small.wait());
            small.finish().assert_each_pending_woken_once();
        });
        let releaser = thread::spawn(move || drop(held));
        drop(big);
        small.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.available(), 2);
    });
}
