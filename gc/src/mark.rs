//! Marking: shading objects, the pool of grey work, tracing and the root scan.
//!
//! An object is shaded by setting its bit in its span's mark bitmap; whoever set the bit (the
//! atomic OR says who) owns the duty to trace it and pushes it on a grey stack: the marker's
//! own, or a thread's grey buffer (`local.rs`). Full buffers become packets in the pool, from
//! which the marker takes work; at mark termination the collector empties every buffer under
//! the stop-the-world (`collector.rs`). A stack that grows long gives packets to the pool, and
//! one that is being drained gives away its older (shallower, so larger) half when a thread
//! that must assist finds the pool empty (`WorkPool::hungry`). The pool counts the objects
//! the root scan looked at and those traced: marking's progress, for the pacer.
//!
//! The root scan walks every object that was allocated when marking began, over a copy of the
//! list of spans, without the owning thread's lock: an object still white whose root count is
//! not zero is shaded. Objects allocated since are black and skipped; an object whose count rises after
//! the scan passed it was shaded by the thread that raised it (see `gc.rs`).

use crate::header::Header;
use crate::local::{Local, PACKET};
use crate::trace::{Tracer, Walk};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Objects traced between looks at `WorkPool::hungry` (and reports of progress).
const TRACE_BATCH: usize = 64;
/// Spans the root scan visits between drains of its stack.
const SPANS_PER_TURN: usize = 16;
/// Span addresses copied per turn of a thread's lock.
#[cfg(not(gort_loom))]
const SPANS_PER_COPY: usize = 4096;

/// Marks `header`'s object; true if this call marked it (it was white).
#[inline]
pub(crate) fn mark(header: NonNull<Header>) -> bool {
    #[cfg(not(gort_loom))]
    // SAFETY: handles point only at live objects of the collector's heap, and no sweep runs
    // while anyone marks (sweeping starts after mark termination).
    match unsafe { gort_alloc::gc::find_object(header.as_ptr().cast()) } {
        Some(object) => object.mark(),
        None => unreachable!("a Gc points outside the collector's heap"),
    }
    #[cfg(gort_loom)]
    // SAFETY: as above.
    !unsafe { header.as_ref() }
        .marked
        .swap(true, crate::loom::atomic::Ordering::Relaxed)
}

/// Whether `header`'s object is marked.
#[cfg(not(gort_loom))]
pub(crate) fn is_marked(header: NonNull<Header>) -> bool {
    // SAFETY: as in `mark`.
    match unsafe { gort_alloc::gc::find_object(header.as_ptr().cast()) } {
        Some(object) => object.is_marked(),
        None => unreachable!("a Gc points outside the collector's heap"),
    }
}

/// Whether `header`'s object is marked.
#[cfg(gort_loom)]
pub(crate) fn is_marked(header: NonNull<Header>) -> bool {
    // SAFETY: a live object.
    unsafe { header.as_ref() }
        .marked
        .load(crate::loom::atomic::Ordering::Relaxed)
}

/// Traces one grey object: marks its children, pushing the newly marked ones on `stack`.
///
/// # Safety
///
/// `header` is a live object, marked during the current cycle.
pub(crate) unsafe fn trace(header: NonNull<Header>, stack: &mut Vec<NonNull<Header>>) {
    let mut tracer = Tracer {
        walk: Walk::Mark,
        shade: true,
        grey: stack,
    };
    // SAFETY: per the contract; the vtable matches the object's type.
    unsafe { (header.as_ref().vtable.trace)(header, &mut tracer) }
}

/// The root scan under loom: one object per turn of the lock, over the model's heap.
#[cfg(gort_loom)]
pub(crate) fn scan_roots(
    local: &Local,
    _count: usize,
    stack: &mut Vec<NonNull<Header>>,
    pool: &WorkPool,
) {
    let mut next = 0;
    loop {
        let state = local.state.lock_collector();
        let Some(&header) = state.space.objects.get(next) else {
            return;
        };
        // SAFETY: objects under loom are never freed.
        if !is_marked(header) && unsafe { header.as_ref() }.root_count() > 0 && mark(header) {
            stack.push(header);
        }
        drop(state);
        drain(stack, pool, usize::MAX);
        next += 1;
    }
}

/// Packets of grey objects waiting to be traced, and the count of those that assists have
/// taken and hold (under one lock, so that mark termination sees both at one instant: work
/// is either in the pool or held, never in flight between them unseen).
pub(crate) struct WorkPool {
    packets: Mutex<Packets>,
    /// A thread that must assist found no packet: whoever drains a stack should share it.
    pub(crate) hungry: AtomicBool,
    /// Objects looked at by the root scan or traced since marking began.
    pub(crate) work: AtomicUsize,
}

// SAFETY: the pointers are objects of the collector's heap, valid on any thread.
unsafe impl Send for WorkPool {}
// SAFETY: as above; the packets are behind a mutex.
unsafe impl Sync for WorkPool {}

struct Packets {
    waiting: Vec<Vec<NonNull<Header>>>,
    /// Packets taken by assists and not yet given back.
    held: usize,
}

impl WorkPool {
    pub(crate) const fn new() -> WorkPool {
        WorkPool {
            packets: Mutex::new(Packets {
                waiting: Vec::new(),
                held: 0,
            }),
            hungry: AtomicBool::new(false),
            work: AtomicUsize::new(0),
        }
    }

    pub(crate) fn push(&self, packet: Vec<NonNull<Header>>) {
        if !packet.is_empty() {
            lock(&self.packets).waiting.push(packet);
        }
    }

    /// A packet for the collector's own marker (which mark termination need not count: it
    /// runs on the same thread).
    pub(crate) fn pop(&self) -> Option<Vec<NonNull<Header>>> {
        lock(&self.packets).waiting.pop()
    }

    /// A packet for an assist, which holds it until `give_back`.
    pub(crate) fn take(&self) -> Option<Vec<NonNull<Header>>> {
        let mut packets = lock(&self.packets);
        let packet = packets.waiting.pop()?;
        packets.held += 1;
        Some(packet)
    }

    /// Another packet for an assist that holds one and has traced all of it.
    pub(crate) fn refill(&self, stack: &mut Vec<NonNull<Header>>) -> bool {
        debug_assert!(stack.is_empty());
        match lock(&self.packets).waiting.pop() {
            Some(packet) => {
                *stack = packet;
                true
            }
            None => false,
        }
    }

    /// An assist is done with its packet; what is left of it goes back to the pool.
    pub(crate) fn give_back(&self, stack: Vec<NonNull<Header>>) {
        let mut packets = lock(&self.packets);
        if !stack.is_empty() {
            packets.waiting.push(stack);
        }
        packets.held -= 1;
    }

    /// No packet waits and no assist holds one.
    pub(crate) fn is_idle(&self) -> bool {
        let packets = lock(&self.packets);
        packets.waiting.is_empty() && packets.held == 0
    }

    /// Some assist holds a packet.
    pub(crate) fn is_held(&self) -> bool {
        lock(&self.packets).held != 0
    }
}

/// Locks a mutex whose data a panic cannot leave half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Traces until `stack` is empty or `budget` objects are traced, sharing work with the pool
/// when the stack grows long or a thread is hungry. Returns the objects traced.
pub(crate) fn drain(stack: &mut Vec<NonNull<Header>>, pool: &WorkPool, budget: usize) -> usize {
    let mut traced = 0;
    while traced < budget {
        let batch_end = TRACE_BATCH.min(budget - traced);
        let mut batch = 0;
        while let Some(header) = stack.pop() {
            // SAFETY: everything on a grey stack was marked this cycle and is alive.
            unsafe { trace(header, stack) };
            batch += 1;
            if stack.len() >= 4 * PACKET {
                pool.push(stack.split_off(stack.len() - PACKET));
            }
            if batch == batch_end {
                break;
            }
        }
        traced += batch;
        pool.work.fetch_add(batch, Relaxed);
        if stack.is_empty() {
            break;
        }
        if pool.hungry.load(Relaxed) && stack.len() >= 2 {
            pool.hungry.store(false, Relaxed);
            let newer = stack.split_off(stack.len() / 2);
            pool.push(std::mem::replace(stack, newer));
        }
    }
    traced
}

/// The first `count` spans of `local`'s space, copied a few thousand per turn of its lock.
/// (Only a sweep reorders or drops spans, and none runs from mark start to the end of the
/// destructor pass, so the first `count` stay put; spans taken since come after them.)
#[cfg(not(gort_loom))]
pub(crate) fn spans_of(local: &Local, count: usize) -> Vec<gort_alloc::gc::RawGcSpan> {
    let mut spans = Vec::with_capacity(count);
    while spans.len() < count {
        let state = local.state.lock_collector();
        let end = (spans.len() + SPANS_PER_COPY).min(count);
        for index in spans.len()..end {
            spans.push(state.space.raw_span(index));
        }
    }
    spans
}

/// Shades every white object with a root among the first `count` spans of `local`'s space
/// (those that existed when marking started), pushing it on `stack`, and traces as it goes.
/// It reads the spans without the thread's lock: the thread may allocate in them meanwhile,
/// but what it allocates is black, and shows as allocated only once marked.
#[cfg(not(gort_loom))]
pub(crate) fn scan_roots(
    local: &Local,
    count: usize,
    stack: &mut Vec<NonNull<Header>>,
    pool: &WorkPool,
) {
    for spans in spans_of(local, count).chunks(SPANS_PER_TURN) {
        let mut looked = 0;
        for span in spans {
            // SAFETY: a span of a live space, which sweeps only after marking.
            for object in unsafe { span.unmarked_objects() } {
                looked += 1;
                let header = object.cast::<Header>();
                // SAFETY: an allocated object that was white at the start of marking was
                // initialised before it (the start is a stop-the-world), and objects are freed
                // only by the sweep, after marking.
                if unsafe { header.as_ref() }.root_count() > 0 && mark(header) {
                    stack.push(header);
                }
            }
        }
        pool.work.fetch_add(looked, Relaxed);
        drain(stack, pool, usize::MAX);
    }
}
