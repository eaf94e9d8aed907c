//! `Once` end to end: Go's `TestOnce` and `TestOncePanic`, and waiters that give up.

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, timeout};
use gort_sync::Once;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Go's `TestOnce`: ten goroutines call `Do` with one increment; each sees it done once.
#[test]
fn test_once() {
    rt(2).block_on(async {
        let once = Arc::new(Once::new());
        let n = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let (once, n) = (once.clone(), n.clone());
                go(async move {
                    once.call(|| {
                        // Long enough for the others to queue behind it on the other worker.
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        n.fetch_add(1, SeqCst);
                    })
                    .await;
                    assert_eq!(n.load(SeqCst), 1, "returned before the function ran");
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(n.load(SeqCst), 1);
    });
}

/// Go's `TestOncePanic`: the first call panics, and the `Once` still counts as done.
#[test]
fn test_once_panic() {
    rt(1).block_on(async {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let first = go(async move { o.call(|| panic!("failed")).await }).await;
        assert!(
            first.unwrap_err().is_panic(),
            "the panic reaches the first caller"
        );
        assert!(once.is_done());
        once.call(|| panic!("Once.Do called twice")).await;
    });
}

/// Waiters that give up while the function runs on another worker leave the queue.
#[test]
fn waiters_that_give_up_leave() {
    rt(2).block_on(async {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let runner = go(async move {
            o.call(|| std::thread::sleep(std::time::Duration::from_millis(20)))
                .await
        });
        while !once.is_done() {
            let waited = timeout(Duration::from_micros(100), once.call(|| ())).await;
            if waited.is_ok() {
                break;
            }
        }
        runner.await.unwrap();
        once.call(|| unreachable!()).await;
    });
}

#[test]
fn debug_default_and_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Once>();
    send_sync::<gort_sync::Call<'static, fn()>>();
    assert_eq!(format!("{:?}", Once::default()), "Once { done: false, .. }");
}
