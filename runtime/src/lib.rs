//! gort-runtime: the core of gort, Go's runtime done the Rust way.
//!
//! Goroutines are futures, scheduled M:N by a work-stealing executor with Go's shape: per
//! worker a 256-slot ring and a `runnext` slot, a global injector checked every 61 ticks,
//! spinning and parking workers that never leave a runnable task waiting while a core idles,
//! and a coop budget that makes a goroutine that never blocks yield anyway. The design essay of
//! each part opens its module: `task` (the allocation, state word and handles), `scheduler`
//! (queues, stealing, parking), `coop` (the budget), `blocking` (the blocking pool), `spin`
//! and `bias` (the spin lock of channels and timer shards, and its bias towards the thread
//! that keeps taking it).
//!
//! Applications use the facade crate `gort`, which re-exports all of this.
//!
//! ```
//! let rt = gort_runtime::Builder::new().workers(2).build().unwrap();
//! let total = rt.block_on(async {
//!     let hs: Vec<_> = (0..100u64).map(|i| gort_runtime::go(async move { i })).collect();
//!     let mut total = 0;
//!     for h in hs {
//!         total += h.await.unwrap();
//!     }
//!     total
//! });
//! assert_eq!(total, 4950);
//! ```

/// With `--cfg gort_global_alloc`, the unit tests run on gort's allocator (see `.ci/run`).
#[cfg(all(test, gort_global_alloc))]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

// Under loom `SpinLock` is loom's `Mutex`, and the bias runs only in its own model.
#[cfg_attr(gort_loom, allow(dead_code))]
mod bias;
mod blocking;
mod builder;
mod context;
pub mod coop;
mod executor;
mod lent;
mod loom;
#[cfg(all(test, gort_loom))]
mod loom_bias;
#[cfg(all(test, gort_loom))]
mod loom_lent;
pub mod runtime;
mod scheduler;
mod spawn;
mod spin;
mod task;
pub mod time;

pub use builder::Builder;
pub use executor::Runtime;
pub use spawn::{block_on, block_on_local, go, spawn, spawn_blocking, yield_now};
pub use task::{JoinError, JoinHandle};

/// Internals that gort-sync shares with this crate; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::spin::{SpinGuard, SpinLock};
}
