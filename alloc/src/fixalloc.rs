//! A fixed-size allocator for the heap's own records (Go's `fixalloc`).
//!
//! The allocator cannot allocate its metadata from itself, and must not call the process's
//! global allocator, which may be itself. Span records therefore come from chunks mapped
//! straight from the OS, carved front to back, with a free list of returned records in front
//! of the carving. Records are never unmapped, so a stale pointer to one still points at a
//! record (see `span.rs`). Used only under the heap lock.

use crate::arena::os;
use crate::sizeclass::PAGE_SIZE;
use std::marker::PhantomData;
use std::ptr;

/// Bytes mapped at a time: 256 KiB, several hundred span records.
const CHUNK: usize = 32 * PAGE_SIZE;

/// A free list and a bump region of `T`-sized slots.
#[derive(Debug)]
pub(crate) struct FixAlloc<T> {
    /// Returned slots; each holds the next one's address in its first word.
    free: *mut u8,
    /// The bump region: `[next, end)`.
    next: usize,
    end: usize,
    _slots: PhantomData<*mut T>,
}

// SAFETY: the allocator owns its chunks and hands out raw slots; it is used under the heap
// lock from any thread.
unsafe impl<T> Send for FixAlloc<T> {}

impl<T> FixAlloc<T> {
    const SLOT: usize = size_of::<T>().next_multiple_of(align_of::<T>());

    /// An allocator with nothing mapped yet.
    pub(crate) const fn new() -> FixAlloc<T> {
        assert!(size_of::<T>() >= size_of::<usize>() && align_of::<T>() <= PAGE_SIZE);
        FixAlloc {
            free: ptr::null_mut(),
            next: 0,
            end: 0,
            _slots: PhantomData,
        }
    }

    /// An uninitialised slot for a `T`, or `None` if the OS refuses memory.
    pub(crate) fn alloc(&mut self) -> Option<*mut T> {
        if !self.free.is_null() {
            let slot = self.free;
            // SAFETY: slots on the free list hold the next slot's address in their first word.
            self.free = unsafe { slot.cast::<*mut u8>().read() };
            return Some(slot.cast());
        }
        if self.next + Self::SLOT > self.end {
            let chunk = os::map(CHUNK, PAGE_SIZE)?.as_ptr() as usize;
            self.next = chunk;
            self.end = chunk + CHUNK;
        }
        let slot = self.next;
        self.next += Self::SLOT;
        Some(slot as *mut T)
    }

    /// Returns a slot.
    ///
    /// # Safety
    ///
    /// `slot` came from this allocator's `alloc` and is no longer used.
    pub(crate) unsafe fn free(&mut self, slot: *mut T) {
        // SAFETY: the slot is ours again and has room for a pointer.
        unsafe { slot.cast::<*mut u8>().write(self.free) };
        self.free = slot.cast();
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_aligned_and_recycled() {
        let mut fix = FixAlloc::<[u64; 40]>::new();
        let slots: Vec<_> = (0..2000).map(|_| fix.alloc().unwrap()).collect();
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), slots.len());
        assert!(
            slots
                .iter()
                .all(|s| (*s as usize).is_multiple_of(align_of::<u64>()))
        );
        // SAFETY: the slot came from `fix` and is unused.
        unsafe { fix.free(slots[7]) };
        assert_eq!(fix.alloc(), Some(slots[7]));
    }
}
