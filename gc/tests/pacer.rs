//! The pacer starts collections by itself, and keeps the heap near its goal while a program
//! allocates garbage. (A process of its own: no other test's `collect` counts here.)

use gort_gc::{Gc, Trace, stats};

#[derive(Trace)]
#[gc(crate = "gort_gc")]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
    _pad: [u64; 4],
}

fn tree(depth: u32) -> Gc<Node> {
    let child = || (depth > 0).then(|| tree(depth - 1));
    Gc::new(Node {
        left: child(),
        right: child(),
        _pad: [0; 4],
    })
}

fn count(node: &Node) -> usize {
    1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
}

#[test]
fn garbage_is_collected_without_collect_and_the_heap_stays_bounded() {
    let live = tree(14); // 32,767 nodes, about 2 MiB
    let mut mapped_max = 0;
    // 2,000 trees of 4,095 nodes of 64 bytes: about 500 MiB of garbage.
    for round in 0..2000 {
        let garbage = tree(11);
        assert_eq!(count(&garbage), 4095);
        if round % 100 == 0 {
            mapped_max = mapped_max.max(gort_alloc::stats().heap_in_use);
        }
    }
    let stats = stats();
    assert!(stats.cycles >= 10, "the pacer ran {} cycles", stats.cycles);
    assert!(stats.objects_freed > 1_000_000);
    assert_eq!(count(&live), 32_767);
    // The goal is at least 4 MiB; the bound leaves room for a slow collector thread.
    assert!(
        mapped_max < 256 << 20,
        "{} MiB of spans in use",
        mapped_max >> 20
    );
}
