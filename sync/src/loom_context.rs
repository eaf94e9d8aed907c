//! Loom models of `context` (`context.rs`): a child registering below a parent that is being
//! cancelled (Go's `propagateCancel` racing `cancel`), and `done()` racing the cancel.
//!
//! The invariants, on every interleaving:
//!
//! - a child made from a parent that is cancelled ends cancelled, whether it registered
//!   before the parent drained its children or saw the parent's error first;
//! - a `done()` waiting on either returns (a lost wake-up is a loom deadlock,
//!   `crate::loom_harness`);
//! - nothing is left registered below the cancelled parent.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_context`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::context::{self, ContextError};
use crate::loom_harness::Polled;
use loom::thread;

// Model 1. One thread derives a child and waits on its `done()` while another cancels the
// parent.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s (the two models together), 2026-12-07
#[test]
fn child_registering_while_the_parent_is_cancelled() {
    loom::model(|| {
        let (parent, cancel) = context::with_cancel(&context::background());
        let p = parent.clone();
        let child = thread::spawn(move || {
            let (child, _keep) = context::with_cancel(&p);
            let grandchild = context::with_value(&child, 1u8);
            Polled::new(grandchild.done()).wait();
            assert_eq!(grandchild.err(), Some(ContextError::Canceled));
        });
        let mut done = Polled::new(parent.done());
        cancel.cancel();
        done.wait();
        child.join().unwrap();
        assert_eq!(parent.err(), Some(ContextError::Canceled));
    });
}

// Model 2. A child cancels itself while its parent is cancelled: both end cancelled, and
// whichever unregisters or drains, the parent holds nothing afterwards.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s (the two models together), 2026-12-07
#[test]
fn child_and_parent_cancelled_at_once() {
    loom::model(|| {
        let (parent, cancel_parent) = context::with_cancel(&context::background());
        let (child, cancel_child) = context::with_cancel(&parent);
        let t = thread::spawn(move || cancel_child.cancel());
        cancel_parent.cancel();
        t.join().unwrap();
        assert!(child.err().is_some());
        assert_eq!(parent.err(), Some(ContextError::Canceled));
        drop(child);
        assert_eq!(context::children_for_models(&parent), 0);
    });
}
