//! `Timer`: Go's `time.Timer`, with `Stop` and `Reset` telling whether the timer was active.

use super::sleep::{TimerEntry, current_handle};
use crate::coop;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A single event in the future (Go's `time.Timer`): it starts when created, fires once, and
/// can be stopped or reset. `wait` completes when it fires.
///
/// Unlike [`sleep`](super::sleep), a timer runs whether or not it is awaited, so `stop` and
/// `reset` can report, as Go's do, whether it was still active.
///
/// ```
/// use gort_runtime::time::{Duration, Timer};
/// gort_runtime::block_on(async {
///     let mut t = Timer::new(Duration::from_millis(5));
///     t.wait().await;
///     assert!(!t.stop()); // it had fired
///     assert!(!t.reset(Duration::from_millis(5))); // inactive before the reset
///     t.wait().await;
/// });
/// ```
pub struct Timer {
    entry: Pin<Box<TimerEntry>>,
    /// False once stopped (or fired and observed): Go's "active".
    running: bool,
}

impl Timer {
    /// Starts a timer that fires after `d`.
    ///
    /// # Panics
    ///
    /// Outside a gort runtime.
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Timer};
    /// gort_runtime::block_on(async {
    ///     let mut t = Timer::new(Duration::from_millis(1));
    ///     t.wait().await;
    /// });
    /// ```
    #[track_caller]
    pub fn new(d: Duration) -> Timer {
        let entry = Box::pin(TimerEntry::after(current_handle("Timer::new"), d));
        let mut timer = Timer {
            entry,
            running: true,
        };
        timer.arm();
        timer
    }

    /// Arms the entry now, so the timer runs even if nobody awaits it.
    fn arm(&mut self) {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if self.entry.as_mut().poll_elapsed(&mut cx).is_ready() {
            // Already due: `wait` will complete at once.
        }
    }

    /// Waits until the timer fires. Waiting on a stopped timer never completes (as receiving
    /// from a stopped Go timer's channel blocks).
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Timer};
    /// gort_runtime::block_on(async {
    ///     let mut t = Timer::new(Duration::from_millis(2));
    ///     t.wait().await;
    /// });
    /// ```
    pub async fn wait(&mut self) {
        poll_fn(|cx| {
            if !self.running {
                return std::task::Poll::Pending;
            }
            let progress = std::task::ready!(coop::poll_proceed(cx));
            let ready = self.entry.as_mut().poll_elapsed(cx);
            if ready.is_ready() {
                progress.made_progress();
                self.running = false;
            }
            ready
        })
        .await;
    }

    /// Stops the timer. True if the call stopped it, false if it had already fired or been
    /// stopped (Go's `Stop`).
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Timer};
    /// gort_runtime::block_on(async {
    ///     let mut t = Timer::new(Duration::from_secs(60));
    ///     assert!(t.stop());
    ///     assert!(!t.stop());
    /// });
    /// ```
    pub fn stop(&mut self) -> bool {
        let was_running = self.running && !self.entry.is_elapsed();
        self.entry.as_mut().cancel();
        self.running = false;
        was_running
    }

    /// Makes the timer fire after `d` from now. True if it was active (Go's `Reset`).
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Timer};
    /// gort_runtime::block_on(async {
    ///     let mut t = Timer::new(Duration::from_secs(60));
    ///     assert!(t.reset(Duration::from_millis(1)));
    ///     t.wait().await;
    /// });
    /// ```
    pub fn reset(&mut self, d: Duration) -> bool {
        let was_running = self.stop();
        self.entry.as_mut().reset_after(d);
        self.running = true;
        self.arm();
        was_running
    }

    /// When the timer fires (or fired).
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Instant, Timer};
    /// gort_runtime::block_on(async {
    ///     let t = Timer::new(Duration::from_secs(1));
    ///     assert!(t.deadline() > Instant::now());
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.entry.deadline()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("deadline", &self.deadline())
            .field("active", &self.running)
            .finish()
    }
}
