//! End-to-end behaviour of the scheduler: spawning, joining, stealing, runnext, yielding,
//! and the coop budget.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::{Builder, Runtime, coop, go, yield_now};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

#[test]
fn spawn_and_join_from_a_goroutine() {
    let v = rt(2).block_on(async {
        let hs: Vec<_> = (0..1000u64).map(|i| go(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(v, 499_500);
}

#[test]
fn spawn_from_outside_goes_through_the_injector() {
    let rt = rt(2);
    let n = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..10_000)
        .map(|_| {
            let n = n.clone();
            rt.spawn(async move {
                n.fetch_add(1, Relaxed);
            })
        })
        .collect();
    rt.block_on(async move {
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(n.load(Relaxed), 10_000);
    assert!(rt.metrics().injector_taken >= 1);
}

/// The stress test of the issue: a million goroutines, each joined.
#[test]
fn one_million_goroutines_joined() {
    const N: u64 = 1_000_000;
    let sum = rt(2).block_on(async {
        let hs: Vec<_> = (0..N).map(|i| go(async move { i })).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, N * (N - 1) / 2);
}

/// Spawns from many goroutines at once, so that rings overflow into the injector and idle
/// workers steal.
#[test]
fn nested_spawns_overflow_and_steal() {
    let rt = rt(2);
    let total = rt.block_on(async {
        let outer: Vec<_> = (0..64)
            .map(|_| {
                go(async {
                    let hs: Vec<_> = (0..2000u64).map(|i| go(async move { i % 7 })).collect();
                    let mut s = 0;
                    for h in hs {
                        s += h.await.unwrap();
                    }
                    s
                })
            })
            .collect();
        let mut s = 0;
        for h in outer {
            s += h.await.unwrap();
        }
        s
    });
    let per: u64 = (0..2000u64).map(|i| i % 7).sum();
    assert_eq!(total, 64 * per);
    let m = rt.metrics();
    assert!(m.overflowed > 0, "{m}");
}

/// A goroutine that never awaits anything pending still yields where it polls budget-aware
/// futures, so on one worker the goroutine it spawned (queued behind it) gets to run and
/// release it. Without the budget this would spin until the guard count.
#[test]
fn coop_budget_preempts_a_goroutine_that_never_blocks() {
    let rt = rt(1);
    let spins = rt.block_on(async {
        go(async move {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let setter = go(async move { f2.store(true, Release) });
            let mut spins = 0u64;
            while !flag.load(Acquire) && spins < 100_000_000 {
                coop::consume_budget().await;
                spins += 1;
            }
            assert!(
                flag.load(Acquire),
                "the budget never made the spinner yield"
            );
            setter.await.unwrap();
            spins
        })
        .await
        .unwrap()
    });
    assert!(spins >= coop::BUDGET as u64, "{spins}");
}

/// Awaiting a finished `JoinHandle` spends one unit: 128 of them use up a slice, and the
/// next await yields before it completes.
#[test]
fn a_ready_join_handle_spends_budget() {
    let rt = rt(1);
    rt.block_on(async {
        let handles: Vec<_> = (0..=coop::BUDGET as usize).map(|_| go(async {})).collect();
        while !handles.iter().all(|h| h.is_finished()) {
            yield_now().await;
        }
        // A yield ends the slice; we come back from the queue with a fresh budget.
        yield_now().await;
        let mut handles = handles.into_iter();
        for h in handles.by_ref().take(coop::BUDGET as usize) {
            assert!(coop::has_budget_remaining());
            h.await.unwrap();
        }
        assert!(!coop::has_budget_remaining());
        handles.next().unwrap().await.unwrap();
        assert!(
            coop::has_budget_remaining(),
            "the 129th await should have yielded"
        );
    });
}

/// `yield_now` goes to the back of the queue: two yielding goroutines on one worker alternate.
#[test]
fn yield_now_goes_to_the_back_of_the_queue() {
    let rt = rt(1);
    let log = rt.block_on(async {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..2)
            .map(|id| {
                let log = log.clone();
                go(async move {
                    for _ in 0..3 {
                        log.lock().unwrap().push(id);
                        yield_now().await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    // Each yield lets the other run: strict alternation, three turns each.
    assert_eq!(log.len(), 6);
    assert!(log.windows(2).all(|w| w[0] != w[1]), "{log:?}");
}

/// Tells whether two goroutines ever ran at once: each marks its stretches of work.
#[derive(Clone, Default)]
struct Overlap(Arc<(AtomicUsize, AtomicBool)>);

impl Overlap {
    /// Spins `spins` times, marked as a stretch of work.
    fn work(&self, spins: usize) {
        let (inside, seen) = &*self.0;
        if inside.fetch_add(1, AcqRel) == 1 {
            seen.store(true, Release);
        }
        for _ in 0..spins {
            std::hint::spin_loop();
        }
        inside.fetch_sub(1, AcqRel);
    }

    /// True once two stretches of work overlapped.
    fn seen(&self) -> bool {
        self.0.1.load(Acquire)
    }
}

/// A guard against hanging, not a measurement: true 20 s after `start`.
fn gave_up(start: Instant) -> bool {
    start.elapsed() > Duration::from_secs(20)
}

/// Blocks this worker until another one has parked.
fn wait_until_a_worker_parks(start: Instant) {
    while gort_runtime::runtime::metrics().parked_workers == 0 && !gave_up(start) {
        std::thread::yield_now();
    }
}

/// Runs `body` as a goroutine of a two-worker runtime once the other worker has parked, and
/// asserts that two stretches of its work (marked in the `Overlap` it is given) ran at once.
fn assert_spreads<F>(body: impl FnOnce(Overlap, Instant) -> F + Send + 'static, failure: &str)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let overlap = Overlap::default();
    let o = overlap.clone();
    rt(2).block_on(async move {
        go(async move {
            let start = Instant::now();
            wait_until_a_worker_parks(start);
            body(o, start).await;
        })
        .await
        .unwrap();
    });
    assert!(overlap.seen(), "{failure}");
}

/// Spends the budget on stretches of `spins` spins until two stretches overlap.
async fn take_turns(overlap: Overlap, start: Instant, spins: usize) {
    while !overlap.seen() && !gave_up(start) {
        overlap.work(spins);
        coop::consume_budget().await;
    }
}

/// Two goroutines that spend their budget on their own, started on one worker, end up running
/// at the same time on both: their rejoins after yielding wake the parked worker once they
/// have taken turns for a while (100 µs). The second is spawned by the first, once the other
/// worker is parked, into its worker's `runnext`, which wakes nobody.
#[test]
fn yielders_taking_turns_spread_to_a_parked_worker() {
    assert_spreads(
        |o, start| async move {
            let second = go(take_turns(o.clone(), start, 1_000));
            take_turns(o, start, 1_000).await;
            second.await.unwrap();
        },
        "the two yielders never ran at the same time",
    );
}

/// A yielder beside a chain of `runnext` hops (a ping-pong pair) ends up running in parallel
/// with it. Each rejoin of the yielder cuts the chain, which goes back to the ring without
/// waking anyone; it is the yielder's rejoins beside the chain, for 100 µs, that wake the
/// parked worker. The pinger is spawned once the other worker is parked, and spawns the
/// ponger, each into an empty `runnext`, which wakes nobody.
#[test]
fn a_yielder_beside_a_runnext_chain_spreads_to_a_parked_worker() {
    use futures::StreamExt;
    assert_spreads(
        |o, start| async move {
            let o2 = o.clone();
            let pinger = go(async move {
                let (to_ponger, mut pings) = futures::channel::mpsc::unbounded::<()>();
                let (to_pinger, mut pongs) = futures::channel::mpsc::unbounded::<()>();
                let o3 = o2.clone();
                let ponger = go(async move {
                    while pings.next().await.is_some() {
                        o3.work(100);
                        if to_pinger.unbounded_send(()).is_err() {
                            break;
                        }
                    }
                });
                while !o2.seen() && !gave_up(start) {
                    o2.work(100);
                    to_ponger.unbounded_send(()).unwrap();
                    pongs.next().await.unwrap();
                }
                drop(to_ponger);
                ponger.await.unwrap();
            });
            // This goroutine is the yielder.
            take_turns(o, start, 100).await;
            pinger.await.unwrap();
        },
        "the yielder never ran beside the ping-pong pair",
    );
}

/// A goroutine spawned by the running goroutine runs next, on the same worker.
///
/// Not every time: `runnext` is stealable (Go's is too), so if the OS preempts the parent's
/// thread between the spawn and the parent's return to its worker, the other worker (or a
/// spare, if the preemption outlasts sysmon's 10 ms) takes the child after its grace period.
/// On a loaded machine that happens now and then; a broken `runnext` fails every round.
#[test]
fn a_spawned_child_runs_next_on_the_same_worker() {
    const ROUNDS: usize = 100;
    let rt = rt(2);
    let same = rt.block_on(async {
        let mut same = 0;
        for _ in 0..ROUNDS {
            let parent = std::thread::current().id();
            let child = go(async { std::thread::current().id() }).await.unwrap();
            same += usize::from(parent == child);
        }
        same
    });
    assert!(
        same >= ROUNDS * 9 / 10,
        "{same} of {ROUNDS} children ran on their parent's thread"
    );
    assert!(rt.metrics().runnext_hits >= (ROUNDS * 9 / 10) as u64);
}

/// No runnable task waits while a core idles: a child sitting in `runnext` behind a parent that
/// never yields is stolen by the other worker.
#[test]
fn runnext_is_stolen_when_its_worker_is_busy() {
    let rt = rt(2);
    rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        go(async move {
            let child = go(async move { f2.store(true, Release) });
            // Block this worker until the child ran elsewhere (a guard against hanging).
            let start = Instant::now();
            while !flag.load(Acquire) && start.elapsed() < Duration::from_secs(20) {
                std::hint::spin_loop();
            }
            assert!(flag.load(Acquire), "the child in runnext was never stolen");
            child.await.unwrap();
        })
        .await
        .unwrap();
    });
}

/// A goroutine displaced from `runnext` into its worker's ring is held for that worker (its
/// thieves wait out a grace period first), but not for ever: behind a parent that never
/// yields, another worker takes it, not a spare that sysmon starts 10 ms into the parent's
/// poll. Rounds, as the OS may delay the thief that long on a loaded machine now and then; a
/// held ring that thieves never took would go to a spare every round.
#[test]
fn a_held_ring_is_stolen_when_its_worker_is_busy() {
    const ROUNDS: usize = 20;
    let rt = rt(2);
    let by_workers = rt.block_on(async {
        let mut by_workers = 0;
        for _ in 0..ROUNDS {
            let flag = Arc::new(AtomicBool::new(false));
            let f2 = flag.clone();
            let on_a_worker = go(async move {
                let first = go(async move {
                    f2.store(true, Release);
                    let name = std::thread::current().name().map(str::to_owned);
                    name.is_some_and(|n| n.starts_with("gort-worker"))
                });
                // Into `runnext`: `first` moves to the ring, held.
                let second = go(async {});
                let start = Instant::now();
                while !flag.load(Acquire) && !gave_up(start) {
                    std::hint::spin_loop();
                }
                assert!(flag.load(Acquire), "the held goroutine was never stolen");
                second.await.unwrap();
                first.await.unwrap()
            })
            .await
            .unwrap();
            by_workers += usize::from(on_a_worker);
        }
        by_workers
    });
    assert!(
        by_workers >= ROUNDS / 2,
        "only {by_workers} of {ROUNDS} held goroutines were taken by a worker"
    );
}

/// A ping-pong pair bouncing through `runnext` does not starve a goroutine queued behind it
/// on one worker.
#[test]
fn runnext_ping_pong_does_not_starve_the_queue() {
    use futures::channel::mpsc;
    use futures::{SinkExt, StreamExt};
    let rt = rt(1);
    let rounds = rt.block_on(async {
        go(async {
            let stop = Arc::new(AtomicBool::new(false));
            let (mut a_tx, mut a_rx) = mpsc::channel::<u32>(0);
            let (mut b_tx, mut b_rx) = mpsc::channel::<u32>(0);
            let pong = go(async move {
                while let Some(v) = a_rx.next().await {
                    if b_tx.send(v).await.is_err() {
                        break;
                    }
                }
            });
            let s2 = stop.clone();
            // Queued behind the pair; it needs one poll to stop them.
            let bystander = go(async move { s2.store(true, Release) });
            let mut n = 0u64;
            while !stop.load(Acquire) && n < 10_000_000 {
                a_tx.send(1).await.unwrap();
                b_rx.next().await.unwrap();
                n += 1;
            }
            assert!(stop.load(Acquire), "the ping-pong pair starved the queue");
            drop(a_tx);
            pong.await.unwrap();
            bystander.await.unwrap();
            n
        })
        .await
        .unwrap()
    });
    assert!(rounds >= 1);
}

/// Wakes from a plain thread reach the goroutine (through the injector).
#[test]
fn wake_from_another_thread() {
    let rt = rt(2);
    rt.block_on(async {
        for _ in 0..100 {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            let t = std::thread::spawn(move || tx.send(7).unwrap());
            assert_eq!(rx.await.unwrap(), 7);
            t.join().unwrap();
        }
    });
}

/// Many workers searching and parking while goroutines arrive in bursts: every goroutine runs.
#[test]
fn bursts_from_outside_while_workers_park() {
    let rt = rt(4);
    let done = Arc::new(AtomicUsize::new(0));
    for burst in 0..200 {
        let hs: Vec<_> = (0..burst % 17 + 1)
            .map(|_| {
                let done = done.clone();
                rt.spawn(async move {
                    done.fetch_add(1, Relaxed);
                })
            })
            .collect();
        for h in hs {
            rt.block_on(h).unwrap();
        }
        if burst % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let expected: usize = (0..200).map(|b| b % 17 + 1).sum();
    assert_eq!(done.load(Relaxed), expected);
}

#[test]
fn metrics_and_introspection() {
    let rt = rt(3);
    rt.block_on(async {
        assert_eq!(gort_runtime::runtime::num_workers(), 3);
        let n0 = gort_runtime::runtime::num_goroutine();
        assert!(n0 >= 1);
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let h = go(async move {
            let _ = rx.await;
        });
        yield_now().await;
        assert_eq!(gort_runtime::runtime::num_goroutine(), n0 + 1);
        let dump = gort_runtime::runtime::dump();
        let line = dump
            .lines()
            .find(|l| l.starts_with(&format!("goroutine {} ", h.id())))
            .expect("the goroutine is in the dump");
        assert!(line.contains("scheduler.rs"), "{line}");
        tx.send(()).unwrap();
        h.await.unwrap();
        let m = gort_runtime::runtime::metrics();
        assert_eq!(m.workers, 3);
        assert!(m.spawned >= 2 && m.polled >= 2, "{m}");
        assert_eq!(m.polled_per_worker.len(), 3);
    });
}
