//! Thread caches: the spans a thread allocates from, per size class (Go's `mcache`, TCMalloc's
//! `ThreadCache`, mimalloc's thread-local heap).
//!
//! The fast path of an allocation is: index the cache by class, take an object from the
//! class's current span, return. A free of an object whose span this cache owns goes back to
//! that span. Neither takes a lock or a read-modify-write atomic: the span belongs to this
//! cache alone (its `owner` word holds the cache's address, which is how a freeing thread tells
//! that it is the owner). A cache owns every span it allocated from until the span is empty or
//! the thread exits, so a thread's frees into its own objects are always local; `owned.rs`
//! keeps those spans, class by class. Counting happens in plain per-cache integers (see
//! `stats.rs`).
//!
//! When the current span is exhausted, [`MCache::refill`] finds another one
//! ([`OwnedSpans::refill`]: remote frees first, then the cache's other spans, then the class's
//! central list). When the thread exits, [`MCache::flush`] hands every span back (`local.rs`
//! runs it).
//!
//! A thread with no usable thread-local cache (while it registers its exit hook, or during its
//! exit) allocates through one shared cache behind a lock (`global.rs`); it is the same type.

use crate::global::{Global, global};
use crate::heap::epoch_now;
use crate::largecache::LargeCache;
use crate::owned::OwnedSpans;
use crate::sizeclass::{CLASSES, NUM_CLASSES};
use crate::span::Span;
use crate::stats::{ClassStats, FLUSH_COUNT};

/// Pages of empty small spans a cache keeps beyond one per class (2 MiB; `owned.rs`).
pub(crate) const MAX_EMPTY_PAGES: usize = 256;

/// A thread's cache (see the module docs).
#[derive(Debug)]
pub(crate) struct MCache {
    classes: [OwnedSpans; NUM_CLASSES],
    /// Objects allocated per class not yet added to the shared counters; index 0 counts
    /// large objects.
    allocs: [u64; NUM_CLASSES],
    /// Objects freed, likewise.
    frees: [u64; NUM_CLASSES],
    /// Bytes of large objects allocated minus bytes freed, likewise.
    large_bytes: isize,
    /// Pages the classes may still keep in empty spans beyond one each (`owned.rs`).
    empty_budget: usize,
    /// Large spans kept for reuse (`largecache.rs`).
    pub(crate) large: LargeCache,
    /// The scavenger epoch of the last look for idle kept spans ([`MCache::age_out`]).
    aged: u64,
}

// SAFETY: the shared cache moves between threads under its lock; the spans it points to are
// `Send`.
unsafe impl Send for MCache {}

impl MCache {
    /// An empty cache.
    pub(crate) const fn new() -> MCache {
        MCache {
            classes: [const { OwnedSpans::new() }; NUM_CLASSES],
            allocs: [0; NUM_CLASSES],
            frees: [0; NUM_CLASSES],
            large_bytes: 0,
            empty_budget: MAX_EMPTY_PAGES,
            large: LargeCache::new(),
            aged: 0,
        }
    }

    /// The value spans owned by this cache hold in `owner`.
    #[inline]
    pub(crate) fn token(&self) -> usize {
        self as *const MCache as usize
    }

    /// Allocates an object of `class` from its current span: its address and whether it is
    /// known to be zeroed, or `None` if there is no current span or it has run out.
    #[inline]
    pub(crate) fn alloc_fast(&mut self, class: usize) -> Option<(usize, bool)> {
        let found = self.classes[class].alloc();
        if found.is_some() {
            self.allocs[class] += 1;
        }
        found
    }

    /// Allocates an object of `class`; `None` when the heap is out of memory.
    pub(crate) fn alloc(&mut self, class: usize) -> Option<(usize, bool)> {
        self.alloc_fast(class).or_else(|| self.refill(class))
    }

    /// The slow path of [`MCache::alloc`]: find a span with a free object.
    #[cold]
    fn refill(&mut self, class: usize) -> Option<(usize, bool)> {
        let global = global()?;
        if self.allocs[class] + self.frees[class] >= FLUSH_COUNT {
            global
                .counters
                .add(class, self.allocs[class], self.frees[class]);
            self.allocs[class] = 0;
            self.frees[class] = 0;
            self.age_out(global);
        }
        let token = self.token();
        let (central, heap) = (&global.central[class], &global.heap);
        if !self.classes[class].refill(central, heap, token, &mut self.empty_budget) {
            return None;
        }
        self.allocs[class] += 1;
        self.classes[class].alloc()
    }

    /// Frees `addr`, an object of `span`, which this cache owns.
    ///
    /// # Safety
    ///
    /// `span.owner` is this cache's token and `addr` is an allocated object of it.
    #[inline]
    pub(crate) unsafe fn free_local(&mut self, span: *mut Span, addr: usize) {
        // SAFETY: per the contract, we are the span's holder.
        unsafe {
            let class = (*span).extent().class;
            self.frees[class] += 1;
            if (*span).free_local(addr) {
                self.after_free(span, class);
            }
        }
    }

    /// Gives the page heap the spans this cache has kept unused for two scavenger epochs
    /// since a look first found them: large ones (`largecache.rs`) and empty small ones
    /// (`owned.rs`). Looks at most once an epoch; called at counter flushes, so a thread that
    /// keeps allocating anything does not hold idle memory for long.
    fn age_out(&mut self, global: &Global) {
        let epoch = epoch_now();
        if epoch == self.aged {
            return;
        }
        self.aged = epoch;
        // SAFETY: kept large spans hold no live object, and the cache gives them up.
        self.large
            .age_out(epoch, |span| unsafe { global.heap.free(span) });
        for spans in &mut self.classes[1..] {
            spans.age_out_empty(epoch, &global.heap, &mut self.empty_budget);
        }
    }

    /// The slow path of [`MCache::free_local`]: the span changes place (`owned.rs`).
    ///
    /// # Safety
    ///
    /// As for [`MCache::free_local`], after the object's free.
    #[cold]
    unsafe fn after_free(&mut self, span: *mut Span, class: usize) {
        // SAFETY: an object was allocated, so the state exists.
        let global = unsafe { global().unwrap_unchecked() };
        // SAFETY: forwarded contract.
        unsafe { self.classes[class].after_free(span, &global.heap, &mut self.empty_budget) };
    }

    /// Hands every span back to the central lists (kept large spans to the page heap) and
    /// flushes the counts.
    pub(crate) fn flush(&mut self, global: &Global) {
        // SAFETY: kept large spans hold no live object, and the cache gives them up.
        self.large.drain(|span| unsafe { global.heap.free(span) });
        self.flush_large(global);
        for class in 1..NUM_CLASSES {
            self.classes[class].give_back(&global.central[class], &global.heap);
            global
                .counters
                .add(class, self.allocs[class], self.frees[class]);
            self.allocs[class] = 0;
            self.frees[class] = 0;
        }
        self.empty_budget = MAX_EMPTY_PAGES;
    }

    /// Hands the spans kept for reuse with no live object to the page heap: the large ones and
    /// every class's empty ones.
    pub(crate) fn release_kept(&mut self, global: &Global) {
        // SAFETY: kept large spans hold no live object, and the cache gives them up.
        self.large.drain(|span| unsafe { global.heap.free(span) });
        for class in 1..NUM_CLASSES {
            self.classes[class].release_empty(&global.heap);
        }
        self.empty_budget = MAX_EMPTY_PAGES;
    }

    /// Counts a large object of `bytes` allocated (or, with `freed`, freed) on this thread,
    /// adding the large counts to the shared ones once they reach [`FLUSH_COUNT`].
    pub(crate) fn count_large(&mut self, global: &Global, bytes: usize, freed: bool) {
        if freed {
            self.frees[0] += 1;
            self.large_bytes -= bytes as isize;
        } else {
            self.allocs[0] += 1;
            self.large_bytes += bytes as isize;
        }
        if self.allocs[0] + self.frees[0] >= FLUSH_COUNT {
            self.flush_large(global);
            self.age_out(global);
        }
    }

    fn flush_large(&mut self, global: &Global) {
        global.counters.add(0, self.allocs[0], self.frees[0]);
        global.counters.add_large_bytes(self.large_bytes);
        self.allocs[0] = 0;
        self.frees[0] = 0;
        self.large_bytes = 0;
    }

    /// Counts a free of an object of `class` that this thread pushed onto another owner's span.
    #[inline]
    pub(crate) fn count_remote_free(&mut self, class: usize) {
        self.frees[class] += 1;
    }

    /// Adds the counts not flushed yet to a statistics snapshot.
    pub(crate) fn add_unflushed(
        &self,
        classes: &mut [ClassStats],
        large: &mut ClassStats,
        large_bytes: &mut isize,
    ) {
        for (class, out) in classes.iter_mut().enumerate() {
            out.allocs += self.allocs[class + 1];
            out.frees += self.frees[class + 1];
        }
        large.allocs += self.allocs[0];
        large.frees += self.frees[0];
        *large_bytes += self.large_bytes;
        debug_assert_eq!(classes.len() + 1, CLASSES.len());
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use crate::central::Central;
    use crate::heap::Heap;
    use crate::loom::Mutex;
    use crate::sizeclass::PAGE_SIZE;
    use crate::stats::Counters;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn kept_spans_go_back_to_the_page_heap_on_release_and_on_exit() {
        let global = Global {
            heap: Heap::new(),
            central: std::array::from_fn(Central::new),
            shared: Mutex::new(MCache::new()),
            counters: Counters::new(),
        };
        let mut cache = MCache::new();
        for release in [true, false] {
            for pages in [5, 13] {
                let span = global.heap.alloc(pages, PAGE_SIZE, 0, false);
                cache.large.put(span, pages, |_| panic!("room for both"));
            }
            assert_eq!(global.heap.in_use.load(Relaxed), 18 * PAGE_SIZE);
            if release {
                cache.release_kept(&global);
            } else {
                cache.flush(&global);
            }
            assert_eq!(global.heap.in_use.load(Relaxed), 0);
        }
    }
}
