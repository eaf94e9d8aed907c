//! Statistics: bytes in use, mapped and released, and allocation counts per size class (Go's
//! `runtime.MemStats` and its `BySize` table).
//!
//! Counting must not put an atomic on the fast path, so each thread cache counts its own
//! allocations and frees in plain integers and adds them to the shared atomic counters when it
//! refills a class after counting [`FLUSH_COUNT`] or more for it, and when its thread exits (Go
//! flushes `mcache` statistics at each refill; flushing at every refill here put two contended
//! atomic additions on every span change, a tenth of the time of a two-thread churn of
//! classes with few objects per span). A free is counted by the thread that frees, whoever
//! owns the span. The counts a snapshot reports are therefore exact for the calling thread and
//! for exited threads, and for every other running thread lag by what it counted since it last
//! flushed the class: under [`FLUSH_COUNT`] allocations and frees per class, plus the
//! objects allocated from and freed into the class's spans since its last refill. Large
//! objects are counted the same way, with their bytes, and flushed every [`FLUSH_COUNT`]
//! allocations and frees: four contended atomic additions per large object were a tenth of
//! the time of a 4-thread workload with 5% of its blocks large. Page-level figures come from
//! the page heap and are exact.

use crate::global::global;
use crate::local;
use crate::sizeclass::{CLASSES, NUM_CLASSES, NUM_SIZE_CLASSES};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Allocations and frees a thread cache counts for a class before it adds them to the shared
/// counters at a refill.
pub(crate) const FLUSH_COUNT: u64 = 1024;

/// The shared counters the caches flush into.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Objects allocated per class; index 0 counts large objects.
    pub(crate) allocs: [AtomicU64; NUM_CLASSES],
    /// Objects freed per class; index 0 counts large objects.
    pub(crate) frees: [AtomicU64; NUM_CLASSES],
    /// Bytes in large objects in use.
    pub(crate) large_bytes: AtomicUsize,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            allocs: [const { AtomicU64::new(0) }; NUM_CLASSES],
            frees: [const { AtomicU64::new(0) }; NUM_CLASSES],
            large_bytes: AtomicUsize::new(0),
        }
    }

    /// Adds `delta` bytes (negative: takes them away) to the bytes in large objects. The
    /// word wraps, as a thread may flush the free of an object before the thread that
    /// allocated it flushes the allocation; [`stats`] reads it as signed.
    pub(crate) fn add_large_bytes(&self, delta: isize) {
        if delta >= 0 {
            self.large_bytes.fetch_add(delta as usize, Relaxed);
        } else {
            self.large_bytes.fetch_sub(delta.unsigned_abs(), Relaxed);
        }
    }

    /// Adds a cache's unflushed counts.
    pub(crate) fn add(&self, class: usize, allocs: u64, frees: u64) {
        if allocs != 0 {
            self.allocs[class].fetch_add(allocs, Relaxed);
        }
        if frees != 0 {
            self.frees[class].fetch_add(frees, Relaxed);
        }
    }
}

/// Allocation counts of one size class.
///
/// ```
/// let classes = gort_alloc::stats().classes;
/// assert_eq!(classes[0].size, 8);
/// assert!(classes.iter().all(|c| c.frees <= c.allocs));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Bytes per object of the class (0 for large objects).
    pub size: usize,
    /// Objects allocated so far.
    pub allocs: u64,
    /// Objects freed so far.
    pub frees: u64,
}

impl ClassStats {
    /// Objects allocated and not yet freed.
    ///
    /// ```
    /// let c = gort_alloc::ClassStats { size: 16, allocs: 5, frees: 2 };
    /// assert_eq!(c.live(), 3);
    /// ```
    pub fn live(&self) -> u64 {
        self.allocs.saturating_sub(self.frees)
    }
}

/// A snapshot of the allocator's statistics (see [`stats`]).
///
/// ```
/// let s = gort_alloc::stats();
/// assert!(s.heap_in_use <= s.mapped);
/// assert!(s.released <= s.mapped);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in live objects, counted at their class size (Go's `HeapAlloc`).
    pub allocated: usize,
    /// Bytes in spans in use, small and large (Go's `HeapInuse`).
    pub heap_in_use: usize,
    /// Bytes of address space reserved from the OS (Go's `HeapSys`).
    pub mapped: usize,
    /// Bytes of free pages given back to the OS (Go's `HeapReleased`).
    pub released: usize,
    /// Counts per size class, smallest first.
    pub classes: [ClassStats; NUM_SIZE_CLASSES],
    /// Counts of large objects (above 32 KiB, or aligned above a page).
    pub large: ClassStats,
    /// Bytes in large objects in use.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout};
    /// use gort_alloc::GortAlloc;
    ///
    /// let layout = Layout::from_size_align(100 << 10, 8).unwrap();
    /// let before = gort_alloc::stats();
    /// // SAFETY: the layout is not zero-sized, and the block is freed with the same layout.
    /// let block = unsafe { GortAlloc.alloc(layout) };
    /// let during = gort_alloc::stats();
    /// assert_eq!(during.large.allocs, before.large.allocs + 1);
    /// assert!(during.large_in_use >= before.large_in_use + (100 << 10));
    /// // SAFETY: `block` came from `GortAlloc.alloc` with this layout and is freed once.
    /// unsafe { GortAlloc.dealloc(block, layout) };
    /// let after = gort_alloc::stats();
    /// assert_eq!(after.large.frees, before.large.frees + 1);
    /// assert_eq!(after.large_in_use, before.large_in_use);
    /// ```
    pub large_in_use: usize,
}

/// A snapshot of the allocator's statistics, including the calling thread's unflushed counts
/// (see the module docs of `stats.rs` for how far other threads' counts may lag).
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout};
/// use gort_alloc::GortAlloc;
///
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// let before = gort_alloc::stats();
/// // SAFETY: the layout is not zero-sized, and the block is freed with the same layout.
/// let block = unsafe { GortAlloc.alloc(layout) };
/// let during = gort_alloc::stats();
/// let class = during.classes.iter().position(|c| c.size >= 100).unwrap();
/// assert_eq!(during.classes[class].allocs, before.classes[class].allocs + 1);
/// unsafe { GortAlloc.dealloc(block, layout) };
/// assert_eq!(gort_alloc::stats().classes[class].frees, before.classes[class].frees + 1);
/// ```
pub fn stats() -> Stats {
    let mut classes = [ClassStats::default(); NUM_SIZE_CLASSES];
    let mut large = ClassStats::default();
    let (mut heap_in_use, mut mapped, mut released, mut large_in_use) = (0, 0, 0, 0);
    if let Some(g) = global() {
        for (class, out) in classes.iter_mut().enumerate() {
            *out = ClassStats {
                size: CLASSES[class + 1].size as usize,
                allocs: g.counters.allocs[class + 1].load(Relaxed),
                frees: g.counters.frees[class + 1].load(Relaxed),
            };
        }
        large.allocs = g.counters.allocs[0].load(Relaxed);
        large.frees = g.counters.frees[0].load(Relaxed);
        let mut large_bytes = g.counters.large_bytes.load(Relaxed) as isize;
        heap_in_use = g.heap.in_use.load(Relaxed);
        mapped = g.heap.mapped.load(Relaxed);
        released = g.heap.released.load(Relaxed);
        local::with_cache(|cache| {
            if let Some(cache) = cache {
                cache.add_unflushed(&mut classes, &mut large, &mut large_bytes);
            }
        });
        // Below zero only while another thread has not flushed allocations whose frees were.
        large_in_use = large_bytes.max(0) as usize;
    }
    let allocated = classes
        .iter()
        .map(|c| c.live() as usize * c.size)
        .sum::<usize>()
        + large_in_use;
    Stats {
        allocated,
        heap_in_use,
        mapped,
        released,
        classes,
        large,
        large_in_use,
    }
}
