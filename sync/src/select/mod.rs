//! `select!`: wait on several operations at once; exactly one of them takes effect.
//!
//! # Algorithm (crossbeam-channel's `select`, on Go's semantics)
//!
//! Go's `selectgo` locks every channel of the select at once and so sees them all in one
//! instant. gort locks one channel at a time instead, and makes the choice exact with a
//! [`Token`] that lives in the select future: an atomic word that is `WAITING`, `ABORTED`, or
//! `WON(k)` for arm `k`. Each arm is a [`SelectHandle`]: a channel operation (`chan/select.rs`)
//! or any other future (`arm.rs`). A poll of the select goes through three steps.
//!
//! 1. **Try.** The arms are shuffled (Fisher–Yates, so among the arms ready at the same time
//!    each is chosen with equal probability) and each in turn tries to complete at once, as a
//!    plain operation: a channel arm takes from or gives to the buffer or a parked
//!    counterparty; a future arm is polled. The first that completes is the select's arm. With
//!    a `default` arm and none ready, the select ends here and nothing has happened.
//! 2. **Register.** The token is set to `WAITING` and each channel arm parks a waiter on its
//!    channel pointing at the token, with its arm index. Under the channel's lock an arm first
//!    checks whether it has become ready since step 1 (the buffer, a close, or a parked
//!    counterparty that could complete: a plain one, or another select's that is still
//!    waiting; never one of this select's own waiters, so a select on both ends of a channel
//!    does not pair with itself). If so, the select claims its own token as `ABORTED`,
//!    unparks what it registered and starts again at step 1. If a counterparty claimed the
//!    token first, that arm has already taken effect: go to step 3.
//! 3. **Wait and finish.** A counterparty (a send, receive or close on one of the channels)
//!    completes a select's waiter only after claiming the token for it with a compare-and-swap
//!    `WAITING → WON(k)`, and a future arm that becomes ready claims it the same way; so at most
//!    one arm is ever claimed. A counterparty that finds the token already decided unlinks that
//!    waiter as `Skipped` and looks for the next one. Once `WON(k)` is seen, every arm is
//!    unparked: arm `k` collects its result (the value received, or the value given back by a
//!    close), the others find their waiters untouched, so their operations had no effect.
//!
//! While parked the select re-polls only its future arms; the channel arms need no polling, the
//! token says when one of them won. A completed select reports without asking the coop budget
//! (as a parked channel operation does, `chan/ops.rs`), and a select that starts spends one
//! unit of it.
//!
//! # Cancellation
//!
//! Dropping a parked select claims the token as `ABORTED` and unparks every arm. If an arm had
//! already won, its operation took effect: a received value goes back to the channel (another
//! receiver or the front of the buffer, as a dropped `recv` does), and a send that a receiver
//! took stays sent.
//!
//! # Invariants
//!
//! - The token moves `WAITING → ABORTED → WAITING` (between rounds, owner only, with nothing
//!   parked) or `WAITING → WON(k)` (once, by whoever claims it); it is read by counterparties
//!   only under the lock of a channel on which one of the select's waiters is linked.
//! - A waiter is completed only by the claimer of its token, under its channel's lock, in the
//!   same critical section as the claim; so the owner, seeing `WON(k)` and then taking arm
//!   `k`'s channel lock, finds it completed.
//! - Every waiter is unlinked (by its owner, or as `Skipped`) before the select future, and so
//!   the token, goes away.

mod arm;
#[cfg(all(test, gort_loom))]
mod loom_select;

pub use arm::{ArmOutput, FutureArm, IntoChanArm, IntoFutureArm, Wrap};

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use gort_runtime::coop;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

const WAITING: usize = 0;
const ABORTED: usize = 1;
/// `WON(k)` is `WON + k`.
const WON: usize = 2;

/// The decision of one select: which arm, if any, has been claimed.
#[derive(Debug)]
pub struct Token {
    state: AtomicUsize,
}

impl Token {
    fn new() -> Token {
        Token {
            state: AtomicUsize::new(WAITING),
        }
    }

    /// Claims the select for `arm`; false if it was decided (or aborted) already.
    pub(crate) fn claim(&self, arm: usize) -> bool {
        self.state
            .compare_exchange(WAITING, WON + arm, AcqRel, Acquire)
            .is_ok()
    }

    /// Whether a counterparty could still claim the select.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Acquire) == WAITING
    }

    /// The arm the select was claimed for, if any.
    fn won(&self) -> Option<usize> {
        self.state.load(Acquire).checked_sub(WON)
    }

    /// Claims the select for its owner, to end a round; `Err(k)` if arm `k` won first.
    fn abort(&self) -> Result<(), usize> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, AcqRel, Acquire)
        {
            Ok(_) => Ok(()),
            Err(state) => Err(state - WON),
        }
    }
}

/// One arm of a select, as the select drives it (crossbeam-channel's `SelectHandle`).
///
/// An arm keeps its own result once it has one; the macro takes it with
/// [`ArmOutput::take_output`] from the arm the select returns.
pub trait SelectHandle {
    /// Step 1: completes at once if it can, as a plain operation; true if it did.
    fn try_select(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;

    /// Step 2: parks under `token` as arm `arm`; false (and nothing parked) if the arm has
    /// become ready.
    ///
    /// # Safety
    /// `token` is pinned and stays alive until [`unregister`](SelectHandle::unregister) has
    /// been called, which the caller must do before the arm or the token goes away.
    unsafe fn register(
        self: Pin<&mut Self>,
        token: NonNull<Token>,
        arm: usize,
        cx: &mut Context<'_>,
    ) -> bool;

    /// Polled while parked: true if the arm is ready by itself (a future arm); a channel arm
    /// is completed by its counterparty instead and returns false.
    fn poll_parked(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;

    /// Replaces the waker a parked arm's counterparty wakes.
    fn update_waker(self: Pin<&mut Self>, waker: &Waker);

    /// Step 3: unparks the arm; `won` if the token was claimed for it, which then collects its
    /// result. Does nothing to an arm that is not parked.
    fn unregister(self: Pin<&mut Self>, won: bool);
}

/// The arms of one select, by index (a struct the macro generates for each select).
pub trait Arms {
    /// Arm `i`, `i < N`.
    fn arm(&mut self, i: usize) -> Pin<&mut dyn SelectHandle>;
}

/// The future a `select!` awaits: resolves to the index of the arm that took effect, or
/// `None` for `default`.
#[must_use = "futures do nothing unless awaited"]
pub struct Select<A: Arms, const N: usize> {
    arms: A,
    /// The order in which arms are tried, reshuffled at each try.
    order: [usize; N],
    token: Token,
    /// Every arm is parked under `token`.
    parked: bool,
    /// The waker the parked channel arms hold.
    waker: Option<Waker>,
    has_default: bool,
    _pinned: PhantomPinned,
}

impl<A: Arms, const N: usize> Select<A, N> {
    /// A select over `arms`; with `has_default`, it never waits.
    pub fn new(arms: A, has_default: bool) -> Select<A, N> {
        Select {
            arms,
            order: std::array::from_fn(|i| i),
            token: Token::new(),
            parked: false,
            waker: None,
            has_default,
            _pinned: PhantomPinned,
        }
    }

    /// Go's `pollorder`. Under loom the order stays as written (a model must be
    /// deterministic); the models write their arms in each order they check.
    fn shuffle(&mut self) {
        if cfg!(gort_loom) {
            return;
        }
        for i in (1..N).rev() {
            self.order.swap(i, fastrand::usize(..=i));
        }
    }

    /// Step 2 for every arm, in the current order.
    fn register(&mut self, cx: &mut Context<'_>) -> Round {
        let token = NonNull::from(&self.token);
        self.token.state.store(WAITING, Release);
        for n in 0..N {
            let i = self.order[n];
            // SAFETY: the token is pinned in this future, whose `finish`, `abort_round` or
            // drop unregisters every arm before the token goes away.
            if !unsafe { self.arms.arm(i).register(token, i, cx) } {
                return match self.token.abort() {
                    Ok(()) => {
                        for &j in &self.order[..n] {
                            self.arms.arm(j).unregister(false);
                        }
                        Round::Aborted
                    }
                    Err(k) => Round::Won(k),
                };
            }
        }
        self.parked = true;
        self.waker = Some(cx.waker().clone());
        match self.token.won() {
            Some(k) => Round::Won(k),
            None => Round::Parked,
        }
    }

    /// Step 3: unparks every arm, `k` as the winner.
    fn finish(&mut self, k: usize) -> usize {
        for i in 0..N {
            self.arms.arm(i).unregister(i == k);
        }
        self.parked = false;
        k
    }

    fn poll_parked(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        if let Some(k) = self.token.won() {
            return Poll::Ready(Some(self.finish(k)));
        }
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            for i in 0..N {
                self.arms.arm(i).update_waker(cx.waker());
            }
            self.waker = Some(cx.waker().clone());
        }
        self.shuffle();
        for n in 0..N {
            let i = self.order[n];
            if self.arms.arm(i).poll_parked(cx) {
                let k = if self.token.claim(i) {
                    i
                } else {
                    self.token.won().expect("a select claimed but not won")
                };
                return Poll::Ready(Some(self.finish(k)));
            }
        }
        Poll::Pending
    }
}

/// How a registration round ended.
enum Round {
    Parked,
    Aborted,
    Won(usize),
}

impl<A: Arms, const N: usize> Future for Select<A, N> {
    type Output = Option<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        // SAFETY: the token is structurally pinned (never moved out); nothing else is.
        let this = unsafe { self.get_unchecked_mut() };
        if this.parked {
            return this.poll_parked(cx);
        }
        let progress = std::task::ready!(coop::poll_proceed(cx));
        loop {
            this.shuffle();
            for n in 0..N {
                let i = this.order[n];
                if this.arms.arm(i).try_select(cx) {
                    progress.made_progress();
                    return Poll::Ready(Some(i));
                }
            }
            if this.has_default || N == 0 {
                progress.made_progress();
                return Poll::Ready(None);
            }
            match this.register(cx) {
                Round::Parked => return Poll::Pending,
                Round::Aborted => continue,
                Round::Won(k) => {
                    progress.made_progress();
                    return Poll::Ready(Some(this.finish(k)));
                }
            }
        }
    }
}

impl<A: Arms, const N: usize> Drop for Select<A, N> {
    fn drop(&mut self) {
        if !self.parked {
            return;
        }
        match self.token.abort() {
            Ok(()) => {
                for i in 0..N {
                    self.arms.arm(i).unregister(false);
                }
                self.parked = false;
            }
            // Arm `k` took effect; it keeps its result, and gives back a received value when
            // it is dropped (see the module comment).
            Err(k) => {
                self.finish(k);
            }
        }
    }
}
