//! The lock of a thread's collector state (`local.rs`).
//!
//! Its owner thread takes it around every collector operation (an allocation, a root count
//! raised, a rooting walk); the collector takes it to scan or sweep the thread's space, and
//! takes every thread's at once for the stop-the-world phase flips. So it is almost never
//! contended, and its fast path is one compare-and-swap and one release store. A waiter spins
//! briefly (the sections are short) and then yields its thread between looks.
//!
//! The owner must not starve the collector: a thread that allocates in a loop frees its lock
//! for a few nanoseconds between operations and takes it back at once, with the lock's line in
//! its cache, so a collector that waits for the lock to look free would wait for milliseconds
//! (it did: 4 to 17 ms pauses in a tree-building loop). So the collector first raises
//! `wanted`, on the lock's own line; an owner that finds it raised after taking the lock
//! lets go and waits until the collector has had its turn.

use crate::loom::atomic::{AtomicBool, Ordering::*};
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

pub(crate) struct Lock<T> {
    locked: AtomicBool,
    /// The collector is waiting for the lock.
    wanted: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out the value to one thread at a time.
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Lock<T> {}

pub(crate) struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Lock<T> {
        Lock {
            locked: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The owner thread's lock: gives way to a collector that wants it.
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                self.lock_slow();
            }
            if !self.wanted.load(Relaxed) {
                return Guard { lock: self };
            }
            self.locked.store(false, Release);
            self.give_way();
        }
    }

    /// The collector's lock.
    pub(crate) fn lock_collector(&self) -> Guard<'_, T> {
        self.wanted.store(true, Relaxed);
        self.lock_slow();
        self.wanted.store(false, Relaxed);
        Guard { lock: self }
    }

    #[cold]
    fn give_way(&self) {
        let mut looks = 0u32;
        while self.wanted.load(Relaxed) {
            looks += 1;
            if looks < 64 {
                crate::loom::spin();
            } else {
                crate::loom::yield_now();
            }
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut looks = 0u32;
        loop {
            if !self.locked.load(Relaxed)
                && self
                    .locked
                    .compare_exchange_weak(false, true, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            looks += 1;
            if looks < 64 {
                crate::loom::spin();
            } else {
                crate::loom::yield_now();
            }
        }
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}
