//! `Ticker` and `interval`: Go's `time.Ticker`, dropping ticks for a slow reader.
//!
//! Tick `k` is due at `start + k * period`, computed from the start and not from the previous
//! tick, so ticks do not drift. A Go ticker sends into a channel of capacity one and drops a
//! tick that finds it full; the reader sees at most one stale tick, then ticks on the period
//! grid again. `tick` does the same without a channel: if the next tick is already past, it is
//! returned at once (with the instant it was due), and the one after is the first grid point
//! after now. Never a burst.
//!
//! The grid starts on a tick boundary of the timing wheel, so a period that is a whole number
//! of milliseconds loses nothing to the wheel's rounding, and a tick delivered less than one
//! wheel tick late is not counted as missed.

use super::sleep::{TimerEntry, current_handle};
use crate::coop;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Delivers ticks at a period (Go's `time.Ticker`).
///
/// ```
/// use gort_runtime::time::{Duration, Ticker};
/// gort_runtime::block_on(async {
///     let mut t = Ticker::new(Duration::from_millis(2));
///     let a = t.tick().await;
///     let b = t.tick().await;
///     // Ticks lie on the period's grid (a reader running late skips some).
///     assert_eq!((b - a).as_nanos() % Duration::from_millis(2).as_nanos(), 0);
/// });
/// ```
pub struct Ticker {
    period: Duration,
    next: Instant,
    entry: Pin<Box<TimerEntry>>,
    stopped: bool,
}

/// A [`Ticker`] with the given period, whose first tick comes one period from now.
///
/// # Panics
///
/// If `period` is zero (as Go's `NewTicker`), or outside a gort runtime.
///
/// ```
/// use gort_runtime::time::{interval, Duration};
/// gort_runtime::block_on(async {
///     let mut ticks = interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Ticker {
    Ticker::new(period)
}

impl Ticker {
    /// Starts a ticker; the first tick comes one period from now.
    ///
    /// # Panics
    ///
    /// If `period` is zero: "non-positive interval for NewTicker", as in Go. Outside a gort
    /// runtime.
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Ticker};
    /// gort_runtime::block_on(async {
    ///     let mut t = Ticker::new(Duration::from_millis(1));
    ///     t.tick().await;
    /// });
    /// ```
    #[track_caller]
    pub fn new(period: Duration) -> Ticker {
        assert!(!period.is_zero(), "non-positive interval for NewTicker");
        let home = current_handle("Ticker::new");
        let next = home.handle.time.align_up(Instant::now() + period);
        let entry = Box::pin(TimerEntry::at(home, next));
        Ticker {
            period,
            next,
            entry,
            stopped: false,
        }
    }

    /// Waits for the next tick and returns the instant it was due. A reader that fell behind
    /// gets one tick at once and then the next tick on the period's grid: missed ticks are
    /// dropped, never delivered in a burst.
    ///
    /// ```
    /// use gort_runtime::time::{sleep, Duration, Ticker};
    /// gort_runtime::block_on(async {
    ///     let mut t = Ticker::new(Duration::from_millis(2));
    ///     sleep(Duration::from_millis(9)).await; // miss about four ticks
    ///     let stale = t.tick().await; // one of them, at once
    ///     let next = t.tick().await; // then back on the grid
    ///     assert!(next - stale >= Duration::from_millis(2));
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| {
            if self.stopped {
                return Poll::Pending;
            }
            let progress = std::task::ready!(coop::poll_proceed(cx));
            std::task::ready!(self.entry.as_mut().poll_elapsed(cx));
            progress.made_progress();
            let due = self.next;
            // The next grid point after now: skipped ticks are dropped. Lateness up to one
            // wheel tick is the wheel's rounding, not a slow reader, and drops nothing.
            let late = Instant::now().saturating_duration_since(due);
            let behind = late.saturating_sub(Duration::from_millis(1)).as_nanos()
                / self.period.as_nanos().max(1);
            let skip = u32::try_from(behind + 1).unwrap_or(u32::MAX);
            self.next = due + self.period * skip;
            let next = self.next;
            self.entry.as_mut().reset(next);
            Poll::Ready(due)
        })
        .await
    }

    /// Changes the period; the next tick comes one new period from now (Go's `Reset`).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Ticker};
    /// gort_runtime::block_on(async {
    ///     let mut t = Ticker::new(Duration::from_secs(60));
    ///     t.reset(Duration::from_millis(1));
    ///     t.tick().await;
    /// });
    /// ```
    pub fn reset(&mut self, period: Duration) {
        assert!(!period.is_zero(), "non-positive interval for Ticker.Reset");
        self.period = period;
        self.next = self.entry.align_up(Instant::now() + period);
        let next = self.next;
        self.entry.as_mut().reset(next);
        self.stopped = false;
    }

    /// Stops the ticker: `tick` no longer completes (Go's `Stop`).
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Ticker};
    /// gort_runtime::block_on(async {
    ///     let mut t = Ticker::new(Duration::from_millis(1));
    ///     t.stop();
    /// });
    /// ```
    pub fn stop(&mut self) {
        self.entry.as_mut().cancel();
        self.stopped = true;
    }

    /// The ticker's period.
    ///
    /// ```
    /// use gort_runtime::time::{Duration, Ticker};
    /// gort_runtime::block_on(async {
    ///     assert_eq!(Ticker::new(Duration::from_millis(3)).period(), Duration::from_millis(3));
    /// });
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticker")
            .field("period", &self.period)
            .field("next", &self.next)
            .finish()
    }
}
