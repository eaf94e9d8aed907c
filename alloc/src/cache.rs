//! Thread caches: one span per size class, owned by one thread (Go's `mcache`, TCMalloc's
//! `ThreadCache`).
//!
//! The fast path of an allocation is: index the cache by class, search the span's allocation
//! bitmap for a free bit, set it, return. A free of an object whose span this cache owns
//! clears its bit. Neither takes a lock or a read-modify-write atomic: the span belongs to this
//! cache alone (its `owner` word holds the cache's address, which is how a freeing thread tells
//! that it is the owner). Counting happens in plain per-cache integers (see `stats.rs`).
//!
//! When the span is exhausted, [`MCache::refill`] first applies the frees other threads pushed
//! onto it (`remote.rs`); if that frees nothing, it parks the span on the class's central list
//! as full and takes another span from there ([`crate::central::Central::take`]). When the
//! thread exits, [`MCache::flush`] hands every span back (`local.rs` runs it).
//!
//! A thread with no usable thread-local cache (while it registers its exit hook, or during its
//! exit) allocates through one shared cache behind a lock (`global.rs`); it is the same type.

use crate::global::Global;
use crate::sizeclass::{CLASSES, NUM_CLASSES};
use crate::span::Span;
use crate::stats::ClassStats;
use std::ptr;

/// A thread's cache (see the module docs).
#[derive(Debug)]
pub(crate) struct MCache {
    spans: [*mut Span; NUM_CLASSES],
    allocs: [u64; NUM_CLASSES],
    frees: [u64; NUM_CLASSES],
}

// SAFETY: the shared cache moves between threads under its lock; the spans it points to are
// `Send`.
unsafe impl Send for MCache {}

impl MCache {
    /// An empty cache.
    pub(crate) const fn new() -> MCache {
        MCache {
            spans: [ptr::null_mut(); NUM_CLASSES],
            allocs: [0; NUM_CLASSES],
            frees: [0; NUM_CLASSES],
        }
    }

    /// The value spans owned by this cache hold in `owner`.
    #[inline]
    pub(crate) fn token(&self) -> usize {
        self as *const MCache as usize
    }

    /// Allocates an object of `class`; returns its address and whether it is known to be
    /// zeroed, or `None` when the heap is out of memory.
    #[inline]
    pub(crate) fn alloc(&mut self, global: &Global, class: usize) -> Option<(usize, bool)> {
        let span = self.spans[class];
        if !span.is_null() {
            // SAFETY: this cache owns its spans.
            if let Some(found) = unsafe { (*span).alloc_object() } {
                self.allocs[class] += 1;
                return Some(found);
            }
        }
        self.refill(global, class)
    }

    /// The slow path of [`MCache::alloc`]: drain or replace the exhausted span.
    #[cold]
    fn refill(&mut self, global: &Global, class: usize) -> Option<(usize, bool)> {
        let span = self.spans[class];
        if !span.is_null() {
            loop {
                // SAFETY: this cache owns the span.
                if unsafe { (*span).drain_remote() } > 0 {
                    self.allocs[class] += 1;
                    // SAFETY: as above; it now has free objects.
                    return unsafe { (*span).alloc_object() };
                }
                // SAFETY: owned and full.
                if unsafe { global.central[class].park_full(span) } {
                    break;
                }
            }
            self.spans[class] = ptr::null_mut();
        }
        global
            .counters
            .add(class, self.allocs[class], self.frees[class]);
        self.allocs[class] = 0;
        self.frees[class] = 0;
        let span = global.central[class].take(&global.heap, self.token());
        if span.is_null() {
            return None;
        }
        self.spans[class] = span;
        self.allocs[class] += 1;
        // SAFETY: `take` hands over a span with a free object, owned by this cache.
        unsafe { (*span).alloc_object() }
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
            (*span).free_local(addr);
            self.frees[(*span).extent().class] += 1;
        }
    }

    /// Hands every span back to the central lists and flushes the counts.
    pub(crate) fn flush(&mut self, global: &Global) {
        for class in 1..NUM_CLASSES {
            let span = self.spans[class];
            if !span.is_null() {
                self.spans[class] = ptr::null_mut();
                // SAFETY: the cache owns the span and gives it up.
                unsafe { global.central[class].give_back(&global.heap, span) };
            }
            global
                .counters
                .add(class, self.allocs[class], self.frees[class]);
            self.allocs[class] = 0;
            self.frees[class] = 0;
        }
    }

    /// Counts a free of an object of `class` that this thread pushed onto another owner's span.
    #[inline]
    pub(crate) fn count_remote_free(&mut self, class: usize) {
        self.frees[class] += 1;
    }

    /// Adds the counts not flushed yet to a statistics snapshot.
    pub(crate) fn add_unflushed(&self, classes: &mut [ClassStats]) {
        for (class, out) in classes.iter_mut().enumerate() {
            out.allocs += self.allocs[class + 1];
            out.frees += self.frees[class + 1];
        }
        debug_assert_eq!(classes.len() + 1, CLASSES.len());
    }
}
