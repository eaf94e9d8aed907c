//! Loom models of the time driver's races: a cancel racing the fire, a registration racing a
//! fire of the same shard, and a registration racing the watcher's choice of park timeout.
//!
//! Invariants checked: a timer is either cancelled (and its waker never woken) or fired (and
//! woken exactly once), never both, never neither; no registration is lost; a watcher never
//! sleeps past a deadline nobody told it about.
//!
//! Bounds and times are recorded above each model.

use super::driver::{Registered, TimeDriver};
use super::entry::Entry;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Arc, thread};
use std::ptr::NonNull;
use std::task::{Wake, Waker};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (std::sync::Arc<Count>, Waker) {
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

fn arm(driver: &TimeDriver, shard: usize, entry: &Entry, when: u64, waker: &Waker) {
    // SAFETY: each model keeps the entry alive until it observed FIRED or cancelled it.
    match unsafe { driver.register(shard, NonNull::from(entry), when, waker) } {
        Registered::Armed { .. } => {}
        Registered::Fired => panic!("not shutting down"),
    }
}

/// The owner drops its timer (as `TimerEntry::drop`) while a worker fires the shard.
// LOOM_MAX_PREEMPTIONS=3: under 1 s (2026-11-23).
#[test]
fn cancel_racing_fire() {
    loom::model(|| {
        let driver = Arc::new(TimeDriver::new(1));
        let entry = Box::new(Entry::new());
        let (count, waker) = counting_waker();
        arm(&driver, 0, &entry, 5, &waker);
        drop(waker);
        let firer = {
            let driver = driver.clone();
            thread::spawn(move || driver.fire_due_at(10, usize::MAX))
        };
        // SAFETY: the entry is alive; it was armed in shard 0.
        let cancelled = !entry.is_fired() && unsafe { driver.cancel(0, NonNull::from(&*entry)) };
        // As a dropped Sleep does: the memory goes away at once, the firer may still run.
        drop(entry);
        let fired = firer.join().unwrap();
        assert_eq!(usize::from(cancelled) + fired, 1);
        assert_eq!(count.0.load(SeqCst), fired);
    });
}

/// A goroutine on one worker arms a timer in a shard while another worker fires that shard
/// (skipping it if locked): the timer is never lost, and fires exactly once.
// LOOM_MAX_PREEMPTIONS=3: under 1 s (2026-11-23).
#[test]
fn register_racing_fire() {
    loom::model(|| {
        let driver = Arc::new(TimeDriver::new(1));
        let entry = Arc::new(Entry::new());
        let (count, waker) = counting_waker();
        let registrar = {
            let (driver, entry) = (driver.clone(), entry.clone());
            thread::spawn(move || arm(&driver, 0, &entry, 5, &waker))
        };
        let first = driver.fire_due_at(10, usize::MAX);
        registrar.join().unwrap();
        let second = driver.fire_due_at(10, usize::MAX);
        assert_eq!(first + second, 1);
        assert!(entry.is_fired());
        assert_eq!(count.0.load(SeqCst), 1);
    });
}

/// A parking worker becomes the watcher while a goroutine arms an earlier deadline: either the
/// watcher's timeout covers the new deadline, or the registrar is told to unpark it. (With plain
/// SeqCst loads and stores on `watch_until` this model fails: loom found the lost wake-up.)
// LOOM_MAX_PREEMPTIONS=3: under 1 s (2026-11-23).
#[test]
fn register_racing_watch() {
    loom::model(|| {
        let driver = Arc::new(TimeDriver::new(2));
        let late = Box::new(Entry::new());
        let early = Arc::new(Entry::new());
        let (_count, waker) = counting_waker();
        arm(&driver, 0, &late, 100, &waker);
        let watcher = {
            let driver = driver.clone();
            thread::spawn(move || {
                assert!(driver.try_watch(7).is_some());
                driver.watch_until_tick()
            })
        };
        // SAFETY: `early` outlives the registration (it is cancelled below).
        let registered = unsafe { driver.register(1, NonNull::from(&*early), 5, &waker) };
        let watch_until = watcher.join().unwrap();
        let told = matches!(registered, Registered::Armed { unpark: Some(7) });
        assert!(
            told || watch_until <= 5,
            "the watcher sleeps to {watch_until} and was not told"
        );
        // SAFETY: both entries are alive and armed in their shards.
        unsafe {
            driver.cancel(1, NonNull::from(&*early));
            driver.cancel(0, NonNull::from(&*late));
        }
    });
}
