//! A parked sender or receiver: an intrusive node in the future itself, and the FIFO list of
//! them each channel keeps (Go's `sudog` and `waitq`).
//!
//! Every field of a node is guarded by the lock of the channel it waits on: the owner (the
//! future) and the counterparty that completes it only touch it with that lock held, so the
//! node needs no atomics. A node is linked while its `state` is `Waiting`; whoever moves it to
//! `Done` or `Closed` unlinks it first, so the owner finds it unlinked afterwards and may drop
//! it without touching the list.
//!
//! A node parked by `select!` also points at its select's [`Token`] and carries its arm's
//! index. A counterparty may complete such a node only after claiming the token for that arm
//! ([`WaitList::claim_front`]); if the token is already claimed for another arm, or the select
//! is aborting a registration round, the node is dead: the counterparty unlinks it, marks it
//! `Skipped` and looks further. The token lives in the select future, which unlinks all its
//! nodes before it goes away, so a linked node's token pointer is always valid under the lock.

use crate::select::Token;
use std::cell::UnsafeCell;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
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
    /// A select's node unlinked by a counterparty because its select had been decided
    /// otherwise: nothing happened to it; a sender's value is still in `value`.
    Skipped,
}

pub(crate) struct Node<T> {
    prev: Option<NonNull<Waiter<T>>>,
    next: Option<NonNull<Waiter<T>>>,
    pub(crate) state: WaitState,
    pub(crate) value: Option<T>,
    pub(crate) waker: Option<Waker>,
    /// For a node parked by `select!`: its select's token and the arm this node is.
    pub(crate) select: Option<(NonNull<Token>, usize)>,
}

pub(crate) struct Waiter<T> {
    /// Initialised exactly while the owning operation is parked (from `init` to `take`), so
    /// an operation that completes without parking never writes it.
    node: UnsafeCell<MaybeUninit<Node<T>>>,
    _pinned: PhantomPinned,
}

// SAFETY: the node is only touched under its channel's lock (see the module comment), and
// holds a `T` only to move it between threads, which `T: Send` allows.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: as above; `&Waiter` gives nothing without the lock.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    pub(crate) const fn new() -> Waiter<T> {
        Waiter {
            node: UnsafeCell::new(MaybeUninit::uninit()),
            _pinned: PhantomPinned,
        }
    }

    /// Parks: writes a fresh `Waiting` node, not yet linked.
    ///
    /// # Safety
    /// The caller owns the waiter, holds the lock of the channel it is about to link it on,
    /// and the node is not initialised (the operation is not parked).
    pub(crate) unsafe fn init(
        ptr: NonNull<Waiter<T>>,
        value: Option<T>,
        waker: Waker,
        select: Option<(NonNull<Token>, usize)>,
    ) {
        let node = Node {
            prev: None,
            next: None,
            state: WaitState::Waiting,
            value,
            waker: Some(waker),
            select,
        };
        // SAFETY: forwarded to the caller; writing over an uninitialised node drops nothing.
        unsafe { (*(*ptr.as_ptr()).node.get()).write(node) };
    }

    /// Un-parks: reads the node out, leaving it uninitialised.
    ///
    /// # Safety
    /// The caller owns the waiter, holds the lock of the channel it was parked on, the node
    /// is initialised and not linked (its state is not `Waiting`, or it was just removed).
    pub(crate) unsafe fn take(ptr: NonNull<Waiter<T>>) -> Node<T> {
        // SAFETY: forwarded to the caller.
        unsafe { (*(*ptr.as_ptr()).node.get()).assume_init_read() }
    }

    /// The node's fields.
    ///
    /// # Safety
    /// The node is initialised (its operation is parked); the caller holds the lock of the
    /// channel it is parked on, and holds no other reference to this node.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn node<'a>(ptr: NonNull<Waiter<T>>) -> &'a mut Node<T> {
        // SAFETY: forwarded to the caller.
        unsafe { (*(*ptr.as_ptr()).node.get()).assume_init_mut() }
    }
}

/// A FIFO of parked waiters.
///
/// `repr(C)`: the head first, on the channel's hot cache line (see `state.rs`).
#[repr(C)]
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

    /// Parks `w` at the back of this list: writes its fresh `Waiting` node (the value it
    /// offers, the waker to wake, the select it belongs to) and links it.
    ///
    /// # Safety
    /// Under the channel's lock; the caller owns `w`, which is pinned, not parked, and stays
    /// alive while linked.
    pub(crate) unsafe fn park(
        &mut self,
        w: NonNull<Waiter<T>>,
        value: Option<T>,
        waker: &Waker,
        select: Option<(NonNull<Token>, usize)>,
    ) {
        // SAFETY: forwarded to the caller; `init` leaves the node initialised and unlinked,
        // as `push_back` needs.
        unsafe {
            Waiter::init(w, value, waker.clone(), select);
            self.push_back(w);
        }
    }

    /// # Safety
    /// Under the channel's lock; `w` is alive, pinned, unlinked, and stays alive while linked.
    unsafe fn push_back(&mut self, w: NonNull<Waiter<T>>) {
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
    unsafe fn pop_front(&mut self) -> Option<NonNull<Waiter<T>>> {
        let w = self.head?;
        // SAFETY: linked waiters are alive (push_back's contract); we hold the lock.
        unsafe { self.remove(w) };
        Some(w)
    }

    /// Unlinks and returns the first waiter that may be completed now: a plain one, or a
    /// select's whose token this call claims for the node's arm. Dead select nodes before it
    /// are unlinked and marked `Skipped`.
    ///
    /// # Safety
    /// Under the channel's lock.
    pub(crate) unsafe fn claim_front(&mut self) -> Option<NonNull<Waiter<T>>> {
        // SAFETY: under the lock (forwarded to the caller).
        while let Some(w) = unsafe { self.pop_front() } {
            // SAFETY: a popped waiter is alive and ours to complete under the lock.
            let node = unsafe { Waiter::node(w) };
            match node.select {
                None => return Some(w),
                // SAFETY: a linked node's token is alive (see the module comment).
                Some((token, arm)) if unsafe { token.as_ref() }.claim(arm) => return Some(w),
                Some(_) => node.state = WaitState::Skipped,
            }
        }
        None
    }

    /// Whether a waiter other than those of the select owning `me` could be completed now
    /// (a plain one, or one of a select still waiting): a select registering an arm on this
    /// list's channel must not park if so.
    ///
    /// # Safety
    /// Under the channel's lock.
    pub(crate) unsafe fn has_partner(&self, me: NonNull<Token>) -> bool {
        let mut cursor = self.head;
        while let Some(w) = cursor {
            // SAFETY: linked waiters are alive; under the lock; no other reference is live.
            let node = unsafe { Waiter::node(w) };
            match node.select {
                None => return true,
                // SAFETY: a linked node's token is alive (see the module comment).
                Some((token, _)) if token != me && unsafe { token.as_ref() }.is_waiting() => {
                    return true;
                }
                Some(_) => {}
            }
            cursor = node.next;
        }
        false
    }

    /// Ends a parked operation: unlinks `w` if nobody completed it yet, and takes its node
    /// back (its state says how the operation ended).
    ///
    /// # Safety
    /// Under the channel's lock; the caller owns `w`, which was parked in this list.
    pub(crate) unsafe fn unpark(&mut self, w: NonNull<Waiter<T>>) -> Node<T> {
        // SAFETY: forwarded to the caller; a `Waiting` node is still linked here, any other
        // was unlinked by whoever completed it, so `take` finds it unlinked either way.
        unsafe {
            if Waiter::node(w).state == WaitState::Waiting {
                self.remove(w);
            }
            Waiter::take(w)
        }
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
