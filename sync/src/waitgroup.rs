//! `WaitGroup`: Go's `sync.WaitGroup`, waker-based.
//!
//! # Algorithm
//!
//! The counter is an `AtomicI64` that `add` and `done` change without a lock; the waiters wait
//! at a gate (`gate.rs`). The goroutine whose `done` brings the counter to zero opens it, which
//! takes the gate's lock and wakes every waiter. A waiter reads the counter under the same
//! lock before it queues: if its critical section comes after the opening, it sees zero (the
//! `done` took the lock after its decrement); if before, the opening finds it queued. Either
//! way no wake-up is lost, and a `wait` that finds the counter at zero does not queue at all.
//!
//! A counter below zero panics with Go's message, in the `add` or `done` that took it there.
//! Once the waiters are released the group may be used again (Go's reuse rule: a new round's
//! `add` comes after the previous `wait`s returned).
//!
//! # Cancellation
//!
//! A dropped `Wait` future leaves the gate's queue; a released one has nothing to give back.

use crate::gate::{Gate, GateWaiter};
use crate::loom::atomic::{AtomicI64, Ordering::*};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`): `add` the number
/// to wait for, each calls `done` when it finishes, and `wait().await` returns once all have.
///
/// ```
/// use gort_sync::WaitGroup;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort_runtime::block_on(async {
///     let wg = Arc::new(WaitGroup::new());
///     let finished = Arc::new(AtomicUsize::new(0));
///     for _ in 0..10 {
///         wg.add(1);
///         let (wg, finished) = (wg.clone(), finished.clone());
///         gort_runtime::go(async move {
///             finished.fetch_add(1, Ordering::Relaxed);
///             wg.done();
///         });
///     }
///     wg.wait().await;
///     assert_eq!(finished.load(Ordering::Relaxed), 10);
/// });
/// ```
pub struct WaitGroup {
    count: AtomicI64,
    gate: Gate,
}

impl WaitGroup {
    /// A group with a counter of zero.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     gort_sync::WaitGroup::new().wait().await; // zero: returns at once
    /// });
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup {
            count: AtomicI64::new(0),
            gate: Gate::new(),
        }
    }

    /// Adds `n` to the counter.
    ///
    /// # Panics
    /// If the counter would overflow an `i64`.
    ///
    /// ```
    /// let wg = gort_sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.done();
    /// wg.done();
    /// ```
    pub fn add(&self, n: usize) {
        let n = i64::try_from(n).expect("sync: WaitGroup counter overflow");
        self.change(n);
    }

    /// Subtracts one from the counter; at zero, every `wait` returns.
    ///
    /// # Panics
    /// With Go's message, "sync: negative WaitGroup counter", if the counter was zero.
    ///
    /// ```
    /// let wg = gort_sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// let second = std::panic::catch_unwind(|| wg.done());
    /// assert!(second.is_err());
    /// ```
    pub fn done(&self) {
        self.change(-1);
    }

    fn change(&self, delta: i64) {
        let before = self.count.fetch_add(delta, AcqRel);
        let after = before
            .checked_add(delta)
            .expect("sync: WaitGroup counter overflow");
        if after < 0 {
            // Undo, so that the group stays usable for the code that catches the panic.
            self.count.fetch_sub(delta, AcqRel);
            panic!("sync: negative WaitGroup counter");
        }
        if after == 0 && delta < 0 {
            self.gate.open(|| {});
        }
    }

    /// Waits until the counter is zero (Go's `Wait`). Cancel-safe.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let wg = std::sync::Arc::new(gort_sync::WaitGroup::new());
    ///     wg.add(1);
    ///     let wg2 = wg.clone();
    ///     gort_runtime::go(async move { wg2.done() });
    ///     wg.wait().await;
    /// });
    /// ```
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            group: self,
            waiter: GateWaiter::new(&self.gate),
        }
    }
}

// A panic leaves the counter and the queue consistent: observing it after one is fine.
impl std::panic::UnwindSafe for WaitGroup {}
impl std::panic::RefUnwindSafe for WaitGroup {}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// The future of [`WaitGroup::wait`].
///
/// ```
/// gort_runtime::block_on(async {
///     let wg = gort_sync::WaitGroup::new();
///     let wait: gort_sync::Wait<'_> = wg.wait();
///     wait.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    group: &'a WaitGroup,
    /// Pinned.
    waiter: GateWaiter<'a>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the waiter is structurally pinned (never moved out); `group` is a reference.
        let this = unsafe { self.get_unchecked_mut() };
        let count = &this.group.count;
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&mut this.waiter) };
        waiter.poll_event(cx, || count.load(Acquire) == 0, || false)
    }
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("queued", &self.waiter.is_queued())
            .finish_non_exhaustive()
    }
}
