//! gort-sync: Go's channels for gort, waker-based.
//!
//! `chan` is Go's `hchan` in Rust: one lock per channel around a ring buffer and two FIFO queues
//! of parked senders and receivers, with rendezvous (capacity 0), buffered and unbounded modes.
//! Applications use it as `gort::chan`.

mod after;
pub mod chan;
mod loom;

pub use after::after;
