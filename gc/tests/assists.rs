//! Mark assists: threads that allocate far faster than the marker marks (a tiny GOGC over a
//! big live tree) trace grey objects themselves, take packets the marker shares, and give
//! them back, while the collector ends cycle after cycle; nothing reachable is lost.
//! (Before the pool counted the packets that assists hold, mark termination could miss one,
//! and the next sweep freed live nodes: this test then read freed memory.)

use gort_gc::{Gc, Trace, set_gc_percent, stats};

#[derive(Trace)]
#[gc(crate = "gort_gc")]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    #[gc(skip)]
    depth: u32,
}

fn tree(depth: u32) -> Gc<Node> {
    let (left, right) = if depth == 0 {
        (None, None)
    } else {
        (Some(tree(depth - 1)), Some(tree(depth - 1)))
    };
    Gc::new(Node { left, right, depth })
}

/// Counts the nodes, checking that each is whole.
fn check(node: &Node, depth: u32) -> u64 {
    assert_eq!(node.depth, depth, "a node was overwritten");
    match (&node.left, &node.right) {
        (Some(left), Some(right)) => 1 + check(left, depth - 1) + check(right, depth - 1),
        (None, None) => {
            assert_eq!(depth, 0);
            1
        }
        _ => panic!("a node lost a child"),
    }
}

#[test]
fn threads_that_outrun_the_marker_assist_it_and_lose_nothing() {
    set_gc_percent(5);
    let kept = tree(16);
    let cycles = stats().cycles;
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                for round in 0..300 {
                    let garbage = tree(10);
                    assert_eq!(check(&garbage, 10), (1 << 11) - 1);
                    if round % 50 == 0 {
                        assert_eq!(check(&kept, 16), (1 << 17) - 1);
                    }
                }
            });
        }
    });
    assert_eq!(check(&kept, 16), (1 << 17) - 1);
    assert!(
        stats().cycles >= cycles + 5,
        "the heap grew past the goal {} times over",
        stats().cycles - cycles
    );
}
