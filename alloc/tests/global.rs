//! GortAlloc as the process's `#[global_allocator]`: everything in this binary, the test
//! harness included, allocates through it. Heavy multithreaded churn with cross-thread frees,
//! std collections, and threads that exit while others still free their objects.

use gort_alloc::GortAlloc;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;

#[global_allocator]
static ALLOC: GortAlloc = GortAlloc;

/// A cheap deterministic generator, so each thread's sizes differ but runs repeat.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn filled(size: usize, seed: u8) -> Vec<u8> {
    (0..size).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn check(block: &[u8], seed: u8) {
    for (i, byte) in block.iter().enumerate() {
        assert_eq!(
            *byte,
            seed.wrapping_add(i as u8),
            "corrupted at {i} of {}",
            block.len()
        );
    }
}

#[test]
fn std_collections_work() {
    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..20_000u32 {
        map.entry(format!("key-{}", i % 997)).or_default().push(i);
    }
    assert_eq!(map.len(), 997);
    assert_eq!(map.values().map(Vec::len).sum::<usize>(), 20_000);
    let tree: BTreeMap<u64, String> = (0..10_000)
        .map(|i| (i * 7 % 10_007, i.to_string()))
        .collect();
    assert_eq!(tree.len(), 10_000);
    let mut queue: VecDeque<Box<[u8]>> = VecDeque::new();
    for i in 0..5_000 {
        queue.push_back(vec![i as u8; i % 300 + 1].into_boxed_slice());
        if i % 3 == 0 {
            let block = queue.pop_front().unwrap();
            assert!(block.iter().all(|b| *b == block[0]));
        }
    }
    let mut grown = String::new();
    for i in 0..100_000 {
        grown.push(char::from(b'a' + (i % 26) as u8));
    }
    assert_eq!(grown.len(), 100_000);
}

#[test]
fn multithreaded_churn_with_cross_thread_frees() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 8_000;
    let barrier = Arc::new(Barrier::new(THREADS));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<(Vec<u8>, u8)>())
        .unzip();
    let senders = Arc::new(senders);
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            let senders = Arc::clone(&senders);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (me as u64 + 1);
                let mut kept: Vec<(Vec<u8>, u8)> = Vec::new();
                barrier.wait();
                for round in 0..ROUNDS {
                    let r = xorshift(&mut rng);
                    let size = match r % 100 {
                        0 => 40_000 + (r as usize >> 8) % 100_000, // large
                        1..=20 => 1_000 + (r as usize >> 8) % 31_000,
                        _ => 1 + (r as usize >> 8) % 512,
                    };
                    let seed = r as u8;
                    let block = filled(size, seed);
                    match r % 3 {
                        0 => senders[(me + 1 + round) % THREADS]
                            .send((block, seed))
                            .unwrap(),
                        1 => kept.push((block, seed)),
                        _ => check(&block, seed),
                    }
                    if kept.len() > 64 {
                        let (block, seed) = kept.swap_remove(r as usize % kept.len());
                        check(&block, seed);
                    }
                    while let Ok((block, seed)) = inbox.try_recv() {
                        check(&block, seed);
                    }
                }
                for (block, seed) in kept {
                    check(&block, seed);
                }
                inbox
            })
        })
        .collect();
    let inboxes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(senders);
    for inbox in inboxes {
        while let Ok((block, seed)) = inbox.try_recv() {
            check(&block, seed);
        }
    }
}

#[test]
fn blocks_outlive_the_thread_that_allocated_them() {
    for _ in 0..8 {
        let blocks = thread::spawn(|| {
            (0..2_000)
                .map(|i| filled(i % 700 + 1, i as u8))
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        for (i, block) in blocks.iter().enumerate() {
            check(block, i as u8);
        }
    }
}

#[test]
fn realloc_keeps_contents_while_growing_and_shrinking() {
    let mut v: Vec<u32> = Vec::new();
    for i in 0..300_000 {
        v.push(i);
    }
    assert!(v.iter().enumerate().all(|(i, x)| *x == i as u32));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
}
