//! The one switch between `std` and `loom`.
//!
//! Every concurrent type gort-runtime touches is imported from here, never from `std` directly,
//! so that `RUSTFLAGS="--cfg gort_loom"` turns the whole crate into a loom model: atomics,
//! `UnsafeCell`, `Mutex`, `Condvar`, `Arc`, threads and thread locals all come from loom, and
//! loom explores every interleaving of them. The cfg is gort's own (not `loom`) so that
//! dependencies are not switched with it.
//!
//! `UnsafeCell` follows loom's API (`with` / `with_mut` taking a closure over a raw pointer)
//! in both builds, so loom can check every access to it for data races.

#[cfg(not(gort_loom))]
pub(crate) use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard, atomic},
    thread, thread_local,
};

#[cfg(gort_loom)]
pub(crate) use loom::{
    sync::{Arc, Condvar, Mutex, MutexGuard, atomic},
    thread, thread_local,
};

#[cfg(gort_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure-based API.
#[cfg(not(gort_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(gort_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Under loom a spin loop must yield to the model, or it could spin forever.
#[cfg(gort_loom)]
pub(crate) fn spin_loop() {
    loom::thread::yield_now();
}

/// Locks a mutex, ignoring poisoning: gort's critical sections never leave the data
/// half-updated when they panic (they do not call user code).
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
