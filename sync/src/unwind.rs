//! A future that catches its inner future's panics, for the primitives that carry a
//! goroutine's panic to others (`errgroup`'s `wait`, `singleflight`'s waiters), as Go's
//! versions do.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic's payload.
pub(crate) type Panic = Box<dyn Any + Send>;

/// Polls `F`, turning a panic into `Err(payload)`.
pub(crate) struct CatchUnwind<F> {
    future: F,
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(future: F) -> CatchUnwind<F> {
        CatchUnwind { future }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: never moved out.
        let future = unsafe { self.map_unchecked_mut(|c| &mut c.future) };
        // The future is not used again after a panic (it is dropped with `self`), so a state
        // it left broken is never observed.
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// The message of a panic's payload, for those who re-panic with it elsewhere.
pub(crate) fn message(panic: &Panic) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
