//! `Once`: Go's `sync.Once`, waker-based.
//!
//! # Algorithm
//!
//! A state byte, `INCOMPLETE → RUNNING → DONE`, and a gate (`gate.rs`). The caller that moves
//! it from `INCOMPLETE` to `RUNNING` runs `f` in its own poll (`f` is synchronous, as Go's is:
//! it cannot await), then opens the gate: sets `DONE` under the gate's lock and wakes every
//! waiter. Callers that find `RUNNING` queue under the same lock after checking the state
//! again, so none misses the opening; callers that find `DONE` return at once, after an
//! `Acquire` load that makes `f`'s effects visible to them.
//!
//! As in Go, `f` panicking still counts as done: the panic is caught, the state set to `DONE`
//! and the waiters released, and then the panic resumes in the first caller alone.
//!
//! # Cancellation
//!
//! Only a waiter can be dropped mid-way (`f` runs within one poll): it leaves the gate's queue.

use crate::gate::{Gate, GateWaiter};
use crate::loom::atomic::{AtomicU8, Ordering::*};
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// Runs a function exactly once (Go's `sync.Once`): the first `call` runs it, concurrent
/// callers wait until it has returned, later ones return at once.
///
/// ```
/// use gort_sync::Once;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort_runtime::block_on(async {
///     let once = Arc::new(Once::new());
///     let runs = Arc::new(AtomicUsize::new(0));
///     let handles: Vec<_> = (0..8)
///         .map(|_| {
///             let (once, runs) = (once.clone(), runs.clone());
///             gort_runtime::go(async move {
///                 once.call(|| {
///                     runs.fetch_add(1, Ordering::Relaxed);
///                 })
///                 .await;
///                 // Whoever ran it, it has run by now.
///                 assert_eq!(runs.load(Ordering::Relaxed), 1);
///             })
///         })
///         .collect();
///     for h in handles {
///         h.await.unwrap();
///     }
///     assert!(once.is_done());
/// });
/// ```
pub struct Once {
    state: AtomicU8,
    gate: Gate,
}

impl Once {
    /// A `Once` whose function has not run.
    ///
    /// ```
    /// assert!(!gort_sync::Once::new().is_done());
    /// ```
    pub fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            gate: Gate::new(),
        }
    }

    /// Whether a `call` has finished running its function (returned or panicked).
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let once = gort_sync::Once::new();
    ///     once.call(|| ()).await;
    ///     assert!(once.is_done());
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }

    /// Runs `f` if no call has yet (Go's `Do`), else waits for the call that runs it to
    /// finish; `f` is dropped unrun then. A panic in `f` reaches this caller only, and the
    /// `Once` counts as done. Cancel-safe while it waits.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let once = gort_sync::Once::new();
    ///     let mut ran = Vec::new();
    ///     once.call(|| ran.push(1)).await;
    ///     once.call(|| ran.push(2)).await;
    ///     assert_eq!(ran, [1]);
    /// });
    /// ```
    pub fn call<F: FnOnce()>(&self, f: F) -> Call<'_, F> {
        Call {
            once: self,
            f: Some(f),
            waiter: GateWaiter::new(&self.gate),
        }
    }

    /// Runs `f`, then releases everyone; the panic of `f`, if any, is returned.
    fn run(&self, f: impl FnOnce()) -> Option<Box<dyn std::any::Any + Send>> {
        let panic = catch_unwind(AssertUnwindSafe(f)).err();
        self.gate.open(|| self.state.store(DONE, Release));
        panic
    }
}

// A panic (of `f` or elsewhere) leaves the state and the queue consistent.
impl std::panic::UnwindSafe for Once {}
impl std::panic::RefUnwindSafe for Once {}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

/// The future of [`Once::call`].
///
/// ```
/// gort_runtime::block_on(async {
///     let once = gort_sync::Once::new();
///     let call: gort_sync::Call<'_, _> = once.call(|| println!("once"));
///     call.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Call<'a, F> {
    once: &'a Once,
    f: Option<F>,
    /// Pinned.
    waiter: GateWaiter<'a>,
}

impl<F: FnOnce()> Future for Call<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the waiter is structurally pinned (never moved out); `f` is not pinned (it
        // is only ever moved out whole, never polled); `once` is a reference.
        let this = unsafe { self.get_unchecked_mut() };
        let (once, f) = (this.once, &mut this.f);
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&mut this.waiter) };
        let run_first = || {
            if once
                .state
                .compare_exchange(INCOMPLETE, RUNNING, Acquire, Acquire)
                .is_err()
            {
                return false;
            }
            let f = f.take().expect("gort: Once::call polled after it ran");
            if let Some(panic) = once.run(f) {
                resume_unwind(panic);
            }
            true
        };
        waiter.poll_event(cx, || once.state.load(Acquire) == DONE, run_first)
    }
}

impl<F> fmt::Debug for Call<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("queued", &self.waiter.is_queued())
            .finish_non_exhaustive()
    }
}
