//! Arenas: the address space the page heap grows into (Go's `heapArena` and `mheap.grow`).
//!
//! The heap is sparse, as Go's has been since 1.11: it grows by reserving another arena of
//! [`ARENA_SIZE`] bytes (64 MiB, aligned to its size) wherever the kernel places it, instead of
//! extending one contiguous range reserved up front. A request larger than an arena gets a run
//! of whole arenas in one mapping. Each arena is registered in the page map ([`pagemap`]) before
//! any of its pages is handed out, so every page the heap owns can be looked up.
//!
//! Arenas are mapped readable and writable at once but cost no memory until touched (see
//! [`os`]); the page heap returns long-free pages with [`os::release`]. They are never unmapped.
//!
//! [`pagemap`]: crate::pagemap

pub(crate) mod os;

use crate::pagemap;
use crate::sizeclass::PAGE_SHIFT;

/// log2 of [`ARENA_SIZE`]; 1 MiB arenas under miri and loom, whose runs map a fresh heap each.
#[cfg(not(any(miri, gort_loom)))]
pub(crate) const ARENA_SHIFT: usize = 26;
#[cfg(any(miri, gort_loom))]
pub(crate) const ARENA_SHIFT: usize = 20;
/// The step the heap grows by: 64 MiB, as in Go on 64-bit Linux.
pub(crate) const ARENA_SIZE: usize = 1 << ARENA_SHIFT;

/// Reserves whole arenas covering at least `pages` pages and registers them in the page map.
/// Returns the first address and the number of pages reserved; `None` when the OS refuses or
/// the size overflows. The memory reads as zeroes.
///
/// Called with the heap lock held (the page map's interior nodes are created under it).
pub(crate) fn grow(pages: usize) -> Option<(usize, usize)> {
    let bytes = pages
        .checked_mul(1 << PAGE_SHIFT)?
        .checked_next_multiple_of(ARENA_SIZE)?;
    let base = os::map(bytes, ARENA_SIZE)?.as_ptr() as usize;
    if !pagemap::register(base, bytes) {
        // Outside the 48-bit space the page map covers: keep the mapping (it is never handed
        // out) and report failure.
        return None;
    }
    Some((base, bytes >> PAGE_SHIFT))
}
