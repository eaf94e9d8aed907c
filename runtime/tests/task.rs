//! Goroutine lifecycle: panics, abort, detach, `JoinError`, and the auto traits.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::{Builder, JoinError, JoinHandle, Runtime, go, yield_now};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::time::Duration;

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

/// How many rounds a race test runs: `n`, or a twentieth of it under miri, whose interpreter
/// is about a thousand times slower (its scheduler still varies the interleavings).
fn rounds(n: usize) -> usize {
    if cfg!(miri) { (n / 20).max(10) } else { n }
}

/// Counts drops, to check that every future and output is dropped exactly once.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_panic_reaches_the_handle_and_the_worker_goes_on() {
    let rt = rt(1);
    rt.block_on(async {
        for i in 0..10 {
            let err = go(async move {
                if i >= 0 {
                    panic!("boom {i}");
                }
            })
            .await
            .unwrap_err();
            assert!(err.is_panic() && !err.is_cancelled());
            assert_eq!(
                err.to_string(),
                format!("goroutine {} panicked: boom {i}", err.id())
            );
            let payload = err.into_panic();
            assert_eq!(
                payload.downcast_ref::<String>().unwrap(),
                &format!("boom {i}")
            );
        }
        // The single worker survived every panic.
        assert_eq!(go(async { 5 }).await.unwrap(), 5);
    });
}

#[test]
fn a_panicking_main_goroutine_resumes_in_block_on() {
    let rt = rt(1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("main panicked") })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "main panicked");
    // The runtime still works.
    assert_eq!(rt.block_on(async { 1 }), 1);
}

#[test]
fn abort_an_idle_goroutine_drops_its_future() {
    let rt = rt(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let d = DropCount(drops.clone());
    rt.block_on(async move {
        let h = go(async move {
            let _d = d;
            std::future::pending::<()>().await;
        });
        yield_now().await;
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(
            err.to_string(),
            format!("goroutine {} was cancelled", err.id())
        );
    });
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn abort_before_first_poll() {
    let rt = rt(1);
    rt.block_on(async {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let h = go(async move { r.store(true, SeqCst) });
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        assert!(!ran.load(SeqCst));
    });
}

#[test]
fn abort_after_completion_has_no_effect() {
    let rt = rt(2);
    rt.block_on(async {
        let h = go(async { 9 });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 9);
    });
}

/// Abort from another thread while the goroutine runs: it is dropped at its next poll point.
#[test]
fn abort_a_running_goroutine_from_another_thread() {
    let rt = rt(2);
    for _ in 0..rounds(200) {
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let h = rt.spawn(async move {
            s.store(true, SeqCst);
            loop {
                yield_now().await;
            }
        });
        while !started.load(SeqCst) {
            std::thread::yield_now();
        }
        let h = Arc::new(h);
        let h2 = h.clone();
        std::thread::spawn(move || h2.abort()).join().unwrap();
        let h = Arc::try_unwrap(h).unwrap();
        assert!(rt.block_on(h).unwrap_err().is_cancelled());
    }
}

/// Abort racing completion: the handle sees the output or a cancellation, never neither.
#[test]
fn abort_racing_completion() {
    let rt = rt(2);
    let (mut ok, mut cancelled) = (0, 0);
    for i in 0..rounds(2000) {
        let h = rt.spawn(async move { i });
        if i % 2 == 0 {
            std::thread::yield_now();
        }
        h.abort();
        match rt.block_on(h) {
            Ok(v) => {
                assert_eq!(v, i);
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_cancelled());
                cancelled += 1;
            }
        }
    }
    assert_eq!(ok + cancelled, rounds(2000));
}

/// Dropping the handle detaches: the goroutine still runs, and its output is dropped once.
#[test]
fn dropping_the_handle_detaches() {
    let rt = rt(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..rounds(1000) {
        let (d, r) = (drops.clone(), ran.clone());
        drop(rt.spawn(async move {
            r.fetch_add(1, SeqCst);
            DropCount(d)
        }));
    }
    rt.block_on(async {
        while gort_runtime::runtime::num_goroutine() > 1 {
            yield_now().await;
        }
    });
    assert_eq!(ran.load(SeqCst), rounds(1000));
    assert_eq!(drops.load(SeqCst), rounds(1000));
}

/// The output is dropped exactly once whether the handle reads it or is dropped first (and a
/// goroutine cancelled by shutdown before it ran never made one).
#[test]
fn output_dropped_once_when_handle_drop_races_completion() {
    let rt = rt(2);
    let made = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    for i in 0..rounds(2000) {
        let (m, d) = (made.clone(), drops.clone());
        let h = rt.spawn(async move {
            m.fetch_add(1, SeqCst);
            DropCount(d)
        });
        if i % 100 == 0 {
            // Some outputs are read, whatever the machine's load: on a busy machine the
            // workers may not run any of the others before the runtime is dropped.
            drop(rt.block_on(h).unwrap());
            continue;
        }
        if i % 3 == 0 {
            std::thread::yield_now();
        }
        drop(h);
    }
    drop(rt);
    assert!(made.load(SeqCst) >= rounds(2000) / 100);
    assert_eq!(drops.load(SeqCst), made.load(SeqCst));
}

#[test]
fn join_handle_waker_is_replaced_when_polled_by_another_task() {
    let rt = rt(2);
    rt.block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let mut h = go(async move {
            rx.await.unwrap();
            3
        });
        // Poll the handle once from this goroutine, then hand it to another one.
        let polled = futures::poll!(&mut h);
        assert!(polled.is_pending());
        let joiner = go(async move { h.await.unwrap() });
        tx.send(()).unwrap();
        assert_eq!(joiner.await.unwrap(), 3);
    });
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| go(async {})).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("gort::go must be called from inside a gort runtime"),
        "{msg}"
    );
    let err = std::panic::catch_unwind(|| gort_runtime::spawn_blocking(|| ())).unwrap_err();
    assert!(
        err.downcast_ref::<String>()
            .unwrap()
            .contains("spawn_blocking")
    );
    let err = std::panic::catch_unwind(gort_runtime::runtime::num_goroutine).unwrap_err();
    assert!(
        err.downcast_ref::<String>()
            .unwrap()
            .contains("inside a gort runtime")
    );
}

#[test]
fn block_on_inside_a_goroutine_panics() {
    let rt = Arc::new(rt(1));
    let rt2 = rt.clone();
    let err = rt.block_on(async move {
        go(async move {
            let inner =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt2.block_on(async {})));
            let payload = inner.unwrap_err();
            match payload.downcast::<String>() {
                Ok(s) => *s,
                Err(p) => p.downcast::<&str>().unwrap().to_string(),
            }
        })
        .await
        .unwrap()
    });
    assert!(
        err.contains("block_on called from inside a goroutine"),
        "{err}"
    );
}

#[test]
fn block_on_may_borrow_from_the_caller() {
    let rt = rt(2);
    let mut data = vec![1u64, 2, 3];
    let total = rt.block_on(async {
        data.push(4);
        data.iter().sum::<u64>()
    });
    assert_eq!(total, 10);
    assert_eq!(data.len(), 4);
}

#[test]
fn free_block_on_and_block_on_local() {
    assert_eq!(
        gort_runtime::block_on(async { go(async { 2 }).await.unwrap() }),
        2
    );
    let rc = std::rc::Rc::new(3);
    let v = gort_runtime::block_on_local(async move { *rc + go(async { 4 }).await.unwrap() });
    assert_eq!(v, 7);
}

#[test]
fn join_error_converts_to_io_error() {
    let rt = rt(1);
    let err: JoinError = rt.block_on(async { go(async { panic!("io") }).await.unwrap_err() });
    let io: std::io::Error = err.into();
    assert!(io.to_string().contains("panicked: io"));
}

#[test]
fn the_public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Runtime>();
    send_sync::<JoinHandle<u32>>();
    send_sync::<JoinError>();
    send_sync::<gort_runtime::Builder>();
    send_sync::<gort_runtime::runtime::Metrics>();
    fn unpin<T: Unpin>() {}
    unpin::<JoinHandle<std::marker::PhantomPinned>>();
}

#[test]
fn shutdown_timeout_drops_unfinished_goroutines() {
    let rt = rt(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..100 {
        let d = DropCount(drops.clone());
        handles.push(rt.spawn(async move {
            let _d = d;
            std::future::pending::<()>().await;
        }));
    }
    rt.block_on(async {
        while gort_runtime::runtime::num_goroutine() > 101 {
            yield_now().await;
        }
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    assert_eq!(drops.load(SeqCst), 100);
    for h in handles {
        assert!(h.is_finished());
        assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
    }
}

/// A destructor that starts a goroutine during shutdown sees a closed runtime: the new
/// goroutine is cancelled at once instead of leaking or panicking.
#[test]
fn spawning_from_a_destructor_during_shutdown() {
    struct SpawnOnDrop(Arc<AtomicUsize>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let d = DropCount(self.0.clone());
            let h = go(async move {
                let _d = d;
            });
            drop(h);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = rt(1);
    let s = SpawnOnDrop(drops.clone());
    rt.spawn(async move {
        let _s = s;
        std::future::pending::<()>().await;
    });
    drop(rt);
    assert_eq!(drops.load(SeqCst), 1);
}

/// The last reference to a runtime dropped inside one of its own goroutines: no deadlock.
#[test]
fn dropping_a_runtime_inside_its_own_goroutine() {
    let rt = Arc::new(rt(2));
    let (tx, rx) = std::sync::mpsc::channel();
    let rt2 = rt.clone();
    let h = rt.spawn(async move {
        let rt3 = rt2;
        tx.send(()).unwrap();
        // Wait until the outside reference is gone, then drop the last one here.
        while Arc::strong_count(&rt3) > 1 {
            yield_now().await;
        }
        drop(rt3);
    });
    rx.recv().unwrap();
    drop(h);
    drop(rt);
}
