//! `GcCell<T>`: interior mutability for values in the collected heap, and the write barrier.
//!
//! A `RefCell` whose borrow flag is one atomic word, so that it can be shared between threads
//! and so that the marker can read the contents while the program does. Across threads it is a
//! read-write lock (a borrow waits for a conflicting one held by another thread); within a
//! thread it is a `RefCell` (a borrow that conflicts with one the same thread holds panics,
//! where a lock would deadlock: `held.rs` keeps the record):
//!
//! ```text
//!   bit 63        WRITER   a mutable borrow is out
//!   bit 62        ROOTED   the contents' handles are roots (the cell is not in the heap,
//!                          or its contents are mutably borrowed)
//!   bits 32..62   markers  collector threads reading the contents
//!   bits 0..32    readers  shared borrows
//! ```
//!
//! The write barrier is the rooting of the contents around a mutable borrow of a cell in the
//! heap: `borrow_mut` roots every handle in the contents (shading their targets while a
//! collection marks: the overwritten pointers, the deletion half of Go's hybrid barrier), and
//! the end of the borrow unroots whatever the contents then hold (shading them: the new
//! pointers, the insertion half). In between, handles may move freely in and out of the
//! contents, since every one of them is a root.
//!
//! The marker takes a marker's read of a cell before tracing its contents. If the cell is
//! mutably borrowed, the marker skips it: its contents are roots until the borrow ends, and
//! are shaded then. For that, a borrow takes the writer bit and roots the contents in one
//! collector operation (under the thread's lock), and unroots them and releases the bit in
//! another, so no phase flip falls in between. (The loom model of the barrier found both
//! gaps: with the bit taken before the walk, a whole marking fit between the two, skipping
//! the cell, and the walk then rooted an object that the sweep would free; with the bit
//! released after the walk, marking started between the two, and the marker skipped the cell
//! whose contents were no longer roots.) A `borrow_mut` that finds a marker reading waits for it (the read of one
//! cell's contents is short); readers and the marker share the cell.

use crate::held::{self, Backoff};
use crate::local;
use crate::loom::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::loom::atomic::{AtomicU64, AtomicUsize};
use crate::trace::{Trace, Tracer, Walk};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

const WRITER: usize = 1 << 63;
const ROOTED: usize = 1 << 62;
const MARKER: usize = 1 << 32;
const MARKERS: usize = ((1 << 30) - 1) << 32;
const READERS: usize = (1 << 32) - 1;

/// A mutable memory location for values with `Gc` handles, in or out of the collected heap:
/// `Gc<GcCell<T>>` is how a garbage-collected value is mutated.
///
/// Borrowing follows `RefCell`'s rules on every thread at once: any number of `borrow`s or one
/// `borrow_mut`. A borrow that conflicts with one held on another thread waits for it to end
/// (so do not hold one across an `.await`: the guards are not `Send`, which keeps them out of
/// goroutines' futures), and one that conflicts with a borrow of its own thread panics, as
/// `RefCell`'s does. Two threads that each wait for a cell the other holds deadlock, as with
/// any two locks taken in opposite orders. A mutable borrow of a cell in the heap
/// costs a walk over its contents at its start and at its end (the write barrier: see the
/// module docs), so prefer a cell per field that changes over one cell around a large value.
///
/// ```
/// use gort_gc::{Gc, GcCell};
///
/// let counter = Gc::new(GcCell::new(0));
/// *counter.borrow_mut() += 1;
/// assert_eq!(*counter.borrow(), 1);
/// ```
pub struct GcCell<T: ?Sized> {
    flags: AtomicUsize,
    /// The thread holding the mutable borrow (`held::thread_id`), or 0.
    writer: AtomicU64,
    value: UnsafeCell<T>,
}

// SAFETY: the cell owns its value.
unsafe impl<T: ?Sized + Send> Send for GcCell<T> {}
// SAFETY: the flag admits one writer or shared readers across all threads, like `RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for GcCell<T> {}

impl<T> GcCell<T> {
    /// A cell holding `value` (not in the heap yet: its handles stay roots until the cell moves
    /// into a `Gc`).
    ///
    /// ```
    /// let cell = gort_gc::GcCell::new(vec![1, 2]);
    /// assert_eq!(cell.borrow().len(), 2);
    /// ```
    pub fn new(value: T) -> GcCell<T> {
        GcCell {
            flags: AtomicUsize::new(ROOTED),
            writer: AtomicU64::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, out of the cell.
    ///
    /// ```
    /// let cell = gort_gc::GcCell::new(String::from("x"));
    /// assert_eq!(cell.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        // A cell that is not borrowed and not in the heap: its handles are roots already.
        self.value.into_inner()
    }
}

impl<T: ?Sized> GcCell<T> {
    /// The value, through the exclusive access `&mut self` gives (no borrow flag, no barrier:
    /// a cell reached by `&mut` is not in the heap, or its contents are rooted already).
    ///
    /// ```
    /// let mut cell = gort_gc::GcCell::new(1);
    /// *cell.get_mut() += 1;
    /// assert_eq!(*cell.borrow(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Trace + ?Sized> GcCell<T> {
    /// Borrows the value immutably, waiting for a mutable borrow held by another thread.
    ///
    /// # Panics
    ///
    /// If the calling thread holds a mutable borrow of it.
    ///
    /// ```
    /// let cell = gort_gc::GcCell::new(5);
    /// let (a, b) = (cell.borrow(), cell.borrow());
    /// assert_eq!(*a + *b, 10);
    /// ```
    #[track_caller]
    pub fn borrow(&self) -> GcCellRef<'_, T> {
        let mut backoff = Backoff::default();
        loop {
            if let Some(borrowed) = self.try_borrow() {
                return borrowed;
            }
            if self.writer.load(Relaxed) == held::thread_id() {
                panic!("GcCell already mutably borrowed");
            }
            backoff.wait();
        }
    }

    /// A shared borrow, unless the value is mutably borrowed.
    fn try_borrow(&self) -> Option<GcCellRef<'_, T>> {
        let mut flags = self.flags.load(Relaxed);
        loop {
            if flags & WRITER != 0 {
                return None;
            }
            assert!(flags & READERS != READERS, "too many GcCell borrows");
            match self
                .flags
                .compare_exchange_weak(flags, flags + 1, Acquire, Relaxed)
            {
                Ok(_) => {
                    held::reading(self.address());
                    return Some(GcCellRef {
                        cell: self,
                        _not_send: PhantomData,
                    });
                }
                Err(now) => flags = now,
            }
        }
    }

    fn address(&self) -> usize {
        (self as *const GcCell<T>).cast::<u8>() as usize
    }

    /// Borrows the value mutably (see the type's docs for the cost in the heap), waiting for
    /// borrows held by other threads.
    ///
    /// # Panics
    ///
    /// If the calling thread holds a borrow of it.
    ///
    /// ```
    /// use gort_gc::{Gc, GcCell};
    /// let names = Gc::new(GcCell::new(Vec::new()));
    /// names.borrow_mut().push(Gc::new(String::from("ada")));
    /// assert_eq!(*names.borrow()[0], "ada");
    /// ```
    #[track_caller]
    pub fn borrow_mut(&self) -> GcCellRefMut<'_, T> {
        let mut backoff = Backoff::default();
        loop {
            let flags = self.flags.load(Relaxed);
            let me = held::thread_id();
            if flags & WRITER != 0 && self.writer.load(Relaxed) == me
                || flags & READERS != 0 && held::is_reading(self.address())
            {
                panic!("GcCell already borrowed");
            }
            // Another thread's borrow, or the collector reading the contents (which is quick).
            if flags & (WRITER | READERS | MARKERS) != 0 {
                backoff.wait();
                continue;
            }
            let rooted = flags & ROOTED == 0;
            let taken = if rooted {
                // In the heap: the writer bit and the rooting walk go in one collector
                // operation, so that no phase flip falls between them (module docs).
                local::with(|state| {
                    if !self.take_writer(flags, me) {
                        return false;
                    }
                    let release = ReleaseWriter(self);
                    // SAFETY: the writer bit gives us the contents.
                    unsafe { &*self.value.get() }.trace(&mut state.tracer(Walk::Root));
                    state.flush_grey();
                    std::mem::forget(release);
                    true
                })
            } else {
                self.take_writer(flags, me)
            };
            if taken {
                return GcCellRefMut {
                    cell: self,
                    rooted,
                    _not_send: PhantomData,
                };
            }
        }
    }

    /// Sets the writer bit if the flags are still `flags`, and records the writer.
    fn take_writer(&self, flags: usize, me: u64) -> bool {
        let taken = self
            .flags
            .compare_exchange(flags, flags | WRITER, Acquire, Relaxed)
            .is_ok();
        if taken {
            self.writer.store(me, Relaxed);
        }
        taken
    }
}

/// Clears a cell's writer bit when dropped (at the end of a mutable borrow, or if its rooting
/// walk panics).
struct ReleaseWriter<'a, T: ?Sized>(&'a GcCell<T>);

impl<T: ?Sized> Drop for ReleaseWriter<'_, T> {
    fn drop(&mut self) {
        self.0.writer.store(0, Relaxed);
        self.0.flags.fetch_and(!WRITER, Release);
    }
}

impl<T: Default> Default for GcCell<T> {
    fn default() -> GcCell<T> {
        GcCell::new(T::default())
    }
}

impl<T: Trace + ?Sized + std::fmt::Debug> std::fmt::Debug for GcCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_borrow() {
            Some(value) => f.debug_struct("GcCell").field("value", &&*value).finish(),
            None => f.write_str("GcCell { <borrowed> }"),
        }
    }
}

// SAFETY: traces the contents, under the flag's rules (module docs).
unsafe impl<T: Trace + ?Sized> Trace for GcCell<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROPS_IN_HEAP: bool = T::DROPS_IN_HEAP;

    fn trace(&self, tracer: &mut Tracer<'_>) {
        if !T::NEEDS_TRACE {
            return;
        }
        match tracer.walk {
            Walk::Mark => {
                let mut flags = self.flags.load(Relaxed);
                loop {
                    if flags & WRITER != 0 {
                        // Rooted until the borrow ends, and shaded then.
                        return;
                    }
                    match self
                        .flags
                        .compare_exchange_weak(flags, flags + MARKER, Acquire, Relaxed)
                    {
                        Ok(_) => break,
                        Err(now) => flags = now,
                    }
                }
                // SAFETY: a marker's read excludes writers.
                unsafe { (*self.value.get()).trace(tracer) };
                self.flags.fetch_sub(MARKER, Release);
            }
            Walk::Root => {
                if self.flags.fetch_or(ROOTED, Relaxed) & ROOTED == 0 {
                    // SAFETY: a rooting walk has the cell to itself.
                    unsafe { (*self.value.get()).trace(tracer) };
                }
            }
            Walk::Unroot => {
                if self.flags.fetch_and(!ROOTED, Relaxed) & ROOTED != 0 {
                    // SAFETY: as above.
                    unsafe { (*self.value.get()).trace(tracer) };
                }
            }
        }
    }
}

/// A shared borrow of a [`GcCell`]'s value.
///
/// ```
/// let cell = gort_gc::GcCell::new((1, 2));
/// let pair: gort_gc::GcCellRef<'_, (i32, i32)> = cell.borrow();
/// assert_eq!(pair.1, 2);
/// ```
pub struct GcCellRef<'a, T: ?Sized> {
    cell: &'a GcCell<T>,
    /// Dropped on the thread that took it (`held.rs` lists it there).
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized> Deref for GcCellRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a shared borrow excludes writers.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: ?Sized> Drop for GcCellRef<'_, T> {
    fn drop(&mut self) {
        held::done_reading((self.cell as *const GcCell<T>).cast::<u8>() as usize);
        self.cell.flags.fetch_sub(1, Release);
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for GcCellRef<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A mutable borrow of a [`GcCell`]'s value. Its drop ends the write barrier (module docs).
///
/// ```
/// let cell = gort_gc::GcCell::new(String::new());
/// let mut s: gort_gc::GcCellRefMut<'_, String> = cell.borrow_mut();
/// s.push('a');
/// drop(s);
/// assert_eq!(*cell.borrow(), "a");
/// ```
pub struct GcCellRefMut<'a, T: Trace + ?Sized> {
    cell: &'a GcCell<T>,
    /// The borrow rooted the contents, and unroots them when it ends.
    rooted: bool,
    /// Dropped on the thread that took it (its id is in the cell).
    _not_send: PhantomData<*const ()>,
}

impl<T: Trace + ?Sized> Deref for GcCellRefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer bit gives us the contents.
        unsafe { &*self.cell.value.get() }
    }
}

impl<T: Trace + ?Sized> DerefMut for GcCellRefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above.
        unsafe { &mut *self.cell.value.get() }
    }
}

impl<T: Trace + ?Sized> Drop for GcCellRefMut<'_, T> {
    fn drop(&mut self) {
        let release = ReleaseWriter(self.cell);
        if self.rooted {
            // SAFETY: the writer bit still gives us the contents.
            let value = unsafe { &*self.cell.value.get() };
            // The unrooting walk and the release go in one collector operation, as the
            // writer bit and the rooting walk did.
            local::with(|state| {
                let _release = release;
                value.trace(&mut state.tracer(Walk::Unroot));
                state.flush_grey();
            });
        }
    }
}

impl<T: Trace + ?Sized + std::fmt::Debug> std::fmt::Debug for GcCellRefMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}
