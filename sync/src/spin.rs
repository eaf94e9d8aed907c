//! The lock of a channel: a test-and-test-and-set spin lock for critical sections of a few
//! dozen instructions (Go's runtime `lock` spins before it sleeps, for the same reason).
//!
//! A channel's critical sections move a value and a few pointers; they never run user code
//! other than cloning or dropping a `Waker`, and never block. For such sections a futex mutex
//! costs more than it saves: its unlock must be a read-modify-write to learn whether to wake a
//! sleeper, and once contended it wakes through a system call. Here the fast path is one
//! compare-and-swap to lock and one release store to unlock. A contended locker spins on a
//! plain load (so the holder's cache line is not stolen by failing CASes), backing off
//! exponentially and then yielding its thread (crossbeam's `Backoff`), which keeps a lock whose
//! holder was preempted by the OS from burning a core.
//!
//! Under loom the lock is loom's `Mutex`, so the models explore its interleavings.

#[cfg(not(gort_loom))]
pub(crate) use imp::{SpinGuard, SpinLock};

#[cfg(gort_loom)]
pub(crate) use loom_imp::{SpinGuard, SpinLock};

#[cfg(not(gort_loom))]
mod imp {
    use crossbeam_utils::Backoff;
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering::*};

    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out `&mut T` to one holder at a time; `T: Send` lets it move
    // between the threads that hold it in turn.
    unsafe impl<T: Send> Send for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T> SpinLock<T> {
        pub(crate) const fn new(value: T) -> SpinLock<T> {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard { lock: self }
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

    pub(crate) struct SpinGuard<'a, T> {
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
    pub(crate) struct SpinLock<T>(loom::sync::Mutex<T>);
    pub(crate) type SpinGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            self.0
                .lock()
                .expect("channel critical sections do not panic")
        }
    }
}
