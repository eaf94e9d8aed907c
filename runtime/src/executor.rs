//! `Runtime`: starts the workers, runs the main goroutine, shuts everything down.
//!
//! `block_on` runs its future as a goroutine on a worker, as Go runs `main`: a channel
//! ping-pong in main then costs what it costs between goroutines, instead of a thread wake-up
//! per message as when main is polled on the calling thread. The calling thread only waits for
//! the goroutine's `JoinHandle`. Because the future may borrow from the caller, the goroutine is
//! spawned with its lifetime erased; soundness rests on `block_on` not returning (nor
//! unwinding) before the task has completed, which drops the future first.

use crate::blocking;
use crate::context;
use crate::loom::{Arc, Condvar, Mutex, lock, thread};
use crate::scheduler::{self, Metrics, Parker, Shared};
use crate::task::{JoinError, JoinHandle};
use std::future::Future;
use std::io;
use std::panic::{self, Location};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Spare workers per worker, for sysmon to start while workers are stuck (`scheduler/spare.rs`).
/// None under loom, whose models of the runtime have no sysmon.
const SPARES: usize = if cfg!(gort_loom) { 0 } else { 1 };

/// A gort runtime: worker threads (GOMAXPROCS of them), their queues, the blocking pool.
///
/// Dropping the runtime stops the workers at their next poll point, cancels every goroutine
/// that has not finished (their destructors run) and detaches blocking threads that are still
/// running a closure. [`shutdown_timeout`](Runtime::shutdown_timeout) bounds the wait.
///
/// # Examples
///
/// ```
/// let rt = gort_runtime::Runtime::new().unwrap();
/// let v = rt.block_on(async {
///     let h = gort_runtime::go(async { 6 * 7 });
///     h.await.unwrap()
/// });
/// assert_eq!(v, 42);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    workers: Vec<thread::JoinHandle<()>>,
    exits: Arc<ExitLatch>,
    is_shut_down: bool,
}

/// Counts one thread out of the runtime when dropped.
struct Exited(Arc<ExitLatch>);

impl Drop for Exited {
    fn drop(&mut self) {
        *lock(&self.0.exited) += 1;
        self.0.condvar.notify_all();
    }
}

/// Counts worker threads that have left their loop.
struct ExitLatch {
    exited: Mutex<usize>,
    condvar: Condvar,
}

impl Runtime {
    /// A runtime with the default settings: one worker per available core.
    ///
    /// # Errors
    ///
    /// If a thread cannot be started.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// rt.block_on(async { println!("hello from a goroutine") });
    /// ```
    pub fn new() -> io::Result<Runtime> {
        crate::Builder::new().build()
    }

    pub(crate) fn start(
        num_workers: usize,
        thread_name: &str,
        stack_size: Option<usize>,
        blocking: blocking::Config,
    ) -> io::Result<Runtime> {
        let (shared, parts, sysmon) = Shared::new(
            num_workers,
            SPARES * num_workers,
            blocking::Spawner::new(blocking),
        );
        let exits = Arc::new(ExitLatch {
            exited: Mutex::new(0),
            condvar: Condvar::new(),
        });
        let mut rt = Runtime {
            shared: shared.clone(),
            workers: Vec::new(),
            exits: exits.clone(),
            is_shut_down: false,
        };
        for (index, part) in parts.into_iter().enumerate() {
            let name = if index < num_workers {
                format!("{thread_name}-worker-{index}")
            } else {
                format!("{thread_name}-spare-{}", index - num_workers)
            };
            rt.start_thread(name, stack_size, move |shared| {
                scheduler::run_worker(shared, part)
            })?;
        }
        #[cfg(not(gort_loom))]
        rt.start_thread(format!("{thread_name}-sysmon"), None, move |shared| {
            scheduler::run_sysmon(shared, sysmon)
        })?;
        #[cfg(gort_loom)]
        drop(sysmon);
        Ok(rt)
    }

    /// Starts one of the runtime's threads; shutdown waits for it to return.
    fn start_thread(
        &mut self,
        name: String,
        stack_size: Option<usize>,
        body: impl FnOnce(Arc<Shared>) + Send + 'static,
    ) -> io::Result<()> {
        let mut builder = thread::Builder::new().name(name);
        if let Some(size) = stack_size {
            builder = builder.stack_size(size);
        }
        let (shared, exits) = (self.shared.clone(), self.exits.clone());
        // On error `self` drops in the caller and stops the threads already started.
        let handle = builder.spawn(move || {
            // Counted on the way out even if the body panics (a bug in a worker's teardown):
            // shutdown waits for the count, and would otherwise wait forever.
            let _exit = Exited(exits);
            body(shared);
        })?;
        self.workers.push(handle);
        Ok(())
    }

    /// Runs `future` as the main goroutine on a worker and blocks the calling thread until it
    /// completes. The future may borrow from the caller. A panic in it resumes here.
    ///
    /// # Panics
    ///
    /// When called from inside a goroutine: blocking a worker would stall every goroutine
    /// queued behind it; `.await` the future instead.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let data = vec![1, 2, 3];
    /// let sum: i32 = rt.block_on(async { data.iter().sum() });
    /// assert_eq!(sum, 6);
    /// ```
    #[track_caller]
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        assert!(
            !context::is_worker(),
            "gort: block_on called from inside a goroutine; a goroutine that blocks its worker \
             stalls every goroutine queued behind it: `.await` the future instead"
        );
        // SAFETY: `wait_for` does not return before the task completed (which drops the future
        // and hands us the output), and aborts the process rather than unwind before that.
        let join = unsafe { Shared::spawn_unchecked(&self.shared, future, Location::caller()) };
        match wait_for(join) {
            Ok(output) => output,
            Err(err) if err.is_panic() => panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("gort: the main goroutine was cancelled: {err}"),
        }
    }

    /// Polls a `!Send` future on the calling thread (as tokio's `block_on` does) with this
    /// runtime as the current one, so it can start goroutines. Prefer
    /// [`block_on`](Runtime::block_on), which runs the future on a worker.
    ///
    /// ```
    /// use std::rc::Rc;
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let local = Rc::new(5);
    /// let v = rt.block_on_local(async move {
    ///     let h = gort_runtime::go(async { 1 });
    ///     *local + h.await.unwrap()
    /// });
    /// assert_eq!(v, 6);
    /// ```
    pub fn block_on_local<F: Future>(&self, future: F) -> F::Output {
        let _enter = context::enter(self.shared.clone());
        poll_on_this_thread(future)
    }

    /// Starts a goroutine on this runtime from any thread.
    ///
    /// ```
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// let h = rt.spawn(async { 1 + 1 });
    /// assert_eq!(rt.block_on(h).unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Shared::spawn(&self.shared, future, Location::caller())
    }

    /// Counters of this runtime's scheduler.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().workers(2).build().unwrap();
    /// assert_eq!(rt.metrics().workers, 2);
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Shuts down, waiting at most `timeout` for the workers to stop and the blocking threads
    /// to finish; unfinished goroutines are dropped (their destructors run) and threads still
    /// busy after the timeout are detached.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = gort_runtime::Runtime::new().unwrap();
    /// rt.spawn(std::future::pending::<()>());
    /// rt.shutdown_timeout(Duration::from_secs(1));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(Instant::now() + timeout));
    }

    fn shutdown(&mut self, mut deadline: Option<Instant>) {
        if std::mem::replace(&mut self.is_shut_down, true) {
            return;
        }
        if context::is_worker() {
            // Dropped inside a goroutine (perhaps of this very runtime): waiting for workers
            // from a worker could deadlock and would stall its queue. Signal and move on; the
            // workers exit at their next tick and are detached.
            deadline = Some(Instant::now());
        }
        self.shared.shutdown();
        let all_exited = {
            let mut exited = lock(&self.exits.exited);
            loop {
                if *exited == self.workers.len() {
                    break true;
                }
                match deadline {
                    None => {
                        exited = self
                            .exits
                            .condvar
                            .wait(exited)
                            .unwrap_or_else(|e| e.into_inner())
                    }
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            break false;
                        }
                        exited = self
                            .exits
                            .condvar
                            .wait_timeout(exited, deadline - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        };
        if all_exited {
            for handle in self.workers.drain(..) {
                let _ = handle.join();
            }
        }
        {
            // Destructors of cancelled goroutines may start goroutines: they see this runtime
            // (closed) and are cancelled at once.
            let _enter = context::enter(self.shared.clone());
            self.shared.shutdown_tasks();
        }
        self.shared.blocking.shutdown(deadline);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.num_workers())
            .finish()
    }
}

/// Blocks this thread until `join` completes.
fn wait_for<T>(join: JoinHandle<T>) -> Result<T, JoinError> {
    struct AbortOnUnwind;
    impl Drop for AbortOnUnwind {
        fn drop(&mut self) {
            // The main goroutine may still borrow from our caller's frame: unwinding past it
            // would be unsound.
            eprintln!("gort: panic while waiting for the main goroutine; aborting");
            std::process::abort();
        }
    }
    let guard = AbortOnUnwind;
    let output = poll_on_this_thread(join);
    std::mem::forget(guard);
    output
}

/// Polls `future` to completion on the calling thread, parking it between polls.
pub(crate) fn poll_on_this_thread<F: Future>(future: F) -> F::Output {
    let parker = Parker::new();
    let waker = Waker::from(std::sync::Arc::new(parker.unparker()));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        let polled = crate::coop::with_budget(crate::coop::Budget::initial(), || {
            Pin::as_mut(&mut future).poll(&mut cx)
        });
        if let Poll::Ready(output) = polled {
            return output;
        }
        parker.park();
    }
}
