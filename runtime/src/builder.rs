//! `Builder`: the settings of a runtime.

use crate::blocking;
use crate::executor::Runtime;
use std::io;
use std::time::Duration;

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = gort_runtime::Builder::new().workers(2).thread_name("app").build().unwrap();
/// assert_eq!(rt.block_on(async { gort_runtime::runtime::num_workers() }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker per available core, 512 blocking threads at most, idle
    /// blocking threads exit after 10 s.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn new() -> Builder {
        Builder {
            workers: None,
            thread_name: "gort".to_owned(),
            stack_size: None,
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
        }
    }

    /// Number of worker threads (Go's GOMAXPROCS).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().workers(1).build().unwrap();
    /// assert_eq!(rt.block_on(async { gort_runtime::runtime::num_workers() }), 1);
    /// ```
    pub fn workers(mut self, n: usize) -> Builder {
        assert!(n > 0, "gort: a runtime needs at least one worker");
        self.workers = Some(n);
        self
    }

    /// Prefix of the threads' names: workers are `{name}-worker-{i}`, the spare workers that
    /// sysmon starts while a worker is stuck `{name}-spare-{i}`, sysmon `{name}-sysmon`, blocking
    /// threads `{name}-blocking-{i}`.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().thread_name("db").build().unwrap();
    /// let name = rt.block_on(async { std::thread::current().name().unwrap().to_owned() });
    /// assert!(name.starts_with("db-worker-"));
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Stack size of every thread the runtime starts.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().thread_stack_size(4 << 20).build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Most threads the blocking pool may run at once; more `spawn_blocking` calls queue.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().max_blocking_threads(4).build().unwrap();
    /// let v = rt.block_on(async { gort_runtime::spawn_blocking(|| 1 + 1).await }).unwrap();
    /// assert_eq!(v, 2);
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking thread waits for work before it exits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = gort_runtime::Builder::new().blocking_keep_alive(Duration::from_millis(100)).build().unwrap();
    /// rt.block_on(async { gort_runtime::spawn_blocking(|| ()).await }).unwrap();
    /// ```
    pub fn blocking_keep_alive(mut self, d: Duration) -> Builder {
        self.blocking_keep_alive = d;
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// If a thread cannot be started.
    ///
    /// ```
    /// let rt = gort_runtime::Builder::new().workers(3).build().unwrap();
    /// assert_eq!(rt.metrics().workers, 3);
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };
        let blocking = blocking::Config {
            thread_name: format!("{}-blocking", self.thread_name),
            stack_size: self.stack_size,
            max_threads: self.max_blocking_threads,
            keep_alive: self.blocking_keep_alive,
        };
        // Register for the asymmetric fence of biased locks now, on the building thread: the
        // registration can block for milliseconds (an RCU grace period), which on a worker in
        // the middle of its work made a timer 10 ms late.
        #[cfg(not(gort_loom))]
        crate::bias::thread::prepare();
        Runtime::start(workers, &self.thread_name, self.stack_size, blocking)
    }
}
