//! The blocking pool behind `spawn_blocking`.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::{Builder, go, spawn_blocking};
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn runs_off_the_workers_and_returns_the_value() {
    let rt = Builder::new().workers(1).build().unwrap();
    rt.block_on(async {
        let worker = std::thread::current().name().unwrap().to_owned();
        let (v, name) =
            spawn_blocking(|| (21 * 2, std::thread::current().name().unwrap().to_owned()))
                .await
                .unwrap();
        assert_eq!(v, 42);
        assert!(name.starts_with("gort-blocking-"), "{name}");
        assert!(worker.starts_with("gort-worker-"), "{worker}");
    });
}

/// Blocking closures that wait for each other need as many threads as closures: the pool
/// grows, and the single worker keeps running goroutines meanwhile.
#[test]
fn grows_to_run_blocking_work_concurrently() {
    let rt = Builder::new().workers(1).build().unwrap();
    rt.block_on(async {
        let barrier = Arc::new(Barrier::new(8));
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let b = barrier.clone();
                spawn_blocking(move || {
                    b.wait();
                })
            })
            .collect();
        // The worker is free while the pool blocks.
        assert_eq!(go(async { 1 }).await.unwrap(), 1);
        for h in hs {
            h.await.unwrap();
        }
    });
    let m = rt.metrics();
    assert!(m.blocking_threads >= 8, "{m}");
}

#[test]
fn queues_beyond_the_thread_limit() {
    let rt = Builder::new()
        .workers(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..50)
            .map(|_| {
                let n = n.clone();
                spawn_blocking(move || {
                    n.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(n.load(SeqCst), 50);
    assert!(rt.metrics().blocking_threads <= 2);
}

#[test]
fn a_panic_reaches_the_handle() {
    let rt = Builder::new().workers(1).build().unwrap();
    let err = rt.block_on(async {
        spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err()
    });
    assert!(err.is_panic());
}

#[test]
fn idle_threads_exit_after_keep_alive() {
    let rt = Builder::new()
        .workers(1)
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    rt.block_on(async { spawn_blocking(|| ()).await.unwrap() });
    // Wait (bounded) for the idle thread to time out.
    for _ in 0..500 {
        if rt.metrics().blocking_threads == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the idle blocking thread never exited: {}", rt.metrics());
}

#[test]
fn queued_blocking_tasks_are_cancelled_at_shutdown() {
    let rt = Builder::new()
        .workers(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (first, queued) = rt.block_on(async move {
        let first = spawn_blocking(move || {
            started_tx.send(()).unwrap();
            g.wait();
        });
        let queued = spawn_blocking(|| ());
        (first, queued)
    });
    // Shut down only once the pool's one thread is running `first`: a task still queued at
    // shutdown is cancelled (as documented), and then nobody would meet the opener at the gate.
    started_rx.recv().unwrap();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        gate.wait();
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    opener.join().unwrap();
    assert!(futures::executor::block_on(first).is_ok());
    let queued = futures::executor::block_on(queued);
    // The queued closure either ran before shutdown took the queue or was cancelled.
    assert!(queued.is_ok() || queued.unwrap_err().is_cancelled());
}
