//! Loom models of the lent reference count (`lent.rs`): a batch taken while the last
//! reference of the one before goes back, and a runtime whose last strong reference goes
//! while a timer on another thread still holds a lent one.
//!
//! Invariants checked: the value is dropped exactly once, after every access made through any
//! reference (loom sees the drop's write race with a read that does not happen before it);
//! loom's `Arc` checks that the strong count is never given back twice and never leaks.
//!
//! Bounds and times are recorded above each model.

use crate::lent::{self, Lends, Lent, LentCount};
use crate::loom::UnsafeCell;
use crate::loom::{Arc, thread};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Value {
    lent: LentCount,
    /// Read through every reference before it goes, written by the drop.
    data: UnsafeCell<u32>,
    drops: std::sync::Arc<AtomicUsize>,
}

impl Lends for Value {
    fn lent_count(&self) -> &LentCount {
        &self.lent
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        self.data.with_mut(|d| {
            // SAFETY: `drop` has the value to itself.
            unsafe { *d = 0 }
        });
        self.drops.fetch_add(1, SeqCst);
    }
}

impl Value {
    fn read(&self) -> u32 {
        // SAFETY: only the drop writes, and loom checks that it comes after every read.
        self.data.with(|d| unsafe { *d })
    }
}

fn value() -> (Arc<Value>, std::sync::Arc<AtomicUsize>) {
    let drops = std::sync::Arc::new(AtomicUsize::new(0));
    let value = Arc::new(Value {
        lent: LentCount::new(),
        data: UnsafeCell::new(7),
        drops: drops.clone(),
    });
    (value, drops)
}

/// A timer on another thread gives back the last lent reference (the count goes to 0) while a
/// worker takes a new batch (the count leaves 0), then the worker gives its stock back and
/// both strong references go: the strong count the lent references hold is taken and given
/// back in whatever order, and the value is dropped once, after every read.
// LOOM_MAX_PREEMPTIONS=3: under 1 s (2026-12-06).
#[test]
fn batch_taken_while_last_reference_goes_back() {
    loom::model(|| {
        let (owner, drops) = value();
        let timer = Lent::new(&owner);
        let elsewhere = thread::spawn(move || {
            assert_eq!(timer.read(), 7);
            drop(timer);
        });
        let worker = {
            let owner = owner.clone();
            thread::spawn(move || {
                lent::take(&owner, 2);
                // SAFETY: one of the two references just taken.
                let timer = unsafe { Lent::from_stock(&owner) };
                assert_eq!(timer.read(), 7);
                // Back to the stock, then the stock back to the value.
                timer.into_stock();
                // SAFETY: the stock holds the two references taken above.
                unsafe { lent::give_back(Arc::as_ptr(&owner), 2) };
            })
        };
        drop(owner);
        elsewhere.join().unwrap();
        worker.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The last strong reference goes while timers on two threads still hold lent ones: the
/// value is dropped by whichever gives back last, after both read it.
// LOOM_MAX_PREEMPTIONS=3: under 1 s (2026-12-06).
#[test]
fn last_reference_is_a_lent_one() {
    loom::model(|| {
        let (owner, drops) = value();
        let timers = [Lent::new(&owner), Lent::new(&owner)];
        drop(owner);
        let threads = timers.map(|timer| {
            thread::spawn(move || {
                assert_eq!(timer.read(), 7);
            })
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}
