//! The channel side of `select!`: the arms made of `rx.recv()` and `tx.send(v)`.
//!
//! Each arm reuses its operation's future, and so its waiter node: step 1 of the select
//! (`select/mod.rs`) is the operation's own first attempt without parking; step 2 parks the
//! node with the select's token in it, unless the channel has become ready for this select
//! (`State::recv_ready`, `State::send_ready`, which pass over the select's own waiters); step 3
//! unparks it, and the winning arm takes its result from the node, where the counterparty that
//! claimed the token left it. A losing send arm gets its value back into its future, ready for
//! another round or to be dropped with the arm, undelivered.
//!
//! A receive arm dropped while it holds a value it won but the select never reported (the
//! select future was dropped after the claim) gives the value back to the channel, as a
//! dropped `recv` does.

use super::SendError;
use super::ops::{Recv, SendFut, update_waker};
use super::state::Chan;
use super::waiter::{WaitState, Waiter};
use crate::select::{ArmOutput, IntoChanArm, SelectHandle, Token, Wrap};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Waker};

/// Replaces the waker of a parked arm's node, which its counterparty wakes.
fn update_parked_waker<T>(chan: &Chan<T>, waiter: NonNull<Waiter<T>>, parked: bool, waker: &Waker) {
    if parked {
        let _st = chan.lock();
        // SAFETY: we hold the lock of the channel the node is parked on.
        update_waker(unsafe { &mut Waiter::node(waiter).waker }, waker);
    }
}

/// The arm of `select!` made of `rx.recv()`.
#[derive(Debug)]
pub struct RecvArm<'a, T> {
    recv: Recv<'a, T>,
    output: Option<Option<T>>,
}

impl<'a, T> IntoChanArm for Wrap<Recv<'a, T>> {
    type Arm = RecvArm<'a, T>;

    fn __gort_select_arm(&mut self) -> RecvArm<'a, T> {
        RecvArm {
            recv: self.take(),
            output: None,
        }
    }
}

impl<T> RecvArm<'_, T> {
    /// The arm's fields and its (pinned) waiter node.
    fn project(self: Pin<&mut Self>) -> (&mut Self, NonNull<Waiter<T>>) {
        // SAFETY: the waiter is structurally pinned (never moved out); the rest is plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let waiter = NonNull::from(&this.recv.waiter);
        (this, waiter)
    }
}

impl<T> SelectHandle for RecvArm<'_, T> {
    fn try_select(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> bool {
        let (this, _) = self.project();
        let mut st = this.recv.chan.lock();
        if let Some((v, waker)) = st.try_recv() {
            drop(st);
            this.output = Some(Some(v));
            if let Some(w) = waker {
                w.wake();
            }
            return true;
        }
        if st.closed {
            this.output = Some(None);
            return true;
        }
        false
    }

    unsafe fn register(
        self: Pin<&mut Self>,
        token: NonNull<Token>,
        arm: usize,
        cx: &mut Context<'_>,
    ) -> bool {
        let (this, waiter) = self.project();
        let mut st = this.recv.chan.lock();
        if st.recv_ready(token) {
            return false;
        }
        // SAFETY: we hold the lock; the node is pinned in this arm, which the select
        // unregisters before the arm or the token goes away (the caller's contract).
        unsafe { st.recvq.park(waiter, None, cx.waker(), Some((token, arm))) };
        this.recv.parked = true;
        true
    }

    fn poll_parked(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> bool {
        false
    }

    fn update_waker(self: Pin<&mut Self>, waker: &Waker) {
        let (this, waiter) = self.project();
        update_parked_waker(this.recv.chan, waiter, this.recv.parked, waker);
    }

    fn unregister(self: Pin<&mut Self>, won: bool) {
        let (this, waiter) = self.project();
        if !std::mem::take(&mut this.recv.parked) {
            return;
        }
        let mut st = this.recv.chan.lock();
        // SAFETY: we hold the lock; the node is this arm's, parked in `recvq`.
        let node = unsafe { st.recvq.unpark(waiter) };
        match node.state {
            WaitState::Waiting => debug_assert!(!won, "a select won an arm nobody completed"),
            WaitState::Skipped => debug_assert!(!won, "a select won a skipped arm"),
            WaitState::Done => {
                debug_assert!(won, "a select arm completed without the token");
                this.output = Some(node.value);
            }
            WaitState::Closed => {
                debug_assert!(won, "a select arm closed without the token");
                this.output = Some(None);
            }
        }
    }
}

impl<T> ArmOutput for RecvArm<'_, T> {
    type Output = Option<T>;

    fn take_output(self: Pin<&mut Self>) -> Option<T> {
        let (this, _) = self.project();
        this.output
            .take()
            .expect("gort: select took an arm that has no result")
    }
}

impl<T> Drop for RecvArm<'_, T> {
    fn drop(&mut self) {
        if let Some(Some(v)) = self.output.take() {
            let waker = self.recv.chan.lock().give_back(v);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// The arm of `select!` made of `tx.send(v)`.
#[derive(Debug)]
pub struct SendArm<'a, T> {
    send: SendFut<'a, T>,
    output: Option<Result<(), SendError<T>>>,
}

impl<'a, T> IntoChanArm for Wrap<SendFut<'a, T>> {
    type Arm = SendArm<'a, T>;

    fn __gort_select_arm(&mut self) -> SendArm<'a, T> {
        SendArm {
            send: self.take(),
            output: None,
        }
    }
}

impl<T> SendArm<'_, T> {
    /// The arm's fields and its (pinned) waiter node.
    fn project(self: Pin<&mut Self>) -> (&mut Self, NonNull<Waiter<T>>) {
        // SAFETY: as for `RecvArm::project`.
        let this = unsafe { self.get_unchecked_mut() };
        let waiter = NonNull::from(&this.send.waiter);
        (this, waiter)
    }
}

impl<T> SelectHandle for SendArm<'_, T> {
    fn try_select(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> bool {
        let (this, _) = self.project();
        let v = this
            .send
            .value
            .take()
            .expect("gort: select send arm without its value");
        let mut st = this.send.chan.lock();
        if st.closed {
            this.output = Some(Err(SendError(v)));
            return true;
        }
        match st.try_send(v) {
            Ok(waker) => {
                drop(st);
                this.output = Some(Ok(()));
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            Err(v) => {
                this.send.value = Some(v);
                false
            }
        }
    }

    unsafe fn register(
        self: Pin<&mut Self>,
        token: NonNull<Token>,
        arm: usize,
        cx: &mut Context<'_>,
    ) -> bool {
        let (this, waiter) = self.project();
        let mut st = this.send.chan.lock();
        if st.send_ready(token) {
            return false;
        }
        let value = this.send.value.take();
        // SAFETY: as in `RecvArm::register`.
        unsafe { st.sendq.park(waiter, value, cx.waker(), Some((token, arm))) };
        this.send.parked = true;
        true
    }

    fn poll_parked(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> bool {
        false
    }

    fn update_waker(self: Pin<&mut Self>, waker: &Waker) {
        let (this, waiter) = self.project();
        update_parked_waker(this.send.chan, waiter, this.send.parked, waker);
    }

    fn unregister(self: Pin<&mut Self>, won: bool) {
        let (this, waiter) = self.project();
        if !std::mem::take(&mut this.send.parked) {
            return;
        }
        let mut st = this.send.chan.lock();
        // SAFETY: we hold the lock; the node is this arm's, parked in `sendq`.
        let node = unsafe { st.sendq.unpark(waiter) };
        match node.state {
            WaitState::Waiting | WaitState::Skipped => {
                debug_assert!(!won, "a select won an arm nobody completed");
                this.send.value = node.value;
            }
            WaitState::Done => {
                debug_assert!(won, "a select arm completed without the token");
                this.output = Some(Ok(()));
            }
            WaitState::Closed => {
                debug_assert!(won, "a select arm closed without the token");
                let v = node.value.expect("a closed sender keeps its value");
                this.output = Some(Err(SendError(v)));
            }
        }
    }
}

impl<T> ArmOutput for SendArm<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn take_output(self: Pin<&mut Self>) -> Result<(), SendError<T>> {
        let (this, _) = self.project();
        this.output
            .take()
            .expect("gort: select took an arm that has no result")
    }
}
