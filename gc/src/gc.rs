//! `Gc<T>`: a handle to an object of the collected heap.
//!
//! A handle is a root or it is not, and it knows which (the low bit of its pointer):
//!
//! - A handle outside the heap (in a local, a `Box`, a task, a channel) is a **root**: it
//!   counts in its object's root count, which `Gc::new` starts at 1, `clone` raises and `drop`
//!   lowers. The collector starts marking from the objects whose count is not zero, so there
//!   is no stack scanning and no guessing.
//! - A handle inside a heap object is **not** a root: the object that holds it keeps its
//!   target alive while the object itself is reachable. `Gc::new(value)` unroots the handles
//!   in `value` as it moves it into the heap, and so does the end of a `GcCell` mutable borrow
//!   for the cell's contents (`cell.rs`), while its start roots them, because handles may move
//!   out of the cell during the borrow. A handle loaded out of the heap by `clone` is a root.
//!
//! Only a rooting walk writes the bit, and it walks values no one else can read (a value on its
//! way into the heap, or a cell's contents under its mutable borrow, which the marker skips);
//! everyone else only reads the pointer. Root count changes that can make an object reachable
//! from a root (a raise, a handle moving into the heap) shade it while a collection marks
//! (`collector.rs` has the argument); a drop only lowers the count, with no lock.

use crate::finalize::check_alive;
use crate::header::{GcBox, Header};
use crate::local;
use crate::loom::atomic::Ordering::{Relaxed, Release};
use crate::trace::{Trace, Tracer, Walk};
use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::num::NonZero;
use std::ptr::NonNull;

/// The pointer's low bit: the handle is a root.
const ROOTED: usize = 1;

/// A pointer to a value in the collected heap, which lives as long as any handle to it (or to
/// an object that reaches it) does, cycles included.
///
/// `Gc<T>` is `Send + Sync` when `T` is. Cloning a handle is about as cheap as cloning an
/// `Arc`, and dropping one cheaper (the object is freed later, by the collector); no
/// reference count is kept between heap objects, so cycles are no leak.
///
/// ```
/// use gort_gc::{Gc, GcCell, Trace};
///
/// #[derive(Trace)]
/// #[gc(crate = "gort_gc")]
/// struct Node {
///     value: u64,
///     next: GcCell<Option<Gc<Node>>>,
/// }
///
/// // A cycle of two nodes.
/// let a = Gc::new(Node { value: 1, next: GcCell::new(None) });
/// let b = Gc::new(Node { value: 2, next: GcCell::new(Some(a.clone())) });
/// *a.next.borrow_mut() = Some(b.clone());
/// let sum = a.value + a.next.borrow().as_ref().unwrap().value;
/// assert_eq!(sum, 3);
/// drop((a, b)); // the cycle is garbage now; a collection frees both nodes
/// gort_gc::collect();
/// ```
pub struct Gc<T: Trace + ?Sized + 'static> {
    /// The object, with `ROOTED` in the low bit; written only by rooting walks.
    ptr: UnsafeCell<NonNull<GcBox<T>>>,
    _owns: PhantomData<T>,
}

// SAFETY: a `Gc` gives out `&T` on any thread (so `T: Sync`), and the last one may be the one
// that lets the collector drop `T` on its own thread (so `T: Send`). The pointer's bit is
// written only by rooting walks, which have the handle to themselves.
unsafe impl<T: Trace + ?Sized + Send + Sync> Send for Gc<T> {}
// SAFETY: as above.
unsafe impl<T: Trace + ?Sized + Send + Sync> Sync for Gc<T> {}

impl<T: Trace + Send + 'static> Gc<T> {
    /// Moves `value` into the collected heap. The handles inside `value` stop being roots:
    /// from now on the new object keeps their targets alive.
    ///
    /// `T` must be `Send` because its destructor runs on the collector's thread.
    ///
    /// ```
    /// let list = gort_gc::Gc::new(vec![gort_gc::Gc::new(1), gort_gc::Gc::new(2)]);
    /// assert_eq!(*list[0] + *list[1], 3);
    /// ```
    pub fn new(value: T) -> Gc<T> {
        // The value is moved once, straight into the heap, and its handles are unrooted
        // there: a walk over a copy on the stack, then another copy, cost binary-trees a
        // tenth of its time in store-forwarding stalls (the walk's 8-byte writes, then wide
        // loads of the same bytes).
        let value = std::mem::ManuallyDrop::new(value);
        let (object, assist) = local::with(|state| {
            let layout = Layout::new::<GcBox<T>>();
            let object = state.alloc(layout, T::DROPS_IN_HEAP).cast::<GcBox<T>>();
            // SAFETY: fresh memory for a `GcBox<T>`, ours; the collector reads it only after
            // this operation (the thread's lock orders them) or once it is marked black. The
            // value is read out of its `ManuallyDrop` once and never used again.
            unsafe { object.as_ptr().write(GcBox::new(std::ptr::read(&*value))) };
            if T::NEEDS_TRACE {
                // SAFETY: the object was just written, and nothing else reads it yet.
                unsafe { object.as_ref() }
                    .value
                    .trace(&mut state.tracer(Walk::Unroot));
                state.flush_grey();
            }
            state.born(object.cast());
            (object, std::mem::take(&mut state.assist))
        });
        #[cfg(not(gort_loom))]
        if assist {
            crate::collector::collector().assist();
        }
        #[cfg(gort_loom)]
        let _ = assist;
        Gc {
            ptr: UnsafeCell::new(object.map_addr(|addr| addr | ROOTED)),
            _owns: PhantomData,
        }
    }
}

impl<T: Trace + ?Sized + 'static> Gc<T> {
    /// Whether two handles point at the same object.
    ///
    /// ```
    /// use gort_gc::Gc;
    /// let a = Gc::new(5);
    /// let b = a.clone();
    /// assert!(Gc::ptr_eq(&a, &b));
    /// assert!(!Gc::ptr_eq(&a, &Gc::new(5)));
    /// ```
    pub fn ptr_eq(this: &Gc<T>, other: &Gc<T>) -> bool {
        this.object().cast::<u8>() == other.object().cast::<u8>()
    }

    /// The raw pointer bits: the object and `ROOTED`.
    #[inline]
    fn bits(&self) -> NonNull<GcBox<T>> {
        // SAFETY: only rooting walks write the field, and they have the handle to themselves.
        unsafe { *self.ptr.get() }
    }

    #[inline]
    fn object(&self) -> NonNull<GcBox<T>> {
        self.bits().map_addr(|addr| {
            // SAFETY: an object's address is 8-byte aligned and not zero, so clearing bit 0
            // leaves it non-zero.
            unsafe { NonZero::new_unchecked(addr.get() & !ROOTED) }
        })
    }

    #[inline]
    pub(crate) fn header(&self) -> NonNull<Header> {
        self.object().cast()
    }

    #[inline]
    fn is_rooted(&self) -> bool {
        self.bits().addr().get() & ROOTED != 0
    }

    /// # Safety
    ///
    /// The caller is a rooting walk, with the handle to itself.
    unsafe fn set_rooted(&self, rooted: bool) {
        let object = self.object();
        let bits = if rooted {
            object.map_addr(|addr| addr | ROOTED)
        } else {
            object
        };
        // SAFETY: per the contract.
        unsafe { *self.ptr.get() = bits };
    }
}

impl<T: Trace + ?Sized + 'static> std::ops::Deref for Gc<T> {
    type Target = T;

    /// # Panics
    ///
    /// In a destructor run by the collector, if the handle's object is being freed too.
    #[inline]
    fn deref(&self) -> &T {
        let object = self.object();
        check_alive(object.cast());
        // SAFETY: a handle keeps its object alive (or, in a destructor run by the collector,
        // unfreed until every destructor of the cycle has run; `check_alive` tells which).
        unsafe { &(*object.as_ptr()).value }
    }
}

impl<T: Trace + ?Sized + 'static> Clone for Gc<T> {
    /// A new root for the same object.
    ///
    /// # Panics
    ///
    /// In a destructor run by the collector, if the handle's object is being freed too.
    fn clone(&self) -> Gc<T> {
        let header = self.header();
        check_alive(header);
        local::with(|state| {
            // SAFETY: the object is alive (see `deref`).
            unsafe { header.as_ref() }.roots.fetch_add(1, Relaxed);
            state.shade(header);
            state.flush_grey();
        });
        Gc {
            ptr: UnsafeCell::new(self.object().map_addr(|addr| addr | ROOTED)),
            _owns: PhantomData,
        }
    }
}

impl<T: Trace + ?Sized + 'static> Drop for Gc<T> {
    #[inline]
    fn drop(&mut self) {
        if self.is_rooted() {
            // SAFETY: a root keeps its object alive until this decrement.
            unsafe { self.header().as_ref() }
                .roots
                .fetch_sub(1, Release);
        }
    }
}

// SAFETY: a handle is its only `Gc`.
unsafe impl<T: Trace + ?Sized + 'static> Trace for Gc<T> {
    // A handle in the heap is not a root: its drop does nothing.
    const DROPS_IN_HEAP: bool = false;

    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        let header = self.header();
        let raise = match tracer.walk {
            Walk::Mark => {
                tracer.shade(header);
                return;
            }
            Walk::Root if !self.is_rooted() => true,
            Walk::Unroot if self.is_rooted() => false,
            Walk::Root | Walk::Unroot => return,
        };
        // SAFETY: a rooting walk has the handle to itself, and its object is alive.
        unsafe {
            self.set_rooted(raise);
            let roots = &header.as_ref().roots;
            if raise {
                roots.fetch_add(1, Relaxed);
            } else {
                roots.fetch_sub(1, Relaxed);
            }
        }
        if tracer.shade {
            tracer.shade(header);
        }
    }
}

impl<T: Trace + Send + 'static> From<T> for Gc<T> {
    /// `Gc::new(value)`.
    ///
    /// ```
    /// let g: gort_gc::Gc<u8> = 7.into();
    /// assert_eq!(*g, 7);
    /// ```
    fn from(value: T) -> Gc<T> {
        Gc::new(value)
    }
}

impl<T: Trace + Send + Default + 'static> Default for Gc<T> {
    /// `Gc::new(T::default())`.
    ///
    /// ```
    /// let g: gort_gc::Gc<Vec<u8>> = Default::default();
    /// assert!(g.is_empty());
    /// ```
    fn default() -> Gc<T> {
        Gc::new(T::default())
    }
}

impl<T: Trace + ?Sized + 'static> AsRef<T> for Gc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: Trace + ?Sized + 'static> std::borrow::Borrow<T> for Gc<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: Trace + ?Sized + std::fmt::Debug + 'static> std::fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Trace + ?Sized + std::fmt::Display + 'static> std::fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Trace + ?Sized + 'static> std::fmt::Pointer for Gc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Pointer::fmt(&&**self, f)
    }
}

impl<T: Trace + ?Sized + PartialEq + 'static> PartialEq for Gc<T> {
    fn eq(&self, other: &Gc<T>) -> bool {
        **self == **other
    }
}

impl<T: Trace + ?Sized + Eq + 'static> Eq for Gc<T> {}

impl<T: Trace + ?Sized + PartialOrd + 'static> PartialOrd for Gc<T> {
    fn partial_cmp(&self, other: &Gc<T>) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Trace + ?Sized + Ord + 'static> Ord for Gc<T> {
    fn cmp(&self, other: &Gc<T>) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Trace + ?Sized + std::hash::Hash + 'static> std::hash::Hash for Gc<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}
