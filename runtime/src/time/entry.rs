//! A timer entry: the wheel node, the firing state and the waker, embedded in the timer future
//! (no allocation per sleep).
//!
//! `state` is the only field read without the shard's lock:
//!
//! - `IDLE`: not in any wheel.
//! - a tick: armed, linked in the wheel of the shard the owner registered it in.
//! - `FIRED`: unlinked by the driver, which took the waker. Stored last, with `Release`, under
//!   the shard's lock; after it the driver never touches the entry again, so an owner that
//!   reads `FIRED` (with `Acquire`) may drop the entry without taking the lock.
//!
//! The node and the waker are touched only under the lock of the entry's shard. Wakers that
//! are replaced or taken are returned to the caller, to be dropped or woken after the lock is
//! released (a waker's drop can run arbitrary code).

use super::wheel::Node;
use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU64, Ordering::*};
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::task::Waker;

const IDLE: u64 = u64::MAX - 1;
const FIRED: u64 = u64::MAX;

#[repr(C)]
pub(crate) struct Entry {
    /// First field: a `NonNull<Node>` from the wheel is a `NonNull<Entry>`.
    node: Node,
    state: AtomicU64,
    waker: UnsafeCell<Option<Waker>>,
    _pinned: PhantomPinned,
}

// SAFETY: the node's links and the waker are only touched under the lock of the shard the
// entry is armed in, and `state` is atomic; a `Waker` is Send + Sync.
unsafe impl Send for Entry {}
// SAFETY: as above; `&Entry` only gives atomic reads outside the lock.
unsafe impl Sync for Entry {}

impl Entry {
    pub(crate) fn new() -> Entry {
        Entry {
            node: Node::new(),
            state: AtomicU64::new(IDLE),
            waker: UnsafeCell::new(None),
            _pinned: PhantomPinned,
        }
    }

    pub(crate) fn node(this: NonNull<Entry>) -> NonNull<Node> {
        this.cast()
    }

    /// # Safety
    /// `node` is the node of a live `Entry`.
    pub(crate) unsafe fn from_node(node: NonNull<Node>) -> NonNull<Entry> {
        node.cast()
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(Acquire) == FIRED
    }

    /// # Safety
    /// Under the shard's lock.
    pub(crate) unsafe fn set_armed(&self, when: u64) {
        self.state.store(when.min(IDLE - 1), Relaxed);
    }

    /// Stores `waker` unless an equivalent one is there; returns the one it replaced.
    ///
    /// # Safety
    /// Under the shard's lock.
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) -> Option<Waker> {
        // SAFETY: the lock gives us the field.
        self.waker.with_mut(|slot| unsafe {
            match &*slot {
                Some(current) if current.will_wake(waker) => None,
                _ => (*slot).replace(waker.clone()),
            }
        })
    }

    /// Back to `IDLE` after the node was unlinked. The waker stays until the entry is armed
    /// again (which returns it) or dropped (outside any lock, with its owner).
    ///
    /// # Safety
    /// Under the shard's lock, with the node unlinked.
    pub(crate) unsafe fn disarm(&self) {
        self.state.store(IDLE, Relaxed);
    }

    /// Marks the entry fired and returns its waker. The caller must not touch the entry after.
    ///
    /// # Safety
    /// Under the shard's lock, with the node unlinked.
    pub(crate) unsafe fn fire(&self) -> Option<Waker> {
        // SAFETY: the lock gives us the field.
        let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
        self.state.store(FIRED, Release);
        waker
    }

    /// An owner re-arming a fired entry: back to `IDLE`.
    ///
    /// # Safety
    /// The entry is fired (so in no wheel, and the driver is done with it).
    pub(crate) unsafe fn reuse(&self) {
        self.state.store(IDLE, Relaxed);
    }
}
