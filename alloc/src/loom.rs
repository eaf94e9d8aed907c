//! The one switch between `std` and `loom` for gort-alloc (see gort-runtime's `loom.rs`).
//!
//! The protocols that threads run against each other (a span's remote-free list, a central
//! list's lock) take their atomics and locks from here, so `RUSTFLAGS="--cfg gort_loom"` turns
//! them into loom objects that the models in `loom_alloc.rs` explore. The page map stays on
//! `std` atomics in both builds: it is a process-wide static, written under the heap lock and
//! never part of a model's interleavings.

#[cfg(not(gort_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, atomic};

#[cfg(gort_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard, atomic};

/// Locks a mutex, ignoring poisoning: the allocator's critical sections call no user code, so
/// a panic cannot leave their data half-updated.
#[inline]
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
