//! sysmon's hand-off: a worker stuck in one poll (a blocking call, a loop that never awaits)
//! does not stall the goroutines queued behind it, and the spare worker that stands in for it
//! stops once it moves on.
//!
//! Each test builds a situation that deadlocks without the hand-off: a goroutine blocks its
//! worker's thread until another goroutine, which only the spare can run, releases it. The
//! blocking waits have a generous timeout so that a broken hand-off fails the test instead of
//! hanging it; nothing here asserts how fast anything happens.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::{Builder, Runtime, go, yield_now};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough that only a missing hand-off makes a blocked goroutine wait for it.
const RESCUE: Duration = Duration::from_secs(30);

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

/// Polls `cond` until it holds, for at most `RESCUE`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < RESCUE {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn a_worker_blocked_in_a_call_is_relieved() {
    let rt = rt(1);
    let (received, m) = rt.block_on(async {
        let (tx, rx) = mpsc::channel::<()>();
        // Blocks the only worker's thread until `tx` sends.
        let blocker = go(async move { rx.recv_timeout(RESCUE).is_ok() });
        // main yields: the blocker runs (from `runnext`) and blocks; main waits on the stuck
        // worker's list of yielded goroutines, which sysmon hands to the spare.
        yield_now().await;
        // Only a spare can run this.
        go(async move { tx.send(()).unwrap() }).await.unwrap();
        let received = blocker.await.unwrap();
        (received, gort_runtime::runtime::metrics())
    });
    assert!(
        received,
        "the sender never ran while the worker was blocked"
    );
    assert!(m.handoffs >= 1, "{m}");
    assert!(m.polled_by_spares >= 1, "{m}");
    assert_eq!(m.polled_per_worker.len(), 1);
}

#[test]
fn the_spare_stops_when_the_stuck_worker_moves_on() {
    let rt = rt(1);
    rt.block_on(async {
        let (tx, rx) = mpsc::channel::<()>();
        let blocker = go(async move { rx.recv_timeout(RESCUE).is_ok() });
        yield_now().await;
        go(async move { tx.send(()).unwrap() }).await.unwrap();
        assert!(blocker.await.unwrap());
    });
    assert!(rt.metrics().handoffs >= 1);
    assert!(
        eventually(|| rt.metrics().running_spares == 0),
        "{}",
        rt.metrics()
    );
    // The runtime goes on working with its one worker.
    assert_eq!(rt.block_on(async { go(async { 7 }).await.unwrap() }), 7);
}

#[test]
fn goroutines_run_while_every_worker_is_stuck() {
    const WORKERS: usize = 2;
    let rt = rt(WORKERS);
    let released = rt.block_on(async {
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let mut releases = Vec::new();
        let mut blockers = Vec::new();
        for _ in 0..WORKERS {
            let (tx, rx) = mpsc::channel::<()>();
            releases.push(tx);
            let started = started_tx.clone();
            blockers.push(go(async move {
                started.send(()).unwrap();
                rx.recv_timeout(RESCUE).is_ok()
            }));
        }
        // main blocks its own worker too until both blockers run (one of them on the spare
        // that relieves main's worker), then hands the releases to a goroutine and waits.
        for _ in 0..WORKERS {
            started_rx.recv_timeout(RESCUE).unwrap();
        }
        go(async move {
            for tx in releases {
                tx.send(()).unwrap();
            }
        })
        .await
        .unwrap();
        let mut released = 0;
        for b in blockers {
            released += usize::from(b.await.unwrap());
        }
        released
    });
    assert_eq!(released, WORKERS);
    assert!(rt.metrics().handoffs >= 1);
}

#[test]
fn timers_fire_while_their_worker_is_stuck() {
    let rt = rt(1);
    let received = rt.block_on(async {
        let (tx, rx) = mpsc::channel::<()>();
        let sleeper = go(async move {
            gort_runtime::time::sleep(Duration::from_millis(5)).await;
            tx.send(()).unwrap();
        });
        // Let the sleeper arm its timer in this worker's wheel, then block the worker.
        yield_now().await;
        let received = rx.recv_timeout(RESCUE).is_ok();
        sleeper.await.unwrap();
        received
    });
    assert!(
        received,
        "the timer never fired while its worker was blocked"
    );
}

#[test]
fn shutdown_with_a_stuck_worker_and_a_running_spare() {
    let rt = rt(1);
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    rt.spawn(async move {
        started_tx.send(()).unwrap();
        let _ = rx.recv_timeout(RESCUE);
    });
    started_rx.recv_timeout(RESCUE).unwrap();
    assert!(eventually(|| rt.metrics().running_spares == 1));
    // The spare runs goroutines meanwhile.
    assert_eq!(
        rt.block_on(async { go(async { 6 * 7 }).await.unwrap() }),
        42
    );
    tx.send(()).unwrap();
    rt.shutdown_timeout(RESCUE);
}

/// A goroutine that computes without awaiting keeps its core busy: while another worker runs,
/// sysmon starts no spare to share the cores with it (it would only slow both down), but the
/// goroutines that had yielded on the stuck worker still move to a worker that runs them.
/// Where the kernel cannot say whether a thread is on a CPU, sysmon relieves as if blocked.
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn a_computing_worker_beside_a_running_one_gets_no_spare() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::*};
    let rt = rt(2);
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let handoffs = rt.block_on(async {
        // Keeps the other worker running: it yields on every poll until released.
        let keeper = go({
            let release = release.clone();
            async move {
                while !release.load(Relaxed) {
                    yield_now().await;
                }
            }
        });
        // Computes on main's worker (it runs from `runnext` when main yields) until released.
        let hog = go({
            let (release, started) = (release.clone(), started.clone());
            async move {
                started.store(true, Relaxed);
                let start = Instant::now();
                while !release.load(Relaxed) && start.elapsed() < RESCUE {
                    std::hint::spin_loop();
                }
            }
        });
        // main waits on the stuck worker's yielded list: sysmon must move it to the worker
        // that runs the keeper.
        while !started.load(Relaxed) {
            yield_now().await;
        }
        // Several of sysmon's looks at a worker stuck for over 10 ms.
        gort_runtime::time::sleep(Duration::from_millis(60)).await;
        let handoffs = gort_runtime::runtime::metrics().handoffs;
        release.store(true, Relaxed);
        hog.await.unwrap();
        keeper.await.unwrap();
        handoffs
    });
    assert_eq!(handoffs, 0, "a spare was started beside a running worker");
}
