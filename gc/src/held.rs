//! Which `GcCell` borrows the calling thread holds, so that a borrow which can only wait for
//! the thread itself panics (as `RefCell`'s does) instead of deadlocking; and the back-off of a
//! borrow that waits for another thread.
//!
//! A mutable borrow records its thread's id in the cell; shared borrows are listed per thread
//! (a short stack: borrows nest). A borrow that conflicts with one held on another thread
//! waits for it, like a read-write lock.

use crate::loom::thread_local;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
#[cfg(not(gort_loom))]
use std::time::Duration;

#[cfg(not(gort_loom))]
thread_local! {
    static ID: Cell<u64> = const { Cell::new(0) };
    static READING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

#[cfg(gort_loom)]
thread_local! {
    static ID: Cell<u64> = Cell::new(0);
    static READING: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// The calling thread's id: never 0 (which marks a cell with no writer).
#[inline]
pub(crate) fn thread_id() -> u64 {
    ID.with(|id| match id.get() {
        0 => {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let new = NEXT.fetch_add(1, Relaxed);
            id.set(new);
            new
        }
        known => known,
    })
}

/// The thread took a shared borrow of the cell at `cell`.
#[inline]
pub(crate) fn reading(cell: usize) {
    let _ = READING.try_with(|list| list.borrow_mut().push(cell));
}

/// The thread's shared borrow of `cell` ended.
#[inline]
pub(crate) fn done_reading(cell: usize) {
    let _ = READING.try_with(|list| {
        let mut list = list.borrow_mut();
        if let Some(at) = list.iter().rposition(|&c| c == cell) {
            list.swap_remove(at);
        }
    });
}

/// Whether the thread holds a shared borrow of `cell`.
pub(crate) fn is_reading(cell: usize) -> bool {
    READING
        .try_with(|list| list.borrow().contains(&cell))
        .unwrap_or(false)
}

/// Waiting for another thread's borrow to end: spin, then yield, then sleep in short naps.
#[derive(Default)]
pub(crate) struct Backoff {
    looks: u32,
}

impl Backoff {
    pub(crate) fn wait(&mut self) {
        self.looks += 1;
        if self.looks < 64 {
            crate::loom::spin();
        } else if cfg!(gort_loom) || self.looks < 128 {
            crate::loom::yield_now();
        } else {
            #[cfg(not(gort_loom))]
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}
