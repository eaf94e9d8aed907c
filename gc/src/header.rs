//! The header in front of every collected object, and the object's layout.
//!
//! ```text
//!   GcBox<T>:  | vtable (8) | roots (8) | value: T |
//! ```
//!
//! - `vtable` points at a static per type: the type's trace and drop functions, which the
//!   collector calls knowing only the header's address (the object's first byte, which the
//!   allocator's page map finds from any interior pointer).
//! - `roots` counts the handles to the object that live outside the heap (see `gc.rs`).
//! - The object's colour is not here but in its span's mark bitmap (`gort_alloc::gc`): white
//!   is unmarked; grey is marked and waiting in some grey buffer; black is marked and traced.

use crate::loom::atomic::AtomicUsize;
use crate::loom::atomic::Ordering::Relaxed;
use crate::trace::{Trace, Tracer};
use std::ptr::NonNull;

/// What the collector knows of an object's type.
pub(crate) struct VTable {
    /// Traces the value of the object whose header is given.
    pub(crate) trace: unsafe fn(NonNull<Header>, &mut Tracer<'_>),
    /// Drops the value in place; `None` for types whose drop does nothing in the heap
    /// (`Trace::DROPS_IN_HEAP`).
    pub(crate) drop: Option<unsafe fn(NonNull<Header>)>,
}

#[repr(C)]
pub(crate) struct Header {
    pub(crate) vtable: &'static VTable,
    pub(crate) roots: AtomicUsize,
    /// Under loom the heap is made of boxes, and the colour lives here (`loom.rs`).
    #[cfg(gort_loom)]
    pub(crate) marked: crate::loom::atomic::AtomicBool,
}

/// An object: the header, then the value.
#[repr(C)]
pub(crate) struct GcBox<T: ?Sized> {
    pub(crate) header: Header,
    pub(crate) value: T,
}

impl<T: Trace> GcBox<T> {
    const VTABLE: &'static VTable = &VTable {
        trace: trace_value::<T>,
        drop: if T::DROPS_IN_HEAP {
            Some(drop_value::<T>)
        } else {
            None
        },
    };

    /// A new object's contents: one root (the handle `Gc::new` returns).
    pub(crate) fn new(value: T) -> GcBox<T> {
        GcBox {
            header: Header {
                vtable: Self::VTABLE,
                roots: AtomicUsize::new(1),
                #[cfg(gort_loom)]
                marked: crate::loom::atomic::AtomicBool::new(false),
            },
            value,
        }
    }
}

/// # Safety
///
/// `header` heads a live `GcBox<T>`.
unsafe fn trace_value<T: Trace>(header: NonNull<Header>, tracer: &mut Tracer<'_>) {
    // SAFETY: per the contract; the header is the box's first field.
    unsafe { header.cast::<GcBox<T>>().as_ref().value.trace(tracer) }
}

/// # Safety
///
/// `header` heads a live `GcBox<T>` whose value is dropped once, here, and never used again.
unsafe fn drop_value<T: Trace>(header: NonNull<Header>) {
    // SAFETY: per the contract.
    unsafe { std::ptr::drop_in_place(&raw mut (*header.cast::<GcBox<T>>().as_ptr()).value) }
}

impl Header {
    /// The number of roots (handles outside the heap).
    pub(crate) fn root_count(&self) -> usize {
        self.roots.load(Relaxed)
    }
}
