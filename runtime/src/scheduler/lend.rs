//! References to the runtime that a worker lends to timers without touching the count.
//!
//! Every timer holds the runtime's handle (an `Arc<Shared>`): it must reach its wheel shard to
//! arm, to cancel when dropped, and to re-arm after a reset, wherever it has moved meanwhile.
//! Cloning and dropping that `Arc` are two atomic read-modify-writes per timer, a tenth of the
//! cost of arming and cancelling one.
//!
//! So a worker keeps a stock of strong references of its own runtime beyond the one it holds
//! (`refs`, a plain counter only its thread touches). A timer created on the worker takes one
//! from the stock (`lend_handle`): an `Arc` built from the raw pointer, whose count the stock
//! already paid. A timer dropped on a worker of the same runtime gives its reference back
//! (`take_back_handle`): the `Arc` is forgotten and the counter goes up. Either way the
//! reference count is exact at all times: the stock's references are real counts, held by
//! the worker. When the stock is empty a timer clones as before; when it is full
//! (`MAX_REFS`) a returned handle is dropped as before, so the stock is bounded whatever the
//! pattern (timers created on one worker and dropped on another). A worker gives its stock
//! back when it is dropped, after its thread stopped being that worker (so nothing stocks
//! more afterwards) and before its own reference goes: until then that reference keeps the
//! runtime alive, so no stocked count can be the last.
//!
//! Under loom the stock stays empty (plain clones), as the models do not need it.

use super::Worker;
use crate::loom::Arc;
use crate::scheduler::Shared;

/// The most references a worker stocks.
#[cfg_attr(gort_loom, allow(dead_code))]
const MAX_REFS: usize = 1024;

impl Worker {
    /// A reference to this worker's runtime, from the stock if it has one.
    pub(crate) fn lend_handle(&self) -> Arc<Shared> {
        let refs = self.handle_refs.get();
        if cfg!(gort_loom) || refs == 0 {
            return self.shared.clone();
        }
        self.handle_refs.set(refs - 1);
        // SAFETY: the stock holds `refs` strong counts of `self.shared`'s allocation, taken
        // with `Arc::into_raw` (`take_back_handle`), which returns the pointer `Arc::as_ptr`
        // gives for that allocation; one of the counts moves into the new `Arc`.
        unsafe { Arc::from_raw(Arc::as_ptr(&self.shared)) }
    }

    /// Stocks `handle` if it is a reference to this worker's runtime and there is room;
    /// gives it back otherwise (the caller drops it).
    pub(crate) fn take_back_handle(&self, handle: Arc<Shared>) -> Option<Arc<Shared>> {
        let refs = self.handle_refs.get();
        if cfg!(gort_loom) || refs >= MAX_REFS || !Arc::ptr_eq(&handle, &self.shared) {
            return Some(handle);
        }
        self.handle_refs.set(refs + 1);
        // The count stays taken: the stock holds it now.
        let _ = Arc::into_raw(handle);
        None
    }
}

impl Drop for Worker {
    /// Gives the stocked references back.
    fn drop(&mut self) {
        for _ in 0..self.handle_refs.replace(0) {
            // SAFETY: each stocked count was taken with `Arc::into_raw` on this allocation,
            // and `self.shared` still holds one more, so none of these is the last.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.shared)) };
        }
    }
}
