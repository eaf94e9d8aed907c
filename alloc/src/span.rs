//! Spans: runs of pages, and the objects of one size class inside them (Go's `mspan`).
//!
//! A span is `pages` contiguous 8 KiB pages from `start`. It is in one of three states:
//!
//! - [`State::Free`]: owned by the page heap, on one of its free lists.
//! - [`State::Small`]: carved into `objects` objects of `elem_size` bytes (its size class).
//!   Object `i` lives at `start + i * elem_size`.
//! - [`State::Large`]: one object filling the span, for a request above 32 KiB or with an
//!   alignment no class gives.
//!
//! # Allocating: a free list, then the untouched tail
//!
//! A small span hands out objects from two sources (mimalloc's page free list; TCMalloc's
//! per-class lists, kept per span):
//!
//! - `free`, a list of free objects threaded through the objects themselves: each free object's
//!   first word holds the address of the next (0 ends the list). Allocating pops the head (two
//!   loads and a store); a local free pushes the object; applying remote frees pushes each.
//! - `bump..end`, the objects never handed out since the span was carved, in address order.
//!   When the list is empty, allocation takes the next one. They are not threaded at carving
//!   time, so a fresh span's pages are touched only as objects are handed out, and an object
//!   from the tail is known to be zero when the span's pages were (`needzero` is false).
//!
//! `allocated` counts objects handed out and not freed to the holder (a remote free counts
//! as allocated until applied), so an empty or full span is seen without walking anything.
//!
//! # The bitmaps (collector spans)
//!
//! A span has two bitmaps of one bit per object (Go's `allocBits` and `gcmarkBits`):
//! `bitmaps[which]` holds the allocation bits (1 = allocated) and the other the mark bits.
//! Only the collector's spans ([`crate::gc`]) keep them: `GcSpace` sets an object's
//! allocation bit when it hands the object out ([`Span::record_allocation`]), and sweeping
//! swaps the two roles, so the marks become the allocation bits and the old allocation bits,
//! cleared, become the next cycle's marks. A collector span has no free list: it hands out
//! the objects whose allocation bits are clear, in address order from a cursor
//! ([`Span::alloc_gc_object`], Go's `nextFreeIndex`), so a sweep never writes to the memory of
//! dead objects. Malloc spans never read or write their bitmaps. The bitmaps are atomics so that
//! markers may set mark bits while the space allocates.
//!
//! # Who may touch what
//!
//! - `extent` (the geometry, the state and the page heap's bookkeeping) is written only under
//!   the heap lock: while the span is free or being handed out, or when its one holder resizes
//!   a large span in place. Otherwise, while a span is in use, it is read-only, and anyone
//!   holding a pointer into the span may read it.
//! - `alloc` and the allocation bitmap belong to the span's holder: the thread cache that owns
//!   it (`owner` holds that cache's address; `owned.rs`), or the central list (under its lock)
//!   or the page heap that has it on a list, or the collector's [`crate::gc::GcSpace`].
//! - `links` belong to whichever list the span is on.
//! - `owner` and `remote` are atomics that any thread may read or push to; `which` (which
//!   bitmap holds the allocation bits) changes only when the holder sweeps, and markers read it.
//!
//! Spans live in memory the heap never returns, and are recycled through the heap's own
//! free list of span records, so a stale `*mut Span` always points at some span record.

use crate::loom::atomic::{AtomicUsize, Ordering::Relaxed};
use crate::remote::RemoteFree;
use crate::sizeclass::{CLASSES, PAGE_SHIFT, PAGE_SIZE};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Release};

/// Words per bitmap: the most objects a span holds is 1024 (8-byte objects in one page).
pub(crate) const BITMAP_WORDS: usize = 16;

/// What a span is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// On the page heap's free lists.
    Free,
    /// Objects of one size class.
    Small,
    /// One large object.
    Large,
}

/// The geometry and the page heap's bookkeeping (see "Who may touch what"). The fields the
/// fast paths read come first (see [`Span`]'s layout).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Extent {
    /// Size class, 0 for large and free spans.
    pub(crate) class: usize,
    /// Bytes per object (the whole span for a large one).
    pub(crate) elem_size: usize,
    /// Some page may hold non-zero bytes; false for fresh or released memory.
    pub(crate) needzero: bool,
    pub(crate) state: State,
    /// Free span whose pages were given back to the OS.
    pub(crate) released: bool,
    /// Owned by the collector's `GcSpace` rather than by the malloc path.
    pub(crate) gc: bool,
    /// The page heap whose record this is (`Heap::id`): the page map is process-wide, so a
    /// page next to a span may belong to another heap (tests build several), whose spans a
    /// heap must never merge.
    pub(crate) heap: u32,
    pub(crate) start: usize,
    pub(crate) pages: usize,
    /// Objects in the span.
    pub(crate) objects: usize,
    /// [`div_magic`] of `elem_size`: turns a division by it into a multiply (Go's
    /// `divMagic`).
    pub(crate) div_magic: u64,
    /// Free span: the heap's epoch when it was freed (see `heap.rs`, "Scavenging").
    pub(crate) free_epoch: u64,
}

/// The holder's allocation state (see "Allocating"), 40 bytes.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct AllocState {
    /// The first free object, 0 if none; each links to the next through its first word. In a
    /// collector span, the index from which to look for a clear allocation bit instead.
    free: usize,
    /// The next object never handed out since carving; `end` when there is none.
    bump: usize,
    /// The end of the last object.
    end: usize,
    /// Objects handed out and not freed to the holder (a span holds at most 1024).
    pub(crate) allocated: u32,
    /// The span is set aside on its owning cache's `full` list (`owned.rs`).
    pub(crate) on_full: bool,
    /// The scavenger epoch in which a look first found the span kept empty (`owned.rs`).
    pub(crate) kept_epoch: u64,
}

/// Links of the intrusive list the span is on.
#[derive(Debug)]
struct Links {
    next: *mut Span,
    prev: *mut Span,
}

/// A run of pages (see the module docs).
///
/// # Layout
///
/// Records start on a cache line, and their fields are grouped by who writes them, so that
/// no line is written by two threads on a fast path:
///
/// - The first line holds what every allocation and free reads and nobody writes while the
///   span is in use: `owner`, and the extent's `class`, `elem_size` and `needzero` (the rest
///   of the extent spills into the second line, with the bitmaps).
/// - `held`, on a line of its own: the allocation state and the list links, which the span's
///   holder writes at every allocation and local free.
/// - `remote`, on a line of its own: the remote-free list, which other threads push to.
///
/// With `owner` on the line the holder writes (an earlier layout, which put every field of
/// the fast paths on one line), each remote free pulled that line to the freeing core and the
/// owner's next allocation pulled it back: a producer/consumer pair with every free remote
/// (xmalloc) ran about 20% faster with the lines apart. A local free now touches two lines
/// of the record instead of one, both already in the owner's cache.
///
/// Records are carved back to back (`fixalloc.rs`), so their size is their stride in memory,
/// and it is an odd number of lines (nine): the records' first lines then fall into every set
/// of the L1 cache. At 512 bytes (the bitmaps before the holder's line), the first lines of
/// all records shared an eighth of the sets, and a single-thread churn through some 60
/// classes ran 15% slower.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Span {
    /// Address of the thread cache that owns the span, 0 if none.
    pub(crate) owner: AtomicUsize,
    extent: UnsafeCell<Extent>,
    held: Held,
    /// Objects freed by threads that do not own the span (on a line of its own).
    pub(crate) remote: RemoteFree,
    /// Which of the two bitmaps holds the allocation bits; flipped by a sweep, read by markers.
    which: AtomicU8,
    /// A collector span: some object allocated in it since it was carved has a destructor to
    /// run when it dies (set by the holder, read by the collector).
    pub(crate) finalizable: AtomicU8,
    bitmaps: [[AtomicU64; BITMAP_WORDS]; 2],
}

/// What the span's holder writes on its fast paths, on a cache line of its own.
#[derive(Debug)]
#[repr(C, align(64))]
struct Held {
    alloc: UnsafeCell<AllocState>,
    links: UnsafeCell<Links>,
}

// SAFETY: a span is shared between threads by design; every field is either atomic or guarded by
// the ownership rules in the module docs, which each access states at its unsafe block.
unsafe impl Sync for Span {}
// SAFETY: as above; a span holds no thread-bound data.
unsafe impl Send for Span {}

impl Span {
    /// A free span record of `pages` pages from `start`, kept by the page heap `heap`.
    pub(crate) fn new(heap: u32, start: usize, pages: usize, needzero: bool) -> Span {
        Span {
            extent: UnsafeCell::new(Extent {
                start,
                pages,
                state: State::Free,
                class: 0,
                elem_size: 0,
                objects: 0,
                div_magic: 0,
                needzero,
                released: false,
                free_epoch: 0,
                gc: false,
                heap,
            }),
            held: Held {
                alloc: UnsafeCell::new(AllocState {
                    free: 0,
                    allocated: 0,
                    bump: 0,
                    end: 0,
                    on_full: false,
                    kept_epoch: 0,
                }),
                links: UnsafeCell::new(Links {
                    next: ptr::null_mut(),
                    prev: ptr::null_mut(),
                }),
            },
            owner: AtomicUsize::new(0),
            remote: RemoteFree::new(),
            which: AtomicU8::new(0),
            finalizable: AtomicU8::new(0),
            bitmaps: [const { [const { AtomicU64::new(0) }; BITMAP_WORDS] }; 2],
        }
    }

    /// The span's geometry.
    ///
    /// # Safety
    ///
    /// The span is in use and the caller holds a pointer into it, or the caller holds the heap
    /// lock; no `extent_mut` borrow is live.
    #[inline]
    pub(crate) unsafe fn extent(&self) -> &Extent {
        // SAFETY: per the contract, nobody writes the extent meanwhile.
        unsafe { &*self.extent.get() }
    }

    /// The span's geometry, for writing.
    ///
    /// # Safety
    ///
    /// The caller holds the heap lock and the span is free or being handed out (nobody else can
    /// reach it), or the caller owns the span and changes only fields no one else reads.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn extent_mut(&self) -> &mut Extent {
        // SAFETY: per the contract, this is the only reference.
        unsafe { &mut *self.extent.get() }
    }

    /// The holder's allocation state.
    ///
    /// # Safety
    ///
    /// The caller is the span's holder (module docs) and holds no other borrow of it.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn alloc_state(&self) -> &mut AllocState {
        // SAFETY: per the contract, the holder is the only one touching it.
        unsafe { &mut *self.held.alloc.get() }
    }

    /// The first page's address.
    ///
    /// # Safety
    ///
    /// As for [`Span::extent`].
    #[inline]
    pub(crate) unsafe fn start(&self) -> usize {
        // SAFETY: forwarded contract.
        unsafe { self.extent().start }
    }

    /// Carves a span just taken from the page heap into objects of `class`, all free; a span
    /// for the collector (`gc`) also gets its bitmaps set up (malloc spans never use them).
    ///
    /// # Safety
    ///
    /// The caller holds the span exclusively (it is not on any list and has no owner) and holds
    /// the heap lock, under which a neighbour being freed may read this span's extent.
    pub(crate) unsafe fn init_small(&self, class: usize, gc: bool) {
        let c = CLASSES[class];
        // SAFETY: exclusive per the contract.
        let extent = unsafe { self.extent_mut() };
        debug_assert_eq!(extent.pages, c.pages as usize);
        extent.state = State::Small;
        extent.class = class;
        extent.elem_size = c.size as usize;
        extent.objects = c.objects as usize;
        extent.div_magic = div_magic(c.size);
        extent.gc = gc;
        // SAFETY: exclusive per the contract.
        let alloc = unsafe { self.alloc_state() };
        *alloc = AllocState {
            free: 0,
            allocated: 0,
            bump: extent.start,
            end: extent.start + extent.objects * extent.elem_size,
            on_full: false,
            kept_epoch: 0,
        };
        if gc {
            self.which.store(0, Relaxed);
            self.finalizable.store(0, Relaxed);
            for bitmap in &self.bitmaps {
                for word in bitmap {
                    word.store(0, Relaxed);
                }
            }
            self.set_tail_bits(0, extent.objects);
        }
    }

    /// Turns a span just taken from the page heap into one large object (with its bitmaps set
    /// up if it is the collector's).
    ///
    /// # Safety
    ///
    /// As for [`Span::init_small`].
    pub(crate) unsafe fn init_large(&self, gc: bool) {
        // SAFETY: exclusive per the contract.
        let extent = unsafe { self.extent_mut() };
        extent.state = State::Large;
        extent.class = 0;
        extent.elem_size = extent.pages << PAGE_SHIFT;
        extent.objects = 1;
        extent.div_magic = 0;
        extent.gc = gc;
        // SAFETY: exclusive per the contract.
        let alloc = unsafe { self.alloc_state() };
        let end = extent.start + extent.elem_size;
        *alloc = AllocState {
            free: 0,
            allocated: 1,
            bump: end,
            end,
            on_full: false,
            kept_epoch: 0,
        };
        if gc {
            self.which.store(0, Relaxed);
            self.finalizable.store(0, Relaxed);
            for bitmap in &self.bitmaps {
                bitmap[0].store(0, Relaxed);
            }
            self.bitmaps[0][0].store(1, Relaxed);
            self.set_tail_bits(0, 1);
        }
    }

    /// Sets the bits past the last object in `bitmaps[which]`.
    fn set_tail_bits(&self, which: usize, objects: usize) {
        let bitmap = &self.bitmaps[which];
        let (word, bit) = (objects / 64, objects % 64);
        if bit != 0 {
            bitmap[word].fetch_or(!0 << bit, Relaxed);
        }
        for rest in &bitmap[objects.div_ceil(64)..] {
            rest.store(!0, Relaxed);
        }
    }

    /// The allocation bitmap.
    ///
    /// # Safety
    ///
    /// The caller is the span's holder.
    #[inline]
    pub(crate) unsafe fn alloc_bits(&self) -> &[AtomicU64; BITMAP_WORDS] {
        &self.bitmaps[self.which.load(Relaxed) as usize]
    }

    /// The mark bitmap (the one that does not hold the allocation bits).
    ///
    /// # Safety
    ///
    /// The caller holds the span's `GcSpace`, or is marking while it cannot sweep.
    #[inline]
    pub(crate) unsafe fn mark_bits(&self) -> &[AtomicU64; BITMAP_WORDS] {
        &self.bitmaps[1 - self.which.load(Relaxed) as usize]
    }

    /// Allocates one object; returns its address and whether its bytes are known to be zero,
    /// or `None` if the span is full.
    ///
    /// # Safety
    ///
    /// The caller is the span's holder and the span is small.
    #[inline]
    pub(crate) unsafe fn alloc_object(&self) -> Option<(usize, bool)> {
        // SAFETY: the holder owns the allocation state.
        let alloc = unsafe { self.alloc_state() };
        let head = alloc.free;
        if head != 0 {
            // SAFETY: a free object of this span, holding the next one's address.
            alloc.free = unsafe { (head as *const usize).read() };
            alloc.allocated += 1;
            return Some((head, false));
        }
        if alloc.bump == alloc.end {
            return None;
        }
        // SAFETY: the span is in use, so its extent is stable.
        let extent = unsafe { self.extent() };
        let addr = alloc.bump;
        alloc.bump += extent.elem_size;
        alloc.allocated += 1;
        Some((addr, !extent.needzero))
    }

    /// Hands out the next free object of a collector span: the first clear bit of the
    /// allocation bitmap at or after the cursor (Go's `nextFreeIndex`). No free list is
    /// threaded through the objects, so a sweep never touches the memory of dead ones. The
    /// caller sets the bit ([`Span::record_allocation`]).
    ///
    /// # Safety
    ///
    /// The caller is the span's holder; the span is a collector span.
    #[inline]
    pub(crate) unsafe fn alloc_gc_object(&self) -> Option<usize> {
        // SAFETY: the holder owns the allocation state and the allocation bits.
        let (alloc, extent, bits) =
            unsafe { (self.alloc_state(), self.extent(), self.alloc_bits()) };
        let mut index = alloc.free;
        while index < extent.objects {
            let word = index / 64;
            // Bits past the last object are set (`set_tail_bits`): they never look free.
            let free = !bits[word].load(Relaxed) & (!0u64 << (index % 64));
            if free != 0 {
                let found = word * 64 + free.trailing_zeros() as usize;
                alloc.free = found + 1;
                alloc.allocated += 1;
                return Some(extent.start + found * extent.elem_size);
            }
            index = (word + 1) * 64;
        }
        alloc.free = extent.objects;
        None
    }

    /// The index of the object holding `addr`.
    ///
    /// # Safety
    ///
    /// `addr` lies inside this span, which is in use.
    #[inline]
    pub(crate) unsafe fn object_index(&self, addr: usize) -> usize {
        // SAFETY: in use, so the extent is stable.
        let extent = unsafe { self.extent() };
        let offset = (addr - extent.start) as u64;
        if extent.state == State::Large {
            0
        } else {
            ((offset * extent.div_magic) >> DIV_SHIFT) as usize
        }
    }

    /// Frees the object at `addr`, as the span's holder. Returns true if the holder must look
    /// at the span again: it is set aside as full (`on_full`), or it is now empty.
    ///
    /// # Safety
    ///
    /// The caller is the span's holder, the span is small, and `addr` is the start of one of
    /// its allocated objects.
    #[inline]
    pub(crate) unsafe fn free_local(&self, addr: usize) -> bool {
        // SAFETY: holder, per the contract.
        let alloc = unsafe { self.alloc_state() };
        debug_assert!(alloc.allocated > 0, "free into an empty span: {addr:#x}");
        // SAFETY: the object is the caller's to give back: at least a word, aligned, unused.
        unsafe { (addr as *mut usize).write(alloc.free) };
        alloc.free = addr;
        alloc.allocated -= 1;
        alloc.allocated == 0 || alloc.on_full
    }

    /// Applies every remote free pushed so far; returns how many there were.
    ///
    /// The remote list is linked through the objects' first words exactly as the free list is,
    /// and its head word counts its objects (`remote.rs`). When the free list is empty (the
    /// span ran out: the common case), the remote list becomes the free list as it is, with
    /// no walk. Otherwise it is spliced in front of the free list whole: one walk that only
    /// reads, to find the last object, then one write. The freeing threads wrote those links
    /// last; each read of one is a miss on a line another core holds, so a walk is a chain of
    /// them (mimalloc's `page_thread_free_collect` walks every time, to count), and rewriting
    /// each link, as pushing the objects one by one did, took every line back before it was
    /// needed.
    ///
    /// # Safety
    ///
    /// The caller is the span's holder and the span is small.
    pub(crate) unsafe fn drain_remote(&self) -> usize {
        let (head, count) = self.remote.take_counted();
        let head = head as usize;
        if head == 0 {
            return 0;
        }
        // SAFETY: the holder owns the allocation state.
        let alloc = unsafe { self.alloc_state() };
        debug_assert!(count <= alloc.allocated as usize, "more frees than objects");
        if alloc.free != 0 {
            let mut last = head;
            loop {
                // SAFETY: every object on the list holds the link its pusher wrote, which the
                // `Acquire` swap in `take` made visible; 0 ends the list.
                let next = unsafe { (last as *const usize).read() };
                if next == 0 {
                    break;
                }
                last = next;
            }
            // SAFETY: every object on the list was allocated from this span and freed once, so
            // each is free now and the last one's link is ours.
            unsafe { (last as *mut usize).write(alloc.free) };
        }
        alloc.free = head;
        alloc.allocated -= count as u32;
        count
    }

    /// Sets the allocation bit of the object at `addr`, just allocated (collector spans only:
    /// see "The bitmaps").
    ///
    /// # Safety
    ///
    /// The caller is the span's holder and `addr` one of its objects.
    pub(crate) unsafe fn record_allocation(&self, addr: usize) {
        // SAFETY: forwarded contract.
        let (index, bits) = unsafe { (self.object_index(addr), self.alloc_bits()) };
        // Only the holder writes allocation bits: no read-modify-write needed. `Release`, so
        // that a marker that reads the bit (with `Acquire`) sees what the holder did before,
        // the object's mark bit included.
        let word = &bits[index / 64];
        word.store(word.load(Relaxed) | 1 << (index % 64), Release);
    }

    /// Whether object `index` is allocated (collector spans only).
    ///
    /// # Safety
    ///
    /// The caller is the span's holder.
    pub(crate) unsafe fn is_allocated(&self, index: usize) -> bool {
        // SAFETY: forwarded contract.
        let bits = unsafe { self.alloc_bits() };
        bits[index / 64].load(Relaxed) & 1 << (index % 64) != 0
    }

    /// Sweeps a collector span: the mark bits become the allocation bits and the old allocation
    /// bits, cleared, the next cycle's marks (Go's `allocBits = gcmarkBits`). Calls `dead` with
    /// the index of every object that was allocated and not marked, and rewinds the allocation
    /// cursor (`alloc_gc_object`); returns the live count. The dead objects' memory is not
    /// touched.
    ///
    /// # Safety
    ///
    /// The caller holds the span's `GcSpace` exclusively and no marking is in progress.
    pub(crate) unsafe fn sweep(&self, mut dead: impl FnMut(usize)) -> usize {
        // SAFETY: exclusive per the contract.
        let (alloc, extent) = unsafe { (self.alloc_state(), self.extent()) };
        let which = self.which.load(Relaxed) as usize;
        let (old, marks) = (&self.bitmaps[which], &self.bitmaps[1 - which]);
        let mut live = 0;
        for word in 0..extent.objects.div_ceil(64) {
            let valid = if (word + 1) * 64 <= extent.objects {
                !0
            } else {
                (1u64 << (extent.objects % 64)) - 1
            };
            let allocated = old[word].load(Relaxed) & valid;
            let marked = marks[word].load(Relaxed) & valid;
            debug_assert_eq!(marked & !allocated, 0, "a mark on a free object");
            let mut dying = allocated & !marked;
            while dying != 0 {
                dead(word * 64 + dying.trailing_zeros() as usize);
                dying &= dying - 1;
            }
            live += marked.count_ones() as usize;
        }
        for word in old {
            word.store(0, Relaxed);
        }
        self.which.store(1 - which as u8, Relaxed);
        self.set_tail_bits(1 - which, extent.objects);
        alloc.allocated = live as u32;
        alloc.bump = alloc.end;
        alloc.free = 0;
        live
    }
}

/// An intrusive doubly linked list of spans, threaded through their `links`.
#[derive(Debug)]
pub(crate) struct SpanList {
    head: *mut Span,
    len: usize,
}

// SAFETY: the list only holds pointers to spans, which are `Send`; whoever owns the list owns
// the links of the spans on it.
unsafe impl Send for SpanList {}

impl SpanList {
    /// An empty list.
    pub(crate) const fn new() -> SpanList {
        SpanList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    /// Spans on the list.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first span, or null.
    pub(crate) fn first(&self) -> *mut Span {
        self.head
    }

    /// The span after `span` on its list, or null.
    ///
    /// # Safety
    ///
    /// `span` is on a list the caller owns.
    pub(crate) unsafe fn next(span: *mut Span) -> *mut Span {
        // SAFETY: the caller owns the list, hence the links.
        unsafe { (*(*span).held.links.get()).next }
    }

    /// Moves every span for which `pick` returns true to the front of `into`. `pick` sees
    /// each span once, in list order, and may change anything about it but its links.
    ///
    /// # Safety
    ///
    /// The caller owns both lists and the spans on this one.
    pub(crate) unsafe fn move_where(
        &mut self,
        into: &mut SpanList,
        mut pick: impl FnMut(*mut Span) -> bool,
    ) {
        let mut span = self.head;
        while !span.is_null() {
            // SAFETY: the caller owns the lists and the spans; `next` is read before `span` is
            // unlinked, and `pick` leaves the links alone.
            unsafe {
                let next = SpanList::next(span);
                if pick(span) {
                    self.remove(span);
                    into.push(span);
                }
                span = next;
            }
        }
    }

    /// Adds `span` at the front.
    ///
    /// # Safety
    ///
    /// `span` is valid, on no list, and the caller owns this list.
    pub(crate) unsafe fn push(&mut self, span: *mut Span) {
        // SAFETY: the caller owns the list and the span, so the links of both ends are ours.
        unsafe {
            let links = &mut *(*span).held.links.get();
            links.prev = ptr::null_mut();
            links.next = self.head;
            if !self.head.is_null() {
                (*(*self.head).held.links.get()).prev = span;
            }
        }
        self.head = span;
        self.len += 1;
    }

    /// Unlinks `span`.
    ///
    /// # Safety
    ///
    /// `span` is on this list, which the caller owns.
    pub(crate) unsafe fn remove(&mut self, span: *mut Span) {
        // SAFETY: the span and its neighbours are on this list, whose links the caller owns.
        unsafe {
            let links = &mut *(*span).held.links.get();
            if links.prev.is_null() {
                self.head = links.next;
            } else {
                (*(*links.prev).held.links.get()).next = links.next;
            }
            if !links.next.is_null() {
                (*(*links.next).held.links.get()).prev = links.prev;
            }
            links.next = ptr::null_mut();
            links.prev = ptr::null_mut();
        }
        self.len -= 1;
    }

    /// Unlinks and returns the first span, or null.
    pub(crate) fn pop(&mut self) -> *mut Span {
        let span = self.head;
        if !span.is_null() {
            // SAFETY: `span` is on this list, which `&mut self` owns.
            unsafe { self.remove(span) };
        }
        span
    }
}

/// Bytes in `pages` pages.
#[inline]
pub(crate) const fn pages_to_bytes(pages: usize) -> usize {
    pages * PAGE_SIZE
}

/// The shift of [`div_magic`]. With `m = floor(2^40 / d) + 1 = (2^40 + e) / d` for some
/// `0 < e <= d`, `n * m / 2^40 = n / d + n * e / (d * 2^40)`: the fraction of `n / d` is at
/// most `(d - 1) / d`, and the extra term under `n / 2^40`, which for offsets `n` in a span
/// (under 2^18 bytes, 32 pages) is under 2^-22, less than `1 / d` for any object size. So the
/// floor is exact; the products stay under 2^56. (Go's 32-bit shift is exact only for its
/// shorter spans.)
const DIV_SHIFT: u32 = 40;

/// `floor(2^DIV_SHIFT / size) + 1`: `(offset * div_magic(size)) >> DIV_SHIFT` is
/// `offset / size` for every offset inside a small span (tested for every class).
const fn div_magic(size: u32) -> u64 {
    (1 << DIV_SHIFT) / size as u64 + 1
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn readers_holder_and_remote_freers_write_apart() {
        use std::mem::offset_of;
        let extent = offset_of!(Span, extent);
        let line = |offset: usize| offset / 64;
        // What every allocation and free reads, written by nobody while the span is in use.
        let read = [
            (offset_of!(Span, owner), size_of::<AtomicUsize>()),
            (extent + offset_of!(Extent, class), size_of::<usize>()),
            (extent + offset_of!(Extent, elem_size), size_of::<usize>()),
            (extent + offset_of!(Extent, needzero), 1),
        ];
        assert!(
            read.iter().all(|&(at, len)| line(at + len - 1) == 0),
            "{read:?}"
        );
        // The holder's line and the remote freers' line: whole lines, apart from everything.
        let held = offset_of!(Span, held);
        let remote = offset_of!(Span, remote);
        assert_eq!((held % 64, size_of::<Held>()), (0, 64));
        assert_eq!((remote % 64, size_of::<RemoteFree>()), (0, 64));
        assert!(line(held) > 0 && line(remote) > 0 && held != remote);
        assert_eq!(align_of::<Span>(), 64);
        assert_eq!(size_of::<Span>() / 64 % 2, 1, "an odd number of lines");
    }

    #[test]
    #[cfg_attr(miri, ignore = "exhaustive: minutes under miri")]
    fn div_magic_is_exact_for_every_offset_of_every_class() {
        for (class, c) in CLASSES.iter().enumerate().skip(1) {
            let magic = div_magic(c.size);
            for offset in 0..c.pages as u64 * PAGE_SIZE as u64 {
                assert_eq!(
                    (offset * magic) >> DIV_SHIFT,
                    offset / c.size as u64,
                    "class {class}"
                );
            }
        }
    }

    /// A span of `class` over a buffer of its own (never given to the page heap); the buffer
    /// must outlive the span's use.
    fn carved(class: usize) -> (Vec<u64>, Span) {
        let pages = CLASSES[class].pages as usize;
        let mut buffer = vec![0u64; pages * PAGE_SIZE / 8];
        let span = Span::new(0, buffer.as_mut_ptr() as usize, pages, true);
        // SAFETY: the span is local to this test.
        unsafe { span.init_small(class, true) };
        (buffer, span)
    }

    /// Every object the span still hands out.
    ///
    /// # Safety
    /// The caller is the span's holder.
    unsafe fn allocate_all(span: &Span) -> Vec<usize> {
        // SAFETY: forwarded to the caller.
        std::iter::from_fn(|| unsafe { span.alloc_object() }.map(|(addr, _)| addr)).collect()
    }

    #[test]
    fn a_span_hands_out_each_object_once_then_reuses_freed_ones() {
        let class = 5; // 48-byte objects: 170 per page, a partial last bitmap word
        let (_buffer, span) = carved(class);
        let mut seen = std::collections::BTreeSet::new();
        // SAFETY: the test is the span's holder.
        unsafe {
            while let Some((addr, _)) = span.alloc_object() {
                assert!(seen.insert(addr));
                assert_eq!(span.object_index(addr), (addr - span.start()) / 48);
            }
            assert_eq!(seen.len(), CLASSES[class].objects as usize);
            let victim = *seen.iter().nth(100).unwrap();
            span.free_local(victim);
            assert_eq!(span.alloc_object(), Some((victim, false)));
            assert_eq!(span.alloc_object(), None);
        }
    }

    /// Remote frees taken over as the free list of a span that ran out (no walk), and spliced
    /// in front of a free list that has a local free: every freed object comes back once,
    /// and the span's count of allocated objects stays exact.
    #[test]
    fn remote_frees_are_taken_over_or_spliced_and_each_comes_back_once() {
        let (_buffer, span) = carved(10); // 128-byte objects, 64 per page
        // SAFETY: the test is the span's holder; each object is freed once, remotely or
        // locally, while allocated.
        unsafe {
            let all = allocate_all(&span);
            let allocated = |span: &Span| span.alloc_state().allocated as usize;
            assert_eq!(allocated(&span), 64);
            // The span ran out: three remote frees become its free list as they are.
            for &o in &all[..3] {
                span.remote.push(o as *mut u8);
            }
            assert_eq!(span.drain_remote(), 3);
            assert_eq!(allocated(&span), 61);
            assert_eq!(
                allocate_all(&span),
                [all[2], all[1], all[0]],
                "the list as pushed"
            );
            // A local free, then two remote ones: spliced in front of it.
            span.free_local(all[10]);
            span.remote.push(all[20] as *mut u8);
            span.remote.push(all[30] as *mut u8);
            assert_eq!(span.drain_remote(), 2);
            assert_eq!(allocated(&span), 61);
            let again: BTreeSet<usize> = allocate_all(&span).into_iter().collect();
            assert_eq!(again, BTreeSet::from([all[10], all[20], all[30]]));
            assert_eq!(allocated(&span), 64);
            assert_eq!(span.drain_remote(), 0);
        }
    }

    #[test]
    fn sweep_keeps_marked_objects_and_frees_the_rest() {
        let (_buffer, span) = carved(10); // 128-byte objects, 64 per page
        // SAFETY: the test is the span's holder and does not mark concurrently.
        unsafe {
            let addrs: Vec<usize> = (0..10)
                .map(|_| {
                    let addr = span.alloc_gc_object().unwrap();
                    span.record_allocation(addr);
                    addr
                })
                .collect();
            for &addr in addrs.iter().step_by(3) {
                let index = span.object_index(addr);
                span.mark_bits()[index / 64].fetch_or(1 << (index % 64), Relaxed);
            }
            let mut dead = Vec::new();
            assert_eq!(span.sweep(|i| dead.push(i)), 4);
            assert_eq!(dead, vec![1, 2, 4, 5, 7, 8]);
            assert!(span.is_allocated(0) && !span.is_allocated(1) && span.is_allocated(9));
            assert!(span.mark_bits().iter().all(|w| w.load(Relaxed) == 0));
            let reused = span.alloc_gc_object().unwrap();
            assert_eq!(span.object_index(reused), 1);
            span.record_allocation(reused);
            let next = span.alloc_gc_object().unwrap();
            assert_eq!(
                span.object_index(next),
                2,
                "the cursor moves on from the last found"
            );
        }
    }
}
