//! The one switch between `std` and `loom` for gort-gc (see gort-runtime's `loom.rs`).
//!
//! The collector's protocols (a thread's lock and phase flags, root counts, the `GcCell` flag
//! against the marker, mark bits) take their atomics and thread locals from here, so that
//! `RUSTFLAGS="--cfg gort_loom"` turns them into loom objects that the models in
//! `loom_gc.rs` explore. Under loom the heap is not gort-alloc's: objects are boxes, with
//! their mark bit in the header, and each model drives the collector's phases itself (see
//! `local.rs`).

#[cfg(not(gort_loom))]
pub(crate) use std::{sync::atomic, thread_local};

#[cfg(gort_loom)]
pub(crate) use loom::{sync::atomic, thread_local};

/// One look of a spin-wait: a CPU hint, or under loom a yield to the model (a spin loop that
/// never yields would spin forever there).
#[inline]
pub(crate) fn spin() {
    #[cfg(not(gort_loom))]
    std::hint::spin_loop();
    #[cfg(gort_loom)]
    loom::thread::yield_now();
}

/// A longer wait: the thread yields (under loom, to the model).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(gort_loom))]
    std::thread::yield_now();
    #[cfg(gort_loom)]
    loom::thread::yield_now();
}
