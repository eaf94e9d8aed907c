//! A second reference count on a value in an `Arc`, moved in batches: the references a
//! runtime lends to its timers.
//!
//! Every timer holds a reference to its runtime: it must reach its wheel shard to arm, to
//! re-arm and to cancel when dropped, wherever it has moved meanwhile. std's `Arc` takes and
//! gives back counts one atomic read-modify-write at a time, and on x86 each waits for the
//! stores before it to drain: with a million timers alive, their two RMWs were a tenth of the
//! cost of creating, arming and dropping one.
//!
//! So the value carries a count of its own (`LentCount`), and references counted there
//! (`Lent<T>`) are lent out of it. A worker takes 1,024 at a time with one RMW (`take`), hands
//! them to the timers it creates without touching any shared word, stocks the ones that come
//! back to it and gives its surplus back in batches (`give_back`); see `scheduler/lend.rs`. A
//! `Lent` dropped anywhere else gives back its one reference.
//!
//! # Invariant
//!
//! While the count is above 0, the lent references together hold one strong count of the
//! `Arc`: whoever moves the count up from 0 takes a strong count, whoever moves it down to 0
//! gives one back. Taking needs a strong reference in hand (`&Arc<T>`), so the value is alive
//! while it takes one. Between a move to 0 and the strong count it gives back, another thread
//! may move the count up from 0 and take a strong count of its own: the `Arc` then counts two
//! for the lent references for a moment, never none while one is held. A move to 0 meets no
//! other holder, as the count it brought to 0 was all the references there were.
//!
//! Memory ordering is `Arc`'s: taking is relaxed (the taker already holds the value alive); a
//! give-back is a release, and the one that reaches 0 acquires every earlier give-back (they
//! form a release sequence on the count) before it gives back the strong count, so whoever
//! drops the value after the last strong count sees every access made through a lent one.
//!
//! `loom_lent.rs` models a batch taken while the last reference of the previous one is given
//! back, and the handles moving between threads.

use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::*, fence};
use std::ops::Deref;
use std::ptr::NonNull;

/// The count of references lent out of a value (see the module docs).
pub(crate) struct LentCount(AtomicUsize);

impl LentCount {
    pub(crate) fn new() -> LentCount {
        LentCount(AtomicUsize::new(0))
    }
}

/// A value that lends references of itself: it holds their count.
pub(crate) trait Lends {
    fn lent_count(&self) -> &LentCount;
}

/// Takes `n` lent references to `owner`'s value, for the caller to hand out one at a time
/// with [`Lent::from_stock`] or to give back with [`give_back`].
pub(crate) fn take<T: Lends>(owner: &Arc<T>, n: usize) {
    debug_assert!(n > 0);
    if owner.lent_count().0.fetch_add(n, Relaxed) == 0 {
        // SAFETY: `owner` is a strong reference, so the allocation is alive, and the pointer
        // is the one `Arc::as_ptr` gives for it.
        unsafe { Arc::increment_strong_count(Arc::as_ptr(owner)) };
    }
}

/// Gives back `n` lent references to the value at `ptr`.
///
/// # Safety
///
/// The caller holds `n` lent references to that value (taken with [`take`] and not handed
/// out, or the ones of `Lent`s it forgot), gives them up here, and `ptr` is `Arc::as_ptr` of
/// the value.
pub(crate) unsafe fn give_back<T: Lends>(ptr: *const T, n: usize) {
    // SAFETY: the caller's references keep the value alive until this gives them back.
    let count = unsafe { &(*ptr).lent_count().0 };
    let before = count.fetch_sub(n, Release);
    debug_assert!(
        before >= n,
        "gave back more lent references than were taken"
    );
    if before == n {
        // Every earlier give-back happens before the value can be dropped.
        fence(Acquire);
        // SAFETY: the lent references held one strong count, given back by the one move to 0
        // (see the invariant); the value is alive until it is.
        unsafe { Arc::decrement_strong_count(ptr) };
    }
}

/// A reference to a `T` counted in its [`LentCount`]. Dropping it gives the reference back;
/// [`Lent::into_stock`] keeps it for the caller to hand out again.
pub(crate) struct Lent<T: Lends> {
    ptr: NonNull<T>,
}

// SAFETY: a `Lent` is a shared reference to a `T` that keeps it alive, as an `Arc` is.
unsafe impl<T: Lends + Send + Sync> Send for Lent<T> {}
// SAFETY: as above.
unsafe impl<T: Lends + Send + Sync> Sync for Lent<T> {}

impl<T: Lends> Lent<T> {
    /// A reference to `owner`'s value, taken on its own (one read-modify-write, as
    /// `Arc::clone`).
    pub(crate) fn new(owner: &Arc<T>) -> Lent<T> {
        take(owner, 1);
        // SAFETY: the reference was just taken for this handle.
        unsafe { Lent::from_stock(owner) }
    }

    /// A handle for one of the references the caller took with [`take`].
    ///
    /// # Safety
    ///
    /// The caller holds a lent reference to `owner`'s value that it has not handed out, and
    /// hands it to this handle.
    pub(crate) unsafe fn from_stock(owner: &Arc<T>) -> Lent<T> {
        Lent {
            // SAFETY: `Arc::as_ptr` is never null.
            ptr: unsafe { NonNull::new_unchecked(Arc::as_ptr(owner).cast_mut()) },
        }
    }

    /// True if this is a reference to `owner`'s value.
    pub(crate) fn is_of(&self, owner: &Arc<T>) -> bool {
        std::ptr::eq(self.ptr.as_ptr(), Arc::as_ptr(owner))
    }

    /// Gives up the handle but not its reference, which the caller now holds (to stock it or
    /// to give it back with [`give_back`]).
    pub(crate) fn into_stock(self) {
        std::mem::forget(self);
    }
}

impl<T: Lends> Deref for Lent<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the handle's reference keeps the value alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Lends> Drop for Lent<T> {
    fn drop(&mut self) {
        // SAFETY: the handle holds one lent reference, given up here; the pointer came from
        // `Arc::as_ptr`.
        unsafe { give_back(self.ptr.as_ptr().cast_const(), 1) };
    }
}
