//! `after`: Go's `time.After`, a channel that receives the time once a duration has passed.
//!
//! It lives here rather than in `gort::time` because timers sit below channels (gort-runtime
//! knows nothing of gort-sync); the facade re-exports it as `gort::time::after`. As in Go, the
//! channel has room for one value, so the timer never waits for a reader: a goroutine sleeps
//! until the deadline and puts the time in the channel. If every receiver is gone by then, the
//! channel is closed and the value is dropped. Until the deadline the goroutine and its timer
//! stay alive even if nobody holds the receiver any more (as with Go before 1.23): for a long
//! timeout that may be abandoned, prefer `gort::time::timeout` or `Timer`.

use crate::chan::{self, Receiver};
use gort_runtime::time::{Duration, Instant, sleep};

/// A channel that receives the current time once `d` has passed (Go's `time.After`).
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// use gort_runtime::time::{Duration, Instant};
/// gort_runtime::block_on(async {
///     let start = Instant::now();
///     let at = gort_sync::after(Duration::from_millis(5)).recv().await.unwrap();
///     assert!(at - start >= Duration::from_millis(5));
/// });
/// ```
#[track_caller]
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = chan::bounded(1);
    let timer = sleep(d);
    gort_runtime::go(async move {
        timer.await;
        // Fails only if every receiver is gone: nobody is left to tell.
        let _ = tx.try_send(Instant::now());
    });
    rx
}
