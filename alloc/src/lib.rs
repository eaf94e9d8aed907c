//! gort-alloc: a Go-style allocator.
//!
//! (design essay: see below)

mod arena;
mod cache;
mod central;
mod fixalloc;
pub mod gc;
mod global;
mod heap;
mod local;
mod loom;
#[cfg(all(test, gort_loom))]
mod loom_alloc;
mod pagemap;
mod remote;
mod sizeclass;
mod span;
mod stats;

pub use global::{GortAlloc, release_memory, size_class_of};
pub use sizeclass::{MAX_SMALL_SIZE, NUM_SIZE_CLASSES, PAGE_SIZE};
pub use stats::{ClassStats, Stats, stats};
