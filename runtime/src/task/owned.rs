//! The owned-tasks list: every live goroutine of a runtime, for shutdown, `num_goroutine` and
//! `dump` (Go's `allgs`).
//!
//! An intrusive doubly linked list threaded through `Header::owned`, split into shards by task
//! id so that two workers spawning or completing at once rarely take the same lock. The list
//! holds one reference per task (see `state.rs`), taken at `bind` and dropped when the task
//! completes (`remove`) or at shutdown (`close_and_shutdown_all`).
//!
//! Invariants, under the shard's lock: a task is linked in at most one shard, the one its id
//! selects; a linked task with no `prev` is the shard's head, so membership is checked in O(1).
//! Once a shard is closed nothing new is linked: `bind` shuts the task down at once.

use super::{Header, Notified, Task};
use crate::loom::{Mutex, lock};
use std::ptr::NonNull;

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
}

struct Shard {
    head: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the raw pointers are only followed under the shard's lock, and the tasks they point
// to are Send (see `Task`).
unsafe impl Send for Shard {}

impl OwnedTasks {
    /// A list with at least `shards` shards (rounded up to a power of two).
    pub(crate) fn new(shards: usize) -> OwnedTasks {
        let n = shards.max(1).next_power_of_two();
        let shards = (0..n).map(|_| {
            Mutex::new(Shard {
                head: None,
                len: 0,
                closed: false,
            })
        });
        OwnedTasks {
            shards: shards.collect(),
            mask: n - 1,
        }
    }

    fn shard(&self, header: NonNull<Header>) -> &Mutex<Shard> {
        // SAFETY: the caller holds a reference to the task.
        let id = unsafe { header.as_ref() }.id;
        &self.shards[id as usize & self.mask]
    }

    /// Links a new task; returns its first `Notified`, or `None` if the runtime is shutting
    /// down, in which case the task has been cancelled already.
    pub(crate) fn bind(&self, task: Task, notified: Notified) -> Option<Notified> {
        let header = task.header_ptr();
        let mut shard = lock(self.shard(header));
        if shard.closed {
            drop(shard);
            drop(notified);
            task.shutdown();
            return None;
        }
        // SAFETY: we hold the shard's lock, which owns the links of its tasks; the new task is
        // in no list yet.
        unsafe {
            header.as_ref().owned.with_mut(|links| {
                (*links).prev = None;
                (*links).next = shard.head;
            });
            if let Some(old) = shard.head {
                old.as_ref()
                    .owned
                    .with_mut(|links| (*links).prev = Some(header));
            }
        }
        shard.head = Some(task.into_raw());
        shard.len += 1;
        Some(notified)
    }

    /// Unlinks a completed task. True if it was linked: the caller drops the list's reference.
    pub(crate) fn remove(&self, header: NonNull<Header>) -> bool {
        let mut shard = lock(self.shard(header));
        // SAFETY: under the lock; see the module's membership invariant.
        unsafe { unlink(&mut shard, header) }
    }

    /// Closes every shard and shuts down every task in it.
    pub(crate) fn close_and_shutdown_all(&self) {
        for shard in self.shards.iter() {
            lock(shard).closed = true;
        }
        for shard in self.shards.iter() {
            loop {
                let task = {
                    let mut guard = lock(shard);
                    let Some(head) = guard.head else { break };
                    // SAFETY: under the lock, `head` is linked.
                    let linked = unsafe { unlink(&mut guard, head) };
                    debug_assert!(linked);
                    // SAFETY: unlinking handed us the list's reference.
                    unsafe { Task::from_raw(head) }
                };
                // Outside the lock: dropping the future may complete or spawn other tasks.
                task.shutdown();
            }
        }
    }

    /// Number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len).sum()
    }

    /// Calls `f` on every live task, one shard locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let guard = lock(shard);
            let mut cursor = guard.head;
            while let Some(header) = cursor {
                // SAFETY: linked tasks are alive (the list holds a reference) and their links
                // are ours under the lock.
                let header = unsafe { header.as_ref() };
                f(header);
                // SAFETY: as above.
                cursor = header.owned.with(|links| unsafe { (*links).next });
            }
        }
    }
}

/// # Safety
/// The caller holds the lock of the shard `header`'s id selects.
unsafe fn unlink(shard: &mut Shard, header: NonNull<Header>) -> bool {
    // SAFETY: the links belong to this shard, whose lock the caller holds.
    unsafe {
        let links = header.as_ref().owned.with(|l| *l);
        match links.prev {
            Some(prev) => prev.as_ref().owned.with_mut(|l| (*l).next = links.next),
            None if shard.head == Some(header) => shard.head = links.next,
            None => return false,
        }
        if let Some(next) = links.next {
            next.as_ref().owned.with_mut(|l| (*l).prev = links.prev);
        }
        header.as_ref().owned.with_mut(|l| *l = Default::default());
    }
    shard.len -= 1;
    true
}
