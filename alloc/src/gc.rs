//! The collector's side of the heap: objects that are never freed one by one, but swept
//! (Go's `mallocgc` for pointerful objects, `mspan.sweep`, `gcmarkBits`).
//!
//! A [`GcSpace`] owns its own spans, taken from the same page heap as the malloc path but never
//! shared with it: a sweep frees every object it did not see marked, which would be wrong for
//! a malloc block. Within a span the allocation bits and the mark bits sit side by side (see
//! `span.rs`); the cycle goes:
//!
//! 1. **Allocate** with [`GcSpace::alloc`]: the next object of the class's current span whose
//!    allocation bit is clear, and its bit is then set (malloc spans keep no allocation bits). Objects come zeroed, so a collector never traces stale bytes. While marking is on ([`GcSpace::set_marking`]) a new object is born marked
//!    (black), as in Go.
//! 2. **Mark**: any thread turns an address into its object with [`find_object`] (O(1) through
//!    the page map, interior pointers included) and sets its mark bit with [`Object::mark`], an
//!    atomic OR that tells whether this call was the first to mark it.
//! 3. **Sweep** with [`GcSpace::sweep`] once marking is over: the callback sees every object
//!    that was allocated and is unmarked (to run its destructor), then each span's mark bitmap
//!    becomes its allocation bitmap and the old allocation bitmap, cleared, becomes the next
//!    cycle's mark bitmap; allocation then takes the objects whose bits are clear (there is no
//!    free list to rebuild, and a dead object's memory is not touched). Spans left empty go
//!    back to the page heap.
//!
//! [`GcSpace::spans`] and [`GcSpan::objects`] enumerate the heap, for a collector that scans
//! it or a test that audits it. The space also keeps its spans in an array in the order it took
//! them ([`GcSpace::span_count`], [`GcSpace::span`]), which only a sweep reorders or shrinks:
//! a collector can scan it a few spans at a time, letting the space allocate in between, and
//! still see every span once (the spans it missed are the ones taken meanwhile).

use crate::global::{Global, global};
use crate::heap::pages_for;
use crate::sizeclass::{NUM_CLASSES, PAGE_SIZE, class_of};
use crate::span::{Span, SpanList, State};
use std::alloc::Layout;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{Acquire, Relaxed};

mod sweep;

/// The `owner` of collector spans: no thread cache has this address, so no thread frees into
/// them locally.
const GC_OWNER: usize = 1;

/// A set of collector-managed spans (see the module docs).
///
/// ```
/// use gort_alloc::gc::{GcSpace, find_object};
/// use std::alloc::Layout;
///
/// let mut space = GcSpace::new();
/// let kept = space.alloc(Layout::new::<[u64; 4]>()).unwrap();
/// let lost = space.alloc(Layout::new::<[u64; 4]>()).unwrap();
/// space.set_marking(true);
/// // SAFETY: `kept` is a live object of `space`.
/// unsafe { find_object(kept.as_ptr()) }.unwrap().mark();
/// space.set_marking(false);
/// let mut dead = Vec::new();
/// let swept = space.sweep(|object, _size| dead.push(object));
/// assert_eq!(dead, vec![lost]);
/// assert_eq!(swept.live_objects, 1);
/// ```
#[derive(Debug)]
pub struct GcSpace {
    /// The span each class allocates from (on no list).
    current: [*mut Span; NUM_CLASSES],
    /// Spans with free objects, by class.
    partial: [SpanList; NUM_CLASSES],
    /// Spans with none, by class (0: large spans).
    full: [SpanList; NUM_CLASSES],
    /// Every span of the space that is not waiting to be swept, in the order taken.
    all: Vec<*mut Span>,
    marking: bool,
    /// While a sweep is under way: the spans not swept yet, by class (0: large spans), those
    /// that had free objects and those that had none.
    unswept_partial: [SpanList; NUM_CLASSES],
    unswept_full: [SpanList; NUM_CLASSES],
    unswept_count: usize,
    /// What the sweep under way found so far.
    swept: SweepStats,
}

// SAFETY: the space owns its spans outright; no thread-bound data.
unsafe impl Send for GcSpace {}

/// What a sweep found.
///
/// ```
/// let s = gort_alloc::gc::SweepStats::default();
/// assert_eq!(s.live_objects + s.freed_objects, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Objects still allocated (they were marked).
    pub live_objects: usize,
    /// Bytes in those objects, at their class size.
    pub live_bytes: usize,
    /// Objects freed (allocated and unmarked).
    pub freed_objects: usize,
    /// Spans returned to the page heap.
    pub freed_spans: usize,
}

impl Default for GcSpace {
    fn default() -> GcSpace {
        GcSpace::new()
    }
}

impl GcSpace {
    /// An empty space.
    ///
    /// ```
    /// let space = gort_alloc::gc::GcSpace::new();
    /// assert_eq!(space.spans().count(), 0);
    /// ```
    pub fn new() -> GcSpace {
        GcSpace {
            current: [ptr::null_mut(); NUM_CLASSES],
            partial: [const { SpanList::new() }; NUM_CLASSES],
            full: [const { SpanList::new() }; NUM_CLASSES],
            all: Vec::new(),
            marking: false,
            unswept_partial: [const { SpanList::new() }; NUM_CLASSES],
            unswept_full: [const { SpanList::new() }; NUM_CLASSES],
            unswept_count: 0,
            swept: SweepStats::default(),
        }
    }

    /// Allocates a zeroed object for `layout`; `None` if the OS refuses memory. The object
    /// lives until a sweep finds it unmarked.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// let big = space.alloc(Layout::from_size_align(100_000, 64).unwrap()).unwrap();
    /// assert_eq!(big.as_ptr() as usize % 64, 0);
    /// // SAFETY: the object is 100,000 zeroed bytes.
    /// assert_eq!(unsafe { *big.as_ptr().add(99_999) }, 0);
    /// ```
    pub fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (object, zeroed, _) = self.alloc_inner(layout)?;
        if !zeroed {
            // SAFETY: the object is ours and at least `layout.size()` bytes.
            unsafe { ptr::write_bytes(object.as_ptr(), 0, layout.size()) };
        }
        Some(object)
    }

    /// Allocates an object for `layout` without zeroing it, for a collector that writes every
    /// object before it can read it; `None` if the OS refuses memory.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc_uninit(Layout::new::<u64>()).unwrap().cast::<u64>();
    /// // SAFETY: eight bytes of ours.
    /// unsafe { object.write(7) };
    /// ```
    pub fn alloc_uninit(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        Some(self.alloc_inner(layout)?.0)
    }

    /// As [`GcSpace::alloc_uninit`], for an object with a destructor to run when it dies: its
    /// span is flagged, so that a collector can skip the spans with none
    /// ([`RawGcSpan::is_finalizable`]).
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.alloc_uninit(Layout::new::<u64>()).unwrap();
    /// space.alloc_uninit_finalizable(Layout::new::<[u64; 8]>()).unwrap();
    /// // SAFETY: the space is alive and not sweeping.
    /// let flagged: Vec<bool> =
    ///     (0..2).map(|i| unsafe { space.raw_span(i).is_finalizable() }).collect();
    /// assert_eq!(flagged, [false, true]);
    /// ```
    pub fn alloc_uninit_finalizable(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (object, _, span) = self.alloc_inner(layout)?;
        // SAFETY: the object's span, which we hold.
        unsafe { (*span).finalizable.store(1, Relaxed) };
        Some(object)
    }

    /// An object for `layout`, whether it is known to be zero, and its span.
    #[inline]
    fn alloc_inner(&mut self, layout: Layout) -> Option<(NonNull<u8>, bool, *mut Span)> {
        let global = global()?;
        let size = layout.size().max(1);
        let class = class_of(size, layout.align());
        let (addr, zeroed, span) = if class == 0 {
            let span = global.heap.alloc(pages_for(size)?, layout.align(), 0, true);
            if span.is_null() {
                return None;
            }
            // SAFETY: fresh from the heap, ours.
            let (start, needzero) = unsafe {
                (*span).owner.store(GC_OWNER, Relaxed);
                self.full[0].push(span);
                ((*span).start(), (*span).extent().needzero)
            };
            self.all.push(span);
            (start, !needzero, span)
        } else {
            let (addr, zeroed) = self.alloc_small(global, class)?;
            (addr, zeroed, self.current[class])
        };
        if self.marking {
            // SAFETY: `span` is one of ours and `addr` one of its objects.
            unsafe { mark_in(span, addr) };
        }
        if class != 0 {
            // After the mark bit: a marker that sees the object allocated sees it black, and
            // does not read it (see `GcSpan::unmarked_objects`). A large object's bit was set
            // with its span, which no marker of this cycle scans (see `GcSpace::span`).
            // SAFETY: `span` is ours, `addr` one of its objects.
            unsafe { (*span).record_allocation(addr) };
        }
        Some((NonNull::new(addr as *mut u8)?, zeroed, span))
    }

    fn alloc_small(&mut self, global: &Global, class: usize) -> Option<(usize, bool)> {
        loop {
            let span = self.current[class];
            if !span.is_null() {
                // SAFETY: the space holds its spans, which are collector spans.
                if let Some(found) = unsafe { (*span).alloc_gc_object() } {
                    return Some((found, false));
                }
                // SAFETY: exhausted; it goes on `full` until the next sweep.
                unsafe { self.full[class].push(span) };
            }
            let mut next = self.partial[class].pop();
            if next.is_null() && self.unswept_count != 0 {
                next = self.sweep_for(class);
            }
            if next.is_null() {
                next = global.heap.alloc(
                    crate::sizeclass::CLASSES[class].pages as usize,
                    PAGE_SIZE,
                    class,
                    true,
                );
                if next.is_null() {
                    self.current[class] = ptr::null_mut();
                    return None;
                }
                // SAFETY: fresh from the heap, ours.
                unsafe { (*next).owner.store(GC_OWNER, Relaxed) };
                self.all.push(next);
            }
            self.current[class] = next;
        }
    }

    /// Turns black allocation on or off: while on, new objects are born marked.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.set_marking(true);
    /// let born = space.alloc(Layout::new::<u64>()).unwrap();
    /// // SAFETY: `born` is a live object of `space`.
    /// assert!(unsafe { gort_alloc::gc::find_object(born.as_ptr()) }.unwrap().is_marked());
    /// ```
    pub fn set_marking(&mut self, on: bool) {
        self.marking = on;
    }

    /// Whether new objects are born marked (see [`GcSpace::set_marking`]).
    ///
    /// ```
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// assert!(!space.is_marking());
    /// space.set_marking(true);
    /// assert!(space.is_marking());
    /// ```
    pub fn is_marking(&self) -> bool {
        self.marking
    }

    /// How many spans the space holds.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// assert_eq!(space.span_count(), 0);
    /// space.alloc(Layout::new::<u64>()).unwrap();
    /// space.alloc(Layout::new::<[u8; 1000]>()).unwrap();
    /// assert_eq!(space.span_count(), 2);
    /// ```
    pub fn span_count(&self) -> usize {
        self.all.len()
    }

    /// The `index`th span the space took (see the module docs): until the next sweep, a span
    /// keeps its index and new spans come after the others.
    ///
    /// # Panics
    ///
    /// If `index >= self.span_count()`.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<u64>()).unwrap();
    /// assert_eq!(space.span(0).objects().next(), Some(object));
    /// ```
    pub fn span(&self, index: usize) -> GcSpan<'_> {
        GcSpan {
            span: self.all[index],
            _space: PhantomData,
        }
    }

    /// The `index`th span by address (see [`RawGcSpan`]), to read while the space allocates.
    ///
    /// # Panics
    ///
    /// If `index >= self.span_count()`.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.alloc(Layout::new::<u64>()).unwrap();
    /// let raw = space.raw_span(0);
    /// assert_eq!(raw, space.raw_span(0));
    /// ```
    pub fn raw_span(&self, index: usize) -> RawGcSpan {
        RawGcSpan(self.all[index])
    }

    /// Unlinks every span of the space onto one list.
    fn take_all(&mut self) -> SpanList {
        let mut all = SpanList::new();
        for class in 1..NUM_CLASSES {
            let span = std::mem::replace(&mut self.current[class], ptr::null_mut());
            if !span.is_null() {
                // SAFETY: the current span is on no list.
                unsafe { all.push(span) };
            }
            move_all(&mut self.partial[class], &mut all);
        }
        for list in self
            .full
            .iter_mut()
            .chain(&mut self.unswept_partial)
            .chain(&mut self.unswept_full)
        {
            move_all(list, &mut all);
        }
        self.unswept_count = 0;
        all
    }

    /// The space's spans, in no particular order.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// let a = space.alloc(Layout::new::<u32>()).unwrap();
    /// let objects: Vec<_> = space.spans().flat_map(|s| s.objects()).collect();
    /// assert_eq!(objects, vec![a]);
    /// ```
    pub fn spans(&self) -> impl Iterator<Item = GcSpan<'_>> {
        let lists = self.partial.iter().chain(&self.full);
        let listed = lists.flat_map(|list| {
            let mut span = list.first();
            std::iter::from_fn(move || {
                let here = span;
                if here.is_null() {
                    return None;
                }
                // SAFETY: the space owns its lists; `&self` keeps them still.
                span = unsafe { SpanList::next(here) };
                Some(here)
            })
        });
        self.current
            .iter()
            .copied()
            .filter(|s| !s.is_null())
            .chain(listed)
            .map(|span| GcSpan {
                span,
                _space: PhantomData,
            })
    }
}

/// Moves every span of `from` onto `to`.
fn move_all(from: &mut SpanList, to: &mut SpanList) {
    loop {
        let span = from.pop();
        if span.is_null() {
            return;
        }
        // SAFETY: just unlinked from `from`, which the caller owns like `to`.
        unsafe { to.push(span) };
    }
}

impl Drop for GcSpace {
    /// Returns every span to the page heap, live objects included: the space's objects end
    /// with it, and no destructor of theirs runs.
    fn drop(&mut self) {
        let mut all = self.take_all();
        let Some(global) = global() else { return };
        loop {
            let span = all.pop();
            if span.is_null() {
                return;
            }
            // SAFETY: the space owns the span and gives it up with all its objects.
            unsafe {
                (*span).owner.store(0, Relaxed);
                global.heap.free(span);
            }
        }
    }
}

/// One span of a [`GcSpace`], borrowed from it.
///
/// ```
/// use std::alloc::Layout;
/// let mut space = gort_alloc::gc::GcSpace::new();
/// space.alloc(Layout::new::<[u8; 100]>()).unwrap();
/// let span = space.spans().next().unwrap();
/// assert_eq!(span.elem_size(), 112);
/// assert_eq!(span.start() % gort_alloc::PAGE_SIZE, 0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GcSpan<'a> {
    span: *mut Span,
    _space: PhantomData<&'a GcSpace>,
}

impl<'a> GcSpan<'a> {
    /// The span's first address.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<u64>()).unwrap();
    /// assert_eq!(space.spans().next().unwrap().start(), object.as_ptr() as usize);
    /// ```
    pub fn start(&self) -> usize {
        // SAFETY: the borrowed space keeps the span in use.
        unsafe { (*self.span).start() }
    }

    /// Bytes per object.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// space.alloc(Layout::new::<[u8; 9]>()).unwrap();
    /// assert_eq!(space.spans().next().unwrap().elem_size(), 16);
    /// ```
    pub fn elem_size(&self) -> usize {
        // SAFETY: as above.
        unsafe { (*self.span).extent().elem_size }
    }

    /// The span's allocated objects that are not marked, in address order: the ones a
    /// collector has not reached yet while it marks, and the dead ones once it is done.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let a = space.alloc(Layout::new::<u64>()).unwrap();
    /// let b = space.alloc(Layout::new::<u64>()).unwrap();
    /// // SAFETY: a live object.
    /// unsafe { gort_alloc::gc::find_object(a.as_ptr()) }.unwrap().mark();
    /// let white: Vec<_> = space.span(0).unmarked_objects().collect();
    /// assert_eq!(white, vec![b]);
    /// ```
    pub fn unmarked_objects(self) -> impl Iterator<Item = NonNull<u8>> + 'a {
        // SAFETY: the borrowed space is the span's holder and cannot sweep meanwhile.
        unsafe { RawGcSpan(self.span).unmarked_objects() }
    }

    /// The span's allocated objects, in address order.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let a = space.alloc(Layout::new::<u64>()).unwrap();
    /// let b = space.alloc(Layout::new::<u64>()).unwrap();
    /// let objects: Vec<_> = space.spans().next().unwrap().objects().collect();
    /// assert_eq!(objects, vec![a, b]);
    /// ```
    pub fn objects(self) -> impl Iterator<Item = NonNull<u8>> + 'a {
        // SAFETY: as above.
        let e = unsafe { (*self.span).extent() };
        let span = self.span;
        // SAFETY: the borrowed space is the span's holder; `&` keeps it from allocating.
        (0..e.objects)
            .filter(move |&index| unsafe { (*span).is_allocated(index) })
            // SAFETY: an object address inside the span is never null.
            .map(move |index| unsafe {
                NonNull::new_unchecked((e.start + index * e.elem_size) as *mut u8)
            })
    }
}

/// A span of a [`GcSpace`] by address, for a collector that reads it without borrowing the
/// space, while the space's owner goes on allocating ([`GcSpace::raw_span`]).
///
/// ```
/// use std::alloc::Layout;
/// let mut space = gort_alloc::gc::GcSpace::new();
/// let object = space.alloc(Layout::new::<[u64; 2]>()).unwrap();
/// let span = space.raw_span(0);
/// // SAFETY: the space is alive and not sweeping.
/// assert_eq!(unsafe { span.unmarked_objects() }.collect::<Vec<_>>(), vec![object]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawGcSpan(*mut Span);

// SAFETY: an address; every read through it is atomic or of data fixed while the span is in
// use (per the methods' contracts).
unsafe impl Send for RawGcSpan {}
// SAFETY: as above.
unsafe impl Sync for RawGcSpan {}

impl RawGcSpan {
    /// The span's allocated objects that are not marked, as [`GcSpan::unmarked_objects`].
    /// Objects the owner allocates meanwhile may or may not be listed, unless the space
    /// allocates them marked ([`GcSpace::set_marking`]): then they never are, since an object
    /// is marked before it shows as allocated.
    ///
    /// # Safety
    ///
    /// The span belongs to a live [`GcSpace`] that does not sweep until the iterator is
    /// dropped (it may allocate).
    pub unsafe fn unmarked_objects(self) -> impl Iterator<Item = NonNull<u8>> {
        let span = self.0;
        // SAFETY: per the contract, the span is in use, so its extent is fixed.
        let e = unsafe { (*span).extent() };
        (0..e.objects.div_ceil(64)).flat_map(move |word| {
            // SAFETY: per the contract the bitmaps keep their roles (no sweep). The
            // allocation word is read first, with `Acquire`: a bit set in it shows the mark
            // bit the owner set before it (`record_allocation`).
            let mut white = unsafe {
                let allocated = (*span).alloc_bits()[word].load(Acquire);
                allocated & !(*span).mark_bits()[word].load(Relaxed)
            };
            if (word + 1) * 64 > e.objects {
                white &= (1u64 << (e.objects % 64)) - 1;
            }
            std::iter::from_fn(move || {
                if white == 0 {
                    return None;
                }
                let index = word * 64 + white.trailing_zeros() as usize;
                white &= white - 1;
                // SAFETY: an object address inside the span is never null.
                Some(unsafe { NonNull::new_unchecked((e.start + index * e.elem_size) as *mut u8) })
            })
        })
    }

    /// Whether some object allocated in the span had a destructor
    /// ([`GcSpace::alloc_uninit_finalizable`]).
    ///
    /// # Safety
    ///
    /// As for [`RawGcSpan::unmarked_objects`].
    pub unsafe fn is_finalizable(self) -> bool {
        // SAFETY: a span record, never unmapped; the flag is atomic.
        unsafe { (*self.0).finalizable.load(Relaxed) != 0 }
    }

    /// Bytes in the span's marked objects, at their class size: what a sweep would keep.
    ///
    /// # Safety
    ///
    /// As for [`RawGcSpan::unmarked_objects`].
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.set_marking(true);
    /// space.alloc(Layout::new::<[u8; 40]>()).unwrap();
    /// // SAFETY: the space is alive and not sweeping.
    /// assert_eq!(unsafe { space.raw_span(0).marked_bytes() }, 48);
    /// ```
    pub unsafe fn marked_bytes(self) -> usize {
        let span = self.0;
        // SAFETY: as in `unmarked_objects`.
        unsafe {
            let e = (*span).extent();
            let marks = (*span).mark_bits();
            let mut marked = 0;
            for (word, bits) in marks.iter().enumerate().take(e.objects.div_ceil(64)) {
                let mut bits = bits.load(Relaxed);
                if (word + 1) * 64 > e.objects {
                    bits &= (1u64 << (e.objects % 64)) - 1;
                }
                marked += bits.count_ones() as usize;
            }
            marked * e.elem_size
        }
    }
}

/// An object of a [`GcSpace`], found by [`find_object`].
///
/// ```
/// use std::alloc::Layout;
/// let mut space = gort_alloc::gc::GcSpace::new();
/// let a = space.alloc(Layout::new::<u64>()).unwrap();
/// // SAFETY: `a` is a live object of `space`.
/// let object = unsafe { gort_alloc::gc::find_object(a.as_ptr()) }.unwrap();
/// assert_eq!((object.base(), object.size()), (a, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    span: *mut Span,
    index: usize,
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: a handle to an object in a span; marking through it is atomic.
unsafe impl Send for Object {}
// SAFETY: as above.
unsafe impl Sync for Object {}

/// Sets the mark bit of the object at `addr` of `span`; true if it was clear.
///
/// # Safety
///
/// `span` is a live collector span and `addr` lies in it.
unsafe fn mark_in(span: *mut Span, addr: usize) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let index = (*span).object_index(addr);
        let bit = 1u64 << (index % 64);
        let word = &(*span).mark_bits()[index / 64];
        // A plain load first: most objects shaded outside the marker's own tracing are marked
        // already (born black, or reached twice), and a read-modify-write would cost them a
        // locked instruction and take the line from the marker's cache.
        word.load(Relaxed) & bit == 0 && word.fetch_or(bit, Relaxed) & bit == 0
    }
}

impl Object {
    /// The object's first byte.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<[u64; 3]>()).unwrap();
    /// // SAFETY: an interior pointer of a live object.
    /// let found = unsafe { gort_alloc::gc::find_object(object.as_ptr().add(17)) }.unwrap();
    /// assert_eq!(found.base(), object);
    /// ```
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes in the object (its class size).
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<[u64; 3]>()).unwrap();
    /// // SAFETY: a live object.
    /// assert_eq!(unsafe { gort_alloc::gc::find_object(object.as_ptr()) }.unwrap().size(), 24);
    /// ```
    pub fn size(&self) -> usize {
        self.size
    }

    /// Marks the object; true if this call marked it (it was white).
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<u64>()).unwrap();
    /// // SAFETY: a live object.
    /// let found = unsafe { gort_alloc::gc::find_object(object.as_ptr()) }.unwrap();
    /// assert!(found.mark());
    /// assert!(!found.mark());
    /// ```
    pub fn mark(&self) -> bool {
        // SAFETY: `find_object` checked that the span is a live collector span.
        unsafe { mark_in(self.span, self.base.as_ptr() as usize) }
    }

    /// Whether the object is marked.
    ///
    /// ```
    /// # use std::alloc::Layout;
    /// # let mut space = gort_alloc::gc::GcSpace::new();
    /// let object = space.alloc(Layout::new::<u64>()).unwrap();
    /// // SAFETY: a live object.
    /// let found = unsafe { gort_alloc::gc::find_object(object.as_ptr()) }.unwrap();
    /// assert!(!found.is_marked());
    /// ```
    pub fn is_marked(&self) -> bool {
        // SAFETY: as for `mark`.
        unsafe {
            (*self.span).mark_bits()[self.index / 64].load(Relaxed) & 1 << (self.index % 64) != 0
        }
    }
}

/// The collector object holding `addr` (interior pointers included), in O(1); `None` if `addr`
/// is in a malloc block rather than a [`GcSpace`] object.
///
/// # Safety
///
/// `addr` lies inside a block currently allocated by gort-alloc (a `GcSpace` object, or a
/// block from [`GortAlloc`](crate::GortAlloc)), and no sweep of its space runs meanwhile.
///
/// ```
/// use std::alloc::Layout;
/// let mut space = gort_alloc::gc::GcSpace::new();
/// let object = space.alloc(Layout::new::<[u8; 40]>()).unwrap();
/// // SAFETY: a pointer into a live object.
/// let found = unsafe { gort_alloc::gc::find_object(object.as_ptr().add(39)) }.unwrap();
/// assert_eq!((found.base(), found.size()), (object, 48));
/// ```
pub unsafe fn find_object(addr: *const u8) -> Option<Object> {
    let span = crate::pagemap::lookup(addr as usize);
    if span.is_null() {
        return None;
    }
    // SAFETY: per the contract, the span is in use and `addr` inside it.
    unsafe {
        let e = (*span).extent();
        if !e.gc || e.state == State::Free {
            return None;
        }
        let index = (*span).object_index(addr as usize);
        let base = e.start + index * e.elem_size;
        Some(Object {
            span,
            index,
            base: NonNull::new_unchecked(base as *mut u8),
            size: e.elem_size,
        })
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn sweep_frees_exactly_the_unmarked_and_reuses_their_slots() {
        let mut space = GcSpace::new();
        let layout = Layout::new::<[u64; 2]>();
        let objects: Vec<_> = (0..2000).map(|_| space.alloc(layout).unwrap()).collect();
        let large = space
            .alloc(Layout::from_size_align(50_000, 8).unwrap())
            .unwrap();
        space.set_marking(true);
        let mut kept = BTreeSet::new();
        for object in objects.iter().step_by(7) {
            // SAFETY: a pointer into a live object.
            let found = unsafe { find_object(object.as_ptr().add(9)) }.unwrap();
            assert!(found.mark());
            kept.insert(*object);
        }
        let born = space.alloc(layout).unwrap();
        kept.insert(born);
        space.set_marking(false);
        let mut dead = BTreeSet::new();
        let swept = space.sweep(|object, size| {
            assert_eq!(size, if object == large { 7 * PAGE_SIZE } else { 16 });
            assert!(dead.insert(object));
        });
        let expected: BTreeSet<_> = objects
            .iter()
            .copied()
            .filter(|o| !kept.contains(o))
            .collect();
        assert_eq!(dead.len(), expected.len() + 1);
        assert!(dead.contains(&large) && expected.is_subset(&dead));
        assert_eq!(swept.live_objects, kept.len());
        let listed: BTreeSet<_> = space.spans().flat_map(GcSpan::objects).collect();
        assert_eq!(listed, kept);
        let indexed: BTreeSet<_> = (0..space.span_count())
            .flat_map(|i| space.span(i).objects())
            .collect();
        assert_eq!(indexed, kept, "the index lists the same spans");
        let spans = space.spans().count();
        for _ in 0..expected.len() {
            let again = space.alloc(layout).unwrap();
            assert!(!kept.contains(&again));
        }
        assert_eq!(
            space.spans().count(),
            spans,
            "swept slots are reused before a new span"
        );
    }

    #[test]
    fn public_types_are_send_and_sync_where_they_should_be() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<GcSpace>();
        send::<Object>();
        sync::<Object>();
        send::<SweepStats>();
        sync::<SweepStats>();
        send::<crate::GortAlloc>();
        sync::<crate::GortAlloc>();
        send::<crate::Stats>();
        sync::<crate::Stats>();
    }

    #[test]
    fn malloc_blocks_are_not_collector_objects() {
        use std::alloc::GlobalAlloc;
        let layout = Layout::new::<[u64; 2]>();
        // SAFETY: a non-zero layout, freed below with the same layout.
        unsafe {
            let block = crate::GortAlloc.alloc(layout);
            assert!(find_object(block).is_none());
            crate::GortAlloc.dealloc(block, layout);
        }
    }
}
