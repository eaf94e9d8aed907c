//! Goroutines as tasks: one allocation per goroutine, an atomic state word, counted handles.
//!
//! # The allocation
//!
//! `raw.rs` lays out a `Cell` holding the header (state word, queue links, vtable, id, spawn
//! location), the future and later its output, and the join waker. Nothing else is allocated
//! over a goroutine's life: wakers are the task pointer with a static vtable (`waker.rs`), run
//! queues link `Notified` pointers (the ring stores them, the injector threads them through
//! `Header::queue_next`), and the owned-tasks list threads `Header::owned` (`owned.rs`).
//!
//! # Handles and the reference count
//!
//! | handle        | made by                          | counted | may touch                       |
//! |---------------|----------------------------------|---------|---------------------------------|
//! | `Task`        | `new`, kept by the owned list    | yes     | header (links), `shutdown`      |
//! | `Notified`    | `new`, a wake, abort, yield      | yes     | everything, once it is `run`    |
//! | `JoinHandle`  | `new`                            | yes     | output after `COMPLETE`, waker  |
//! | `Waker`       | `clone`, the join waker          | yes     | state word, `schedule`          |
//! | poll's waker  | `harness::poll`                  | no      | borrows the running `Notified`  |
//!
//! # State transitions and their races
//!
//! `state.rs` documents every bit. The races the transitions settle, each checked by a loom
//! model (`loom_task.rs`):
//!
//! - *wake while running*: the waker sets `NOTIFIED` and drops its reference; the poller sees
//!   the bit in `transition_to_idle` and resubmits the task with the poll's reference.
//! - *wake after complete*: `COMPLETE` makes every wake a no-op that only drops a reference.
//! - *abort racing completion*: abort sets `CANCELLED` only while the task is not complete;
//!   whichever CAS wins decides between the output and a cancelled `JoinError`.
//! - *JoinHandle drop racing completion*: `JOIN_INTEREST` is cleared and `COMPLETE` is set by
//!   CAS on one word, so exactly one side drops the output and exactly one side the waker.
//!
//! # Safety
//!
//! The stage (future or output) is touched only by the holder of `RUNNING` before completion,
//! and after it only by the side that owns the output (see `JOIN_INTEREST`). The join waker is
//! touched only as `JOIN_WAKER` allows. The allocation is freed by whoever drops the last
//! reference, after which no handle refers to it.

mod error;
mod harness;
mod join;
pub(crate) mod owned;
mod raw;
mod state;
mod waker;

#[cfg(all(test, gort_loom))]
mod loom_task;

pub use error::JoinError;
pub use join::JoinHandle;
pub(crate) use raw::Header;

use raw::RawTask;
use std::future::Future;
use std::panic::Location;
use std::ptr::NonNull;

/// What a task needs from the scheduler that owns it.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Queue a task that was woken by someone other than itself.
    fn schedule(&self, task: Notified);

    /// Queue a task that woke itself during its poll (a yield): behind the others.
    fn yield_now(&self, task: Notified) {
        self.schedule(task);
    }

    /// The task completed: unlink it from the owned list. True if it was linked, in which
    /// case the caller drops the list's reference.
    fn release(&self, task: NonNull<Header>) -> bool;
}

/// A task that must be polled: the one reference a run queue holds.
pub(crate) struct Notified(RawTask);

// SAFETY: tasks are only built from `Send` futures (see `new`), and every field a `Notified`
// lets its holder touch is synchronised by the state word.
unsafe impl Send for Notified {}

impl Notified {
    /// Polls (or cancels) the task, consuming this reference.
    pub(crate) fn run(self) {
        let raw = self.0;
        std::mem::forget(self);
        raw.poll();
    }

    /// Gives up ownership without dropping the reference (for intrusive queues).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0.header_ptr();
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    /// `ptr` must come from `Notified::into_raw`, and be used once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Notified {
        Notified(RawTask::from_raw(ptr))
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

/// The owned list's reference to a task.
pub(crate) struct Task(RawTask);

// SAFETY: as for `Notified`.
unsafe impl Send for Task {}

impl Task {
    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.0.header_ptr()
    }

    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0.header_ptr();
        std::mem::forget(self);
        ptr
    }

    /// # Safety
    /// `ptr` must come from `Task::into_raw`, and be used once.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Task {
        Task(RawTask::from_raw(ptr))
    }

    /// Cancels the task for runtime shutdown, consuming the list's reference.
    pub(crate) fn shutdown(self) {
        let raw = self.0;
        std::mem::forget(self);
        raw.shutdown();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

/// Allocates a task. The caller binds the `Task` to an owned list and queues the `Notified`.
///
/// The future must be `Send` for `Notified` to be sent across threads; `block_on` erases the
/// lifetime of a borrowing future and guarantees it is dropped before the borrow ends.
#[track_caller]
pub(crate) fn new<F, S>(
    future: F,
    scheduler: S,
    location: &'static Location<'static>,
) -> (Task, Notified, JoinHandle<F::Output>)
where
    F: Future + Send,
    F::Output: Send,
    S: Schedule,
{
    let raw = RawTask::new(future, scheduler, next_id(), location);
    (Task(raw), Notified(raw), JoinHandle::new(raw))
}

/// Task ids come from a global counter in batches of 1024 per thread (as Go's goidcache),
/// so spawning workers do not share a cache line.
fn next_id() -> u64 {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    const BATCH: u64 = 1024;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    std::thread_local! {
        static CACHE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    CACHE.with(|cache| {
        let (mut next, mut end) = cache.get();
        if next == end {
            next = NEXT.fetch_add(BATCH, Relaxed);
            end = next + BATCH;
        }
        cache.set((next + 1, end));
        next
    })
}
