//! gort-alloc: a size-class allocator after Go's runtime and TCMalloc, usable as the process's
//! `#[global_allocator]` ([`GortAlloc`]) and as the heap of gort's collector ([`gc`]).
//!
//! # The design
//!
//! Memory is handed out at three levels, each refilling the one above it in bulk, so that the
//! common allocation touches only memory private to its thread (Go's `malloc.go` header;
//! TCMalloc's "thread cache / central free list / page heap").
//!
//! 1. **Size classes** (`sizeclass.rs`). A request up to 32 KiB is rounded up to one of 73
//!    classes, from 8 B to 32 KiB, chosen so that rounding wastes under 1/8 of the object above
//!    128 B and a span's tail under 1/8 of the span; a span holds at least 64 objects where
//!    64 KiB allow it and at least 8 in any case. The table is generated at compile time and
//!    checked, waste columns included, by a test, as Go's `sizeclasses.go` is.
//! 2. **Spans** (`span.rs`). A span is a run of 8 KiB pages carved into objects of one class
//!    (Go's `mspan`). Its free objects are threaded into a free list through their first word,
//!    in front of the never-used tail of the span (mimalloc's page free list). Collector spans
//!    also keep an allocation bitmap and a mark bitmap (Go's `allocBits`, `gcmarkBits`).
//! 3. **The thread cache** (`cache.rs`, Go's `mcache`; `owned.rs`): per class, the span the
//!    thread allocates from, plus every other span it allocated from and still has live objects
//!    in (mimalloc's per-thread pages). Allocating pops the current span's free list; freeing
//!    into any owned span pushes onto that span's list. No lock, no atomic read-modify-write.
//!    It also keeps free spans for its own reuse, so that a thread churning through objects
//!    of classes with few objects per span, or through large objects, does not take the page
//!    heap's lock each time: empty spans of each class (one always, more within a budget of
//!    2 MiB, `owned.rs`) and the last large spans freed on the thread (up to 4 MiB,
//!    `largecache.rs`).
//! 4. **Central lists** (`central.rs`, Go's `mcentral`): per class, the spans no cache owns;
//!    a cache takes a whole span from them when it has none with a free object, and gives all
//!    of its spans back when its thread exits. One lock per class.
//! 5. **The page heap** (`heap.rs`, Go's `mheap`): free page runs by length, coalesced on free,
//!    given back to the OS with `madvise` once long free; it grows by 64 MiB arenas mapped
//!    wherever the kernel likes (`arena/`): a sparse heap, as Go's since 1.11.
//! 6. **The page map** (`pagemap.rs`, Go's `mheap.arenas`): a two-level map over the 48-bit
//!    address space (a flat static root of 64 MiB regions, then a span per page) giving any
//!    heap address's span in two loads. Frees, `realloc` and the collector's interior-pointer
//!    lookups go through it.
//!
//! Large objects (above 32 KiB, or aligned above a page) skip the size classes and take a span
//! of their own: one the thread kept, of the same length to within 1/8, or one from the page
//! heap. Their lengths up to 1 MiB are rounded to eight steps per doubling so that kept spans
//! fit later requests.
//!
//! # Freeing from another thread
//!
//! Go never frees explicitly; its sweeper does. A `GlobalAlloc` frees on whatever thread drops
//! the value, often not the one that allocated it. Following mimalloc's thread-free lists,
//! such a free pushes the object onto its span's lock-free remote-free list (`remote.rs`); the
//! owner applies those frees in bulk when the span becomes its current one or runs out. A
//! thread's frees into spans its own cache owns are never remote, since the cache keeps every
//! span it allocated from (`owned.rs`). Spans nobody looks at carry a flag in their remote
//! list, and the first remote free into one acts on it: a full span parked on its central list
//! is *detached*, and that free moves it back to the partial list; a full span set aside on
//! its owner's full list is *watched*, and that free bumps the class's notification counter,
//! which sends the owner looking through its full list before it takes a new span. No free is
//! lost and no owner is ever blocked by another thread's free.
//!
//! # Invariants
//!
//! - A span has exactly one holder at a time: a thread cache (its `owner` word; the span is
//!   then the class's current span, on the cache's partial or full list, or one of its kept
//!   empty spans), a thread cache's kept large spans (a large span with no live object, owner
//!   0), a central list, the page heap, or a collector space. Only the holder reads or
//!   writes its allocation state; everyone else may only push onto its remote-free list.
//! - A thread cache gives a span up only when the span is empty (beyond the ones it keeps per
//!   class) or when its thread exits, so every free by the thread that allocated an object
//!   through its own cache, while that thread lives, is local.
//! - Only small malloc spans ever carry a thread cache's address in `owner` (large spans carry
//!   0, collector spans a value no cache has), and a cache carries spans only while its thread
//!   can use it (`local.rs`): so "`owner` is my cache" is the whole test of the free fast path.
//! - A span's geometry changes only under the page heap's lock, while no one else can reach it.
//! - Every page of a span in use maps to that span in the page map; a free span maps its first
//!   and last page, which is all coalescing needs.
//! - No two adjacent free spans are both released or both unreleased.
//! - A span with no live object may go back to the page heap: a remote free needs a live object.
//! - The allocator never calls the global allocator (which may be itself): its own records come
//!   from memory mapped from the OS (`fixalloc.rs`), and thread-exit registration, which may
//!   allocate, is guarded against re-entry (`local.rs`).
//!
//! Lock order: a central list's lock, then the page heap's lock; the shared cache's lock
//! (`global.rs`) comes before both.
//!
//! # Designs rejected
//!
//! - **Go's tiny allocator** (several sub-16-byte objects packed into one 16-byte block): with
//!   explicit frees the block could only be freed once every part is, which needs a count per
//!   block. Requests under 16 B use the 8- and 16-byte classes instead.
//! - **Allocating by searching a bitmap** (gort's first version, after Go's `nextFreeFast`):
//!   it kept the allocator's metadata out of the objects, where a stray write (a use after
//!   free) can corrupt it, and the collector needs allocation bits anyway. Measured, it cost
//!   about 50 instructions per allocation and an index computation and a bitmap-word update
//!   per free, against two loads and a store for a free-list pop and a push; the free list took a
//!   single-threaded free+allocate step from 221 to 157 instructions (callgrind). Malloc spans
//!   now use free lists only; collector spans keep their bitmaps beside the list, set at
//!   allocation and rebuilt into the list at sweep, so the collector's view is unchanged. The
//!   price is the one above: a write through a dangling pointer into a free object can
//!   corrupt a list (mimalloc encodes its links against this; gort does not yet).
//! - **A three-level page map** (gort's first version, a small static root): about 17
//!   instructions and three dependent loads per free, where the flat 32 MiB root, which costs
//!   only the pages of it that are touched, needs two loads and no checks (churn step 157 ->
//!   144 instructions). **A span table in each arena's header**, found by masking the address,
//!   would save one more load, but an arena-sized or larger span crosses arena boundaries
//!   (adjacent arenas coalesce), so the header would sit inside someone's object.
//! - **One contiguous reservation** (Go before 1.11): it fails when something else maps inside
//!   the range, and caps the heap.
//! - **`MADV_FREE`**: cheaper, but released pages would no longer read as zero, and they would
//!   stay in the resident set until the kernel is short of memory.
//! - **One span per class per thread** (Go's `mcache`, gort's first version): a span that
//!   filled up went back to its central list, so the thread's later frees into it were remote
//!   (an atomic CAS each) and its objects unusable until the span came back. In single-threaded
//!   churn most frees took that path. The cache now keeps its spans (`owned.rs`).
//! - **mimalloc's delayed-free list** (a remote freer pushes a full span onto its owner's
//!   list): the freer would need a per-thread record that stays valid after the owner exits.
//!   A class-wide notification counter is only a hint and needs no such record; its price is
//!   a linear look through the owner's full list after a notification.
//! - **A lock-free central list**: the central lock is taken once per span (tens to hundreds of
//!   objects), and the spans' remote lists already keep cross-thread frees off it.
//!
//! # Checking it
//!
//! - Unit tests beside the code; the size-class table in `sizeclass.rs`'s docs is regenerated
//!   and compared by a test.
//! - `tests/model.rs`: a proptest of `alloc`, `alloc_zeroed`, `realloc` and `dealloc`
//!   sequences against a map of live blocks (alignment, overlap, contents, zeroing, counts,
//!   reuse).
//! - `tests/global.rs`: `GortAlloc` as the `#[global_allocator]` of a test binary: std
//!   collections, multithreaded churn with cross-thread frees, threads that exit while others
//!   still free their blocks.
//! - `loom_alloc.rs`: loom models of the remote-free list, of a full span's parking, and of
//!   an owner's watched full spans racing remote frees
//!   (`RUSTFLAGS="--cfg gort_loom" cargo test -p gort-alloc --lib --release`).
//! - miri: `MIRIFLAGS=-Zmiri-ignore-leaks cargo +nightly miri test -p gort-alloc --lib` runs
//!   the unit tests with `mmap` replaced by the system allocator (`arena/os.rs`); the
//!   exhaustive table checks are skipped there. Leaks are ignored because arenas, like Go's,
//!   are never returned.
//!
//! # References
//!
//! Go: `src/runtime/malloc.go`, `mheap.go`, `mcentral.go`, `mcache.go`, `sizeclasses.go`,
//! `mbitmap.go`, `mgcsweep.go`. S. Ghemawat and P. Menage, *TCMalloc: Thread-Caching Malloc*.
//! D. Leijen, B. Zorn, L. de Moura, *Mimalloc: Free List Sharding in Action* (2019).

mod arena;
mod cache;
mod central;
mod fixalloc;
pub mod gc;
mod global;
mod heap;
mod largecache;
mod local;
mod loom;
#[cfg(all(test, gort_loom))]
mod loom_alloc;
mod owned;
mod pagemap;
mod remote;
mod retain;
mod sizeclass;
mod span;
mod stats;

pub use global::{GortAlloc, release_memory, size_class_of};
pub use sizeclass::{MAX_SMALL_SIZE, NUM_SIZE_CLASSES, PAGE_SIZE};
pub use stats::{ClassStats, Stats, stats};
