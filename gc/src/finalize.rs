//! Running the destructors of dead objects, and the check that keeps a destructor from
//! reaching another dead object.
//!
//! After mark termination every allocated white object is dead. Their destructors run on the
//! collector's thread, all of them before any memory of the cycle is freed (the sweep comes
//! after), so a destructor never reads freed memory. A dead object's handles are not roots, so
//! dropping them does nothing; but a destructor could still dereference or clone one that
//! points at another dead object, whose value may be dropped already. So while destructors run,
//! `FINALIZING` is raised, and a handle used on the collector's thread checks that its object
//! is marked: a white one is dead, and the use panics. Elsewhere the check is one load of a
//! flag that is almost always down (no other thread can hold a handle to a dead object).
//!
//! Only objects whose type drops something in the heap (`Trace::DROPS_IN_HEAP`) have a
//! destructor to run; their spans are flagged when they are allocated
//! (`GcSpace::alloc_uninit_finalizable`), and the pass visits the dead objects of those spans
//! alone. A heap of plain nodes (handles and numbers) is swept without its dead objects ever
//! being read.

use crate::header::Header;
#[cfg(not(gort_loom))]
use crate::local::Local;
use crate::mark;
use std::cell::Cell;
use std::ptr::NonNull;
#[cfg(not(gort_loom))]
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Destructors of dead objects are running (on the collector's thread).
static FINALIZING: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// This thread runs the destructors.
    static FINALIZER: Cell<bool> = const { Cell::new(false) };
}

/// Panics if `header`'s object is dead: only possible in a destructor run by the collector.
#[inline]
pub(crate) fn check_alive(header: NonNull<Header>) {
    if FINALIZING.load(Relaxed) {
        check_slow(header);
    }
}

#[cold]
fn check_slow(header: NonNull<Header>) {
    if FINALIZER.with(Cell::get) && !mark::is_marked(header) {
        dead_object();
    }
}

/// The panic of a handle used after its object was found unreachable.
#[cold]
#[track_caller]
fn dead_object() -> ! {
    panic!(
        "gort::gc: a Gc was used from the destructor of an object freed in the same collection \
         (destructors must not dereference or clone the Gc handles they hold)"
    )
}

/// Runs the destructors of the dead objects of the cycle's spaces; returns how many objects
/// are dead, and the bytes of the live (marked) ones. `locals` are the spaces with the number
/// of spans each had at mark termination (spans taken since hold black objects only).
///
/// It reads the spans without their threads' locks, as the root scan does: objects allocated
/// meanwhile are black, and dead objects are nobody's but the collector's.
#[cfg(not(gort_loom))]
pub(crate) fn run_destructors(locals: &[(Arc<Local>, usize)]) -> (u64, usize) {
    let spans: Vec<_> = locals
        .iter()
        .flat_map(|(local, count)| mark::spans_of(local, *count))
        .collect();
    let (mut dead, mut live) = (0, 0);
    let mut finalizable = Vec::new();
    for span in &spans {
        // SAFETY: spans of live spaces, which sweep only after this pass.
        unsafe {
            live += span.marked_bytes();
            dead += span.unmarked_objects().count() as u64;
            if span.is_finalizable() {
                finalizable.push(*span);
            }
        }
    }
    if finalizable.is_empty() {
        return (dead, live);
    }
    FINALIZER.with(|on| on.set(true));
    FINALIZING.store(true, Relaxed);
    for span in finalizable {
        // SAFETY: as above; each dead object is dropped once, here.
        for object in unsafe { span.unmarked_objects() } {
            let header = object.cast::<Header>();
            // SAFETY: a dead object, whose header is intact until the sweep.
            let Some(drop) = unsafe { header.as_ref() }.vtable.drop else {
                continue;
            };
            // A panicking destructor is reported by the panic hook; the others still run.
            // SAFETY: as above.
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { drop(header) }));
        }
    }
    FINALIZING.store(false, Relaxed);
    FINALIZER.with(|on| on.set(false));
    (dead, live)
}
