//! gort: Go's runtime, done the Rust way.
//!
//! `gort::go(fut)` starts a goroutine (a future) on a work-stealing M:N scheduler with Go's
//! shape: per-worker run queues with a `runnext` slot, a global queue, spinning and parking
//! workers, and budget-based cooperative preemption. Applications start with `#[gort::main]`.
//!
//! ```
//! #[gort::main(workers = 2)]
//! async fn main() {
//!     let handles: Vec<_> = (0..1000u64).map(|i| gort::go(async move { i * 2 })).collect();
//!     let mut sum = 0;
//!     for h in handles {
//!         sum += h.await.unwrap();
//!     }
//!     assert_eq!(sum, 999_000);
//! }
//! ```
//!
//! This crate only re-exports: the runtime lives in `gort-runtime`, the attribute macros in
//! `gort-macros`, the allocator in `gort-alloc`, the collector in `gort-gc`.

pub use gort_macros::{main, test};
pub use gort_runtime::{
    Builder, JoinError, JoinHandle, Runtime, block_on, block_on_local, coop, go, spawn,
    spawn_blocking, yield_now,
};
pub use gort_sync::select;

/// Go's channels: `bounded(0)` is a rendezvous, `bounded(n)` buffered, `unbounded()` never
/// waits to send; MPMC, closed by `close()` or by the last `Sender` going away.
pub mod chan {
    pub use gort_sync::chan::*;
}

/// Go's `sync` package, waker-based: `Mutex` with Go's normal and starvation modes,
/// `RwMutex` with writer preference, `WaitGroup`, `Once`, `Cond`, and x/sync's weighted
/// `Semaphore`, `errgroup` and `singleflight`.
///
/// ```
/// use gort::sync::Mutex;
/// use std::sync::Arc;
///
/// #[gort::main(workers = 2)]
/// async fn main() {
///     let hits = Arc::new(Mutex::new(0));
///     let handles: Vec<_> = (0..4)
///         .map(|_| {
///             let hits = hits.clone();
///             gort::go(async move { *hits.lock().await += 1 })
///         })
///         .collect();
///     for h in handles {
///         h.await.unwrap();
///     }
///     assert_eq!(*hits.lock().await, 4);
/// }
/// ```
pub mod sync {
    pub use gort_sync::{
        Acquire, Call, Cond, CondWait, Lock, Mutex, MutexGuard, Once, Permit, Read, ReadGuard,
        RwMutex, Semaphore, Wait, WaitGroup, Write, WriteGuard, errgroup, singleflight,
    };
}

/// Go's `context`: a tree of cancellation, deadlines and values; `done()` is a future for
/// `select!`.
///
/// ```
/// use gort::context;
/// use std::time::Duration;
///
/// #[gort::main(workers = 2)]
/// async fn main() {
///     let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(5));
///     let answer = gort::select! {
///         _ = ctx.done() => ctx.err(),
///         _ = gort::time::sleep(Duration::from_secs(10)) => None,
///     };
///     assert_eq!(answer, Some(context::ContextError::DeadlineExceeded));
/// }
/// ```
pub mod context {
    pub use gort_sync::context::*;
}

/// Timers: `sleep`, `timeout`, Go's `Timer` and `Ticker`, on a timing wheel per worker.
pub mod time {
    pub use gort_runtime::time::*;
    pub use gort_sync::after;
}

/// Introspection, after Go's `runtime` package: goroutine count, GOMAXPROCS, scheduler metrics
/// and a goroutine dump.
pub mod runtime {
    pub use gort_runtime::runtime::{Metrics, dump, metrics, num_goroutine, num_workers};
}

/// gort's allocator, after Go's and TCMalloc's: size classes, per-thread caches, central lists
/// and a page heap over sparse arenas. Install it as the process's allocator:
///
/// ```
/// #[global_allocator]
/// static ALLOC: gort::alloc::GortAlloc = gort::alloc::GortAlloc;
///
/// let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
/// assert_eq!(words[42], "42");
/// assert!(gort::alloc::stats().mapped > 0);
/// ```
pub mod alloc {
    pub use gort_alloc::*;
}

/// gort's garbage collector: `Gc<T>` and `GcCell<T>` on a concurrent tri-colour mark-sweep
/// collector, paced by GOGC, with stop-the-world pauses only for its phase flips.
///
/// ```
/// use gort::gc::{Gc, GcCell, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     value: i32,
///     next: GcCell<Option<Gc<Node>>>,
/// }
///
/// let a = Gc::new(Node { value: 1, next: GcCell::new(None) });
/// let b = Gc::new(Node { value: 2, next: GcCell::new(Some(a.clone())) });
/// *a.next.borrow_mut() = Some(b); // a cycle, freed once unreachable
/// assert_eq!(a.next.borrow().as_ref().unwrap().value, 2);
/// gort::gc::collect();
/// ```
pub mod gc {
    pub use gort_gc::*;
}

/// Support for the macros; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use gort_runtime::Builder;
}
