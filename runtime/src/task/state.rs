//! The task's state word: one `AtomicUsize` holding six flags and the reference count.
//!
//! ```text
//!  usize:  [ ref count ........ | CANCELLED | JOIN_WAKER | JOIN_INTEREST | NOTIFIED | COMPLETE | RUNNING ]
//!  bit:      6..                     5            4             3             2          1          0
//! ```
//!
//! - `RUNNING`: someone holds the right to touch the future: a worker polling it, or a thread
//!   cancelling it (abort at a poll point, runtime shutdown). At most one holder at a time; it is
//!   taken with a CAS from an idle state and given back by `transition_to_idle` or by completion.
//! - `COMPLETE`: the future is gone and the stage holds the output (or a `JoinError`, or nothing
//!   once it was read). Set once, never cleared; `RUNNING` and `COMPLETE` are never both set.
//! - `NOTIFIED`: the task must be polled again. While the task is not running, the bit means that
//!   exactly one `Notified` for it sits in some run queue. While it is running, the bit means "a
//!   wake-up arrived during this poll": the poller resubmits the task when the poll returns.
//! - `JOIN_INTEREST`: the `JoinHandle` is alive. Whoever clears it (the handle, on drop) or
//!   completes the task while it is clear (the runtime) drops the output.
//! - `JOIN_WAKER`: the trailer's join waker is published: while set and not complete, only the
//!   runtime may read it; while clear, only the `JoinHandle` may touch it.
//! - `CANCELLED`: `abort()` or shutdown asked for the future to be dropped at its next poll point.
//!
//! The reference count counts the handles that may touch the allocation: the owned-tasks list,
//! a `Notified` in a queue (or the running poll that took it), the `JoinHandle`, and each
//! `Waker`. A new task starts with three references (list, first `Notified`, `JoinHandle`),
//! `NOTIFIED` and `JOIN_INTEREST`. The one who brings the count to zero frees the task.

use crate::loom::atomic::{AtomicUsize, Ordering::*};

const RUNNING: usize = 0b00_0001;
const COMPLETE: usize = 0b00_0010;
const NOTIFIED: usize = 0b00_0100;
const JOIN_INTEREST: usize = 0b00_1000;
const JOIN_WAKER: usize = 0b01_0000;
const CANCELLED: usize = 0b10_0000;
const REF_SHIFT: u32 = 6;
const REF_ONE: usize = 1 << REF_SHIFT;
const INITIAL: usize = (3 * REF_ONE) | NOTIFIED | JOIN_INTEREST;

/// The atomic state word of one task.
pub(crate) struct State {
    word: AtomicUsize,
}

/// A copy of the state word, read at one instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What the poller does after trying to take `RUNNING` for a queued `Notified`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Success,
    /// `RUNNING` taken, but the task was aborted: drop the future instead of polling it.
    Cancelled,
    /// The task is running elsewhere or complete; the `Notified`'s reference was dropped.
    Failed,
    /// As `Failed`, and that was the last reference: free the task.
    Dealloc,
}

/// What the poller does after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Idle again; the poll's reference was dropped.
    Ok,
    /// Woken during the poll: the poll's reference becomes a new `Notified` to resubmit.
    OkNotified,
    /// Idle, and the poll held the last reference: free the task.
    OkDealloc,
    /// Aborted during the poll: `RUNNING` is kept, drop the future now.
    Cancelled,
}

/// What a waker does after marking the task notified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Nothing to do: the task is running (it will resubmit itself), queued or complete.
    DoNothing,
    /// Push a new `Notified` holding one reference.
    Submit,
    /// The waker held the last reference: free the task.
    Dealloc,
}

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
    fn ref_inc(&mut self) {
        assert!(
            self.0 <= isize::MAX as usize,
            "gort: task reference count overflow"
        );
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        debug_assert!(self.ref_count() > 0);
        self.0 -= REF_ONE;
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("cancelled", &self.is_cancelled())
            .field("refs", &self.ref_count())
            .finish()
    }
}

impl State {
    /// A new task: three references, `NOTIFIED` (its first `Notified` is about to be queued) and
    /// `JOIN_INTEREST`.
    pub(crate) fn new() -> State {
        State {
            word: AtomicUsize::new(INITIAL),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Applies `f` in a CAS loop; `f` returns the next value and a result, or `None` to leave
    /// the word as it is.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, R)) -> R {
        let mut curr = Snapshot(self.word.load(Acquire));
        loop {
            let (next, result) = f(curr);
            let Some(next) = next else { return result };
            match self
                .word
                .compare_exchange_weak(curr.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return result,
                Err(actual) => curr = Snapshot(actual),
            }
        }
    }

    /// A worker took a `Notified` from a queue and wants to poll the task.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|mut s| {
            debug_assert!(s.is_notified(), "a queued task must be NOTIFIED: {s:?}");
            if !s.is_idle() {
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    ToRunning::Dealloc
                } else {
                    ToRunning::Failed
                };
                return (Some(s), action);
            }
            s.0 = (s.0 | RUNNING) & !NOTIFIED;
            let action = if s.is_cancelled() {
                ToRunning::Cancelled
            } else {
                ToRunning::Success
            };
            (Some(s), action)
        })
    }

    /// The poll returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|mut s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() {
                return (None, ToIdle::Cancelled);
            }
            s.0 &= !RUNNING;
            if s.is_notified() {
                // The poll's reference passes to the new `Notified`.
                return (Some(s), ToIdle::OkNotified);
            }
            s.ref_dec();
            let action = if s.ref_count() == 0 {
                ToIdle::OkDealloc
            } else {
                ToIdle::Ok
            };
            (Some(s), action)
        })
    }

    /// The future is gone and the output stored: `RUNNING` off, `COMPLETE` on. Returns the new
    /// state, whose `JOIN_INTEREST` and `JOIN_WAKER` tell who owns the output and the waker.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.word.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// Drops `count` references; true if they were the last ones.
    pub(crate) fn transition_to_terminal(&self, count: usize) -> bool {
        let prev = Snapshot(self.word.fetch_sub(count * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= count, "{prev:?} -{count}");
        prev.ref_count() == count
    }

    /// `Waker::wake`: consumes the waker's reference.
    pub(crate) fn transition_to_notified_by_val(&self) -> ToNotified {
        self.update(|mut s| {
            if s.is_running() {
                s.0 |= NOTIFIED;
                s.ref_dec();
                debug_assert!(s.ref_count() > 0, "the poll holds a reference");
                (Some(s), ToNotified::DoNothing)
            } else if s.is_complete() || s.is_notified() {
                s.ref_dec();
                let action = if s.ref_count() == 0 {
                    ToNotified::Dealloc
                } else {
                    ToNotified::DoNothing
                };
                (Some(s), action)
            } else {
                // The waker's reference passes to the new `Notified`.
                s.0 |= NOTIFIED;
                (Some(s), ToNotified::Submit)
            }
        })
    }

    /// `Waker::wake_by_ref`: the waker keeps its reference; a new `Notified` gets one.
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.update(|mut s| {
            if s.is_complete() {
                (None, ToNotified::DoNothing)
            } else if s.is_notified() {
                // Already queued, but still write (the same value): the waker's writes before
                // this wake must happen-before the queued poll, and a plain load releases
                // nothing (the store-buffering race; tokio#7622, checked by `loom_task.rs`).
                (Some(s), ToNotified::DoNothing)
            } else if s.is_running() {
                s.0 |= NOTIFIED;
                (Some(s), ToNotified::DoNothing)
            } else {
                s.0 |= NOTIFIED;
                s.ref_inc();
                (Some(s), ToNotified::Submit)
            }
        })
    }

    /// `JoinHandle::abort`: sets `CANCELLED`; true if the caller must submit a new `Notified`
    /// (holding a reference this call added) so that a worker drops the future.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.update(|mut s| {
            if s.is_cancelled() || s.is_complete() {
                (None, false)
            } else if s.is_running() || s.is_notified() {
                s.0 |= NOTIFIED | CANCELLED;
                (Some(s), false)
            } else {
                s.0 |= NOTIFIED | CANCELLED;
                s.ref_inc();
                (Some(s), true)
            }
        })
    }

    /// Runtime shutdown: sets `CANCELLED` and, if the task is idle, takes `RUNNING` so that the
    /// caller can drop the future itself. True if `RUNNING` was taken.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|mut s| {
            let claim = s.is_idle();
            s.0 |= CANCELLED;
            if claim {
                s.0 |= RUNNING;
            }
            (Some(s), claim)
        })
    }

    /// Adds a reference (a cloned waker).
    pub(crate) fn ref_inc(&self) {
        let prev = self.word.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference; true if it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        self.transition_to_terminal(1)
    }

    /// The `JoinHandle` is dropped. Returns `(drop_output, drop_waker)`: whether the handle must
    /// drop the stored output (the task is complete) and whether it owns the join waker now.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> (bool, bool) {
        self.update(|s| {
            let mut next = s.0 & !JOIN_INTEREST;
            if !s.is_complete() {
                next &= !JOIN_WAKER;
            }
            (
                Some(Snapshot(next)),
                (s.is_complete(), next & JOIN_WAKER == 0),
            )
        })
    }

    /// Publishes the join waker written by the handle. `Err` if the task completed first: the
    /// handle keeps the waker and reads the output.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            debug_assert!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_complete() {
                return (None, Err(s));
            }
            (Some(Snapshot(s.0 | JOIN_WAKER)), Ok(()))
        })
    }

    /// Takes the join waker back so the handle may replace it. `Err` if the task completed.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|s| {
            debug_assert!(s.is_join_interested() && s.is_join_waker_set());
            if s.is_complete() {
                return (None, Err(s));
            }
            (Some(Snapshot(s.0 & !JOIN_WAKER)), Ok(()))
        })
    }

    /// After waking the join waker on completion, the runtime gives the waker back. Returns the
    /// state before: if `JOIN_INTEREST` was already gone, the runtime drops the waker.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        let prev = Snapshot(self.word.fetch_and(!JOIN_WAKER, AcqRel));
        debug_assert!(prev.is_complete() && prev.is_join_waker_set());
        prev
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.load().fmt(f)
    }
}
