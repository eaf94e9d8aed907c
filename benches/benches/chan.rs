//! Channels, gort against its peers in one run: Go's ping-pong over unbuffered channels, SPSC
//! and MPMC throughput through a 1024-slot buffer, a select over 4 channels fed by 4
//! producers, and Go's concurrent prime sieve (the Go programs `chan_pingpong`,
//! `chan_throughput`, `select_fanin` and `prime_sieve` of gort's Go anchors).
//!
//! Each workload is one criterion group with one function per channel, named `channel@runtime`
//! (plain `gort` for gort's channel on gort's runtime). The peers are tokio's `mpsc` on tokio's
//! runtime, and async-channel, flume and kanal, which are runtime-agnostic: they run on tokio's
//! runtime, and some of them on gort's too, so that a gap can be put down to the channel or to
//! the runtime underneath. Every runtime gets 2 workers (this machine has 2 cores), is built
//! once per function, outside the timed loop, and lives only while its own function runs.
//!
//! Each workload is written once, generic over [`BenchChan`] and [`BenchRuntime`], and runs as
//! a task of its own (Go's `main` is a goroutine too), so on either runtime every side of it
//! runs on a worker and none on the thread that called `block_on`. Each checks its own result
//! (a count, a sum, the last prime) and panics rather than report a time for a wrong one.
//!
//! "Unbuffered" is each channel's closest to Go's `make(chan T)`: a rendezvous (capacity 0) for
//! gort, flume and kanal; capacity 1 for tokio's `mpsc` and async-channel, which have no
//! rendezvous (a send there completes once the value is in the slot, before it is received).
//!
//! Before criterion runs, the binary runs every workload again in paired rounds (gort and every
//! peer of the group in turn, round after round: see `gort_benches::paired`) and prints the
//! medians and the median ratio of the rounds as a table; those ratios hold up on a machine
//! whose speed drifts between criterion's rows.
//!
//! Run with `cargo bench -p gort-benches --bench chan` (`-- paired` for the paired table alone).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use gort_benches::BenchRuntime;
use gort_benches::paired::{self, Contender, Paired};

/// Worker threads of every runtime: the machine's 2 cores (Go's GOMAXPROCS in the anchors).
const WORKERS: usize = 2;
/// Round trips per iteration of `chan_ping_pong` (Go's anchor does 1,000,000 in one run).
const ROUND_TRIPS: u64 = 10_000;
/// Buffer of the throughput channels, as in Go's `chan_throughput`.
const CAPACITY: usize = 1024;
/// Messages per iteration of the throughput workloads (Go's anchor sends 10,000,000 in one run).
const MESSAGES: u64 = 1_000_000;
/// Primes found per iteration of `chan_prime_sieve`, as in Go's `prime_sieve`.
const PRIMES: usize = 5_000;

type Group<'a> = BenchmarkGroup<'a, WallTime>;
type GortRt = gort::Runtime;
type TokioRt = tokio::runtime::Runtime;

/// A channel of `u64` as the workloads drive it: make one, send, receive. Either half may be
/// cloned where the workload needs it; the channel closes when the last sender is dropped (and,
/// for the sieve's teardown, a send fails once every receiver is gone).
///
/// `send` and `recv` return the channel's own futures, which the workloads await as they are,
/// as a program awaits them, and read their outputs afterwards. The impls'
/// methods are `#[inline]`: a trait method of a non-generic impl is otherwise a call from
/// the generic workload in another codegen unit (gort's SPSC through the workload's shape in
/// a probe: 8.9 ns per message without, 8.4 with, 7.4 awaiting the channel in plain code). A wrapper
/// future that maps the output is the bench's code, not the channel's, and it weighs on
/// channels unequally: an `async fn` adapter's `poll` was left out of line (a call per
/// message), and an adapter whose `poll` always inlines still cost gort's SPSC and MPMC rows
/// 5 to 7% in a probe (7.2 -> 7.7 and 8.2 -> 8.7 ns per message).
trait BenchChan: 'static {
    /// The channel's name: the first half of the function name inside each group.
    const NAME: &'static str;

    type Tx: Clone + Send + Sync + 'static;
    type Rx: Send + 'static;
    /// The output of the channel's send future.
    type Sent: SendOutcome;
    /// The output of its receive future.
    type Received: RecvOutcome;

    /// The closest this channel has to Go's unbuffered channel (see the module docs).
    fn unbuffered() -> (Self::Tx, Self::Rx);

    /// A channel with room for `cap` values.
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);

    /// The channel's future that sends `v`, waiting for room.
    fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = Self::Sent> + Send;

    /// The channel's future that receives a value, waiting for one.
    fn recv(rx: &mut Self::Rx) -> impl Future<Output = Self::Received> + Send;
}

/// A channel's `send` and `recv`: the futures of its methods `$send(v)` and `$recv()`.
macro_rules! send_and_recv {
    ($send:ident, $recv:ident) => {
        #[inline]
        fn send(tx: &Self::Tx, v: u64) -> impl Future<Output = Self::Sent> + Send {
            tx.$send(v)
        }

        #[inline]
        fn recv(rx: &mut Self::Rx) -> impl Future<Output = Self::Received> + Send {
            rx.$recv()
        }
    };
}

/// A send future's output.
trait SendOutcome {
    /// Whether the value went through: false if the channel was closed.
    fn went_through(self) -> bool;
}

impl<E> SendOutcome for Result<(), E> {
    #[inline]
    fn went_through(self) -> bool {
        self.is_ok()
    }
}

/// A receive future's output.
trait RecvOutcome {
    /// The value received; `None` once the channel is closed and drained.
    fn value(self) -> Option<u64>;
}

impl RecvOutcome for Option<u64> {
    #[inline]
    fn value(self) -> Option<u64> {
        self
    }
}

impl<E> RecvOutcome for Result<u64, E> {
    #[inline]
    fn value(self) -> Option<u64> {
        self.ok()
    }
}

/// gort's channel: `bounded(0)` is a rendezvous.
struct GortChan;

impl BenchChan for GortChan {
    const NAME: &'static str = "gort";
    type Tx = gort::chan::Sender<u64>;
    type Rx = gort::chan::Receiver<u64>;
    type Sent = Result<(), gort::chan::SendError<u64>>;
    type Received = Option<u64>;

    fn unbuffered() -> (Self::Tx, Self::Rx) {
        gort::chan::bounded(0)
    }

    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        gort::chan::bounded(cap)
    }

    send_and_recv!(send, recv);
}

/// tokio's `mpsc`: one consumer, no capacity 0.
struct TokioMpsc;

impl BenchChan for TokioMpsc {
    const NAME: &'static str = "tokio_mpsc";
    type Tx = tokio::sync::mpsc::Sender<u64>;
    type Rx = tokio::sync::mpsc::Receiver<u64>;
    type Sent = Result<(), tokio::sync::mpsc::error::SendError<u64>>;
    type Received = Option<u64>;

    fn unbuffered() -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(1)
    }

    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        tokio::sync::mpsc::channel(cap)
    }

    send_and_recv!(send, recv);
}

/// async-channel (smol's): MPMC, no capacity 0.
struct AsyncChannel;

impl BenchChan for AsyncChannel {
    const NAME: &'static str = "async_channel";
    type Tx = async_channel::Sender<u64>;
    type Rx = async_channel::Receiver<u64>;
    type Sent = Result<(), async_channel::SendError<u64>>;
    type Received = Result<u64, async_channel::RecvError>;

    fn unbuffered() -> (Self::Tx, Self::Rx) {
        async_channel::bounded(1)
    }

    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        async_channel::bounded(cap)
    }

    send_and_recv!(send, recv);
}

/// flume's async API: MPMC, `bounded(0)` is a rendezvous.
struct Flume;

impl BenchChan for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    type Sent = Result<(), flume::SendError<u64>>;
    type Received = Result<u64, flume::RecvError>;

    fn unbuffered() -> (Self::Tx, Self::Rx) {
        flume::bounded(0)
    }

    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }

    send_and_recv!(send_async, recv_async);
}

/// kanal's async API: MPMC, `bounded_async(0)` is a rendezvous.
struct Kanal;

impl BenchChan for Kanal {
    const NAME: &'static str = "kanal";
    type Tx = kanal::AsyncSender<u64>;
    type Rx = kanal::AsyncReceiver<u64>;
    type Sent = Result<(), kanal::SendError>;
    type Received = Result<u64, kanal::ReceiveError>;

    fn unbuffered() -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(0)
    }

    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        kanal::bounded_async(cap)
    }

    send_and_recv!(send, recv);
}

/// The function name of channel `C` on runtime `R` inside a group.
fn id<R: BenchRuntime, C: BenchChan>() -> String {
    if C::NAME == R::NAME {
        C::NAME.to_owned()
    } else {
        format!("{}@{}", C::NAME, R::NAME)
    }
}

/// Runs `workload` as a task of `rt` and waits for its result.
fn run<R: BenchRuntime, T: Send + 'static>(
    rt: &R,
    workload: impl Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(async { R::spawn(workload).await.expect("the workload panicked") })
}

/// Times `workload()` on a fresh runtime `R`, as the function `C` on `R` of `group`.
fn measure<R, C, F>(group: &mut Group<'_>, workload: impl Fn() -> F)
where
    R: BenchRuntime,
    C: BenchChan,
    F: Future<Output = ()> + Send + 'static,
{
    let rt = R::with_workers(WORKERS);
    group.bench_function(id::<R, C>(), |b| b.iter(|| run(&rt, workload())));
}

// ---- 1. ping-pong ----

/// Go's `chan_pingpong`: this task sends `v` on `ping`, a second one answers `v + 1` on `pong`,
/// `round_trips` times over two unbuffered channels.
async fn ping_pong<R: BenchRuntime, C: BenchChan>(round_trips: u64) {
    let (ping_tx, mut ping_rx) = C::unbuffered();
    let (pong_tx, mut pong_rx) = C::unbuffered();
    let ponger = R::spawn(async move {
        while let Some(v) = C::recv(&mut ping_rx).await.value() {
            assert!(C::send(&pong_tx, v + 1).await.went_through(), "pong closed");
        }
    });
    let mut v = 0;
    for _ in 0..round_trips {
        assert!(C::send(&ping_tx, v).await.went_through(), "ping closed");
        v = C::recv(&mut pong_rx).await.value().expect("pong closed");
    }
    drop(ping_tx); // Go's `close(ping)`: the ponger's loop ends.
    ponger.await.expect("the ponger panicked");
    assert_eq!(v, round_trips, "wrong count");
}

fn ping_pong_row<R: BenchRuntime, C: BenchChan>(group: &mut Group<'_>) {
    measure::<R, C, _>(group, || ping_pong::<R, C>(ROUND_TRIPS));
}

fn bench_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_ping_pong");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ROUND_TRIPS));
    ping_pong_row::<GortRt, GortChan>(&mut group);
    ping_pong_row::<TokioRt, TokioMpsc>(&mut group);
    ping_pong_row::<TokioRt, AsyncChannel>(&mut group);
    ping_pong_row::<TokioRt, Flume>(&mut group);
    ping_pong_row::<GortRt, AsyncChannel>(&mut group);
    ping_pong_row::<GortRt, Flume>(&mut group);
    group.finish();
}

// ---- 2 and 3. throughput ----

/// Go's `chan_throughput`: `producers` tasks send `MESSAGES / producers` values each (0, 1, ...)
/// into one channel of `CAPACITY` slots; one task per receiver that `split` makes sums what it
/// receives until the channel closes (when the last producer is done). Checks the total.
async fn throughput<R: BenchRuntime, C: BenchChan>(producers: u64, split: fn(C::Rx) -> Vec<C::Rx>) {
    let per_producer = MESSAGES / producers;
    let (tx, rx) = C::bounded(CAPACITY);
    let senders: Vec<_> = (0..producers)
        .map(|_| {
            let tx = tx.clone();
            R::spawn(async move {
                for i in 0..per_producer {
                    assert!(C::send(&tx, i).await.went_through(), "closed while sending");
                }
            })
        })
        .collect();
    drop(tx);
    let receivers: Vec<_> = split(rx)
        .into_iter()
        .map(|mut rx| {
            R::spawn(async move {
                let mut sum = 0u64;
                while let Some(v) = C::recv(&mut rx).await.value() {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for receiver in receivers {
        total += receiver.await.expect("a consumer panicked");
    }
    for sender in senders {
        sender.await.expect("a producer panicked");
    }
    let expected = producers * (per_producer * (per_producer - 1) / 2);
    assert_eq!(total, expected, "wrong sum");
}

/// One consumer.
fn one<C: BenchChan>(rx: C::Rx) -> Vec<C::Rx> {
    vec![rx]
}

/// Four consumers of one MPMC channel.
fn four<C: BenchChan>(rx: C::Rx) -> Vec<C::Rx>
where
    C::Rx: Clone,
{
    vec![rx.clone(), rx.clone(), rx.clone(), rx]
}

fn spsc_row<R: BenchRuntime, C: BenchChan>(group: &mut Group<'_>) {
    measure::<R, C, _>(group, || throughput::<R, C>(1, one::<C>));
}

fn mpmc_row<R: BenchRuntime, C: BenchChan>(group: &mut Group<'_>)
where
    C::Rx: Clone,
{
    measure::<R, C, _>(group, || throughput::<R, C>(4, four::<C>));
}

/// A criterion group for a workload whose iterations take tens of milliseconds or more.
fn slow_group<'a>(c: &'a mut Criterion, name: &str, measurement: Duration) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement);
    group
}

fn bench_spsc(c: &mut Criterion) {
    let mut group = slow_group(c, "chan_spsc", Duration::from_secs(4));
    group.throughput(Throughput::Elements(MESSAGES));
    spsc_row::<GortRt, GortChan>(&mut group);
    spsc_row::<TokioRt, TokioMpsc>(&mut group);
    spsc_row::<TokioRt, AsyncChannel>(&mut group);
    spsc_row::<TokioRt, Flume>(&mut group);
    spsc_row::<TokioRt, Kanal>(&mut group);
    spsc_row::<GortRt, AsyncChannel>(&mut group);
    spsc_row::<GortRt, Flume>(&mut group);
    spsc_row::<GortRt, Kanal>(&mut group);
    group.finish();
}

fn bench_mpmc(c: &mut Criterion) {
    let mut group = slow_group(c, "chan_mpmc_4x4", Duration::from_secs(4));
    group.throughput(Throughput::Elements(MESSAGES));
    mpmc_row::<GortRt, GortChan>(&mut group);
    // tokio's mpsc has one consumer: 4 producers x 1 consumer, under its own name.
    let rt = TokioRt::with_workers(WORKERS);
    group.bench_function("tokio_mpsc_4x1@tokio", |b| {
        b.iter(|| run(&rt, throughput::<TokioRt, TokioMpsc>(4, one::<TokioMpsc>)))
    });
    drop(rt);
    mpmc_row::<TokioRt, AsyncChannel>(&mut group);
    mpmc_row::<TokioRt, Flume>(&mut group);
    mpmc_row::<TokioRt, Kanal>(&mut group);
    mpmc_row::<GortRt, AsyncChannel>(&mut group);
    mpmc_row::<GortRt, Flume>(&mut group);
    mpmc_row::<GortRt, Kanal>(&mut group);
    group.finish();
}

// ---- 4. select ----

/// Values each of the 4 producers sends per iteration of `chan_select_4` (Go's anchor sends
/// 1,000,000 each in one run).
const PER_PRODUCER: u64 = 25_000;

/// A channel with a select over 4 receivers: gort's `select!`, tokio's `select!` for the
/// others (each picks a ready arm at random, as Go's does).
trait BenchSelect: BenchChan {
    /// Receives from whichever of the 4 receivers is ready: its index and the value.
    fn select4(rxs: &mut [Self::Rx; 4]) -> impl Future<Output = (usize, Option<u64>)> + Send;
}

impl BenchSelect for GortChan {
    async fn select4(rxs: &mut [Self::Rx; 4]) -> (usize, Option<u64>) {
        let [a, b, c, d] = rxs;
        gort::select! {
            v = a.recv() => (0, v),
            v = b.recv() => (1, v),
            v = c.recv() => (2, v),
            v = d.recv() => (3, v),
        }
    }
}

impl BenchSelect for TokioMpsc {
    async fn select4(rxs: &mut [Self::Rx; 4]) -> (usize, Option<u64>) {
        let [a, b, c, d] = rxs;
        tokio::select! {
            v = a.recv() => (0, v),
            v = b.recv() => (1, v),
            v = c.recv() => (2, v),
            v = d.recv() => (3, v),
        }
    }
}

impl BenchSelect for AsyncChannel {
    async fn select4(rxs: &mut [Self::Rx; 4]) -> (usize, Option<u64>) {
        let [a, b, c, d] = rxs;
        tokio::select! {
            v = a.recv() => (0, v.ok()),
            v = b.recv() => (1, v.ok()),
            v = c.recv() => (2, v.ok()),
            v = d.recv() => (3, v.ok()),
        }
    }
}

impl BenchSelect for Flume {
    async fn select4(rxs: &mut [Self::Rx; 4]) -> (usize, Option<u64>) {
        let [a, b, c, d] = rxs;
        tokio::select! {
            v = a.recv_async() => (0, v.ok()),
            v = b.recv_async() => (1, v.ok()),
            v = c.recv_async() => (2, v.ok()),
            v = d.recv_async() => (3, v.ok()),
        }
    }
}

/// Go's `select_fanin`: 4 producers each send `PER_PRODUCER` ones on their own channel; this
/// task selects over the 4 until it has them all, and checks each channel's count. A producer
/// hands its sender back rather than drop it, so no channel closes while the select runs.
async fn select_fanin<R: BenchRuntime, C: BenchSelect>(capacity: Option<usize>) {
    let chans: [_; 4] = std::array::from_fn(|_| match capacity {
        None => C::unbuffered(),
        Some(cap) => C::bounded(cap),
    });
    let mut rxs = Vec::new();
    let producers: Vec<_> = chans
        .into_iter()
        .map(|(tx, rx)| {
            rxs.push(rx);
            R::spawn(async move {
                for _ in 0..PER_PRODUCER {
                    assert!(C::send(&tx, 1).await.went_through(), "closed while sending");
                }
                // Kept open, as Go's are: a closed channel would make its arm ready.
                tx
            })
        })
        .collect();
    let mut rxs: [C::Rx; 4] = rxs.try_into().unwrap_or_else(|_| unreachable!());
    let mut counts = [0u64; 4];
    for _ in 0..4 * PER_PRODUCER {
        let (i, v) = C::select4(&mut rxs).await;
        counts[i] += v.expect("a producer closed early");
    }
    assert_eq!(counts, [PER_PRODUCER; 4], "wrong counts");
    for producer in producers {
        producer.await.expect("a producer panicked");
    }
}

fn select_row<R: BenchRuntime, C: BenchSelect>(group: &mut Group<'_>, capacity: Option<usize>) {
    measure::<R, C, _>(group, move || select_fanin::<R, C>(capacity));
}

fn bench_select(c: &mut Criterion) {
    for (name, capacity) in [("chan_select_4", None), ("chan_select_4_buf128", Some(128))] {
        let mut group = slow_group(c, name, Duration::from_secs(4));
        group.throughput(Throughput::Elements(4 * PER_PRODUCER));
        select_row::<GortRt, GortChan>(&mut group, capacity);
        select_row::<TokioRt, TokioMpsc>(&mut group, capacity);
        select_row::<TokioRt, AsyncChannel>(&mut group, capacity);
        select_row::<TokioRt, Flume>(&mut group, capacity);
        group.finish();
    }
}

// ---- 5. prime sieve ----

/// Go's `prime_sieve`: a generator sends 2, 3, 4, ... on an unbuffered channel, and each prime
/// found adds a filter task to the chain that drops that prime's multiples. Returns the
/// `primes`-th prime and the time taken to find it (the clock stops there, as Go's does).
///
/// Go's program then exits; here the chain is torn down, untimed: the generator stops at a
/// flag and drops its sender, and the close runs down the chain, each filter ending when its
/// input closes, while this task drains the last channel.
async fn sieve<R: BenchRuntime, C: BenchChan>(primes: usize) -> (u64, Duration) {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut ch) = C::unbuffered();
    let generator = {
        let stop = stop.clone();
        R::spawn(async move {
            let mut i = 2;
            while !stop.load(Relaxed) && C::send(&tx, i).await.went_through() {
                i += 1;
            }
        })
    };
    let mut last = 0;
    for _ in 0..primes {
        let prime = C::recv(&mut ch)
            .await
            .value()
            .expect("the chain closed early");
        last = prime;
        let (next_tx, next_rx) = C::unbuffered();
        drop(R::spawn(filter::<C>(ch, next_tx, prime)));
        ch = next_rx;
    }
    let elapsed = start.elapsed();

    stop.store(true, Relaxed);
    while C::recv(&mut ch).await.value().is_some() {}
    generator.await.expect("the generator panicked");
    (last, elapsed)
}

/// One link of the sieve: passes on what `prime` does not divide, until `input` closes.
async fn filter<C: BenchChan>(mut input: C::Rx, out: C::Tx, prime: u64) {
    while let Some(v) = C::recv(&mut input).await.value() {
        if v % prime != 0 && !C::send(&out, v).await.went_through() {
            return;
        }
    }
}

/// The `n`-th prime, by a plain sieve of Eratosthenes: the check for the channel sieve.
fn nth_prime(n: usize) -> u64 {
    let limit = 60_000; // enough for the 5,000th (48,611) and anything below
    let mut composite = vec![false; limit];
    let mut found = 0;
    for i in 2..limit {
        if !composite[i] {
            found += 1;
            if found == n {
                return i as u64;
            }
            for multiple in (i * i..limit).step_by(i) {
                composite[multiple] = true;
            }
        }
    }
    panic!("the {n}-th prime is above {limit}");
}

fn sieve_row<R: BenchRuntime, C: BenchChan>(group: &mut Group<'_>) {
    let expected = nth_prime(PRIMES);
    let rt = R::with_workers(WORKERS);
    group.bench_function(id::<R, C>(), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (last, elapsed) = run(&rt, sieve::<R, C>(PRIMES));
                assert_eq!(last, expected, "wrong {PRIMES}-th prime");
                total += elapsed;
            }
            total
        })
    });
}

fn bench_sieve(c: &mut Criterion) {
    assert_eq!(nth_prime(5_000), 48_611);
    let mut group = slow_group(c, "chan_prime_sieve", Duration::from_secs(30));
    sieve_row::<GortRt, GortChan>(&mut group);
    sieve_row::<TokioRt, TokioMpsc>(&mut group);
    sieve_row::<TokioRt, Flume>(&mut group);
    group.finish();
}

// ---- paired rounds ----

/// Rounds of each paired table.
const ROUNDS: usize = 11;

/// A paired-run contender: channel `C` on `rt`, each sample `runs` runs of `workload`.
fn contender<'a, R, C, F>(rt: &'a R, runs: usize, workload: impl Fn() -> F + 'a) -> Contender<'a>
where
    R: BenchRuntime,
    C: BenchChan,
    F: Future<Output = ()> + Send + 'static,
{
    Contender::new(id::<R, C>(), move || {
        let start = Instant::now();
        for _ in 0..runs {
            run(rt, workload());
        }
        start.elapsed()
    })
}

/// A paired-run contender for the sieve, whose clock stops at the last prime (as criterion's).
fn sieve_contender<R: BenchRuntime, C: BenchChan>(rt: &R) -> Contender<'_> {
    let expected = nth_prime(PRIMES);
    Contender::new(id::<R, C>(), move || {
        let (last, elapsed) = run(rt, sieve::<R, C>(PRIMES));
        assert_eq!(last, expected, "wrong {PRIMES}-th prime");
        elapsed
    })
}

/// Every workload in paired rounds with the peers of its criterion group, on one gort and one
/// tokio runtime (2 workers each; the one not sampling is idle), printed as a table.
fn report_paired() {
    let (g, t) = (
        &GortRt::with_workers(WORKERS),
        &TokioRt::with_workers(WORKERS),
    );
    Paired::print_header("Channels", ROUNDS);

    let runs = 20;
    paired::run(
        ROUNDS,
        &mut [
            contender::<_, GortChan, _>(g, runs, || ping_pong::<GortRt, GortChan>(ROUND_TRIPS)),
            contender::<_, TokioMpsc, _>(t, runs, || ping_pong::<TokioRt, TokioMpsc>(ROUND_TRIPS)),
            contender::<_, AsyncChannel, _>(t, runs, || {
                ping_pong::<TokioRt, AsyncChannel>(ROUND_TRIPS)
            }),
            contender::<_, Flume, _>(t, runs, || ping_pong::<TokioRt, Flume>(ROUND_TRIPS)),
            contender::<_, AsyncChannel, _>(g, runs, || {
                ping_pong::<GortRt, AsyncChannel>(ROUND_TRIPS)
            }),
            contender::<_, Flume, _>(g, runs, || ping_pong::<GortRt, Flume>(ROUND_TRIPS)),
        ],
    )
    .print_rows("chan_ping_pong", runs as u64 * ROUND_TRIPS, "/round trip");

    // gort first, then the row's own peers, then the runtime-agnostic channels on both runtimes.
    macro_rules! throughput_rows {
        ($name:expr, $producers:expr, $split:ident, [$(($rt:ident, $R:ty, $chan:ty)),*]) => {{
            let runs = 4;
            macro_rules! c {
                ($r:ident, $RR:ty, $ch:ty) => {
                    contender::<_, $ch, _>($r, runs, || {
                        throughput::<$RR, $ch>($producers, $split::<$ch>)
                    })
                };
            }
            paired::run(
                ROUNDS,
                &mut [
                    c!(g, GortRt, GortChan),
                    $(c!($rt, $R, $chan),)*
                    c!(t, TokioRt, AsyncChannel),
                    c!(t, TokioRt, Flume),
                    c!(t, TokioRt, Kanal),
                    c!(g, GortRt, AsyncChannel),
                    c!(g, GortRt, Flume),
                    c!(g, GortRt, Kanal),
                ],
            )
            .print_rows($name, runs as u64 * MESSAGES, "/msg");
        }};
    }
    throughput_rows!("chan_spsc", 1, one, [(t, TokioRt, TokioMpsc)]);
    // tokio's mpsc has one consumer: not a peer on this row.
    throughput_rows!("chan_mpmc_4x4", 4, four, []);

    for (name, capacity) in [("chan_select_4", None), ("chan_select_4_buf128", Some(128))] {
        let runs = 4;
        paired::run(
            ROUNDS,
            &mut [
                contender::<_, GortChan, _>(g, runs, move || {
                    select_fanin::<GortRt, GortChan>(capacity)
                }),
                contender::<_, TokioMpsc, _>(t, runs, move || {
                    select_fanin::<TokioRt, TokioMpsc>(capacity)
                }),
                contender::<_, AsyncChannel, _>(t, runs, move || {
                    select_fanin::<TokioRt, AsyncChannel>(capacity)
                }),
                contender::<_, Flume, _>(t, runs, move || select_fanin::<TokioRt, Flume>(capacity)),
            ],
        )
        .print_rows(name, runs as u64 * 4 * PER_PRODUCER, "/select");
    }

    paired::run(
        ROUNDS,
        &mut [
            sieve_contender::<GortRt, GortChan>(g),
            sieve_contender::<TokioRt, TokioMpsc>(t),
            sieve_contender::<TokioRt, Flume>(t),
        ],
    )
    .print_rows("chan_prime_sieve", 1, "");
    println!();
}

criterion_group!(
    benches,
    bench_ping_pong,
    bench_spsc,
    bench_mpmc,
    bench_select,
    bench_sieve
);

fn main() {
    // The paired table runs unless criterion is only listing, or a filter names other rows.
    if gort_benches::reports::wanted("paired") {
        report_paired();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
