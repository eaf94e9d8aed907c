//! Go's `sync` package against its peers, in one run: `Mutex` uncontended, and contended by 4
//! and by 16 goroutines (Go's anchor `mutex_contended_4x1m`), against `tokio::sync::Mutex`
//! and async-lock's `Mutex`. Every runtime has 2 workers; async-lock, runtime-agnostic, runs
//! on tokio and on gort, so that a gap can be put down to the lock or to the runtime.
//!
//! Each workload is written once, generic over the lock ([`BenchMutex`]) and the runtime, and
//! runs as a task of its own; it checks its count at the end. Before criterion runs, the binary
//! runs every workload again in paired rounds (`gort_benches::paired`) and prints the ratios.
//!
//! Run with `cargo bench -p gort-benches --bench sync` (`-- paired` for the paired table
//! alone).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use gort_benches::BenchRuntime;
use gort_benches::paired::{self, Contender, Paired};

/// Worker threads of every runtime: the machine's 2 cores (Go's GOMAXPROCS in the anchors).
const WORKERS: usize = 2;
/// Lock/add/unlock operations per iteration, shared among the goroutines.
const OPS: u64 = 100_000;
/// Rounds of each paired table.
const ROUNDS: usize = 11;

type Group<'a> = BenchmarkGroup<'a, WallTime>;
type GortRt = gort::Runtime;
type TokioRt = tokio::runtime::Runtime;

/// An async mutex around a `u64` as the workloads drive it.
trait BenchMutex: Send + Sync + 'static {
    /// The lock's name: the first half of the function name inside each group.
    const NAME: &'static str;

    fn new() -> Self;

    /// Locks, adds one, unlocks.
    fn add_one(&self) -> impl Future<Output = ()> + Send;

    /// The count, with nobody holding the lock.
    fn count(&self) -> u64;
}

impl BenchMutex for gort::sync::Mutex<u64> {
    const NAME: &'static str = "gort";

    fn new() -> Self {
        gort::sync::Mutex::new(0)
    }

    #[inline]
    async fn add_one(&self) {
        *self.lock().await += 1;
    }

    fn count(&self) -> u64 {
        *self.try_lock().expect("free at the end")
    }
}

impl BenchMutex for tokio::sync::Mutex<u64> {
    const NAME: &'static str = "tokio";

    fn new() -> Self {
        tokio::sync::Mutex::new(0)
    }

    #[inline]
    async fn add_one(&self) {
        *self.lock().await += 1;
    }

    fn count(&self) -> u64 {
        *self.try_lock().expect("free at the end")
    }
}

impl BenchMutex for async_lock::Mutex<u64> {
    const NAME: &'static str = "async_lock";

    fn new() -> Self {
        async_lock::Mutex::new(0)
    }

    #[inline]
    async fn add_one(&self) {
        *self.lock().await += 1;
    }

    fn count(&self) -> u64 {
        *self.try_lock().expect("free at the end")
    }
}

/// The function name of lock `M` on runtime `R` inside a group.
fn id<R: BenchRuntime, M: BenchMutex>() -> String {
    if M::NAME == R::NAME {
        M::NAME.to_owned()
    } else {
        format!("{}@{}", M::NAME, R::NAME)
    }
}

/// `goroutines` tasks share `OPS` lock/add/unlock operations on one mutex.
async fn contend<R: BenchRuntime, M: BenchMutex>(goroutines: u64) {
    let m = Arc::new(M::new());
    let tasks: Vec<_> = (0..goroutines)
        .map(|_| {
            let m = m.clone();
            R::spawn(async move {
                for _ in 0..OPS / goroutines {
                    m.add_one().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a locker panicked");
    }
    assert_eq!(
        m.count(),
        OPS / goroutines * goroutines,
        "lost an increment"
    );
}

/// Runs `workload` as a task of `rt` and waits for it.
fn run<R: BenchRuntime>(rt: &R, workload: impl Future<Output = ()> + Send + 'static) {
    rt.block_on(async { R::spawn(workload).await.expect("the workload panicked") })
}

/// The workloads: criterion group name and goroutines.
const WORKLOADS: [(&str, u64); 3] = [
    ("mutex_uncontended", 1),
    ("mutex_contended_4", 4),
    ("mutex_contended_16", 16),
];

fn row<R: BenchRuntime, M: BenchMutex>(group: &mut Group<'_>, goroutines: u64) {
    let rt = R::with_workers(WORKERS);
    group.bench_function(id::<R, M>(), |b| {
        b.iter(|| run(&rt, contend::<R, M>(goroutines)))
    });
}

fn bench_mutex(c: &mut Criterion) {
    for (name, goroutines) in WORKLOADS {
        let mut group = c.benchmark_group(name);
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(OPS));
        row::<GortRt, gort::sync::Mutex<u64>>(&mut group, goroutines);
        row::<TokioRt, tokio::sync::Mutex<u64>>(&mut group, goroutines);
        row::<TokioRt, async_lock::Mutex<u64>>(&mut group, goroutines);
        row::<GortRt, async_lock::Mutex<u64>>(&mut group, goroutines);
        group.finish();
    }
}

/// A paired-run contender: lock `M` on `rt`, each sample `runs` runs of the workload.
fn contender<R: BenchRuntime, M: BenchMutex>(rt: &R, goroutines: u64) -> Contender<'_> {
    let runs = 5;
    Contender::new(id::<R, M>(), move || {
        let start = Instant::now();
        for _ in 0..runs {
            run(rt, contend::<R, M>(goroutines));
        }
        start.elapsed() / runs
    })
}

/// Every workload in paired rounds, on one gort and one tokio runtime.
fn report_paired() {
    let (g, t) = (
        &GortRt::with_workers(WORKERS),
        &TokioRt::with_workers(WORKERS),
    );
    Paired::print_header("Sync", ROUNDS);
    for (name, goroutines) in WORKLOADS {
        paired::run(
            ROUNDS,
            &mut [
                contender::<_, gort::sync::Mutex<u64>>(g, goroutines),
                contender::<_, tokio::sync::Mutex<u64>>(t, goroutines),
                contender::<_, async_lock::Mutex<u64>>(t, goroutines),
                contender::<_, async_lock::Mutex<u64>>(g, goroutines),
            ],
        )
        .print_rows(name, OPS, "/op");
    }
    println!();
}

criterion_group!(benches, bench_mutex);

fn main() {
    // The paired table runs unless criterion is only listing, or a filter names other rows.
    if gort_benches::reports::wanted("paired") {
        report_paired();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
