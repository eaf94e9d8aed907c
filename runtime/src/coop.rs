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
//! Outside a worker (a plain thread in `block_on`, a blocking-pool thread) the budget is
//! unconstrained and `poll_proceed` always proceeds.
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

/// Units of work a time slice may do before its goroutine must yield (tokio uses the same).
///
/// ```
/// assert_eq!(gort_runtime::coop::BUDGET, 128);
/// ```
pub const BUDGET: u8 = 128;

/// `None`: unconstrained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget(Option<u8>);

impl Budget {
    pub(crate) const fn initial() -> Budget {
        Budget(Some(BUDGET))
    }

    pub(crate) const fn unconstrained() -> Budget {
        Budget(None)
    }
}

#[cfg(not(gort_loom))]
thread_local! {
    static CURRENT: Cell<Budget> = const { Cell::new(Budget::unconstrained()) };
}

#[cfg(gort_loom)]
thread_local! {
    static CURRENT: Cell<Budget> = Cell::new(Budget::unconstrained());
}

/// Sets the current thread's budget, returning the previous one.
#[inline]
pub(crate) fn set(budget: Budget) -> Budget {
    CURRENT.with(|cell| cell.replace(budget))
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
    CURRENT.with(|cell| match cell.get() {
        Budget(Some(0)) => false,
        Budget(Some(n)) => {
            cell.set(Budget(Some(n - 1)));
            true
        }
        Budget(None) => true,
    })
}

/// True unless the current time slice's budget is spent.
///
/// ```
/// // Outside a runtime the budget is unconstrained.
/// assert!(gort_runtime::coop::has_budget_remaining());
/// ```
#[inline]
pub fn has_budget_remaining() -> bool {
    CURRENT.with(|cell| cell.get() != Budget(Some(0)))
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
    spent: Cell<Option<Budget>>,
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
        self.spent.set(None);
    }
}

impl Drop for Progress {
    #[inline]
    fn drop(&mut self) {
        if let Some(before) = self.spent.get() {
            set(before);
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
    CURRENT.with(|cell| {
        let before = cell.get();
        match before {
            Budget(Some(0)) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Budget(Some(n)) => {
                cell.set(Budget(Some(n - 1)));
                Poll::Ready(Progress {
                    spent: Cell::new(Some(before)),
                })
            }
            Budget(None) => Poll::Ready(Progress {
                spent: Cell::new(None),
            }),
        }
    })
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
