//! Making an arm of each `select!` expression, and the arm for any future.
//!
//! The macro wraps each arm's expression in a [`Wrap`] and calls `__gort_select_arm` on
//! `&mut wrap`. Method resolution picks the channel arm when there is one: [`IntoChanArm`] is
//! implemented for `Wrap<Recv<T>>` and `Wrap<SendFut<T>>` themselves, so it matches the
//! receiver type as written, while [`IntoFutureArm`] is implemented for `&mut Wrap<F>` of any
//! future and matches only after one more auto-reference ("autoref specialisation"). A channel
//! operation thus gets the exact semantics of the select token; any other future (a `sleep`, a
//! `JoinHandle`, an `async` block that receives) is polled, and takes effect only if the select
//! chooses it; its result is dropped otherwise.

use super::SelectHandle;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// An arm's expression, before it becomes an arm.
#[derive(Debug)]
pub struct Wrap<F>(Option<F>);

impl<F> Wrap<F> {
    /// Wraps the value of an arm's expression.
    pub fn new(f: F) -> Wrap<F> {
        Wrap(Some(f))
    }

    pub(crate) fn take(&mut self) -> F {
        self.0.take().expect("gort: select arm made twice")
    }
}

/// Makes a channel arm of a `recv()` or `send(v)` future (see the module comment).
pub trait IntoChanArm {
    /// The arm.
    type Arm;

    /// Makes the arm; the first of the two candidates method resolution tries.
    fn __gort_select_arm(&mut self) -> Self::Arm;
}

/// Makes a future arm of any future (see the module comment).
pub trait IntoFutureArm {
    /// The arm.
    type Arm;

    /// Makes the arm; the second of the two candidates method resolution tries.
    fn __gort_select_arm(&mut self) -> Self::Arm;
}

impl<F: Future> IntoFutureArm for &mut Wrap<F> {
    type Arm = FutureArm<F>;

    fn __gort_select_arm(&mut self) -> FutureArm<F> {
        FutureArm {
            future: self.take(),
            output: None,
        }
    }
}

/// The result of an arm the select chose.
pub trait ArmOutput {
    /// What the arm's expression gives: the future's output.
    type Output;

    /// Takes the result of the arm the select returned.
    fn take_output(self: Pin<&mut Self>) -> Self::Output;
}

/// An arm that is any future: it takes effect when it is ready and the select chooses it.
#[derive(Debug)]
pub struct FutureArm<F: Future> {
    future: F,
    output: Option<F::Output>,
}

impl<F: Future> FutureArm<F> {
    /// Polls the future; true once it has an output.
    fn poll_future(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: `future` is structurally pinned (never moved out, no `Drop` that moves it);
        // `output` is not.
        let this = unsafe { self.get_unchecked_mut() };
        if this.output.is_none() {
            // SAFETY: as above.
            let future = unsafe { Pin::new_unchecked(&mut this.future) };
            if let Poll::Ready(v) = future.poll(cx) {
                this.output = Some(v);
            }
        }
        this.output.is_some()
    }
}

impl<F: Future> SelectHandle for FutureArm<F> {
    fn try_select(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.poll_future(cx)
    }

    unsafe fn register(
        self: Pin<&mut Self>,
        _token: NonNull<super::Token>,
        _arm: usize,
        _cx: &mut Context<'_>,
    ) -> bool {
        // Nothing to park: the future registered the waker when step 1 polled it.
        true
    }

    fn poll_parked(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        self.poll_future(cx)
    }

    fn update_waker(self: Pin<&mut Self>, _waker: &Waker) {}

    fn unregister(self: Pin<&mut Self>, _won: bool) {}
}

impl<F: Future> ArmOutput for FutureArm<F> {
    type Output = F::Output;

    fn take_output(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: `output` is not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        this.output
            .take()
            .expect("gort: select took an arm that has no result")
    }
}
