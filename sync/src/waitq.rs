//! The wait queue of Go's `sync` primitives (the runtime's `semaRoot` of `sema.go`, one per
//! primitive): an intrusive FIFO of waiter nodes that live inside the waiting futures.
//!
//! A primitive keeps its queue behind a lock of its own (a `SpinLock`), and every field of a
//! node is touched only with that lock held: by the future that owns the node (to park, to
//! look at what happened to it, to leave) and by whoever completes it (an unlock that hands
//! the lock over, a release that grants permits). So nodes need no atomics.
//!
//! # A node's life
//!
//! 1. The future, pinned, writes its node ([`Node::park`]) and links it ([`WaitQueue::push_back`]
//!    or [`push_front`](WaitQueue::push_front), for a waiter that goes back to the head, as Go's
//!    `queueLifo`). From here until it is unlinked the node must not move or go away; the
//!    futures guarantee it by unlinking their node in `Drop`.
//! 2. A completer unlinks it ([`WaitQueue::pop_front`] or [`remove`](WaitQueue::remove)),
//!    records in its data what it gave (a lock, permits, a signal), and takes its waker to
//!    wake it once the lock is released.
//! 3. The owner, polled again, takes the lock and sees from its data whether it was completed
//!    (and so unlinked). If it is dropped instead while still linked, it unlinks itself; if it
//!    is dropped after being completed, it gives back what it was given (each primitive says
//!    how).

use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::task::Waker;

/// A waiter: the links, the waker and the primitive's data `D` (what it waits for, what it
/// was given). Lives pinned in its future.
pub(crate) struct Node<D> {
    inner: UnsafeCell<Inner<D>>,
    _pinned: PhantomPinned,
}

/// The fields of a node, all under the primitive's lock.
pub(crate) struct Inner<D> {
    prev: Option<NonNull<Node<D>>>,
    next: Option<NonNull<Node<D>>>,
    linked: bool,
    /// What to wake when the waiter is completed; taken by the completer.
    pub(crate) waker: Option<Waker>,
    pub(crate) data: D,
}

// SAFETY: a node is only touched under its primitive's lock (see the module comment); the
// data moves between threads with it, which `D: Send` allows.
unsafe impl<D: Send> Send for Node<D> {}
// SAFETY: as above: a shared reference gives nothing without the lock.
unsafe impl<D: Send> Sync for Node<D> {}

impl<D> Node<D> {
    pub(crate) const fn new(data: D) -> Node<D> {
        Node {
            inner: UnsafeCell::new(Inner {
                prev: None,
                next: None,
                linked: false,
                waker: None,
                data,
            }),
            _pinned: PhantomPinned,
        }
    }

    /// The node's fields.
    ///
    /// # Safety
    /// The caller holds the lock of the primitive whose queue the node is (or may be) linked
    /// in, `node` is alive, and no other reference to its fields is live.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get<'a>(node: NonNull<Node<D>>) -> &'a mut Inner<D> {
        // SAFETY: forwarded to the caller.
        unsafe { &mut *(*node.as_ptr()).inner.get() }
    }
}

impl<D> Inner<D> {
    /// Sets the waker to wake, cloning only if it changed.
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match &mut self.waker {
            Some(w) if w.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// A parked waiter's poll: true if `completed` says its data was completed; otherwise
    /// it keeps waiting, woken through `waker` from now on.
    pub(crate) fn poll_parked(
        &mut self,
        waker: &Waker,
        completed: impl FnOnce(&D) -> bool,
    ) -> bool {
        if completed(&self.data) {
            return true;
        }
        self.set_waker(waker);
        false
    }
}

/// A FIFO of waiters, behind its primitive's lock.
pub(crate) struct WaitQueue<D> {
    head: Option<NonNull<Node<D>>>,
    tail: Option<NonNull<Node<D>>>,
    len: usize,
}

// SAFETY: the queue holds pointers to nodes that are Send (see `Node`), used under a lock.
unsafe impl<D: Send> Send for WaitQueue<D> {}

impl<D> WaitQueue<D> {
    pub(crate) const fn new() -> WaitQueue<D> {
        WaitQueue {
            head: None,
            tail: None,
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first waiter, still linked.
    pub(crate) fn front(&self) -> Option<NonNull<Node<D>>> {
        self.head
    }

    /// Parks `node` at the back: `reset` readies its data for a new wait, `waker` is what to
    /// wake, then it is linked.
    ///
    /// # Safety
    /// As for [`push_back`](WaitQueue::push_back).
    pub(crate) unsafe fn park(
        &mut self,
        node: NonNull<Node<D>>,
        waker: &Waker,
        reset: impl FnOnce(&mut D),
    ) {
        // SAFETY: forwarded to the caller; the fields' reference ends before `push_back`
        // takes its own.
        unsafe {
            let inner = Node::get(node);
            reset(&mut inner.data);
            inner.set_waker(waker);
            self.push_back(node);
        }
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    /// Under the primitive's lock; `node` is alive, pinned and not linked, and stays so until
    /// it is unlinked.
    pub(crate) unsafe fn push_back(&mut self, node: NonNull<Node<D>>) {
        // SAFETY: forwarded to the caller; linked nodes are alive.
        unsafe {
            let inner = Node::get(node);
            debug_assert!(!inner.linked);
            inner.prev = self.tail;
            inner.next = None;
            inner.linked = true;
            match self.tail {
                Some(tail) => Node::get(tail).next = Some(node),
                None => self.head = Some(node),
            }
        }
        self.tail = Some(node);
        self.len += 1;
    }

    /// Links `node` at the front.
    ///
    /// # Safety
    /// As for [`push_back`](WaitQueue::push_back).
    pub(crate) unsafe fn push_front(&mut self, node: NonNull<Node<D>>) {
        // SAFETY: forwarded to the caller; linked nodes are alive.
        unsafe {
            let inner = Node::get(node);
            debug_assert!(!inner.linked);
            inner.prev = None;
            inner.next = self.head;
            inner.linked = true;
            match self.head {
                Some(head) => Node::get(head).prev = Some(node),
                None => self.tail = Some(node),
            }
        }
        self.head = Some(node);
        self.len += 1;
    }

    /// Unlinks and returns the first waiter.
    ///
    /// # Safety
    /// Under the primitive's lock.
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<Node<D>>> {
        let node = self.head?;
        // SAFETY: the head is linked here (and so alive); we hold the lock.
        unsafe { self.remove(node) };
        Some(node)
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    /// Under the primitive's lock; `node` is linked in this queue.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<Node<D>>) {
        // SAFETY: forwarded to the caller; its neighbours are linked, so alive.
        unsafe {
            let inner = Node::get(node);
            debug_assert!(inner.linked);
            let (prev, next) = (inner.prev.take(), inner.next.take());
            inner.linked = false;
            match prev {
                Some(p) => Node::get(p).next = next,
                None => self.head = next,
            }
            match next {
                Some(n) => Node::get(n).prev = prev,
                None => self.tail = prev,
            }
        }
        self.len -= 1;
    }
}
