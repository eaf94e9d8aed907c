//! Loom models of the gate (`gate.rs`) through its two users, `WaitGroup` and `Once`: waiters
//! racing the event that releases them, and waiters cancelled meanwhile.
//!
//! The invariants, on every interleaving:
//!
//! - a waiter returns only after the event (the last `done`, `f` having run), and every waiter
//!   that waits is released (a lost wake-up is a loom deadlock, `crate::loom_harness`);
//! - a waiter cancelled at any point leaves nothing behind: the group is reused afterwards,
//!   and the queue holds no dangling node (its future's memory is gone).
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_gate`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::loom::Arc;
use crate::loom::atomic::{AtomicBool, Ordering::SeqCst};
use crate::loom_harness::Polled;
use crate::{Once, WaitGroup};
use loom::thread;

// Model 1. Two `done`s on two threads race a waiter; the waiter returns after both.
// LOOM_MAX_PREEMPTIONS=3: under 0.3 s (the four models together), 2026-12-07
#[test]
fn wait_group_dones_racing_a_waiter() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let finished = Arc::new(AtomicBool::new(false));
        wg.add(2);
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (wg, finished) = (wg.clone(), finished.clone());
                thread::spawn(move || {
                    if i == 1 {
                        finished.store(true, SeqCst);
                    }
                    wg.done();
                })
            })
            .collect();
        let mut wait = Polled::new(wg.wait());
        wait.wait();
        assert!(finished.load(SeqCst), "returned before every done");
        wait.finish().assert_each_pending_woken_once();
        for w in workers {
            w.join().unwrap();
        }
    });
}

// Model 2. A waiter polled once and cancelled races the last `done` and another waiter; the
// group is then reused for a second round.
// LOOM_MAX_PREEMPTIONS=3: under 0.3 s (the four models together), 2026-12-07
#[test]
fn wait_group_cancelled_waiter_racing_done() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let wg1 = wg.clone();
        let cancelled = thread::spawn(move || {
            let mut wait = Polled::new(wg1.wait());
            let _ = wait.poll();
            drop(wait);
        });
        let wg2 = wg.clone();
        let waiter = thread::spawn(move || Polled::new(wg2.wait()).wait());
        wg.done();
        cancelled.join().unwrap();
        waiter.join().unwrap();
        // Reuse: a new round waits for its own `done`.
        wg.add(1);
        let mut wait = Polled::new(wg.wait());
        assert!(wait.poll().is_pending());
        wg.done();
        assert!(wait.poll().is_ready());
    });
}

// Model 3. Two callers race: `f` runs once, and neither returns before it has.
// LOOM_MAX_PREEMPTIONS=3: under 0.3 s (the four models together), 2026-12-07
#[test]
fn once_two_callers() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let ran = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (once, ran) = (once.clone(), ran.clone());
                thread::spawn(move || {
                    Polled::new(once.call(|| {
                        ran.fetch_add(1, SeqCst);
                    }))
                    .wait();
                    assert_eq!(ran.load(SeqCst), 1, "returned before f ran");
                })
            })
            .collect();
        for c in callers {
            c.join().unwrap();
        }
        assert!(once.is_done());
    });
}

// Model 4. A waiter cancelled while the first caller runs `f`.
// LOOM_MAX_PREEMPTIONS=3: under 0.3 s (the four models together), 2026-12-07
#[test]
fn once_cancelled_waiter() {
    loom::model(|| {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let runner = thread::spawn(move || Polled::new(o.call(|| ())).wait());
        let mut call = Polled::new(once.call(|| ()));
        let _ = call.poll();
        drop(call);
        runner.join().unwrap();
        assert!(once.is_done());
    });
}
