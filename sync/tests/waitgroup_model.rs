//! The wait group against a sequential model, a counter: any single-threaded sequence of
//! `add`, `done` (which panics below zero, leaving the counter as it was), and waits started
//! and polled by hand gives the same panics, and a wait is ready exactly when the counter is
//! zero at its first poll or was zero since it queued.

mod common;

use common::Hand;

use gort_sync::WaitGroup;
use proptest::prelude::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

#[derive(Debug, Clone)]
enum Op {
    Add(usize),
    Done,
    /// Start a wait and poll it once.
    Wait,
    /// Poll the `i`-th pending wait (modulo their number).
    Poll(usize),
    /// Drop the `i`-th pending wait.
    Drop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize).prop_map(Op::Add),
        4 => Just(Op::Done),
        2 => Just(Op::Wait),
        3 => any::<usize>().prop_map(Op::Poll),
        1 => any::<usize>().prop_map(Op::Drop),
    ]
}

/// A pending wait, and whether the counter has been zero since it queued.
struct Pending<'a> {
    wait: Hand<gort_sync::Wait<'a>>,
    released: bool,
}

proptest! {
    #[test]
    fn matches_a_counter(ops in proptest::collection::vec(op(), 0..150)) {
        let wg = WaitGroup::new();
        let mut count = 0usize;
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for op in ops {
            match op {
                Op::Add(n) => {
                    wg.add(n);
                    count += n;
                }
                Op::Done => {
                    let result = catch_unwind(AssertUnwindSafe(|| wg.done()));
                    prop_assert_eq!(result.is_err(), count == 0, "panics exactly below zero");
                    if count > 0 {
                        count -= 1;
                        if count == 0 {
                            for p in &mut pending {
                                p.released = true;
                            }
                        }
                    }
                }
                Op::Wait => {
                    let mut wait = Hand::new(wg.wait());
                    let ready = wait.poll().is_ready();
                    prop_assert_eq!(ready, count == 0);
                    if !ready {
                        pending.push(Pending { wait, released: false });
                    }
                }
                Op::Poll(i) if !pending.is_empty() => {
                    let i = i % pending.len();
                    let p = &mut pending[i];
                    prop_assert_eq!(p.wait.woken() > 0, p.released, "woken iff released");
                    let ready = p.wait.poll().is_ready();
                    prop_assert_eq!(ready, p.released);
                    if ready {
                        pending.remove(i);
                    }
                }
                Op::Drop(i) if !pending.is_empty() => {
                    pending.remove(i % pending.len());
                }
                _ => {}
            }
        }
    }
}
