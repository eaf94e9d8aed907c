//! Loom models of `RwMutex` (`rwmutex.rs`): the hand-offs between readers and writers, and
//! waiters cancelled around them.
//!
//! The value behind the lock is a loom `UnsafeCell`: readers read it, writers write it, so
//! loom itself reports a writer beside anyone else. The invariants, on every interleaving:
//!
//! - a writer is alone; every waiter that waits gets the lock (a lost wake-up is a loom
//!   deadlock, `crate::loom_harness`);
//! - a writer that gives up lets the readers queued behind it in;
//! - the lock ends free.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_rwmutex`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::RwMutex;
use crate::loom_harness::Polled;
use loom::cell::UnsafeCell;
use loom::thread;

type Shared = &'static RwMutex<UnsafeCell<u32>>;

/// A lock around a counter; leaked so that guards and futures can move to loom threads.
fn shared() -> Shared {
    Box::leak(Box::new(RwMutex::new(UnsafeCell::new(0))))
}

fn write_one(rw: Shared) {
    let guard = Polled::new(rw.write()).wait();
    // SAFETY: the write lock is held; loom checks that no access overlaps.
    guard.with_mut(|n| unsafe { *n += 1 });
}

fn read(rw: Shared) -> u32 {
    let guard = Polled::new(rw.read()).wait();
    // SAFETY: a read lock is held; loom checks that no write overlaps.
    guard.with(|n| unsafe { *n })
}

fn count(rw: Shared) -> u32 {
    let guard = rw.try_write().expect("the lock ends free");
    // SAFETY: the write lock is held.
    guard.with(|n| unsafe { *n })
}

// Model 1. A reader is inside; a writer and a second reader arrive; the first reader leaves.
// The last reader out hands the lock to the writer, or the late reader got in first.
// LOOM_MAX_PREEMPTIONS=3: 16 s for the four models together, 2026-12-07
#[test]
fn last_reader_hands_off_to_a_writer() {
    loom::model(|| {
        let rw = shared();
        let inside = Polled::new(rw.read()).wait();
        let writer = thread::spawn(move || write_one(rw));
        let reader = thread::spawn(move || read(rw));
        drop(inside);
        writer.join().unwrap();
        let seen = reader.join().unwrap();
        assert!(seen <= 1);
        assert_eq!(count(rw), 1);
    });
}

// Model 2. A writer is inside; two readers and a writer wait; the writer leaves. Its unlock
// lets the queued readers in first; the second writer follows.
// LOOM_MAX_PREEMPTIONS=3: 16 s for the four models together, 2026-12-07
#[test]
fn a_writer_unlock_lets_readers_in() {
    loom::model(|| {
        let rw = shared();
        let inside = Polled::new(rw.write()).wait();
        let readers: Vec<_> = (0..2).map(|_| thread::spawn(move || read(rw))).collect();
        let writer = thread::spawn(move || write_one(rw));
        drop(inside);
        for r in readers {
            r.join().unwrap();
        }
        writer.join().unwrap();
        assert_eq!(count(rw), 1);
    });
}

// Model 3. A reader is inside; a writer queues and is cancelled while a second reader waits
// behind it and the first reader leaves.
// LOOM_MAX_PREEMPTIONS=3: 16 s for the four models together, 2026-12-07
#[test]
fn a_cancelled_writer_lets_readers_through() {
    loom::model(|| {
        let rw = shared();
        let inside = Polled::new(rw.read()).wait();
        let mut writer = Polled::new(rw.write());
        assert!(writer.poll().is_pending());
        let reader = thread::spawn(move || read(rw));
        let leaver = thread::spawn(move || drop(inside));
        drop(writer);
        assert_eq!(reader.join().unwrap(), 0);
        leaver.join().unwrap();
        assert_eq!(count(rw), 0);
    });
}

// Model 4. A reader is inside and two writers queue; the first writer is cancelled while the
// second waits: it must still wait for the reader.
// LOOM_MAX_PREEMPTIONS=3: 16 s for the four models together, 2026-12-07
#[test]
fn a_cancelled_writer_before_another() {
    loom::model(|| {
        let rw = shared();
        let inside = Polled::new(rw.read()).wait();
        let mut first = Polled::new(rw.write());
        assert!(first.poll().is_pending());
        let second = thread::spawn(move || write_one(rw));
        drop(first);
        // Still reading: the second writer cannot be inside.
        // SAFETY: a read lock is held; loom checks that no write overlaps.
        assert_eq!(inside.with(|n| unsafe { *n }), 0);
        drop(inside);
        second.join().unwrap();
        assert_eq!(count(rw), 1);
    });
}
