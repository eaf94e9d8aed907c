//! Allocators, gort's against its peers in one run: mimalloc, jemalloc (tikv-jemallocator) and
//! the system allocator (glibc's malloc on Linux).
//!
//! `#[global_allocator]` is one per binary, so the allocators are not installed: each workload
//! is written once, generic over [`BenchAlloc`], and calls the allocator's `GlobalAlloc`
//! methods directly. All four are unit structs, so the calls monomorphize to direct calls, as
//! they would be through `#[global_allocator]`. Everything else in this binary (criterion, the
//! threads, the channels) allocates through the system allocator, the same for every peer.
//!
//! The workloads, one criterion group each, one function per allocator:
//!
//! - `alloc_churn`: one thread frees and allocates in a ring of 1,000 live blocks of 8 to 512
//!   bytes: the thread cache's fast path.
//! - `alloc_larson`: the shape of Larson and Krishnan's server benchmark: 2 threads each
//!   replace random blocks (16 to 1,024 bytes) in an array of 1,000, then swap arrays, so half
//!   of the frees hit blocks the other thread allocated.
//! - `alloc_xmalloc`: the shape of xmalloc-test: a producer allocates blocks of 16 to 256 bytes
//!   and hands them in batches to a consumer thread, which frees every one: all frees remote.
//! - `alloc_mixed_4_threads`: 4 threads, each with a window of 256 live blocks, sizes mixed
//!   70% small (8 to 256 B), 25% medium (to 32 KiB) and 5% large (to 256 KiB).
//!
//! Each workload touches the first byte of every block, and checks it before freeing, so no
//! allocator can skip work. Sizes come from a fixed xorshift sequence per thread, the same
//! for every allocator.
//!
//! Before criterion runs, the binary measures each workload's peak resident set with each
//! allocator, one fresh process per pair (it re-runs itself with `GORT_BENCH_ALLOC_RSS` set),
//! and prints them as a table.
//!
//! Then it runs every workload in paired rounds (the four allocators in turn, round after round:
//! see `gort_benches::paired`) and prints the median ratio of the rounds as a table.
//!
//! Run with `cargo bench -p gort-benches --bench alloc` (`-- peak_rss` for the RSS table alone,
//! `-- paired` for the paired table alone).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group};
use gort_benches::paired::{self, Contender, Paired};

/// An allocator as the workloads call it: a `GlobalAlloc` unit struct with a name.
trait BenchAlloc: GlobalAlloc + Send + Sync + 'static {
    /// The function name inside each criterion group.
    const NAME: &'static str;
    /// The allocator value.
    const VALUE: Self;
}

impl BenchAlloc for gort::alloc::GortAlloc {
    const NAME: &'static str = "gort";
    const VALUE: Self = gort::alloc::GortAlloc;
}

impl BenchAlloc for mimalloc::MiMalloc {
    const NAME: &'static str = "mimalloc";
    const VALUE: Self = mimalloc::MiMalloc;
}

impl BenchAlloc for tikv_jemallocator::Jemalloc {
    const NAME: &'static str = "jemalloc";
    const VALUE: Self = tikv_jemallocator::Jemalloc;
}

impl BenchAlloc for System {
    const NAME: &'static str = "system";
    const VALUE: Self = System;
}

/// Blocks in the single-thread ring.
const RING: usize = 1_000;
/// Allocations per iteration of every workload, per thread.
const OPS: usize = 10_000;
/// Blocks in each larson thread's array.
const LARSON_SLOTS: usize = 1_000;
/// Blocks per batch handed from the xmalloc producer to its consumer.
const BATCH: usize = 100;
/// Live blocks per thread of the mixed workload.
const WINDOW: usize = 256;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// A block and its layout; a plain address, so it can cross threads.
#[derive(Clone, Copy)]
struct Block {
    addr: usize,
    layout: Layout,
}

/// A deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.next() as usize % (high - low + 1)
    }
}

/// Allocates `size` bytes with `A` and writes the first byte.
fn alloc<A: BenchAlloc>(size: usize) -> Block {
    let layout = Layout::from_size_align(size, 8).unwrap();
    // SAFETY: `size` is never zero in these workloads.
    let ptr = unsafe { A::VALUE.alloc(layout) };
    assert!(!ptr.is_null(), "{} out of memory", A::NAME);
    // SAFETY: the block is ours and at least one byte long.
    unsafe { ptr.write(size as u8) };
    Block {
        addr: ptr as usize,
        layout,
    }
}

/// Checks the first byte of a block from [`alloc`] and frees it with `A`.
fn free<A: BenchAlloc>(block: Block) {
    let ptr = block.addr as *mut u8;
    // SAFETY: a live block of `A`, freed once with its layout.
    unsafe {
        assert_eq!(ptr.read(), block.layout.size() as u8);
        A::VALUE.dealloc(ptr, block.layout);
    }
}

/// Runs `work(thread, iters)` on `threads` threads started together; returns the wall time.
fn timed_threads(
    threads: usize,
    iters: u64,
    work: impl Fn(usize, u64) + Send + Sync + 'static,
) -> Duration {
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (work, barrier) = (Arc::clone(&work), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                work(t, iters);
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for handle in handles {
        handle.join().unwrap();
    }
    start.elapsed()
}

/// A workload, run once per allocator inside its group.
trait Workload {
    /// The criterion group's name.
    const NAME: &'static str;
    /// Allocations per iteration, over all threads.
    const ELEMENTS: usize;
    /// Runs `iters` iterations with `A` and returns the time they took (set-up excluded).
    fn once<A: BenchAlloc>(iters: u64) -> Duration;

    /// Adds `A`'s function to the group.
    fn run<A: BenchAlloc>(g: &mut Group<'_>) {
        g.bench_function(A::NAME, |b| b.iter_custom(Self::once::<A>));
    }
}

struct Churn;
struct Larson;
struct Xmalloc;
struct Mixed;

impl Workload for Churn {
    const NAME: &'static str = "alloc_churn";
    const ELEMENTS: usize = OPS;

    fn once<A: BenchAlloc>(iters: u64) -> Duration {
        let mut rng = Rng::new(1);
        let mut ring: Vec<Block> = (0..RING).map(|_| alloc::<A>(rng.between(8, 512))).collect();
        let mut next = 0;
        let start = Instant::now();
        for _ in 0..iters {
            for _ in 0..OPS {
                free::<A>(ring[next]);
                ring[next] = alloc::<A>(rng.between(8, 512));
                next = (next + 1) % RING;
            }
        }
        let elapsed = start.elapsed();
        ring.into_iter().for_each(free::<A>);
        elapsed
    }
}

impl Workload for Larson {
    const NAME: &'static str = "alloc_larson";
    const ELEMENTS: usize = 2 * OPS;

    fn once<A: BenchAlloc>(iters: u64) -> Duration {
        let arrays: Arc<Vec<std::sync::Mutex<Vec<Block>>>> = Arc::new(
            (0..2u64)
                .map(|t| {
                    let mut rng = Rng::new(t + 10);
                    std::sync::Mutex::new(
                        (0..LARSON_SLOTS)
                            .map(|_| alloc::<A>(rng.between(16, 1024)))
                            .collect(),
                    )
                })
                .collect(),
        );
        let swap = Arc::new(Barrier::new(2));
        let shared = Arc::clone(&arrays);
        let elapsed = timed_threads(2, iters, move |t, iters| {
            let mut rng = Rng::new(t as u64 + 20);
            for round in 0..iters as usize {
                // Half of each round on this thread's array, half on the other's.
                for half in 0..2 {
                    let mut slots = shared[(t + round + half) % 2].lock().unwrap();
                    for _ in 0..OPS / 2 {
                        let i = rng.between(0, LARSON_SLOTS - 1);
                        free::<A>(slots[i]);
                        slots[i] = alloc::<A>(rng.between(16, 1024));
                    }
                    drop(slots);
                    swap.wait();
                }
            }
        });
        for array in arrays.iter() {
            array.lock().unwrap().drain(..).for_each(free::<A>);
        }
        elapsed
    }
}

impl Workload for Xmalloc {
    const NAME: &'static str = "alloc_xmalloc";
    const ELEMENTS: usize = OPS;

    fn once<A: BenchAlloc>(iters: u64) -> Duration {
        let (tx, rx) = mpsc::sync_channel::<Vec<Block>>(16);
        let rx = std::sync::Mutex::new(Some(rx));
        timed_threads(2, iters, move |t, iters| {
            let total = iters as usize * OPS;
            if t == 0 {
                let mut rng = Rng::new(30);
                let mut sent = 0;
                while sent < total {
                    let n = BATCH.min(total - sent);
                    tx.send((0..n).map(|_| alloc::<A>(rng.between(16, 256))).collect())
                        .unwrap();
                    sent += n;
                }
            } else {
                let rx = rx.lock().unwrap().take().unwrap();
                let mut freed = 0;
                while freed < total {
                    let batch = rx.recv().unwrap();
                    freed += batch.len();
                    batch.into_iter().for_each(free::<A>);
                }
            }
        })
    }
}

impl Workload for Mixed {
    const NAME: &'static str = "alloc_mixed_4_threads";
    const ELEMENTS: usize = 4 * OPS;

    fn once<A: BenchAlloc>(iters: u64) -> Duration {
        timed_threads(4, iters, |t, iters| {
            let mut rng = Rng::new(t as u64 + 40);
            let mut size = move || match rng.next() % 100 {
                0..=69 => rng.between(8, 256),
                70..=94 => rng.between(257, 32 << 10),
                _ => rng.between((32 << 10) + 1, 256 << 10),
            };
            let mut window: Vec<Block> = (0..WINDOW).map(|_| alloc::<A>(size())).collect();
            for op in 0..iters as usize * OPS {
                let i = op % WINDOW;
                free::<A>(window[i]);
                window[i] = alloc::<A>(black_box(size()));
            }
            window.into_iter().for_each(free::<A>);
        })
    }
}

/// Runs `W` for every allocator, side by side in one group.
fn peers<W: Workload>(c: &mut Criterion) {
    let mut g = c.benchmark_group(W::NAME);
    g.throughput(Throughput::Elements(W::ELEMENTS as u64));
    g.sample_size(20);
    W::run::<gort::alloc::GortAlloc>(&mut g);
    W::run::<mimalloc::MiMalloc>(&mut g);
    W::run::<tikv_jemallocator::Jemalloc>(&mut g);
    W::run::<System>(&mut g);
    g.finish();
}

fn benches(c: &mut Criterion) {
    peers::<Churn>(c);
    peers::<Larson>(c);
    peers::<Xmalloc>(c);
    peers::<Mixed>(c);
}

// ---- peak RSS ----

/// Iterations of a workload in its peak-RSS process.
const RSS_ITERS: u64 = 20;

/// The environment variable that makes this binary a peak-RSS child: `workload/allocator`.
const RSS_CHILD: &str = "GORT_BENCH_ALLOC_RSS";

/// This process's peak resident set (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs `W` with the allocator named `alloc` (`none`: nothing, the process's baseline).
fn run_named<W: Workload>(alloc: &str) {
    match alloc {
        "gort" => drop(W::once::<gort::alloc::GortAlloc>(RSS_ITERS)),
        "mimalloc" => drop(W::once::<mimalloc::MiMalloc>(RSS_ITERS)),
        "jemalloc" => drop(W::once::<tikv_jemallocator::Jemalloc>(RSS_ITERS)),
        "system" => drop(W::once::<System>(RSS_ITERS)),
        "none" => {}
        other => panic!("unknown allocator {other}"),
    }
}

/// In a peak-RSS child: runs the workload asked for, prints the peak and exits.
fn rss_child(spec: &str) -> ! {
    let (workload, alloc) = spec.split_once('/').expect("workload/allocator");
    match workload {
        "alloc_churn" => run_named::<Churn>(alloc),
        "alloc_larson" => run_named::<Larson>(alloc),
        "alloc_xmalloc" => run_named::<Xmalloc>(alloc),
        "alloc_mixed_4_threads" => run_named::<Mixed>(alloc),
        other => panic!("unknown workload {other}"),
    }
    println!("{}", peak_rss_kib());
    std::process::exit(0);
}

/// Peak RSS of each workload with each allocator, one fresh process each (the resident set
/// cannot be told apart per allocator inside one process), printed as a table.
fn report_rss() {
    let exe = std::env::current_exe().expect("the bench binary");
    let peak = |spec: String| -> u64 {
        let out = std::process::Command::new(&exe)
            .env(RSS_CHILD, &spec)
            .output()
            .expect("a peak-RSS child");
        assert!(
            out.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a KiB count")
    };
    let base = peak("alloc_churn/none".to_string());
    println!(
        "\n| workload ({RSS_ITERS} iterations) | gort | mimalloc | jemalloc | system | gort / mimalloc |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for workload in [
        "alloc_churn",
        "alloc_larson",
        "alloc_xmalloc",
        "alloc_mixed_4_threads",
    ] {
        let kib: Vec<u64> = ["gort", "mimalloc", "jemalloc", "system"]
            .iter()
            .map(|a| peak(format!("{workload}/{a}")))
            .collect();
        let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
        println!(
            "| {workload} | {} | {} | {} | {} | {:.2} |",
            mib(kib[0]),
            mib(kib[1]),
            mib(kib[2]),
            mib(kib[3]),
            kib[0] as f64 / kib[1] as f64
        );
    }
    println!(
        "(peak resident set of the whole process; the baseline with no workload: {:.1} MiB)\n",
        base as f64 / 1024.0
    );
}

// ---- paired rounds ----

/// Rounds of the paired table.
const ROUNDS: usize = 31;

/// `W` in paired rounds with the four allocators, `iters` iterations per sample.
fn paired_rows<W: Workload>(iters: u64) {
    fn contender<'a, W: Workload, A: BenchAlloc>(iters: u64) -> Contender<'a> {
        Contender::new(A::NAME, move || W::once::<A>(iters))
    }
    paired::run(
        ROUNDS,
        &mut [
            contender::<W, gort::alloc::GortAlloc>(iters),
            contender::<W, mimalloc::MiMalloc>(iters),
            contender::<W, tikv_jemallocator::Jemalloc>(iters),
            contender::<W, System>(iters),
        ],
    )
    .print_rows(W::NAME, iters, "");
}

/// Every workload in paired rounds, samples of about 20 ms, printed as a table (times per
/// iteration, as criterion's).
fn report_paired() {
    Paired::print_header("Allocators", ROUNDS);
    paired_rows::<Churn>(200);
    paired_rows::<Larson>(80);
    paired_rows::<Xmalloc>(80);
    paired_rows::<Mixed>(50);
    println!();
}

criterion_group!(alloc_benches, benches);

fn main() {
    if let Ok(spec) = std::env::var(RSS_CHILD) {
        rss_child(&spec);
    }
    use gort_benches::reports::wanted;
    if wanted("peak_rss") {
        report_rss();
    }
    if wanted("paired") {
        report_paired();
    }
    alloc_benches();
    Criterion::default().configure_from_args().final_summary();
}
