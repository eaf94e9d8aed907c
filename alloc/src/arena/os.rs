//! The operating system's side of the heap: reserving address space and handing pages back
//! (Go's `mem_linux.go`: `sysReserve`, `sysMap`, `sysUnused`).
//!
//! - [`map`] reserves and commits `size` bytes aligned to `align` with one anonymous private
//!   `mmap` (`MAP_NORESERVE`: the kernel gives a page frame only when it is first touched, so
//!   a 64 MiB arena costs address space, not memory). To align, it maps `size + align` bytes
//!   and unmaps the misaligned head and the tail. The memory reads as zeroes.
//! - [`release`] tells the kernel that a free range's contents are no longer needed with
//!   `madvise(MADV_DONTNEED)`: the frames go back to the OS, the range stays mapped, and the
//!   next touch faults in a fresh zero page. `MADV_FREE` is cheaper, but the kernel may keep
//!   the old contents, so a released range could no longer be handed out as zeroed memory, and
//!   the pages stay in the process's RSS until the kernel is short of memory.
//!
//! Nothing is ever unmapped once handed to the heap, as in Go: spans and the page map may point
//! into any arena for the life of the process.
//!
//! Under miri, which cannot run `mmap`, [`map`] takes zeroed memory from `std::alloc::System`
//! (refusing requests above 1 GiB) and [`release`] zeroes the range, which is what
//! `MADV_DONTNEED` guarantees.

use std::ptr::NonNull;

/// Maps `size` bytes of zeroed, readable and writable memory aligned to `align` (a power of two
/// and a multiple of the OS page). `None` if the OS refuses.
#[cfg(not(miri))]
pub(crate) fn map(size: usize, align: usize) -> Option<NonNull<u8>> {
    let padded = size.checked_add(align)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            padded,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(align);
    let head = aligned - start;
    let tail = padded - head - size;
    // SAFETY: both ranges lie inside the mapping made above and outside the part returned, so
    // nothing refers to them.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + size) as *mut libc::c_void, tail);
        }
    }
    NonNull::new(aligned as *mut u8)
}

/// Hands the frames behind `[start, start + size)` back to the OS; the range reads as zeroes
/// from then on.
///
/// # Safety
///
/// The range must lie inside memory returned by [`map`], be page-aligned, and hold nothing
/// anyone will read again (its contents are lost).
#[cfg(not(miri))]
pub(crate) unsafe fn release(start: usize, size: usize) {
    // SAFETY: the caller guarantees the range is ours and unused; MADV_DONTNEED on a private
    // anonymous mapping only drops its frames.
    let result = unsafe { libc::madvise(start as *mut libc::c_void, size, libc::MADV_DONTNEED) };
    // A failure leaves the pages resident but their contents intact: zero them so the range
    // still keeps the "reads as zeroes" promise.
    if result != 0 {
        // SAFETY: as above, the range is ours, writable and unused.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, size) };
    }
}

/// Miri's stand-in for `mmap`: zeroed memory from the system allocator. Miri aborts instead of
/// failing a request it cannot serve, so requests above 1 GiB are refused here, as the kernel
/// refuses a mapping larger than the address space.
#[cfg(miri)]
pub(crate) fn map(size: usize, align: usize) -> Option<NonNull<u8>> {
    use std::alloc::{GlobalAlloc, Layout, System};
    if size > 1 << 30 {
        return None;
    }
    let layout = Layout::from_size_align(size, align).ok()?;
    // SAFETY: `size` is never zero (arenas and metadata chunks are whole pages).
    NonNull::new(unsafe { System.alloc_zeroed(layout) })
}

/// Miri's stand-in for `madvise(MADV_DONTNEED)`: zeroes the range.
///
/// # Safety
///
/// As for the `mmap` build: the range is ours, page-aligned and unused.
#[cfg(miri)]
pub(crate) unsafe fn release(start: usize, size: usize) {
    // SAFETY: the caller guarantees the range is ours, writable and unused.
    unsafe { std::ptr::write_bytes(start as *mut u8, 0, size) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_memory_is_aligned_zeroed_and_released_to_zero() {
        let align = 1 << 20;
        let size = 4 * 8192;
        let base = map(size, align).expect("map").as_ptr();
        assert_eq!(base as usize % align, 0);
        // SAFETY: `base` is a fresh mapping of `size` bytes that nothing else uses.
        unsafe {
            assert!((0..size).all(|i| *base.add(i) == 0));
            base.write_bytes(0xAB, size);
            release(base as usize, size);
            assert!((0..size).all(|i| *base.add(i) == 0));
        }
    }
}
