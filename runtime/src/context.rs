//! The thread-local context: which runtime the current thread belongs to, and which worker
//! it is, if any.
//!
//! `go`/`spawn` read the runtime handle to know where a new goroutine goes; the scheduler
//! reads the worker pointer to push a woken task onto the local queue (or into `runnext`)
//! instead of the global injector. The handle is set by worker threads, blocking-pool threads,
//! `block_on_local` and shutdown; guards restore the previous value, so contexts nest.

use crate::lent::Lent;
use crate::loom::{Arc, thread_local};
use crate::scheduler::{Shared, Worker};
use std::cell::{Cell, RefCell};
use std::ptr;

struct Context {
    handle: RefCell<Option<Arc<Shared>>>,
    worker: Cell<*const Worker>,
}

#[cfg(not(gort_loom))]
thread_local! {
    static CONTEXT: Context = const {
        Context { handle: RefCell::new(None), worker: Cell::new(ptr::null()) }
    };
}

#[cfg(gort_loom)]
thread_local! {
    static CONTEXT: Context = Context { handle: RefCell::new(None), worker: Cell::new(ptr::null()) };
}

/// Runs `f` with the current runtime's handle; `None` outside any runtime.
pub(crate) fn with_handle<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> Option<R> {
    CONTEXT
        .try_with(|cx| cx.handle.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Runs `f` with the current runtime's handle and, if this thread is one of its workers, that
/// worker: one thread-local access for both.
#[inline]
pub(crate) fn with_handle_and_worker<R>(
    f: impl FnOnce(&Arc<Shared>, Option<&Worker>) -> R,
) -> Option<R> {
    CONTEXT
        .try_with(|cx| {
            let handle = cx.handle.borrow();
            let handle = handle.as_ref()?;
            // SAFETY: as in `with_worker`.
            let worker = unsafe { cx.worker.get().as_ref() };
            Some(f(handle, worker.filter(|w| w.belongs_to(handle))))
        })
        .ok()
        .flatten()
}

/// Gives a timer's reference to its runtime back to this thread's worker, which stocks it if
/// it belongs to its runtime (see `scheduler/lend.rs`); drops it otherwise.
#[inline]
pub(crate) fn return_handle(handle: Lent<Shared>) {
    let rest = with_worker(|worker| match worker {
        Some(worker) => worker.take_back_handle(handle),
        None => Some(handle),
    });
    drop(rest);
}

/// Runs `f` with the worker this thread is running, if it is one.
#[inline]
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = CONTEXT
        .try_with(|cx| cx.worker.get())
        .unwrap_or(ptr::null());
    // SAFETY: the pointer is set only by `enter_worker`, whose guard clears it before the
    // worker (which lives on that thread's stack) goes away.
    f(unsafe { worker.as_ref() })
}

/// True if the current thread is a worker of some runtime.
pub(crate) fn is_worker() -> bool {
    with_worker(|w| w.is_some())
}

/// Restores the previous context on drop.
pub(crate) struct EnterGuard {
    handle: Option<Arc<Shared>>,
    worker: *const Worker,
}

/// Makes `handle` the current runtime of this thread until the guard drops.
pub(crate) fn enter(handle: Arc<Shared>) -> EnterGuard {
    let handle = CONTEXT.with(|cx| cx.handle.replace(Some(handle)));
    let worker = CONTEXT.with(|cx| cx.worker.replace(ptr::null()));
    EnterGuard { handle, worker }
}

/// Makes this thread `worker` of `handle` until the guard drops.
pub(crate) fn enter_worker(handle: Arc<Shared>, worker: &Worker) -> EnterGuard {
    let guard = enter(handle);
    CONTEXT.with(|cx| cx.worker.set(worker));
    guard
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let handle = self.handle.take();
        let worker = self.worker;
        // The TLS may already be gone if the thread is exiting.
        let old = CONTEXT.try_with(|cx| {
            cx.worker.set(worker);
            cx.handle.replace(handle)
        });
        drop(old);
    }
}
