//! A span's remote-free list: how a thread frees an object in a span that another thread's
//! cache owns, without a lock and without disturbing the owner (mimalloc's `thread_free` list;
//! Go needs none, because its collector frees by sweeping).
//!
//! # The word
//!
//! `head` is one `usize`:
//!
//! - `0`: empty.
//! - [`DETACHED`] (`1`): empty, and the span sits in its central list's `full` list with no
//!   owner, so nobody will look at it until an object is freed into it.
//! - [`WATCHED`] (`2`): empty, and the span sits on its owning cache's `full` list
//!   (`owned.rs`), which its owner does not search when it needs a span; the first remote free
//!   must tell it.
//! - anything else: the address of the last object pushed, in the low 48 bits, and the number
//!   of objects on the list in the 16 above. Each object's first word holds the address of
//!   the object pushed before it (0 ends the list). Objects are at least 8 bytes and
//!   8-aligned, so an address never collides with a flag; heap addresses fit in 48 bits (the
//!   page map covers no more), and a span holds at most 1,024 objects. With the count in the
//!   word, the holder can take the list over as its free list without walking it
//!   (`Span::drain_remote`): the walk was a chain of cache misses on lines the freeing
//!   thread wrote last, a quarter of the producer's time when all frees are remote.
//!
//! # Protocol
//!
//! - [`push`](RemoteFree::push), by any thread: write the current head into the object's first
//!   word, then CAS the head to the object (`Release`, so the link is visible to whoever takes
//!   the list). If the head was `DETACHED`, the push also clears the flag, and the pusher is
//!   told to *rescue* the span: move it from its central list's `full` list to `partial`, so
//!   the freed object can be found again. Exactly one pusher sees `DETACHED`, so a span is
//!   rescued once. If the head was `WATCHED`, the push clears that flag the same way and the
//!   pusher is told to *notify*: bump the class's notification counter
//!   ([`crate::central::Central::after_push`]), which tells owners that some full span of theirs
//!   may have room again. The counter is only a hint: a stale notification costs an owner one
//!   look at its full list, never a wrong answer.
//! - [`take_counted`](RemoteFree::take_counted), by the span's one holder (its owning cache, or the central
//!   list that has just popped it): swap the head with 0 (`Acquire`) and walk the list; a
//!   `WATCHED` flag taken this way is simply cleared. Pushes only ever add at the head and take
//!   removes everything at once, so there is no ABA.
//! - [`detach`](RemoteFree::detach) and [`watch`](RemoteFree::watch), by the holder putting a
//!   full span aside (on its central list's `full` list under the central lock, or on its own
//!   `full` list): CAS 0 → flag. It fails if an object was pushed meanwhile; the holder then
//!   takes the list and keeps the span, which is no longer full.
//! - [`has_frees`](RemoteFree::has_frees), by the holder: whether objects are waiting, without
//!   taking them (how an owner checks its watched spans after a notification).

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use std::ptr;

/// The head value of a list that is empty and whose span is parked as full in its central list.
const DETACHED: usize = 1;
/// The head value of a list that is empty and whose span is full on its owner's `full` list.
const WATCHED: usize = 2;
/// Head values up to this are flags, not objects.
const FLAGS: usize = 7;
/// Where the count of objects starts in the head word.
const COUNT_SHIFT: u32 = 48;
const ADDR_MASK: usize = (1 << COUNT_SHIFT) - 1;

/// What a push asks of the pusher.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// Nothing more to do.
    Done,
    /// The span was parked as full: the pusher must move it to its central list's partial list.
    Rescue,
    /// The span was full on its owner's `full` list: the pusher must bump its class's
    /// notification counter.
    Notify,
}

/// The list of objects freed into a span by threads that do not own it, on a cache line of
/// its own: the freeing threads write it, and nothing the owner writes shares its line.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct RemoteFree {
    head: AtomicUsize,
}

impl RemoteFree {
    /// An empty list.
    pub(crate) fn new() -> RemoteFree {
        RemoteFree {
            head: AtomicUsize::new(0),
        }
    }

    /// Pushes `object`.
    ///
    /// # Safety
    ///
    /// `object` is an allocated object of this list's span, at least 8 bytes, 8-aligned, that
    /// the caller is freeing: nobody reads or writes it any more.
    pub(crate) unsafe fn push(&self, object: *mut u8) -> Push {
        debug_assert!(
            object as usize <= ADDR_MASK,
            "heap addresses fit in 48 bits"
        );
        let mut head = self.head.load(Relaxed);
        loop {
            let (next, count) = if head <= FLAGS {
                (0, 0)
            } else {
                (head & ADDR_MASK, head >> COUNT_SHIFT)
            };
            // SAFETY: the caller gives us the object, which has room for a word and is aligned.
            unsafe { object.cast::<usize>().write(next) };
            let new = object as usize | (count + 1) << COUNT_SHIFT;
            match self.head.compare_exchange_weak(head, new, Release, Relaxed) {
                Ok(_) if head == DETACHED => return Push::Rescue,
                Ok(_) if head == WATCHED => return Push::Notify,
                Ok(_) => return Push::Done,
                Err(current) => head = current,
            }
        }
    }

    /// As [`take_counted`](RemoteFree::take_counted), without the count (the tests' view).
    #[cfg(all(test, not(gort_loom)))]
    pub(crate) fn take(&self) -> *mut u8 {
        self.take_counted().0
    }

    /// Takes every object pushed so far; returns the first (null if none), each linking to the
    /// next through its first word, and how many there are.
    ///
    /// Only the span's holder calls this, never while the span is detached. A `WATCHED` flag is
    /// cleared.
    pub(crate) fn take_counted(&self) -> (*mut u8, usize) {
        if self.head.load(Relaxed) == 0 {
            return (ptr::null_mut(), 0);
        }
        let head = self.head.swap(0, Acquire);
        debug_assert_ne!(head, DETACHED, "take on a detached span");
        if head <= FLAGS {
            return (ptr::null_mut(), 0);
        }
        ((head & ADDR_MASK) as *mut u8, head >> COUNT_SHIFT)
    }

    /// Whether objects are waiting to be taken (the holder's cheap check).
    pub(crate) fn has_frees(&self) -> bool {
        self.head.load(Relaxed) > FLAGS
    }

    /// Marks the list detached if it is empty; false if an object was pushed.
    pub(crate) fn detach(&self) -> bool {
        self.head
            .compare_exchange(0, DETACHED, Relaxed, Relaxed)
            .is_ok()
    }

    /// Marks the list watched if it is empty; false if an object was pushed.
    pub(crate) fn watch(&self) -> bool {
        self.head
            .compare_exchange(0, WATCHED, Relaxed, Relaxed)
            .is_ok()
    }
}

/// Walks a list returned by [`RemoteFree::take`], calling `f` on each object (the tests' and
/// models' view of a list; `Span::drain_remote` splices it instead).
///
/// # Safety
///
/// `first` comes from `take`, and the objects are not reused until the walk is over.
#[cfg(test)]
pub(crate) unsafe fn for_each(first: *mut u8, mut f: impl FnMut(*mut u8)) {
    let mut object = first;
    while !object.is_null() {
        // SAFETY: each object on the list holds the link its pusher wrote, and the `Acquire`
        // swap in `take` made those writes visible.
        let next = unsafe { object.cast::<usize>().read() } as *mut u8;
        f(object);
        object = next;
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_take_and_detach() {
        let list = RemoteFree::new();
        let mut objects = [0u64; 3];
        let base = objects.as_mut_ptr().cast::<u8>();
        // SAFETY: each element is 8 bytes, aligned, and only the list uses it from here on.
        unsafe {
            assert_eq!(list.push(base), Push::Done);
            assert_eq!(list.push(base.add(8)), Push::Done);
        }
        assert!(!list.detach(), "a non-empty list cannot be detached");
        assert!(list.has_frees());
        let (first, count) = list.take_counted();
        assert_eq!(count, 2);
        // Pushed back the other way round, to take them again below.
        // SAFETY: the two objects are free again and ours.
        unsafe {
            let second = first.cast::<usize>().read() as *mut u8;
            assert_eq!(second, base);
            assert_eq!(list.push(second), Push::Done);
            assert_eq!(list.push(first), Push::Done);
        }
        let mut seen = Vec::new();
        // SAFETY: the list came from `take` and the objects stay put.
        unsafe { for_each(list.take(), |o| seen.push(o)) };
        // SAFETY: both addresses are inside `objects`.
        assert_eq!(seen, unsafe { [base.add(8), base] });
        assert!(list.take().is_null());
        assert!(list.detach());
        // SAFETY: as above.
        unsafe {
            assert_eq!(list.push(base.add(16)), Push::Rescue);
            assert_eq!(list.push(base), Push::Done);
        }
        seen.clear();
        // SAFETY: as above.
        unsafe { for_each(list.take(), |o| seen.push(o)) };
        // SAFETY: as above.
        assert_eq!(seen, unsafe { [base, base.add(16)] });
        assert!(list.watch());
        assert!(!list.has_frees());
        // SAFETY: as above.
        unsafe {
            assert_eq!(list.push(base.add(8)), Push::Notify);
            assert_eq!(list.push(base), Push::Done);
        }
        assert!(list.has_frees());
        seen.clear();
        // SAFETY: as above.
        unsafe { for_each(list.take(), |o| seen.push(o)) };
        // SAFETY: as above.
        assert_eq!(seen, unsafe { [base, base.add(8)] });
        assert!(list.watch());
        assert!(list.take().is_null(), "taking clears the watch");
        assert!(list.detach());
    }
}
