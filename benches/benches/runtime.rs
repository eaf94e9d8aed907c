//! The multi-thread scheduler benches of tokio (`benches/rt_multi_threaded.rs` in tokio-rs/tokio),
//! with the same workloads and constants, run on gort and on tokio side by side.
//!
//! Each workload is one criterion group with two functions, `gort` and `tokio`. Each runtime is
//! built once per group, with tokio's `NUM_WORKERS` workers, and lives only while its own
//! function runs, so the busy tasks of one never steal CPU from the other.
//!
//! Where tokio's bench blocks inside `block_on` on a `std::sync::mpsc` receiver, this one awaits a
//! [`Countdown`] (or a `futures` oneshot) instead: gort polls the `block_on` future on a worker,
//! where a blocking receive would stall that worker. tokio's `oneshot` in `ping_pong` is replaced
//! by `futures`' for the same reason of parity. Where the waiting happens on the caller's own
//! thread (`yield_many`), the `std::sync::mpsc` channel is kept.
//!
//! Run with `cargo bench -p gort-benches --bench runtime`.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use futures::channel::oneshot;
use gort_benches::{BenchRuntime, Countdown, stall};

/// Worker threads of every runtime: tokio's `NUM_WORKERS`.
const NUM_WORKERS: usize = 4;
/// Tasks spawned per iteration by the `spawn_many_*` workloads.
const NUM_SPAWN: usize = 10_000;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Runs one workload on gort, then on tokio, in one criterion group named `name`.
fn compare(c: &mut Criterion, name: &str, gort: fn(&mut Group<'_>), tokio: fn(&mut Group<'_>)) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    gort(&mut group);
    tokio(&mut group);
    group.finish();
}

/// Spawns `NUM_SPAWN` empty tasks from inside the runtime and waits for the last to finish.
fn spawn_many_local<R: BenchRuntime>(group: &mut Group<'_>) {
    let rt = R::with_workers(NUM_WORKERS);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let (countdown, done) = Countdown::new(NUM_SPAWN);
                for _ in 0..NUM_SPAWN {
                    let countdown = countdown.clone();
                    drop(R::spawn(async move { countdown.count_down() }));
                }
                done.await.unwrap();
            });
        })
    });
}

/// Spawns `spawn_count` empty tasks from outside the runtime, then joins them all from inside.
fn spawn_remote_and_join<R: BenchRuntime>(group: &mut Group<'_>, rt: &R, spawn_count: usize) {
    let mut handles = Vec::with_capacity(spawn_count);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            for _ in 0..spawn_count {
                handles.push(rt.spawn_on(async {}));
            }
            rt.block_on(async {
                for handle in handles.drain(..) {
                    handle.await.unwrap();
                }
            });
        })
    });
}

/// `NUM_SPAWN` remote spawns into an idle runtime.
fn spawn_many_remote_idle<R: BenchRuntime>(group: &mut Group<'_>) {
    let rt = R::with_workers(NUM_WORKERS);
    spawn_remote_and_join(group, &rt, NUM_SPAWN);
}

/// `NUM_SPAWN` remote spawns into a runtime kept busy by `2 * NUM_WORKERS` tasks that stall and
/// yield in a loop: yielding is a lower wake-up priority than spawning.
fn spawn_many_remote_busy1<R: BenchRuntime>(group: &mut Group<'_>) {
    let rt = R::with_workers(NUM_WORKERS);
    let keep_busy = Arc::new(AtomicBool::new(true));

    for _ in 0..2 * NUM_WORKERS {
        let keep_busy = keep_busy.clone();
        drop(rt.spawn_on(async move {
            while keep_busy.load(Relaxed) {
                R::yield_now().await;
                stall();
            }
        }));
    }

    spawn_remote_and_join(group, &rt, NUM_SPAWN);
    keep_busy.store(false, Relaxed);
}

/// 1,000 remote spawns into a runtime kept busy by `NUM_WORKERS` chains of tasks, each of which
/// stalls and then spawns its successor: spawning is a higher wake-up priority than yielding.
fn spawn_many_remote_busy2<R: BenchRuntime>(group: &mut Group<'_>) {
    const NUM_SPAWN: usize = 1_000;

    fn keep_spawning<R: BenchRuntime>(keep_busy: Arc<AtomicBool>) {
        drop(R::spawn(async move {
            if keep_busy.load(Relaxed) {
                stall();
                keep_spawning::<R>(keep_busy);
            }
        }));
    }

    let rt = R::with_workers(NUM_WORKERS);
    let keep_busy = Arc::new(AtomicBool::new(true));

    for _ in 0..NUM_WORKERS {
        let keep_busy = keep_busy.clone();
        drop(rt.spawn_on(async move { keep_spawning::<R>(keep_busy) }));
    }

    spawn_remote_and_join(group, &rt, NUM_SPAWN);
    keep_busy.store(false, Relaxed);
}

/// 200 remote tasks that each yield 1,000 times; the caller's thread waits for all of them.
fn yield_many<R: BenchRuntime>(group: &mut Group<'_>) {
    const NUM_YIELD: usize = 1_000;
    const TASKS: usize = 200;

    let rt = R::with_workers(NUM_WORKERS);
    let (tx, rx) = mpsc::sync_channel(TASKS);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            for _ in 0..TASKS {
                let tx = tx.clone();
                drop(rt.spawn_on(async move {
                    for _ in 0..NUM_YIELD {
                        R::yield_now().await;
                    }
                    tx.send(()).unwrap();
                }));
            }
            for _ in 0..TASKS {
                rx.recv().unwrap();
            }
        })
    });
}

/// One task spawns 1,000 pingers; each spawns a ponger and the two trade a oneshot each way.
fn ping_pong<R: BenchRuntime>(group: &mut Group<'_>) {
    const NUM_PINGS: usize = 1_000;

    let rt = R::with_workers(NUM_WORKERS);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let (countdown, done) = Countdown::new(NUM_PINGS);
                drop(R::spawn(async move {
                    for _ in 0..NUM_PINGS {
                        let countdown = countdown.clone();
                        drop(R::spawn(async move {
                            let (ping_tx, ping_rx) = oneshot::channel();
                            let (pong_tx, pong_rx) = oneshot::channel();
                            drop(R::spawn(async move {
                                ping_rx.await.unwrap();
                                pong_tx.send(()).unwrap();
                            }));
                            ping_tx.send(()).unwrap();
                            pong_rx.await.unwrap();
                            countdown.count_down();
                        }));
                    }
                }));
                done.await.unwrap();
            });
        })
    });
}

/// A chain of 1,000 tasks, each spawning the next; the last one completes the iteration.
fn chained_spawn<R: BenchRuntime>(group: &mut Group<'_>) {
    const ITER: usize = 1_000;

    fn chain<R: BenchRuntime>(done: oneshot::Sender<()>, remaining: usize) {
        if remaining == 0 {
            done.send(()).unwrap();
        } else {
            drop(R::spawn(async move { chain::<R>(done, remaining - 1) }));
        }
    }

    let rt = R::with_workers(NUM_WORKERS);

    group.bench_function(R::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let (done, finished) = oneshot::channel();
                drop(R::spawn(async move { chain::<R>(done, ITER) }));
                finished.await.unwrap();
            });
        })
    });
}

type Gort = gort::Runtime;
type Tokio = tokio::runtime::Runtime;

fn rt_multi_threaded(c: &mut Criterion) {
    compare(
        c,
        "spawn_many_local",
        spawn_many_local::<Gort>,
        spawn_many_local::<Tokio>,
    );
    compare(
        c,
        "spawn_many_remote_idle",
        spawn_many_remote_idle::<Gort>,
        spawn_many_remote_idle::<Tokio>,
    );
    compare(
        c,
        "spawn_many_remote_busy1",
        spawn_many_remote_busy1::<Gort>,
        spawn_many_remote_busy1::<Tokio>,
    );
    compare(
        c,
        "spawn_many_remote_busy2",
        spawn_many_remote_busy2::<Gort>,
        spawn_many_remote_busy2::<Tokio>,
    );
    compare(c, "yield_many", yield_many::<Gort>, yield_many::<Tokio>);
    compare(c, "ping_pong", ping_pong::<Gort>, ping_pong::<Tokio>);
    compare(
        c,
        "chained_spawn",
        chained_spawn::<Gort>,
        chained_spawn::<Tokio>,
    );
}

criterion_group!(benches, rt_multi_threaded);
criterion_main!(benches);
