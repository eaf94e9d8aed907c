//! The one switch between `std` and `loom` for gort-sync (see gort-runtime's `loom.rs`):
//! `RUSTFLAGS="--cfg gort_loom"` makes every lock and atomic here a loom one.

#[cfg(not(gort_loom))]
pub(crate) use std::sync::{Arc, atomic};

#[cfg(gort_loom)]
pub(crate) use loom::sync::{Arc, atomic};
