//! A timer entry: the wheel node, the firing state and the waker, embedded in the timer future
//! (no allocation per sleep).
//!
//! The node's key is the only word read without the shard's lock (see `wheel::Node`):
//!
//! - unlinked: not in any wheel.
//! - a tick and a place: armed, linked in the wheel of the shard the owner registered it in.
//! - `FIRED`: unlinked by the driver, which took the waker. Stored last, with `Release`, under
//!   the shard's lock; after it the driver never touches the entry again, so an owner that
//!   reads `FIRED` (with `Acquire`) may drop the entry without taking the lock.
//!
//! An entry is 40 bytes, and a `Sleep` around it 64, one cache line (88 when the key was two
//! fields and a separate state word, 72 while the deadline was an `Instant`).
//!
//! The node and the waker are touched only under the lock of the entry's shard. Wakers that
//! are replaced or taken are returned to the caller, to be dropped or woken after the lock is
//! released (a waker's drop can run arbitrary code).

use super::wheel::Node;
use crate::loom::UnsafeCell;
use std::marker::PhantomPinned;
use std::ptr::NonNull;
use std::task::Waker;

#[repr(C)]
pub(crate) struct Entry {
    /// First field: a `NonNull<Node>` from the wheel is a `NonNull<Entry>`.
    node: Node,
    waker: UnsafeCell<Option<Waker>>,
    _pinned: PhantomPinned,
}

// SAFETY: the node's links and the waker are only touched under the lock of the shard the
// entry is armed in, and the node's key is atomic; a `Waker` is Send + Sync.
unsafe impl Send for Entry {}
// SAFETY: as above; `&Entry` only gives atomic reads outside the lock.
unsafe impl Sync for Entry {}

impl Entry {
    pub(crate) fn new() -> Entry {
        Entry {
            node: Node::new(),
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
        self.node.is_fired()
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

    /// Marks the entry fired and returns its waker. The caller must not touch the entry after.
    /// The waker of a cancelled entry stays until the entry is armed again (which returns it)
    /// or dropped (outside any lock, with its owner).
    ///
    /// # Safety
    /// Under the shard's lock, with the node unlinked.
    pub(crate) unsafe fn fire(&self) -> Option<Waker> {
        // SAFETY: the lock gives us the field.
        let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
        self.node.mark_fired();
        waker
    }

    /// An owner re-arming a fired entry: back to unlinked.
    ///
    /// # Safety
    /// The entry is fired (so in no wheel, and the driver is done with it).
    pub(crate) unsafe fn reuse(&self) {
        self.node.reset();
    }
}
