//! Scheduler counters, and the `Metrics` snapshot that `gort::runtime::metrics()` returns.
//!
//! Each worker owns its counters and is their only writer, so an increment is a relaxed load
//! and store (two plain moves on x86), never a locked instruction; readers sum them. Counters
//! use std atomics even under loom: they are statistics, not part of any protocol.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter with one writer.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`; only the owning thread calls this.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.add(1);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The counters of one worker.
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) spawned: Counter,
    pub(crate) polled: Counter,
    pub(crate) runnext_hits: Counter,
    pub(crate) stolen: Counter,
    pub(crate) steal_operations: Counter,
    pub(crate) injector_taken: Counter,
    pub(crate) overflowed: Counter,
    pub(crate) parks: Counter,
}

/// A snapshot of a runtime's scheduler counters (Go's `runtime/metrics`, scheduler part).
///
/// Counters are cumulative since the runtime started; gauges (`goroutines`, `parked_workers`,
/// ...) are read at the moment of the call.
///
/// # Examples
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// let m = rt.block_on(async {
///     gort_runtime::go(async {}).await.unwrap();
///     gort_runtime::runtime::metrics()
/// });
/// assert!(m.spawned >= 2); // the main goroutine and the one it started
/// println!("{m}");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Worker threads (GOMAXPROCS).
    pub workers: usize,
    /// Live goroutines, as `num_goroutine()`.
    pub goroutines: usize,
    /// Goroutines started, from workers and from outside.
    pub spawned: u64,
    /// Polls of goroutines.
    pub polled: u64,
    /// Polls of a goroutine taken from `runnext` within its waker's time slice.
    pub runnext_hits: u64,
    /// Goroutines moved by work stealing.
    pub stolen: u64,
    /// Successful steals (each moves half of a victim's queue).
    pub steal_operations: u64,
    /// Goroutines taken from the global queue.
    pub injector_taken: u64,
    /// Times a full local queue moved half of itself to the global queue.
    pub overflowed: u64,
    /// Times a worker parked for lack of work.
    pub parks: u64,
    /// Goroutines waiting in the global queue now.
    pub injector_depth: usize,
    /// Workers parked now.
    pub parked_workers: usize,
    /// Workers searching for work now.
    pub searching_workers: usize,
    /// Threads of the blocking pool now.
    pub blocking_threads: usize,
    /// Blocking-pool threads waiting for work now.
    pub idle_blocking_threads: usize,
    /// Polls per worker (GOMAXPROCS entries), to see how evenly the work spread.
    pub polled_per_worker: Vec<u64>,
    /// Polls run by spare workers, which sysmon starts while a worker is stuck in one poll
    /// (counted in `polled` too).
    pub polled_by_spares: u64,
    /// Times sysmon found a worker stuck in one poll for over 10 ms and started a spare
    /// worker to run the goroutines it could not.
    pub handoffs: u64,
    /// Spare workers running now.
    pub running_spares: usize,
}

impl Metrics {
    pub(crate) fn add_worker(&mut self, w: &WorkerMetrics, spare: bool) {
        self.spawned += w.spawned.get();
        self.polled += w.polled.get();
        self.runnext_hits += w.runnext_hits.get();
        self.stolen += w.stolen.get();
        self.steal_operations += w.steal_operations.get();
        self.injector_taken += w.injector_taken.get();
        self.overflowed += w.overflowed.get();
        self.parks += w.parks.get();
        if spare {
            self.polled_by_spares += w.polled.get();
        } else {
            self.polled_per_worker.push(w.polled.get());
        }
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workers            {}", self.workers)?;
        writeln!(f, "goroutines         {}", self.goroutines)?;
        writeln!(f, "spawned            {}", self.spawned)?;
        writeln!(
            f,
            "polled             {} {:?}",
            self.polled, self.polled_per_worker
        )?;
        writeln!(f, "runnext hits       {}", self.runnext_hits)?;
        writeln!(
            f,
            "stolen             {} in {} steals",
            self.stolen, self.steal_operations
        )?;
        writeln!(f, "from global queue  {}", self.injector_taken)?;
        writeln!(f, "overflows          {}", self.overflowed)?;
        writeln!(f, "parks              {}", self.parks)?;
        writeln!(
            f,
            "hand-offs          {} ({} spares running, {} polls by spares)",
            self.handoffs, self.running_spares, self.polled_by_spares
        )?;
        write!(
            f,
            "blocking threads   {} ({} idle)",
            self.blocking_threads, self.idle_blocking_threads
        )
    }
}
