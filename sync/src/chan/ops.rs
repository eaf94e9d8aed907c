//! The waiting operations: the `send` and `recv` futures, and the poll and cancel steps they
//! share with `Receiver`'s `Stream`.
//!
//! A future first tries to complete under the lock (a parked counterparty, or the buffer); if it
//! cannot, it parks its own `Waiter` node (pinned in the future) in the channel's queue and
//! returns `Pending`. The counterparty that completes it unlinks it, fills in or takes the value,
//! and wakes it after releasing the lock. Waking from inside a running goroutine puts the woken
//! goroutine in the waker's `runnext`, so a ping-pong pair stays on one worker (Go's `goready`).
//!
//! Cancel safety (dropping a future while it waits):
//! - a parked `send` whose value no receiver has taken is unlinked, and its value dropped with
//!   it: nothing was delivered. Once a receiver has taken the value the send has completed,
//!   even if its future is dropped before it reports so (`select!` makes such a choice exact
//!   with its token);
//! - a parked `recv` is unlinked; if a value had already been handed to it, the value goes to
//!   the next parked receiver or back to the front of the buffer (`State::give_back`): never
//!   lost.
//!
//! A parked operation that has been completed reports it at its next poll without asking the
//! coop budget, so yielding never widens the window in which a completed operation could be
//! dropped unreported.

use super::SendError;
use super::state::{Chan, State};
use super::waiter::{Node, WaitState, Waiter};
use gort_runtime::__private::SpinGuard;
use gort_runtime::coop;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

pub(crate) fn update_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Polls a receive whose waiter node is `waiter` (pinned, owned by the caller).
///
/// The path of a receive that completes at once is kept small enough to inline into the
/// goroutine's loop; parking and taking a parked receive's result are out of line.
#[inline(always)]
pub(crate) fn poll_recv<T>(
    chan: &Chan<T>,
    waiter: NonNull<Waiter<T>>,
    parked: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    if *parked {
        return take_completed(chan, waiter, parked, cx).map(received);
    }
    let progress = std::task::ready!(coop::poll_proceed(cx));
    let mut st = chan.lock();
    if let Some((v, waker)) = st.try_recv() {
        drop(st);
        progress.made_progress();
        if let Some(w) = waker {
            w.wake();
        }
        return Poll::Ready(Some(v));
    }
    if st.closed {
        drop(st);
        progress.made_progress();
        return Poll::Ready(None);
    }
    park_recv(st, waiter, parked, cx)
}

/// Parks a receive that found nothing to take.
#[inline(never)]
fn park_recv<T>(
    mut st: SpinGuard<'_, State<T>>,
    waiter: NonNull<Waiter<T>>,
    parked: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    // SAFETY: we hold the lock; the node is unused (not parked) and pinned in its future,
    // which unlinks it on drop.
    unsafe { st.recvq.park(waiter, None, cx.waker(), None) };
    *parked = true;
    Poll::Pending
}

/// A parked operation's node once a counterparty or `close` completed it, taken out of the
/// waiter; `Pending` (with `cx`'s waker stored) while it still waits. It reports a completion
/// without asking the coop budget: the operation has happened, and yielding now would only
/// risk the future being dropped with it unreported. Out of line: the ready paths of `send`
/// and `recv` inline into the goroutine's loop, and this one would only weigh them down.
#[inline(never)]
fn take_completed<T>(
    chan: &Chan<T>,
    waiter: NonNull<Waiter<T>>,
    parked: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Node<T>> {
    let _st = chan.lock();
    // SAFETY: we hold the lock of the channel the node is parked on.
    let node = unsafe { Waiter::node(waiter) };
    if node.state == WaitState::Waiting {
        update_waker(&mut node.waker, cx.waker());
        return Poll::Pending;
    }
    *parked = false;
    // SAFETY: under the lock; completed, so unlinked; we own it.
    Poll::Ready(unsafe { Waiter::take(waiter) })
}

/// What a completed receive reports (see `take_completed`).
fn received<T>(node: Node<T>) -> Option<T> {
    match node.state {
        WaitState::Done => node.value,
        WaitState::Closed => None,
        WaitState::Waiting | WaitState::Skipped => unreachable!("a plain receive is never skipped"),
    }
}

/// Un-parks a receive that is being dropped; passes on a value it was handed.
#[inline]
pub(crate) fn cancel_recv<T>(chan: &Chan<T>, waiter: NonNull<Waiter<T>>, parked: &mut bool) {
    if *parked {
        *parked = false;
        cancel_parked_recv(chan, waiter);
    }
}

#[cold]
fn cancel_parked_recv<T>(chan: &Chan<T>, waiter: NonNull<Waiter<T>>) {
    let waker = {
        let mut st = chan.lock();
        // SAFETY: we hold the lock; the node is ours, parked in `recvq`.
        let node = unsafe { st.recvq.unpark(waiter) };
        match node.state {
            WaitState::Done => node.value.and_then(|v| st.give_back(v)),
            _ => None,
        }
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// The future of [`Receiver::recv`](super::Receiver::recv).
///
/// `repr(C)` with `parked` first, away from the waiter node, which stays uninitialised until
/// the receive parks: next to it, the compiler may fill the node's bytes with zeros to merge
/// them with `parked = false` into one wide store, 80 bytes written per receive for nothing.
/// It did so wherever the future was made by a function of the caller's and then moved into
/// an `async` block's state (a helper that returns `rx.recv()`, a trait method): gort's SPSC
/// ran 8.3 to 8.9 ns per message that way against 7.3 awaiting `rx.recv()` in place, and with
/// this order 7.3 to 7.5 either way.
#[must_use = "futures do nothing unless awaited"]
#[repr(C)]
pub struct Recv<'a, T> {
    pub(crate) parked: bool,
    pub(crate) chan: &'a Chan<T>,
    pub(crate) waiter: Waiter<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    /// Always inlined, as `SendFut::poll` is.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: the waiter is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let waiter = NonNull::from(&this.waiter);
        poll_recv(this.chan, waiter, &mut this.parked, cx)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        let waiter = NonNull::from(&self.waiter);
        cancel_recv(self.chan, waiter, &mut self.parked);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("parked", &self.parked)
            .finish()
    }
}

/// The future of [`Sender::send`](super::Sender::send).
///
/// `repr(C)` with `parked` first, for the reason given at [`Recv`].
#[must_use = "futures do nothing unless awaited"]
#[repr(C)]
pub struct SendFut<'a, T> {
    pub(crate) parked: bool,
    pub(crate) chan: &'a Chan<T>,
    pub(crate) value: Option<T>,
    pub(crate) waiter: Waiter<T>,
}

impl<T> Future for SendFut<'_, T> {
    type Output = Result<(), SendError<T>>;

    /// The path of a send that completes at once is kept small enough to inline into the
    /// goroutine's loop; parking and taking a parked send's result are out of line. Always
    /// inlined: left to itself the compiler inlines it into a loop that is the only caller
    /// of its instance and not into one of two, which cost SPSC through 1,024 slots 40% on
    /// one worker (10.8 against 7.5 ms per million messages).
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `Recv`.
        let this = unsafe { self.get_unchecked_mut() };
        let waiter = NonNull::from(&this.waiter);
        if this.parked {
            return take_completed(this.chan, waiter, &mut this.parked, cx).map(sent);
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let mut st = this.chan.lock();
        let v = this
            .value
            .take()
            .expect("gort: send future polled after completion");
        if st.closed {
            drop(st);
            progress.made_progress();
            return Poll::Ready(Err(SendError(v)));
        }
        match st.try_send(v) {
            Ok(waker) => {
                drop(st);
                progress.made_progress();
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(Ok(()))
            }
            Err(v) => park_send(st, waiter, v, &mut this.parked, cx),
        }
    }
}

/// Parks a send that found no room and no receiver.
#[inline(never)]
fn park_send<T>(
    mut st: SpinGuard<'_, State<T>>,
    waiter: NonNull<Waiter<T>>,
    v: T,
    parked: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>> {
    // SAFETY: we hold the lock; the node is unused (not parked) and pinned in the send
    // future, which unlinks it on drop.
    unsafe { st.sendq.park(waiter, Some(v), cx.waker(), None) };
    *parked = true;
    Poll::Pending
}

/// What a completed send reports (see `take_completed`).
fn sent<T>(node: Node<T>) -> Result<(), SendError<T>> {
    match node.state {
        WaitState::Done => Ok(()),
        WaitState::Closed => Err(SendError(
            node.value.expect("a closed sender keeps its value"),
        )),
        WaitState::Waiting | WaitState::Skipped => unreachable!("a plain send is never skipped"),
    }
}

impl<T> Drop for SendFut<'_, T> {
    fn drop(&mut self) {
        if !self.parked {
            return;
        }
        let waiter = NonNull::from(&self.waiter);
        let value = {
            let mut st = self.chan.lock();
            // SAFETY: we hold the lock; the node is this future's, parked in `sendq`.
            unsafe { st.sendq.unpark(waiter) }.value
        };
        // Undelivered: dropped here, outside the lock.
        drop(value);
    }
}

impl<T> fmt::Debug for SendFut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send")
            .field("parked", &self.parked)
            .finish()
    }
}
