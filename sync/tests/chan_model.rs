//! The channel against a `VecDeque` model: any single-threaded sequence of `try_send`,
//! `try_recv`, `close` and `len` behaves as a bounded FIFO that, once closed, refuses sends and
//! drains what it holds.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_sync::chan::{self, TryRecvError, TrySendError};
use proptest::prelude::*;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Op {
    Send(u16),
    Recv,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![5 => any::<u16>().prop_map(Op::Send), 5 => Just(Op::Recv), 1 => Just(Op::Close)]
}

proptest! {
    #[test]
    fn matches_a_vecdeque(cap in prop_oneof![Just(0usize), 1usize..8, Just(usize::MAX)], ops in proptest::collection::vec(op(), 0..200)) {
        let (tx, rx) = if cap == usize::MAX { chan::unbounded() } else { chan::bounded(cap) };
        let mut model: VecDeque<u16> = VecDeque::new();
        let mut closed = false;
        for op in ops {
            match op {
                Op::Send(v) => {
                    let expected = if closed {
                        Err(TrySendError::Closed(v))
                    } else if model.len() < cap {
                        model.push_back(v);
                        Ok(())
                    } else {
                        Err(TrySendError::Full(v))
                    };
                    prop_assert_eq!(tx.try_send(v), expected);
                }
                Op::Recv => {
                    let expected = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if closed => Err(TryRecvError::Closed),
                        None => Err(TryRecvError::Empty),
                    };
                    prop_assert_eq!(rx.try_recv(), expected);
                }
                Op::Close => {
                    prop_assert_eq!(tx.close(), !closed);
                    closed = true;
                }
            }
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(tx.is_closed(), closed);
        }
    }
}
