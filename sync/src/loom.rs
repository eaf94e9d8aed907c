//! The one switch between `std` and `loom` for gort-sync (see gort-runtime's `loom.rs`):
//! `RUSTFLAGS="--cfg gort_loom"` makes every lock and atomic here a loom one.

#[cfg(not(gort_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, atomic};

#[cfg(gort_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard, atomic};

/// Locks a mutex, ignoring poisoning: channel critical sections never run user code while the
/// state is half-updated (values are moved, not constructed or dropped, under the lock).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
