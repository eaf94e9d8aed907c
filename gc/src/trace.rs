//! `Trace`: how the collector and the rooting walks find the `Gc` handles inside a value.
//!
//! One method serves three walks, told apart by the [`Tracer`]:
//!
//! - **mark**: the collector (or an allocating thread that assists it) visits the handles of an
//!   object it has marked, and marks their targets (`mark.rs`);
//! - **unroot**: a value moves into the heap (`Gc::new`, or the end of a `GcCell` mutable
//!   borrow): its handles stop counting as roots;
//! - **root**: a `GcCell`'s contents are borrowed mutably, so handles may move out of the heap:
//!   they count as roots for as long as the borrow lasts.
//!
//! A type implements `trace` by calling `trace` on every field that may hold a `Gc` or a
//! `GcCell` (`#[derive(Trace)]` writes exactly that), and on nothing else.

use crate::header::Header;
use std::ptr::NonNull;

/// A type whose `Gc` handles the collector can find.
///
/// Derive it (`#[derive(Trace)]`, with `#[gc(skip)]` on fields that hold no `Gc`), or use the
/// implementations for the standard library's types: primitives, `String`, `Box`, `Vec`,
/// `VecDeque`, `Option`, `Result`, tuples, arrays, the maps and sets.
///
/// # Safety
///
/// `trace` must call [`Trace::trace`] on every value of `self` that holds a [`Gc`](crate::Gc)
/// or a [`GcCell`](crate::GcCell), each once, and do nothing else: no `Gc::new`, no clone or
/// drop of a `Gc`, no `GcCell` borrow. It must only reach values that `self` owns (a `Gc`
/// behind an `Rc` or an `Arc` is shared with other owners: do not trace it). And the type must
/// give out no `&mut` to a `Gc` it holds except through a `GcCell`'s mutable borrow, which
/// means: no `Cell`, `RefCell` or `Mutex` around a `Gc` (use `GcCell`), and no `Drop` impl
/// that moves a `Gc` out of `self` (the derive rejects any `Drop` impl on the type).
///
/// Missing a `Gc` is not undefined behaviour but a leak: a handle the walks never see stays a
/// root, so its target (and whatever it reaches) lives until the handle is dropped with its
/// owner.
pub unsafe trait Trace {
    /// False when no value of the type can hold a `Gc` (integers, strings...): containers of
    /// it then skip the walk. Leave it `true` unless that holds.
    const NEEDS_TRACE: bool = true;

    /// False when dropping a value of the type that lives in the heap does nothing: its only
    /// drop glue is `Gc` handles (which, inside the heap, are not roots and have nothing to
    /// give back). The collector then never visits the type's dead objects, and frees them
    /// with their spans' bitmaps alone. Leave it `true` unless that holds; the derive computes
    /// it from the fields.
    const DROPS_IN_HEAP: bool = true;

    /// Calls `trace` on every field that may hold a `Gc` (see the trait's safety section).
    ///
    /// ```
    /// use gort_gc::{Gc, Trace, Tracer};
    ///
    /// struct Pair {
    ///     left: Gc<u32>,
    ///     right: Option<Gc<u32>>,
    ///     weight: f64,
    /// }
    ///
    /// // SAFETY: traces both handles and nothing else.
    /// unsafe impl Trace for Pair {
    ///     fn trace(&self, tracer: &mut Tracer<'_>) {
    ///         self.left.trace(tracer);
    ///         self.right.trace(tracer);
    ///     }
    /// }
    ///
    /// let pair = Gc::new(Pair { left: Gc::new(1), right: None, weight: 0.5 });
    /// assert_eq!(*pair.left + pair.weight as u32, 1);
    /// ```
    fn trace(&self, tracer: &mut Tracer<'_>);
}

/// Which walk a [`Tracer`] is on (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    Mark,
    Root,
    Unroot,
}

/// The visitor passed to [`Trace::trace`]; only `gort-gc` makes one.
///
/// ```
/// fn takes_a_tracer(_: &mut gort_gc::Tracer<'_>) {}
/// ```
pub struct Tracer<'a> {
    pub(crate) walk: Walk,
    /// On a rooting walk, whether a collection is marking (targets whose root status changes
    /// are then shaded); always true on a mark walk.
    pub(crate) shade: bool,
    /// Where newly shaded objects go: the marker's stack, or the thread's grey buffer.
    pub(crate) grey: &'a mut Vec<NonNull<Header>>,
}

impl std::fmt::Debug for Tracer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("walk", &self.walk)
            .field("shade", &self.shade)
            .finish_non_exhaustive()
    }
}

impl Tracer<'_> {
    /// Marks `header`'s object; if this call marked it, it joins the grey objects to trace.
    #[inline]
    pub(crate) fn shade(&mut self, header: NonNull<Header>) {
        if crate::mark::mark(header) {
            self.grey.push(header);
        }
    }
}
