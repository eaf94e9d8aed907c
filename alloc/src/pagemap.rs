//! The page map: for any heap address, the span that owns its page, in O(1) (Go's
//! `mheap.arenas` radix map and `heapArena.spans`).
//!
//! Addresses are 48 bits (x86-64 and AArch64 user space). The map has three levels:
//!
//! ```text
//!  47          37 36                  26 25                13 12          0
//! +--------------+----------------------+--------------------+-------------+
//! |  root index  |      node index      |  page in arena     | byte offset |
//! +--------------+----------------------+--------------------+-------------+
//!    ROOT[2^11] ──> Node[2^11] ──> ArenaPages[8192] ──> *Span
//! ```
//!
//! The root is a static array; nodes and per-arena page arrays are mapped from the OS when an
//! arena is registered (they read as null until then), so an unused part of the address space
//! costs nothing. Lookup is three dependent loads and no branch beyond null checks.
//!
//! # Invariants
//!
//! - Entries are written only under the heap lock: when an arena is registered, and when the
//!   heap hands out, splits or merges a span. Readers take no lock.
//! - Every page of a span in use maps to that span, so an interior pointer finds its object.
//!   A free span maps only its first and last page (what coalescing needs); its interior
//!   entries may point at stale spans, so a lookup is meaningful only for an address inside a
//!   block that is currently allocated.
//! - Nodes, arena arrays and span entries are published with `Release` and read with
//!   `Acquire`. A span entry is stored before any block of the span is handed out, and a
//!   block's address reaches another thread only through synchronisation of its own, so the
//!   entry a free reads is always the one stored for the block.

use crate::arena::{ARENA_SHIFT, PAGES_PER_ARENA, os};
use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::Span;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::*};

/// Bits of address the map covers.
const ADDRESS_BITS: usize = 48;
/// Bits of the root index.
const ROOT_BITS: usize = 11;
/// Bits of the node index: whatever the arena size leaves.
const NODE_BITS: usize = ADDRESS_BITS - ROOT_BITS - ARENA_SHIFT;

struct ArenaPages {
    spans: [AtomicPtr<Span>; PAGES_PER_ARENA],
}

struct Node {
    arenas: [AtomicPtr<ArenaPages>; 1 << NODE_BITS],
}

static ROOT: [AtomicPtr<Node>; 1 << ROOT_BITS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; 1 << ROOT_BITS];

fn root_index(addr: usize) -> usize {
    addr >> (ARENA_SHIFT + NODE_BITS)
}

fn node_index(addr: usize) -> usize {
    (addr >> ARENA_SHIFT) & ((1 << NODE_BITS) - 1)
}

fn page_index(addr: usize) -> usize {
    (addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)
}

/// Maps zeroed memory for a `T` made of atomic pointers (all-zero is all-null).
fn map_zeroed<T>() -> Option<*mut T> {
    let size = size_of::<T>().next_multiple_of(PAGE_SIZE);
    os::map(size, PAGE_SIZE).map(|p| p.as_ptr().cast())
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
        let slot = &ROOT[root_index(arena)];
        let mut node = slot.load(Acquire);
        if node.is_null() {
            let Some(fresh) = map_zeroed::<Node>() else {
                return false;
            };
            node = fresh;
            slot.store(node, Release);
        }
        // SAFETY: published nodes are never freed, and zeroed memory is a valid `Node`.
        let entry = unsafe { &(*node).arenas[node_index(arena)] };
        if entry.load(Acquire).is_null() {
            let Some(pages) = map_zeroed::<ArenaPages>() else {
                return false;
            };
            entry.store(pages, Release);
        }
        arena += 1 << ARENA_SHIFT;
    }
    true
}

fn entry(addr: usize) -> Option<&'static AtomicPtr<Span>> {
    if addr >> ADDRESS_BITS != 0 {
        return None;
    }
    let node = ROOT[root_index(addr)].load(Acquire);
    if node.is_null() {
        return None;
    }
    // SAFETY: published nodes live for the whole process.
    let pages = unsafe { (*node).arenas[node_index(addr)].load(Acquire) };
    if pages.is_null() {
        return None;
    }
    // SAFETY: published arena arrays live for the whole process.
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
        assert_eq!(lookup(base + 6 * PAGE_SIZE - 1), fake);
        assert!(lookup(base + 6 * PAGE_SIZE).is_null());
        assert!(lookup(base + 3 * PAGE_SIZE).is_null());
        set(base + 4 * PAGE_SIZE, 2, ptr::null_mut());
    }
}
