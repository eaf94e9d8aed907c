//! The spans one thread cache owns for one size class (mimalloc's per-heap page queues: "free
//! list sharding"). Go's `mcache` holds a single span per class; gort's holds all of these.
//!
//! # Why a cache owns many spans
//!
//! A free is local (plain loads and stores, no atomic read-modify-write) exactly when the
//! freeing thread's cache owns the object's span; otherwise it is a push onto the span's
//! remote-free list (`remote.rs`). If a cache owned only the span it allocates from, then in a
//! single-threaded program every free into a span it had filled and handed back would take the
//! remote path, and the freed object would stay unusable until that span came back. So a
//! cache keeps every span it allocated from until the span is empty or the thread exits, and
//! only frees from other threads are remote.
//!
//! # The four places
//!
//! Each span the cache owns for the class is in exactly one of:
//!
//! - `current`: the span allocations come from (on no list).
//! - `partial`: spans with a free object, waiting to become current.
//! - `full`: spans that ran out. Each has `on_full` set and its remote list *watched*
//!   (`remote.rs`): the first remote free into it bumps the class's notification counter
//!   (`central.rs`), since the owner does not look at these spans otherwise.
//! - `empty`: spans with no live object, kept so that a class whose objects all die and are
//!   born again does not go to the page heap (one lock for the whole process) each time. One
//!   per class is always kept; more, while the cache's budget of pages for them lasts
//!   ([`crate::cache::MAX_EMPTY_PAGES`], shared by all classes). Classes of large objects
//!   (eight per span, `sizeclass.rs`) can empty and refill spans often when their objects
//!   all die and are born again, so for them one kept span is not enough.
//!
//! # Transitions
//!
//! 1. **Current runs out** ([`OwnedSpans::refill`]): apply its remote frees; if there were
//!    none, watch it (a CAS from empty, which fails if a remote free slipped in: then apply
//!    that and keep going) and put it on `full`.
//! 2. **A new current**: the first span on `partial`, else an `empty` one, else, if the
//!    class's notification counter moved since the cache last looked, the `full` spans that
//!    have remote frees waiting (each goes to `partial`), else a span from the central list.
//!    A span becoming current has its remote frees applied.
//! 3. **A local free into a span on `full`** ([`OwnedSpans::after_free`]): the span goes to
//!    `partial`; taking its remote list clears the watch.
//! 4. **A local free that empties a span on `partial`**: the span goes to `empty` if the class
//!    keeps none yet or the budget has its pages (which it then spends), and back to the page
//!    heap otherwise. An emptied current span stays current. A kept span taken back out of
//!    `empty` returns its pages to the budget, unless it was the class's free one. An empty
//!    span kept unused for two scavenger epochs after a look first found it (the free one
//!    too) goes back to the page heap ([`crate::cache::MCache`] looks at most once an epoch),
//!    as kept large spans do (`largecache.rs`).
//! 5. **Thread exit** ([`OwnedSpans::give_back`]): every span goes to the central list, which
//!    sorts them (`central.rs`).
//!
//! A span with no live object has no remote free pending either (a pending remote free is a
//! live object until applied), so handing an empty span to the page heap races with nobody.
//!
//! # Cost
//!
//! Allocation and local frees touch only the current span and, on the transitions above, these
//! lists. The look through `full` after a notification is linear in its length, and the
//! counter is per class, not per owner: remote frees into other threads' watched spans of the
//! class also send this cache looking. A thread that holds very many full spans of a class in
//! which other threads keep freeing remotely pays for it at each refill. mimalloc
//! instead has the remote freer push the span itself onto its owner's "delayed free" list;
//! that needs a per-thread record a freer can reach safely after the owner has exited, which
//! the counter, being only a hint, does not.

use crate::central::Central;
use crate::heap::Heap;
use crate::largecache::{KEEP_EPOCHS, UNSEEN};
use crate::loom::atomic::Ordering::Relaxed;
use crate::span::{Span, SpanList};
use std::ptr;

/// One class's spans in one cache (see the module docs).
#[derive(Debug)]
pub(crate) struct OwnedSpans {
    current: *mut Span,
    partial: SpanList,
    full: SpanList,
    empty: SpanList,
    /// The class's notification counter when `full` was last looked through.
    seen: usize,
}

impl OwnedSpans {
    /// No spans.
    pub(crate) const fn new() -> OwnedSpans {
        OwnedSpans {
            current: ptr::null_mut(),
            partial: SpanList::new(),
            full: SpanList::new(),
            empty: SpanList::new(),
            seen: 0,
        }
    }

    /// Allocates from the current span; `None` if there is none or it has run out.
    #[inline]
    pub(crate) fn alloc(&mut self) -> Option<(usize, bool)> {
        let span = self.current;
        if span.is_null() {
            return None;
        }
        // SAFETY: the cache owns its current span.
        unsafe { (*span).alloc_object() }
    }

    /// Makes sure the current span has a free object (transitions 1 and 2); false if the page
    /// heap is out of memory. `token` is the owning cache's, `budget` its pages for kept empty
    /// spans.
    pub(crate) fn refill(
        &mut self,
        central: &Central,
        heap: &Heap,
        token: usize,
        budget: &mut usize,
    ) -> bool {
        let span = self.current;
        if !span.is_null() {
            // SAFETY: the cache owns its current span, which is on no list.
            unsafe {
                if (*span).drain_remote() > 0 || !(*span).remote.watch() {
                    // A failed watch means a remote free arrived: apply it.
                    (*span).drain_remote();
                    return true;
                }
                (*span).alloc_state().on_full = true;
                self.full.push(span);
            }
        }
        self.current = self.next_span(central, heap, token, budget);
        !self.current.is_null()
    }

    fn next_span(
        &mut self,
        central: &Central,
        heap: &Heap,
        token: usize,
        budget: &mut usize,
    ) -> *mut Span {
        let mut span = self.partial.pop();
        if span.is_null() {
            let kept = self.empty.pop();
            if !kept.is_null() {
                if self.empty.len() > 0 {
                    // Not the class's free one: its pages go back to the budget.
                    // SAFETY: the cache owns the span.
                    *budget += unsafe { (*kept).extent().pages };
                }
                return kept;
            }
        }
        if span.is_null() {
            let notified = central.notifications();
            if notified != self.seen {
                self.seen = notified;
                self.collect_full();
                span = self.partial.pop();
            }
        }
        if span.is_null() {
            return central.take(heap, token);
        }
        // SAFETY: the cache owns the span it just unlinked.
        unsafe { (*span).drain_remote() };
        span
    }

    /// Moves every span on `full` with remote frees waiting to `partial`.
    fn collect_full(&mut self) {
        let mut span = self.full.first();
        while !span.is_null() {
            // SAFETY: the spans on `full` are the cache's, and so are the list's links.
            unsafe {
                let next = SpanList::next(span);
                if (*span).remote.has_frees() {
                    self.unwatch(span);
                }
                span = next;
            }
        }
    }

    /// Moves `span` from `full` to `partial`, applying its remote frees (which clears the
    /// watch).
    ///
    /// # Safety
    ///
    /// `span` is on this `full` list.
    unsafe fn unwatch(&mut self, span: *mut Span) {
        // SAFETY: per the contract, the cache owns the span and the list.
        unsafe {
            self.full.remove(span);
            (*span).alloc_state().on_full = false;
            (*span).drain_remote();
            self.partial.push(span);
        }
    }

    /// Transitions 3 and 4, after a local free into `span` asked for them
    /// ([`Span::free_local`] returned true).
    ///
    /// # Safety
    ///
    /// The cache owns `span`, a span of this class; `budget` is the cache's.
    #[cold]
    pub(crate) unsafe fn after_free(&mut self, span: *mut Span, heap: &Heap, budget: &mut usize) {
        // SAFETY: per the contract, the cache owns the span: its allocation state and, since it
        // is in one of this class's places, the links of the list it is on.
        unsafe {
            if (*span).alloc_state().on_full {
                self.unwatch(span);
            }
            if (*span).alloc_state().allocated != 0 || span == self.current {
                return;
            }
            self.partial.remove(span);
            let pages = (*span).extent().pages;
            if self.empty.len() == 0 || *budget >= pages {
                if self.empty.len() > 0 {
                    *budget -= pages;
                }
                // Stamped by the first look that finds it (`age_out_empty`).
                (*span).alloc_state().kept_epoch = UNSEEN;
                self.empty.push(span);
            } else {
                // No live object, so no remote free can come (module docs).
                (*span).owner.store(0, Relaxed);
                heap.free(span);
            }
        }
    }

    /// A look in scavenger epoch `epoch` (non-zero), as [`crate::largecache::LargeCache::age_out`]
    /// makes: stamps the empty spans no look has found yet, and hands the page heap every one
    /// found [`KEEP_EPOCHS`] epochs before or earlier (the class's free one included), giving
    /// their pages back to `budget` as taking them out of `empty` does.
    pub(crate) fn age_out_empty(&mut self, epoch: u64, heap: &Heap, budget: &mut usize) {
        let mut span = self.empty.first();
        while !span.is_null() {
            // SAFETY: the spans on `empty` are the cache's, with no live object (so no remote
            // free can come, module docs), and so are the list's links.
            unsafe {
                let next = SpanList::next(span);
                let kept = &mut (*span).alloc_state().kept_epoch;
                if *kept == UNSEEN {
                    *kept = epoch;
                } else if epoch.saturating_sub(*kept) >= KEEP_EPOCHS {
                    self.empty.remove(span);
                    if self.empty.len() > 0 {
                        *budget += (*span).extent().pages;
                    }
                    (*span).owner.store(0, Relaxed);
                    heap.free(span);
                }
                span = next;
            }
        }
    }

    /// Hands the empty spans to the page heap. The pages they took from the cache's budget are
    /// the caller's to restore.
    pub(crate) fn release_empty(&mut self, heap: &Heap) {
        loop {
            let span = self.empty.pop();
            if span.is_null() {
                return;
            }
            // SAFETY: the cache owned the empty span, which has no live object, so no remote
            // free can come (module docs).
            unsafe {
                (*span).owner.store(0, Relaxed);
                heap.free(span);
            }
        }
    }

    /// Hands every span to the central list (transition 5). The pages the kept empty spans
    /// took from the cache's budget are the caller's to restore.
    pub(crate) fn give_back(&mut self, central: &Central, heap: &Heap) {
        let current = std::mem::replace(&mut self.current, ptr::null_mut());
        if !current.is_null() {
            // SAFETY: the cache owned the span and gives it up.
            unsafe { central.give_back(heap, current) };
        }
        for list in [&mut self.empty, &mut self.partial, &mut self.full] {
            loop {
                let span = list.pop();
                if span.is_null() {
                    break;
                }
                // SAFETY: as above; `give_back` takes the remote list, clearing any watch.
                unsafe {
                    (*span).alloc_state().on_full = false;
                    central.give_back(heap, span);
                }
            }
        }
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use crate::sizeclass::{CLASSES, class_of};

    const OWNER: usize = 0x10;

    #[test]
    fn local_frees_into_set_aside_spans_are_reused_and_one_empty_span_is_kept() {
        let class = class_of(12288, 8);
        let n = CLASSES[class].objects as usize;
        let (heap, central) = (Heap::new(), Central::new(class));
        let mut spans = OwnedSpans::new();
        let alloc = |spans: &mut OwnedSpans| match spans.alloc() {
            Some((addr, _)) => addr,
            None => {
                assert!(spans.refill(&central, &heap, OWNER, &mut 0));
                spans.alloc().unwrap().0
            }
        };
        // Three spans' worth.
        let objects: Vec<usize> = (0..3 * n).map(|_| alloc(&mut spans)).collect();
        let free = |spans: &mut OwnedSpans, addr: usize| {
            let span = crate::pagemap::lookup(addr);
            // SAFETY: the test's cache owns every span it allocated from; `addr` is live.
            unsafe {
                assert_eq!((*span).owner.load(Relaxed), OWNER, "still owned");
                if (*span).free_local(addr) {
                    spans.after_free(span, &heap, &mut 0);
                }
            }
        };
        // The first two spans sit on `full`; a local free takes the first off it.
        free(&mut spans, objects[0]);
        assert_eq!(
            alloc(&mut spans),
            objects[0],
            "reused without a remote free"
        );
        // The first span is current again. Emptying all three: the current one stays, one is
        // kept as the class's free empty span, and with no budget the third goes back to the
        // heap.
        let in_use = heap.in_use.load(std::sync::atomic::Ordering::Relaxed);
        for &addr in &objects {
            free(&mut spans, addr);
        }
        let now = heap.in_use.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            now,
            in_use - crate::span::pages_to_bytes(CLASSES[class].pages as usize)
        );
        let again: Vec<usize> = (0..2 * n).map(|_| alloc(&mut spans)).collect();
        let kept = |a: &usize| objects[..2 * n].contains(a);
        assert!(
            again.iter().all(kept),
            "the current span, then the kept one"
        );
        spans.give_back(&central, &heap);
        assert_eq!(central.lens(), (0, 2), "two full spans parked");
    }

    #[test]
    fn empty_spans_beyond_one_are_kept_while_the_budget_lasts() {
        keep_empty_spans(false);
    }

    #[test]
    fn empty_spans_unused_for_two_epochs_go_back_to_the_heap() {
        keep_empty_spans(true);
    }

    /// Empties four spans' worth of objects with a budget of two spans, then either takes the
    /// kept spans again or ages them out.
    fn keep_empty_spans(age_out: bool) {
        let class = class_of(32 << 10, 8);
        let per_span = CLASSES[class].objects as usize;
        let pages = CLASSES[class].pages as usize;
        let (heap, central) = (Heap::new(), Central::new(class));
        let mut spans = OwnedSpans::new();
        let mut budget = 2 * pages;
        let mut objects = Vec::new();
        // Five spans' worth: the fifth is current and full.
        for _ in 0..5 * per_span {
            let addr = match spans.alloc() {
                Some((addr, _)) => addr,
                None => {
                    assert!(spans.refill(&central, &heap, OWNER, &mut budget));
                    spans.alloc().unwrap().0
                }
            };
            objects.push(addr);
        }
        let in_use = heap.in_use.load(std::sync::atomic::Ordering::Relaxed);
        // Every object of the first four spans.
        for &addr in &objects[..4 * per_span] {
            let span = crate::pagemap::lookup(addr);
            // SAFETY: the test's cache owns every span it allocated from; `addr` is live.
            unsafe {
                if (*span).free_local(addr) {
                    spans.after_free(span, &heap, &mut budget);
                }
            }
        }
        // One kept for free, two on the budget, the fourth back to the heap.
        assert_eq!(budget, 0);
        assert_eq!(spans.empty.len(), 3);
        let now = heap.in_use.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(now, in_use - crate::span::pages_to_bytes(pages));
        if age_out {
            // SAFETY: the test's cache owns the spans on its `empty` list.
            let kept: Vec<u64> = unsafe {
                let mut kept = Vec::new();
                let mut span = spans.empty.first();
                while !span.is_null() {
                    kept.push((*span).alloc_state().kept_epoch);
                    span = SpanList::next(span);
                }
                kept
            };
            assert!(kept.iter().all(|&k| k == UNSEEN));
            spans.age_out_empty(10, &heap, &mut budget);
            spans.age_out_empty(10 + KEEP_EPOCHS - 1, &heap, &mut budget);
            assert_eq!(spans.empty.len(), 3, "none unused for two epochs yet");
            spans.age_out_empty(10 + KEEP_EPOCHS, &heap, &mut budget);
            assert_eq!(spans.empty.len(), 0, "all aged out, the free one too");
            assert_eq!(budget, 2 * pages);
            let after = heap.in_use.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(after, now - crate::span::pages_to_bytes(3 * pages));
            return;
        }
        // Allocating again takes the kept spans, giving the budget back.
        for _ in 0..3 {
            assert!(spans.alloc().is_none(), "the current span is full");
            assert!(spans.refill(&central, &heap, OWNER, &mut budget));
            for _ in 0..per_span {
                assert!(spans.alloc().is_some());
            }
        }
        assert_eq!(budget, 2 * pages);
        assert_eq!(spans.empty.len(), 0);
        assert_eq!(heap.in_use.load(std::sync::atomic::Ordering::Relaxed), now);
    }
}
