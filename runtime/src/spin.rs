//! A test-and-test-and-set spin lock for critical sections of a few dozen instructions (Go's
//! runtime `lock` spins before it sleeps, for the same reason): the lock of a channel and of a
//! timer shard.
//!
//! Those critical sections move a value and a few pointers; they never run user code other
//! than cloning a `Waker`, and never block. For such sections a futex mutex
//! costs more than it saves: its unlock must be a read-modify-write to learn whether to wake a
//! sleeper, and once contended it wakes through a system call. Here the fast path is one
//! compare-and-swap to lock and one release store to unlock. A contended locker spins on a
//! plain load (so the holder's cache line is not stolen by failing CASes), backing off
//! exponentially and then yielding its thread (crossbeam's `Backoff`), which keeps a lock whose
//! holder was preempted by the OS from burning a core.
//!
//! Under loom the lock is loom's `Mutex`, so the models explore its interleavings.
//!
//! gort-sync uses it too, through `gort_runtime::__private`; it is not part of the public API.

#[cfg(not(gort_loom))]
pub use imp::{SpinGuard, SpinLock};

#[cfg(gort_loom)]
pub use loom_imp::{SpinGuard, SpinLock};

#[cfg(not(gort_loom))]
mod imp {
    use crossbeam_utils::Backoff;
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering::*};

    /// A spin lock around a `T`.
    pub struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out `&mut T` to one holder at a time; `T: Send` lets it move
    // between the threads that hold it in turn.
    unsafe impl<T: Send> Send for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T> SpinLock<T> {
        /// An unlocked lock around `value`.
        pub const fn new(value: T) -> SpinLock<T> {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        /// Takes the lock, spinning (then yielding the thread) while another holds it.
        #[inline]
        pub fn lock(&self) -> SpinGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        /// The lock if it is free now, without waiting.
        #[inline]
        pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
            self.locked
                .compare_exchange(false, true, Acquire, Relaxed)
                .ok()
                .map(|_| SpinGuard { lock: self })
        }

        #[cold]
        fn lock_contended(&self) {
            let backoff = Backoff::new();
            loop {
                while self.locked.load(Relaxed) {
                    backoff.snooze();
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Acquire, Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Holds the lock; unlocks when dropped.
    pub struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;

        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock, so this is the only reference.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Release);
        }
    }
}

#[cfg(gort_loom)]
mod loom_imp {
    /// loom's `Mutex`, standing in for the spin lock.
    pub struct SpinLock<T>(loom::sync::Mutex<T>);
    /// loom's guard.
    pub type SpinGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        /// An unlocked lock around `value`.
        pub fn new(value: T) -> SpinLock<T> {
            SpinLock(loom::sync::Mutex::new(value))
        }

        /// Takes the lock.
        pub fn lock(&self) -> SpinGuard<'_, T> {
            self.0
                .lock()
                .expect("spin-locked critical sections do not panic")
        }

        /// The lock if it is free now.
        pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }
}
