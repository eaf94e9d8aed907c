//! Go's channels: MPMC, rendezvous (capacity 0), buffered and unbounded, waker-based.
//!
//! # Algorithm (Go's `runtime/chan.go`)
//!
//! A channel is one mutex around a ring buffer and two FIFO queues of parked senders and
//! receivers (`state.rs`); each parked operation is a node inside its own future
//! (`waiter.rs`), so waiting allocates nothing beyond the future.
//!
//! - **send**: a parked receiver gets the value handed over directly and is woken; otherwise a
//!   buffered channel with room takes it at the back; otherwise the sender parks with its value.
//! - **recv**: the buffer's front, refilled from the first parked sender; otherwise (a
//!   rendezvous channel) the first parked sender's value directly; otherwise `None` if closed;
//!   otherwise the receiver parks.
//! - **close**: every parked receiver wakes to `None` (the buffer is empty when receivers are
//!   parked), every parked sender wakes with its value back in `SendError`; values already
//!   buffered are still received. The last `Sender` dropped closes the channel, and so does the
//!   last `Receiver` (nobody could receive: senders get their values back instead of waiting
//!   forever).
//!
//! A wake from inside a running goroutine puts the woken goroutine in that worker's `runnext`,
//! so a sender and the receiver it hands to stay on one worker, as Go's `goready` arranges.
//! Every operation spends one unit of the coop budget. See `ops.rs` for cancel safety.
//!
//! # Examples
//!
//! ```
//! use gort_sync::chan;
//! gort_runtime::block_on(async {
//!     let (tx, rx) = chan::bounded::<u32>(0); // unbuffered: every send is a rendezvous
//!     let producer = gort_runtime::go(async move {
//!         for i in 0..3 {
//!             tx.send(i).await.unwrap();
//!         }
//!     }); // `tx` dropped at the end: the channel closes
//!     let mut got = Vec::new();
//!     while let Some(v) = rx.recv().await {
//!         got.push(v);
//!     }
//!     producer.await.unwrap();
//!     assert_eq!(got, [0, 1, 2]);
//! });
//! ```

mod error;
#[cfg(all(test, gort_loom))]
mod loom_buffered;
#[cfg(all(test, gort_loom))]
mod loom_chan;
mod ops;
pub(crate) mod select;
mod state;
mod waiter;

pub use error::{SendError, TryRecvError, TrySendError};
pub use ops::{Recv, SendFut};

use crate::loom::Arc;
use crate::loom::atomic::Ordering::Relaxed;
use futures_core::Stream;
use ops::{cancel_recv, poll_recv};
use state::{Chan, UNBOUNDED};
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::ptr::NonNull;
use std::task::{Context, Poll, Wake, Waker};
use waiter::Waiter;

/// A channel with room for `cap` values; `cap == 0` is Go's unbuffered channel, where every
/// send waits for a receiver (a rendezvous).
///
/// ```
/// let (tx, rx) = gort_sync::chan::bounded(2);
/// tx.try_send(1).unwrap();
/// tx.try_send(2).unwrap();
/// assert!(tx.try_send(3).unwrap_err().is_full());
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap != UNBOUNDED, "gort: channel capacity too large");
    new(cap)
}

/// A channel without a capacity limit: sends never wait.
///
/// ```
/// let (tx, rx) = gort_sync::chan::unbounded();
/// for i in 0..10_000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 10_000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(UNBOUNDED)
}

fn new<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (
        Sender { chan: chan.clone() },
        Receiver { chan, stream: None },
    )
}

/// The sending half; `Clone` for many producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half; `Clone` for many consumers (each value goes to one of them).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// The waiter `Stream::poll_next` parks, allocated at the first poll and reused.
    stream: Option<StreamWaiter<T>>,
}

struct StreamWaiter<T> {
    waiter: Pin<Box<Waiter<T>>>,
    parked: bool,
}

impl<T> Sender<T> {
    /// Sends `v`, waiting for room (or, unbuffered, for a receiver). Fails with the value back
    /// if the channel is closed, or closes while this waits. Dropping the future before it
    /// completes sends nothing.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let (tx, rx) = gort_sync::chan::bounded(1);
    ///     tx.send("hi").await.unwrap();
    ///     assert_eq!(rx.recv().await, Some("hi"));
    /// });
    /// ```
    pub fn send(&self, v: T) -> SendFut<'_, T> {
        SendFut {
            chan: &self.chan,
            value: Some(v),
            waiter: Waiter::new(),
            parked: false,
        }
    }

    /// Sends `v` if that can be done without waiting.
    ///
    /// # Errors
    ///
    /// `Full(v)` if no receiver waits and the buffer is full, `Closed(v)` if the channel is
    /// closed.
    ///
    /// ```
    /// use gort_sync::chan::{bounded, TrySendError};
    /// let (tx, rx) = bounded(0);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1))); // nobody is receiving
    /// drop(rx);
    /// assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut st = self.chan.lock();
        if st.closed {
            return Err(TrySendError::Closed(v));
        }
        match st.try_send(v) {
            Ok(waker) => {
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(())
            }
            Err(v) => Err(TrySendError::Full(v)),
        }
    }

    /// `send` for plain threads: blocks the calling thread. Do not call it from a goroutine
    /// (it would block the worker); await [`send`](Sender::send) there.
    ///
    /// # Errors
    ///
    /// As `send`.
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded(0);
    /// let t = std::thread::spawn(move || tx.send_blocking(5));
    /// assert_eq!(rx.recv_blocking(), Some(5));
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn send_blocking(&self, v: T) -> Result<(), SendError<T>> {
        block_on_thread(self.send(v))
    }

    /// Closes the channel; true if this call closed it (Go's `close`, without its panic on a
    /// second close).
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded::<()>(1);
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert!(rx.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Values buffered now.
    ///
    /// ```
    /// let (tx, _rx) = gort_sync::chan::bounded(4);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if nothing is buffered.
    ///
    /// ```
    /// let (tx, _rx) = gort_sync::chan::bounded::<u8>(4);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity; `None` for an unbounded channel.
    ///
    /// ```
    /// assert_eq!(gort_sync::chan::bounded::<u8>(3).0.capacity(), Some(3));
    /// assert_eq!(gort_sync::chan::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// True once the channel is closed.
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded::<u8>(0);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting for one; `None` once the channel is closed and drained (Go's
    /// `v, ok := <-ch` with `ok == false`). Dropping the future never loses a value: one handed
    /// to it goes to another receiver or back to the buffer.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let (tx, rx) = gort_sync::chan::unbounded();
    ///     tx.send(1).await.unwrap();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn recv(&self) -> Recv<'_, T> {
        Recv {
            chan: &self.chan,
            waiter: Waiter::new(),
            parked: false,
        }
    }

    /// Receives a value if one is ready.
    ///
    /// # Errors
    ///
    /// `Empty` if nothing is buffered and no sender waits, `Closed` if the channel is closed
    /// and drained.
    ///
    /// ```
    /// use gort_sync::chan::{bounded, TryRecvError};
    /// let (tx, rx) = bounded(1);
    /// tx.try_send(9).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(9));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.chan.lock();
        match st.try_recv() {
            Some((v, waker)) => {
                drop(st);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(v)
            }
            None if st.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// `recv` for plain threads: blocks the calling thread. Do not call it from a goroutine;
    /// await [`recv`](Receiver::recv) there.
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded(1);
    /// tx.try_send(3).unwrap();
    /// assert_eq!(rx.recv_blocking(), Some(3));
    /// ```
    pub fn recv_blocking(&self) -> Option<T> {
        block_on_thread(self.recv())
    }

    /// Closes the channel; true if this call closed it. Buffered values can still be received.
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded(1);
    /// tx.try_send(1).unwrap();
    /// assert!(rx.close());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Values buffered now.
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if nothing is buffered.
    ///
    /// ```
    /// let (_tx, rx) = gort_sync::chan::bounded::<u8>(2);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity; `None` for an unbounded channel.
    ///
    /// ```
    /// assert_eq!(gort_sync::chan::bounded::<u8>(0).1.capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// True once the channel is closed (values may still be buffered).
    ///
    /// ```
    /// let (tx, rx) = gort_sync::chan::bounded::<u8>(0);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let sw = this.stream.get_or_insert_with(|| StreamWaiter {
            waiter: Box::pin(Waiter::new()),
            parked: false,
        });
        let waiter = NonNull::from(&*sw.waiter);
        poll_recv(&this.chan, waiter, &mut sw.parked, cx)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.fetch_add(1, Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.receivers.fetch_add(1, Relaxed);
        Receiver {
            chan: self.chan.clone(),
            stream: None,
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.release(&self.chan.senders);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(sw) = &mut self.stream {
            let waiter = NonNull::from(&*sw.waiter);
            cancel_recv(&self.chan, waiter, &mut sw.parked);
        }
        self.chan.release(&self.chan.receivers);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// Polls `fut` to completion on the calling thread, parking it between polls.
fn block_on_thread<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
