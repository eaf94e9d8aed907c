//! Each thread's collector state (Go's `mcache` and `gcWork` of a P, per thread here): the
//! space it allocates from, its grey buffer, and its allocation count not yet reported.
//!
//! Every collector operation of a thread runs under the lock of its `Local`: allocating,
//! raising a root count, a rooting walk. The collector takes the same lock to scan or sweep
//! the thread's space a few spans at a time, and takes every thread's lock at once for the
//! phase flips (`collector.rs`): so each operation sees one phase from start to end (whether
//! to shade, whether new objects are born black), and a phase flip waits for the operations
//! in flight instead of racing them. The lock is the thread's own, so outside the flips it is
//! uncontended: one compare-and-swap and one store per operation.
//!
//! A `Local` outlives its thread: at thread exit it is marked an orphan, and the collector
//! keeps sweeping its space until it is empty, then forgets it. A thread that uses a `Gc`
//! after its own thread-local state is gone (from another thread-local's destructor) shares
//! one process-wide `Local`.

use crate::header::Header;
use crate::lock::Lock;
use crate::trace::{Tracer, Walk};
use std::alloc::{Layout, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;

#[cfg(gort_loom)]
pub(crate) use crate::loom_space::Space;
#[cfg(not(gort_loom))]
pub(crate) use gort_alloc::gc::GcSpace as Space;

/// Bytes a thread allocates before it reports them to the pacer.
#[cfg(not(gort_loom))]
const REPORT_BYTES: usize = 64 << 10;
/// Grey objects a thread buffers before it hands them to the collector as one packet.
pub(crate) const PACKET: usize = 512;

pub(crate) struct Local {
    pub(crate) state: Lock<LocalState>,
    /// The thread has exited.
    pub(crate) orphan: AtomicBool,
}

pub(crate) struct LocalState {
    pub(crate) space: Space,
    /// A collection is marking: objects whose root status changes are shaded.
    pub(crate) shade: bool,
    /// Objects this thread shaded, for the collector to trace.
    pub(crate) grey: Vec<NonNull<Header>>,
    /// Bytes allocated and not yet reported to the pacer.
    unreported: usize,
    /// The pacer asked this thread to assist the marker, once out of the lock.
    pub(crate) assist: bool,
}

// SAFETY: the grey buffer's pointers are objects of the collector's heap, valid on any thread.
unsafe impl Send for LocalState {}

impl Local {
    pub(crate) fn new(shade: bool, black: bool) -> Local {
        let mut space = Space::new();
        space.set_marking(black);
        Local {
            state: Lock::new(LocalState {
                space,
                shade,
                grey: Vec::new(),
                unreported: 0,
                assist: false,
            }),
            orphan: AtomicBool::new(false),
        }
    }
}

impl LocalState {
    /// Memory for an object of `layout`, to be written before the operation ends (aborts if
    /// the OS refuses memory, as `Box::new` does). It need not be zeroed: the collector reads
    /// an object only after the operation that made it (the lock orders them), or not at all
    /// while it is black.
    #[inline]
    pub(crate) fn alloc(&mut self, layout: Layout, finalizable: bool) -> NonNull<u8> {
        let object = if finalizable {
            self.space.alloc_uninit_finalizable(layout)
        } else {
            self.space.alloc_uninit(layout)
        };
        let Some(object) = object else {
            handle_alloc_error(layout)
        };
        self.unreported += layout.size();
        #[cfg(not(gort_loom))]
        if self.unreported >= REPORT_BYTES {
            let bytes = std::mem::take(&mut self.unreported);
            self.assist = crate::collector::collector().allocated(bytes);
        }
        object
    }

    /// The object at `header` was just written: born black while a collection marks. (In
    /// gort-alloc's spaces, `alloc_uninit` has set its mark bit already.)
    #[inline]
    pub(crate) fn born(&mut self, header: NonNull<Header>) {
        #[cfg(gort_loom)]
        self.space.born(header);
        let _ = header;
    }

    /// Mark start (under the stop-the-world): shading on, allocation black.
    pub(crate) fn start_marking(&mut self) {
        self.shade = true;
        self.space.set_marking(true);
    }

    /// Mark termination (under the stop-the-world): shading off. Allocation stays black until
    /// the space's sweep begins.
    pub(crate) fn stop_shading(&mut self) {
        self.shade = false;
    }

    /// A tracer for a rooting walk (`Walk::Root` or `Walk::Unroot`).
    pub(crate) fn tracer(&mut self, walk: Walk) -> Tracer<'_> {
        Tracer {
            walk,
            shade: self.shade,
            grey: &mut self.grey,
        }
    }

    /// Shades `header`'s object if a collection is marking.
    #[inline]
    pub(crate) fn shade(&mut self, header: NonNull<Header>) {
        if self.shade && crate::mark::mark(header) {
            self.grey.push(header);
        }
    }

    /// Hands a full grey buffer to the collector.
    #[inline]
    pub(crate) fn flush_grey(&mut self) {
        #[cfg(not(gort_loom))]
        if self.grey.len() >= PACKET {
            crate::collector::collector()
                .work
                .push(std::mem::take(&mut self.grey));
        }
    }
}

#[cfg(not(gort_loom))]
mod registered {
    use super::Local;
    use crate::collector::collector;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::{Arc, OnceLock};

    /// The calling thread's `Local`, registered with the collector at its first use.
    struct Registered(Arc<Local>);

    impl Drop for Registered {
        fn drop(&mut self) {
            self.0.orphan.store(true, Relaxed);
        }
    }

    std::thread_local! {
        static LOCAL: Registered = Registered(collector().register());
    }

    /// The `Local` of threads whose own is gone.
    fn shared() -> &'static Local {
        static SHARED: OnceLock<Arc<Local>> = OnceLock::new();
        SHARED.get_or_init(|| collector().register())
    }

    /// Runs `f` on the calling thread's `Local`.
    #[inline]
    pub(super) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> R {
        let mut f = Some(f);
        match LOCAL.try_with(|registered| (f.take().expect("runs once"))(&registered.0)) {
            Ok(result) => result,
            Err(_) => (f.take().expect("runs once"))(shared()),
        }
    }
}

/// Under loom each model gives each of its threads a `Local` ([`enter`]).
#[cfg(gort_loom)]
mod registered {
    use super::Local;
    use std::cell::RefCell;
    use std::sync::Arc;

    crate::loom::thread_local! {
        static LOCAL: RefCell<Option<Arc<Local>>> = RefCell::new(None);
    }

    /// Makes `local` the calling thread's.
    pub(crate) fn enter(local: Arc<Local>) {
        LOCAL.with(|current| *current.borrow_mut() = Some(local));
    }

    pub(super) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> R {
        let local = LOCAL.with(|current| current.borrow().clone());
        f(&local.expect("a loom model enters a Local on each thread"))
    }
}

#[cfg(gort_loom)]
pub(crate) use registered::enter;

// The thread is inside a collector operation (a rooting walk runs `Trace` impls, which must
// not start another).
#[cfg(not(gort_loom))]
std::thread_local! {
    static BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
#[cfg(gort_loom)]
loom::thread_local! {
    static BUSY: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

struct Busy;

impl Busy {
    #[inline]
    fn enter() -> Busy {
        if BUSY.with(|busy| busy.replace(true)) {
            reentered();
        }
        Busy
    }
}

impl Drop for Busy {
    #[inline]
    fn drop(&mut self) {
        let _ = BUSY.try_with(|busy| busy.set(false));
    }
}

#[cold]
fn reentered() -> ! {
    panic!(
        "gort::gc: a Trace implementation used a Gc or a GcCell (trace may only call trace \
         on its fields)"
    )
}

/// Runs `f` on the calling thread's state, under its lock.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut LocalState) -> R) -> R {
    let _busy = Busy::enter();
    registered::with_local(|local| f(&mut local.state.lock()))
}
