//! `GortAlloc`: the allocator as a `GlobalAlloc`, and the process-wide state behind it (Go's
//! `mallocgc` and `mheap_`).
//!
//! # Paths
//!
//! - **Small** (`size <= 32 KiB`, alignment served by some class): the size class from
//!   [`class_of`], then a pop from the free list of the thread cache's current span for it
//!   ([`MCache::alloc_fast`]). Everything else (no current span, an exhausted one, a thread
//!   that has not set up its cache or has exited, the shared cache under its lock) is out of
//!   line, in [`allocate_small_slow`].
//! - **Large** (anything else): a span of its own, aligned as asked: one the thread kept when it
//!   freed a large object of about the same length (`largecache.rs`), else one from the page
//!   heap (Go's `largeAlloc`).
//! - **Free**: the page map gives the span in two loads. If the span's `owner` is this
//!   thread's cache (true for every span the thread allocated from and still holds,
//!   `owned.rs`), the object goes back onto the span's free list. Only small malloc spans ever
//!   carry a cache's token, so that one comparison is the whole test on the fast path. The
//!   rest is out of line, in [`free_slow`]: large spans go to the freeing thread's kept large
//!   spans (or, not fitting there, back to the page heap),
//!   small objects of other owners onto the span's remote-free list, which never blocks
//!   (`remote.rs`).
//!
//! Keeping the slow paths out of line keeps the fast ones small enough to inline into the
//! caller with few registers to save, which is worth as much as the rest of the fast path
//! (callgrind, churn: 144 -> 97 instructions per free+allocate step).
//! - **Realloc** stays in place when the object's slot already fits the new size (and is not
//!   more than twice too big), or when a large object can grow into the free pages right after
//!   it or shrink by giving its tail back.
//! - **Zeroed**: objects carved from fresh or released pages are known to be zero and are not
//!   cleared again (Go's `needzero`).
//!
//! # Bad input
//!
//! A zero-size layout (which `GlobalAlloc` leaves undefined) gets a one-byte object, so it is
//! still a unique, freeable pointer. A size the address space cannot hold, or one the OS
//! refuses, returns null; nothing panics or aborts in the allocator itself.
//!
//! # The process-wide state
//!
//! The heap, the central lists, the shared cache and the counters form one `Global`, built on
//! first use in memory mapped from the OS (it must not come from the global allocator, which is
//! this). It is never freed.

use crate::arena::os;
use crate::cache::MCache;
use crate::central::Central;
use crate::heap::{Heap, pages_for};
use crate::largecache;
use crate::local;
use crate::loom::{Mutex, lock};
use crate::pagemap;
use crate::sizeclass::{NUM_CLASSES, PAGE_SIZE, class_of, class_size};
use crate::span::{Span, State, pages_to_bytes};
use crate::stats::Counters;
use std::alloc::{GlobalAlloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering::*};

/// The process-wide allocator state (see the module docs).
#[derive(Debug)]
pub(crate) struct Global {
    pub(crate) heap: Heap,
    pub(crate) central: [Central; NUM_CLASSES],
    /// The cache of threads that cannot use their own (`local.rs`).
    pub(crate) shared: Mutex<MCache>,
    pub(crate) counters: Counters,
}

static GLOBAL: AtomicPtr<Global> = AtomicPtr::new(ptr::null_mut());
static INIT: AtomicU8 = AtomicU8::new(0);

/// The process-wide state, built on first use; `None` if the OS refused the memory for it.
#[inline]
pub(crate) fn global() -> Option<&'static Global> {
    let global = GLOBAL.load(Acquire);
    if global.is_null() {
        return init();
    }
    // SAFETY: once published, the state is never freed or moved.
    Some(unsafe { &*global })
}

#[cold]
fn init() -> Option<&'static Global> {
    loop {
        match INIT.compare_exchange(0, 1, Acquire, Acquire) {
            Ok(_) => {
                let size = size_of::<Global>().next_multiple_of(PAGE_SIZE);
                let Some(memory) = os::map(size, PAGE_SIZE) else {
                    INIT.store(0, Release);
                    return None;
                };
                let global = memory.as_ptr().cast::<Global>();
                // SAFETY: fresh memory, large and aligned enough for a `Global`.
                unsafe {
                    global.write(Global {
                        heap: Heap::new(),
                        central: std::array::from_fn(Central::new),
                        shared: Mutex::new(MCache::new()),
                        counters: Counters::new(),
                    })
                };
                GLOBAL.store(global, Release);
                INIT.store(2, Release);
            }
            Err(1) => std::hint::spin_loop(),
            Err(_) => {}
        }
        let global = GLOBAL.load(Acquire);
        if !global.is_null() {
            // SAFETY: published above or by the winning thread; never freed.
            return Some(unsafe { &*global });
        }
    }
}

/// gort's allocator, usable as the process's `#[global_allocator]`.
///
/// ```
/// use gort_alloc::GortAlloc;
///
/// #[global_allocator]
/// static ALLOC: GortAlloc = GortAlloc;
///
/// let v: Vec<u64> = (0..1000).collect();
/// assert_eq!(v.iter().sum::<u64>(), 499_500);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GortAlloc;

/// Allocates `size` bytes aligned to `align`; zeroes them if `zero`. Null on failure.
#[inline]
fn allocate(size: usize, align: usize, zero: bool) -> *mut u8 {
    let size = size.max(1);
    let class = class_of(size, align);
    if class == 0 {
        return allocate_large(size, align, zero);
    }
    let found = match local::with_cache_fast(|cache| cache.alloc_fast(class)) {
        Some(Some(found)) => Some(found),
        _ => allocate_small_slow(class),
    };
    match found {
        Some((addr, zeroed)) => {
            if zero && !zeroed {
                // SAFETY: the object is ours and at least `size` bytes long.
                unsafe { ptr::write_bytes(addr as *mut u8, 0, size) };
            }
            addr as *mut u8
        }
        None => ptr::null_mut(),
    }
}

/// An object of `class` when the current span cannot give one, or through the shared cache.
#[cold]
#[inline(never)]
fn allocate_small_slow(class: usize) -> Option<(usize, bool)> {
    local::with_cache(|cache| match cache {
        Some(cache) => cache.alloc(class),
        None => lock(&global()?.shared).alloc(class),
    })
}

#[cold]
#[inline(never)]
fn allocate_large(size: usize, align: usize, zero: bool) -> *mut u8 {
    let (Some(global), Some(mut pages)) = (global(), pages_for(size)) else {
        return ptr::null_mut();
    };
    // A span the thread kept (`largecache.rs`) is dirty; one from the heap may be zero.
    let mut needzero = true;
    let mut span = ptr::null_mut();
    if align <= PAGE_SIZE {
        pages = largecache::round_pages(pages);
    }
    if pages <= largecache::MAX_SPAN_PAGES {
        span = local::with_cache(|c| c.map_or(ptr::null_mut(), |c| c.large.take(pages, align)));
    }
    if span.is_null() {
        span = global.heap.alloc(pages, align, 0, false);
        if span.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a span fresh from the heap is ours alone.
        needzero = unsafe { (*span).extent().needzero };
    }
    // SAFETY: the span is ours alone, in use.
    let (start, bytes) = unsafe {
        let e = (*span).extent();
        (e.start, e.elem_size)
    };
    let counted =
        local::with_cache(|cache| cache.map(|cache| cache.count_large(global, bytes, false)));
    if counted.is_none() {
        global.counters.add(0, 1, 0);
        global.counters.add_large_bytes(bytes as isize);
    }
    if zero && needzero {
        // SAFETY: the span's pages are ours.
        unsafe { ptr::write_bytes(start as *mut u8, 0, size) };
    }
    start as *mut u8
}

/// The span of a block this allocator handed out.
///
/// # Safety
///
/// `ptr` is a block currently allocated by [`GortAlloc`].
#[inline]
unsafe fn span_of(ptr: *mut u8) -> *mut Span {
    // SAFETY: per the contract, `ptr` is a live block.
    let span = unsafe { pagemap::lookup_block(ptr as usize) };
    debug_assert!(!span.is_null(), "{ptr:p} was not allocated by GortAlloc");
    span
}

/// Frees a block this allocator handed out.
///
/// # Safety
///
/// `ptr` is a block currently allocated by [`GortAlloc`], freed once.
#[inline]
unsafe fn free(ptr: *mut u8) {
    // SAFETY: per the contract.
    let span = unsafe { span_of(ptr) };
    // SAFETY: the span is in use and we hold a pointer into it.
    let owner = unsafe { (*span).owner.load(Relaxed) };
    let freed = local::with_cache_fast(|cache| {
        if cache.token() != owner {
            return false;
        }
        // SAFETY: this thread's cache owns the span (so it is a small malloc span: large and
        // collector spans never carry a cache's token), and `ptr` is one of its objects.
        unsafe { cache.free_local(span, ptr as usize) };
        true
    });
    if freed != Some(true) {
        // SAFETY: forwarded contract.
        unsafe { free_slow(span, ptr) };
    }
}

/// Frees a block whose span this thread's cache does not own: a large one, or a remote free.
///
/// # Safety
///
/// As for [`free`]; `span` is the block's.
#[cold]
#[inline(never)]
unsafe fn free_slow(span: *mut Span, ptr: *mut u8) {
    // SAFETY: the span is in use and we hold a pointer into it.
    let (class, state, gc) = unsafe {
        let e = (*span).extent();
        (e.class, e.state, e.gc)
    };
    debug_assert!(
        state != State::Free && !gc,
        "not a malloc block (GC objects are swept)"
    );
    if state == State::Large {
        // SAFETY: forwarded contract.
        return unsafe { free_large(span) };
    }
    // SAFETY: a block was allocated, so the state exists.
    let global = unsafe { global().unwrap_unchecked() };
    local::with_cache(|cache| match cache {
        Some(cache) => cache.count_remote_free(class),
        None => global.counters.add(class, 0, 1),
    });
    // SAFETY: the object is allocated in this span, which this thread does not own, and freed
    // once, here; `after_push` gets what the push returned.
    unsafe {
        let push = (*span).remote.push(ptr);
        global.central[class].after_push(span, push);
    }
}

/// Frees a large block: its span goes to this thread's kept large spans, or back to the page
/// heap.
///
/// # Safety
///
/// `span` is a large span in use whose one object is being freed, once.
#[cold]
#[inline(never)]
unsafe fn free_large(span: *mut Span) {
    // SAFETY: a block was allocated, so the state exists.
    let global = unsafe { global().unwrap_unchecked() };
    // SAFETY: the span is in use until the heap or the cache takes it below.
    let (bytes, pages) = unsafe { ((*span).extent().elem_size, (*span).extent().pages) };

    // The span's one object is freed, so it holds nothing live; so does every span the cache
    // gives back, which it held alone.
    let give_back = |out| {
        // SAFETY: as just said.
        unsafe { global.heap.free(out) }
    };
    let kept = local::with_cache(|cache| match cache {
        Some(cache) => {
            cache.count_large(global, bytes, true);
            cache.large.put(span, pages, give_back);
            true
        }
        None => false,
    });
    if !kept {
        global.counters.add(0, 0, 1);
        global.counters.add_large_bytes(-(bytes as isize));
        give_back(span);
    }
}

/// Resizes in place if the block allows it (module docs); false if it must move.
///
/// # Safety
///
/// `ptr` is a block currently allocated by [`GortAlloc`] with alignment `align`.
unsafe fn resize_in_place(ptr: *mut u8, align: usize, new_size: usize) -> bool {
    // SAFETY: per the contract.
    let span = unsafe { span_of(ptr) };
    // SAFETY: the span is in use and we hold a pointer into it.
    let (state, slot) = unsafe { ((*span).extent().state, (*span).extent().elem_size) };
    if state == State::Small {
        return new_size <= slot && (new_size * 2 > slot || slot <= 16);
    }
    if class_of(new_size, align) != 0 {
        return false;
    }
    let Some(mut pages) = pages_for(new_size) else {
        return false;
    };
    if align <= PAGE_SIZE {
        // The length a fresh allocation of this size would get.
        pages = largecache::round_pages(pages);
    }
    // SAFETY: the caller holds the only pointer to this large object.
    let global = unsafe { global().unwrap_unchecked() };
    // SAFETY: a large span in use, held by the caller alone.
    let resized = unsafe { global.heap.resize(span, pages) };
    if resized {
        let new_bytes = pages_to_bytes(pages);
        global
            .counters
            .add_large_bytes(new_bytes as isize - slot as isize);
    }
    resized
}

// SAFETY: `alloc` returns blocks of at least the layout's size and alignment that no other live
// block overlaps (the size-class and page-heap invariants of `span.rs` and `heap.rs`), or
// null; `dealloc` and `realloc` accept any block it returned.
unsafe impl GlobalAlloc for GortAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout.size(), layout.align(), false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout.size(), layout.align(), true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `GlobalAlloc`'s contract: `ptr` is a live block from this allocator.
        unsafe { free(ptr) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `GlobalAlloc`'s contract: `ptr` is a live block from this allocator.
        if unsafe { resize_in_place(ptr, layout.align(), new_size.max(1)) } {
            return ptr;
        }
        let new = allocate(new_size, layout.align(), false);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct, each at least the copied length.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                free(ptr);
            }
        }
        new
    }
}

/// Returns every free page to the OS now (Go's `debug.FreeOSMemory`), after applying pending
/// cross-thread frees, and returning to the page heap the central lists' empty spans and the
/// free spans the calling thread's cache keeps for reuse. Other threads' caches keep theirs
/// (a bounded amount each: `largecache.rs`, `owned.rs`) and the spans they allocate from.
///
/// ```
/// gort_alloc::release_memory();
/// let s = gort_alloc::stats();
/// assert!(s.released + s.heap_in_use <= s.mapped);
/// ```
pub fn release_memory() {
    let Some(global) = global() else {
        return;
    };
    local::with_cache(|cache| {
        if let Some(cache) = cache {
            cache.release_kept(global);
        }
    });
    for central in &global.central[1..] {
        central.reclaim(&global.heap);
    }
    global.heap.release_all();
}

/// Bytes per object of the size class `class` serves, for a request of `size` bytes aligned to
/// `align`, or `None` if it takes the large path.
///
/// ```
/// assert_eq!(gort_alloc::size_class_of(100, 8), Some(112));
/// assert_eq!(gort_alloc::size_class_of(40_000, 8), None);
/// ```
pub fn size_class_of(size: usize, align: usize) -> Option<usize> {
    match class_of(size.max(1), align) {
        0 => None,
        class => Some(class_size(class)),
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn zero_sized_layouts_get_distinct_freeable_blocks() {
        let l = layout(0, 1);
        // SAFETY: each block is freed once with its layout.
        unsafe {
            let (a, b) = (GortAlloc.alloc(l), GortAlloc.alloc(l));
            assert!(!a.is_null() && !b.is_null() && a != b);
            GortAlloc.dealloc(a, l);
            GortAlloc.dealloc(b, l);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "exhaustive: minutes under miri")]
    fn every_alignment_is_honoured_on_both_paths() {
        for shift in 0..=21 {
            let align = 1 << shift;
            for size in [1, 24, 700, 5000, 33_000, 200_000] {
                let l = layout(size, align);
                // SAFETY: freed once with its layout.
                unsafe {
                    let block = GortAlloc.alloc(l);
                    assert_eq!(block as usize % align, 0, "size {size} align {align}");
                    block.write_bytes(1, size);
                    GortAlloc.dealloc(block, l);
                }
            }
        }
    }

    #[test]
    fn sizes_beyond_the_address_space_return_null() {
        let l = layout(isize::MAX as usize - PAGE_SIZE * 2, PAGE_SIZE);
        // SAFETY: a valid layout; the allocator must refuse it.
        unsafe {
            assert!(GortAlloc.alloc(l).is_null());
            assert!(GortAlloc.alloc_zeroed(l).is_null());
        }
        let small = layout(64, 8);
        // SAFETY: a live block; growing it past the address space must fail and keep it.
        unsafe {
            let block = GortAlloc.alloc(small);
            assert!(
                GortAlloc
                    .realloc(block, small, isize::MAX as usize / 2)
                    .is_null()
            );
            GortAlloc.dealloc(block, small);
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_even_on_dirty_memory() {
        // Under miri, fewer and smaller blocks: it checks every byte it reads.
        let (sizes, count) = if cfg!(miri) {
            ([16, 3000, 40_000], 3)
        } else {
            ([16, 3000, 100_000], 50)
        };
        for size in sizes {
            let l = layout(size, 8);
            // SAFETY: blocks freed once with their layout.
            unsafe {
                let dirty: Vec<_> = (0..count).map(|_| GortAlloc.alloc(l)).collect();
                for &block in &dirty {
                    block.write_bytes(0xEE, size);
                }
                for &block in &dirty {
                    GortAlloc.dealloc(block, l);
                }
                for _ in 0..count {
                    let block = GortAlloc.alloc_zeroed(l);
                    assert!((0..size).all(|i| *block.add(i) == 0), "size {size}");
                    GortAlloc.dealloc(block, l);
                }
            }
        }
    }

    #[test]
    fn realloc_stays_in_place_within_a_slot_and_grows_large_blocks_in_place() {
        let l = layout(100, 8); // class of 112 bytes
        // SAFETY: each block is live when reallocated and freed once.
        unsafe {
            let block = GortAlloc.alloc(l);
            assert_eq!(GortAlloc.realloc(block, l, 112), block);
            let moved = GortAlloc.realloc(block, layout(112, 8), 113);
            assert_ne!(moved, block);
            GortAlloc.dealloc(moved, layout(113, 8));

            let big = layout(64 << 10, 8);
            let block = GortAlloc.alloc(big);
            block.write_bytes(7, big.size());
            // The page heap carves front to back, so the pages after a fresh large block are
            // usually free; growing may still move if another test took them.
            let grown = GortAlloc.realloc(block, big, 256 << 10);
            assert!((0..big.size()).all(|i| *grown.add(i) == 7));
            let shrunk = GortAlloc.realloc(grown, layout(256 << 10, 8), 40 << 10);
            assert_eq!(shrunk, grown, "a large block shrinks in place");
            GortAlloc.dealloc(shrunk, layout(40 << 10, 8));
        }
    }

    #[test]
    fn objects_freed_by_other_threads_are_reused_by_the_owner() {
        let l = layout(48, 8);
        let objects = crate::sizeclass::CLASSES[class_of(48, 8)].objects as usize;
        // SAFETY: every block is freed exactly once (by the other thread) with its layout.
        let first: Vec<usize> = (0..objects * 3)
            .map(|_| unsafe { GortAlloc.alloc(l) } as usize)
            .collect();
        let handed = first.clone();
        std::thread::spawn(move || {
            for block in handed {
                // SAFETY: as above.
                unsafe { GortAlloc.dealloc(block as *mut u8, l) };
            }
        })
        .join()
        .unwrap();
        let first: BTreeSet<usize> = first.into_iter().collect();
        // SAFETY: as above; freed again below.
        let second: Vec<usize> = (0..objects * 3)
            .map(|_| unsafe { GortAlloc.alloc(l) } as usize)
            .collect();
        let reused = second.iter().filter(|b| first.contains(b)).count();
        assert!(
            reused >= objects * 2,
            "only {reused} of {} reused",
            objects * 3
        );
        for block in second {
            // SAFETY: as above.
            unsafe { GortAlloc.dealloc(block as *mut u8, l) };
        }
    }

    #[test]
    fn a_thread_reuses_its_freed_large_spans() {
        let (big, smaller) = (layout(100 << 10, 8), layout(95 << 10, 8));
        // SAFETY: each block is freed once with its layout.
        unsafe {
            let block = GortAlloc.alloc(big);
            block.write_bytes(0xEE, big.size());
            GortAlloc.dealloc(block, big);
            let again = GortAlloc.alloc_zeroed(smaller);
            assert_eq!(
                again, block,
                "the kept span, within an eighth of the length"
            );
            assert!(
                (0..smaller.size()).all(|i| *again.add(i) == 0),
                "a kept span is dirty"
            );
            GortAlloc.dealloc(again, smaller);
        }
    }

    #[test]
    fn an_exiting_thread_hands_its_spans_back() {
        // 6600 bytes: the 6656-byte class, which no other test here uses.
        let l = layout(6600, 8);
        let class = class_of(6600, 8);
        let blocks: Vec<usize> = std::thread::spawn(move || {
            // SAFETY: freed below with the same layout.
            (0..20)
                .map(|_| unsafe { GortAlloc.alloc(l) } as usize)
                .collect()
        })
        .join()
        .unwrap();
        for &block in &blocks {
            let span = pagemap::lookup(block);
            // SAFETY: the block is live, so its span is in use.
            let owner = unsafe { (*span).owner.load(Relaxed) };
            assert_eq!(owner, 0, "span still owned");
        }
        let global = global().unwrap();
        let central = &global.central[class];
        let per_span = crate::sizeclass::CLASSES[class].objects as usize;
        assert_ne!(20 % per_span, 0, "the last span is partial");
        assert_eq!(
            central.lens(),
            (1, 20 / per_span),
            "the full spans and the partial last one"
        );
        for block in blocks {
            // SAFETY: as above.
            unsafe { GortAlloc.dealloc(block as *mut u8, l) };
        }
        assert_eq!(
            central.lens(),
            (20 / per_span + 1, 0),
            "each full span rescued by its first free"
        );
        central.reclaim(&global.heap);
        assert_eq!(
            central.lens(),
            (0, 0),
            "empty spans went back to the page heap"
        );
    }
}
