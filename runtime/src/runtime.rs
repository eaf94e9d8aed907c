//! Introspection of the current runtime, after Go's `runtime` package: `NumGoroutine`,
//! `GOMAXPROCS`, the scheduler's metrics and a goroutine dump.

use crate::context;
pub use crate::scheduler::Metrics;
use std::fmt::Write;

fn current<R>(what: &str, f: impl FnOnce(&crate::scheduler::Shared) -> R) -> R {
    context::with_handle(|handle| f(handle)).unwrap_or_else(|| {
        panic!("gort::runtime::{what} must be called from inside a gort runtime")
    })
}

/// Live goroutines of the current runtime, the main one included (Go's `NumGoroutine`).
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     assert!(gort_runtime::runtime::num_goroutine() >= 1); // main itself
/// });
/// ```
pub fn num_goroutine() -> usize {
    current("num_goroutine", |shared| shared.owned.len())
}

/// Worker threads of the current runtime (Go's `GOMAXPROCS`).
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// let rt = gort_runtime::Builder::new().workers(3).build().unwrap();
/// assert_eq!(rt.block_on(async { gort_runtime::runtime::num_workers() }), 3);
/// ```
pub fn num_workers() -> usize {
    current("num_workers", |shared| shared.num_workers())
}

/// The current runtime's scheduler counters.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     let m = gort_runtime::runtime::metrics();
///     assert!(m.polled >= 1);
/// });
/// ```
pub fn metrics() -> Metrics {
    current("metrics", |shared| shared.metrics())
}

/// One line per live goroutine: id, state and where it was started, like the header lines of
/// Go's goroutine dump (`goroutine 7 [waiting]: started at src/main.rs:12:5`).
///
/// States: `running` (being polled), `runnable` (queued), `waiting` (parked until a waker
/// fires), `cancelling` (aborted, not yet dropped).
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     let h = gort_runtime::go(std::future::pending::<()>());
///     gort_runtime::yield_now().await;
///     let dump = gort_runtime::runtime::dump();
///     assert!(dump.lines().any(|l| l.starts_with(&format!("goroutine {} [waiting]", h.id()))));
///     h.abort();
/// });
/// ```
pub fn dump() -> String {
    current("dump", |shared| {
        let mut lines = Vec::new();
        shared
            .owned
            .for_each(|task| lines.push((task.id, task.state_name(), task.location)));
        lines.sort_by_key(|line| line.0);
        let mut out = String::new();
        for (id, state, location) in lines {
            let _ = writeln!(out, "goroutine {id} [{state}]: started at {location}");
        }
        out
    })
}
