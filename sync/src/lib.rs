//! gort-sync: Go's channels, `select!`, `sync` package and `context` for gort, waker-based.
//!
//! `chan` is Go's `hchan` in Rust: one lock per channel around a ring buffer and two FIFO queues
//! of parked senders and receivers, with rendezvous (capacity 0), buffered and unbounded modes.
//! [`select!`] waits on several operations at once, and exactly one of them takes effect.
//! Applications use them as `gort::chan` and `gort::select!`.
//!
//! The sync package (`gort::sync`): [`Mutex`] with Go's normal and starvation modes,
//! [`RwMutex`] with writer preference, [`WaitGroup`], [`Once`], [`Cond`], and x/sync's
//! weighted [`Semaphore`], [`errgroup`] and [`singleflight`]. Their waiters are nodes of an
//! intrusive FIFO inside the waiting futures (`waitq.rs`), so waiting allocates nothing, and
//! every waiting future is cancel-safe: dropped, it leaves the queue, gives back a lock or
//! permits it was handed, and passes on a wake-up it was given. [`context`] is Go's context
//! tree. Each primitive's module opens with its algorithm and invariants; each has loom models
//! of its hand-offs and cancellations (`loom_*.rs`).

/// With `--cfg gort_global_alloc`, the unit tests run on gort's allocator (see `.ci/run`).
#[cfg(all(test, gort_global_alloc))]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

mod after;
pub mod chan;
mod cond;
pub mod context;
pub mod errgroup;
mod gate;
mod loom;
#[cfg(all(test, gort_loom))]
mod loom_cond;
#[cfg(all(test, gort_loom))]
mod loom_context;
#[cfg(all(test, gort_loom))]
mod loom_gate;
#[cfg(all(test, gort_loom))]
mod loom_harness;
#[cfg(all(test, gort_loom))]
mod loom_mutex;
#[cfg(all(test, gort_loom))]
mod loom_rwmutex;
#[cfg(all(test, gort_loom))]
mod loom_semaphore;
mod mutex;
mod once;
mod rwmutex;
mod select;
mod semaphore;
pub mod singleflight;
mod unwind;
mod waitgroup;
mod waitq;

pub use after::after;
pub use cond::{Cond, CondWait};
pub use mutex::{Lock, Mutex, MutexGuard};
pub use once::{Call, Once};
pub use rwmutex::{Read, ReadGuard, RwMutex, Write, WriteGuard};
pub use semaphore::{Acquire, Permit, Semaphore};
pub use waitgroup::{Wait, WaitGroup};

/// Waits on several operations at once and runs the arm of the one that completes: Go's
/// `select` statement.
///
/// ```text
/// select! {
///     pattern = future => body,
///     ...
///     default => body,   // optional
/// }
/// ```
///
/// Each arm's expression is evaluated once, in source order, when the select starts; then:
///
/// - among the arms that are ready at the same time, one is chosen uniformly at random, and its
///   output is matched against its pattern (which must be irrefutable) and its body runs;
/// - exactly one arm takes effect. A channel arm, `rx.recv()` or `tx.send(v)` written directly
///   as the arm's expression, has no effect at all unless it is chosen, even while other
///   goroutines send and receive on the same channels: a counterparty completes a waiting
///   select only by claiming it for one arm. Any other future (a `sleep`, a `JoinHandle`, an
///   `async` block) is polled, and its output dropped if another arm is chosen;
/// - with a `default` arm the select never waits: `default` runs when no arm is ready at once;
/// - a select on both ends of one channel never pairs with itself;
/// - `select! {}` waits forever, as Go's `select {}` does.
///
/// A receive arm's output is `Option<T>` (`None`: closed and drained), a send arm's
/// `Result<(), SendError<T>>`. Dropping a select that is waiting cancels it with nothing
/// lost: a value already handed to one of its receive arms goes back to the channel. The
/// bodies run in the enclosing function, so `break`, `continue`, `return` and `?` work in them.
///
/// ```
/// use gort_sync::{chan, select};
/// use std::time::Duration;
///
/// gort_runtime::block_on(async {
///     let (tx, rx) = chan::bounded::<u32>(0);
///     let (quit_tx, quit_rx) = chan::bounded::<()>(0);
///     gort_runtime::go(async move {
///         for i in 0..3 {
///             tx.send(i).await.unwrap();
///         }
///         quit_tx.send(()).await.unwrap();
///     });
///     let mut got = Vec::new();
///     loop {
///         select! {
///             v = rx.recv() => got.push(v.unwrap()),
///             _ = quit_rx.recv() => break,
///             _ = gort_runtime::time::sleep(Duration::from_secs(10)) => panic!("stuck"),
///         }
///     }
///     assert_eq!(got, [0, 1, 2]);
///
///     // With `default`, a select never waits.
///     let polled = select! {
///         v = rx.recv() => v,
///         default => None,
///     };
///     assert_eq!(polled, None);
/// });
/// ```
#[macro_export]
macro_rules! select {
    ($($arms:tt)*) => {
        $crate::__private::select_impl! { $crate; $($arms)* }
    };
}

/// Support for the macros; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use gort_macros::select_impl;

    /// The select engine and its arms, as `select!` lowers onto them.
    pub mod select {
        pub use crate::chan::select::{RecvArm, SendArm};
        pub use crate::select::{
            ArmOutput, Arms, FutureArm, IntoChanArm, IntoFutureArm, Select, SelectHandle, Token,
            Wrap,
        };
    }
}
