//! `RwMutex` end to end: readers share, writers exclude (Go's `TestRWMutex` as a stress
//! test), writer preference, and cancellation at every stage.

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, sleep, timeout};
use gort_sync::RwMutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::*};

/// Go's `TestRWMutex` (`HammerRWMutex`): readers and writers track who is inside; a writer
/// must be alone, readers may overlap. With `give_up`, every lock gives up after a random
/// while.
fn hammer(give_up: bool) {
    let rw = Arc::new(RwMutex::new(()));
    let activity = Arc::new(AtomicIsize::new(0));
    let readers_overlapped = Arc::new(AtomicUsize::new(0));
    rt(2).block_on(async {
        let handles: Vec<_> = (0..12u64)
            .map(|i| {
                let (rw, activity, overlapped) =
                    (rw.clone(), activity.clone(), readers_overlapped.clone());
                go(async move {
                    let mut rng = fastrand::Rng::with_seed(i);
                    for _ in 0..400 {
                        let patience = Duration::from_micros(rng.u64(0..1_000));
                        if i % 3 == 0 {
                            let w = if give_up {
                                match timeout(patience, rw.write()).await {
                                    Ok(w) => w,
                                    Err(_) => continue,
                                }
                            } else {
                                rw.write().await
                            };
                            let n = activity.fetch_add(10_000, SeqCst);
                            assert_eq!(n, 0, "a writer beside others");
                            gort_runtime::yield_now().await;
                            activity.fetch_sub(10_000, SeqCst);
                            drop(w);
                        } else {
                            let r = if give_up {
                                match timeout(patience, rw.read()).await {
                                    Ok(r) => r,
                                    Err(_) => continue,
                                }
                            } else {
                                rw.read().await
                            };
                            let n = activity.fetch_add(1, SeqCst);
                            assert!((0..10_000).contains(&n), "a reader beside a writer");
                            if n > 0 {
                                overlapped.fetch_add(1, Relaxed);
                            }
                            gort_runtime::yield_now().await;
                            activity.fetch_sub(1, SeqCst);
                            drop(r);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(
        readers_overlapped.load(Relaxed) > 0,
        "readers never shared the lock"
    );
    assert!(rw.try_write().is_some(), "the lock ends free");
}

#[test]
fn test_rw_mutex() {
    hammer(false);
}

#[test]
fn random_cancellation_loses_nothing() {
    hammer(true);
}

/// A waiting writer blocks readers that arrive after it (Go's writer preference); they get in
/// once it is done, before the next writer.
#[test]
fn a_waiting_writer_blocks_new_readers() {
    rt(2).block_on(async {
        let rw = Arc::new(RwMutex::new(0));
        let first = rw.read().await;
        let rw2 = rw.clone();
        let writer = go(async move {
            *rw2.write().await += 1;
        });
        while rw.try_read().is_some_and(|g| {
            drop(g);
            true
        }) {
            gort_runtime::yield_now().await;
        }
        // The writer waits now: a new reader waits too.
        assert!(rw.try_read().is_none());
        let rw3 = rw.clone();
        let late_reader = go(async move { *rw3.read().await });
        sleep(Duration::from_millis(2)).await;
        assert!(
            !late_reader.is_finished(),
            "a late reader passed a waiting writer"
        );
        drop(first);
        writer.await.unwrap();
        assert_eq!(
            late_reader.await.unwrap(),
            1,
            "the late reader ran after the writer"
        );
    });
}

/// A writer that gives up while readers are inside lets the readers queued behind it in.
#[test]
fn a_cancelled_writer_lets_the_readers_behind_it_in() {
    rt(2).block_on(async {
        let rw = Arc::new(RwMutex::new(0));
        let inside = rw.read().await;
        let rw2 = rw.clone();
        let writer = go(async move {
            timeout(Duration::from_millis(200), rw2.write())
                .await
                .is_err()
        });
        while rw.try_read().is_some_and(|g| {
            drop(g);
            true
        }) {
            gort_runtime::yield_now().await;
        }
        let rw3 = rw.clone();
        let late_reader = go(async move { *rw3.read().await });
        assert!(writer.await.unwrap(), "the writer could not have got in");
        let got = timeout(Duration::from_secs(10), late_reader).await;
        assert_eq!(got.expect("the reader stayed blocked").unwrap(), 0);
        drop(inside);
    });
}

#[test]
fn api_debug_and_auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RwMutex<Vec<u8>>>();
    send_sync::<gort_sync::ReadGuard<'static, Vec<u8>>>();
    send_sync::<gort_sync::WriteGuard<'static, Vec<u8>>>();
    send_sync::<gort_sync::Read<'static, Vec<u8>>>();
    send_sync::<gort_sync::Write<'static, Vec<u8>>>();
    let mut rw = RwMutex::new(vec![1]);
    rw.get_mut().push(2);
    {
        let w = rw.try_write().unwrap();
        assert_eq!(format!("{rw:?}"), "RwMutex { value: <locked>, .. }");
        assert_eq!(format!("{w:?}"), "[1, 2]");
    }
    assert_eq!(format!("{rw:?}"), "RwMutex { value: [1, 2], .. }");
    assert_eq!(RwMutex::<u8>::default().into_inner(), 0);
}
