//! `timeout`: a future with a deadline.

use crate::time::sleep::{TimerEntry, current_handle};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The error of a [`timeout`] whose deadline passed first.
///
/// ```
/// let e = gort_runtime::time::Elapsed::default();
/// assert_eq!(e.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `future` for at most `d`: its output, or [`Elapsed`] if the deadline passed first
/// (the future is then dropped with the `Timeout`). The future is polled before the deadline
/// is checked, so one that is ready at once always wins.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// use gort_runtime::time::{sleep, timeout, Duration};
/// gort_runtime::block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(3600));
///     assert!(timeout(Duration::from_millis(5), slow).await.is_err());
/// });
/// ```
#[track_caller]
pub fn timeout<F: Future>(d: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        entry: TimerEntry::after(current_handle("timeout"), d),
    }
}

/// The future returned by [`timeout`].
///
/// ```
/// use gort_runtime::time::{timeout, Duration, Timeout};
/// gort_runtime::block_on(async {
///     let t: Timeout<_> = timeout(Duration::from_secs(1), async { 1 });
///     assert_eq!(t.await.unwrap(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F> {
    future: F,
    entry: TimerEntry,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: both fields are structurally pinned: neither is moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // The inner future may have spent the whole budget without completing: the deadline
        // is still checked, unbudgeted, so a timeout fires even around a busy future.
        // SAFETY: see above.
        let entry = unsafe { Pin::new_unchecked(&mut this.entry) };
        entry.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.entry.deadline())
            .finish()
    }
}
