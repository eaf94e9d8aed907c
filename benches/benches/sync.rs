//! Go's `sync` package against its peers, in one run: `Mutex` uncontended, and contended by 4
//! and by 16 goroutines (Go's anchor `mutex_contended_4x1m`), against `tokio::sync::Mutex`
//! and async-lock's `Mutex`; a `Semaphore` of 2 permits that 4 goroutines acquire and release,
//! against tokio's and async-lock's; an `RwMutex` read by 4 goroutines that write one time in
//! a hundred (Go's anchor `rwmutex_read_heavy_4x1m_99r`), against tokio's and async-lock's
//! `RwLock`; and a `WaitGroup` that 10,000 goroutines `done`, against
//! the `waitgroup` crate (tokio has no wait group). Every runtime has 2 workers; the
//! runtime-agnostic peers run on tokio and on gort, so that a gap can be put down to the
//! primitive or to the runtime.
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

/// `BenchMutex` for a lock type whose API has the usual shape (`new`, `lock().await`,
/// `try_lock()`); the three peers share it.
macro_rules! bench_mutex {
    ($ty:ty, $name:literal) => {
        impl BenchMutex for $ty {
            const NAME: &'static str = $name;

            fn new() -> Self {
                <$ty>::new(0)
            }

            #[inline]
            async fn add_one(&self) {
                *self.lock().await += 1;
            }

            fn count(&self) -> u64 {
                *self.try_lock().expect("free at the end")
            }
        }
    };
}

bench_mutex!(gort::sync::Mutex<u64>, "gort");
bench_mutex!(tokio::sync::Mutex<u64>, "tokio");
bench_mutex!(async_lock::Mutex<u64>, "async_lock");

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

/// 10 samples of 3 s after a 1 s warm-up, `elements` operations per iteration.
fn configure(group: &mut Group<'_>, elements: u64) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(elements));
}

fn row<R: BenchRuntime, M: BenchMutex>(group: &mut Group<'_>, goroutines: u64) {
    let rt = R::with_workers(WORKERS);
    group.bench_function(id::<R, M>(), |b| {
        b.iter(|| run(&rt, contend::<R, M>(goroutines)))
    });
}

fn bench_mutex(c: &mut Criterion) {
    for (name, goroutines) in WORKLOADS {
        let mut group = c.benchmark_group(name);
        configure(&mut group, OPS);
        row::<GortRt, gort::sync::Mutex<u64>>(&mut group, goroutines);
        row::<TokioRt, tokio::sync::Mutex<u64>>(&mut group, goroutines);
        row::<TokioRt, async_lock::Mutex<u64>>(&mut group, goroutines);
        row::<GortRt, async_lock::Mutex<u64>>(&mut group, goroutines);
        group.finish();
    }
}

/// A paired-run contender: lock `M` on `rt`.
fn contender<R: BenchRuntime, M: BenchMutex>(rt: &R, goroutines: u64) -> Contender<'_> {
    timed(rt, id::<R, M>(), move || contend::<R, M>(goroutines))
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
    paired::run(
        ROUNDS,
        &mut [
            timed(
                g,
                "gort".into(),
                read_heavy::<GortRt, gort::sync::RwMutex<u64>>,
            ),
            timed(
                t,
                "tokio".into(),
                read_heavy::<TokioRt, tokio::sync::RwLock<u64>>,
            ),
            timed(
                t,
                "async_lock@tokio".into(),
                read_heavy::<TokioRt, async_lock::RwLock<u64>>,
            ),
            timed(
                g,
                "async_lock@gort".into(),
                read_heavy::<GortRt, async_lock::RwLock<u64>>,
            ),
        ],
    )
    .print_rows("rwmutex_read_heavy", OPS, "/op");
    paired::run(
        ROUNDS,
        &mut [
            timed(
                g,
                "gort".into(),
                semaphore_4_of_2::<GortRt, gort::sync::Semaphore>,
            ),
            timed(
                t,
                "tokio".into(),
                semaphore_4_of_2::<TokioRt, tokio::sync::Semaphore>,
            ),
            timed(
                t,
                "async_lock@tokio".into(),
                semaphore_4_of_2::<TokioRt, async_lock::Semaphore>,
            ),
            timed(
                g,
                "async_lock@gort".into(),
                semaphore_4_of_2::<GortRt, async_lock::Semaphore>,
            ),
        ],
    )
    .print_rows("semaphore_4_of_2", OPS, "/op");
    paired::run(
        ROUNDS,
        &mut [
            timed(
                g,
                "gort".into(),
                fan_in::<GortRt, Arc<gort::sync::WaitGroup>>,
            ),
            timed(
                t,
                "waitgroup@tokio".into(),
                fan_in::<TokioRt, waitgroup::WaitGroup>,
            ),
            timed(
                g,
                "waitgroup@gort".into(),
                fan_in::<GortRt, waitgroup::WaitGroup>,
            ),
        ],
    )
    .print_rows("waitgroup_fan_in_10k", FAN_IN as u64, "/goroutine");
    println!();
}

// ---- RwMutex ----

/// A reader-writer lock around a `u64` as the workload drives it.
trait BenchRwLock: Send + Sync + 'static {
    const NAME: &'static str;

    fn new() -> Self;
    /// Reads the value under a read lock.
    fn read_value(&self) -> impl Future<Output = u64> + Send;
    /// Adds one under the write lock.
    fn write_add(&self) -> impl Future<Output = ()> + Send;
}

/// `BenchRwLock` for the three peers, whose APIs have the same shape.
macro_rules! bench_rw_lock {
    ($ty:ty, $name:literal) => {
        impl BenchRwLock for $ty {
            const NAME: &'static str = $name;

            fn new() -> Self {
                <$ty>::new(0)
            }

            #[inline]
            async fn read_value(&self) -> u64 {
                *self.read().await
            }

            #[inline]
            async fn write_add(&self) {
                *self.write().await += 1;
            }
        }
    };
}

bench_rw_lock!(gort::sync::RwMutex<u64>, "gort");
bench_rw_lock!(tokio::sync::RwLock<u64>, "tokio");
bench_rw_lock!(async_lock::RwLock<u64>, "async_lock");

/// Go's `rwmutex_read_heavy`: 4 goroutines share `OPS` operations, one in a hundred a write.
async fn read_heavy<R: BenchRuntime, L: BenchRwLock>() {
    const GOROUTINES: u64 = 4;
    let lock = Arc::new(L::new());
    let tasks: Vec<_> = (0..GOROUTINES)
        .map(|_| {
            let lock = lock.clone();
            R::spawn(async move {
                let mut seen = 0;
                for i in 0..OPS / GOROUTINES {
                    if i % 100 == 99 {
                        lock.write_add().await;
                    } else {
                        seen = seen.max(lock.read_value().await);
                    }
                }
                seen
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a goroutine panicked");
    }
    assert_eq!(lock.read_value().await, OPS / 100, "lost a write");
}

// ---- Semaphore ----

/// A semaphore as the workload drives it: acquire one permit, release it.
trait BenchSemaphore: Send + Sync + 'static {
    const NAME: &'static str;

    fn new(permits: usize) -> Self;

    /// Acquires one permit and releases it.
    fn acquire_release(&self) -> impl Future<Output = ()> + Send;
}

impl BenchSemaphore for gort::sync::Semaphore {
    const NAME: &'static str = "gort";

    fn new(permits: usize) -> Self {
        gort::sync::Semaphore::new(permits as u64)
    }

    #[inline]
    async fn acquire_release(&self) {
        drop(self.acquire(1).await);
    }
}

impl BenchSemaphore for tokio::sync::Semaphore {
    const NAME: &'static str = "tokio";

    fn new(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }

    #[inline]
    async fn acquire_release(&self) {
        drop(self.acquire().await.expect("never closed"));
    }
}

impl BenchSemaphore for async_lock::Semaphore {
    const NAME: &'static str = "async_lock";

    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }

    #[inline]
    async fn acquire_release(&self) {
        drop(self.acquire().await);
    }
}

/// 4 goroutines share `OPS` acquire/release pairs on a semaphore of 2 permits.
async fn semaphore_4_of_2<R: BenchRuntime, S: BenchSemaphore>() {
    const GOROUTINES: u64 = 4;
    let sem = Arc::new(S::new(2));
    let tasks: Vec<_> = (0..GOROUTINES)
        .map(|_| {
            let sem = sem.clone();
            R::spawn(async move {
                for _ in 0..OPS / GOROUTINES {
                    sem.acquire_release().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an acquirer panicked");
    }
}

// ---- WaitGroup ----

/// Goroutines in the WaitGroup fan-in.
const FAN_IN: usize = 10_000;

/// A wait group as the workload drives it.
trait BenchWaitGroup: Send + Sync + Sized + 'static {
    const NAME: &'static str;
    /// What a goroutine holds to say it is done (the group itself, or a worker token).
    type Token: Send + 'static;

    /// A group for `n` goroutines, each its idiom's way: Go's `Add(n)` once for gort, one
    /// worker token per goroutine for the `waitgroup` crate.
    fn new(n: usize) -> Self;
    /// What one goroutine takes along.
    fn token(&self) -> Self::Token;
    fn done(token: Self::Token);
    fn wait(self) -> impl Future<Output = ()> + Send;
}

impl BenchWaitGroup for Arc<gort::sync::WaitGroup> {
    const NAME: &'static str = "gort";
    type Token = Arc<gort::sync::WaitGroup>;

    fn new(n: usize) -> Self {
        let wg = Arc::new(gort::sync::WaitGroup::new());
        wg.add(n);
        wg
    }

    fn token(&self) -> Self::Token {
        self.clone()
    }

    fn done(token: Self::Token) {
        token.done();
    }

    #[inline]
    async fn wait(self) {
        gort::sync::WaitGroup::wait(&self).await;
    }
}

impl BenchWaitGroup for waitgroup::WaitGroup {
    const NAME: &'static str = "waitgroup";
    type Token = waitgroup::Worker;

    fn new(_: usize) -> Self {
        waitgroup::WaitGroup::new()
    }

    fn token(&self) -> Self::Token {
        self.worker()
    }

    fn done(token: Self::Token) {
        drop(token);
    }

    #[inline]
    async fn wait(self) {
        waitgroup::WaitGroup::wait(self).await;
    }
}

/// `FAN_IN` goroutines each mark themselves done; this one waits for them all.
async fn fan_in<R: BenchRuntime, W: BenchWaitGroup>() {
    let wg = W::new(FAN_IN);
    for _ in 0..FAN_IN {
        let token = wg.token();
        drop(R::spawn(async move { W::done(token) }));
    }
    wg.wait().await;
}

fn bench_rw_semaphore_and_wait_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("rwmutex_read_heavy");
    configure(&mut group, OPS);
    let (g, t) = (
        GortRt::with_workers(WORKERS),
        TokioRt::with_workers(WORKERS),
    );
    macro_rules! rw_row {
        ($rt:expr, $R:ty, $L:ty) => {
            group.bench_function(named::<$R>(<$L>::NAME), |b| {
                b.iter(|| run(&$rt, read_heavy::<$R, $L>()))
            });
        };
    }
    rw_row!(g, GortRt, gort::sync::RwMutex<u64>);
    rw_row!(t, TokioRt, tokio::sync::RwLock<u64>);
    rw_row!(t, TokioRt, async_lock::RwLock<u64>);
    rw_row!(g, GortRt, async_lock::RwLock<u64>);
    group.finish();

    let mut group = c.benchmark_group("semaphore_4_of_2");
    configure(&mut group, OPS);
    let (g, t) = (
        GortRt::with_workers(WORKERS),
        TokioRt::with_workers(WORKERS),
    );
    macro_rules! sem_row {
        ($rt:expr, $R:ty, $S:ty) => {
            group.bench_function(named::<$R>(<$S>::NAME), |b| {
                b.iter(|| run(&$rt, semaphore_4_of_2::<$R, $S>()))
            });
        };
    }
    sem_row!(g, GortRt, gort::sync::Semaphore);
    sem_row!(t, TokioRt, tokio::sync::Semaphore);
    sem_row!(t, TokioRt, async_lock::Semaphore);
    sem_row!(g, GortRt, async_lock::Semaphore);
    group.finish();

    let mut group = c.benchmark_group("waitgroup_fan_in_10k");
    configure(&mut group, FAN_IN as u64);
    macro_rules! wg_row {
        ($rt:expr, $R:ty, $W:ty) => {
            group.bench_function(named::<$R>(<$W>::NAME), |b| {
                b.iter(|| run(&$rt, fan_in::<$R, $W>()))
            });
        };
    }
    wg_row!(g, GortRt, Arc<gort::sync::WaitGroup>);
    wg_row!(t, TokioRt, waitgroup::WaitGroup);
    wg_row!(g, GortRt, waitgroup::WaitGroup);
    group.finish();
}

/// The function name of a peer called `name` on runtime `R`.
fn named<R: BenchRuntime>(name: &str) -> String {
    if name == R::NAME {
        name.to_owned()
    } else {
        format!("{name}@{}", R::NAME)
    }
}

/// A paired-run contender that times `runs` runs of `workload` on `rt`.
fn timed<'a, R, F>(rt: &'a R, name: String, workload: impl Fn() -> F + 'a) -> Contender<'a>
where
    R: BenchRuntime,
    F: Future<Output = ()> + Send + 'static,
{
    let runs = 5;
    Contender::new(name, move || {
        let start = Instant::now();
        for _ in 0..runs {
            run(rt, workload());
        }
        start.elapsed() / runs
    })
}

criterion_group!(benches, bench_mutex, bench_rw_semaphore_and_wait_group);

fn main() {
    // The paired table runs unless criterion is only listing, or a filter names other rows.
    if gort_benches::reports::wanted("paired") {
        report_paired();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
