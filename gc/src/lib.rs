//! gort-gc: a concurrent tri-colour mark-sweep collector behind `Gc<T>`, after Go's (the
//! seeds trace it from a stop-the-world mark-sweep to the concurrent collector with a hybrid
//! write barrier; Go's `mgc.go` header is the model for this one).
//!
//! ```
//! use gort_gc::{Gc, GcCell, Trace};
//!
//! #[derive(Trace)]
//! #[gc(crate = "gort_gc")] // through the `gort` crate, plain `#[derive(gort::gc::Trace)]`
//! struct Person {
//!     name: String,
//!     friends: GcCell<Vec<Gc<Person>>>,
//! }
//!
//! let ada = Gc::new(Person { name: "Ada".into(), friends: GcCell::new(Vec::new()) });
//! let bob = Gc::new(Person { name: "Bob".into(), friends: GcCell::new(vec![ada.clone()]) });
//! ada.friends.borrow_mut().push(bob.clone()); // a cycle
//! assert_eq!(ada.friends.borrow()[0].name, "Bob");
//! drop((ada, bob));
//! gort_gc::collect(); // frees both, cycle and all
//! ```
//!
//! # Objects and roots
//!
//! Objects live in spans of gort-alloc's collector spaces, one space per thread (`local.rs`),
//! each behind a header: its type's trace and drop functions and its root count (`header.rs`).
//! Colours live in the spans' mark bitmaps. Roots are the `Gc` handles outside the heap, counted
//! in their objects' headers; a handle moved into the heap (by `Gc::new`, or into a `GcCell`)
//! stops counting, and one cloned out of it starts (`gc.rs`). No stack is scanned and nothing is
//! guessed.
//!
//! # A cycle
//!
//! A background thread collects (`collector.rs`): a stop-the-world flip starts marking (shading
//! on, new objects born black), the marker scans for rooted objects and traces from them while
//! the program runs, threads shade what they root or store into the heap, a second flip ends
//! marking once no grey object is left, the dead objects' destructors run, and the spaces are
//! swept. "Stop-the-world" means taking every thread's collector lock, which threads hold only
//! inside collector operations, so a pause is a few microseconds per thread plus the wait for
//! operations in flight. The pacer (`pacer.rs`) starts a cycle when the heap has grown by
//! GOGC percent (100 by default, [`set_gc_percent`]) over the last cycle's live heap, a little
//! before, so that marking ends in time; [`collect`] runs one now; [`stats`] reports cycles,
//! heap sizes and every pause.
//!
//! # Destructors
//!
//! A dead object's `Drop` runs on the collector's thread (so `Gc::new` needs `T: Send`), cycles
//! included. A destructor can never reach freed memory: all the destructors of a cycle run
//! before any of its memory is freed, and while they run a handle used on the collector's
//! thread checks that its object is marked, so a destructor that dereferences or clones a
//! handle to another dead object (its own field, in a cycle) panics (the panic is reported and
//! the other destructors still run; `finalize.rs`). A type with `#[derive(Trace)]` may not
//! implement `Drop` at all (the derive rejects it): its fields' destructors run, as always.
//! Types whose only drop glue is handles (`Trace::DROPS_IN_HEAP` is false, as the derive
//! works out) have no destructor to run, and the collector never reads their dead objects.
//!
//! # Rules for `Trace`
//!
//! Derive it. A hand-written [`Trace`] must trace every `Gc` and `GcCell` the value owns and
//! nothing else; a `Gc` that is not traced (in a `#[gc(skip)]` field, say) stays a root for as
//! long as its owner lives: a leak, not a dangling pointer. Handles belong in plain fields and
//! std containers, and mutable ones in a `GcCell`: not in `Cell`, `RefCell`, `Mutex`, `Rc` or
//! `Arc` (there is no `Trace` for those, and a hand-written one would let the program move a
//! handle behind the collector's back: that is the unsound use).

// Under loom the collector thread and the pacer are left out (each model drives the phases
// itself), and some of what only they use goes unused.
#![cfg_attr(gort_loom, allow(dead_code))]

mod cell;
#[cfg(not(gort_loom))]
mod collector;
mod finalize;
mod gc;
mod header;
mod held;
mod impls;
mod local;
mod lock;
mod loom;
#[cfg(all(test, gort_loom))]
mod loom_gc;
#[cfg(gort_loom)]
mod loom_space;
mod mark;
#[cfg(not(gort_loom))]
mod pacer;
mod stats;
mod trace;

pub use cell::{GcCell, GcCellRef, GcCellRefMut};
pub use gc::Gc;
pub use gort_macros::Trace;
pub use stats::GcStats;
pub use trace::{Trace, Tracer};

#[cfg(not(gort_loom))]
use collector::collector;

/// Runs a full collection and returns once it has swept (Go's `runtime.GC`): every object that
/// was unreachable when it was called has been dropped and freed.
///
/// ```
/// let before = gort_gc::stats().objects_freed;
/// drop(gort_gc::Gc::new(vec![1u8; 100]));
/// gort_gc::collect();
/// assert!(gort_gc::stats().objects_freed > before);
/// ```
#[cfg(not(gort_loom))]
pub fn collect() {
    collector().collect();
}

/// Sets the collection target percentage (Go's `GOGC`, `debug.SetGCPercent`): a cycle starts
/// when the heap has grown by `percent` over the live heap the last one found. Returns the
/// previous setting. The default is 100.
///
/// ```
/// let old = gort_gc::set_gc_percent(50);
/// assert_eq!(gort_gc::set_gc_percent(old), 50);
/// ```
#[cfg(not(gort_loom))]
pub fn set_gc_percent(percent: u32) -> u32 {
    collector().pacer.set_percent(percent)
}

/// The collector's counters and recent pauses.
///
/// ```
/// gort_gc::collect();
/// let stats = gort_gc::stats();
/// assert!(stats.cycles >= 1 && stats.heap_goal >= stats.heap_live);
/// ```
#[cfg(not(gort_loom))]
pub fn stats() -> GcStats {
    collector().stats()
}
