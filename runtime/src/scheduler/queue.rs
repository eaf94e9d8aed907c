//! A worker's run queue: a bounded ring of 256 tasks plus the `runnext` slot (Go's `runq` and
//! `runnext` in `p`).
//!
//! # The ring
//!
//! `head` and `tail` are free-running `u32` counters; slot `i` is `buf[i % CAPACITY]`, and the
//! queue holds the tasks in `[head, tail)`.
//!
//! - Only the owner pushes: it writes the slot at `tail` and then publishes it by storing
//!   `tail + 1` with `Release`. It may push while `tail - head < CAPACITY`; when the ring is full
//!   it moves half of it, plus the new task, to the global injector in one batch (Go's
//!   `runqputslow`), claiming that half with a CAS on `head` exactly as a thief would.
//! - The owner pops at `head` with a CAS, because thieves move `head` too.
//! - A thief reads `head` and `tail` (`Acquire`, pairing with the owner's `Release`), copies
//!   half of the tasks into the free end of its own ring, and then claims them with a CAS of
//!   `head` to `head + n`. If the CAS fails (the owner popped, or another thief stole) the copy is
//!   discarded and it retries; the thief publishes the copied tasks in its own ring only after the
//!   CAS succeeded. It keeps the last stolen task to run at once.
//!
//! Slots are `AtomicPtr`s accessed `Relaxed`: a thief with a stale `head` may read a slot that
//! the owner is overwriting after a wrap-around. Go tolerates that benign race on plain words;
//! in Rust it must be atomic to be defined, and the failed CAS then throws the value away.
//! The `u32` counters could in theory wrap during one thief's read-CAS window (2^32 pops); that
//! is the same ABA window Go accepts.
//!
//! # runnext
//!
//! One task that runs before everything in the ring: the task woken or spawned by the running
//! goroutine, so a producer and its consumer (a channel ping-pong, a spawn chain) stay on one
//! worker and share its cache. The owner swaps it in (the previous occupant moves to the ring's
//! tail) and swaps it out. Thieves take it only as a last resort (`steal_runnext`), after
//! giving the owner 20 µs to run it (`worker.rs`; Go's `runqgrab` gives it 3); the swap makes
//! the owner and the thief agree on who got it.

use super::injector::Injector;
use crate::loom::Arc;
use crate::loom::atomic::{AtomicPtr, AtomicU32, Ordering::*};
use crate::task::{Header, Notified};
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// Slots per ring: Go's and tokio's 256; 4 under loom so models reach the full and wrap cases.
#[cfg(not(gort_loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(gort_loom)]
pub(crate) const CAPACITY: usize = 4;
const MASK: u32 = CAPACITY as u32 - 1;

struct Inner {
    head: AtomicU32,
    tail: AtomicU32,
    runnext: AtomicPtr<Header>,
    buf: Box<[AtomicPtr<Header>]>,
}

/// The owner's side. Not `Sync` and not `Clone`: exactly one thread pushes.
pub(crate) struct Local {
    inner: Arc<Inner>,
    _owner_only: PhantomData<Cell<()>>,
}

/// The thieves' side: any number of clones on any threads.
#[derive(Clone)]
pub(crate) struct Steal(Arc<Inner>);

/// A new, empty run queue.
pub(crate) fn local() -> (Local, Steal) {
    let inner = Arc::new(Inner {
        head: AtomicU32::new(0),
        tail: AtomicU32::new(0),
        runnext: AtomicPtr::new(ptr::null_mut()),
        buf: (0..CAPACITY)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect(),
    });
    (
        Local {
            inner: inner.clone(),
            _owner_only: PhantomData,
        },
        Steal(inner),
    )
}

impl Inner {
    fn slot(&self, index: u32) -> &AtomicPtr<Header> {
        &self.buf[(index & MASK) as usize]
    }

    fn len(&self) -> usize {
        let tail = self.tail.load(Acquire);
        let head = self.head.load(Acquire);
        tail.wrapping_sub(head).min(CAPACITY as u32) as usize
    }
}

// SAFETY (for every `Notified::from_raw` below): a pointer is stored in a slot or in `runnext`
// only through `Notified::into_raw`, and a successful CAS of `head` (or swap of `runnext`)
// hands each stored pointer to exactly one taker.
impl Local {
    /// Tasks in the ring (not counting `runnext`).
    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Pushes to the back of the ring; when it is full, moves half of it and `task` to
    /// `overflow`. Returns true if it overflowed.
    pub(crate) fn push_back(&self, task: Notified, overflow: &Injector) -> bool {
        let inner = &*self.inner;
        let mut task = task;
        loop {
            let head = inner.head.load(Acquire);
            // Only this thread stores `tail`.
            let tail = inner.tail.load(Relaxed);
            if tail.wrapping_sub(head) < CAPACITY as u32 {
                inner.slot(tail).store(task.into_raw().as_ptr(), Relaxed);
                inner.tail.store(tail.wrapping_add(1), Release);
                return false;
            }
            match self.push_overflow(task, head, tail, overflow) {
                Ok(()) => return true,
                // A thief moved `head`: there may be room now.
                Err(back) => task = back,
            }
        }
    }

    fn push_overflow(
        &self,
        task: Notified,
        head: u32,
        tail: u32,
        overflow: &Injector,
    ) -> Result<(), Notified> {
        let inner = &*self.inner;
        let n = CAPACITY as u32 / 2;
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY as u32);
        if inner
            .head
            .compare_exchange(head, head.wrapping_add(n), AcqRel, Relaxed)
            .is_err()
        {
            return Err(task);
        }
        let batch = (0..n).map(|i| {
            let ptr = inner.slot(head.wrapping_add(i)).load(Relaxed);
            // SAFETY: the CAS gave us `[head, head + n)`; see the note above `impl Local`.
            unsafe { Notified::from_raw(NonNull::new_unchecked(ptr)) }
        });
        overflow.push_batch(batch.chain(std::iter::once(task)));
        Ok(())
    }

    /// Pops from the front of the ring.
    pub(crate) fn pop(&self) -> Option<Notified> {
        let inner = &*self.inner;
        let mut head = inner.head.load(Acquire);
        loop {
            let tail = inner.tail.load(Relaxed);
            if head == tail {
                return None;
            }
            let ptr = inner.slot(head).load(Relaxed);
            match inner
                .head
                .compare_exchange_weak(head, head.wrapping_add(1), AcqRel, Acquire)
            {
                // SAFETY: the CAS gave us slot `head`; see the note above `impl Local`.
                Ok(_) => return Some(unsafe { Notified::from_raw(NonNull::new_unchecked(ptr)) }),
                Err(actual) => head = actual,
            }
        }
    }

    /// Puts `task` in `runnext`; returns the task it displaced, which the caller queues.
    pub(crate) fn push_runnext(&self, task: Notified) -> Option<Notified> {
        let prev = self.inner.runnext.swap(task.into_raw().as_ptr(), AcqRel);
        // SAFETY: the swap gave us the previous occupant; see the note above `impl Local`.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    /// Takes the task in `runnext`, if any.
    pub(crate) fn pop_runnext(&self) -> Option<Notified> {
        if self.inner.runnext.load(Relaxed).is_null() {
            return None;
        }
        let prev = self.inner.runnext.swap(ptr::null_mut(), Acquire);
        // SAFETY: the swap gave us the occupant; see the note above `impl Local`.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    /// Moves tasks (a batch from the injector) into the free part of the ring; whatever does not
    /// fit stays in `tasks`.
    pub(crate) fn push_many(&self, tasks: &mut impl Iterator<Item = Notified>) {
        let inner = &*self.inner;
        let head = inner.head.load(Acquire);
        let tail = inner.tail.load(Relaxed);
        let room = CAPACITY as u32 - tail.wrapping_sub(head);
        let mut pushed = 0;
        while pushed < room {
            let Some(task) = tasks.next() else { break };
            inner
                .slot(tail.wrapping_add(pushed))
                .store(task.into_raw().as_ptr(), Relaxed);
            pushed += 1;
        }
        inner.tail.store(tail.wrapping_add(pushed), Release);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // The worker drains its queue before it exits; anything left only loses a reference
        // here, and runtime shutdown cancels the task through the owned list.
        while let Some(task) = self.pop_runnext().or_else(|| self.pop()) {
            drop(task);
        }
    }
}

impl Steal {
    /// True if the ring and `runnext` are empty (a racy hint for parking decisions).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.len() == 0 && self.0.runnext.load(Relaxed).is_null()
    }

    /// Steals half of the ring into `dst`, returning one of the stolen tasks to run now.
    pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
        let src = &*self.0;
        let dst_inner = &*dst.inner;
        let dst_tail = dst_inner.tail.load(Relaxed);
        let dst_head = dst_inner.head.load(Acquire);
        if dst_tail.wrapping_sub(dst_head) > CAPACITY as u32 / 2 {
            // The thief has work of its own; never overfill it.
            return None;
        }
        let mut n;
        loop {
            let head = src.head.load(Acquire);
            let tail = src.tail.load(Acquire);
            n = tail.wrapping_sub(head);
            n -= n / 2;
            if n == 0 {
                return None;
            }
            if n > CAPACITY as u32 / 2 {
                // `head` and `tail` were read at different moments: retry.
                continue;
            }
            for i in 0..n {
                let ptr = src.slot(head.wrapping_add(i)).load(Relaxed);
                dst_inner.slot(dst_tail.wrapping_add(i)).store(ptr, Relaxed);
            }
            if src
                .head
                .compare_exchange(head, head.wrapping_add(n), AcqRel, Relaxed)
                .is_ok()
            {
                break;
            }
        }
        n -= 1;
        let last = dst_inner.slot(dst_tail.wrapping_add(n)).load(Relaxed);
        if n > 0 {
            dst_inner.tail.store(dst_tail.wrapping_add(n), Release);
        }
        // SAFETY: the CAS gave us the copied tasks; see the note above `impl Local`.
        Some(unsafe { Notified::from_raw(NonNull::new_unchecked(last)) })
    }

    /// Takes the victim's `runnext` if it still holds the same task after `grace` (a wait, so
    /// that a worker about to run its `runnext` keeps it).
    pub(crate) fn steal_runnext(&self, grace: impl FnOnce()) -> Option<Notified> {
        let seen = self.0.runnext.load(Acquire);
        if seen.is_null() {
            return None;
        }
        grace();
        self.0
            .runnext
            .compare_exchange(seen, ptr::null_mut(), AcqRel, Relaxed)
            .ok()
            .map(|p| {
                // SAFETY: the CAS gave us the occupant; see the note above `impl Local`.
                unsafe { Notified::from_raw(NonNull::new_unchecked(p)) }
            })
    }
}
