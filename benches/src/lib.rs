//! Shared pieces of gort's criterion benches.
//!
//! Each bench runs one workload on gort and on its peer in the same criterion group, so a single
//! run gives the ratio. To keep that comparison fair the workload is written once, generic over
//! [`BenchRuntime`], and monomorphized for each runtime: both run the same code, with the same
//! signalling ([`Countdown`], `std::sync::mpsc`, `futures::channel::oneshot`), and differ only in
//! the scheduler underneath.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::oneshot;

pub mod gc_pauses;
pub mod paired;
pub mod reports;

/// A multi-thread runtime as the benches drive it: the handful of operations tokio's scheduler
/// benches use, named after what they do rather than after either runtime's spelling.
pub trait BenchRuntime: Sized + 'static {
    /// The name of the runtime: the function name inside each criterion group.
    const NAME: &'static str;

    /// Why a task's join handle resolved to an error (a panic or a cancellation).
    type JoinError: std::fmt::Debug;

    /// The handle of a spawned task; dropping it detaches the task.
    type JoinHandle<T: Send + 'static>: Future<Output = Result<T, Self::JoinError>> + Send;

    /// Builds a runtime with `workers` worker threads.
    fn with_workers(workers: usize) -> Self;

    /// Runs `fut` to completion; the calling thread waits for it.
    fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send;

    /// Spawns a task from any thread, through the runtime value (a "remote" spawn).
    fn spawn_on<F>(&self, fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns a task on the current runtime, from inside one of its tasks.
    fn spawn<F>(fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Sends the current task to the back of the run queue.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

impl BenchRuntime for gort::Runtime {
    const NAME: &'static str = "gort";

    type JoinError = gort::JoinError;
    type JoinHandle<T: Send + 'static> = gort::JoinHandle<T>;

    fn with_workers(workers: usize) -> Self {
        gort::Builder::new()
            .workers(workers)
            .build()
            .expect("building a gort runtime")
    }

    fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        gort::Runtime::block_on(self, fut)
    }

    fn spawn_on<F>(&self, fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        gort::Runtime::spawn(self, fut)
    }

    fn spawn<F>(fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        gort::spawn(fut)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        gort::yield_now()
    }
}

impl BenchRuntime for tokio::runtime::Runtime {
    const NAME: &'static str = "tokio";

    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: Send + 'static> = tokio::task::JoinHandle<T>;

    fn with_workers(workers: usize) -> Self {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("building a tokio runtime")
    }

    fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        tokio::runtime::Runtime::block_on(self, fut)
    }

    fn spawn_on<F>(&self, fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::runtime::Runtime::spawn(self, fut)
    }

    fn spawn<F>(fut: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(fut)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

/// A count of outstanding tasks that fires a oneshot when the last one checks in.
///
/// tokio's benches count down an `AtomicUsize` and have the last task send on a
/// `std::sync::mpsc` channel that the `block_on` future receives from, blocking its thread. That
/// only works where `block_on` polls on the caller's thread; gort runs the `block_on` future as a
/// goroutine on a worker, where a blocking receive would stall the worker. So the last task
/// sends on a `futures` oneshot instead, which the `block_on` future awaits on either runtime.
#[derive(Debug)]
pub struct Countdown {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Countdown {
    /// A countdown from `count`, and the receiver that completes when it reaches zero.
    pub fn new(count: usize) -> (Arc<Countdown>, oneshot::Receiver<()>) {
        let (done, receiver) = oneshot::channel();
        let countdown = Countdown {
            remaining: AtomicUsize::new(count),
            done: Mutex::new(Some(done)),
        };
        (Arc::new(countdown), receiver)
    }

    /// Checks one task in; the call that brings the count to zero completes the receiver.
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Relaxed) == 1 {
            let done = self.done.lock().unwrap().take();
            if let Some(done) = done {
                // The receiver may be gone if the waiting side gave up: nothing left to tell.
                let _ = done.send(());
            }
        }
    }
}

/// How long [`stall`] keeps a worker busy: tokio's `STALL_DUR`.
pub const STALL_DURATION: Duration = Duration::from_micros(10);

/// Burns [`STALL_DURATION`] of wall time, yielding the OS thread between checks, as a task that
/// does a little CPU work between awaits.
pub fn stall() {
    let start = Instant::now();
    while start.elapsed() < STALL_DURATION {
        std::thread::yield_now();
    }
}
