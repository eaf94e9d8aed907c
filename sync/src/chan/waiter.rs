//! A parked sender or receiver: an intrusive node in the future itself, and the FIFO list of
//! them each channel keeps (Go's `sudog` and `waitq`).
//!
//! Every field of a node is guarded by the lock of the channel it waits on: the owner (the
//! future) and the counterparty that completes it only touch it with that lock held, so the
//! node needs no atomics. A node is linked while its `state` is `Waiting`; whoever moves it to
//! `Done` or `Closed` unlinks it first, so the owner finds it unlinked afterwards and may drop
//! it without touching the list.

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::task::Waker;

/// Where a parked operation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitState {
    /// Linked in the channel's queue.
    Waiting,
    /// Completed by a counterparty: a receiver's value is in `value`; a sender's was taken.
    Done,
    /// Woken by `close`: a sender's value is still in `value`.
    Closed,
}

pub(crate) struct Node<T> {
    prev: Option<NonNull<Waiter<T>>>,
    next: Option<NonNull<Waiter<T>>>,
    pub(crate) state: WaitState,
    pub(crate) value: Option<T>,
    pub(crate) waker: Option<Waker>,
}

pub(crate) struct Waiter<T> {
    node: UnsafeCell<Node<T>>,
    _pinned: PhantomPinned,
}

// SAFETY: the node is only touched under its channel's lock (see the module comment), and
// holds a `T` only to move it between threads, which `T: Send` allows.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: as above; `&Waiter` gives nothing without the lock.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    pub(crate) fn new() -> Waiter<T> {
        Waiter {
            node: UnsafeCell::new(Node {
                prev: None,
                next: None,
                state: WaitState::Done,
                value: None,
                waker: None,
            }),
            _pinned: PhantomPinned,
        }
    }

    /// The node's fields.
    ///
    /// # Safety
    /// The caller holds the lock of the channel this waiter is (or was last) parked on, or is
    /// its owner and it was never parked; and holds no other reference to this node.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn node<'a>(ptr: NonNull<Waiter<T>>) -> &'a mut Node<T> {
        // SAFETY: forwarded to the caller.
        unsafe { &mut *(*ptr.as_ptr()).node.get() }
    }
}

/// A FIFO of parked waiters.
pub(crate) struct WaitList<T> {
    head: Option<NonNull<Waiter<T>>>,
    tail: Option<NonNull<Waiter<T>>>,
}

// SAFETY: the list holds pointers to waiters that are Send (see `Waiter`), used under a lock.
unsafe impl<T: Send> Send for WaitList<T> {}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> WaitList<T> {
        WaitList {
            head: None,
            tail: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// # Safety
    /// Under the channel's lock; `w` is alive, pinned, unlinked, and stays alive while linked.
    pub(crate) unsafe fn push_back(&mut self, w: NonNull<Waiter<T>>) {
        // SAFETY: forwarded to the caller.
        unsafe {
            let node = Waiter::node(w);
            node.prev = self.tail;
            node.next = None;
            match self.tail {
                Some(tail) => Waiter::node(tail).next = Some(w),
                None => self.head = Some(w),
            }
        }
        self.tail = Some(w);
    }

    /// Unlinks and returns the first waiter.
    ///
    /// # Safety
    /// Under the channel's lock.
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<Waiter<T>>> {
        let w = self.head?;
        // SAFETY: linked waiters are alive (push_back's contract); we hold the lock.
        unsafe { self.remove(w) };
        Some(w)
    }

    /// Unlinks `w`.
    ///
    /// # Safety
    /// Under the channel's lock; `w` is linked in this list.
    pub(crate) unsafe fn remove(&mut self, w: NonNull<Waiter<T>>) {
        // SAFETY: forwarded to the caller.
        unsafe {
            let node = Waiter::node(w);
            let (prev, next) = (node.prev.take(), node.next.take());
            match prev {
                Some(p) => Waiter::node(p).next = next,
                None => self.head = next,
            }
            match next {
                Some(n) => Waiter::node(n).prev = prev,
                None => self.tail = prev,
            }
        }
    }
}
