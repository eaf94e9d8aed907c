//! `singleflight` end to end, after x/sync's `singleflight_test.go`: `TestDo`,
//! `TestDoDupSuppress`, `TestForget`, `TestDoChan`, and panics reaching every caller.

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, sleep, timeout};
use gort_sync::singleflight::Group;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// x/sync's `TestDo`.
#[test]
fn test_do() {
    rt(1).block_on(async {
        let g = Group::new();
        assert_eq!(g.call("key", || async { "bar" }).await, ("bar", false));
    });
}

/// x/sync's `TestDoDupSuppress`: callers that arrive while a run is in flight share it. As
/// in x/sync's, some callers may come too late for the first run (the machine decides when
/// each gets to call), so the check is that fewer runs than callers happened.
#[test]
fn test_do_dup_suppress() {
    const CALLERS: usize = 10;
    rt(2).block_on(async {
        let g = Arc::new(Group::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = gort_sync::chan::bounded::<()>(0);
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (g, runs, release_rx) = (g.clone(), runs.clone(), release_rx.clone());
                go(async move {
                    g.call("key", move || async move {
                        runs.fetch_add(1, SeqCst);
                        // Until the test closes the channel.
                        release_rx.recv().await;
                        "bar"
                    })
                    .await
                })
            })
            .collect();
        drop(release_rx);
        // Let the callers join the run, then release every run there is.
        sleep(Duration::from_millis(20)).await;
        drop(release_tx);
        let mut shared = 0;
        for c in callers {
            let (v, s) = c.await.unwrap();
            assert_eq!(v, "bar");
            shared += usize::from(s);
        }
        let runs = runs.load(SeqCst);
        assert!(
            (1..CALLERS).contains(&runs),
            "{runs} runs for {CALLERS} callers"
        );
        assert!(shared >= 2, "no caller shared a run");
    });
}

/// x/sync's `TestForget`: after `forget`, a new call runs the function again while the old
/// run's callers still get its result.
#[test]
fn test_forget() {
    rt(2).block_on(async {
        let g = Arc::new(Group::new());
        let (release_tx, release_rx) = gort_sync::chan::bounded::<()>(0);
        let g1 = g.clone();
        let first = go(async move {
            g1.call("key", move || async move {
                release_rx.recv().await;
                1
            })
            .await
        });
        sleep(Duration::from_millis(5)).await;
        g.forget(&"key");
        assert_eq!(g.call("key", || async { 2 }).await.0, 2);
        release_tx.send(()).await.unwrap();
        assert_eq!(first.await.unwrap().0, 1);
    });
}

/// x/sync's `TestDoChan`.
#[test]
fn test_do_chan() {
    rt(2).block_on(async {
        let g = Group::new();
        let rx = g.call_chan("key", || async {
            sleep(Duration::from_millis(1)).await;
            "bar"
        });
        assert_eq!(rx.recv().await, Some(("bar", false)));
    });
}

/// A caller that gives up leaves the run going for the others (it runs in a goroutine of its
/// own, not in the first caller's).
#[test]
fn a_dropped_first_caller_leaves_the_run_going() {
    rt(2).block_on(async {
        let g = Arc::new(Group::new());
        let (release_tx, release_rx) = gort_sync::chan::bounded::<()>(0);
        let first = timeout(
            Duration::from_millis(1),
            g.call("key", move || async move {
                release_rx.recv().await;
                5
            }),
        )
        .await;
        assert!(first.is_err());
        // Joins the run at its first poll, while the run waits for the release.
        let mut second = Box::pin(g.call("key", || async { unreachable!() }));
        assert!(futures::poll!(second.as_mut()).is_pending());
        release_tx.send(()).await.unwrap();
        assert_eq!(second.await, (5, true));
    });
}

/// A panic in the function reaches every waiting caller as a panic; channels close.
#[test]
fn a_panic_reaches_every_caller() {
    rt(2).block_on(async {
        let g = Arc::new(Group::<&str, u32>::new());
        let callers: Vec<_> = (0..3)
            .map(|_| {
                let g = g.clone();
                go(async move {
                    g.call("key", || async {
                        sleep(Duration::from_millis(5)).await;
                        panic!("backend down")
                    })
                    .await
                })
            })
            .collect();
        let rx = g.call_chan("key", || async { unreachable!() });
        for c in callers {
            let err = c.await.unwrap_err();
            assert!(err.is_panic());
        }
        assert_eq!(rx.recv().await, None, "the channel closes without a value");
    });
}
