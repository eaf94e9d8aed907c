//! `RwMutex<T>`: Go's `sync.RWMutex`, many readers or one writer, with writer preference,
//! waker-based.
//!
//! # The state word
//!
//! One `AtomicU64`:
//!
//! - bits 0 to 60: the readers holding the lock;
//! - `WRITER`: a writer holds it;
//! - `WRITERS_WAITING`: the writers' queue is not empty. Readers that arrive now queue behind
//!   the writers instead of joining the readers inside: a waiting writer is not starved by a
//!   stream of readers (Go's `readerCount` going negative);
//! - `READERS_WAITING`: the readers' queue is not empty.
//!
//! The two queues live behind one spin lock, and the two `_WAITING` bits are set exactly while
//! their queue is not empty (under that lock). The uncontended paths are one compare-and-swap:
//! a reader adds one if neither writer bit is set; a writer goes `0 → WRITER`; a reader
//! leaving subtracts one (and takes the slow path only if it was the last reader and a writer
//! waits); a writer leaving goes `WRITER → 0` when nobody waits.
//!
//! # Hand-offs, under the queues' lock
//!
//! - The last reader out, with writers waiting: the head writer gets the lock (`WRITER`).
//! - A writer out: every queued reader gets the lock at once (Go's `Unlock` releases the
//!   readers that arrived while it held the lock), and the next writer waits for them; if no
//!   reader waits, the head writer gets it.
//! - A granted waiter is unlinked, marked `granted` and woken: it owns the lock already.
//!
//! A waiter sets its `_WAITING` bit with a compare-and-swap that requires the lock to be held
//! in the way that made it wait, under the queues' lock, so a releaser either sees the bit
//! (and takes the slow path, behind the same lock) or released first, and the waiter then
//! finds the lock free. No wake-up is lost.
//!
//! # Cancellation
//!
//! A dropped `Read` or `Write` future that was granted the lock releases it (handing it on);
//! one still queued unlinks itself. A writer that leaves the queue may unblock the readers
//! queued behind it, so it runs the hand-off logic too.

use crate::loom::atomic::{AtomicU64, Ordering::*};
use crate::waitq::{Node, WaitQueue};
use gort_runtime::__private::SpinLock;
use gort_runtime::coop;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

const WRITER: u64 = 1 << 63;
const WRITERS_WAITING: u64 = 1 << 62;
const READERS_WAITING: u64 = 1 << 61;
const READERS: u64 = READERS_WAITING - 1;
const WRITER_BITS: u64 = WRITER | WRITERS_WAITING;

/// The two queues; a node's data says whether it was granted the lock.
struct Queues {
    readers: WaitQueue<bool>,
    writers: WaitQueue<bool>,
}

/// A reader-writer lock around a `T` (Go's `sync.RWMutex`): any number of readers, or one
/// writer; a waiting writer blocks readers that arrive after it.
///
/// ```
/// use gort_sync::RwMutex;
/// use std::sync::Arc;
///
/// gort_runtime::block_on(async {
///     let config = Arc::new(RwMutex::new(String::from("v1")));
///     let readers: Vec<_> = (0..4)
///         .map(|_| {
///             let config = config.clone();
///             gort_runtime::go(async move { config.read().await.len() })
///         })
///         .collect();
///     *config.write().await = String::from("v22");
///     for r in readers {
///         assert!([2, 3].contains(&r.await.unwrap()));
///     }
/// });
/// ```
pub struct RwMutex<T: ?Sized> {
    state: AtomicU64,
    queues: SpinLock<Queues>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one writer, or `&T` to readers on several threads at
// once: `T: Send + Sync`, as for std's `RwLock`.
unsafe impl<T: ?Sized + Send> Send for RwMutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwMutex<T> {}

impl<T> RwMutex<T> {
    /// An unlocked lock around `value`.
    ///
    /// ```
    /// let rw = gort_sync::RwMutex::new(3);
    /// assert_eq!(rw.into_inner(), 3);
    /// ```
    pub fn new(value: T) -> RwMutex<T> {
        RwMutex {
            state: AtomicU64::new(0),
            queues: SpinLock::new(Queues {
                readers: WaitQueue::new(),
                writers: WaitQueue::new(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, from an owned lock.
    ///
    /// ```
    /// let rw = gort_sync::RwMutex::new(vec![1]);
    /// assert_eq!(rw.into_inner(), [1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwMutex<T> {
    /// Waits to read (Go's `RLock`): shares the lock with other readers, after any writer
    /// that waits already. Cancel-safe.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let rw = gort_sync::RwMutex::new(5);
    ///     let (a, b) = (rw.read().await, rw.read().await);
    ///     assert_eq!(*a + *b, 10);
    /// });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read {
            waiter: Waiter::new(self),
        }
    }

    /// Waits to write (Go's `Lock`): the lock alone. Cancel-safe.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let rw = gort_sync::RwMutex::new(5);
    ///     *rw.write().await += 1;
    ///     assert_eq!(*rw.read().await, 6);
    /// });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write {
            waiter: Waiter::new(self),
        }
    }

    /// Reads if no writer holds the lock or waits for it, without waiting (Go's `TryRLock`).
    ///
    /// ```
    /// let rw = gort_sync::RwMutex::new(1);
    /// let r = rw.try_read().unwrap();
    /// assert!(rw.try_write().is_none());
    /// assert!(rw.try_read().is_some());
    /// drop(r);
    /// ```
    pub fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        self.try_read_fast().then(|| ReadGuard::new(self))
    }

    /// Writes if nobody holds the lock or waits for it, without waiting (Go's `TryLock`).
    ///
    /// ```
    /// let rw = gort_sync::RwMutex::new(1);
    /// let w = rw.try_write().unwrap();
    /// assert!(rw.try_read().is_none());
    /// drop(w);
    /// assert!(rw.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<WriteGuard<'_, T>> {
        self.state
            .compare_exchange(0, WRITER, Acquire, Relaxed)
            .is_ok()
            .then(|| WriteGuard::new(self))
    }

    /// The value, through a unique reference.
    ///
    /// ```
    /// let mut rw = gort_sync::RwMutex::new(1);
    /// *rw.get_mut() = 2;
    /// assert_eq!(rw.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn try_read_fast(&self) -> bool {
        let mut s = self.state.load(Relaxed);
        loop {
            if s & WRITER_BITS != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(s, s + 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes the lock for `kind`, or queues `node`: true if taken.
    fn lock_slow(&self, kind: Kind, node: NonNull<Node<bool>>, waker: &Waker) -> bool {
        let mut queues = self.queues.lock();
        let mut s = self.state.load(Relaxed);
        loop {
            let (free, bit) = match kind {
                Kind::Read => (s & WRITER_BITS == 0, READERS_WAITING),
                Kind::Write => (s & (WRITER_BITS | READERS) == 0, WRITERS_WAITING),
            };
            let (new, taken) = if free {
                match kind {
                    Kind::Read => (s + 1, true),
                    Kind::Write => (s | WRITER, true),
                }
            } else {
                (s | bit, false)
            };
            match self.state.compare_exchange(s, new, Acquire, Relaxed) {
                Ok(_) if taken => return true,
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let queue = match kind {
            Kind::Read => &mut queues.readers,
            Kind::Write => &mut queues.writers,
        };
        // SAFETY: we hold the queues' lock; the node is pinned in its future, which unlinks
        // it before it goes away, and is not linked.
        unsafe { queue.park(node, waker, |granted| *granted = false) };
        false
    }

    fn read_unlock(&self) {
        let before = self.state.fetch_sub(1, Release);
        if before & READERS == 1 && before & WRITERS_WAITING != 0 {
            self.hand_off(false);
        }
    }

    fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Release, Relaxed)
            .is_err()
        {
            self.hand_off(true);
        }
    }

    /// Under the queues' lock: after a writer left (`writer_left`, clearing `WRITER`), the
    /// last reader left, or a queued writer gave up, gives the lock to whoever should have it
    /// now, and wakes them.
    fn hand_off(&self, writer_left: bool) {
        let mut queues = self.queues.lock();
        if writer_left {
            self.state.fetch_and(!WRITER, Release);
        }
        let wakers = self.dispatch(&mut queues, writer_left);
        drop(queues);
        for w in wakers {
            w.wake();
        }
    }

    /// Grants the lock as the state and queues say (see the module docs); `readers_first`
    /// after a writer's unlock. Returns the wakers of those granted.
    fn dispatch(&self, queues: &mut Queues, readers_first: bool) -> Vec<Waker> {
        let s = self.state.load(Relaxed);
        if s & WRITER != 0 {
            return Vec::new();
        }
        let writers_wait = !queues.writers.is_empty();
        let readers_inside = s & READERS != 0;
        if !queues.readers.is_empty() && (readers_first || !writers_wait) {
            return self.grant_readers(&mut queues.readers);
        }
        if writers_wait && !readers_inside {
            return self.grant_writer(&mut queues.writers);
        }
        Vec::new()
    }

    /// Every queued reader gets the lock.
    fn grant_readers(&self, readers: &mut WaitQueue<bool>) -> Vec<Waker> {
        let k = readers.len() as u64;
        self.update(|s| (s + k) & !READERS_WAITING);
        grant_all(readers, usize::MAX)
    }

    /// The head writer gets the lock.
    fn grant_writer(&self, writers: &mut WaitQueue<bool>) -> Vec<Waker> {
        let more = writers.len() > 1;
        self.update(|s| {
            let s = s | WRITER;
            if more { s } else { s & !WRITERS_WAITING }
        });
        grant_all(writers, 1)
    }

    /// Applies `f` to the state word (others may change it meanwhile: readers entering or
    /// leaving).
    fn update(&self, f: impl Fn(u64) -> u64) {
        let mut s = self.state.load(Relaxed);
        while let Err(actual) = self.state.compare_exchange_weak(s, f(s), AcqRel, Relaxed) {
            s = actual;
        }
    }

    /// A queued waiter of `kind` leaves (the caller holds the queues' lock, and the node is
    /// linked): unlinks it, clears its queue's bit if it was the last, and (a writer) lets
    /// through those it was holding up. Returns the wakers to wake once unlocked.
    fn leave(&self, queues: &mut Queues, kind: Kind, node: NonNull<Node<bool>>) -> Vec<Waker> {
        let (queue, bit) = match kind {
            Kind::Read => (&mut queues.readers, READERS_WAITING),
            Kind::Write => (&mut queues.writers, WRITERS_WAITING),
        };
        // SAFETY: the caller holds the queues' lock, and its node is linked in this queue.
        unsafe { queue.remove(node) };
        if queue.is_empty() {
            self.state.fetch_and(!bit, Relaxed);
        }
        match kind {
            Kind::Read => Vec::new(),
            Kind::Write => self.dispatch(queues, false),
        }
    }
}

/// Unlinks up to `max` waiters from the front of `queue`, marks them granted, and returns
/// their wakers. The caller holds the queues' lock and has given them the lock in the state.
fn grant_all(queue: &mut WaitQueue<bool>, max: usize) -> Vec<Waker> {
    let mut wakers = Vec::new();
    for _ in 0..max {
        // SAFETY: the caller holds the queues' lock; linked nodes are alive.
        let Some(node) = (unsafe { queue.pop_front() }) else {
            break;
        };
        // SAFETY: as above; the node was just unlinked.
        let inner = unsafe { Node::get(node) };
        inner.data = true;
        wakers.extend(inner.waker.take());
    }
    wakers
}

impl<T: Default> Default for RwMutex<T> {
    fn default() -> RwMutex<T> {
        RwMutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwMutex");
        match self.try_read() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// What `Read` and `Write` share: the lock, a pinned node, and whether it is queued.
struct Waiter<'a, T: ?Sized> {
    rw: &'a RwMutex<T>,
    node: Node<bool>,
    queued: bool,
}

impl<'a, T: ?Sized> Waiter<'a, T> {
    fn new(rw: &'a RwMutex<T>) -> Waiter<'a, T> {
        Waiter {
            rw,
            node: Node::new(false),
            queued: false,
        }
    }

    /// Polls for the lock as `kind`: ready once taken or granted.
    fn poll(self: Pin<&mut Self>, kind: Kind, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the node is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let rw = this.rw;
        let node = NonNull::from(&this.node);
        if this.queued {
            let _queues = rw.queues.lock();
            // SAFETY: we hold the queues' lock; the node is ours.
            if unsafe { Node::get(node) }.poll_parked(cx.waker(), |&granted| granted) {
                this.queued = false;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let fast = match kind {
            Kind::Read => rw.try_read_fast(),
            Kind::Write => rw
                .state
                .compare_exchange(0, WRITER, Acquire, Relaxed)
                .is_ok(),
        };
        if fast || rw.lock_slow(kind, node, cx.waker()) {
            progress.made_progress();
            return Poll::Ready(());
        }
        this.queued = true;
        Poll::Pending
    }

    /// For `Drop`: leaves the queue, or releases a lock granted but never seen.
    fn cancel(&mut self, kind: Kind) {
        if !self.queued {
            return;
        }
        let rw = self.rw;
        let node = NonNull::from(&self.node);
        let mut queues = rw.queues.lock();
        // SAFETY: we hold the queues' lock; the node is ours and pinned.
        if unsafe { Node::get(node) }.data {
            drop(queues);
            match kind {
                Kind::Read => rw.read_unlock(),
                Kind::Write => rw.write_unlock(),
            }
            return;
        }
        let wakers = rw.leave(&mut queues, kind, node);
        drop(queues);
        for w in wakers {
            w.wake();
        }
    }
}

/// The future of [`RwMutex::read`].
///
/// ```
/// gort_runtime::block_on(async {
///     let rw = gort_sync::RwMutex::new(1);
///     let read: gort_sync::Read<'_, i32> = rw.read();
///     assert_eq!(*read.await, 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Read<'a, T: ?Sized> {
    /// Pinned.
    waiter: Waiter<'a, T>,
}

/// The future of [`RwMutex::write`].
///
/// ```
/// gort_runtime::block_on(async {
///     let rw = gort_sync::RwMutex::new(1);
///     let write: gort_sync::Write<'_, i32> = rw.write();
///     *write.await = 2;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Write<'a, T: ?Sized> {
    /// Pinned.
    waiter: Waiter<'a, T>,
}

// SAFETY: the node is touched only under the lock's queue lock; the rest is a reference to a
// `Sync` lock.
unsafe impl<T: ?Sized + Send + Sync> Send for Read<'_, T> {}
// SAFETY: `&Read` gives access to nothing.
unsafe impl<T: ?Sized + Send + Sync> Sync for Read<'_, T> {}
// SAFETY: as for `Read`.
unsafe impl<T: ?Sized + Send + Sync> Send for Write<'_, T> {}
// SAFETY: as for `Read`.
unsafe impl<T: ?Sized + Send + Sync> Sync for Write<'_, T> {}

impl<'a, T: ?Sized> Future for Read<'a, T> {
    type Output = ReadGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ReadGuard<'a, T>> {
        // SAFETY: `waiter` is structurally pinned.
        let waiter = unsafe { self.map_unchecked_mut(|r| &mut r.waiter) };
        let rw = waiter.rw;
        waiter.poll(Kind::Read, cx).map(|()| ReadGuard::new(rw))
    }
}

impl<'a, T: ?Sized> Future for Write<'a, T> {
    type Output = WriteGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WriteGuard<'a, T>> {
        // SAFETY: `waiter` is structurally pinned.
        let waiter = unsafe { self.map_unchecked_mut(|w| &mut w.waiter) };
        let rw = waiter.rw;
        waiter.poll(Kind::Write, cx).map(|()| WriteGuard::new(rw))
    }
}

impl<T: ?Sized> Drop for Read<'_, T> {
    fn drop(&mut self) {
        self.waiter.cancel(Kind::Read);
    }
}

impl<T: ?Sized> Drop for Write<'_, T> {
    fn drop(&mut self) {
        self.waiter.cancel(Kind::Write);
    }
}

impl<T: ?Sized> fmt::Debug for Read<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("queued", &self.waiter.queued)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> fmt::Debug for Write<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("queued", &self.waiter.queued)
            .finish_non_exhaustive()
    }
}

/// Shared access to an [`RwMutex`]'s value; the read lock is released when it is dropped.
///
/// ```
/// let rw = gort_sync::RwMutex::new(String::from("go"));
/// let guard: gort_sync::ReadGuard<'_, String> = rw.try_read().unwrap();
/// assert_eq!(guard.len(), 2);
/// ```
pub struct ReadGuard<'a, T: ?Sized> {
    rw: &'a RwMutex<T>,
    _value: PhantomData<&'a T>,
}

/// Unique access to an [`RwMutex`]'s value; the write lock is released when it is dropped.
///
/// ```
/// let rw = gort_sync::RwMutex::new(1);
/// let mut guard: gort_sync::WriteGuard<'_, i32> = rw.try_write().unwrap();
/// *guard += 1;
/// drop(guard);
/// assert_eq!(rw.into_inner(), 2);
/// ```
pub struct WriteGuard<'a, T: ?Sized> {
    rw: &'a RwMutex<T>,
    _value: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> ReadGuard<'a, T> {
    fn new(rw: &'a RwMutex<T>) -> ReadGuard<'a, T> {
        ReadGuard {
            rw,
            _value: PhantomData,
        }
    }
}

impl<'a, T: ?Sized> WriteGuard<'a, T> {
    fn new(rw: &'a RwMutex<T>) -> WriteGuard<'a, T> {
        WriteGuard {
            rw,
            _value: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for ReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: only readers, sharing `&T`, are inside.
        unsafe { &*self.rw.value.get() }
    }
}

impl<T: ?Sized> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: nobody else is inside.
        unsafe { &*self.rw.value.get() }
    }
}

impl<T: ?Sized> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held, and `&mut self` makes this the only reference.
        unsafe { &mut *self.rw.value.get() }
    }
}

impl<T: ?Sized> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.rw.read_unlock();
    }
}

impl<T: ?Sized> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        self.rw.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for WriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
