//! Spans a thread cache keeps for reuse go back to the page heap once they sit unused: a
//! thread that frees large objects and then allocates only small ones stops holding the large
//! spans (`largecache.rs`, "The rules"). One test in this binary, with GortAlloc as its global
//! allocator, so the heap's statistics move only with it.

use gort_alloc::{GortAlloc, stats};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: GortAlloc = GortAlloc;

#[test]
fn kept_large_spans_go_back_once_unused_while_the_thread_allocates_small_objects() {
    // 24 large objects of 64 to 248 KiB, 3.7 MiB in all: the thread cache keeps every span.
    let large: Vec<Vec<u8>> = (0..24).map(|i| vec![1u8; (64 + i * 8) << 10]).collect();
    let large_bytes: usize = large.iter().map(Vec::len).sum();
    drop(large);
    let before = stats().heap_in_use;
    // Small allocations only: their counter flushes are where the cache looks (at most once
    // a 50 ms epoch); two epochs after the first look, the large spans go back.
    let start = Instant::now();
    let mut small = Vec::with_capacity(2_000);
    loop {
        small.extend((0..2_000u64).map(|i| Box::new([i; 4])));
        small.clear();
        let given_back = before.saturating_sub(stats().heap_in_use);
        if given_back >= large_bytes / 2 {
            break;
        }
        // A guard against hanging, not a measurement: the spans go back after 100 to 200 ms.
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the kept spans never went back: {given_back} of {large_bytes} bytes"
        );
    }
}
