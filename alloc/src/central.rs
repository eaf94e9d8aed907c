//! Central lists: the spans of one size class that no thread cache owns (Go's `mcentral`).
//!
//! A thread cache keeps every span it allocated from until the span is empty or the thread
//! exits (`owned.rs`). When it has no span with a free object, it takes one from the class's
//! central list, a whole span (tens to hundreds of objects) at a time: the central lock is
//! taken once per span, not once per object. Spans come back here when their owner exits.
//!
//! # The two lists
//!
//! - `partial`: spans with free objects, or with remote frees waiting on them.
//! - `full`: spans parked with no free object and no pending remote free. Nobody looks at them;
//!   each is marked detached in its remote-free list (`remote.rs`), and the first thread to free
//!   an object into one moves it back to `partial` ([`Central::rescue`]).
//!
//! # Protocols
//!
//! - [`take`](Central::take): pop a partial span, or carve a new one from the page heap; apply
//!   the remote frees that have collected on it; make the caller its owner. The pop is under the
//!   lock; after it the span is the caller's alone, so the draining needs no lock.
//! - [`park_full`](Central::park_full): under the lock, link the span into `full`, then
//!   try to detach its remote list (a CAS from empty). If a remote free slipped in, unlink it
//!   again and report failure: the owner drains and keeps allocating from it. Because the link
//!   happens before the detach, a rescuer that saw "detached" finds the span on `full` once it
//!   gets the lock.
//! - [`give_back`](Central::give_back): a cache that goes away hands back its span: an empty
//!   span goes to the page heap, a full one is parked, any other goes on `partial`.
//! - [`reclaim`](Central::reclaim): applies the remote frees of the partial spans and returns
//!   the empty ones to the page heap (run by `gort_alloc::release_memory`).
//! - [`after_push`](Central::after_push): a remote free that found a span watched on its owner's full
//!   list (`remote.rs`) bumps the class's notification counter; owners compare it with the
//!   value they last saw ([`notifications`](Central::notifications)) before taking a span from
//!   here, and look through their full list when it moved. The bump is a `Release` read-modify-
//!   write after the push, and the owner's read is `Acquire`, so an owner that sees the bump
//!   also sees the pushed object on the span.
//!
//! A span with no live object can be returned to the page heap without fear of a late remote
//! free: a remote free needs a live object of the span, and every live object is counted in
//! `allocated` until its free has been drained.

use crate::heap::Heap;
use crate::loom::atomic::AtomicUsize;
use crate::loom::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::loom::{Mutex, lock};
use crate::remote::Push;
use crate::sizeclass::{CLASSES, PAGE_SIZE};
use crate::span::{Span, SpanList};

/// The central list of one size class.
#[derive(Debug)]
pub(crate) struct Central {
    class: usize,
    lists: Mutex<Lists>,
    /// Remote frees that found a span of this class watched on its owner's full list.
    notified: AtomicUsize,
}

#[derive(Debug)]
struct Lists {
    partial: SpanList,
    full: SpanList,
}

impl Central {
    /// An empty central list for `class`.
    pub(crate) fn new(class: usize) -> Central {
        Central {
            class,
            lists: Mutex::new(Lists {
                partial: SpanList::new(),
                full: SpanList::new(),
            }),
            notified: AtomicUsize::new(0),
        }
    }

    /// A span of this class with a free object, now owned by `owner`; null if the page heap is
    /// out of memory.
    pub(crate) fn take(&self, heap: &Heap, owner: usize) -> *mut Span {
        let span = lock(&self.lists).partial.pop();
        if !span.is_null() {
            // SAFETY: popped under the lock, the span is ours alone: we are its holder.
            unsafe { (*span).drain_remote() };
            // SAFETY: as above.
            debug_assert!(unsafe {
                ((*span).alloc_state().allocated as usize) < (*span).extent().objects
            });
            // SAFETY: as above.
            unsafe { (*span).owner.store(owner, Relaxed) };
            return span;
        }
        let span = heap.alloc(
            CLASSES[self.class].pages as usize,
            PAGE_SIZE,
            self.class,
            false,
        );
        if span.is_null() {
            return span;
        }
        // SAFETY: a span fresh from the heap is ours alone.
        unsafe { (*span).owner.store(owner, Relaxed) };
        span
    }

    /// Parks the owner's full span; false if a remote free arrived first (the caller keeps the
    /// span and drains it).
    ///
    /// # Safety
    ///
    /// The caller owns `span`, a small span of this class with no free object.
    pub(crate) unsafe fn park_full(&self, span: *mut Span) -> bool {
        let mut lists = lock(&self.lists);
        // SAFETY: the owner's span is on no list.
        unsafe { lists.full.push(span) };
        // SAFETY: the span stays valid while we hold it.
        if unsafe { (*span).remote.detach() } {
            // SAFETY: as above.
            unsafe { (*span).owner.store(0, Relaxed) };
            true
        } else {
            // SAFETY: pushed just above, under the same lock.
            unsafe { lists.full.remove(span) };
            false
        }
    }

    /// Moves a detached span from `full` to `partial`, after a remote free into it.
    ///
    /// # Safety
    ///
    /// The caller's push on the span's remote list returned `Push::Rescue`.
    unsafe fn rescue(&self, span: *mut Span) {
        let mut lists = lock(&self.lists);
        // SAFETY: a detached span is on `full` (it was linked before it was detached, under this
        // lock), and only the one rescuer moves it.
        unsafe {
            lists.full.remove(span);
            lists.partial.push(span);
        }
    }

    /// Does what a remote free's push asked for (`remote.rs`): rescue a parked span or notify
    /// the owners of watched ones.
    ///
    /// # Safety
    ///
    /// `push` is what the caller's push onto `span`'s remote list returned.
    #[inline]
    pub(crate) unsafe fn after_push(&self, span: *mut Span, push: Push) {
        match push {
            Push::Done => {}
            // SAFETY: the push asked for the rescue.
            Push::Rescue => unsafe { self.rescue(span) },
            Push::Notify => {
                self.notified.fetch_add(1, Release);
            }
        }
    }

    /// The notification counter (module docs).
    #[inline]
    pub(crate) fn notifications(&self) -> usize {
        self.notified.load(Acquire)
    }

    /// Takes back a span from an owner that goes away.
    ///
    /// # Safety
    ///
    /// The caller owns `span`, a small span of this class, and gives it up.
    pub(crate) unsafe fn give_back(&self, heap: &Heap, span: *mut Span) {
        loop {
            // SAFETY: the caller is the holder until the span is handed on below.
            let (allocated, objects) = unsafe {
                (*span).drain_remote();
                (
                    (*span).alloc_state().allocated as usize,
                    (*span).extent().objects,
                )
            };
            if allocated == 0 {
                // SAFETY: no live object, so no remote free can come (module docs).
                unsafe {
                    (*span).owner.store(0, Relaxed);
                    heap.free(span);
                }
                return;
            }
            if allocated < objects {
                let mut lists = lock(&self.lists);
                // SAFETY: the span is on no list; from here the central list holds it.
                unsafe {
                    (*span).owner.store(0, Relaxed);
                    lists.partial.push(span);
                }
                return;
            }
            // SAFETY: full and owned by the caller.
            if unsafe { self.park_full(span) } {
                return;
            }
        }
    }

    /// Applies the remote frees of the partial spans and returns the empty ones to the heap.
    pub(crate) fn reclaim(&self, heap: &Heap) {
        let mut empty = SpanList::new();
        {
            let mut lists = lock(&self.lists);
            // SAFETY: spans on `partial` are held by this list, under its lock; `empty` is ours.
            unsafe {
                lists.partial.move_where(&mut empty, |span| {
                    (*span).drain_remote();
                    (*span).alloc_state().allocated == 0
                })
            };
        }
        loop {
            let span = empty.pop();
            if span.is_null() {
                return;
            }
            // SAFETY: empty spans taken off `partial`: no live object, no owner, on no list.
            unsafe { heap.free(span) };
        }
    }

    /// Spans on the two lists (partial, full).
    #[cfg(test)]
    pub(crate) fn lens(&self) -> (usize, usize) {
        let lists = lock(&self.lists);
        (lists.partial.len(), lists.full.len())
    }
}
