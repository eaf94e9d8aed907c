//! `Cond` end to end: Go's `TestCondSignal`, `TestCondBroadcast` and
//! `TestCondSignalStealing`, no lost signal, and cancelled waiters that pass a signal on.

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, timeout};
use gort_sync::{Cond, Mutex};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

type Shared = Arc<(Mutex<usize>, Cond)>;

fn shared() -> Shared {
    Arc::new((Mutex::new(0), Cond::new()))
}

/// Go's `TestCondSignal`: n goroutines wait; each `signal` releases exactly one of them.
#[test]
fn test_cond_signal() {
    const N: usize = 8;
    rt(2).block_on(async {
        let s = shared();
        let running = Arc::new(AtomicUsize::new(0));
        let awake = Arc::new(AtomicUsize::new(0));
        for _ in 0..N {
            let (s, running, awake) = (s.clone(), running.clone(), awake.clone());
            go(async move {
                let (m, c) = &*s;
                let guard = m.lock().await;
                running.fetch_add(1, SeqCst);
                let guard = c.wait(guard).await;
                awake.fetch_add(1, SeqCst);
                drop(guard);
            });
        }
        // All are waiting once each has counted itself under the mutex and we can take it.
        while running.load(SeqCst) < N {
            gort_runtime::yield_now().await;
        }
        let (m, c) = &*s;
        for i in 1..=N {
            drop(m.lock().await); // the last one is inside `wait` once we get the mutex
            c.signal();
            while awake.load(SeqCst) < i {
                gort_runtime::yield_now().await;
            }
            gort_runtime::time::sleep(Duration::from_micros(200)).await;
            assert_eq!(
                awake.load(SeqCst),
                i,
                "one signal woke more than one waiter"
            );
        }
    });
}

/// Go's `TestCondBroadcast`: one `broadcast` releases every waiter, round after round.
#[test]
fn test_cond_broadcast() {
    const N: usize = 8;
    rt(2).block_on(async {
        let s = shared();
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let s = s.clone();
                go(async move {
                    let (m, c) = &*s;
                    for round in 1..=5 {
                        let mut g = m.lock().await;
                        while *g < round {
                            g = c.wait(g).await;
                        }
                    }
                })
            })
            .collect();
        let (m, c) = &*s;
        for round in 1..=5 {
            gort_runtime::time::sleep(Duration::from_micros(200)).await;
            *m.lock().await = round;
            c.broadcast();
        }
        for h in handles {
            timeout(Duration::from_secs(10), h).await.unwrap().unwrap();
        }
    });
}

/// No lost signal: a producer signals once per item under the mutex; a consumer waiting in a
/// loop sees every item.
#[test]
fn no_lost_signal() {
    const ITEMS: usize = 10_000;
    rt(2).block_on(async {
        let s = shared();
        let s2 = s.clone();
        let consumer = go(async move {
            let (m, c) = &*s2;
            let mut taken = 0;
            let mut g = m.lock().await;
            while taken < ITEMS {
                while *g == 0 {
                    g = c.wait(g).await;
                }
                taken += *g;
                *g = 0;
            }
            taken
        });
        let (m, c) = &*s;
        for _ in 0..ITEMS {
            *m.lock().await += 1;
            c.signal();
        }
        assert_eq!(
            timeout(Duration::from_secs(10), consumer)
                .await
                .unwrap()
                .unwrap(),
            ITEMS
        );
    });
}

/// A waiter that a `signal` picked and that is dropped before it returns passes the signal to
/// the next waiter.
#[test]
fn a_cancelled_signalled_waiter_passes_the_signal_on() {
    rt(1).block_on(async {
        let s = shared();
        let (m, c) = &*s;
        // A waiter that the signal will pick, then cancelled.
        let s1 = s.clone();
        let first = go(async move {
            let (m, c) = &*s1;
            let g = m.lock().await;
            let _ = timeout(Duration::from_millis(20), c.wait(g)).await;
        });
        gort_runtime::yield_now().await;
        let s2 = s.clone();
        let second = go(async move {
            let (m, c) = &*s2;
            let g = m.lock().await;
            drop(c.wait(g).await);
        });
        gort_runtime::yield_now().await;
        // Hold the mutex so that the picked waiter cannot relock before its timeout fires.
        let held = m.lock().await;
        c.signal();
        gort_runtime::time::sleep(Duration::from_millis(40)).await;
        drop(held);
        first.await.unwrap();
        timeout(Duration::from_secs(10), second)
            .await
            .expect("the signal was lost with the cancelled waiter")
            .unwrap();
    });
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Cond>();
    send_sync::<gort_sync::CondWait<'static, 'static, Vec<u8>>>();
}
