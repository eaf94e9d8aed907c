//! Destructors of collected objects: they run, cycles included, and one that reaches another
//! dead object through a handle panics instead of reading a dropped value.

use gort_gc::{Gc, GcCell, Trace, Tracer, collect};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;

/// A value whose destructor reads through its handle, which a derived type may not do (the
/// derive rejects `Drop` impls), but a hand-written `Trace` impl may try.
struct Peeker {
    name: &'static str,
    other: GcCell<Option<Gc<Peeker>>>,
    /// What each destructor saw: the other's name, or a panic.
    log: Arc<Mutex<Vec<String>>>,
}

// SAFETY: traces its one handle.
unsafe impl Trace for Peeker {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.other.trace(tracer);
    }
}

impl Drop for Peeker {
    fn drop(&mut self) {
        let other = self.other.get_mut().as_ref();
        let seen = catch_unwind(AssertUnwindSafe(|| other.map(|o| o.name)));
        let entry = match seen {
            Ok(Some(name)) => format!("{} saw {name}", self.name),
            Ok(None) => format!("{} saw nothing", self.name),
            Err(_) => format!("{} panicked", self.name),
        };
        self.log.lock().unwrap().push(entry);
    }
}

fn peeker(name: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Gc<Peeker> {
    Gc::new(Peeker {
        name,
        other: GcCell::new(None),
        log: log.clone(),
    })
}

#[test]
fn a_destructor_that_reaches_a_dead_object_panics_and_one_that_reaches_a_live_one_does_not() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b, live) = (peeker("a", &log), peeker("b", &log), peeker("live", &log));
    *a.other.borrow_mut() = Some(b.clone());
    *b.other.borrow_mut() = Some(a.clone()); // a cycle: both die in one collection
    let c = peeker("c", &log);
    *c.other.borrow_mut() = Some(live.clone()); // dies alone, pointing at a live object
    drop((a, b, c));
    collect();
    let mut seen = log.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["a panicked", "b panicked", "c saw live"]);
    assert_eq!(live.name, "live");
}

#[test]
fn a_panicking_destructor_does_not_stop_the_others_or_the_collector() {
    struct Bomb(Arc<Mutex<usize>>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
            panic!("boom");
        }
    }
    // SAFETY: holds no `Gc`.
    unsafe impl Trace for Bomb {
        const NEEDS_TRACE: bool = false;
        fn trace(&self, _: &mut Tracer<'_>) {}
    }
    let count = Arc::new(Mutex::new(0));
    for _ in 0..10 {
        drop(Gc::new(Bomb(count.clone())));
    }
    collect();
    assert_eq!(*count.lock().unwrap(), 10);
    collect();
}

#[test]
fn derived_types_run_their_fields_destructors_and_plain_nodes_have_none() {
    use gort_gc::Trace;

    /// A drop counter in a field, beside handles.
    struct Counted(Arc<Mutex<usize>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    // SAFETY: holds no `Gc`.
    unsafe impl Trace for Counted {
        const NEEDS_TRACE: bool = false;
        fn trace(&self, _: &mut Tracer<'_>) {}
    }

    #[derive(Trace)]
    #[gc(crate = "gort_gc")]
    struct WithCounter {
        _count: Counted,
        _next: Option<Gc<WithCounter>>,
    }

    #[derive(Trace)]
    #[gc(crate = "gort_gc")]
    struct Plain {
        _left: Option<Gc<Plain>>,
        _right: GcCell<Option<Gc<Plain>>>,
        #[gc(skip)]
        _weight: f64,
    }

    const { assert!(WithCounter::DROPS_IN_HEAP) };
    const { assert!(!Plain::DROPS_IN_HEAP) };
    const { assert!(<Vec<u8> as Trace>::DROPS_IN_HEAP && !<Option<Gc<u8>> as Trace>::DROPS_IN_HEAP) };

    let count = Arc::new(Mutex::new(0));
    let mut chain = None;
    for _ in 0..100 {
        chain = Some(Gc::new(WithCounter {
            _count: Counted(count.clone()),
            _next: chain,
        }));
    }
    drop(chain);
    collect();
    assert_eq!(*count.lock().unwrap(), 100);
}
