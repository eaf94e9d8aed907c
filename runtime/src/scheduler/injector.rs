//! The global run queue (Go's `sched.runq`): spawns from outside the runtime, wake-ups from
//! other threads, and the overflow of full worker rings.
//!
//! An intrusive FIFO threaded through `Header::queue_next` under one mutex, so pushing never
//! allocates and a batch of 129 overflowing tasks is linked outside the lock and spliced in
//! with one acquisition. `len` is kept in an atomic beside the lock so that workers can skip
//! the lock when the queue is empty (the common case on the hot path). Workers take from it
//! every 61 ticks (so it never starves behind busy local queues) and whenever their own ring
//! is empty, in batches proportional to its length (Go's `globrunqget`).
//!
//! Once closed (runtime shutdown) every push drops its task's reference at once; shutdown
//! then cancels the tasks through the owned list.

use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::loom::{Mutex, lock};
use crate::task::{Header, Notified};
use std::ptr::NonNull;

pub(crate) struct Injector {
    list: Mutex<List>,
    len: AtomicUsize,
}

struct List {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    closed: bool,
}

// SAFETY: the pointers are queued `Notified`s (which are Send), followed only under the lock.
unsafe impl Send for List {}

/// A chain of tasks linked through `queue_next`, owned by whoever holds it.
pub(crate) struct Batch {
    head: Option<NonNull<Header>>,
    left: usize,
}

// SAFETY: as for `List`: a chain of owned `Notified`s.
unsafe impl Send for Batch {}

fn set_next(task: NonNull<Header>, next: Option<NonNull<Header>>) {
    // SAFETY: the header is alive: the caller holds the (unqueued or locked) `Notified`.
    let header = unsafe { task.as_ref() };
    // SAFETY: `queue_next` belongs to that holder, so nobody else reads or writes the slot.
    header.queue_next.with_mut(|slot| unsafe { *slot = next });
}

fn get_next(task: NonNull<Header>) -> Option<NonNull<Header>> {
    // SAFETY: as in `set_next`: the caller holds the `Notified`, so the header is alive.
    let header = unsafe { task.as_ref() };
    // SAFETY: as in `set_next`: only the holder touches `queue_next`.
    header.queue_next.with(|slot| unsafe { *slot })
}

impl Injector {
    pub(crate) fn new() -> Injector {
        Injector {
            list: Mutex::new(List {
                head: None,
                tail: None,
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    /// Tasks queued (a hint: it may change at once).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&self, task: Notified) {
        self.push_batch(std::iter::once(task));
    }

    /// Links `tasks` outside the lock, then appends them in one step.
    pub(crate) fn push_batch(&self, tasks: impl Iterator<Item = Notified>) {
        let mut first: Option<NonNull<Header>> = None;
        let mut last: Option<NonNull<Header>> = None;
        let mut count = 0;
        for task in tasks {
            let ptr = task.into_raw();
            set_next(ptr, None);
            match last {
                Some(prev) => set_next(prev, Some(ptr)),
                None => first = Some(ptr),
            }
            last = Some(ptr);
            count += 1;
        }
        let (Some(first), Some(last)) = (first, last) else {
            return;
        };
        let mut list = lock(&self.list);
        if list.closed {
            drop(list);
            drop(Batch {
                head: Some(first),
                left: count,
            });
            return;
        }
        match list.tail {
            Some(tail) => set_next(tail, Some(first)),
            None => list.head = Some(first),
        }
        list.tail = Some(last);
        self.len.fetch_add(count, Release);
    }

    /// Takes up to `max` tasks from the front.
    pub(crate) fn pop_batch(&self, max: usize) -> Batch {
        if self.is_empty() || max == 0 {
            return Batch {
                head: None,
                left: 0,
            };
        }
        let mut list = lock(&self.list);
        let n = self.len.load(Acquire).min(max);
        if n == 0 {
            return Batch {
                head: None,
                left: 0,
            };
        }
        let head = list.head;
        let mut last = head.expect("gort: injector len > 0 with an empty list");
        for _ in 1..n {
            last = get_next(last).expect("gort: injector shorter than its len");
        }
        list.head = get_next(last);
        if list.head.is_none() {
            list.tail = None;
        }
        set_next(last, None);
        self.len.fetch_sub(n, Release);
        Batch { head, left: n }
    }

    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<Notified> {
        self.pop_batch(1).next()
    }

    /// Closes the queue and drops every queued task's reference.
    pub(crate) fn close(&self) {
        let batch = {
            let mut list = lock(&self.list);
            list.closed = true;
            list.tail = None;
            let n = self.len.swap(0, AcqRel);
            Batch {
                head: list.head.take(),
                left: n,
            }
        };
        drop(batch);
    }
}

impl Iterator for Batch {
    type Item = Notified;

    fn next(&mut self) -> Option<Notified> {
        let task = self.head?;
        self.head = get_next(task);
        self.left -= 1;
        set_next(task, None);
        // SAFETY: every linked pointer came from `Notified::into_raw` and is taken once.
        Some(unsafe { Notified::from_raw(task) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Batch {}

impl Drop for Batch {
    fn drop(&mut self) {
        for task in self.by_ref() {
            drop(task);
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        self.close();
    }
}
