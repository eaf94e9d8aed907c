//! `sleep`, `sleep_until` and the `TimerEntry` every timer future is built on.

use super::clock::{clamp_i64, duration_nanos};
use super::driver::{Registered, tick_of};
use super::entry::Entry;
use crate::context;
use crate::coop;
use crate::lent::Lent;
use crate::scheduler::Shared;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The owner's side of a timer: the entry (pinned inside the future) and where it is armed.
pub(crate) struct TimerEntry {
    /// Taken in `drop`, which gives it back to the worker it is dropped on (see `lend.rs`).
    handle: ManuallyDrop<Lent<Shared>>,
    /// Nanoseconds since the driver's start (negative before it): cheaper to compute and to
    /// turn into a tick than an `Instant`, which `deadline()` builds on demand.
    deadline: i64,
    shard: u32,
    /// The deadline was at or before the clock when it was set: due at once, with no second
    /// read of the clock.
    due: bool,
    state: Armed,
    entry: Entry,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Armed {
    /// Not in any wheel yet (armed lazily, at the first poll).
    No,
    /// In the wheel of `shard`, unless the driver fired it meanwhile.
    Yes,
    /// Fired: the deadline passed.
    Done,
}

/// The runtime a new timer belongs to, the shard it arms in (the current worker's: one shard
/// per worker, so no division; shard 0 on threads that are not its workers), and the time.
pub(crate) struct TimerHome {
    pub(crate) handle: Lent<Shared>,
    shard: usize,
    /// The driver's clock now or a little later, never earlier (see `clock.rs`).
    now: u64,
}

pub(crate) fn current_handle(what: &str) -> TimerHome {
    context::with_handle_and_worker(|handle, worker| match worker {
        Some(worker) => TimerHome {
            now: handle.time.clock.now_upper(worker.clock_cache()),
            // A reference from the worker's stock, without touching a shared count (see
            // `lend.rs`).
            handle: worker.lend_handle(),
            shard: worker.index(),
        },
        None => TimerHome {
            now: handle.time.clock.now(),
            handle: Lent::new(handle),
            shard: 0,
        },
    })
    .unwrap_or_else(|| {
        panic!("gort::time::{what} must be called from inside a gort runtime (timers need its timer wheel)")
    })
}

/// `now + d` in the driver's nanoseconds, saturating (at 292 years: a deadline that never
/// comes).
fn deadline_after(now: u64, d: Duration) -> i64 {
    clamp_i64(now.saturating_add(duration_nanos(d)))
}

impl TimerEntry {
    /// A timer due `d` from now.
    pub(crate) fn after(home: TimerHome, d: Duration) -> TimerEntry {
        let deadline = deadline_after(home.now, d);
        TimerEntry::new(home, deadline, d.is_zero())
    }

    /// A timer due at `deadline`.
    pub(crate) fn at(home: TimerHome, deadline: Instant) -> TimerEntry {
        let clock = &home.handle.time.clock;
        let deadline = clock.signed_nanos(deadline);
        // Due only if the real clock has passed it: `home.now` may be a little ahead.
        let due = deadline <= clamp_i64(clock.now());
        TimerEntry::new(home, deadline, due)
    }

    fn new(home: TimerHome, deadline: i64, due: bool) -> TimerEntry {
        let TimerHome { handle, shard, .. } = home;
        debug_assert!(shard < handle.time.num_shards());
        TimerEntry {
            handle: ManuallyDrop::new(handle),
            deadline,
            due,
            shard: shard as u32,
            state: Armed::No,
            entry: Entry::new(),
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.handle.time.clock.instant(self.deadline)
    }

    /// `t` moved up to the wheel's next tick boundary (see `TimeDriver::align_up`).
    pub(crate) fn align_up(&self, t: Instant) -> Instant {
        self.handle.time.align_up(t)
    }

    fn entry_ptr(&self) -> NonNull<Entry> {
        NonNull::from(&self.entry)
    }

    /// True once the deadline has passed (whether or not the fire was observed yet).
    pub(crate) fn is_elapsed(&self) -> bool {
        match self.state {
            Armed::Done => true,
            Armed::Yes => self.entry.is_fired(),
            Armed::No => clamp_i64(self.handle.time.clock.now()) >= self.deadline,
        }
    }

    /// Ready once the deadline has passed; registers `cx`'s waker otherwise.
    pub(crate) fn poll_elapsed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the entry is never moved out of `self` (structural pinning); the other
        // fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        let driver = &this.handle.time;
        match this.state {
            Armed::Done => Poll::Ready(()),
            Armed::Yes => {
                if this.entry.is_fired() {
                    this.state = Armed::Done;
                    return Poll::Ready(());
                }
                // SAFETY: the entry is pinned in `self` and armed in `this.shard`.
                if unsafe { driver.update_waker(this.shard as usize, this.entry_ptr(), cx.waker()) }
                {
                    Poll::Pending
                } else {
                    this.state = Armed::Done;
                    Poll::Ready(())
                }
            }
            Armed::No => {
                if this.due {
                    this.state = Armed::Done;
                    return Poll::Ready(());
                }
                let when = tick_of(this.deadline);
                // SAFETY: the entry is pinned in `self`, which cancels it on drop; it is unarmed.
                match unsafe {
                    driver.register(this.shard as usize, this.entry_ptr(), when, cx.waker())
                } {
                    Registered::Fired => {
                        this.state = Armed::Done;
                        Poll::Ready(())
                    }
                    Registered::Armed { unpark } => {
                        this.state = Armed::Yes;
                        if let Some(worker) = unpark {
                            this.handle.unpark_worker(worker);
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }

    /// Disarms the timer. True if it was armed and had not fired.
    pub(crate) fn cancel(self: Pin<&mut Self>) -> bool {
        // SAFETY: as in `poll_elapsed`.
        let this = unsafe { self.get_unchecked_mut() };
        let was_pending = match this.state {
            // SAFETY: the entry is alive and was armed in `this.shard`.
            Armed::Yes => unsafe {
                this.handle
                    .time
                    .cancel(this.shard as usize, this.entry_ptr())
            },
            Armed::No | Armed::Done => false,
        };
        if this.state == Armed::Yes && !was_pending {
            // It fired: the driver is done with it.
            // SAFETY: fired entries are in no wheel.
            unsafe { this.entry.reuse() };
        }
        this.state = Armed::No;
        was_pending
    }

    /// Moves the deadline; the timer re-arms at its next poll.
    pub(crate) fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.as_mut().cancel();
        // SAFETY: as in `poll_elapsed`.
        let this = unsafe { self.get_unchecked_mut() };
        let clock = &this.handle.time.clock;
        this.deadline = clock.signed_nanos(deadline);
        this.due = this.deadline <= clamp_i64(clock.now());
    }

    /// Moves the deadline to `d` from now; the timer re-arms at its next poll.
    pub(crate) fn reset_after(mut self: Pin<&mut Self>, d: Duration) {
        self.as_mut().cancel();
        // SAFETY: as in `poll_elapsed`.
        let this = unsafe { self.get_unchecked_mut() };
        let clock = &this.handle.time.clock;
        let now = context::with_worker(|worker| match worker {
            Some(worker) if worker.belongs_to(&this.handle) => {
                clock.now_upper(worker.clock_cache())
            }
            _ => clock.now(),
        });
        this.deadline = deadline_after(now, d);
        this.due = d.is_zero();
    }
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        if self.state == Armed::Yes && !self.entry.is_fired() {
            // SAFETY: the entry is alive until this returns and was armed in `self.shard`.
            unsafe {
                self.handle
                    .time
                    .cancel(self.shard as usize, self.entry_ptr())
            };
        }
        // SAFETY: taken once, here; the field is not used again.
        let handle = unsafe { ManuallyDrop::take(&mut self.handle) };
        context::return_handle(handle);
    }
}

/// Waits until `d` has passed; see [`Sleep`].
///
/// On a worker the deadline is `d` after the worker's reading of the clock, which may be a
/// few microseconds ahead of `Instant::now()` and is never behind it (it extrapolates from
/// the CPU's time-stamp counter between real reads), so the sleep never ends early.
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// use gort_runtime::time::{sleep, Duration, Instant};
/// gort_runtime::block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
// `#[inline]`, as is `Sleep::poll`: called from another crate, each is otherwise a call
// that returns the 64-byte future through memory. A million timers armed and cancelled
// in one poll: 44.8-45.0 -> 43.0-43.1 ms (the destructor inlined as well was slower).
#[track_caller]
#[inline]
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        entry: TimerEntry::after(current_handle("sleep"), d),
    }
}

/// Waits until `deadline`; see [`Sleep`].
///
/// # Panics
///
/// Outside a gort runtime.
///
/// ```
/// use gort_runtime::time::{sleep_until, Duration, Instant};
/// gort_runtime::block_on(async {
///     let at = Instant::now() + Duration::from_millis(5);
///     sleep_until(at).await;
///     assert!(Instant::now() >= at);
/// });
/// ```
#[track_caller]
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        entry: TimerEntry::at(current_handle("sleep_until"), deadline),
    }
}

/// The future of [`sleep`] and [`sleep_until`]: ready once its deadline has passed, never
/// before (the wheel rounds deadlines up to the next millisecond).
///
/// It is armed in the timing wheel of the worker that first polls it, without allocating;
/// dropping it unlinks it. Polling it spends one unit of the coop budget when it completes.
///
/// ```
/// use gort_runtime::time::{sleep, Duration};
/// gort_runtime::block_on(async {
///     let mut s = std::pin::pin!(sleep(Duration::from_secs(3600)));
///     assert!(!s.is_elapsed());
///     s.as_mut().reset(gort_runtime::time::Instant::now());
///     s.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    entry: TimerEntry,
}

impl Sleep {
    fn entry(self: Pin<&mut Self>) -> Pin<&mut TimerEntry> {
        // SAFETY: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|s| &mut s.entry) }
    }

    /// The instant this sleep completes at.
    ///
    /// ```
    /// use gort_runtime::time::{sleep, Duration, Instant};
    /// gort_runtime::block_on(async {
    ///     let s = sleep(Duration::from_secs(1));
    ///     assert!(s.deadline() > Instant::now());
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.entry.deadline()
    }

    /// True once the deadline has passed.
    ///
    /// ```
    /// use gort_runtime::time::{sleep, Duration};
    /// gort_runtime::block_on(async {
    ///     assert!(sleep(Duration::ZERO).is_elapsed());
    /// });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.entry.is_elapsed()
    }

    /// Moves the deadline, whether or not the sleep has completed.
    ///
    /// ```
    /// use gort_runtime::time::{sleep, Duration, Instant};
    /// gort_runtime::block_on(async {
    ///     let mut s = std::pin::pin!(sleep(Duration::from_millis(1)));
    ///     s.as_mut().await;
    ///     s.as_mut().reset(Instant::now() + Duration::from_millis(1));
    ///     s.await;
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.entry().reset(deadline);
    }
}

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let progress = std::task::ready!(coop::poll_proceed(cx));
        let ready = self.entry().poll_elapsed(cx);
        if ready.is_ready() {
            progress.made_progress();
        }
        ready
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .finish()
    }
}

// 64 bytes per sleeping goroutine (see `entry.rs`): a field added here should be a choice,
// not an accident.
#[cfg(all(target_pointer_width = "64", not(gort_loom)))]
const _: () = assert!(std::mem::size_of::<Sleep>() == 64);
