//! `Cond`: Go's `sync.Cond`, a condition variable for goroutines, waker-based.
//!
//! # Algorithm
//!
//! A wait queue (`waitq.rs`) of waiters. `wait(guard)` returns a future that, at its first
//! poll, links its node in the queue *and then* unlocks the mutex (drops the guard), both
//! before it returns: a `signal` from a goroutine that takes the mutex after that finds the
//! waiter queued, so no signal sent after the unlock is lost (Go's `notifyListAdd` before the
//! unlock, for the same reason). `signal` unlinks the head and wakes it; `broadcast` unlinks
//! and wakes them all. A woken waiter then locks the mutex again, through the mutex's own
//! `lock` future, and returns the new guard.
//!
//! As in Go, a waiter may find the condition false when it returns (another goroutine may
//! have taken the mutex first and changed it): callers wait in a loop.
//!
//! # Cancellation
//!
//! A waiter dropped while queued unlinks itself. One that a `signal` had picked passes the
//! signal on to the next waiter (so the signal is not lost with it), whether it had started
//! locking the mutex again or not; a `broadcast` woke everyone anyway. Its `Lock` future, if
//! any, is dropped as a `Lock` is (`mutex.rs`).

use crate::mutex::{Lock, Mutex, MutexGuard};
use crate::waitq::{Node, WaitQueue};
use gort_runtime::__private::SpinLock;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// How a waiter was woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Woken {
    No,
    /// By `signal`: this waiter is the one it picked.
    Signal,
    /// By `broadcast`.
    Broadcast,
}

/// A condition variable (Go's `sync.Cond`): goroutines wait for a condition on data behind a
/// [`Mutex`], and those that change it `signal` one waiter or `broadcast` to all.
///
/// ```
/// use gort_sync::{Cond, Mutex};
/// use std::sync::Arc;
///
/// gort_runtime::block_on(async {
///     let state = Arc::new((Mutex::new(false), Cond::new()));
///     let s = state.clone();
///     let waiter = gort_runtime::go(async move {
///         let (ready, cond) = &*s;
///         let mut guard = ready.lock().await;
///         while !*guard {
///             guard = cond.wait(guard).await;
///         }
///     });
///     let (ready, cond) = &*state;
///     *ready.lock().await = true;
///     cond.broadcast();
///     waiter.await.unwrap();
/// });
/// ```
pub struct Cond {
    waiters: SpinLock<WaitQueue<Woken>>,
}

impl Cond {
    /// A condition variable with nobody waiting.
    ///
    /// ```
    /// let cond = gort_sync::Cond::new();
    /// cond.signal(); // nobody waits: nothing happens
    /// ```
    pub fn new() -> Cond {
        Cond {
            waiters: SpinLock::new(WaitQueue::new()),
        }
    }

    /// Unlocks the guard's mutex and waits for a `signal` or `broadcast`, then locks it again
    /// and returns the new guard (Go's `Wait`). Cancel-safe.
    ///
    /// ```
    /// use gort_sync::{Cond, Mutex};
    /// use std::sync::Arc;
    ///
    /// gort_runtime::block_on(async {
    ///     let pair = Arc::new((Mutex::new(0), Cond::new()));
    ///     let p = pair.clone();
    ///     gort_runtime::go(async move {
    ///         *p.0.lock().await = 7;
    ///         p.1.signal();
    ///     });
    ///     let mut n = pair.0.lock().await;
    ///     while *n == 0 {
    ///         n = pair.1.wait(n).await;
    ///     }
    ///     assert_eq!(*n, 7);
    /// });
    /// ```
    pub fn wait<'a, 'm, T: ?Sized>(&'a self, guard: MutexGuard<'m, T>) -> CondWait<'a, 'm, T> {
        CondWait {
            cond: self,
            mutex: MutexGuard::mutex(&guard),
            guard: Some(guard),
            node: Node::new(Woken::No),
            queued: false,
            relock: None,
        }
    }

    /// Wakes one waiting goroutine, if any (Go's `Signal`).
    ///
    /// ```
    /// gort_sync::Cond::new().signal();
    /// ```
    pub fn signal(&self) {
        let mut queue = self.waiters.lock();
        // SAFETY: we hold the queue's lock; linked nodes are alive.
        let waker = unsafe { queue.pop_front() }.and_then(|node| {
            // SAFETY: as above; the node was just unlinked.
            let inner = unsafe { Node::get(node) };
            inner.data = Woken::Signal;
            inner.waker.take()
        });
        drop(queue);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every waiting goroutine (Go's `Broadcast`).
    ///
    /// ```
    /// gort_sync::Cond::new().broadcast();
    /// ```
    pub fn broadcast(&self) {
        let mut wakers = Vec::new();
        let mut queue = self.waiters.lock();
        // SAFETY: we hold the queue's lock; linked nodes are alive.
        while let Some(node) = unsafe { queue.pop_front() } {
            // SAFETY: as above; the node was just unlinked.
            let inner = unsafe { Node::get(node) };
            inner.data = Woken::Broadcast;
            wakers.extend(inner.waker.take());
        }
        drop(queue);
        for w in wakers {
            w.wake();
        }
    }

    /// Links `node` (the caller's, pinned) in the queue.
    fn enqueue(&self, node: NonNull<Node<Woken>>, waker: &Waker) {
        let mut queue = self.waiters.lock();
        // SAFETY: we hold the queue's lock; the node is pinned in its `CondWait`, which
        // unlinks it before it goes away, and is not linked.
        unsafe { queue.park(node, waker, |woken| *woken = Woken::No) };
    }
}

impl Default for Cond {
    fn default() -> Cond {
        Cond::new()
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}

/// The future of [`Cond::wait`].
///
/// ```
/// use gort_runtime::time::{Duration, timeout};
///
/// gort_runtime::block_on(async {
///     let (m, cond) = (gort_sync::Mutex::new(()), gort_sync::Cond::new());
///     let guard = m.lock().await;
///     // Nobody signals: give up after 1 ms (the mutex was unlocked meanwhile).
///     assert!(timeout(Duration::from_millis(1), cond.wait(guard)).await.is_err());
///     assert!(m.try_lock().is_some());
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct CondWait<'a, 'm, T: ?Sized> {
    cond: &'a Cond,
    mutex: &'m Mutex<T>,
    /// Held until the first poll, which queues and then drops it.
    guard: Option<MutexGuard<'m, T>>,
    /// Pinned: linked in the queue while `queued` and not woken.
    node: Node<Woken>,
    queued: bool,
    /// Pinned: locking the mutex again, once woken.
    relock: Option<Lock<'m, T>>,
}

// SAFETY: the node is touched only under the cond's queue lock; the rest is a guard, a lock
// future and references, which are `Send` when `T` is.
unsafe impl<T: ?Sized + Send> Send for CondWait<'_, '_, T> {}
// SAFETY: `&CondWait` gives access to nothing.
unsafe impl<T: ?Sized + Send> Sync for CondWait<'_, '_, T> {}

impl<'m, T: ?Sized> Future for CondWait<'_, 'm, T> {
    type Output = MutexGuard<'m, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'m, T>> {
        // SAFETY: `node` and `relock` are structurally pinned (never moved out while in use);
        // the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.node);
        if let Some(guard) = this.guard.take() {
            // Queue first, then unlock: a signal after the unlock finds us queued.
            this.cond.enqueue(node, cx.waker());
            this.queued = true;
            drop(guard);
            return Poll::Pending;
        }
        if this.queued {
            let _queue = this.cond.waiters.lock();
            // SAFETY: we hold the queue's lock; the node is ours.
            if !unsafe { Node::get(node) }.poll_parked(cx.waker(), |&w| w != Woken::No) {
                return Poll::Pending;
            }
            this.queued = false;
            this.relock = Some(this.mutex.lock());
        }
        let relock = this
            .relock
            .as_mut()
            .expect("gort: CondWait polled after it completed");
        // SAFETY: `relock` lives in this pinned future and is never moved out until dropped.
        let guard = std::task::ready!(unsafe { Pin::new_unchecked(relock) }.poll(cx));
        this.relock = None;
        // SAFETY: the node is ours; it is unlinked (woken) and nobody else looks at it now.
        unsafe { Node::get(node) }.data = Woken::No;
        Poll::Ready(guard)
    }
}

impl<T: ?Sized> Drop for CondWait<'_, '_, T> {
    fn drop(&mut self) {
        let node = NonNull::from(&self.node);
        let picked = if self.queued {
            let mut queue = self.cond.waiters.lock();
            // SAFETY: we hold the queue's lock; the node is ours and pinned.
            let woken = unsafe { Node::get(node) }.data;
            if woken == Woken::No {
                // SAFETY: not woken, so still linked in this queue; we hold its lock.
                unsafe { queue.remove(node) };
            }
            woken == Woken::Signal
        } else {
            // SAFETY: not queued: nobody else looks at the node.
            self.relock.is_some() && unsafe { Node::get(node) }.data == Woken::Signal
        };
        if picked {
            // The signal picked this waiter, which leaves without using it: pass it on.
            self.cond.signal();
        }
    }
}

impl<T: ?Sized> fmt::Debug for CondWait<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondWait")
            .field("queued", &self.queued)
            .field("relocking", &self.relock.is_some())
            .finish_non_exhaustive()
    }
}
