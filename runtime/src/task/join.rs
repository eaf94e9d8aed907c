//! `JoinHandle`: the owned half of a goroutine, a future of its output.

use super::JoinError;
use super::raw::RawTask;
use crate::coop;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a goroutine: awaiting it gives the goroutine's output, or a [`JoinError`] if
/// it panicked or was cancelled. Dropping the handle detaches the goroutine, which runs on.
///
/// Polling a handle spends one unit of the coop budget (see [`coop`](crate::coop)).
///
/// # Examples
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// let sum = rt.block_on(async {
///     let handles: Vec<_> = (0..10u64).map(|i| gort_runtime::go(async move { i * i })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 285);
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle moves the output (a `T`) between threads, so it is Send when T is; its
// `&self` methods (abort, is_finished, id) only touch the atomic state word.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: as above: nothing reachable through `&JoinHandle` touches the output.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(super) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Cancels the goroutine: its future is dropped at its next poll point (now, if it is
    /// idle), and awaiting the handle gives a cancelled [`JoinError`]. Has no effect on a
    /// goroutine that has completed. Works from any thread.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let h = gort_runtime::go(std::future::pending::<()>());
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        self.raw.remote_abort();
    }

    /// True once the goroutine has completed (returned, panicked or been cancelled).
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let h = gort_runtime::go(async {});
    ///     while !h.is_finished() {
    ///         gort_runtime::yield_now().await;
    ///     }
    ///     h.await.unwrap();
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// The goroutine's id, as [`dump`](crate::runtime::dump) shows it.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let h = rt.spawn(async {});
    /// assert!(h.id() > 0);
    /// ```
    pub fn id(&self) -> u64 {
        self.raw.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the task's output type (the handle was made with it) and `self`
        // is the task's one JoinHandle.
        unsafe { self.raw.try_read_output((&raw mut out).cast(), cx.waker()) };
        if out.is_ready() {
            progress.made_progress();
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle_slow();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
