//! Timers: `sleep`, `timeout`, Go's `Timer` and `Ticker`, on a hierarchical timing wheel per
//! worker.
//!
//! # Design
//!
//! Go kept every timer in one global heap until 1.10, then in 64 heaps, then (1.14) in one
//! 4-ary heap per P, run by the P's own scheduler loop and stolen by idle Ps; heaps cost
//! O(log n) per insert and cancel. tokio keeps a hierarchical wheel, sharded since 1.38. gort
//! takes the wheel (O(1) insert and cancel) and Go's placement:
//!
//! 1. `wheel.rs`: the wheel, 7 levels of 64 slots, 1 ms per level-0 slot, intrusive lists.
//! 2. `clock.rs`: the time as nanoseconds since the runtime started; on a worker, read from
//!    the CPU's time-stamp counter between real reads, as an upper bound (never behind).
//! 3. `entry.rs`: the entry embedded in each timer future: node, state word, waker. Arming a
//!    timer allocates nothing.
//! 4. `driver.rs`: one wheel per worker behind its own mutex; firing in batches with wakers woken
//!    outside the lock; a parked *watcher* worker whose park timeout ends at the earliest
//!    deadline.
//! 5. `sleep.rs`, `timeout.rs`, `timer.rs`, `ticker.rs`: the futures and Go's types.
//!
//! # Precision
//!
//! Deadlines are rounded up to the next millisecond tick and a timer fires once the clock has
//! reached its tick, so a timer never fires early and is late by at most the tick plus the time
//! until a worker checks (every 61 polls while busy, at once when idle: the watcher parks
//! until the deadline).
//!
//! Every timer future spends one unit of the coop budget when it completes.

mod clock;
mod driver;
mod entry;
mod sleep;
mod ticker;
mod timeout;
mod timer;
mod wheel;

#[cfg(all(test, gort_loom))]
mod loom_time;
#[cfg(all(test, not(gort_loom)))]
mod proptest_wheel;

pub(crate) use clock::ClockCache;
pub(crate) use driver::TimeDriver;
pub use sleep::{Sleep, sleep, sleep_until};
pub use std::time::{Duration, Instant};
pub use ticker::{Ticker, interval};
pub use timeout::{Elapsed, Timeout, timeout};
pub use timer::Timer;
