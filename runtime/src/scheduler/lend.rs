//! The stock of references to its runtime that a worker lends to timers.
//!
//! Every timer holds a reference to its runtime, a `Lent<Shared>` counted in the runtime's
//! `LentCount` rather than in its `Arc` (see `lent.rs`). A worker takes those references in
//! batches of `BATCH` with one atomic read-modify-write and keeps them in a stock (`refs`, a
//! plain counter only its thread touches):
//!
//! - a timer created on the worker takes one from the stock (`lend_handle`), refilled with a
//!   batch when empty;
//! - a timer dropped on a worker of the same runtime gives its reference back to that
//!   worker's stock (`take_back_handle`), which gives a batch back to the runtime once it
//!   holds more than `MAX_REFS`;
//! - a timer dropped anywhere else gives its one reference back to the runtime.
//!
//! So a worker that creates and drops a million timers, one at a time or all alive at once,
//! touches the shared count about a thousand times, and its stock stays bounded whatever the
//! pattern (timers created on one worker and dropped on another). Every reference is counted
//! at all times: the stock's are real lent references, held by the worker. A worker gives its
//! stock back when it is dropped, after its thread stopped being that worker (so nothing
//! stocks more afterwards) and while its own `Arc` still keeps the runtime alive.

use super::Worker;
use crate::lent::{self, Lent};
use crate::loom::Arc;
use crate::scheduler::Shared;

/// References a worker takes from the runtime at a time, and gives back at a time.
const BATCH: usize = 1024;
/// The most references a worker stocks.
const MAX_REFS: usize = 2 * BATCH;

impl Worker {
    /// A reference to this worker's runtime, from the stock.
    pub(crate) fn lend_handle(&self) -> Lent<Shared> {
        let mut refs = self.handle_refs.get();
        if refs == 0 {
            lent::take(&self.shared, BATCH);
            refs = BATCH;
        }
        self.handle_refs.set(refs - 1);
        // SAFETY: the stock holds `refs` lent references to `self.shared`'s value, taken
        // with `lent::take`; one of them moves into the handle.
        unsafe { Lent::from_stock(&self.shared) }
    }

    /// Stocks `handle` if it is a reference to this worker's runtime; gives it back to the
    /// caller otherwise (who drops it).
    pub(crate) fn take_back_handle(&self, handle: Lent<Shared>) -> Option<Lent<Shared>> {
        if !handle.is_of(&self.shared) {
            return Some(handle);
        }
        handle.into_stock();
        let mut refs = self.handle_refs.get() + 1;
        if refs > MAX_REFS {
            // SAFETY: the stock holds `refs` lent references to this value; `BATCH` of them
            // are given up here.
            unsafe { lent::give_back(Arc::as_ptr(&self.shared), BATCH) };
            refs -= BATCH;
        }
        self.handle_refs.set(refs);
        None
    }
}

impl Drop for Worker {
    /// Gives the stocked references back.
    fn drop(&mut self) {
        let refs = self.handle_refs.replace(0);
        if refs > 0 {
            // SAFETY: the stock holds `refs` lent references to this value, given up here.
            unsafe { lent::give_back(Arc::as_ptr(&self.shared), refs) };
        }
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use crate::context;
    use crate::time::{Duration, Sleep, sleep};
    use proptest::prelude::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Waker};

    /// What a goroutine does with timers, on a worker of a one-worker runtime.
    #[derive(Debug, Clone)]
    enum Op {
        /// Creates and arms this many timers.
        Create(usize),
        /// Drops this many of them (the oldest first, or the newest first).
        Drop { n: usize, oldest: bool },
        /// Sets this many aside, to be dropped on another thread after the runtime is gone.
        Export(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..3_000).prop_map(Op::Create),
            (0usize..3_000, any::<bool>()).prop_map(|(n, oldest)| Op::Drop { n, oldest }),
            (0usize..500).prop_map(Op::Export),
        ]
    }

    fn armed() -> Pin<Box<Sleep>> {
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(
            s.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any sequence of timers created, dropped on their worker and dropped elsewhere
        /// keeps the worker's stock within its bound and the runtime alive exactly while a
        /// timer holds it (against the model: alive iff some timer is).
        #[test]
        fn any_pattern_of_timers_keeps_the_count(ops in proptest::collection::vec(op(), 1..24)) {
            let rt = crate::Builder::new().workers(1).build().unwrap();
            let (weak, live, exported) = rt.block_on(async move {
                let weak = context::with_handle(Arc::downgrade).unwrap();
                let (mut live, mut exported) = (Vec::new(), Vec::new());
                for op in ops {
                    match op {
                        Op::Create(n) => live.extend((0..n).map(|_| armed())),
                        Op::Drop { n, oldest } => {
                            let n = n.min(live.len());
                            if oldest {
                                live.drain(..n);
                            } else {
                                live.truncate(live.len() - n);
                            }
                        }
                        Op::Export(n) => {
                            let n = n.min(live.len());
                            exported.extend(live.drain(..n));
                        }
                    }
                    let refs = context::with_worker(|w| w.unwrap().handle_refs.get());
                    assert!(refs <= super::MAX_REFS, "the stock holds {refs}");
                }
                (weak, live, exported)
            });
            drop(rt);
            let held = !live.is_empty() || !exported.is_empty();
            prop_assert_eq!(weak.upgrade().is_some(), held);
            std::thread::spawn(move || drop(exported)).join().unwrap();
            drop(live);
            prop_assert!(weak.upgrade().is_none(), "the runtime outlived its last timer");
        }
    }

    /// Timers take more references than one batch, some go back to a worker's stock, and the
    /// rest outlive the runtime on another thread: the runtime stays alive while one is held
    /// and is freed when the last goes.
    #[test]
    fn runtime_freed_when_the_last_lent_reference_goes() {
        let rt = crate::Builder::new().workers(2).build().unwrap();
        let (weak, kept) = rt.block_on(async {
            let weak = context::with_handle(Arc::downgrade).unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            let mut sleeps: Vec<_> = (0..3 * super::BATCH)
                .map(|_| Box::pin(sleep(Duration::from_secs(3600))))
                .collect();
            for s in &mut sleeps {
                assert!(s.as_mut().poll(&mut cx).is_pending());
            }
            // Back to this worker's stock, past its bound.
            let kept = sleeps.split_off(2 * super::BATCH + 1);
            drop(sleeps);
            (weak, kept)
        });
        drop(rt);
        assert!(weak.upgrade().is_some(), "live timers hold the runtime");
        let kept: Vec<Pin<Box<crate::time::Sleep>>> = kept;
        std::thread::spawn(move || drop(kept)).join().unwrap();
        assert!(
            weak.upgrade().is_none(),
            "the runtime outlived its last timer"
        );
    }
}
