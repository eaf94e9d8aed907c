//! The task allocation and the type-erased handle to it.
//!
//! One heap allocation per task, laid out `#[repr(C)]` so that a pointer to the `Header` is a
//! pointer to the whole `Cell`:
//!
//! ```text
//!  Cell<F, S>
//!  ┌──────────────────────────────────────────────────────────────────────────────┐
//!  │ Header: state word, injector link, owned-list links, vtable, id, location    │  non-generic
//!  │ Core:   scheduler handle S, stage (the future, then its output)             │  generic
//!  │ Trailer: the JoinHandle's waker                                              │
//!  └──────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Every handle (`Task`, `Notified`, `JoinHandle`, `Waker`) is a `NonNull<Header>`; the code
//! that knows `F` and `S` is reached through the `Vtable`, filled in once per future type.
//!
//! Field ownership: `queue_next` belongs to whoever holds the `Notified` while it sits in the
//! injector (under the injector's lock); `owned` belongs to the owned-tasks shard the task was
//! bound to (under that shard's lock); the stage and the trailer follow the state word's rules
//! (see `state.rs`); everything else is immutable after `new`.

use super::harness::Harness;
use super::state::State;
use super::{JoinError, Schedule};
use crate::loom::UnsafeCell;
use std::future::Future;
use std::panic::Location;
use std::ptr::NonNull;
use std::task::Waker;

/// Links of the intrusive owned-tasks list.
#[derive(Clone, Copy, Default)]
pub(crate) struct Links {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
}

/// The non-generic head of every task.
#[repr(C)]
pub(crate) struct Header {
    pub(super) state: State,
    /// Next task in the injector's intrusive FIFO.
    pub(crate) queue_next: UnsafeCell<Option<NonNull<Header>>>,
    /// Neighbours in the owned-tasks shard.
    pub(crate) owned: UnsafeCell<Links>,
    pub(super) vtable: &'static Vtable,
    /// Unique per process, for `dump()` and `JoinError`'s messages.
    pub(crate) id: u64,
    /// Where `go`/`spawn` was called.
    pub(crate) location: &'static Location<'static>,
}

/// The part of the task that knows the future's type and the scheduler's.
pub(super) struct Core<F: Future, S> {
    pub(super) scheduler: S,
    pub(super) stage: UnsafeCell<Stage<F>>,
}

/// What the task holds: the future until it completes, then its output until it is read.
pub(super) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

pub(super) struct Trailer {
    /// Woken on completion; access follows `JOIN_WAKER` (see `state.rs`).
    pub(super) waker: UnsafeCell<Option<Waker>>,
}

#[repr(C)]
pub(super) struct Cell<F: Future, S> {
    pub(super) header: Header,
    pub(super) core: Core<F, S>,
    pub(super) trailer: Trailer,
}

/// The operations that need the concrete types.
pub(super) struct Vtable {
    pub(super) poll: unsafe fn(NonNull<Header>),
    pub(super) schedule: unsafe fn(NonNull<Header>),
    pub(super) dealloc: unsafe fn(NonNull<Header>),
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    pub(super) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    pub(super) shutdown: unsafe fn(NonNull<Header>),
}

fn vtable<F: Future, S: Schedule>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle_slow: drop_join_handle_slow::<F, S>,
        shutdown: shutdown::<F, S>,
    }
}

/// A counted-or-not pointer to a task; the wrapper types decide what a drop means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

impl RawTask {
    /// Allocates a task in its initial state (three references, see `state.rs`).
    pub(super) fn new<F, S>(
        future: F,
        scheduler: S,
        id: u64,
        location: &'static Location<'static>,
    ) -> RawTask
    where
        F: Future,
        S: Schedule,
    {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                queue_next: UnsafeCell::new(None),
                owned: UnsafeCell::new(Links::default()),
                vtable: vtable::<F, S>(),
                id,
                location,
            },
            core: Core {
                scheduler,
                stage: UnsafeCell::new(Stage::Running(future)),
            },
            trailer: Trailer {
                waker: UnsafeCell::new(None),
            },
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    pub(crate) fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: every RawTask is built from a live allocation and used only while the caller
        // holds a reference (a counted handle), so the header is alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(super) fn state(&self) -> &State {
        &self.header().state
    }

    /// Polls the task, consuming the `Notified` reference the caller held.
    pub(super) fn poll(self) {
        // SAFETY: the vtable matches the allocation; the caller passes its reference on.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Submits a new `Notified` (holding one reference) to the task's scheduler.
    pub(super) fn schedule(self) {
        // SAFETY: as in `poll`; the reference passes to the `Notified`.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    pub(super) fn dealloc(self) {
        // SAFETY: the caller dropped the last reference.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// # Safety
    /// `dst` must point to a `Poll<Result<F::Output, JoinError>>` of the task's output type,
    /// and the caller must be the task's `JoinHandle`.
    pub(super) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded to the caller.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    pub(super) fn drop_join_handle_slow(self) {
        // SAFETY: called once, by the JoinHandle's drop, with the handle's reference.
        unsafe { (self.header().vtable.drop_join_handle_slow)(self.ptr) }
    }

    pub(super) fn shutdown(self) {
        // SAFETY: called with the owned list's reference, which it consumes.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// `JoinHandle::abort`.
    pub(super) fn remote_abort(self) {
        if self.state().transition_to_notified_and_cancel() {
            self.schedule();
        }
    }

    /// Drops one reference, freeing the task if it was the last.
    pub(super) fn drop_reference(self) {
        if self.state().ref_dec() {
            self.dealloc();
        }
    }
}

// SAFETY: the vtable entries below are only ever installed for a `Cell<F, S>` by
// `RawTask::new`, so casting the header pointer back to that cell is sound.
unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.poll();
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see `poll`.
    unsafe { Harness::<F, S>::from_raw(ptr) }.schedule();
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see `poll`; the caller held the last reference.
    unsafe { Harness::<F, S>::from_raw(ptr) }.dealloc();
}

unsafe fn try_read_output<F: Future, S: Schedule>(ptr: NonNull<Header>, dst: *mut (), w: &Waker) {
    // SAFETY: see `poll`; `dst` has the output's type (contract of `RawTask::try_read_output`).
    unsafe { Harness::<F, S>::from_raw(ptr).try_read_output(dst.cast(), w) }
}

unsafe fn drop_join_handle_slow<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see `poll`.
    unsafe { Harness::<F, S>::from_raw(ptr) }.drop_join_handle_slow();
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see `poll`.
    unsafe { Harness::<F, S>::from_raw(ptr) }.shutdown();
}

impl Header {
    /// The task's state as `dump()` names it.
    pub(crate) fn state_name(&self) -> &'static str {
        let s = self.state.load();
        if s.is_complete() {
            "finished"
        } else if s.is_cancelled() {
            "cancelling"
        } else if s.is_running() {
            "running"
        } else if s.is_notified() {
            "runnable"
        } else {
            "waiting"
        }
    }
}
