//! Cooperative preemption by budget: how a goroutine that never blocks still yields.
//!
//! Go preempts a goroutine that runs for more than 10 ms (sysmon sets a flag, or sends a
//! signal). A future can only be interrupted where it returns, so gort counts instead: every
//! time slice a worker starts gets a budget of [`BUDGET`] units, and every leaf future that can
//! make progress without waiting (a channel with values buffered, an uncontended lock, an
//! expired timer, a ready socket, a finished `JoinHandle`) spends one unit through
//! [`poll_proceed`]. When the budget is spent, the leaf future wakes its task and returns
//! `Pending` even though it could go on: the task goes to the back of its worker's queue and
//! the goroutines behind it run. A task taken from `runnext` inherits what is left of the slice
//! (Go's `inheritTime`), so a ping-pong pair cannot keep a worker to itself either.
//!
//! # A slice lasts at least `MIN_SLICE_NANOS`
//!
//! Units are cheap to spend (a channel operation that completes at once costs a few
//! nanoseconds), so 128 of them can pass in a microsecond, and a yield (the task requeued,
//! polled again, its state moved twice) costs some 60 ns. A producer and a consumer sharing a
//! worker through a buffered channel spent a tenth of their time yielding to each other every
//! 128 operations, where Go lets a goroutine run for 10 ms. So when a slice's budget first runs
//! out on a worker, the worker's clock is read and the budget renewed, and it is renewed again
//! each time it runs out until `MIN_SLICE_NANOS` (20 µs) have passed since that first read:
//! then the goroutine yields. (Reading the clock when every slice starts would cost a poll some
//! 10 ns; this way it is read once per 128 units at most, never on the path of a unit.) A
//! goroutine whose units are fast (channel operations that complete at once) thus yields after
//! 128 units and 20 µs; one whose units are slow (10 µs of work each) after 256 units, as the
//! second run-out finds the first one more than 20 µs old (2.5 ms, where Go would let it run
//! for 10). Off a worker (`block_on`'s own future on a plain thread) a spent budget
//! always yields.
//!
//! Threads that run no goroutine (a blocking-pool thread) are unconstrained: `poll_proceed`
//! always proceeds.
//!
//! # Representation
//!
//! The fast path of [`poll_proceed`] reads one thread-local byte, tests it against zero and
//! writes it back decremented. An unconstrained thread counts down too and renews its count
//! when it reaches zero (on the same cold path as the slice's renewal), so the fast path never
//! asks whether the budget binds. (An `Option<u8>`, as tokio keeps it, cost the SPSC channel
//! bench 12% of its time on one worker: its two bytes, the test of the tag and the value kept
//! for the refund held registers across each operation.)
//!
//! Leaf futures follow one rule: call `poll_proceed` before doing work, and call
//! [`Progress::made_progress`] if the poll completes. A poll that returns `Pending` after
//! proceeding (the resource was not ready) gets its unit back when the guard drops, so waiting
//! costs nothing.

use crate::loom::thread_local;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Units of work a time slice may do before its goroutine must yield (tokio uses the same);
/// a slice renews them while it is young (see the module docs).
///
/// ```
/// assert_eq!(gort_runtime::coop::BUDGET, 128);
/// ```
pub const BUDGET: u8 = 128;

/// How long a slice whose budget ran out keeps renewing it (see the module docs).
const MIN_SLICE_NANOS: u64 = 20_000;

/// A thread's budget as it is saved and restored: the units left, whether they bind, and
/// when (the worker clock's nanoseconds) the slice first ran out of them (0: not yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    left: u8,
    constrained: bool,
    since: u64,
}

impl Budget {
    pub(crate) const fn initial() -> Budget {
        Budget {
            left: BUDGET,
            constrained: true,
            since: 0,
        }
    }

    pub(crate) const fn unconstrained() -> Budget {
        Budget {
            left: u8::MAX,
            constrained: false,
            since: 0,
        }
    }
}

/// The current thread's budget, one cell per field so that the fast path touches one byte.
struct Current {
    left: Cell<u8>,
    constrained: Cell<bool>,
    since: Cell<u64>,
}

impl Current {
    const fn new() -> Current {
        Current {
            left: Cell::new(u8::MAX),
            constrained: Cell::new(false),
            since: Cell::new(0),
        }
    }

    fn get(&self) -> Budget {
        Budget {
            left: self.left.get(),
            constrained: self.constrained.get(),
            since: self.since.get(),
        }
    }

    fn set(&self, budget: Budget) {
        self.left.set(budget.left);
        self.constrained.set(budget.constrained);
        self.since.set(budget.since);
    }

    /// Spends one unit; false if the slice's budget is spent for good.
    #[inline]
    fn spend(&self) -> bool {
        let left = self.left.get();
        if left == 0 && !self.renew() {
            return false;
        }
        self.left.set(self.left.get() - 1);
        true
    }

    /// The count reached zero: renews it (true) if the budget does not bind or the slice is
    /// still young.
    #[cold]
    fn renew(&self) -> bool {
        if !self.constrained.get() {
            self.left.set(u8::MAX);
            return true;
        }
        match renewal(self.since.get(), slice_clock()) {
            Some(since) => {
                self.since.set(since);
                self.left.set(BUDGET);
                true
            }
            None => false,
        }
    }
}

/// Whether a constrained slice that ran out of units at `now` (`None`: no clock here) renews
/// its budget, and the time its first run-out is counted from if so.
fn renewal(since: u64, now: Option<u64>) -> Option<u64> {
    let now = now?.max(1);
    match since {
        0 => Some(now),
        since if now.saturating_sub(since) < MIN_SLICE_NANOS => Some(since),
        _ => None,
    }
}

/// The worker's clock (nanoseconds, cheap to read), or `None` off a worker.
#[cfg(not(gort_loom))]
fn slice_clock() -> Option<u64> {
    crate::context::with_worker(|worker| worker.map(|worker| worker.clock_nanos()))
}

/// Under loom a spent budget always yields: the models explore yields, not clocks.
#[cfg(gort_loom)]
fn slice_clock() -> Option<u64> {
    None
}

#[cfg(not(gort_loom))]
thread_local! {
    static CURRENT: Current = const { Current::new() };
}

#[cfg(gort_loom)]
thread_local! {
    static CURRENT: Current = Current::new();
}

/// Sets the current thread's budget, returning the previous one.
#[inline]
pub(crate) fn set(budget: Budget) -> Budget {
    CURRENT.with(|current| {
        let before = current.get();
        current.set(budget);
        before
    })
}

/// Runs `f` with `budget`, restoring the previous budget afterwards (even on panic).
pub(crate) fn with_budget<R>(budget: Budget, f: impl FnOnce() -> R) -> R {
    struct Reset(Budget);
    impl Drop for Reset {
        fn drop(&mut self) {
            set(self.0);
        }
    }
    let _reset = Reset(set(budget));
    f()
}

/// Spends one unit without yielding; false if the slice was already spent (a hop through
/// `runnext` pays for itself this way).
#[inline]
pub(crate) fn try_spend() -> bool {
    CURRENT.with(Current::spend)
}

/// True unless the current time slice's units are spent. (A slice younger than its minimum
/// renews them at the next unit it spends: see the module docs.)
///
/// ```
/// // Outside a runtime the budget is unconstrained.
/// assert!(gort_runtime::coop::has_budget_remaining());
/// ```
#[inline]
pub fn has_budget_remaining() -> bool {
    CURRENT.with(|current| current.left.get() != 0 || !current.constrained.get())
}

/// Proof that a leaf future spent a unit; gives it back on drop unless
/// [`made_progress`](Progress::made_progress) was called.
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// let Poll::Ready(progress) = gort_runtime::coop::poll_proceed(&mut cx) else { unreachable!() };
/// drop(progress); // no progress made: the unit is refunded
/// ```
#[must_use = "call `made_progress` when the poll completes, or the unit is refunded"]
#[derive(Debug)]
pub struct Progress {
    spent: Cell<bool>,
}

impl Progress {
    /// The operation completed: keep the unit spent.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// let mut cx = Context::from_waker(Waker::noop());
    /// if let Poll::Ready(progress) = gort_runtime::coop::poll_proceed(&mut cx) {
    ///     progress.made_progress();
    /// }
    /// ```
    #[inline]
    pub fn made_progress(&self) {
        self.spent.set(false);
    }
}

impl Drop for Progress {
    #[inline]
    fn drop(&mut self) {
        if self.spent.get() {
            CURRENT.with(|current| current.left.set(current.left.get().saturating_add(1)));
        }
    }
}

/// The call every leaf future makes at the top of its `poll`: spends one unit of the slice's
/// budget, or, if the budget is spent, wakes the task and returns `Pending` so that it yields.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
///
/// /// A future that is always ready but still lets other goroutines run.
/// struct Ready;
///
/// impl Future for Ready {
///     type Output = ();
///     fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
///         let progress = std::task::ready!(gort_runtime::coop::poll_proceed(cx));
///         progress.made_progress();
///         Poll::Ready(())
///     }
/// }
///
/// let rt = gort_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     for _ in 0..1000 {
///         Ready.await; // yields to the queue once every 128 iterations
///     }
/// });
/// ```
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<Progress> {
    if CURRENT.with(Current::spend) {
        Poll::Ready(Progress {
            spent: Cell::new(true),
        })
    } else {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Spends one unit of the budget, yielding first if it is spent: for loops that do work
/// without awaiting anything that could be pending.
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// let n = rt.block_on(async {
///     let mut n = 0u64;
///     for i in 0..10_000 {
///         n += i;
///         gort_runtime::coop::consume_budget().await;
///     }
///     n
/// });
/// assert_eq!(n, 49_995_000);
/// ```
pub async fn consume_budget() {
    std::future::poll_fn(|cx| {
        let progress = std::task::ready!(poll_proceed(cx));
        progress.made_progress();
        Poll::Ready(())
    })
    .await;
}

/// Runs a future with no budget: its leaf futures never force it to yield.
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// rt.block_on(gort_runtime::coop::unconstrained(async {
///     assert!(gort_runtime::coop::has_budget_remaining());
/// }));
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

/// The future returned by [`unconstrained`].
///
/// ```
/// let fut: gort_runtime::coop::Unconstrained<_> = gort_runtime::coop::unconstrained(async { 1 });
/// assert_eq!(gort_runtime::block_on(fut), 1);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Unconstrained<F> {
    future: F,
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`.
        let future = unsafe { self.map_unchecked_mut(|this| &mut this.future) };
        with_budget(Budget::unconstrained(), || future.poll(cx))
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_renews_within_the_minimum_slice_only() {
        // Off a worker there is no clock: a spent budget yields.
        assert_eq!(renewal(0, None), None);
        assert_eq!(renewal(7, None), None);
        // The first run-out starts the count (0 is kept for "not yet").
        assert_eq!(renewal(0, Some(5_000)), Some(5_000));
        assert_eq!(renewal(0, Some(0)), Some(1));
        // Renewed while younger than the minimum, counted from the first run-out.
        assert_eq!(
            renewal(5_000, Some(5_000 + MIN_SLICE_NANOS - 1)),
            Some(5_000)
        );
        assert_eq!(renewal(5_000, Some(5_000 + MIN_SLICE_NANOS)), None);
        // A clock that went backwards (another core's anchor) renews rather than panics.
        assert_eq!(renewal(5_000, Some(4_000)), Some(5_000));
    }

    #[test]
    fn a_constrained_budget_off_a_worker_lasts_budget_units() {
        let before = set(Budget::initial());
        let spent = (0..1_000).take_while(|_| try_spend()).count();
        assert_eq!(spent, BUDGET as usize);
        assert!(!has_budget_remaining());
        set(Budget::unconstrained());
        assert!(
            (0..1_000).all(|_| try_spend()),
            "unconstrained never runs out"
        );
        assert!(has_budget_remaining());
        set(before);
    }

    #[test]
    fn an_unused_unit_is_refunded() {
        let before = set(Budget::initial());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..1_000 {
            let Poll::Ready(progress) = poll_proceed(&mut cx) else {
                panic!("a refunded unit is never spent");
            };
            drop(progress);
        }
        let Poll::Ready(progress) = poll_proceed(&mut cx) else {
            panic!("the budget is whole");
        };
        progress.made_progress();
        drop(progress);
        let spent = (0..1_000).take_while(|_| try_spend()).count();
        assert_eq!(spent, BUDGET as usize - 1);
        set(before);
    }
}
