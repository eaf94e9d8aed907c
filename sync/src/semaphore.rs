//! `Semaphore`: golang.org/x/sync's `semaphore.Weighted`, waker-based.
//!
//! # Semantics (x/sync's)
//!
//! A semaphore of `size` permits. `acquire(n)` takes `n` at once, waiting while fewer are free;
//! waiters are served in FIFO order, and a waiter that wants more than is free blocks those
//! queued behind it even if they want less (so a large acquirer is not starved by a stream of
//! small ones). A request for more than `size` can never succeed: it waits for ever without
//! queueing, so it blocks nobody (x/sync's waits for its context; here it waits until the
//! caller drops it, under a timeout, a `select!` or a context). A [`Permit`] gives its permits
//! back when dropped.
//!
//! # The state word
//!
//! `free << 1 | WAITERS`, in one `AtomicU64`. The uncontended paths are one compare-and-swap:
//! an acquire takes `n` if `WAITERS` is clear and `n` are free (with waiters queued it must
//! queue behind them, FIFO), and a release adds its permits if `WAITERS` is clear. Otherwise
//! both go under the queue's spin lock. A waiter sets `WAITERS` with a compare-and-swap that
//! fails if permits were added meanwhile (it then looks again), and a release that sees
//! `WAITERS` adds its permits under the queue's lock and then grants from the head: so a
//! release either sees the waiter or happened before it looked. `WAITERS` is set exactly while
//! the queue is not empty (under the lock).
//!
//! # Granting
//!
//! Under the lock, while the head of the queue wants no more than is free: take its permits
//! from the word, unlink it marked `granted`, and wake it. Stop at the first that wants more.
//!
//! # Cancellation
//!
//! A dropped [`Acquire`] that was granted gives its permits back (and grants on); one still
//! queued unlinks itself and then grants on, since it may have been the head that blocked the
//! others (x/sync's "a cancelled waiter at the head unblocks those behind it").

use crate::loom::atomic::{AtomicU64, Ordering::*};
use crate::waitq::{Node, WaitQueue};
use gort_runtime::__private::SpinLock;
use gort_runtime::coop;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

const WAITERS: u64 = 1;
/// The most permits a semaphore holds (the word keeps one bit for `WAITERS`).
const MAX_PERMITS: u64 = u64::MAX >> 1;

/// A waiter's data: what it wants, and whether it got it.
struct Want {
    n: u64,
    granted: bool,
}

/// A weighted semaphore (x/sync's `semaphore.Weighted`): FIFO, and a large waiter blocks later
/// small ones. See the module docs.
///
/// ```
/// use gort_sync::Semaphore;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort_runtime::block_on(async {
///     // At most 3 of the 10 goroutines inside at once.
///     let sem = Arc::new(Semaphore::new(3));
///     let inside = Arc::new(AtomicUsize::new(0));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let (sem, inside) = (sem.clone(), inside.clone());
///             gort_runtime::go(async move {
///                 let _permit = sem.acquire(1).await;
///                 assert!(inside.fetch_add(1, Ordering::SeqCst) < 3);
///                 gort_runtime::yield_now().await;
///                 inside.fetch_sub(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     for h in handles {
///         h.await.unwrap();
///     }
///     assert_eq!(sem.available(), 3);
/// });
/// ```
pub struct Semaphore {
    state: AtomicU64,
    size: u64,
    queue: SpinLock<WaitQueue<Want>>,
}

impl Semaphore {
    /// A semaphore with `n` permits, all free (x/sync's `NewWeighted`).
    ///
    /// # Panics
    /// If `n` is over 2^63 - 1.
    ///
    /// ```
    /// let sem = gort_sync::Semaphore::new(5);
    /// assert_eq!(sem.available(), 5);
    /// ```
    pub fn new(n: u64) -> Semaphore {
        assert!(
            n <= MAX_PERMITS,
            "gort: a semaphore holds at most 2^63 - 1 permits, not {n}"
        );
        Semaphore {
            state: AtomicU64::new(n << 1),
            size: n,
            queue: SpinLock::new(WaitQueue::new()),
        }
    }

    /// The permits free now (a snapshot).
    ///
    /// ```
    /// let sem = gort_sync::Semaphore::new(5);
    /// let permit = sem.try_acquire(2).unwrap();
    /// assert_eq!(sem.available(), 3);
    /// drop(permit);
    /// assert_eq!(sem.available(), 5);
    /// ```
    pub fn available(&self) -> u64 {
        self.state.load(Relaxed) >> 1
    }

    /// Waits for `n` permits and takes them at once (x/sync's `Acquire`). Waiters are served
    /// in FIFO order; `n` over the semaphore's size never succeeds (see the module docs).
    /// Cancel-safe: dropping the future gives back permits it was granted and lets those
    /// queued behind it go first.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let sem = gort_sync::Semaphore::new(4);
    ///     let big = sem.acquire(3).await;
    ///     assert_eq!(big.permits(), 3);
    ///     assert!(sem.try_acquire(2).is_none());
    /// });
    /// ```
    pub fn acquire(&self, n: u64) -> Acquire<'_> {
        Acquire {
            sem: self,
            node: Node::new(Want { n, granted: false }),
            n,
            queued: false,
        }
    }

    /// `n` permits if they are free now and nobody waits (x/sync's `TryAcquire`).
    ///
    /// ```
    /// let sem = gort_sync::Semaphore::new(1);
    /// let permit = sem.try_acquire(1).unwrap();
    /// assert!(sem.try_acquire(1).is_none());
    /// drop(permit);
    /// assert!(sem.try_acquire(1).is_some());
    /// ```
    pub fn try_acquire(&self, n: u64) -> Option<Permit<'_>> {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & WAITERS != 0 || s >> 1 < n {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(s, s - (n << 1), Acquire, Relaxed)
            {
                Ok(_) => return Some(Permit { sem: self, n }),
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes `n` permits, or queues `node` (as wanting `n`): true if taken.
    fn acquire_slow(&self, node: NonNull<Node<Want>>, n: u64, waker: &Waker) -> bool {
        let mut queue = self.queue.lock();
        let mut s = self.state.load(Relaxed);
        loop {
            let (new, taken) = if s & WAITERS == 0 && s >> 1 >= n {
                (s - (n << 1), true)
            } else {
                (s | WAITERS, false)
            };
            match self.state.compare_exchange(s, new, Acquire, Relaxed) {
                Ok(_) if taken => return true,
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        // SAFETY: we hold the queue's lock; the node is pinned in the `Acquire` future, which
        // unlinks it before it goes away, and is not linked.
        unsafe { queue.park(node, waker, |want| want.granted = false) };
        false
    }

    /// Gives back `n` permits, granting them on to waiters.
    fn release(&self, n: u64) {
        let mut s = self.state.load(Relaxed);
        while s & WAITERS == 0 {
            match self
                .state
                .compare_exchange_weak(s, s + (n << 1), Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        let mut queue = self.queue.lock();
        self.state.fetch_add(n << 1, Release);
        let wakers = self.grant(&mut queue);
        drop(queue);
        wake_all(wakers);
    }

    /// Under the queue's lock: grants the head its permits while enough are free; clears
    /// `WAITERS` once the queue is empty. Returns the wakers to wake once unlocked.
    fn grant(&self, queue: &mut WaitQueue<Want>) -> Vec<Waker> {
        let mut wakers = Vec::new();
        loop {
            let Some(head) = queue.front() else {
                self.state.fetch_and(!WAITERS, Relaxed);
                return wakers;
            };
            // SAFETY: we hold the queue's lock; linked nodes are alive; no other reference.
            let want = unsafe { Node::get(head) }.data.n;
            let mut s = self.state.load(Relaxed);
            loop {
                if s >> 1 < want {
                    return wakers;
                }
                match self
                    .state
                    .compare_exchange(s, s - (want << 1), Acquire, Relaxed)
                {
                    Ok(_) => break,
                    Err(actual) => s = actual,
                }
            }
            // SAFETY: as above; `head` is linked in this queue. (The node's fields are taken
            // afresh afterwards: `remove` writes through its own reference to them.)
            unsafe { queue.remove(head) };
            // SAFETY: as above; the node was just unlinked.
            let inner = unsafe { Node::get(head) };
            inner.data.granted = true;
            wakers.extend(inner.waker.take());
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`].
///
/// ```
/// use gort_runtime::time::{Duration, timeout};
///
/// gort_runtime::block_on(async {
///     let sem = gort_sync::Semaphore::new(1);
///     let held = sem.acquire(1).await;
///     // Gives up after 1 ms: nothing stays queued, nothing is taken.
///     assert!(timeout(Duration::from_millis(1), sem.acquire(1)).await.is_err());
///     drop(held);
///     assert_eq!(sem.available(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    /// Pinned: linked in the queue while `queued` and not granted.
    node: Node<Want>,
    n: u64,
    queued: bool,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        // SAFETY: the node is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let (sem, n) = (this.sem, this.n);
        let node = NonNull::from(&this.node);
        if this.queued {
            let _queue = sem.queue.lock();
            // SAFETY: we hold the queue's lock; the node is ours.
            if unsafe { Node::get(node) }.poll_parked(cx.waker(), |want| want.granted) {
                this.queued = false;
                return Poll::Ready(Permit { sem, n });
            }
            return Poll::Pending;
        }
        if n > sem.size {
            // Can never succeed: wait for ever, blocking nobody (see the module docs).
            return Poll::Pending;
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        if let Some(permit) = sem.try_acquire(n) {
            progress.made_progress();
            return Poll::Ready(permit);
        }
        if sem.acquire_slow(node, n, cx.waker()) {
            progress.made_progress();
            return Poll::Ready(Permit { sem, n });
        }
        this.queued = true;
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if !self.queued {
            return;
        }
        let sem = self.sem;
        let node = NonNull::from(&self.node);
        let mut queue = sem.queue.lock();
        // SAFETY: we hold the queue's lock; the node is ours and pinned.
        if unsafe { Node::get(node) }.data.granted {
            // Granted but never seen: give the permits back, as a dropped `Permit` would.
            sem.state.fetch_add(self.n << 1, Release);
        } else {
            // SAFETY: not granted, so still linked in this queue; we hold its lock.
            unsafe { queue.remove(node) };
        }
        let wakers = sem.grant(&mut queue);
        drop(queue);
        wake_all(wakers);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("n", &self.n)
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back (x/sync's `Release`).
///
/// ```
/// gort_runtime::block_on(async {
///     let sem = gort_sync::Semaphore::new(2);
///     {
///         let _permit: gort_sync::Permit<'_> = sem.acquire(2).await;
///         assert_eq!(sem.available(), 0);
///     }
///     assert_eq!(sem.available(), 2);
/// });
/// ```
#[must_use = "dropping a Permit releases it at once"]
pub struct Permit<'a> {
    sem: &'a Semaphore,
    n: u64,
}

impl Permit<'_> {
    /// How many permits this holds.
    ///
    /// ```
    /// let sem = gort_sync::Semaphore::new(3);
    /// assert_eq!(sem.try_acquire(2).unwrap().permits(), 2);
    /// ```
    pub fn permits(&self) -> u64 {
        self.n
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("n", &self.n).finish()
    }
}
