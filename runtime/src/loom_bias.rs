//! Loom models of biased locking (`bias.rs`): the owner's fast path against a revocation, a
//! stale owner against a new one, and a `try_lock` that revokes but does not wait.
//!
//! The asymmetric fence pair is modelled as a pair of `SeqCst` fences, the guarantee
//! `membarrier` gives (see `bias.rs`). Every critical section bumps a counter in a loom
//! `UnsafeCell`, so two threads inside at once are a data race that loom reports; the final
//! count shows that no acquisition was lost.
//!
//! Bounds and times are recorded above each model.

use crate::bias::{Holder, RawBiased, Settled};
use crate::loom::atomic::{Ordering::*, fence};
use crate::loom::{Arc, UnsafeCell, thread};

struct Lock {
    raw: RawBiased,
    count: UnsafeCell<u32>,
    /// Records 1 and 2.
    records: [Holder; 2],
}

impl Lock {
    fn biased_to_first() -> Arc<Lock> {
        let lock = Lock {
            raw: RawBiased::new(),
            count: UnsafeCell::new(0),
            records: [Holder::new(1), Holder::new(2)],
        };
        lock.raw.bias_to(1);
        Arc::new(lock)
    }

    fn record(&self, index: u32) -> &Holder {
        &self.records[index as usize - 1]
    }

    fn take_word(&self) {
        while self
            .raw
            .locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_err()
        {
            thread::yield_now();
        }
    }

    fn settle(&self, me: u32, wait: bool) -> Settled {
        self.raw.settle(
            Some(self.record(me)),
            wait,
            |index| self.record(index),
            || fence(SeqCst),
            |_| thread::yield_now(),
        )
    }

    /// `SpinLock::lock`'s steps for record `me`; true if taken through the bias.
    fn lock(&self, me: u32) -> bool {
        if self.raw.try_biased(self.record(me)) {
            return true;
        }
        self.take_word();
        assert_ne!(self.settle(me, true), Settled::Busy);
        false
    }

    /// `SpinLock::try_lock`'s steps; `Some(biased)` if taken.
    fn try_lock(&self, me: u32) -> Option<bool> {
        if self.raw.try_biased(self.record(me)) {
            return Some(true);
        }
        self.raw
            .locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .ok()?;
        (self.settle(me, false) != Settled::Busy).then_some(false)
    }

    /// `try_lock` by a thread with no record (a thread past its thread-locals' destruction).
    fn try_lock_without_record(&self) -> bool {
        self.raw
            .locked
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
            && Settled::Busy
                != self.raw.settle(
                    None,
                    false,
                    |index| self.record(index),
                    || fence(SeqCst),
                    |_| thread::yield_now(),
                )
    }

    fn unlock(&self, me: u32, biased: bool) {
        if biased {
            RawBiased::unlock_biased(self.record(me));
        } else {
            self.raw.locked.store(false, Release);
        }
    }

    /// Takes the lock as record `me`, bumps the count, releases it; true if taken through
    /// the bias.
    fn section(&self, me: u32) -> bool {
        let biased = self.lock(me);
        self.bump();
        self.unlock(me, biased);
        biased
    }

    /// One critical section: a racy read-modify-write that loom checks.
    fn bump(&self) {
        // SAFETY: called with the lock held; loom reports it if two threads are inside.
        self.count.with_mut(|c| unsafe { *c += 1 });
    }

    fn count(&self) -> u32 {
        // SAFETY: every thread has been joined.
        self.count.with(|c| unsafe { *c })
    }
}

/// Runs `f` on a new thread with the lock, beside the model's own thread.
fn beside<R: Send + 'static>(
    lock: &Arc<Lock>,
    f: impl FnOnce(&Lock) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let lock = Arc::clone(lock);
    thread::spawn(move || f(&lock))
}

/// The owner takes the lock twice (through its bias, then, once revoked, through the word)
/// while another thread revokes the bias and takes it: never both inside, no section lost.
// LOOM_MAX_PREEMPTIONS=3: 0.10 s (2026-12-07).
#[test]
fn revocation_racing_the_owner() {
    loom::model(|| {
        let lock = Lock::biased_to_first();
        let other = beside(&lock, |lock| {
            let biased = lock.section(2);
            assert!(!biased, "the lock was biased to the first record");
        });
        lock.section(1);
        lock.section(1);
        other.join().expect("the revoker panicked");
        assert_eq!(lock.count(), 3);
        assert!(!lock.records[0].is_busy() && !lock.records[1].is_busy());
    });
}

/// A stale owner (it read the bias before it moved) against the thread the lock was re-biased
/// to: the stale one marks only its own record, so it cannot hide the new owner from a
/// revoker, and the two are never inside together.
// LOOM_MAX_PREEMPTIONS=3: 0.07 s (2026-12-07).
#[test]
fn a_stale_owner_against_the_new_one() {
    loom::model(|| {
        let lock = Lock::biased_to_first();
        let other = beside(&lock, |lock| {
            // Revoke, re-bias to record 2 under the word, then use the new bias.
            let biased = lock.lock(2);
            lock.bump();
            lock.raw.bias_to(2);
            lock.unlock(2, biased);
            lock.section(2);
        });
        lock.section(1);
        other.join().expect("the second owner panicked");
        assert_eq!(lock.count(), 3);
    });
}

/// `try_lock` against the owner: if the owner is outside, it revokes the bias and takes the
/// lock; if inside, it gives up and leaves the bias as it was. Then the same thread takes the
/// lock with `lock`, which must wait for an owner still inside.
// LOOM_MAX_PREEMPTIONS=3: 0.09 s (2026-12-07).
#[test]
fn try_lock_against_the_owner() {
    loom::model(|| {
        let lock = Lock::biased_to_first();
        let other = beside(&lock, |lock| {
            if let Some(biased) = lock.try_lock(2) {
                assert!(!biased);
                lock.bump();
                lock.unlock(2, biased);
            }
            lock.section(2);
        });
        let mut taken = 0;
        for _ in 0..2 {
            lock.section(1);
            taken += 1;
        }
        other.join().expect("the trier panicked");
        let count = lock.count();
        assert!(count == taken + 1 || count == taken + 2, "{count}");
    });
}

/// Two other threads against the owner: one takes the lock, one with no record of its own
/// tries it; the owner takes it twice. All the sections are exclusive, none is lost.
// LOOM_MAX_PREEMPTIONS=2: 0.05 s (2026-12-07). At 3, the three threads' spinning on the lock
// word and on the owner's slot runs past loom's branch limit (10,000) after 20 s.
#[test]
fn two_revokers_and_the_owner() {
    // Three threads spinning on the lock word take more branches than loom's default allows.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 10_000;
    builder.check(|| {
        let lock = Lock::biased_to_first();
        let taker = beside(&lock, |lock| {
            lock.section(2);
        });
        let trier = beside(&lock, |lock| {
            // No record of its own: it never becomes an owner.
            if lock.try_lock_without_record() {
                lock.bump();
                lock.raw.locked.store(false, Release);
                1
            } else {
                0
            }
        });
        lock.section(1);
        lock.section(1);
        taker.join().expect("the taker panicked");
        let tried = trier.join().expect("the trier panicked");
        assert_eq!(lock.count(), 3 + tried);
    });
}
