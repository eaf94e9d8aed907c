//! `WaitGroup` end to end: Go's semantics (wait for every `done`, reuse, the negative-counter
//! panic), many waiters, and cancelled waiters.

mod common;

use common::rt;
use gort_runtime::time::{Duration, timeout};
use gort_runtime::{go, yield_now};
use gort_sync::WaitGroup;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Go's `TestWaitGroup`: rounds of n goroutines that wait on one group while n others `done`
/// on it; the group is reused round after round.
#[test]
fn test_wait_group() {
    const N: usize = 16;
    rt(2).block_on(async {
        let wg1 = Arc::new(WaitGroup::new());
        let wg2 = Arc::new(WaitGroup::new());
        for _ in 0..8 {
            wg1.add(N);
            wg2.add(N);
            let exited = Arc::new(AtomicUsize::new(0));
            for _ in 0..N {
                let (wg1, wg2, exited) = (wg1.clone(), wg2.clone(), exited.clone());
                go(async move {
                    wg1.done();
                    wg2.wait().await;
                    exited.fetch_add(1, SeqCst);
                });
            }
            wg1.wait().await;
            for i in 0..N {
                assert_eq!(exited.load(SeqCst), 0, "a waiter left before done {i}");
                wg2.done();
                yield_now().await;
            }
            while exited.load(SeqCst) < N {
                yield_now().await;
            }
        }
    });
}

/// Go's `TestWaitGroupMisuse`: `done` below zero panics with Go's message.
#[test]
fn negative_counter_panics_with_gos_message() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    let panic = std::panic::catch_unwind(|| wg.done()).unwrap_err();
    assert_eq!(
        panic.downcast_ref::<&str>().copied(),
        Some("sync: negative WaitGroup counter")
    );
}

/// A fan-in of 10,000 goroutines on two workers.
#[test]
fn fan_in_of_ten_thousand() {
    const N: usize = 10_000;
    let done = Arc::new(AtomicUsize::new(0));
    rt(2).block_on(async {
        let wg = Arc::new(WaitGroup::new());
        wg.add(N);
        for _ in 0..N {
            let (wg, done) = (wg.clone(), done.clone());
            go(async move {
                done.fetch_add(1, Relaxed);
                wg.done();
            });
        }
        wg.wait().await;
    });
    assert_eq!(done.load(Relaxed), N);
}

/// Waiters that give up leave the queue; the others are released, and the group is reused.
/// (A waiter that gives up may also have been released first, if `done` came before its
/// timer: either way it must leave nothing behind.)
#[test]
fn cancelled_waiters_leave_and_the_rest_are_released() {
    rt(2).block_on(async {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..20 {
            wg.add(1);
            let released = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..8)
                .map(|i| {
                    let (wg, released) = (wg.clone(), released.clone());
                    go(async move {
                        if i % 2 == 0 {
                            let _ = timeout(Duration::from_micros(50), wg.wait()).await;
                        } else {
                            wg.wait().await;
                            released.fetch_add(1, SeqCst);
                        }
                    })
                })
                .collect();
            gort_runtime::time::sleep(Duration::from_millis(1)).await;
            wg.done();
            for w in waiters {
                w.await.unwrap();
            }
            assert_eq!(released.load(SeqCst), 4);
        }
    });
}

#[test]
fn debug_default_and_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<WaitGroup>();
    send_sync::<gort_sync::Wait<'static>>();
    let wg = WaitGroup::default();
    wg.add(3);
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 3, .. }");
}
