//! sysmon, gort against tokio in one run: how long 1,000 small goroutines wait while a
//! goroutine blocks every worker's thread (a blocking call made by mistake, or a loop that
//! never awaits).
//!
//! Each iteration starts one blocker per worker from outside the runtime and waits until all
//! of them are running, so that every worker is blocked; then it starts 1,000 goroutines from
//! outside and times how long until the last of them has finished. The blockers then end and
//! the next iteration waits for them, untimed. tokio has no sysmon: its goroutines wait for a
//! blocker to end. gort's sysmon sees each worker stuck in one poll for over 10 ms and starts a
//! spare worker that runs them.
//!
//! Two blockers: `std::thread::sleep` (the thread waits, the core is free) and a spin loop that
//! never awaits (the core is busy: the spare competes with it for the CPU).
//!
//! Run with `cargo bench -p gort-benches --bench sysmon`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

const WORKERS: usize = 2;
const GOROUTINES: usize = 1_000;
/// How long each blocker holds its worker: longer than sysmon's 10 ms, so the rows show
/// whether anyone stands in for the worker.
const BLOCK: Duration = Duration::from_millis(40);

/// How a blocker holds its worker's thread.
#[derive(Clone, Copy)]
enum Block {
    Sleep,
    Spin,
}

impl Block {
    fn run(self) {
        match self {
            Block::Sleep => std::thread::sleep(BLOCK),
            Block::Spin => {
                let start = Instant::now();
                while start.elapsed() < BLOCK {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// What the bench needs of a runtime: spawn from outside, and wait until it is back to its
/// own workers.
trait Rt {
    fn spawn_fn(&self, f: impl FnOnce() + Send + 'static);
    fn settle(&self) {}
}

impl Rt for gort::Runtime {
    fn spawn_fn(&self, f: impl FnOnce() + Send + 'static) {
        self.spawn(async move { f() });
    }

    /// Waits until the spares of the last round have stopped, so that the next round's
    /// blockers land on the workers and block all of them.
    fn settle(&self) {
        while self.metrics().running_spares > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Rt for tokio::runtime::Runtime {
    fn spawn_fn(&self, f: impl FnOnce() + Send + 'static) {
        self.spawn(async move { f() });
    }
}

/// One iteration: block every worker, then time 1,000 goroutines from spawn to the last done.
fn blocked_round(rt: &impl Rt, block: Block) -> Duration {
    rt.settle();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (ended_tx, ended_rx) = mpsc::channel::<()>();
    for _ in 0..WORKERS {
        let (started, ended) = (started_tx.clone(), ended_tx.clone());
        rt.spawn_fn(move || {
            started.send(()).unwrap();
            block.run();
            ended.send(()).unwrap();
        });
    }
    for _ in 0..WORKERS {
        started_rx.recv().unwrap();
    }
    let start = Instant::now();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    for _ in 0..GOROUTINES {
        let done = done_tx.clone();
        rt.spawn_fn(move || done.send(()).unwrap());
    }
    for _ in 0..GOROUTINES {
        done_rx.recv().unwrap();
    }
    let took = start.elapsed();
    for _ in 0..WORKERS {
        ended_rx.recv().unwrap();
    }
    took
}

fn blocked_workers(c: &mut Criterion) {
    for (name, block) in [("sleep", Block::Sleep), ("spin", Block::Spin)] {
        let mut group = c.benchmark_group(format!("blocked_workers_{name}_1000_goroutines"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        let gort = gort::Builder::new().workers(WORKERS).build().unwrap();
        group.bench_function("gort", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| blocked_round(&gort, block)).sum())
        });
        drop(gort);
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap();
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| blocked_round(&tokio, block)).sum())
        });
        group.finish();
    }
}

criterion_group!(benches, blocked_workers);
criterion_main!(benches);
