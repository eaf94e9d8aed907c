//! The channel itself: one lock around the buffer and the two wait queues (Go's `hchan`), and
//! the operations that run under it.
//!
//! Invariants, under the lock:
//!
//! 1. If receivers are parked, the buffer is empty (a receiver parks only when there is
//!    nothing to take, and a value given back by a cancelled receiver goes to a parked
//!    receiver before the buffer).
//! 2. If senders are parked, the buffer is full (`len >= cap`): a sender parks only when there
//!    is no room, and a receiver that frees a slot moves the first parked sender's value in.
//! 3. Once `closed` is set, both queues are empty and stay so: close wakes every waiter, and
//!    nobody parks on a closed channel.
//!
//! Parked waiters are taken with `WaitList::claim_front`, which passes over the dead nodes of
//! decided selects, so "parked" above means "parked and still claimable".
//!
//! The buffer is a `VecDeque` allocated once with the channel's capacity, so a buffered send
//! never allocates. It may hold up to a few values beyond the capacity: values handed to a
//! receiver whose future was dropped before it could return them go back to the front of the
//! buffer rather than be lost (and a rendezvous channel has no other place for them).

use super::waiter::{WaitList, WaitState, Waiter};
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::select::Token;
use gort_runtime::__private::{SpinGuard, SpinLock};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::task::Waker;

/// `cap` of an unbounded channel.
pub(crate) const UNBOUNDED: usize = usize::MAX;

/// A channel, laid out so that what every operation writes, the lock word and the buffer's
/// head and length, shares one cache line with the wait queues' heads, which every operation
/// reads: `Chan` starts on a line, the lock's 8 bytes of words come first (`SpinLock` is
/// `repr(C)`; with the lock word, its bias's owner and counts, see gort-runtime's `bias.rs`),
/// then `State` in its declared order (`repr(C)`). `closed` and `cap`, read by every send but
/// written once, fall on the next line, where they stay shared between the cores. Laid out by
/// the compiler, the lock word and the buffer fell on two lines, which the cores of a producer
/// and a consumer passed back and forth at every message: SPSC went from 0.95-1.04 to
/// 0.92-0.96 of kanal's time in alternating paired runs.
#[repr(C, align(64))]
pub(crate) struct Chan<T> {
    state: SpinLock<State<T>>,
    pub(crate) cap: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

#[repr(C)]
pub(crate) struct State<T> {
    buf: VecDeque<T>,
    pub(crate) recvq: WaitList<T>,
    pub(crate) sendq: WaitList<T>,
    pub(crate) closed: bool,
    cap: usize,
}

// The layout above: the lock word at 0 and the state from 8, so the head of `sendq`, the
// last of the hot fields, ends by byte 64.
#[cfg(all(target_pointer_width = "64", not(gort_loom)))]
const _: () = {
    assert!(std::mem::offset_of!(Chan<u64>, state) == 0);
    assert!(8 + std::mem::offset_of!(State<u64>, sendq) + 8 <= 64);
    assert!(std::mem::align_of::<Chan<u64>>() == 64);
};

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        let buf = if cap == UNBOUNDED {
            VecDeque::new()
        } else {
            VecDeque::with_capacity(cap)
        };
        Chan {
            state: SpinLock::new(State {
                buf,
                recvq: WaitList::new(),
                sendq: WaitList::new(),
                closed: false,
                cap,
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Closes the channel; true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let wakers = {
            let mut st = self.lock();
            if st.closed {
                return false;
            }
            st.close()
        };
        for waker in wakers {
            waker.wake();
        }
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The buffer's capacity; `None` for an unbounded channel.
    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.cap != UNBOUNDED).then_some(self.cap)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buf.len()
    }

    /// Drops a sender or receiver reference; the last of either kind closes the channel.
    pub(crate) fn release(&self, count: &AtomicUsize) {
        if count.fetch_sub(1, AcqRel) == 1 {
            self.close();
        }
    }
}

impl<T> State<T> {
    /// Delivers `v` to a parked receiver or into the buffer; returns the waker to wake (after
    /// the lock is released), or `v` back if there is no room.
    #[inline]
    pub(crate) fn try_send(&mut self, v: T) -> Result<Option<Waker>, T> {
        if self.recvq.is_empty() {
            // The common case, inlined: nobody to hand to.
            return self.push_buffered(v).map(|()| None);
        }
        self.try_send_to_parked(v)
    }

    #[inline]
    fn push_buffered(&mut self, v: T) -> Result<(), T> {
        if self.buf.len() < self.cap {
            debug_assert!(self.sendq.is_empty(), "invariant 2");
            self.buf.push_back(v);
            return Ok(());
        }
        Err(v)
    }

    #[cold]
    fn try_send_to_parked(&mut self, v: T) -> Result<Option<Waker>, T> {
        // SAFETY: we hold the lock (`&mut self` is the guarded state).
        if let Some(r) = unsafe { self.recvq.claim_front() } {
            debug_assert!(self.buf.is_empty(), "invariant 1");
            // SAFETY: a popped waiter is alive and ours to complete under the lock.
            let node = unsafe { Waiter::node(r) };
            node.value = Some(v);
            node.state = WaitState::Done;
            return Ok(node.waker.take());
        }
        // Only dead select waiters were parked.
        self.push_buffered(v).map(|()| None)
    }

    /// Takes a value from the buffer or from a parked sender; also returns a waker to wake.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Option<(T, Option<Waker>)> {
        if self.sendq.is_empty() {
            // The common case, inlined: no parked sender to refill from.
            return self.buf.pop_front().map(|v| (v, None));
        }
        self.try_recv_with_parked()
    }

    #[cold]
    fn try_recv_with_parked(&mut self) -> Option<(T, Option<Waker>)> {
        if let Some(v) = self.buf.pop_front() {
            let mut waker = None;
            if self.buf.len() < self.cap {
                // SAFETY: under the lock.
                if let Some(s) = unsafe { self.sendq.claim_front() } {
                    // SAFETY: as in `try_send_to_parked`.
                    let node = unsafe { Waiter::node(s) };
                    self.buf
                        .push_back(node.value.take().expect("a parked sender holds its value"));
                    node.state = WaitState::Done;
                    waker = node.waker.take();
                }
            }
            return Some((v, waker));
        }
        // SAFETY: under the lock.
        let s = unsafe { self.sendq.claim_front() }?;
        // SAFETY: as in `try_send_to_parked`.
        let node = unsafe { Waiter::node(s) };
        node.state = WaitState::Done;
        Some((
            node.value.take().expect("a parked sender holds its value"),
            node.waker.take(),
        ))
    }

    /// A value handed to a receiver that went away: to the next parked receiver, or back to
    /// the front of the buffer. Never lost.
    pub(crate) fn give_back(&mut self, v: T) -> Option<Waker> {
        // SAFETY: under the lock.
        if let Some(r) = unsafe { self.recvq.claim_front() } {
            // SAFETY: as in `try_send`.
            let node = unsafe { Waiter::node(r) };
            node.value = Some(v);
            node.state = WaitState::Done;
            return node.waker.take();
        }
        self.buf.push_front(v);
        None
    }

    /// Whether a receive by the select owning `me` could complete now (see
    /// `WaitList::has_partner`).
    pub(crate) fn recv_ready(&self, me: NonNull<Token>) -> bool {
        // SAFETY: we hold the lock (`&self` is the guarded state).
        !self.buf.is_empty() || self.closed || unsafe { self.sendq.has_partner(me) }
    }

    /// Whether a send by the select owning `me` could complete now.
    pub(crate) fn send_ready(&self, me: NonNull<Token>) -> bool {
        // SAFETY: we hold the lock.
        self.closed || self.buf.len() < self.cap || unsafe { self.recvq.has_partner(me) }
    }

    /// Marks the channel closed and every claimable waiter `Closed` (a select's arm on a
    /// closed channel takes effect: a receive gets `None`, a send its value back); returns
    /// their wakers.
    fn close(&mut self) -> Vec<Waker> {
        self.closed = true;
        let mut wakers = Vec::new();
        for list in [&mut self.recvq, &mut self.sendq] {
            // SAFETY: under the lock; claimed waiters are alive.
            while let Some(w) = unsafe { list.claim_front() } {
                // SAFETY: as in `try_send`.
                let node = unsafe { Waiter::node(w) };
                node.state = WaitState::Closed;
                wakers.extend(node.waker.take());
            }
        }
        wakers
    }
}
