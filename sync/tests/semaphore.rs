//! `Semaphore` end to end: x/sync's tests (`TestWeighted`, `TestWeightedPanic` turned into
//! "never succeeds", `TestLargeAcquireDoesntStarve`, `TestAllocCancelDoesntStarve`), FIFO
//! order, and random cancellation.

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, sleep, timeout};
use gort_sync::{Semaphore, WaitGroup};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

const SIZE: u64 = 8;

/// Goroutines acquire random weights up to the size and hold them a while; with `give_up`,
/// each acquire gives up after a random wait (a cancellation, often while queued or just
/// granted). The permits in use never exceed the size, and all are back at the end.
fn random_weights(goroutines: u64, rounds: usize, give_up: bool) {
    rt(2).block_on(async {
        let sem = Arc::new(Semaphore::new(SIZE));
        let in_use = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..goroutines)
            .map(|i| {
                let (sem, in_use) = (sem.clone(), in_use.clone());
                go(async move {
                    let mut rng = fastrand::Rng::with_seed(i);
                    for _ in 0..rounds {
                        let n = rng.u64(1..=SIZE);
                        let permit = if give_up {
                            let wait = Duration::from_micros(rng.u64(0..2_000));
                            match timeout(wait, sem.acquire(n)).await {
                                Ok(permit) => permit,
                                Err(_) => continue,
                            }
                        } else {
                            sem.acquire(n).await
                        };
                        let now = in_use.fetch_add(n, SeqCst) + n;
                        assert!(now <= SIZE, "{now} permits in use of {SIZE}");
                        if give_up && rng.bool() {
                            sleep(Duration::from_micros(500)).await;
                        } else {
                            gort_runtime::yield_now().await;
                        }
                        in_use.fetch_sub(n, SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(sem.available(), SIZE);
    });
}

/// x/sync's `TestWeighted`.
#[test]
fn test_weighted() {
    random_weights(16, 500, false);
}

/// Random cancellations beside long holders: nothing is lost.
#[test]
fn random_cancellation_loses_no_permit() {
    random_weights(12, 200, true);
}

/// x/sync panics when more than the size is released; here permits cannot be over-released,
/// and more than the size can never be acquired: it waits, and blocks nobody behind it.
#[test]
fn more_than_the_size_never_succeeds_and_blocks_nobody() {
    rt(2).block_on(async {
        let sem = Semaphore::new(2);
        assert!(
            timeout(Duration::from_millis(5), sem.acquire(3))
                .await
                .is_err()
        );
        let doomed = sem.acquire(3);
        let next = timeout(Duration::from_secs(10), sem.acquire(2)).await;
        assert!(next.is_ok(), "a doomed acquire blocked a later one");
        drop(doomed);
    });
}

/// x/sync's `TestLargeAcquireDoesntStarve`: goroutines that keep releasing and re-acquiring
/// one permit each cannot starve an acquire of all of them (FIFO: once it queues, the small
/// ones queue behind it). The bound guards against hanging; it is not a measurement.
#[test]
fn test_large_acquire_doesnt_starve() {
    const N: u64 = 4;
    rt(2).block_on(async {
        let sem = Arc::new(Semaphore::new(N));
        let running = Arc::new(AtomicBool::new(true));
        let holding = Arc::new(WaitGroup::new());
        holding.add(N as usize);
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (sem, running, holding) = (sem.clone(), running.clone(), holding.clone());
                go(async move {
                    let mut permit = sem.acquire(1).await;
                    holding.done();
                    while running.load(SeqCst) {
                        sleep(Duration::from_millis(1)).await;
                        drop(permit);
                        permit = sem.acquire(1).await;
                    }
                    drop(permit);
                })
            })
            .collect();
        holding.wait().await;
        let all = timeout(Duration::from_secs(10), sem.acquire(N)).await;
        running.store(false, SeqCst);
        assert!(all.is_ok(), "the large acquire starved");
        drop(all);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(sem.available(), N);
    });
}

/// x/sync's `TestAllocCancelDoesntStarve`: an acquire of 10 that waits behind a held permit
/// blocks an acquire of 1 queued after it; cancelling the big one lets the small one through.
#[test]
fn test_alloc_cancel_doesnt_starve() {
    rt(2).block_on(async {
        let sem = Arc::new(Semaphore::new(10));
        let one = sem.acquire(1).await;
        let s2 = sem.clone();
        let big = go(async move {
            // Gives up after a while: the cancellation under test (long enough for this test
            // to see it queued first, even on a loaded machine).
            timeout(Duration::from_millis(200), s2.acquire(10))
                .await
                .is_err()
        });
        // Wait until the big acquire queued (try_acquire fails behind a waiter).
        while let Some(p) = sem.try_acquire(1) {
            drop(p);
            gort_runtime::yield_now().await;
        }
        let small = timeout(Duration::from_secs(10), sem.acquire(1)).await;
        assert!(
            small.is_ok(),
            "the small acquire starved behind a cancelled big one"
        );
        assert!(
            big.await.unwrap(),
            "the big acquire could not have succeeded"
        );
        drop(small);
        drop(one);
        assert_eq!(sem.available(), 10);
    });
}

/// Waiters are served in the order they queued, and a big head blocks small ones behind it.
#[test]
fn fifo_and_the_head_blocks() {
    rt(1).block_on(async {
        let sem = Arc::new(Semaphore::new(3));
        let held = sem.acquire(3).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (i, n) in [(0, 2), (1, 3), (2, 1)] {
            let (sem, order) = (sem.clone(), order.clone());
            handles.push(go(async move {
                let _p = sem.acquire(n).await;
                order.lock().unwrap().push(i);
                gort_runtime::yield_now().await;
            }));
            gort_runtime::yield_now().await; // queue in this order
        }
        drop(held);
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    });
}

#[test]
#[should_panic(expected = "at most 2^63 - 1 permits")]
fn too_many_permits_panics() {
    let _ = Semaphore::new(u64::MAX);
}

#[test]
fn debug_and_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Semaphore>();
    send_sync::<gort_sync::Permit<'static>>();
    send_sync::<gort_sync::Acquire<'static>>();
    let sem = Semaphore::new(2);
    let p = sem.try_acquire(1).unwrap();
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { size: 2, available: 1, .. }"
    );
    assert_eq!(format!("{p:?}"), "Permit { n: 1 }");
}
