//! The wheel against a model: any sequence of insert, cancel, reset and advance fires exactly
//! the entries that are due, none early, each once, in the tick they became due or later.

use super::wheel::{MAX_TICK, Node, Wheel};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ptr::NonNull;

#[derive(Debug, Clone)]
enum Op {
    /// Insert entry `id` (if not active) `delay` ticks after the wheel's `elapsed`.
    Insert {
        id: usize,
        delay: u64,
    },
    Cancel {
        id: usize,
    },
    /// Cancel and insert again with a new delay.
    Reset {
        id: usize,
        delay: u64,
    },
    /// Poll everything due up to `elapsed + dt`.
    Advance {
        dt: u64,
    },
}

fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..70,
        3 => 0u64..5_000,
        2 => 0u64..400_000,
        1 => 0u64..(1 << 40),
        1 => Just(MAX_TICK),
        1 => Just(u64::MAX / 2),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..24, delay()).prop_map(|(id, delay)| Op::Insert { id, delay }),
        2 => (0usize..24).prop_map(|id| Op::Cancel { id }),
        2 => (0usize..24, delay()).prop_map(|(id, delay)| Op::Reset { id, delay }),
        3 => delay().prop_map(|dt| Op::Advance { dt }),
    ]
}

struct Harness {
    wheel: Wheel,
    /// Never pushed to after creation, so the nodes never move.
    nodes: Vec<Node>,
    /// Model: active entries and their (clamped) due ticks.
    active: BTreeMap<usize, u64>,
}

impl Harness {
    fn ptr(&self, id: usize) -> NonNull<Node> {
        NonNull::from(&self.nodes[id])
    }

    fn id_of(&self, node: NonNull<Node>) -> usize {
        self.nodes
            .iter()
            .position(|n| std::ptr::eq(n, node.as_ptr()))
            .unwrap()
    }

    fn insert(&mut self, id: usize, delay: u64) {
        let when = self.wheel.elapsed().saturating_add(delay);
        // SAFETY: the node lives in `self.nodes` for the whole test and is unlinked.
        unsafe { self.wheel.insert(self.ptr(id), when) };
        self.active.insert(id, when.min(MAX_TICK));
    }

    fn cancel(&mut self, id: usize) {
        // SAFETY: the node is alive; linked only in this wheel.
        let was = unsafe { self.wheel.remove(self.ptr(id)) };
        assert_eq!(was, self.active.remove(&id).is_some());
    }

    fn advance(&mut self, dt: u64) {
        let now = self.wheel.elapsed().saturating_add(dt).min(MAX_TICK);
        let mut fired = Vec::new();
        // SAFETY: every linked node lives in `self.nodes`.
        while let Some(node) = unsafe { self.wheel.poll(now) } {
            fired.push(self.id_of(node));
        }
        let mut due: Vec<usize> = self
            .active
            .iter()
            .filter(|(_, w)| **w <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut got = fired.clone();
        got.sort_unstable();
        due.sort_unstable();
        assert_eq!(got, due, "now {now}: fired {fired:?}, model due {due:?}");
        for id in fired {
            self.active.remove(&id);
        }
        assert_eq!(self.wheel.elapsed(), now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut h = Harness { wheel: Wheel::new(), nodes: (0..24).map(|_| Node::new()).collect(), active: BTreeMap::new() };
        for op in ops {
            match op {
                Op::Insert { id, delay } => {
                    if !h.active.contains_key(&id) {
                        h.insert(id, delay);
                    }
                }
                Op::Cancel { id } => h.cancel(id),
                Op::Reset { id, delay } => {
                    h.cancel(id);
                    h.insert(id, delay);
                }
                Op::Advance { dt } => h.advance(dt),
            }
            prop_assert_eq!(h.wheel.len(), h.active.len());
            // The next deadline is never later than the earliest due entry.
            if let (Some(next), Some(min)) = (h.wheel.next_deadline(), h.active.values().min()) {
                prop_assert!(next <= *min, "next {} > earliest {}", next, min);
            }
        }
        // Drain: everything fires by the end of time.
        h.advance(MAX_TICK);
        prop_assert!(h.active.is_empty());
    }
}

#[test]
fn far_and_near_entries_cascade_in_order() {
    let mut h = Harness {
        wheel: Wheel::new(),
        nodes: (0..4).map(|_| Node::new()).collect(),
        active: BTreeMap::new(),
    };
    h.insert(0, 1);
    h.insert(1, 65);
    h.insert(2, 4097);
    h.insert(3, 300_000);
    for step in [1, 63, 1, 4031, 1, 295_903] {
        h.advance(step);
    }
    assert!(h.active.is_empty());
}
