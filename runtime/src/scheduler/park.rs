//! Parking a thread that has nothing to do, and waking it: the one place a worker blocks.
//!
//! A three-state word (`EMPTY`, `PARKED`, `NOTIFIED`) in front of a mutex and condvar, as
//! `std::thread::park` works: an `unpark` that arrives before the `park` is remembered, so the
//! park returns at once and no wake-up is lost; an `unpark` of a thread that is not parked costs
//! one atomic swap and no system call.
//!
//! This is the driver interface of the worker loop: a worker with no work computes how long it
//! may sleep and calls `Parker::park_timeout`. The timer wheel bounds that timeout by its
//! earliest deadline, and the net poller will replace the condvar wait of the worker that polls
//! the OS with an `epoll_wait` whose notifier `Unparker::unpark` also triggers (Go's
//! `netpollBreak`), without changing the loop that calls it.

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Arc, Condvar, Mutex, lock};
use std::time::Duration;

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

struct Inner {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
}

/// The parking side, owned by one thread.
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// The waking side, shared with everyone.
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        let inner = Inner {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        };
        Parker {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn unparker(&self) -> Unparker {
        Unparker {
            inner: self.inner.clone(),
        }
    }

    /// Blocks until `unpark` (possibly one that came earlier) or until `timeout` passes.
    /// May also return spuriously; callers re-check their condition.
    pub(crate) fn park_timeout(&self, timeout: Option<Duration>) {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        if timeout == Some(Duration::ZERO) {
            return;
        }
        let mut guard = lock(&inner.mutex);
        match inner.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Must be a swap, not a store: it pairs with the unparker's swap.
                inner.state.swap(EMPTY, SeqCst);
                return;
            }
            Err(actual) => panic!("gort: inconsistent park state {actual}"),
        }
        loop {
            guard = match timeout {
                None => inner.condvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(timeout) => {
                    let (guard, result) = inner
                        .condvar
                        .wait_timeout(guard, timeout)
                        .unwrap_or_else(|e| e.into_inner());
                    if result.timed_out() {
                        // Leave PARKED; a racing unpark may have set NOTIFIED, which we consume.
                        inner.state.swap(EMPTY, SeqCst);
                        return;
                    }
                    guard
                }
            };
            if inner
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            // Spurious wake-up: wait again.
        }
    }

    pub(crate) fn park(&self) {
        self.park_timeout(None);
    }
}

impl Unparker {
    /// Wakes the parked thread, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        match inner.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Taking the lock orders this notify after the parker's wait began.
                drop(lock(&inner.mutex));
                inner.condvar.notify_one();
            }
            actual => panic!("gort: inconsistent park state {actual}"),
        }
    }
}

impl std::task::Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.unpark();
    }
}
