//! Timers, gort against tokio in one run: the cost of arming and cancelling a timer (a
//! million alive at once, and one at a time), the lateness of 100,000 sleepers waking
//! together, and the drift of a 1 ms ticker.
//!
//! The first two workloads are criterion groups; the other two measure distributions and totals,
//! which criterion does not report, so this binary prints them as a table before criterion
//! runs (same process, same machine state, both runtimes interleaved).
//!
//! The create+cancel rows also run in paired rounds (gort and tokio in turn, round after
//! round: see `gort_benches::paired`), printed as a table with the median ratio of the rounds.
//!
//! Run with `cargo bench -p gort-benches --bench time` (`-- paired` for the paired table
//! alone).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group};
use gort_benches::paired::{self, Contender, Paired};

const WORKERS: usize = 2;
const TIMERS: usize = 1_000_000;
const SLEEPERS: usize = 100_000;

fn gort_rt() -> gort::Runtime {
    gort::Builder::new().workers(WORKERS).build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap()
}

/// Arms `n` one-hour timers (a first poll registers each), then drops them all (cancel).
///
/// The timers are pinned in place in `slots`, allocated once by the caller and reused across
/// iterations, rather than boxed one by one: the row measures the timers, not the allocator or
/// the page faults of fresh memory. A real sleep lives inside its task's future, with no
/// allocation of its own.
fn arm_and_cancel<S: Future<Output = ()>>(slots: &mut Vec<S>, n: usize, make: impl Fn() -> S) {
    assert!(slots.is_empty() && slots.capacity() >= n);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..n {
        slots.push(make());
        let last = slots.last_mut().expect("just pushed");
        // SAFETY: `slots` has room for `n` elements and never grows past them here, so it
        // never reallocates, and `clear` below drops its elements in place. The future is
        // therefore never moved after this pin.
        let s = unsafe { Pin::new_unchecked(last) };
        assert!(s.poll(&mut cx).is_pending());
    }
    slots.clear();
}

/// A criterion group of 10 samples over 8 s (each sample arms a million timers).
fn timer_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group
}

fn create_cancel(c: &mut Criterion) {
    let mut group = timer_group(c, "timer_create_cancel_1m");
    let rt = gort_rt();
    group.bench_function("gort", |b| {
        let mut slots = Vec::with_capacity(TIMERS);
        b.iter(|| {
            rt.block_on(async {
                arm_and_cancel(&mut slots, TIMERS, || {
                    gort::time::sleep(Duration::from_secs(3600))
                })
            })
        })
    });
    drop(rt);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        let mut slots = Vec::with_capacity(TIMERS);
        b.iter(|| {
            rt.block_on(async {
                arm_and_cancel(&mut slots, TIMERS, || {
                    tokio::time::sleep(Duration::from_secs(3600))
                })
            })
        })
    });
    group.finish();
}

/// Arms and cancels `n` one-hour timers one at a time: each is created, armed by a first poll
/// and dropped before the next (a timeout around an operation that finishes first).
fn arm_and_cancel_each<S: Future<Output = ()>>(n: usize, make: impl Fn() -> S) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..n {
        let mut s = std::pin::pin!(make());
        assert!(s.as_mut().poll(&mut cx).is_pending());
    }
}

fn create_cancel_each(c: &mut Criterion) {
    let mut group = timer_group(c, "timer_create_cancel_each_1m");
    let rt = gort_rt();
    group.bench_function("gort", |b| {
        b.iter(|| {
            rt.block_on(async {
                arm_and_cancel_each(TIMERS, || gort::time::sleep(Duration::from_secs(3600)))
            })
        })
    });
    drop(rt);
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                arm_and_cancel_each(TIMERS, || tokio::time::sleep(Duration::from_secs(3600)))
            })
        })
    });
    group.finish();
}

criterion_group!(benches, create_cancel, create_cancel_each);

/// p50, p99 and max of `lateness`, in microseconds.
fn percentiles(mut lateness: Vec<Duration>) -> (f64, f64, f64) {
    lateness.sort_unstable();
    let at = |q: f64| lateness[((lateness.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(1.0))
}

/// 100,000 goroutines each sleep 10 ms; returns each wake-up's lateness past its deadline and
/// the wall time from the first spawn to the last wake-up.
macro_rules! sleepers {
    ($spawn:path, $sleep:path) => {
        async {
            let start = Instant::now();
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|_| {
                    $spawn(async {
                        let deadline = Instant::now() + Duration::from_millis(10);
                        $sleep(Duration::from_millis(10)).await;
                        Instant::now().saturating_duration_since(deadline)
                    })
                })
                .collect();
            let mut late = Vec::with_capacity(SLEEPERS);
            for h in handles {
                late.push(h.await.unwrap());
            }
            (late, start.elapsed())
        }
    };
}

/// The same, with a spawner that yields every 1,000 spawns, as Go's scheduler preempts a
/// goroutine that runs too long: the spawn loop then no longer holds one of the two workers
/// for its whole duration.
macro_rules! sleepers_yielding {
    ($spawn:path, $sleep:path, $yield_now:path) => {
        async {
            let start = Instant::now();
            let mut handles = Vec::with_capacity(SLEEPERS);
            for i in 0..SLEEPERS {
                handles.push($spawn(async {
                    let deadline = Instant::now() + Duration::from_millis(10);
                    $sleep(Duration::from_millis(10)).await;
                    Instant::now().saturating_duration_since(deadline)
                }));
                if i % 1000 == 999 {
                    $yield_now().await;
                }
            }
            let mut late = Vec::with_capacity(SLEEPERS);
            for h in handles {
                late.push(h.await.unwrap());
            }
            (late, start.elapsed())
        }
    };
}

/// 1,000 ticks of a 1 ms ticker: how far the 1,000th tick lands from 1 s, in percent.
macro_rules! ticker_drift {
    ($tick:expr) => {
        async {
            let start = Instant::now();
            let mut ticker = $tick;
            for _ in 0..1000 {
                ticker.tick().await;
            }
            (start.elapsed().as_secs_f64() - 1.0).abs() * 100.0
        }
    };
}

fn report() {
    println!("\n| workload | runtime | p50 late | p99 late | max late | all done |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for round in 0..3 {
        {
            let rt = gort_rt();
            let (late, wall) = rt.block_on(sleepers!(gort::go, gort::time::sleep));
            let (p50, p99, max) = percentiles(late);
            println!(
                "| sleep_10ms_100k (run {round}) | gort | {p50:.0} µs | {p99:.0} µs | {max:.0} µs | {:.1} ms |",
                wall.as_secs_f64() * 1e3
            );
        }
        {
            let rt = tokio_rt();
            let (late, wall) = rt.block_on(sleepers!(tokio::spawn, tokio::time::sleep));
            let (p50, p99, max) = percentiles(late);
            println!(
                "| sleep_10ms_100k (run {round}) | tokio | {p50:.0} µs | {p99:.0} µs | {max:.0} µs | {:.1} ms |",
                wall.as_secs_f64() * 1e3
            );
        }
    }
    for round in 0..3 {
        {
            let rt = gort_rt();
            let (late, wall) = rt.block_on(sleepers_yielding!(
                gort::go,
                gort::time::sleep,
                gort::yield_now
            ));
            let (p50, p99, max) = percentiles(late);
            println!(
                "| sleep_10ms_100k_yielding_spawner (run {round}) | gort | {p50:.0} µs | {p99:.0} µs | {max:.0} µs | {:.1} ms |",
                wall.as_secs_f64() * 1e3
            );
        }
        {
            let rt = tokio_rt();
            let (late, wall) = rt.block_on(sleepers_yielding!(
                tokio::spawn,
                tokio::time::sleep,
                tokio::task::yield_now
            ));
            let (p50, p99, max) = percentiles(late);
            println!(
                "| sleep_10ms_100k_yielding_spawner (run {round}) | tokio | {p50:.0} µs | {p99:.0} µs | {max:.0} µs | {:.1} ms |",
                wall.as_secs_f64() * 1e3
            );
        }
    }
    println!("\n| workload | runtime | drift of the 1,000th tick |");
    println!("| --- | --- | --- |");
    for round in 0..3 {
        let d = gort_rt().block_on(ticker_drift!(gort::time::interval(Duration::from_millis(
            1
        ))));
        println!("| ticker_1ms_1s (run {round}) | gort | {d:.2} % |");
        let d = tokio_rt().block_on(ticker_drift!(tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_millis(1),
            Duration::from_millis(1)
        )));
        println!("| ticker_1ms_1s (run {round}) | tokio | {d:.2} % |");
    }
    println!();
}

/// Rounds of the paired table.
const ROUNDS: usize = 15;

/// A timer a paired sample arms: one hour, so none fires.
const HOUR: Duration = Duration::from_secs(3600);

/// One paired row: `gort` and `tokio` each run one sample (a million timers) when called.
fn paired_row(name: &str, mut gort: impl FnMut(), mut tokio: impl FnMut()) {
    fn timed(f: &mut impl FnMut()) -> Duration {
        let start = Instant::now();
        f();
        start.elapsed()
    }
    paired::run(
        ROUNDS,
        &mut [
            Contender::new("gort", || timed(&mut gort)),
            Contender::new("tokio", || timed(&mut tokio)),
        ],
    )
    .print_rows(name, TIMERS as u64, "/timer");
}

/// The create+cancel rows in paired rounds, one call of a million timers per sample.
fn report_paired() {
    let (g, t) = (gort_rt(), tokio_rt());
    Paired::print_header("Timers", ROUNDS);
    let (mut gort_slots, mut tokio_slots) =
        (Vec::with_capacity(TIMERS), Vec::with_capacity(TIMERS));
    paired_row(
        "timer_create_cancel_1m",
        || {
            g.block_on(async {
                arm_and_cancel(&mut gort_slots, TIMERS, || gort::time::sleep(HOUR))
            })
        },
        || {
            t.block_on(async {
                arm_and_cancel(&mut tokio_slots, TIMERS, || tokio::time::sleep(HOUR))
            })
        },
    );
    paired_row(
        "timer_create_cancel_each_1m",
        || g.block_on(async { arm_and_cancel_each(TIMERS, || gort::time::sleep(HOUR)) }),
        || t.block_on(async { arm_and_cancel_each(TIMERS, || tokio::time::sleep(HOUR)) }),
    );
    println!();
}

fn main() {
    // `cargo bench --no-run` builds; `cargo bench` runs the report, then criterion.
    use gort_benches::reports::wanted;
    if wanted("sleep_10ms_100k ticker_1ms_1s") {
        report();
    }
    if wanted("paired") {
        report_paired();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
