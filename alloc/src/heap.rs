//! The page heap: runs of free pages, handed out as spans and coalesced when they come back
//! (Go's `mheap`; the free lists by length are TCMalloc's `PageHeap`, which Go used before its
//! radix-tree page allocator of 1.14).
//!
//! # Allocation
//!
//! Free spans sit on 129 lists: list `n < 128` holds spans of exactly `n` pages, list 128 all
//! longer ones. A request for `n` pages takes the first span on the first non-empty list from
//! `n` up; on the last list it takes the best fit. If nothing fits, the heap grows by whole
//! arenas ([`crate::arena::grow`]) and retries. The span found is split: the pages asked for
//! are handed out, and the rest goes back on a free list. A request aligned to more than a page
//! looks for `n + align - 1` pages and gives back the misaligned head as well.
//!
//! # Freeing and coalescing
//!
//! Invariant: no two adjacent free spans are both released or both unreleased. A span coming
//! back looks up the page just before it and the page just after it in the page map; a free
//! neighbour in the same released state is unlinked and merged in, so the invariant holds
//! again. This is why a free span keeps its first and last page in the page map (`pagemap.rs`).
//! Keeping released and unreleased runs apart (as gperftools' TCMalloc does) keeps the
//! released-page count exact; when no run is long enough but the free pages would add up,
//! the heap releases every free span, which lets all of them merge, before it grows.
//!
//! # Scavenging
//!
//! Memory that has stayed free for a while goes back to the OS (Go's scavenger, TCMalloc's
//! `ReleaseAtLeastNPages`, mimalloc's purge delay). Time is cut into epochs of
//! [`EPOCH_MILLIS`]; each free span remembers the epoch it was freed in. On the first free of a
//! new epoch, spans that have been free for [`SCAVENGE_AGE`] epochs or longer (a second) are
//! released with `MADV_DONTNEED`, longest first: they stay mapped, cost no memory, and read as
//! zeroes, so their pages need no clearing when handed out again (`needzero` is false). It
//! keeps unreleased as many free pages as a return to the heap's peak use of the last second
//! would take (`retain.rs`). Fresh arenas count as released until first used, as in Go.
//! [`Heap::release_all`] releases everything free at once (Go's `debug.FreeOSMemory`).
//!
//! The two rules keep a program whose use goes up and down from giving pages back at every
//! fall and faulting them in again, zeroed by the kernel, at every rise: the age decides which
//! runs may go (those the program has not touched for a second), the peak how much (never what
//! the last second's peak needs, wherever the heap happened to place it). With an age of 100
//! ms and no peak, the allocator bench's 4-thread mixed workload, whose turns come about 250
//! ms apart between the other allocators' turns, refaulted 8 to 10 MiB per turn: a tenth of
//! its time, and its whole gap to mimalloc.
//!
//! The age is measured in time, not in frees: gort's first scavenger advanced its epoch every
//! 256 frees, which under a fast churn of large objects released pages a fraction of a
//! millisecond after they were freed, and the next allocation faulted them back in, zeroed by
//! the kernel (a fifth of the time of such a churn). Reading the clock costs one read of the
//! coarse monotonic clock per free of a span, under a lock that is already taken. The scavenger runs only on frees: a
//! heap that sees none keeps its free pages until one comes or `release_memory` is called.
//!
//! All of it runs under one lock; the thread caches and central lists keep it off the fast
//! path. Page counts for [`crate::stats()`] are mirrored into atomics so reading them takes no
//! lock.

use crate::arena::{self, os};
use crate::fixalloc::FixAlloc;
use crate::loom::{Mutex, lock};
use crate::pagemap;
use crate::retain::PeakWindow;
use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{Extent, Span, SpanList, State, pages_to_bytes};
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

/// Free lists by length; the last holds every span of `FREE_LISTS - 1` pages or more.
const FREE_LISTS: usize = 129;
/// Milliseconds per scavenger epoch.
const EPOCH_MILLIS: u64 = 50;
/// Epochs a span must stay free before the scavenger releases it: a second.
const SCAVENGE_AGE: u64 = 20;

/// The current scavenger epoch: [`EPOCH_MILLIS`] periods of the monotonic clock. On Linux the
/// coarse clock (a few milliseconds' resolution, read from the vDSO without touching the
/// hardware clock) is precise enough and several times cheaper than `Instant::now`.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) fn epoch_now() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clock exists on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    let millis = now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000;
    millis / EPOCH_MILLIS
}

/// The current scavenger epoch: [`EPOCH_MILLIS`] periods since the process first asked.
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) fn epoch_now() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let millis = START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis();
    (millis / u128::from(EPOCH_MILLIS)) as u64
}

/// The page heap (see the module docs).
#[derive(Debug)]
pub(crate) struct Heap {
    inner: Mutex<PageHeap>,
    /// Bytes reserved from the OS.
    pub(crate) mapped: AtomicUsize,
    /// Bytes of free spans given back to the OS (fresh arenas included).
    pub(crate) released: AtomicUsize,
    /// Bytes in spans in use (small and large).
    pub(crate) in_use: AtomicUsize,
}

#[derive(Debug)]
struct PageHeap {
    /// This heap's number, stamped on its span records (`Extent::heap`).
    id: u32,
    free: [SpanList; FREE_LISTS],
    records: FixAlloc<Span>,
    /// Peak use over the last second; its epoch is the one of the last free, when the
    /// scavenger last ran.
    window: PeakWindow,
    /// Reads the current epoch ([`epoch_now`]; tests drive their own).
    clock: fn() -> u64,
    released_pages: usize,
    /// Pages mapped, and pages in spans in use; the rest of the mapped pages are free.
    mapped_pages: usize,
    in_use_pages: usize,
}

/// Numbers the heaps of the process (one in a program; tests build more).
static NEXT_HEAP_ID: AtomicU32 = AtomicU32::new(1);

fn list_index(pages: usize) -> usize {
    pages.min(FREE_LISTS - 1)
}

impl Heap {
    /// An empty heap; it maps its first arena on first use.
    pub(crate) fn new() -> Heap {
        Heap::with_clock(epoch_now)
    }

    /// An empty heap whose scavenger reads the epoch from `clock`.
    fn with_clock(clock: fn() -> u64) -> Heap {
        Heap {
            inner: Mutex::new(PageHeap {
                id: NEXT_HEAP_ID.fetch_add(1, Relaxed),
                free: [const { SpanList::new() }; FREE_LISTS],
                records: FixAlloc::new(),
                window: PeakWindow::new(clock()),
                clock,
                released_pages: 0,
                mapped_pages: 0,
                in_use_pages: 0,
            }),
            mapped: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
        }
    }

    /// Allocates `pages` pages starting on a multiple of `align` bytes (a power of two; anything
    /// up to a page means page-aligned), carved for size class `class` (0: one large object),
    /// and for the collector if `gc`. Null if the OS refuses memory or the size overflows.
    ///
    /// The span is initialised under the heap lock, so a neighbour being freed at the same
    /// time never sees it half made.
    pub(crate) fn alloc(&self, pages: usize, align: usize, class: usize, gc: bool) -> *mut Span {
        debug_assert!(pages > 0 && align.is_power_of_two());
        let align_pages = (align >> PAGE_SHIFT).max(1);
        let Some(need) = pages.checked_add(align_pages - 1) else {
            return ptr::null_mut();
        };
        if need > isize::MAX as usize >> PAGE_SHIFT {
            return ptr::null_mut();
        }
        let mut heap = lock(&self.inner);
        let mut span = heap.find(need);
        if span.is_null() && heap.free_pages() >= need {
            // Released and unreleased free runs do not merge; releasing everything lets them
            // merge before the heap grows for want of a long enough run. Only worth it when
            // the free pages could add up to the request.
            heap.scavenge(self, u64::MAX, 0);
            span = heap.find(need);
        }
        if span.is_null() {
            if !heap.grow(self, need) {
                return ptr::null_mut();
            }
            span = heap.find(need);
        }
        if span.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `find` unlinked the span; under the lock it is ours alone.
        let span = unsafe { heap.carve(self, span, pages, align_pages) };
        if !span.is_null() {
            // SAFETY: the span is ours until returned, and we hold the lock.
            unsafe {
                if class == 0 {
                    (*span).init_large(gc);
                } else {
                    (*span).init_small(class, gc);
                }
                heap.add_in_use(self, (*span).extent().pages);
            }
        }
        span
    }

    /// Takes back a span in use (small or large) whose objects are all free.
    ///
    /// # Safety
    ///
    /// `span` came from [`Heap::alloc`], is on no list, has no owner and holds no live object;
    /// no thread will touch it again.
    pub(crate) unsafe fn free(&self, span: *mut Span) {
        let mut heap = lock(&self.inner);
        // SAFETY: the caller gives the span up; under the lock we own it.
        let pages = unsafe { (*span).extent().pages };
        heap.sub_in_use(self, pages);
        let now = (heap.clock)();
        if now > heap.window.epoch() {
            let in_use = heap.in_use_pages;
            heap.window.advance(now, in_use);
            if let Some(horizon) = now.checked_sub(SCAVENGE_AGE) {
                let keep = heap.window.keep(in_use);
                heap.scavenge(self, horizon, keep);
            }
        }
        // SAFETY: as above.
        unsafe {
            let extent = (*span).extent_mut();
            extent.state = State::Free;
            extent.class = 0;
            extent.needzero = true;
            extent.released = false;
            extent.gc = false;
            heap.insert_coalesced(span);
        }
    }

    /// Resizes a large span in place to `pages` pages: shrinking gives the tail back, growing
    /// takes the pages from the free span right after it. False if that span is not free or too
    /// short (or no record could be had for the tail).
    ///
    /// # Safety
    ///
    /// `span` is a large span in use that the caller alone holds.
    pub(crate) unsafe fn resize(&self, span: *mut Span, pages: usize) -> bool {
        let mut heap = lock(&self.inner);
        // SAFETY: the caller holds the span alone, and we hold the lock.
        let (start, old) = unsafe { ((*span).start(), (*span).extent().pages) };
        let end = start + pages_to_bytes(old);
        if pages < old {
            let Some(rest) = heap.new_record(start + pages_to_bytes(pages), old - pages) else {
                return false;
            };
            heap.sub_in_use(self, old - pages);
            // SAFETY: the span is the caller's, the new record ours.
            unsafe {
                let e = (*span).extent_mut();
                e.pages = pages;
                e.elem_size = pages_to_bytes(pages);
                heap.insert_coalesced(rest);
            }
            return true;
        }
        let extra = pages - old;
        if extra == 0 {
            return true;
        }
        let after = heap.free_neighbour(end, |e| e.start == end && e.pages >= extra);
        if after.is_null() {
            return false;
        }
        // SAFETY: `after` is free and on our lists; `span` is the caller's.
        unsafe {
            let after_pages = (*after).extent().pages;
            heap.free[list_index(after_pages)].remove(after);
            let was_released = (*after).extent().released;
            heap.mark_released(self, after, false);
            if after_pages > extra {
                let e = (*after).extent_mut();
                e.start += pages_to_bytes(extra);
                e.pages -= extra;
                if was_released {
                    heap.mark_released(self, after, true);
                }
                heap.insert_free(after);
            } else {
                heap.records.free(after);
            }
            pagemap::set(end, extra, span);
            let e = (*span).extent_mut();
            e.pages = pages;
            e.elem_size = pages_to_bytes(pages);
        }
        heap.add_in_use(self, extra);
        true
    }

    /// Gives every free page back to the OS now.
    pub(crate) fn release_all(&self) {
        let mut heap = lock(&self.inner);
        heap.scavenge(self, u64::MAX, 0);
    }
}

impl PageHeap {
    fn add_in_use(&mut self, heap: &Heap, pages: usize) {
        self.in_use_pages += pages;
        heap.in_use
            .store(pages_to_bytes(self.in_use_pages), Relaxed);
        self.window.note(self.in_use_pages);
    }

    fn sub_in_use(&mut self, heap: &Heap, pages: usize) {
        self.in_use_pages -= pages;
        heap.in_use
            .store(pages_to_bytes(self.in_use_pages), Relaxed);
    }

    /// Unlinks and returns a free span of at least `pages` pages, or null.
    fn find(&mut self, pages: usize) -> *mut Span {
        for index in list_index(pages)..FREE_LISTS - 1 {
            let span = self.free[index].pop();
            if !span.is_null() {
                return span;
            }
        }
        let last = &mut self.free[FREE_LISTS - 1];
        let mut best: *mut Span = ptr::null_mut();
        let mut best_pages = usize::MAX;
        let mut span = last.first();
        while !span.is_null() {
            // SAFETY: spans on the free lists are the heap's, and we hold its lock.
            let span_pages = unsafe { (*span).extent().pages };
            if span_pages >= pages && span_pages < best_pages {
                best = span;
                best_pages = span_pages;
            }
            // SAFETY: `span` is on `last`, which we own under the lock.
            span = unsafe { SpanList::next(span) };
        }
        if !best.is_null() {
            // SAFETY: `best` is on `last`.
            unsafe { last.remove(best) };
        }
        best
    }

    /// Pages on the free lists (a walk: only the slow path before growing asks).
    fn free_pages(&self) -> usize {
        let mut pages = 0;
        for list in &self.free {
            let mut span = list.first();
            while !span.is_null() {
                // SAFETY: spans on our lists are ours under the lock.
                unsafe {
                    pages += (*span).extent().pages;
                    span = SpanList::next(span);
                }
            }
        }
        pages
    }

    /// Maps arenas for at least `pages` pages and puts them on the free lists.
    fn grow(&mut self, heap: &Heap, pages: usize) -> bool {
        let Some((base, got)) = arena::grow(pages) else {
            return false;
        };
        let Some(span) = self.new_record(base, got) else {
            return false;
        };
        self.mapped_pages += got;
        heap.mapped
            .store(pages_to_bytes(self.mapped_pages), Relaxed);
        // SAFETY: the record is fresh and ours; fresh arena memory counts as released.
        unsafe {
            (*span).extent_mut().needzero = false;
            self.mark_released(heap, span, true);
            self.insert_coalesced(span);
        }
        true
    }

    /// A new free record for `[start, start + pages)`.
    fn new_record(&mut self, start: usize, pages: usize) -> Option<*mut Span> {
        let slot = self.records.alloc()?;
        // SAFETY: the slot is uninitialised memory for one `Span`, ours alone.
        unsafe { slot.write(Span::new(self.id, start, pages, true)) };
        Some(slot)
    }

    /// Sets a free span's `released` flag, keeping the released-page count in step.
    ///
    /// # Safety
    ///
    /// `span` is free and ours (unlinked, or on our lists).
    unsafe fn mark_released(&mut self, heap: &Heap, span: *mut Span, released: bool) {
        // SAFETY: per the contract.
        let extent = unsafe { (*span).extent_mut() };
        if extent.released != released {
            if released {
                self.released_pages += extent.pages;
            } else {
                self.released_pages -= extent.pages;
            }
            extent.released = released;
            heap.released
                .store(pages_to_bytes(self.released_pages), Relaxed);
        }
    }

    /// Cuts `pages` pages aligned to `align_pages` out of the unlinked free span `span`; puts the
    /// rest back. Returns the span for the cut (null if no record could be had).
    ///
    /// # Safety
    ///
    /// `span` is free, unlinked, and at least `pages + align_pages - 1` pages long.
    unsafe fn carve(
        &mut self,
        heap: &Heap,
        span: *mut Span,
        pages: usize,
        align_pages: usize,
    ) -> *mut Span {
        // SAFETY: per the contract the span is ours.
        let (start, total, needzero, released) = unsafe {
            let e = (*span).extent();
            (e.start, e.pages, e.needzero, e.released)
        };
        let aligned = start.next_multiple_of(align_pages << PAGE_SHIFT);
        let head = (aligned - start) >> PAGE_SHIFT;
        let tail = total - head - pages;
        let mut cut = span;
        if head > 0 {
            let Some(rest) = self.new_record(aligned, total - head) else {
                // SAFETY: the span is ours; put it back whole.
                unsafe { self.insert_free(span) };
                return ptr::null_mut();
            };
            // SAFETY: `span` and `rest` are ours; the head keeps `span`'s record.
            unsafe {
                let e = (*span).extent_mut();
                e.pages = head;
                (*rest).extent_mut().needzero = needzero;
                (*rest).extent_mut().released = released;
                self.insert_free(span);
            }
            cut = rest;
        }
        // Without a record for the tail, it is handed out with the cut and comes back with it.
        if tail > 0
            && let Some(rest) = self.new_record(aligned + pages_to_bytes(pages), tail)
        {
            // SAFETY: `cut` and the new record are ours.
            unsafe {
                (*cut).extent_mut().pages = pages;
                (*rest).extent_mut().needzero = needzero;
                (*rest).extent_mut().released = released;
                self.insert_free(rest);
            }
        }
        // SAFETY: `cut` is ours; its pages become in use.
        unsafe {
            let cut_pages = (*cut).extent().pages;
            if released {
                self.released_pages -= cut_pages;
                heap.released
                    .store(pages_to_bytes(self.released_pages), Relaxed);
            }
            let e = (*cut).extent_mut();
            e.released = false;
            (*cut).owner.store(0, Relaxed);
            pagemap::set(e.start, e.pages, cut);
        }
        cut
    }

    /// Puts a free span on its list and records its end pages; its neighbours must not be free.
    ///
    /// # Safety
    ///
    /// `span` is free, unlinked and ours.
    unsafe fn insert_free(&mut self, span: *mut Span) {
        // SAFETY: per the contract.
        let (start, pages) = unsafe {
            let e = (*span).extent_mut();
            e.state = State::Free;
            e.free_epoch = self.window.epoch();
            (e.start, e.pages)
        };
        pagemap::set(start, 1, span);
        pagemap::set(start + pages_to_bytes(pages - 1), 1, span);
        // SAFETY: unlinked per the contract.
        unsafe { self.free[list_index(pages)].push(span) };
    }

    /// Merges `span` with its free neighbours of the same released state, then inserts it.
    ///
    /// # Safety
    ///
    /// `span` is free, unlinked and ours, and counted in the released pages if released.
    unsafe fn insert_coalesced(&mut self, span: *mut Span) {
        // SAFETY: per the contract.
        let (start, pages, released) = unsafe {
            let e = (*span).extent();
            (e.start, e.pages, e.released)
        };
        let end = start + pages_to_bytes(pages);
        let before = self.free_neighbour(start - 1, |e| {
            e.start + pages_to_bytes(e.pages) == start && e.released == released
        });
        if !before.is_null() {
            // SAFETY: `before` is free, on our lists, adjacent and alike; `span` is ours.
            unsafe { self.absorb(span, before) };
        }
        let after = self.free_neighbour(end, |e| e.start == end && e.released == released);
        if !after.is_null() {
            // SAFETY: as above.
            unsafe { self.absorb(span, after) };
        }
        // SAFETY: per the contract.
        unsafe { self.insert_free(span) };
    }

    /// The free span of this heap whose page map entry covers `addr`, if `fits` accepts its
    /// extent; null otherwise. `addr` is the page just before or just after a span the caller
    /// holds. The page map is process-wide, so the page may be another heap's: the record's
    /// heap number tells (a test that built two heaps whose arenas the OS placed end to end
    /// merged one heap's free span into the other's lists).
    fn free_neighbour(&self, addr: usize, fits: impl Fn(&Extent) -> bool) -> *mut Span {
        let other = pagemap::lookup(addr);
        if other.is_null() {
            return other;
        }
        // SAFETY: records are never unmapped, and `&self` means the heap lock is held, so no
        // one writes an extent meanwhile. The page next to a span maps to a current record
        // (module docs), which `fits` checks against the span anyway.
        let e = unsafe { (*other).extent() };
        if e.heap == self.id && e.state == State::Free && fits(e) {
            other
        } else {
            ptr::null_mut()
        }
    }

    /// Unlinks the free span `other` and merges it into `span`, freeing its record.
    ///
    /// # Safety
    ///
    /// `other` is free, on our lists, adjacent to `span` (which is ours) and released exactly
    /// when `span` is, so the released-page count needs no change.
    unsafe fn absorb(&mut self, span: *mut Span, other: *mut Span) {
        // SAFETY: per the contract.
        unsafe {
            let o = (*other).extent();
            let (o_start, o_pages, o_needzero) = (o.start, o.pages, o.needzero);
            self.free[list_index(o_pages)].remove(other);
            let e = (*span).extent_mut();
            e.start = e.start.min(o_start);
            e.pages += o_pages;
            e.needzero |= o_needzero;
            self.records.free(other);
        }
    }

    /// Releases unreleased free spans freed at or before epoch `horizon`, the longest first,
    /// until at most `keep` unreleased free pages are left (or none of those spans), and merges
    /// each with its released neighbours.
    fn scavenge(&mut self, heap: &Heap, horizon: u64, keep: usize) {
        let free = self.mapped_pages - self.in_use_pages;
        debug_assert!(free >= self.released_pages);
        let mut excess = (free - self.released_pages).saturating_sub(keep);
        let mut chosen = SpanList::new();
        for list in self.free.iter_mut().rev() {
            if excess == 0 {
                break;
            }
            // SAFETY: spans on our lists are ours under the lock; `chosen` is ours.
            unsafe {
                list.move_where(&mut chosen, |span| {
                    let e = (*span).extent();
                    let pick = excess > 0 && !e.released && e.free_epoch <= horizon;
                    if pick {
                        excess = excess.saturating_sub(e.pages);
                    }
                    pick
                })
            };
        }
        loop {
            let span = chosen.pop();
            if span.is_null() {
                return;
            }
            // SAFETY: unlinked above, still ours; its pages hold nothing.
            unsafe {
                let e = (*span).extent_mut();
                os::release(e.start, pages_to_bytes(e.pages));
                e.needzero = false;
                self.mark_released(heap, span, true);
                self.insert_coalesced(span);
            }
        }
    }
}

/// Pages needed for `bytes` bytes, or `None` on overflow.
pub(crate) fn pages_for(bytes: usize) -> Option<usize> {
    Some(bytes.checked_add(PAGE_SIZE - 1)? >> PAGE_SHIFT)
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use crate::arena::ARENA_SIZE;
    use std::sync::atomic::AtomicU64;

    const PAGES_PER_ARENA: usize = ARENA_SIZE >> PAGE_SHIFT;

    fn extent(span: *mut Span) -> (usize, usize) {
        // SAFETY: the tests only inspect spans they hold.
        unsafe { ((*span).start(), (*span).extent().pages) }
    }

    #[test]
    fn freed_neighbours_coalesce_back_into_one_run() {
        let heap = Heap::new();
        let spans: Vec<_> = (0..4).map(|_| heap.alloc(3, PAGE_SIZE, 0, false)).collect();
        for pair in spans.windows(2) {
            let (a, b) = (extent(pair[0]), extent(pair[1]));
            assert_eq!(a.0 + pages_to_bytes(3), b.0, "carved front to back");
        }
        let first = extent(spans[0]).0;
        // SAFETY: the spans came from this heap and are dropped here.
        unsafe {
            heap.free(spans[1]);
            heap.free(spans[3]);
            heap.free(spans[0]);
            heap.free(spans[2]);
        }
        assert_eq!(heap.in_use.load(Relaxed), 0);
        let whole = heap.alloc(PAGES_PER_ARENA, PAGE_SIZE, 0, false);
        assert_eq!(extent(whole), (first, PAGES_PER_ARENA), "one run again");
        assert_eq!(heap.mapped.load(Relaxed), pages_to_bytes(PAGES_PER_ARENA));
    }

    #[test]
    fn aligned_runs_start_on_their_alignment() {
        let heap = Heap::new();
        let _skew = heap.alloc(1, PAGE_SIZE, 0, false);
        for align in [2 * PAGE_SIZE, 16 * PAGE_SIZE, 1 << 20] {
            let span = heap.alloc(2, align, 0, false);
            let (start, pages) = extent(span);
            assert_eq!(start % align, 0);
            assert_eq!(pages, 2);
            assert_eq!(pagemap::lookup(start + PAGE_SIZE + 5), span);
        }
    }

    #[test]
    fn the_heap_grows_by_arenas_and_huge_requests_fail() {
        let heap = Heap::new();
        let big = heap.alloc(PAGES_PER_ARENA + 1, PAGE_SIZE, 0, false);
        assert!(!big.is_null());
        assert_eq!(
            heap.mapped.load(Relaxed),
            pages_to_bytes(2 * PAGES_PER_ARENA)
        );
        assert!(heap.alloc(usize::MAX / 2, PAGE_SIZE, 0, false).is_null());
    }

    #[test]
    fn spans_free_for_a_second_are_released_by_the_scavenger() {
        static NOW: AtomicU64 = AtomicU64::new(10);
        let heap = Heap::with_clock(|| NOW.load(Relaxed));
        let old = heap.alloc(4, PAGE_SIZE, 0, false);
        let _fence = heap.alloc(1, PAGE_SIZE, 0, false);
        let (start, _) = extent(old);
        // SAFETY: dropped here.
        unsafe { heap.free(old) };
        let record = pagemap::lookup(start);
        // SAFETY: a free record read on the test's only thread.
        let released = || unsafe { (*record).extent().released };
        let churn = || {
            // Longer than `old`, so the churn never carves it.
            let span = heap.alloc(8, PAGE_SIZE, 0, false);
            // SAFETY: dropped here.
            unsafe { heap.free(span) };
        };
        for _ in 0..1000 {
            churn();
        }
        assert!(!released(), "many frees within one epoch release nothing");
        for age in 1..SCAVENGE_AGE {
            NOW.store(10 + age, Relaxed);
            churn();
            assert!(!released(), "released too early, after {age} epochs");
        }
        NOW.store(10 + SCAVENGE_AGE, Relaxed);
        assert!(!released(), "the scavenger runs on a free");
        churn();
        assert!(released(), "long-free pages go back to the OS");
    }

    #[test]
    fn pages_used_within_the_last_second_stay_unreleased_until_it_passes() {
        use crate::retain::WINDOW;
        static NOW: AtomicU64 = AtomicU64::new(10);
        let heap = Heap::with_clock(|| NOW.load(Relaxed));
        // One-page spans freed one per epoch, front first (never next to `big`): each free
        // reads the clock and runs the scavenger.
        let ticks: Vec<_> = (0..WINDOW + 2)
            .map(|_| heap.alloc(1, PAGE_SIZE, 0, false))
            .collect();
        let big = heap.alloc(64, PAGE_SIZE, 0, false);
        // SAFETY: dropped here: use falls from its peak by 64 pages.
        unsafe { heap.free(big) };
        let before = heap.released.load(Relaxed);
        for (age, tick) in (1..WINDOW as u64).zip(&ticks) {
            NOW.store(10 + age, Relaxed);
            // SAFETY: dropped here.
            unsafe { heap.free(*tick) };
            assert_eq!(
                heap.released.load(Relaxed),
                before,
                "released {age} epochs after the peak, within the window"
            );
        }
        NOW.store(10 + WINDOW as u64, Relaxed);
        // SAFETY: dropped here.
        unsafe { heap.free(ticks[WINDOW]) };
        assert!(
            heap.released.load(Relaxed) >= before + pages_to_bytes(64),
            "once the peak has left the window, the pages beyond today's use go back"
        );
    }

    #[test]
    fn release_all_returns_free_pages_and_they_read_as_zero() {
        let heap = Heap::new();
        let span = heap.alloc(4, PAGE_SIZE, 0, false);
        let (start, _) = extent(span);
        // SAFETY: the span's pages are ours.
        unsafe { (start as *mut u8).write_bytes(0x5A, pages_to_bytes(4)) };
        let mapped = heap.mapped.load(Relaxed);
        assert_eq!(heap.released.load(Relaxed), mapped - pages_to_bytes(4));
        // SAFETY: dropped here.
        unsafe { heap.free(span) };
        assert_eq!(
            heap.released.load(Relaxed),
            mapped - pages_to_bytes(4),
            "an unreleased run stays apart from released ones"
        );
        heap.release_all();
        assert_eq!(heap.released.load(Relaxed), mapped);
        let again = heap.alloc(4, PAGE_SIZE, 0, false);
        assert_eq!(extent(again).0, start);
        // SAFETY: ours again.
        unsafe {
            assert!(!(*again).extent().needzero);
            assert!((0..pages_to_bytes(4)).all(|i| *(start as *const u8).add(i) == 0));
        }
    }
}
