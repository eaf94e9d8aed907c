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
//! # The owner's grace
//!
//! A goroutine that the running one wakes or spawns goes to `runnext`, and the one it displaces
//! to the ring's tail: most often a partner of the running goroutine (the other producers of a
//! consumer that wakes each in turn), which the owner runs within one time slice. Stolen, it
//! would run on another core while its partner runs here, and every operation of the two on a
//! shared channel then moves its cache lines between cores. So the owner marks the ring
//! position up to which tasks were displaced (`held`, the tail after the last such push), and a
//! thief leaves a *held* ring (fewer than `SHORT` tasks, the first of them displaced) to the
//! owner: it takes one only after a grace period, and only if a task it saw before the wait
//! is still queued (`steal_into_before`), the sign that the owner is stuck in a long poll.
//! A ring of `SHORT` tasks or more holds more than the owner's partners, and any ring whose
//! first task was queued otherwise (a yielder rejoining, a timer's wake-up) holds work that
//! wants another core: thieves take those at once. The marks are hints, read `Relaxed`: a
//! stale one only changes when a task is stolen, never whether it is taken exactly once.
//!
//! # runnext
//!
//! One task that runs before everything in the ring: the task woken or spawned by the running
//! goroutine, so a producer and its consumer (a channel ping-pong, a spawn chain) stay on one
//! worker and share its cache. The owner swaps it in (the previous occupant moves to the ring's
//! tail) and swaps it out. Thieves take it only as a last resort (`take_runnext`), from an
//! owner that has stayed in one poll for a grace period (`worker.rs`; Go's `runqgrab` gives it
//! 3 µs); the swap makes the owner and the thief agree on who got it.

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
/// A ring holding fewer tasks than this, the first of them displaced from `runnext`, is left
/// to its owner for a grace period (see the module docs).
const SHORT: u32 = 4;

struct Inner {
    head: AtomicU32,
    tail: AtomicU32,
    /// The tail just after the last task displaced from `runnext` was pushed: the tasks before
    /// it, while queued, are held (see the module docs). Written by the owner only.
    held: AtomicU32,
    runnext: AtomicPtr<Header>,
    buf: Box<[AtomicPtr<Header>]>,
}

/// What a thief finds in a victim's ring (`Steal::ring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ring {
    Empty,
    /// Held for its owner: the tail the thief saw, for `steal_into_before`.
    Held(u32),
    /// Tasks any thief may take at once.
    Open,
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
        held: AtomicU32::new(0),
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

    /// As `push_back`, for a task displaced from `runnext`: it is held (see the module docs).
    pub(crate) fn push_back_held(&self, task: Notified, overflow: &Injector) -> bool {
        let overflowed = self.push_back(task, overflow);
        // Only this thread stores `tail`.
        let tail = self.inner.tail.load(Relaxed);
        self.inner.held.store(tail, Relaxed);
        overflowed
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

    /// What a thief finds in the ring: nothing, a held ring (fewer than `SHORT` tasks, the
    /// first displaced from `runnext`) with the tail to pass to `steal_into_before` after the
    /// grace period, or tasks to take at once.
    pub(crate) fn ring(&self) -> Ring {
        let src = &*self.0;
        let head = src.head.load(Acquire);
        let tail = src.tail.load(Acquire);
        let held = src.held.load(Relaxed);
        match tail.wrapping_sub(head) {
            0 => Ring::Empty,
            // `head < held`, on free-running counters: a held task is still queued.
            n if n < SHORT && held.wrapping_sub(head) as i32 > 0 => Ring::Held(tail),
            _ => Ring::Open,
        }
    }

    /// Steals half of the ring into `dst`, returning one of the stolen tasks to run now.
    pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
        self.steal_into_before(dst, None)
    }

    /// As `steal_into`; with `Some(seen)`, only while a task queued before position `seen` (the
    /// tail of a `Ring::Held`) is still in the ring: none is once `head` reaches `seen`.
    pub(crate) fn steal_into_before(&self, dst: &Local, seen: Option<u32>) -> Option<Notified> {
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
            if seen.is_some_and(|seen| seen.wrapping_sub(head) as i32 <= 0) {
                return None;
            }
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
    #[cfg(test)]
    pub(crate) fn steal_runnext(&self, grace: impl FnOnce()) -> Option<Notified> {
        let seen = self.runnext()?;
        grace();
        self.take_runnext(seen)
    }

    /// The task in the victim's `runnext`, to pass to `take_runnext` after the grace period.
    pub(crate) fn runnext(&self) -> Option<NonNull<Header>> {
        NonNull::new(self.0.runnext.load(Acquire))
    }

    /// Takes the victim's `runnext` if it still holds `seen`.
    pub(crate) fn take_runnext(&self, seen: NonNull<Header>) -> Option<Notified> {
        let seen = seen.as_ptr();
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
