//! The `go` statement and its relatives: `go`/`spawn`, `spawn_blocking`, `yield_now`,
//! `block_on`.

use crate::context;
use crate::executor::Runtime;
use crate::scheduler::Shared;
use crate::task::JoinHandle;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

const OUTSIDE: &str = "must be called from inside a gort runtime (a goroutine, a blocking task \
                       or `block_on`); start one with #[gort::main], gort::block_on or Runtime::new";

/// Starts a goroutine: Go's `go` statement. The future runs concurrently on the current
/// runtime's workers; the returned [`JoinHandle`] gives its output. Dropping the handle lets
/// the goroutine run on, detached.
///
/// A goroutine started by a goroutine runs next on the same worker (Go's `runnext`), so
/// spawning is cheap and cache-friendly; idle workers steal the rest.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     let h = gort_runtime::go(async { "hello" });
///     assert_eq!(h.await.unwrap(), "hello");
/// });
/// ```
#[track_caller]
pub fn go<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    match context::with_handle(|handle| Shared::spawn(handle, future, location)) {
        Some(join) => join,
        None => panic!("gort::go {OUTSIDE}"),
    }
}

/// The same as [`go`], under tokio's name.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     assert_eq!(gort_runtime::spawn(async { 1 }).await.unwrap(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    match context::with_handle(|handle| Shared::spawn(handle, future, location)) {
        Some(join) => join,
        None => panic!("gort::spawn {OUTSIDE}"),
    }
}

/// Runs a blocking closure on the runtime's blocking pool, so it does not stall a worker and
/// the goroutines queued behind it.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// gort_runtime::block_on(async {
///     let n = gort_runtime::spawn_blocking(|| std::fs::read_dir(".").unwrap().count());
///     assert!(n.await.unwrap() > 0);
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    match context::with_handle(|handle| crate::blocking::Spawner::spawn(handle, f, location)) {
        Some(join) => join,
        None => panic!("gort::spawn_blocking {OUTSIDE}"),
    }
}

/// Yields the worker (Go's `runtime.Gosched`): the goroutine runs again after every goroutine
/// that is runnable now, on this worker's queue or the global one, and never from `runnext`.
/// Go puts it at the back of the global queue; gort keeps it in a list of its worker's that
/// rejoins the run queue when nothing else is runnable (and every 61 polls), which costs no
/// atomic operation and lets idle workers steal it then.
///
/// ```
/// gort_runtime::block_on(async {
///     for _ in 0..3 {
///         gort_runtime::yield_now().await;
///     }
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await;
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Woken during its own poll: the scheduler queues the task behind the others.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs `future` as the main goroutine of a new runtime with the default settings, blocks
/// until it completes, then shuts the runtime down (as Go's `main` returning ends the
/// program's goroutines).
///
/// # Panics
///
/// Inside a goroutine (await instead), or if the runtime's threads cannot be started. A panic
/// of the main goroutine resumes here.
///
/// ```
/// let v = gort_runtime::block_on(async { 40 + 2 });
/// assert_eq!(v, 42);
/// ```
#[track_caller]
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = Runtime::new().expect("gort: failed to start the runtime's threads");
    rt.block_on(future)
}

/// Polls a `!Send` future on the calling thread, with a new default runtime as the current
/// one so it can start goroutines (as tokio's `block_on` does).
///
/// ```
/// use std::rc::Rc;
/// let rc = Rc::new(1);
/// let v = gort_runtime::block_on_local(async move { *rc + gort_runtime::go(async { 1 }).await.unwrap() });
/// assert_eq!(v, 2);
/// ```
pub fn block_on_local<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().expect("gort: failed to start the runtime's threads");
    rt.block_on_local(future)
}
