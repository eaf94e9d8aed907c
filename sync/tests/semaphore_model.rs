//! The semaphore against a sequential model of x/sync's `Weighted`: any single-threaded
//! sequence of `try_acquire`, `acquire` (polled by hand, so it may wait), polls of waiting
//! acquires, cancellations and releases gives the same results, the same grants in the same
//! order, and the same free count as a counter and a FIFO queue of wants.

mod common;

use common::Hand;

use gort_sync::{Acquire, Permit, Semaphore};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::task::Poll;

const SIZE: u64 = 6;

#[derive(Debug, Clone)]
enum Op {
    TryAcquire(u64),
    /// Start an acquire and poll it once.
    Acquire(u64),
    /// Poll the `i`-th waiting acquire (modulo their number).
    Poll(usize),
    /// Drop the `i`-th waiting acquire.
    Cancel(usize),
    /// Drop the `i`-th held permit.
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..=SIZE).prop_map(Op::TryAcquire),
        4 => (0..=SIZE + 1).prop_map(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Poll),
        2 => any::<usize>().prop_map(Op::Cancel),
        4 => any::<usize>().prop_map(Op::Release),
    ]
}

/// A waiting acquire, real and modelled.
struct Waiting<'a> {
    id: u32,
    n: u64,
    acquire: Hand<Acquire<'a>>,
}

/// The model: the free count, the FIFO queue of (id, n), and the ids granted but not yet
/// polled.
#[derive(Default)]
struct Model {
    free: u64,
    queue: VecDeque<(u32, u64)>,
    granted: Vec<u32>,
}

impl Model {
    /// Grants from the head while it fits.
    fn grant(&mut self) {
        while let Some(&(id, n)) = self.queue.front() {
            if n > self.free {
                break;
            }
            self.free -= n;
            self.queue.pop_front();
            self.granted.push(id);
        }
    }
}

proptest! {
    #[test]
    fn matches_the_model(ops in proptest::collection::vec(op(), 0..120)) {
        let sem = Semaphore::new(SIZE);
        let mut model = Model { free: SIZE, ..Model::default() };
        let mut held: Vec<Permit<'_>> = Vec::new();
        let mut waiting: Vec<Waiting<'_>> = Vec::new();
        let mut next_id = 0;
        for op in ops {
            match op {
                Op::TryAcquire(n) => {
                    let expected = model.queue.is_empty() && n <= model.free;
                    let got = sem.try_acquire(n);
                    prop_assert_eq!(got.is_some(), expected);
                    if let Some(p) = got {
                        model.free -= n;
                        held.push(p);
                    }
                }
                Op::Acquire(n) => {
                    let mut w = Waiting { id: next_id, n, acquire: Hand::new(sem.acquire(n)) };
                    next_id += 1;
                    let poll = w.acquire.poll();
                    let ready_now = n <= SIZE && model.queue.is_empty() && n <= model.free;
                    prop_assert_eq!(poll.is_ready(), ready_now);
                    match poll {
                        Poll::Ready(p) => {
                            model.free -= n;
                            held.push(p);
                        }
                        Poll::Pending => {
                            if n <= SIZE {
                                model.queue.push_back((w.id, n));
                            }
                            waiting.push(w);
                        }
                    }
                }
                Op::Poll(i) if !waiting.is_empty() => {
                    let i = i % waiting.len();
                    let w = &mut waiting[i];
                    let granted = model.granted.contains(&w.id);
                    prop_assert_eq!(w.acquire.woken() > 0, granted, "woken iff granted");
                    let poll = w.acquire.poll();
                    prop_assert_eq!(poll.is_ready(), granted);
                    if let Poll::Ready(p) = poll {
                        prop_assert_eq!(p.permits(), w.n);
                        model.granted.retain(|&id| id != w.id);
                        held.push(p);
                        waiting.remove(i);
                    }
                }
                Op::Cancel(i) if !waiting.is_empty() => {
                    let w = waiting.remove(i % waiting.len());
                    if let Some(k) = model.granted.iter().position(|&id| id == w.id) {
                        model.granted.remove(k);
                        model.free += w.n;
                    } else {
                        model.queue.retain(|&(id, _)| id != w.id);
                    }
                    model.grant();
                    drop(w);
                }
                Op::Release(i) if !held.is_empty() => {
                    let p = held.remove(i % held.len());
                    model.free += p.permits();
                    model.grant();
                    drop(p);
                }
                _ => {}
            }
            prop_assert_eq!(sem.available(), model.free);
        }
        drop(waiting);
        drop(held);
        prop_assert_eq!(sem.available(), SIZE);
    }
}
