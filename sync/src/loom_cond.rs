//! Loom models of `Cond` (`cond.rs`): a waiter's queue-then-unlock racing a signaller, and a
//! signalled waiter cancelled before it returns.
//!
//! The invariants, on every interleaving:
//!
//! - no lost signal: a waiter whose condition a signaller sets under the mutex (and then
//!   signals) returns (a lost wake-up is a loom deadlock, `crate::loom_harness`);
//! - a signal that picked a waiter that is then dropped reaches another waiter.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_cond`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::loom_harness::Polled;
use crate::{Cond, Mutex};
use loom::thread;

/// A flag behind a mutex, and its condition variable; leaked so that the guards and futures
/// that borrow it can move to loom threads.
fn shared() -> &'static (Mutex<bool>, Cond) {
    Box::leak(Box::new((Mutex::new(false), Cond::new())))
}

/// Waits, hand-polled, until the flag is set.
fn wait_for_flag(s: &'static (Mutex<bool>, Cond)) {
    let (m, c) = s;
    let mut guard = Polled::new(m.lock()).wait();
    while !*guard {
        guard = Polled::new(c.wait(guard)).wait();
    }
}

// Model 1. A waiter racing the setter and its signal.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s (the two models together), 2026-12-07
#[test]
fn waiter_racing_a_signal() {
    loom::model(|| {
        let s = shared();
        let waiter = thread::spawn(move || wait_for_flag(s));
        *Polled::new(s.0.lock()).wait() = true;
        s.1.signal();
        waiter.join().unwrap();
    });
}

// Model 2. Two waiters; one is polled once (queued, maybe picked by the signal) and dropped;
// the other must still see the flag. One signal only.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s (the two models together), 2026-12-07
#[test]
fn a_picked_waiter_dropped() {
    loom::model(|| {
        let s = shared();
        let (m, c) = s;
        // The dropped waiter queues first, so that the signal picks it when it comes.
        let guard = Polled::new(m.lock()).wait();
        let mut dropped = Polled::new(c.wait(guard));
        assert!(dropped.poll().is_pending());
        let waiter = thread::spawn(move || wait_for_flag(s));
        let setter = thread::spawn(move || {
            *Polled::new(m.lock()).wait() = true;
            c.signal();
        });
        drop(dropped);
        setter.join().unwrap();
        waiter.join().unwrap();
    });
}
