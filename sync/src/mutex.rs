//! `Mutex<T>`: Go's `sync.Mutex`, with its two modes, around a value, waker-based.
//!
//! # The state word
//!
//! One `AtomicU32`, as Go's `state int32`:
//!
//! - `LOCKED`: someone holds the lock.
//! - `WOKEN`: an unlock has woken a waiter that has not yet come back to compete; until it
//!   does, unlocks wake nobody else (one woken waiter at a time, as in Go).
//! - `STARVING`: the lock is handed from one holder to the next waiter directly (below).
//! - `WAITERS`: the wait queue is not empty. Go counts its waiters in the word; here they are
//!   counted by the queue, behind its own lock, and the word only says whether there are any.
//!
//! The uncontended paths are one compare-and-swap each: lock `0 → LOCKED`, unlock
//! `LOCKED → 0`. Any other bit sends an unlock to the slow path, under the queue's lock.
//!
//! # Normal mode
//!
//! Waiters queue in FIFO order, but a woken waiter does not own the lock: it competes for it
//! with goroutines that arrive meanwhile (a new arrival takes a free lock at once, even with
//! waiters queued). Arrivals are running already, so they usually win, which keeps the lock's
//! throughput high: handing the lock to a goroutine that still has to be scheduled would leave
//! it idle for a wake-up's latency each time. A woken waiter that loses goes back to the
//! *front* of the queue (Go's `queueLifo`).
//!
//! # Starvation mode
//!
//! A waiter that has waited more than 1 ms (Go's `starvationThresholdNs`) and loses once more
//! switches the mutex to starvation mode as it queues again. From then on an unlock hands the
//! lock straight to the waiter at the head of the queue (`LOCKED` stays set, the waiter is
//! marked `Granted`), and arrivals queue at the back without trying for it. The mode ends at a
//! hand-off to the last waiter, or to one that waited under 1 ms, as in Go. Normal mode is
//! faster; starvation mode bounds the tail latency.
//!
//! # Invariants, with the queue's lock held
//!
//! - `WAITERS` is set exactly when the queue is not empty, and `STARVING` only then.
//! - `STARVING` implies `LOCKED`: a hand-off keeps the lock locked.
//! - A waiter is `Woken` or `Granted` only once unlinked; `WOKEN` is set while exactly one
//!   waiter (or a future dropped as one) is `Woken` and has not competed again.
//!
//! A waiter that sets `WAITERS` does so with a compare-and-swap that requires `LOCKED`, under
//! the queue's lock; so an unlock either sees `WAITERS` (and takes the slow path, behind the
//! same lock) or happened before, and the waiter then finds the lock free. No wake-up is lost.
//!
//! # Cancellation
//!
//! Dropping a [`Lock`] future that waits unlinks it; one that was `Woken` passes the wake-up
//! on (to the next waiter, if the lock is free, else it clears `WOKEN` so that the holder's
//! unlock wakes one); one that was `Granted` the lock unlocks it, handing it on.

use crate::loom::atomic::{AtomicU32, Ordering::*};
use crate::waitq::{Node, WaitQueue};
use gort_runtime::__private::{SpinGuard, SpinLock};
use gort_runtime::coop;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

const LOCKED: u32 = 1;
const WOKEN: u32 = 2;
const STARVING: u32 = 4;
const WAITERS: u32 = 8;

/// How a queued waiter stands; written by whoever unlinks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    /// Woken by an unlock in normal mode: it must compete for the lock again.
    Woken,
    /// Handed the lock in starvation mode: it holds it.
    Granted,
}

/// A waiter's data in the queue.
struct Waiter {
    status: Status,
    /// When it first queued; `None` until then.
    since: Option<Since>,
}

/// When a waiter first queued (Go's `waitStartTime`). Under loom there is no clock: each
/// mutex says whether its waiters count as starving (`Mutex::starving_for_models`).
#[cfg(not(gort_loom))]
type Since = std::time::Instant;
#[cfg(gort_loom)]
type Since = NoClock;

/// The time of a waiter under loom: none.
#[cfg(gort_loom)]
#[derive(Clone, Copy, Debug)]
struct NoClock;

#[cfg(not(gort_loom))]
fn now() -> Since {
    std::time::Instant::now()
}

#[cfg(gort_loom)]
fn now() -> Since {
    NoClock
}

/// Go's `starvationThresholdNs`.
#[cfg(not(gort_loom))]
const STARVATION: std::time::Duration = std::time::Duration::from_millis(1);

/// A mutual exclusion lock around a `T`, with Go's normal and starvation modes (see the
/// module docs); `lock().await` waits without blocking the worker.
///
/// ```
/// use gort_sync::Mutex;
/// use std::sync::Arc;
///
/// gort_runtime::block_on(async {
///     let count = Arc::new(Mutex::new(0));
///     let handles: Vec<_> = (0..8)
///         .map(|_| {
///             let count = count.clone();
///             gort_runtime::go(async move {
///                 for _ in 0..100 {
///                     *count.lock().await += 1;
///                 }
///             })
///         })
///         .collect();
///     for h in handles {
///         h.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 800);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU32,
    queue: SpinLock<WaitQueue<Waiter>>,
    /// Under loom: every waiter counts as having waited over 1 ms.
    #[cfg(gort_loom)]
    starving: bool,
    value: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one holder at a time, on any thread.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above; `&Mutex<T>` gives access to `T` only through the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex around `value`.
    ///
    /// ```
    /// let m = gort_sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            state: AtomicU32::new(0),
            queue: SpinLock::new(WaitQueue::new()),
            #[cfg(gort_loom)]
            starving: false,
            value: UnsafeCell::new(value),
        }
    }

    /// A mutex whose waiters all count as having waited over 1 ms, so that the models reach
    /// starvation mode without a clock.
    #[cfg(all(test, gort_loom))]
    pub(crate) fn starving_for_models(value: T) -> Mutex<T> {
        Mutex {
            starving: true,
            ..Mutex::new(value)
        }
    }

    /// The value, from an owned mutex (nobody can hold its lock).
    ///
    /// ```
    /// let m = gort_sync::Mutex::new(String::from("go"));
    /// assert_eq!(m.into_inner(), "go");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock and returns a guard that unlocks it when dropped (Go's `Lock`).
    ///
    /// Cancel-safe: dropping the future while it waits leaves the queue, passes on a
    /// wake-up it had been given, and unlocks a lock it had been handed.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let m = gort_sync::Mutex::new(vec![1]);
    ///     m.lock().await.push(2);
    ///     assert_eq!(*m.lock().await, [1, 2]);
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            node: Node::new(Waiter {
                status: Status::Waiting,
                since: None,
            }),
            parked: false,
        }
    }

    /// The lock if it is free now, without waiting (Go's `TryLock`). In starvation mode the
    /// lock belongs to the waiters, so this fails even between two holders.
    ///
    /// ```
    /// let m = gort_sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let s = self.state.load(Relaxed);
        if s & (LOCKED | STARVING) != 0 {
            return None;
        }
        self.state
            .compare_exchange(s, s | LOCKED, Acquire, Relaxed)
            .ok()
            .map(|_| MutexGuard::new(self))
    }

    /// The value, through a unique reference (nobody can hold the lock).
    ///
    /// ```
    /// let mut m = gort_sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Whether a waiter that first queued at `since` has waited long enough to starve.
    fn waited_long(&self, since: Since) -> bool {
        #[cfg(not(gort_loom))]
        return since.elapsed() >= STARVATION;
        #[cfg(gort_loom)]
        {
            let NoClock = since;
            self.starving
        }
    }

    /// Takes the lock, or queues `node`: true if taken. `awoke`: the caller was woken by an
    /// unlock and holds the `WOKEN` bit, which it gives up either way. A node that has queued
    /// before goes back to the front.
    fn lock_slow(&self, node: NonNull<Node<Waiter>>, awoke: bool, waker: &Waker) -> bool {
        let woken = if awoke { WOKEN } else { 0 };
        let mut s = self.state.load(Relaxed);
        let mut queue: Option<SpinGuard<'_, WaitQueue<Waiter>>> = None;
        loop {
            if s & (LOCKED | STARVING) == 0 {
                // Free, in normal mode: compete for it, as arrivals do.
                match self
                    .state
                    .compare_exchange(s, (s | LOCKED) & !woken, Acquire, Relaxed)
                {
                    Ok(_) => return true,
                    Err(actual) => {
                        s = actual;
                        continue;
                    }
                }
            }
            // Held (or handed from waiter to waiter): queue, under the queue's lock, and set
            // `WAITERS` only while it is still held (see the module docs).
            if queue.is_none() {
                queue = Some(self.queue.lock());
                s = self.state.load(Relaxed);
                continue;
            }
            // SAFETY: we hold the queue's lock, and the node is ours (not linked).
            let since = unsafe { Node::get(node) }.data.since;
            let starve = since.is_some_and(|t| self.waited_long(t));
            let new = (s | WAITERS | if starve { STARVING } else { 0 }) & !woken;
            match self.state.compare_exchange(s, new, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let mut queue = queue.expect("queued under the lock");
        // SAFETY: we hold the queue's lock; the node is pinned in the caller's future, which
        // unlinks it before it goes away, and is not linked (a fresh or a woken waiter).
        unsafe {
            let inner = Node::get(node);
            inner.data.status = Status::Waiting;
            inner.set_waker(waker);
            if inner.data.since.is_none() {
                inner.data.since = Some(now());
                queue.push_back(node);
            } else {
                queue.push_front(node);
            }
        }
        false
    }

    /// Releases the lock (Go's `Unlock`).
    fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Release, Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    /// An unlock with waiters, a woken waiter or starvation: under the queue's lock, hands the
    /// lock to the head (starvation mode) or releases it and wakes the head (normal mode).
    #[cold]
    fn unlock_slow(&self) {
        let mut queue = self.queue.lock();
        let waker = if self.state.load(Relaxed) & STARVING != 0 {
            self.hand_off(&mut queue)
        } else {
            self.release_and_wake(&mut queue)
        };
        drop(queue);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Starvation mode: the head of the queue gets the lock, which stays locked.
    fn hand_off(&self, queue: &mut WaitQueue<Waiter>) -> Option<Waker> {
        // SAFETY: we hold the queue's lock; linked nodes are alive.
        let head = unsafe { queue.pop_front() }.expect("gort: a starving mutex has waiters");
        // SAFETY: as above; the node was just unlinked and its owner cannot look at it until
        // we release the lock.
        let inner = unsafe { Node::get(head) };
        inner.data.status = Status::Granted;
        let keep = !queue.is_empty() && inner.data.since.is_some_and(|t| self.waited_long(t));
        let mut clear = 0;
        if queue.is_empty() {
            clear |= WAITERS;
        }
        if !keep {
            clear |= STARVING;
        }
        self.state.fetch_and(!clear, Relaxed);
        inner.waker.take()
    }

    /// Normal mode: clears `LOCKED`, and wakes the head unless a woken waiter is on its way.
    fn release_and_wake(&self, queue: &mut WaitQueue<Waiter>) -> Option<Waker> {
        let mut s = self.state.load(Relaxed);
        loop {
            let wake = s & WAITERS != 0 && s & WOKEN == 0;
            let mut new = s & !LOCKED;
            if wake {
                new |= WOKEN;
                if queue.len() == 1 {
                    new &= !WAITERS;
                }
            }
            match self.state.compare_exchange(s, new, Release, Relaxed) {
                Ok(_) if wake => return self.wake_head(queue),
                Ok(_) => return None,
                Err(actual) => s = actual,
            }
        }
    }

    /// Unlinks the head as `Woken` and returns its waker; the caller has set `WOKEN` for it
    /// (and cleared `WAITERS` if it was the last).
    fn wake_head(&self, queue: &mut WaitQueue<Waiter>) -> Option<Waker> {
        // SAFETY: we hold the queue's lock; linked nodes are alive.
        let head = unsafe { queue.pop_front() }.expect("gort: WAITERS with an empty queue");
        // SAFETY: as above; the node was just unlinked.
        let inner = unsafe { Node::get(head) };
        inner.data.status = Status::Woken;
        inner.waker.take()
    }

    /// A `Woken` waiter is leaving without competing: hands its wake-up to the next waiter if
    /// the lock is free, or clears `WOKEN` so that the holder's unlock wakes one.
    fn pass_wake_up(&self, queue: &mut WaitQueue<Waiter>) -> Option<Waker> {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & LOCKED == 0 && s & WAITERS != 0 {
                // `WOKEN` stays set, now for the next waiter.
                if queue.len() == 1 {
                    self.state.fetch_and(!WAITERS, Relaxed);
                }
                return self.wake_head(queue);
            }
            match self.state.compare_exchange(s, s & !WOKEN, Relaxed, Relaxed) {
                Ok(_) => return None,
                Err(actual) => s = actual,
            }
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// The future of [`Mutex::lock`]; dropping it while it waits cancels the wait, losing no one's
/// turn.
///
/// ```
/// use gort_runtime::time::{Duration, timeout};
///
/// gort_runtime::block_on(async {
///     let m = gort_sync::Mutex::new(0);
///     let held = m.lock().await;
///     // Gives up waiting after 1 ms: the `Lock` future is dropped, nothing is left queued.
///     assert!(timeout(Duration::from_millis(1), m.lock()).await.is_err());
///     drop(held);
///     assert_eq!(*m.lock().await, 0);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// Pinned: linked in the mutex's queue while `parked`.
    node: Node<Waiter>,
    /// The node is in the queue, or was completed (`Woken`, `Granted`) and not yet looked at.
    parked: bool,
}

// SAFETY: the node is touched only under the mutex's queue lock; the rest is a shared
// reference to a `Sync` mutex.
unsafe impl<T: ?Sized + Send> Send for Lock<'_, T> {}
// SAFETY: `&Lock` gives access to nothing.
unsafe impl<T: ?Sized + Send> Sync for Lock<'_, T> {}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        // SAFETY: the node is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let mutex = this.mutex;
        let node = NonNull::from(&this.node);
        let awoke = if this.parked {
            let queue = mutex.queue.lock();
            // SAFETY: we hold the queue's lock; the node is ours, pinned, and nobody else
            // holds a reference to it while we do.
            let inner = unsafe { Node::get(node) };
            match inner.data.status {
                Status::Waiting => {
                    inner.set_waker(cx.waker());
                    return Poll::Pending;
                }
                Status::Granted => {
                    this.parked = false;
                    drop(queue);
                    return Poll::Ready(MutexGuard::new(mutex));
                }
                Status::Woken => {
                    this.parked = false;
                    true
                }
            }
        } else {
            false
        };
        // A first attempt spends a unit of the coop budget; a woken waiter already waited.
        let progress = if awoke {
            None
        } else {
            Some(std::task::ready!(coop::poll_proceed(cx)))
        };
        if !awoke
            && mutex
                .state
                .compare_exchange(0, LOCKED, Acquire, Relaxed)
                .is_ok()
        {
            if let Some(p) = progress {
                p.made_progress();
            }
            return Poll::Ready(MutexGuard::new(mutex));
        }
        if mutex.lock_slow(node, awoke, cx.waker()) {
            if let Some(p) = progress {
                p.made_progress();
            }
            return Poll::Ready(MutexGuard::new(mutex));
        }
        this.parked = true;
        Poll::Pending
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        if !self.parked {
            return;
        }
        let mutex = self.mutex;
        let node = NonNull::from(&self.node);
        let mut queue = mutex.queue.lock();
        // SAFETY: we hold the queue's lock; the node is ours and pinned (a pinned value is
        // dropped in place).
        let inner = unsafe { Node::get(node) };
        let waker = match inner.data.status {
            Status::Waiting => {
                // SAFETY: a `Waiting` node is linked in this queue; we hold its lock.
                unsafe { queue.remove(node) };
                if queue.is_empty() {
                    mutex.state.fetch_and(!(WAITERS | STARVING), Relaxed);
                }
                None
            }
            Status::Woken => mutex.pass_wake_up(&mut queue),
            Status::Granted => {
                drop(queue);
                mutex.unlock();
                return;
            }
        };
        drop(queue);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("parked", &self.parked)
            .finish_non_exhaustive()
    }
}

/// Holds a [`Mutex`] locked; unlocks it when dropped. Derefs to the value.
///
/// ```
/// gort_runtime::block_on(async {
///     let m = gort_sync::Mutex::new(0);
///     {
///         let mut guard = m.lock().await;
///         *guard += 1;
///     } // unlocked here
///     assert_eq!(*m.lock().await, 1);
/// });
/// ```
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// The guard is `Sync` only if `T` is, and `Send` only if `T` is.
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> MutexGuard<'a, T> {
        MutexGuard {
            mutex,
            _value: PhantomData,
        }
    }

    /// The mutex this guard holds (`Cond::wait` locks it again).
    pub(crate) fn mutex(guard: &MutexGuard<'a, T>) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so nobody else reaches the value.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
