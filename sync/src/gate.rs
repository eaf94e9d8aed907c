//! A gate: waiters that one event releases all at once (a `WaitGroup` reaching zero, a `Once`
//! done), on a wait queue (`waitq.rs`) whose nodes' data says "released".
//!
//! The owner of the gate publishes its event under the gate's lock ([`Gate::open`]) and then
//! wakes everyone queued. A waiter checks the event under the same lock before it queues
//! ([`GateWaiter::poll_event`]): either its check comes after the opening and sees the event,
//! or it queued before and the opening releases it. No wake-up is lost. The check is the
//! owner's (a counter at zero, a state at done), passed in as a closure.
//!
//! A [`GateWaiter`] dropped while queued unlinks its node; a released one has nothing to give
//! back.

use crate::waitq::{Node, WaitQueue};
use gort_runtime::__private::SpinLock;
use gort_runtime::coop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// The waiters of one event.
pub(crate) struct Gate {
    waiters: SpinLock<WaitQueue<bool>>,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate {
            waiters: SpinLock::new(WaitQueue::new()),
        }
    }

    /// Runs `publish` (which makes the waiters' check true) under the gate's lock, then
    /// releases and wakes everyone queued.
    pub(crate) fn open(&self, publish: impl FnOnce()) {
        let mut wakers = Vec::new();
        let mut queue = self.waiters.lock();
        publish();
        // SAFETY: we hold the queue's lock; linked nodes are alive.
        while let Some(node) = unsafe { queue.pop_front() } {
            // SAFETY: as above; the node was just unlinked, and its owner cannot look at it
            // until we release the lock.
            let inner = unsafe { Node::get(node) };
            inner.data = true;
            wakers.extend(inner.waker.take());
        }
        drop(queue);
        for w in wakers {
            w.wake();
        }
    }
}

/// One waiter of a [`Gate`], pinned in a future.
pub(crate) struct GateWaiter<'a> {
    gate: &'a Gate,
    /// Linked in the gate's queue while `queued` and not released.
    node: Node<bool>,
    queued: bool,
}

impl<'a> GateWaiter<'a> {
    pub(crate) fn new(gate: &'a Gate) -> GateWaiter<'a> {
        GateWaiter {
            gate,
            node: Node::new(false),
            queued: false,
        }
    }

    /// Whether it has queued and not yet seen its release.
    pub(crate) fn is_queued(&self) -> bool {
        self.queued
    }

    /// The poll of a future that waits for the gate's event. A queued waiter looks at its
    /// release. A new one spends a unit of the coop budget, returns at once if `is_open`, then
    /// tries `first` (which may end the wait itself: `Once`'s first caller runs `f` there), and
    /// queues otherwise, checking `is_open` once more under the gate's lock.
    pub(crate) fn poll_event(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        is_open: impl Fn() -> bool,
        first: impl FnOnce() -> bool,
    ) -> Poll<()> {
        if self.queued {
            return self.poll_wait(cx, || false);
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        if is_open() || first() || self.poll_wait(cx, is_open).is_ready() {
            progress.made_progress();
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Ready once `is_open` (read under the gate's lock) is true or the gate released it.
    fn poll_wait(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        is_open: impl FnOnce() -> bool,
    ) -> Poll<()> {
        // SAFETY: the node is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let node = NonNull::from(&this.node);
        let mut queue = this.gate.waiters.lock();
        if this.queued {
            // SAFETY: we hold the queue's lock; the node is ours, pinned, and nobody else holds
            // a reference to it while we do.
            if unsafe { Node::get(node) }.poll_parked(cx.waker(), |&released| released) {
                this.queued = false;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        if is_open() {
            return Poll::Ready(());
        }
        // SAFETY: we hold the lock; the node is pinned here, not linked, and `Drop` unlinks it
        // before it goes away.
        unsafe { queue.park(node, cx.waker(), |released| *released = false) };
        this.queued = true;
        Poll::Pending
    }
}

impl Drop for GateWaiter<'_> {
    fn drop(&mut self) {
        if !self.queued {
            return;
        }
        let node = NonNull::from(&self.node);
        let mut queue = self.gate.waiters.lock();
        // SAFETY: we hold the queue's lock; the node is ours and pinned.
        if !unsafe { Node::get(node) }.data {
            // SAFETY: not released, so still linked in this queue; we hold its lock.
            unsafe { queue.remove(node) };
        }
    }
}
