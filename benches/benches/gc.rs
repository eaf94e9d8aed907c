//! Garbage collectors, gort's against its peers in one process: `Box`, `Rc` and `Arc` (no
//! collector: the floor and the everyday choices), rust-gc (the `gc` crate: thread-local,
//! stop-the-world mark-sweep), dumpster (reference counting plus cycle detection, its
//! thread-local `unsync::Gc` and its shared `sync::Gc`) and gc-arena (incremental mark-sweep
//! inside an `Arena`).
//!
//! The workloads:
//!
//! 1. **binary-trees**, by the Benchmarks Game's rules: a stretch tree of depth `max + 1` is
//!    built, checked (its nodes counted) and dropped; a long-lived tree of depth `max` is kept
//!    for the whole run; for each depth `d = 4, 6, ..., max`, `2^(max - d + 4)` trees of depth
//!    `d` are built, checked and dropped; the long-lived tree is checked last. A node holds two
//!    optional children and nothing else. Every check value is asserted in every run, so a
//!    wrong computation never produces a number. Go's twin is
//!    `anchors/go/cmd/binary_trees` (25.7 s at depth 21 on 2 cores, `anchors/go/RESULTS.md`).
//!    - In paired rounds (gort and every peer in turn, round after round, the order rotating:
//!      see `gort_benches::paired`) at depth 21, all single-threaded, then a parallel set in
//!      which each depth's short-lived trees are split over 2 threads, for the variants whose
//!      heap is shared between threads (`Arc`, dumpster's `sync::Gc`, gort). With the table
//!      come each variant's process CPU time per run (gort's collector runs on its own
//!      thread, beside a single-threaded mutator) and gort's cycles and pauses.
//!    - As criterion groups at depth 14 (`binary_trees_14`, `binary_trees_14_parallel`).
//! 2. **pauses with 1 GiB live**, after Go's twin `anchors/go/cmd/gc_pause`: a live tree of
//!    2^24 - 1 nodes of 64 bytes (two pointers and padding), while one thread builds and drops
//!    depth-9 trees of the same node (1,023 nodes, 64 KiB) non-stop for 10 s. Reported: the
//!    cycles during the window, the p99 and max of gort's stop-the-world pauses over the
//!    window, the garbage trees built per second, the same rate first measured for 3 s with no
//!    big heap, how late a thread sleeping 1 ms at a time wakes, and the peak RSS. gort and
//!    `Arc` (no collector, the same tree) each run in a fresh process (this binary re-runs
//!    itself with `GORT_BENCH_GC_PAUSE` set), so that the peak RSS is theirs alone. Go ran 4
//!    cycles, pause p99 = max = 91.5 µs, 9,280 trees/s (68% of its small-heap rate).
//! 3. **allocation rate** (`gc_alloc_1m`, a criterion group, also in the paired table):
//!    1,000,000 objects of a 32-byte payload allocated with `gort::gc::Gc::new`, `Box::new`
//!    and `Arc::new`, and dropped at the end of each iteration (gort's become garbage, freed
//!    by the collector on its own thread).
//!
//! Environment: `BINARY_TREES_DEPTH` (default 21) and `BINARY_TREES_ROUNDS` (default 5) for
//! the paired binary-trees tables, `BINARY_TREES_PEERS` (say `Arc,dumpster_unsync`) to run
//! only some peers beside gort in the one-thread table, `GC_PAUSE_SECS` (default 10) for the pause window. Every
//! variant allocates through the system allocator (glibc's malloc), except gort's `Gc`,
//! which has its own spaces.
//!
//! Run with `cargo bench -p gort-benches --bench gc` for everything: the paired tables, the
//! pause table, then criterion's groups (without plots: drawing them took longer than the
//! runs). One part alone:
//!
//! - `-- paired`: the paired tables (`-- paired_binary_trees_parallel` or
//!   `-- paired_gc_alloc`: that one alone); at depth 21 they take about an hour here, most of
//!   it rust-gc's and gc-arena's runs (3 minutes each);
//! - `-- gc_pause`: the pause table;
//! - `-- binary` or `-- gc_alloc`: criterion's groups.
//!
//! A quick check of everything:
//! `BINARY_TREES_DEPTH=16 GC_PAUSE_SECS=3 cargo bench -p gort-benches --bench gc`.

use std::cell::RefCell;
use std::hint::black_box;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use gort_benches::gc_pauses::{PauseLog, logging_pauses, quantile};
use gort_benches::paired::{self, Contender, Paired};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

// ---- the trees ----

/// A tree whose nodes live behind one kind of pointer: built bottom-up, checked by counting.
trait Tree: Sized {
    /// The variant's name in the tables.
    const NAME: &'static str;
    /// A complete tree of `depth` (a lone node at depth 0).
    fn create(depth: u32) -> Self;
    /// The number of nodes.
    fn check(&self) -> u64;
    /// After a timed run: frees what the variant's collector still holds, so that the next
    /// contender does not pay for it.
    fn settle() {}
}

/// `Tree` for `$ptr<$node>`, a node with two optional children `left` and `right`, then the
/// `$field`s (padding, zeroed).
macro_rules! tree {
    (
        $node:ident in $($ptr:ident)::+ as $name:literal
        $(, settle with $settle:path)? $(; $field:ident)*
    ) => {
        impl Tree for $($ptr)::+<$node> {
            const NAME: &'static str = $name;

            fn create(depth: u32) -> Self {
                let (left, right) = match depth {
                    0 => (None, None),
                    _ => (Some(Self::create(depth - 1)), Some(Self::create(depth - 1))),
                };
                <$($ptr)::+<$node>>::new($node { left, right, $($field: Default::default(),)* })
            }

            fn check(&self) -> u64 {
                let count = |child: &Option<Self>| child.as_ref().map_or(0, |c| c.check());
                1 + count(&self.left) + count(&self.right)
            }

            $(fn settle() { $settle() })?
        }
    };
}

struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
}

struct RcNode {
    left: Option<Rc<RcNode>>,
    right: Option<Rc<RcNode>>,
}

struct ArcNode {
    left: Option<Arc<ArcNode>>,
    right: Option<Arc<ArcNode>>,
}

/// rust-gc's node, in a module of its own: gc_derive 0.5 (the latest) wraps its impls in a
/// `const _` block, which rustc now flags.
mod rust_gc_node {
    #![expect(
        non_local_definitions,
        reason = "gc_derive 0.5's impls in a `const _` block"
    )]

    #[derive(gc::Trace, gc::Finalize)]
    pub(crate) struct RustGcNode {
        pub(crate) left: Option<gc::Gc<RustGcNode>>,
        pub(crate) right: Option<gc::Gc<RustGcNode>>,
    }
}
use rust_gc_node::RustGcNode;

#[derive(dumpster::Trace)]
struct DumpsterNode {
    left: Option<dumpster::unsync::Gc<DumpsterNode>>,
    right: Option<dumpster::unsync::Gc<DumpsterNode>>,
}

#[derive(dumpster::Trace)]
struct DumpsterSyncNode {
    left: Option<dumpster::sync::Gc<DumpsterSyncNode>>,
    right: Option<dumpster::sync::Gc<DumpsterSyncNode>>,
}

#[derive(gort::gc::Trace)]
struct GortNode {
    left: Option<gort::gc::Gc<GortNode>>,
    right: Option<gort::gc::Gc<GortNode>>,
}

tree!(BoxNode in Box as "Box");
tree!(RcNode in Rc as "Rc");
tree!(ArcNode in Arc as "Arc");
tree!(RustGcNode in gc::Gc as "gc", settle with gc::force_collect);
tree!(DumpsterNode in dumpster::unsync::Gc as "dumpster_unsync", settle with dumpster::unsync::collect);
tree!(DumpsterSyncNode in dumpster::sync::Gc as "dumpster_sync", settle with dumpster::sync::collect);
tree!(GortNode in gort::gc::Gc as "gort", settle with gort::gc::collect);

/// gc-arena's node: its `Gc` is a plain pointer branded with the arena's lifetime.
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct ArenaNode<'gc> {
    left: Option<gc_arena::Gc<'gc, ArenaNode<'gc>>>,
    right: Option<gc_arena::Gc<'gc, ArenaNode<'gc>>>,
}

impl<'gc> ArenaNode<'gc> {
    fn create(mc: &gc_arena::Mutation<'gc>, depth: u32) -> gc_arena::Gc<'gc, ArenaNode<'gc>> {
        let (left, right) = match depth {
            0 => (None, None),
            _ => (
                Some(Self::create(mc, depth - 1)),
                Some(Self::create(mc, depth - 1)),
            ),
        };
        gc_arena::Gc::new(mc, ArenaNode { left, right })
    }

    fn check(&self) -> u64 {
        let count = |child: &Option<gc_arena::Gc<'gc, Self>>| child.map_or(0, |c| c.check());
        1 + count(&self.left) + count(&self.right)
    }
}

/// gc-arena's root: the long-lived tree, once built.
#[derive(gc_arena::Collect)]
#[collect(no_drop)]
struct ArenaRoot<'gc> {
    long_lived: Option<gc_arena::Gc<'gc, ArenaNode<'gc>>>,
}

// ---- binary-trees ----

/// The smallest depth of short-lived trees.
const MIN_DEPTH: u32 = 4;
/// The depth of the criterion groups.
const CRITERION_DEPTH: u32 = 14;

/// The nodes of a complete tree of `depth`.
fn nodes(depth: u32) -> u64 {
    (1 << (depth + 1)) - 1
}

/// A heap the binary-trees workload runs on: one pointer variant (`Heap`), or a gc-arena
/// `Arena` (`ArenaTrees`).
trait Trees {
    /// The variant's name in the tables.
    const NAME: &'static str;
    /// An empty heap.
    fn new() -> Self;
    /// Builds `n` trees of `depth`, checks each and drops it; the sum of their checks.
    fn check_many(&mut self, depth: u32, n: u64) -> u64;
    /// Builds the long-lived tree of `depth`.
    fn keep(&mut self, depth: u32);
    /// Checks the long-lived tree.
    fn check_kept(&self) -> u64;
    /// Frees what the variant's collector still holds, after a timed run.
    fn settle();
}

/// The trees of pointer variant `T`, the short-lived ones of each depth spread over `THREADS`
/// threads (the calling one and `THREADS - 1` scoped ones).
struct Heap<T, const THREADS: u64> {
    long_lived: Option<T>,
}

impl<T: Tree, const THREADS: u64> Trees for Heap<T, THREADS> {
    const NAME: &'static str = T::NAME;

    fn new() -> Self {
        Heap { long_lived: None }
    }

    fn check_many(&mut self, depth: u32, n: u64) -> u64 {
        let share = move |t: u64| n / THREADS + u64::from(t < n % THREADS);
        let checks = move |t: u64| (0..share(t)).map(|_| T::create(depth).check()).sum::<u64>();
        thread::scope(|s| {
            let others: Vec<_> = (1..THREADS).map(|t| s.spawn(move || checks(t))).collect();
            let joined = others.into_iter().map(|h| h.join().expect("a tree thread"));
            checks(0) + joined.sum::<u64>()
        })
    }

    fn keep(&mut self, depth: u32) {
        self.long_lived = Some(T::create(depth));
    }

    fn check_kept(&self) -> u64 {
        self.long_lived
            .as_ref()
            .expect("the long-lived tree")
            .check()
    }

    fn settle() {
        T::settle()
    }
}

/// The trees of a gc-arena `Arena` rooted at the long-lived tree. Each short-lived tree is
/// built and checked inside one `mutate` call, and the arena pays its collection debt between
/// calls, as its docs recommend (collection can only run outside `mutate`).
struct ArenaTrees(gc_arena::Arena<gc_arena::Rootable![ArenaRoot<'_>]>);

impl Trees for ArenaTrees {
    const NAME: &'static str = "gc-arena";

    fn new() -> Self {
        ArenaTrees(gc_arena::Arena::new(|_| ArenaRoot { long_lived: None }))
    }

    fn check_many(&mut self, depth: u32, n: u64) -> u64 {
        let mut sum = 0;
        for _ in 0..n {
            sum += self.0.mutate(|mc, _| ArenaNode::create(mc, depth).check());
            self.0.collect_debt();
        }
        sum
    }

    fn keep(&mut self, depth: u32) {
        self.0
            .mutate_root(|mc, root| root.long_lived = Some(ArenaNode::create(mc, depth)));
    }

    fn check_kept(&self) -> u64 {
        self.0
            .mutate(|_, root| root.long_lived.expect("the long-lived tree").check())
    }

    fn settle() {}
}

/// One timed run: its wall time, and the CPU time of the whole process meanwhile.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// The process's CPU time so far, user and system, every thread, dead ones included
/// (`/proc/self/stat`, in ticks of 10 ms: Linux's `USER_HZ` is 100).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("/proc/self/stat's command")
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// One binary-trees run of depth `max` on heap `H`, every check asserted; the heap is dropped
/// after the clock stops.
fn binary_trees<H: Trees>(max: u32) -> Sample {
    let (cpu, start) = (cpu_time(), Instant::now());
    let mut heap = H::new();
    let stretch = max + 1;
    let check = heap.check_many(stretch, 1);
    assert_eq!(check, nodes(stretch), "{}: stretch tree", H::NAME);
    heap.keep(max);
    for depth in (MIN_DEPTH..=max).step_by(2) {
        let n = 1 << (max - depth + MIN_DEPTH);
        let check = heap.check_many(depth, n);
        assert_eq!(
            check,
            n * nodes(depth),
            "{}: trees of depth {depth}",
            H::NAME
        );
    }
    assert_eq!(heap.check_kept(), nodes(max), "{}: long-lived", H::NAME);
    let sample = Sample {
        wall: start.elapsed(),
        cpu: cpu_time() - cpu,
    };
    drop(heap);
    sample
}

/// The Benchmarks Game's output for depth `max`: the values every run asserts.
fn expected_output(max: u32) -> String {
    let mut out = format!(
        "stretch tree of depth {}\t check: {}\n",
        max + 1,
        nodes(max + 1)
    );
    for depth in (MIN_DEPTH..=max).step_by(2) {
        let n = 1u64 << (max - depth + MIN_DEPTH);
        out += &format!(
            "{n}\t trees of depth {depth}\t check: {}\n",
            n * nodes(depth)
        );
    }
    out + &format!("long lived tree of depth {max}\t check: {}", nodes(max))
}

// ---- binary-trees in paired rounds ----

/// One binary-trees run of a paired table: its times and the collector's work meanwhile
/// (gort's; the other variants' logs are empty).
struct Run {
    sample: Sample,
    log: PauseLog,
}

/// A contender that runs binary-trees of depth `max` on `H`, each run recorded in `runs`.
fn tree_contender<'a, H: Trees>(max: u32, runs: &'a RefCell<Vec<Run>>) -> Contender<'a> {
    Contender::new(H::NAME, move || {
        let (sample, log) = logging_pauses(|| binary_trees::<H>(max));
        H::settle();
        runs.borrow_mut().push(Run { sample, log });
        sample.wall
    })
}

/// The median of `values`.
fn median<T: Ord + Copy>(values: impl Iterator<Item = T>) -> T {
    let mut sorted: Vec<T> = values.collect();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

/// Each variant's median wall and CPU time per run, and gort's (the first) collector work,
/// leaving out each contender's first run, from the round `paired::run` throws away.
fn print_runs(workload: &str, names: &[&str], runs: &[RefCell<Vec<Run>>]) {
    println!("\n| {workload} | wall (median) | CPU, all threads (median) | CPU / wall |");
    println!("| --- | --- | --- | --- |");
    for (name, runs) in names.iter().zip(runs) {
        let runs = &runs.borrow()[1..];
        let wall = median(runs.iter().map(|r| r.sample.wall));
        let cpu = median(runs.iter().map(|r| r.sample.cpu));
        let ratio = cpu.as_secs_f64() / wall.as_secs_f64();
        println!("| {name} | {wall:.2?} | {cpu:.2?} | {ratio:.2} |");
    }
    let gort = &runs[0].borrow()[1..];
    let mut all = PauseLog::default();
    gort.iter().for_each(|r| all.extend(r.log.clone()));
    println!(
        "\ngort's collector per run (median): {} cycles, {:.2?} of pauses; over all {} pauses: \
         p50 {:.1?}, p99 {:.1?}, max {:.1?}{}",
        median(gort.iter().map(|r| r.log.cycles)),
        median(gort.iter().map(|r| r.log.total())),
        all.pauses.len(),
        all.quantile(0.5),
        all.quantile(0.99),
        all.quantile(1.0),
        all.lost_note(),
    );
}

/// An environment variable's value, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// The paired tables' depth and rounds, from the environment.
fn trees_settings() -> (u32, usize) {
    let max = env_or("BINARY_TREES_DEPTH", 21u32).max(MIN_DEPTH + 2);
    (max, env_or("BINARY_TREES_ROUNDS", 5usize))
}

/// Prints the check values that every run asserts.
fn print_checks() {
    let (max, _) = trees_settings();
    println!("\nbinary-trees, depth {max}: every run of every variant asserts these checks:\n");
    println!("{}", expected_output(max));
}

/// The single-threaded binary-trees rows: gort against every peer.
fn report_trees_single() {
    let (max, rounds) = trees_settings();
    Paired::print_header(&format!("binary-trees, depth {max}, one thread"), rounds);
    let names = [
        "gort",
        "Arc",
        "Rc",
        "gc",
        "dumpster_unsync",
        "gc-arena",
        "Box",
    ];
    let runs: Vec<RefCell<Vec<Run>>> = names.iter().map(|_| RefCell::default()).collect();
    let workload = format!("binary_trees_{max}");
    let mut contenders = vec![
        tree_contender::<Heap<gort::gc::Gc<GortNode>, 1>>(max, &runs[0]),
        tree_contender::<Heap<Arc<ArcNode>, 1>>(max, &runs[1]),
        tree_contender::<Heap<Rc<RcNode>, 1>>(max, &runs[2]),
        tree_contender::<Heap<gc::Gc<RustGcNode>, 1>>(max, &runs[3]),
        tree_contender::<Heap<dumpster::unsync::Gc<DumpsterNode>, 1>>(max, &runs[4]),
        tree_contender::<ArenaTrees>(max, &runs[5]),
        tree_contender::<Heap<Box<BoxNode>, 1>>(max, &runs[6]),
    ];
    // `BINARY_TREES_PEERS=Arc,dumpster_unsync` runs only those peers beside gort (rust-gc and
    // gc-arena take minutes a run at depth 21).
    let kept = peers_kept(&names);
    let mut index = 0;
    contenders.retain(|_| {
        index += 1;
        kept[index - 1]
    });
    paired::run(rounds, &mut contenders).print_rows(&workload, 1, "");
    drop(contenders);
    let (names, runs): (Vec<&str>, Vec<RefCell<Vec<Run>>>) = names
        .into_iter()
        .zip(runs)
        .zip(kept)
        .filter_map(|(pair, kept)| kept.then_some(pair))
        .unzip();
    print_runs(&workload, &names, &runs);
}

/// Which of `names` (gort's first) to run: all, or gort and those `BINARY_TREES_PEERS` lists.
fn peers_kept(names: &[&str]) -> Vec<bool> {
    let peers = std::env::var("BINARY_TREES_PEERS").ok();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            i == 0
                || peers
                    .as_deref()
                    .is_none_or(|peers| peers.split(',').any(|peer| peer.trim() == *name))
        })
        .collect()
}

/// The parallel binary-trees rows: each depth's short-lived trees split over 2 threads, for
/// the variants whose heap is shared between threads.
fn report_trees_parallel() {
    let (max, rounds) = trees_settings();
    Paired::print_header(&format!("binary-trees, depth {max}, 2 threads"), rounds);
    let names = ["gort", "Arc", "dumpster_sync"];
    let runs: Vec<RefCell<Vec<Run>>> = names.iter().map(|_| RefCell::default()).collect();
    let workload = format!("binary_trees_{max}_parallel_2");
    paired::run(
        rounds,
        &mut [
            tree_contender::<Heap<gort::gc::Gc<GortNode>, 2>>(max, &runs[0]),
            tree_contender::<Heap<Arc<ArcNode>, 2>>(max, &runs[1]),
            tree_contender::<Heap<dumpster::sync::Gc<DumpsterSyncNode>, 2>>(max, &runs[2]),
        ],
    )
    .print_rows(&workload, 1, "");
    print_runs(&workload, &names, &runs);
}

// ---- allocation rate ----

/// Objects per `gc_alloc` iteration.
const ALLOCS: usize = 1_000_000;

/// A 32-byte payload with nothing to trace.
#[derive(gort::gc::Trace)]
struct Small {
    payload: [u64; 4],
}

impl Small {
    fn new(i: usize) -> Small {
        Small {
            payload: [i as u64; 4],
        }
    }
}

/// Allocates [`ALLOCS`] objects with `new` into `slots` (allocated once by the caller), checks
/// the last one, then drops them all.
fn alloc_million<P: Deref<Target = Small>>(slots: &mut Vec<P>, new: impl Fn(Small) -> P) {
    for i in 0..ALLOCS {
        slots.push(new(Small::new(black_box(i))));
    }
    assert_eq!(slots[ALLOCS - 1].payload, [ALLOCS as u64 - 1; 4]);
    slots.clear();
}

/// A timed [`alloc_million`] with its own slots.
fn alloc_sample<P: Deref<Target = Small>>(
    new: impl Fn(Small) -> P + Copy,
) -> impl FnMut() -> Duration {
    let mut slots = Vec::with_capacity(ALLOCS);
    move || {
        let start = Instant::now();
        alloc_million(&mut slots, new);
        start.elapsed()
    }
}

fn gc_alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("gc_alloc_1m");
    g.throughput(Throughput::Elements(ALLOCS as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    let mut bench = |name: &str, mut sample: Box<dyn FnMut() -> Duration>| {
        g.bench_function(name, |b| b.iter_custom(|n| (0..n).map(|_| sample()).sum()));
    };
    bench("gort", Box::new(alloc_sample(gort::gc::Gc::new)));
    bench("Box", Box::new(alloc_sample(Box::new)));
    bench("Arc", Box::new(alloc_sample(Arc::new)));
    g.finish();
}

/// The allocation rows in paired rounds.
fn report_alloc_paired() {
    const ROUNDS: usize = 31;
    Paired::print_header("Allocation, 1,000,000 objects of 32 bytes", ROUNDS);
    paired::run(
        ROUNDS,
        &mut [
            Contender::new("gort", alloc_sample(gort::gc::Gc::new)),
            Contender::new("Box", alloc_sample(Box::new)),
            Contender::new("Arc", alloc_sample(Arc::new)),
        ],
    )
    .print_rows("gc_alloc_1m", ALLOCS as u64, "/object");
    println!();
}

// ---- criterion's binary-trees groups ----

/// A group of 10 flat samples (runs of 60 to 500 ms each), so that the whole of `-- binary`
/// takes under a minute.
fn tree_group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// `H`'s function in the group: one binary-trees run per iteration.
fn bench_trees<H: Trees>(g: &mut Group<'_>) {
    g.bench_function(H::NAME, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let sample = binary_trees::<H>(CRITERION_DEPTH);
                    H::settle();
                    sample.wall
                })
                .sum()
        })
    });
}

fn binary_trees_groups(c: &mut Criterion) {
    let mut g = tree_group(c, &format!("binary_trees_{CRITERION_DEPTH}"));
    bench_trees::<Heap<gort::gc::Gc<GortNode>, 1>>(&mut g);
    bench_trees::<Heap<Arc<ArcNode>, 1>>(&mut g);
    bench_trees::<Heap<Rc<RcNode>, 1>>(&mut g);
    bench_trees::<Heap<gc::Gc<RustGcNode>, 1>>(&mut g);
    bench_trees::<Heap<dumpster::unsync::Gc<DumpsterNode>, 1>>(&mut g);
    bench_trees::<ArenaTrees>(&mut g);
    bench_trees::<Heap<Box<BoxNode>, 1>>(&mut g);
    g.finish();
    let mut g = tree_group(c, &format!("binary_trees_{CRITERION_DEPTH}_parallel"));
    bench_trees::<Heap<gort::gc::Gc<GortNode>, 2>>(&mut g);
    bench_trees::<Heap<Arc<ArcNode>, 2>>(&mut g);
    bench_trees::<Heap<dumpster::sync::Gc<DumpsterSyncNode>, 2>>(&mut g);
    g.finish();
}

criterion_group! {
    name = gc_benches;
    // Drawing the plots of the ten binary-trees functions took 45 s, more than running them.
    config = Criterion::default().without_plots();
    targets = binary_trees_groups, gc_alloc
}

// ---- pauses with 1 GiB live ----

/// The live tree's depth: 2^24 - 1 nodes of 64 bytes, 1 GiB.
const LIVE_DEPTH: u32 = 23;
/// The garbage trees' depth: 1,023 nodes, 64 KiB.
const GARBAGE_DEPTH: u32 = 9;
/// The small-heap baseline's length (Go's twin: 3 s).
const BASELINE: Duration = Duration::from_secs(3);
/// The environment variable that makes this binary a pause child: the variant to run.
const PAUSE_CHILD: &str = "GORT_BENCH_GC_PAUSE";

/// gort's node of the pause workload.
#[derive(gort::gc::Trace)]
struct GortPauseNode {
    left: Option<gort::gc::Gc<GortPauseNode>>,
    right: Option<gort::gc::Gc<GortPauseNode>>,
    payload: [u64; 4],
}

/// `Arc`'s node of the pause workload.
struct ArcPauseNode {
    left: Option<Arc<ArcPauseNode>>,
    right: Option<Arc<ArcPauseNode>>,
    #[expect(dead_code, reason = "padding to 64 bytes, as Go's node")]
    payload: [u64; 6],
}

tree!(GortPauseNode in gort::gc::Gc as "gort", settle with gort::gc::collect; payload);
tree!(ArcPauseNode in Arc as "Arc"; payload);

// Both nodes are 64 bytes, as Go's (two pointers and 48 bytes); gort's `Option<Gc>` takes 16
// bytes, `Option<Arc>` 8.
const _: () = assert!(size_of::<GortPauseNode>() == 64 && size_of::<ArcPauseNode>() == 64);

/// Builds, checks and drops garbage trees for `length`, 16 between looks at the clock, the
/// last one kept alive until the next is built (Go's `sink`); returns how many.
fn churn<T: Tree>(length: Duration) -> u64 {
    let (deadline, mut sink, mut trees) = (Instant::now() + length, None, 0);
    while Instant::now() < deadline {
        for _ in 0..16 {
            let tree = T::create(GARBAGE_DEPTH);
            assert_eq!(
                tree.check(),
                nodes(GARBAGE_DEPTH),
                "{}: garbage tree",
                T::NAME
            );
            sink = Some(tree);
            trees += 1;
        }
    }
    drop(black_box(sink));
    trees
}

/// Runs `f` while a thread sleeps 1 ms at a time; returns how late each wake-up was.
fn probing<R>(f: impl FnOnce() -> R) -> (R, Vec<Duration>) {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let probe = s.spawn(|| {
            let mut late = Vec::new();
            while !stop.load(Relaxed) {
                let start = Instant::now();
                thread::sleep(Duration::from_millis(1));
                late.push(start.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            late
        });
        let result = f();
        stop.store(true, Relaxed);
        (result, probe.join().expect("the probe"))
    })
}

/// One pause window of `T`'s churn: trees built, gort's pauses, the probe's lateness.
struct Window {
    length: Duration,
    trees: u64,
    log: PauseLog,
    late: Vec<Duration>,
}

fn window<T: Tree>(length: Duration) -> Window {
    let ((trees, log), late) = probing(|| logging_pauses(|| churn::<T>(length)));
    Window {
        length,
        trees,
        log,
        late,
    }
}

/// This process's peak resident set (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib as f64 / 1024.0
}

/// Prints one row of the pause table; `base` is the small-heap rate, in trees per second.
fn print_window(name: &str, heap: &str, w: &Window, base: f64, rss: Option<f64>) {
    let rate = w.trees as f64 / w.length.as_secs_f64();
    let garbage = rate * nodes(GARBAGE_DEPTH) as f64 * 64.0 / (1 << 20) as f64;
    let pauses = match w.log.pauses.len() {
        0 => "— | — | —".to_string(),
        n => format!(
            "{n} | {:.1?} | {:.1?}{}",
            w.log.quantile(0.99),
            w.log.quantile(1.0),
            w.log.lost_note()
        ),
    };
    let rss = rss.map_or("—".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "| {name} | {heap} | {rate:.0} | {:.1} % | {garbage:.0} MiB/s | {} | {pauses} | {:.2?} | {:.2?} | {rss} |",
        100.0 * rate / base,
        w.log.cycles,
        quantile(&w.late, 0.99),
        quantile(&w.late, 1.0),
    );
}

/// In a pause child: the small-heap baseline, then the window with the live tree, for `T`.
fn pause_rows<T: Tree>() {
    let length = Duration::from_secs(env_or("GC_PAUSE_SECS", 10u64));
    let base = window::<T>(BASELINE.min(length));
    let base_rate = base.trees as f64 / base.length.as_secs_f64();
    print_window(T::NAME, "small", &base, base_rate, None);
    let live = T::create(LIVE_DEPTH);
    T::settle();
    let heap_live = gort::gc::stats().heap_live;
    let big = window::<T>(length);
    assert_eq!(
        live.check(),
        nodes(LIVE_DEPTH),
        "{}: the live tree",
        T::NAME
    );
    let heap = match T::NAME {
        "gort" => format!("{:.0} MiB live", heap_live as f64 / (1 << 20) as f64),
        _ => "1 GiB live".to_string(),
    };
    print_window(T::NAME, &heap, &big, base_rate, Some(peak_rss_mib()));
}

/// The pause table: gort, then `Arc`, each in a fresh process.
fn report_pauses() {
    let secs = env_or("GC_PAUSE_SECS", 10u64);
    println!(
        "\nPauses with a live tree of 2^{} - 1 nodes of 64 B, one thread churning depth-{GARBAGE_DEPTH} trees for {secs} s \
         (the small-heap baseline first, for {:?})\n",
        LIVE_DEPTH + 1,
        BASELINE.min(Duration::from_secs(secs)),
    );
    println!(
        "| variant | heap | trees/s | vs small heap | garbage | cycles | pauses | pause p99 | pause max | 1 ms sleeper late p99 | late max | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let exe = std::env::current_exe().expect("the bench binary");
    for variant in ["gort", "Arc"] {
        let status = std::process::Command::new(&exe)
            .env(PAUSE_CHILD, variant)
            .status()
            .expect("a pause child");
        assert!(
            status.success(),
            "the {variant} pause child failed: {status}"
        );
    }
    println!(
        "(Go 1.19 on this machine, 10 s: 4 cycles, pause p99 = max = 91.5 µs, 9,280 trees/s, \
         67.6 % of its small-heap rate, 579 MiB/s, sleeper late p99 39.4 ms, peak RSS 2,789 MiB)\n"
    );
}

/// In a pause child: runs the variant asked for and exits.
fn pause_child(variant: &str) -> ! {
    match variant {
        "gort" => pause_rows::<gort::gc::Gc<GortPauseNode>>(),
        "Arc" => pause_rows::<Arc<ArcPauseNode>>(),
        other => panic!("unknown pause variant {other}"),
    }
    std::process::exit(0);
}

fn main() {
    if let Ok(variant) = std::env::var(PAUSE_CHILD) {
        pause_child(&variant);
    }
    use gort_benches::reports::wanted;
    let (single, parallel) = (
        wanted("paired_binary_trees_single"),
        wanted("paired_binary_trees_parallel"),
    );
    if single || parallel {
        print_checks();
    }
    if single {
        report_trees_single();
    }
    if parallel {
        report_trees_parallel();
    }
    if wanted("paired_gc_alloc") {
        report_alloc_paired();
    }
    if wanted("gc_pause") {
        report_pauses();
    }
    gc_benches();
    Criterion::default().configure_from_args().final_summary();
}
