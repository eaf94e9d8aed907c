//! Sweeping a [`GcSpace`]: all at once, or a few spans at a time while the space allocates
//! (Go's background sweeper and the lazy sweeping of `mcentral.cacheSpan`).
//!
//! [`GcSpace::sweep_begin`] moves every span to the unswept lists of its class and turns black
//! allocation off, in time proportional to the number of classes (whole lists move at once). From then on the space allocates only from swept spans or fresh ones, never
//! from an unswept span, whose marks still tell the dead from the live; objects allocated
//! meanwhile are white, and correctly so, since no sweep of this cycle will look at them. Spans
//! get swept by [`GcSpace::sweep_some`], or by the allocator itself when a class has no free
//! object left in its swept spans: it sweeps that class's unswept spans until one has room,
//! before it takes a fresh span from the page heap, so the heap does not grow while dead
//! objects wait.
//!
//! The allocator's own sweeps report no dead objects: a collector that sweeps incrementally
//! must have finished with the dead (run their destructors) before `sweep_begin`.
//! [`GcSpace::sweep`] sweeps everything at once and reports each dead object.
//!
//! While a sweep is under way the span index ([`GcSpace::span`]) lists only the spans swept or
//! taken since it began; once every span is swept it lists them all again.

use super::{GcSpace, SweepStats};
use crate::global::global;
use crate::sizeclass::NUM_CLASSES;
use crate::span::{Span, SpanList};
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::Relaxed;

impl GcSpace {
    /// Sweeps every span (module docs): calls `dead(object, size)` for each allocated, unmarked
    /// object, then frees them all, and returns empty spans to the page heap. Turns black
    /// allocation off; every mark bit is clear afterwards.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// for _ in 0..1000 {
    ///     space.alloc(Layout::new::<[u8; 48]>()).unwrap();
    /// }
    /// let swept = space.sweep(|_, _| {});
    /// assert_eq!((swept.freed_objects, swept.live_objects), (1000, 0));
    /// assert_eq!(space.spans().count(), 0);
    /// ```
    pub fn sweep(&mut self, mut dead: impl FnMut(NonNull<u8>, usize)) -> SweepStats {
        if !self.is_sweeping() {
            self.sweep_begin();
        }
        while !self.sweep_some(usize::MAX, &mut dead) {}
        self.take_sweep_stats()
    }

    /// Starts an incremental sweep (module docs). Marking must be over.
    ///
    /// # Panics
    ///
    /// If a sweep is under way already.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.alloc(Layout::new::<u64>()).unwrap();
    /// space.sweep_begin();
    /// assert!(space.is_sweeping());
    /// while !space.sweep_some(1, |_, _| {}) {}
    /// assert_eq!(space.take_sweep_stats().freed_objects, 1);
    /// ```
    pub fn sweep_begin(&mut self) {
        assert!(!self.is_sweeping(), "a sweep is under way");
        self.marking = false;
        for class in 0..NUM_CLASSES {
            self.unswept_partial[class] =
                std::mem::replace(&mut self.partial[class], SpanList::new());
            self.unswept_full[class] = std::mem::replace(&mut self.full[class], SpanList::new());
            let current = std::mem::replace(&mut self.current[class], ptr::null_mut());
            if !current.is_null() {
                // SAFETY: the current span is on no list.
                unsafe { self.unswept_partial[class].push(current) };
            }
        }
        self.unswept_count = self.all.len();
        self.all.clear();
    }

    /// Whether a sweep is under way: some span is not swept yet.
    ///
    /// ```
    /// let space = gort_alloc::gc::GcSpace::new();
    /// assert!(!space.is_sweeping());
    /// ```
    pub fn is_sweeping(&self) -> bool {
        self.unswept_count != 0
    }

    /// Sweeps up to `spans` unswept spans, calling `dead(object, size)` for each dead object;
    /// true once none is left.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// space.alloc(Layout::new::<u64>()).unwrap();
    /// space.alloc(Layout::new::<[u8; 500]>()).unwrap();
    /// space.sweep_begin();
    /// let mut dead = 0;
    /// assert!(!space.sweep_some(1, |_, _| dead += 1));
    /// assert!(space.sweep_some(1, |_, _| dead += 1));
    /// assert_eq!(dead, 2);
    /// ```
    pub fn sweep_some(&mut self, spans: usize, mut dead: impl FnMut(NonNull<u8>, usize)) -> bool {
        let mut left = spans;
        for class in 0..NUM_CLASSES {
            while left != 0 {
                let mut span = self.unswept_partial[class].pop();
                if span.is_null() {
                    span = self.unswept_full[class].pop();
                }
                if span.is_null() {
                    break;
                }
                // SAFETY: just taken off the unswept list of the space, which holds it.
                unsafe { self.sweep_span(span, &mut dead) };
                left -= 1;
            }
        }
        !self.is_sweeping()
    }

    /// What the sweep found since the last call: objects live and freed, spans freed.
    ///
    /// ```
    /// let mut space = gort_alloc::gc::GcSpace::new();
    /// assert_eq!(space.take_sweep_stats(), gort_alloc::gc::SweepStats::default());
    /// ```
    pub fn take_sweep_stats(&mut self) -> SweepStats {
        std::mem::take(&mut self.swept)
    }

    /// The allocator's lazy sweep: sweeps unswept spans of `class` until one has a free object,
    /// and returns it (on no list); null if none has.
    pub(super) fn sweep_for(&mut self, class: usize) -> *mut Span {
        loop {
            let mut span = self.unswept_partial[class].pop();
            if span.is_null() {
                span = self.unswept_full[class].pop();
            }
            if span.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: just taken off the unswept list of the space, which holds it.
            match unsafe { self.sweep_span(span, &mut |_, _| {}) } {
                Swept::Partial => {
                    // SAFETY: `sweep_span` put it on the partial list; the caller takes it.
                    unsafe { self.partial[class].remove(span) };
                    return span;
                }
                Swept::Full | Swept::Freed => continue,
            }
        }
    }

    /// Sweeps `span` and puts it where it belongs: freed, full or partial.
    ///
    /// # Safety
    ///
    /// The space holds `span`, which was unswept and is on no list now.
    unsafe fn sweep_span(
        &mut self,
        span: *mut Span,
        dead: &mut impl FnMut(NonNull<u8>, usize),
    ) -> Swept {
        self.unswept_count -= 1;
        // SAFETY: per the contract; marking is over (it ended before `sweep_begin`).
        unsafe {
            let e = (*span).extent();
            let (start, size, objects, class) = (e.start, e.elem_size, e.objects, e.class);
            let stats = &mut self.swept;
            let live = (*span).sweep(|index| {
                stats.freed_objects += 1;
                dead(
                    NonNull::new_unchecked((start + index * size) as *mut u8),
                    size,
                );
            });
            stats.live_objects += live;
            stats.live_bytes += live * size;
            if live == 0 {
                (*span).owner.store(0, Relaxed);
                global()
                    .expect("a space with spans has a heap")
                    .heap
                    .free(span);
                stats.freed_spans += 1;
                return Swept::Freed;
            }
            self.all.push(span);
            if live == objects || class == 0 {
                self.full[class].push(span);
                Swept::Full
            } else {
                self.partial[class].push(span);
                Swept::Partial
            }
        }
    }
}

/// Where a swept span went.
enum Swept {
    Freed,
    Full,
    Partial,
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::super::find_object;
    use super::*;
    use std::alloc::Layout;
    use std::collections::BTreeSet;

    #[test]
    fn an_incremental_sweep_keeps_the_marked_and_what_is_allocated_meanwhile() {
        let mut space = GcSpace::new();
        let layout = Layout::new::<[u64; 4]>();
        let old: Vec<_> = (0..5000).map(|_| space.alloc(layout).unwrap()).collect();
        let spans = space.span_count();
        space.set_marking(true);
        let kept: BTreeSet<_> = old.iter().step_by(3).copied().collect();
        for object in &kept {
            // SAFETY: a live object of the space.
            assert!(unsafe { find_object(object.as_ptr()) }.unwrap().mark());
        }
        space.set_marking(false);
        space.sweep_begin();
        assert_eq!(space.span_count(), 0, "unswept spans are not indexed");
        // Allocation sweeps lazily and reuses the dead slots: no new span.
        let young: Vec<_> = (0..3000).map(|_| space.alloc(layout).unwrap()).collect();
        for object in &young {
            assert!(!kept.contains(object), "a live object's slot was reused");
            // SAFETY: a live object.
            assert!(!unsafe { find_object(object.as_ptr()) }.unwrap().is_marked());
        }
        let mut dead = 0;
        while !space.sweep_some(2, |_, _| dead += 1) {}
        let stats = space.take_sweep_stats();
        assert_eq!(stats.live_objects, kept.len());
        assert_eq!(stats.freed_objects, old.len() - kept.len());
        assert!(
            dead < stats.freed_objects,
            "the lazy sweeps report no dead objects"
        );
        assert_eq!(space.span_count(), spans, "no span was added");
        let listed: BTreeSet<_> = (0..space.span_count())
            .flat_map(|i| space.span(i).objects())
            .collect();
        let expected: BTreeSet<_> = kept.iter().chain(&young).copied().collect();
        assert_eq!(listed, expected);
        // Nothing is marked now: a full sweep frees all of it.
        let swept = space.sweep(|_, _| {});
        assert_eq!(swept.freed_objects, expected.len());
        assert_eq!(space.span_count(), 0);
    }
}
