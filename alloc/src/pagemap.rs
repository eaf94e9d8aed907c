//! The page map: for any heap address, the span that owns its page, in O(1) (Go's
//! `mheap.arenas` map and `heapArena.spans`).
//!
//! Addresses are 48 bits (x86-64 and AArch64 user space). The map has two levels, as Go's has
//! on 64-bit Linux (`arenaL1Bits = 0`):
//!
//! ```text
//!  47                          26 25                13 12          0
//! +------------------------------+--------------------+-------------+
//! |         region index         |  page in region    | byte offset |
//! +------------------------------+--------------------+-------------+
//!    ROOT[2^22] ──> RegionPages[8192] ──> *Span
//! ```
//!
//! A region is 64 MiB, the size of an arena (under miri and loom, where arenas are 1 MiB,
//! several arenas share a region). `ROOT` is a static array of 4 Mi null pointers: 32 MiB of
//! zero-initialised static memory, which the kernel maps only where it is touched, so the
//! regions never used cost nothing. A region's page array (64 KiB) is mapped from the OS when
//! the first arena in it is registered. A lookup is two dependent loads: the root entry, then
//! the span.
//!
//! # Invariants
//!
//! - Entries are written only under the heap lock: when an arena is registered, and when the
//!   heap hands out, splits or merges a span. Readers take no lock.
//! - Every page of a span in use maps to that span, so an interior pointer finds its object.
//!   A free span maps only its first and last page (what coalescing needs); its interior
//!   entries may point at stale spans, so a lookup is meaningful only for an address inside a
//!   block that is currently allocated.
//! - Region arrays and span entries are published with `Release` and read with `Acquire`. A
//!   span entry is stored before any block of the span is handed out, and a block's address
//!   reaches another thread only through synchronisation of its own, so the entry a free
//!   reads is always the one stored for the block. For the same reason a live block's region
//!   array is always there, which lets [`lookup_block`] skip the checks [`lookup`] makes.

use crate::arena::{ARENA_SIZE, os};
use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::Span;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::*};

/// Bits of address the map covers.
const ADDRESS_BITS: usize = 48;
/// log2 of a region's size: 64 MiB.
const REGION_SHIFT: usize = 26;
/// Bits of the root index.
const ROOT_BITS: usize = ADDRESS_BITS - REGION_SHIFT;
/// Pages per region.
const PAGES_PER_REGION: usize = 1 << (REGION_SHIFT - PAGE_SHIFT);
const _: () = assert!(
    ARENA_SIZE <= 1 << REGION_SHIFT,
    "an arena lies in one region"
);

struct RegionPages {
    spans: [AtomicPtr<Span>; PAGES_PER_REGION],
}

static ROOT: [AtomicPtr<RegionPages>; 1 << ROOT_BITS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; 1 << ROOT_BITS];

/// The root slot of `addr`'s region (`addr` must be below 2^48).
#[inline]
fn root_slot(addr: usize) -> &'static AtomicPtr<RegionPages> {
    &ROOT[(addr >> REGION_SHIFT) & ((1 << ROOT_BITS) - 1)]
}

#[inline]
fn page_index(addr: usize) -> usize {
    (addr >> PAGE_SHIFT) & (PAGES_PER_REGION - 1)
}

/// Makes `[base, base + size)` (whole arenas) mappable. Returns false if the range lies outside
/// the 48-bit space or the OS refuses memory for the map itself.
///
/// Must be called with the heap lock held.
pub(crate) fn register(base: usize, size: usize) -> bool {
    let Some(end) = base.checked_add(size) else {
        return false;
    };
    if end > 1 << ADDRESS_BITS {
        return false;
    }
    let mut arena = base;
    while arena < end {
        let slot = root_slot(arena);
        if slot.load(Acquire).is_null() {
            let bytes = size_of::<RegionPages>().next_multiple_of(PAGE_SIZE);
            let Some(pages) = os::map(bytes, PAGE_SIZE) else {
                return false;
            };
            // Zeroed memory is a valid `RegionPages`: all entries null.
            slot.store(pages.as_ptr().cast(), Release);
        }
        arena += ARENA_SIZE;
    }
    true
}

fn entry(addr: usize) -> Option<&'static AtomicPtr<Span>> {
    if addr >> ADDRESS_BITS != 0 {
        return None;
    }
    let pages = root_slot(addr).load(Acquire);
    if pages.is_null() {
        return None;
    }
    // SAFETY: published region arrays live for the whole process.
    Some(unsafe { &(*pages).spans[page_index(addr)] })
}

/// The span recorded for the page holding `addr`, or null if `addr` is not in the heap.
#[inline]
pub(crate) fn lookup(addr: usize) -> *mut Span {
    match entry(addr) {
        Some(slot) => slot.load(Acquire),
        None => ptr::null_mut(),
    }
}

/// The span of `addr`, without [`lookup`]'s checks: two loads.
///
/// # Safety
///
/// `addr` lies inside a block currently allocated from the heap (module docs).
#[inline]
pub(crate) unsafe fn lookup_block(addr: usize) -> *mut Span {
    let pages = root_slot(addr).load(Acquire);
    debug_assert!(!pages.is_null(), "{addr:#x} is not in the heap");
    // SAFETY: per the contract, the region holds a live block, so its array is published, and
    // published arrays live for the whole process.
    unsafe { (*pages).spans[page_index(addr)].load(Acquire) }
}

/// Records `span` for the `pages` pages from `start`, which must be registered.
///
/// Must be called with the heap lock held.
pub(crate) fn set(start: usize, pages: usize, span: *mut Span) {
    for page in 0..pages {
        if let Some(slot) = entry(start + page * PAGE_SIZE) {
            slot.store(span, Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arena::ARENA_SIZE;

    #[test]
    fn unknown_addresses_map_to_null() {
        assert!(lookup(0).is_null());
        assert!(lookup(usize::MAX).is_null());
        assert!(lookup(1 << ADDRESS_BITS).is_null());
    }

    #[test]
    fn registered_pages_map_to_what_was_set() {
        let base = os::map(ARENA_SIZE, ARENA_SIZE).unwrap().as_ptr() as usize;
        assert!(register(base, ARENA_SIZE));
        assert!(lookup(base + 5 * PAGE_SIZE).is_null());
        let fake = 0x1000 as *mut Span;
        set(base + 4 * PAGE_SIZE, 2, fake);
        assert_eq!(lookup(base + 4 * PAGE_SIZE + 17), fake);
        // SAFETY: the page was set just above, as if a block lived there.
        assert_eq!(unsafe { lookup_block(base + 5 * PAGE_SIZE + 8) }, fake);
        assert_eq!(lookup(base + 6 * PAGE_SIZE - 1), fake);
        assert!(lookup(base + 6 * PAGE_SIZE).is_null());
        assert!(lookup(base + 3 * PAGE_SIZE).is_null());
        set(base + 4 * PAGE_SIZE, 2, ptr::null_mut());
    }
}
