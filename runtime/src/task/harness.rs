//! The generic half of a task: polling, completing, cancelling and reading the output.
//!
//! Every entry point first moves the state word (see `state.rs`) and then touches only the
//! fields that transition handed it. The three ways a task ends all go through `complete`:
//!
//! 1. the future returns `Ready` (or panics) while a worker polls it;
//! 2. a worker takes a `Notified` of an aborted task and drops the future instead of polling;
//! 3. runtime shutdown takes `RUNNING` of an idle task and drops the future.
//!
//! Panics from the future's `poll` and `drop` are caught and become the `JoinError`, so a
//! panicking task never unwinds through a worker.

use super::raw::{Cell, Core, Header, RawTask, Stage, Trailer};
use super::state::{State, ToIdle, ToRunning};
use super::waker::waker_ref;
use super::{JoinError, Notified, Schedule};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

pub(super) struct Harness<F: Future, S> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    /// `ptr` must be the header of a live `Cell<F, S>`.
    pub(super) unsafe fn from_raw(ptr: NonNull<Header>) -> Harness<F, S> {
        Harness { cell: ptr.cast() }
    }

    fn header_ptr(&self) -> NonNull<Header> {
        self.cell.cast()
    }

    fn raw(&self) -> RawTask {
        RawTask::from_raw(self.header_ptr())
    }

    fn header(&self) -> &Header {
        // SAFETY: the caller of `from_raw` holds a reference, so the cell is alive.
        unsafe { &self.cell.as_ref().header }
    }

    fn state(&self) -> &State {
        &self.header().state
    }

    fn core(&self) -> &Core<F, S> {
        // SAFETY: as in `header`.
        unsafe { &self.cell.as_ref().core }
    }

    fn trailer(&self) -> &Trailer {
        // SAFETY: as in `header`.
        unsafe { &self.cell.as_ref().trailer }
    }

    /// Runs one `Notified`: polls the future, or cancels it, or drops the stale reference.
    pub(super) fn poll(self) {
        match self.state().transition_to_running() {
            ToRunning::Success => {
                let header = self.header_ptr();
                let waker = waker_ref(&header);
                let mut cx = Context::from_waker(&waker);
                if let Poll::Ready(output) = self.poll_future(&mut cx) {
                    self.complete(output);
                    return;
                }
                match self.state().transition_to_idle() {
                    ToIdle::Ok => {}
                    ToIdle::OkNotified => {
                        // Woken during its own poll (a yield, or the budget ran out): to the
                        // back of the queue, not `runnext`.
                        self.core().scheduler.yield_now(Notified(self.raw()));
                    }
                    ToIdle::OkDealloc => self.dealloc(),
                    ToIdle::Cancelled => self.cancel_and_complete(),
                }
            }
            ToRunning::Cancelled => self.cancel_and_complete(),
            ToRunning::Failed => {}
            ToRunning::Dealloc => self.dealloc(),
        }
    }

    /// Polls the future once; `Ready` carries the output or the caught panic. The future is
    /// dropped before this returns `Ready`.
    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        let id = self.header().id;
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            self.core().stage.with_mut(|stage| {
                // SAFETY: we hold RUNNING, which gives us the stage; the future never moves
                // (the cell is a heap allocation that lives until dealloc).
                match unsafe { &mut *stage } {
                    // SAFETY: the future never moves: the cell is a heap allocation that lives
                    // until dealloc, and the stage is replaced only once the future is done.
                    Stage::Running(future) => unsafe { Pin::new_unchecked(future) }.poll(cx),
                    _ => unreachable!("gort: polled a task whose future is gone"),
                }
            })
        }));
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => Err(JoinError::panic(id, payload)),
        };
        // The future is done: drop it now, before anyone can observe completion.
        match self.drop_stage() {
            Ok(()) => Poll::Ready(output),
            Err(payload) => Poll::Ready(Err(JoinError::panic(id, payload))),
        }
    }

    /// Replaces the stage with `Consumed`, catching a panic from the dropped value.
    fn drop_stage(&self) -> std::thread::Result<()> {
        panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: callers own the stage (RUNNING, or the output after completion).
            self.core()
                .stage
                .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }))
    }

    /// Drops the future of an aborted or shut-down task and completes it with `Cancelled`.
    fn cancel_and_complete(self) {
        let id = self.header().id;
        let output = match self.drop_stage() {
            Ok(()) => Err(JoinError::cancelled(id)),
            Err(payload) => Err(JoinError::panic(id, payload)),
        };
        self.complete(output);
    }

    /// Stores the output, publishes `COMPLETE`, wakes the joiner and drops the references of
    /// the finished poll and of the owned list.
    fn complete(self, output: Result<F::Output, JoinError>) {
        // SAFETY: we hold RUNNING, so the stage is ours until COMPLETE is published.
        self.core()
            .stage
            .with_mut(|stage| unsafe { *stage = Stage::Finished(output) });
        let snapshot = self.state().transition_to_complete();
        if !snapshot.is_join_interested() {
            // No JoinHandle will read it: the output is ours to drop. A panic here has nowhere
            // to go, so it is swallowed as tokio does.
            let _ = self.drop_stage();
        } else if snapshot.is_join_waker_set() {
            // SAFETY: JOIN_WAKER is set and the task is complete: the runtime owns the waker.
            self.trailer().waker.with(|waker| match unsafe { &*waker } {
                Some(waker) => waker.wake_by_ref(),
                None => unreachable!("gort: JOIN_WAKER set without a waker"),
            });
            let prev = self.state().unset_join_waker_after_complete();
            if !prev.is_join_interested() {
                // SAFETY: the handle is gone and JOIN_WAKER was ours: nobody else touches it.
                self.trailer()
                    .waker
                    .with_mut(|waker| unsafe { *waker = None });
            }
        }
        let released = self.core().scheduler.release(self.header_ptr());
        if self
            .state()
            .transition_to_terminal(if released { 2 } else { 1 })
        {
            self.dealloc();
        }
    }

    pub(super) fn schedule(self) {
        self.core().scheduler.schedule(Notified(self.raw()));
    }

    /// Frees the allocation. Called only by whoever dropped the last reference.
    pub(super) fn dealloc(self) {
        // SAFETY: the cell came from `Box::leak` in `RawTask::new` and nobody refers to it.
        drop(unsafe { Box::from_raw(self.cell.as_ptr()) });
    }

    /// The `JoinHandle`'s poll: writes `Poll::Ready(output)` to `dst` if the task is complete,
    /// otherwise (re)registers `waker`.
    ///
    /// # Safety
    /// `dst` points to a `Poll<Result<F::Output, JoinError>>`; the caller is the `JoinHandle`.
    pub(super) unsafe fn try_read_output(
        self,
        dst: *mut Poll<Result<F::Output, JoinError>>,
        waker: &Waker,
    ) {
        if !self.can_read_output(waker) {
            return;
        }
        // SAFETY: COMPLETE was observed with Acquire while JOIN_INTEREST is ours: the output
        // belongs to this handle.
        let stage = self
            .core()
            .stage
            .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
        match stage {
            // SAFETY: `dst` has the right type by contract.
            Stage::Finished(output) => unsafe { *dst = Poll::Ready(output) },
            _ => panic!("gort: JoinHandle polled after it returned Ready"),
        }
    }

    fn can_read_output(&self, waker: &Waker) -> bool {
        let snapshot = self.state().load();
        if snapshot.is_complete() {
            return true;
        }
        let set = |w: Option<Waker>| {
            // SAFETY: JOIN_WAKER is clear: the handle owns the waker field.
            self.trailer().waker.with_mut(|slot| unsafe { *slot = w });
            self.state().set_join_waker().is_err()
        };
        if !snapshot.is_join_waker_set() {
            return set(Some(waker.clone()));
        }
        // SAFETY: JOIN_WAKER is set: the field is only read, by us or by the runtime.
        let same = self.trailer().waker.with(|slot| match unsafe { &*slot } {
            Some(current) => current.will_wake(waker),
            None => false,
        });
        if same {
            return false;
        }
        if self.state().unset_join_waker().is_err() {
            return true;
        }
        set(Some(waker.clone()))
    }

    pub(super) fn drop_join_handle_slow(self) {
        let (drop_output, drop_waker) = self.state().transition_to_join_handle_dropped();
        if drop_output {
            // A panic from the output's destructor is swallowed (the JoinHandle has no caller
            // to report it to).
            let _ = self.drop_stage();
        }
        if drop_waker {
            // SAFETY: the transition gave the waker field to the handle.
            self.trailer()
                .waker
                .with_mut(|waker| unsafe { *waker = None });
        }
        self.raw().drop_reference();
    }

    /// Runtime shutdown, with the owned list's reference (already unlinked from the list).
    pub(super) fn shutdown(self) {
        if self.state().transition_to_shutdown() {
            self.cancel_and_complete();
        } else {
            // Running on a worker (which will see CANCELLED) or already complete.
            self.raw().drop_reference();
        }
    }
}
