//! The task's `Waker`: the task pointer itself, with one static vtable.
//!
//! A waker is a counted reference (see `state.rs`), so `clone` is one atomic add and no wake
//! ever allocates. `wake` passes the waker's reference on to the `Notified` it submits;
//! `wake_by_ref` adds one for it. The waker handed to the future while it is polled is not
//! counted: it borrows the poll's own reference and is never dropped (`WakerRef`).

use super::raw::{Header, RawTask};
use super::state::ToNotified;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker borrowed from the poll's reference.
pub(super) struct WakerRef<'a> {
    waker: ManuallyDrop<Waker>,
    _task: PhantomData<&'a Header>,
}

impl Deref for WakerRef<'_> {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

pub(super) fn waker_ref(header: &NonNull<Header>) -> WakerRef<'_> {
    let raw = RawWaker::new(header.as_ptr() as *const (), &VTABLE);
    // SAFETY: the vtable's functions uphold RawWaker's contract for a task pointer, and the
    // ManuallyDrop keeps this uncounted waker from dropping a reference it does not own.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
    WakerRef {
        waker,
        _task: PhantomData,
    }
}

fn task(ptr: *const ()) -> RawTask {
    // SAFETY: every waker built with VTABLE carries a non-null task header pointer.
    RawTask::from_raw(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    task(ptr).state().ref_inc();
    RawWaker::new(ptr, &VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    let task = task(ptr);
    match task.state().transition_to_notified_by_val() {
        ToNotified::Submit => task.schedule(),
        ToNotified::Dealloc => task.dealloc(),
        ToNotified::DoNothing => {}
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    let task = task(ptr);
    if task.state().transition_to_notified_by_ref() == ToNotified::Submit {
        task.schedule();
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    task(ptr).drop_reference();
}
