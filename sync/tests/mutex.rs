//! `Mutex` end to end: exclusion under contention across workers, Go's `TestMutexFairness`
//! (starvation mode), cancellation at every stage of a wait, and the small API.

mod common;

use common::{Hand, rt};
use gort_runtime::time::{Duration, sleep, timeout};
use gort_runtime::{go, yield_now};
use gort_sync::{Mutex, MutexGuard};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::task::Poll;
use std::time::Instant;

/// Two fields that a holder updates one after the other, across an await: a second holder
/// would see them differ.
#[derive(Default)]
struct Pair {
    a: u64,
    b: u64,
}

#[test]
fn mutual_exclusion_under_contention() {
    const GOROUTINES: u64 = 16;
    const ROUNDS: u64 = 2_000;
    let m = Arc::new(Mutex::new(Pair::default()));
    rt(2).block_on(async {
        let handles: Vec<_> = (0..GOROUTINES)
            .map(|i| {
                let m = m.clone();
                go(async move {
                    for r in 0..ROUNDS {
                        let mut g = m.lock().await;
                        assert_eq!(g.a, g.b, "two holders at once");
                        g.a += 1;
                        if (i + r) % 64 == 0 {
                            // Hold it across a yield: the guard may move to another worker.
                            yield_now().await;
                        }
                        g.b += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let pair = Arc::try_unwrap(m).ok().unwrap().into_inner();
    assert_eq!((pair.a, pair.b), (GOROUTINES * ROUNDS, GOROUTINES * ROUNDS));
}

/// Go's `TestMutexFairness`: a goroutine that holds the lock for 100 µs at a time and takes
/// it again at once cannot starve one that wants it ten times. On one worker the hog runs
/// until it sleeps, holding the lock, so in normal mode the woken waiter would find it held
/// every time: starvation mode hands the lock over once the waiter has waited 1 ms. The bound
/// guards against hanging; it is not a measurement.
#[test]
fn test_mutex_fairness() {
    for workers in [1, 2] {
        let m = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let done = rt(workers).block_on(async {
            let (m2, stop2) = (m.clone(), stop.clone());
            let hog = go(async move {
                while !stop2.load(Acquire) {
                    let guard = m2.lock().await;
                    sleep(Duration::from_micros(100)).await;
                    drop(guard);
                }
            });
            let m3 = m.clone();
            let waiter = go(async move {
                for _ in 0..10 {
                    sleep(Duration::from_micros(100)).await;
                    drop(m3.lock().await);
                }
            });
            let done = timeout(Duration::from_secs(10), waiter).await.is_ok();
            stop.store(true, Release);
            hog.await.unwrap();
            done
        });
        assert!(
            done,
            "can't acquire Mutex in 10 seconds ({workers} workers)"
        );
    }
}

/// Lockers that give up after a random while, beside a holder that keeps the lock for
/// milliseconds (so that waiters starve and the mutex switches modes): every lock taken is
/// released, and the mutex ends free.
#[test]
fn random_cancellation_loses_nothing() {
    let m = Arc::new(Mutex::new(0u64));
    let taken = Arc::new(AtomicUsize::new(0));
    let gave_up = Arc::new(AtomicUsize::new(0));
    rt(2).block_on(async {
        let m1 = m.clone();
        let holder = go(async move {
            for _ in 0..20 {
                let guard = m1.lock().await;
                sleep(Duration::from_millis(2)).await;
                drop(guard);
                yield_now().await;
            }
        });
        let lockers: Vec<_> = (0..8u64)
            .map(|i| {
                let (m, taken, gave_up) = (m.clone(), taken.clone(), gave_up.clone());
                go(async move {
                    let mut rng = fastrand::Rng::with_seed(i);
                    for _ in 0..300 {
                        let wait = Duration::from_micros(rng.u64(0..3_000));
                        match timeout(wait, m.lock()).await {
                            Ok(mut guard) => {
                                *guard += 1;
                                taken.fetch_add(1, Relaxed);
                                if rng.bool() {
                                    yield_now().await;
                                }
                            }
                            Err(_) => {
                                gave_up.fetch_add(1, Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for l in lockers {
            l.await.unwrap();
        }
        holder.await.unwrap();
    });
    assert!(gave_up.load(Relaxed) > 0, "no locker was cancelled");
    let count = *m.try_lock().expect("the mutex ends free");
    assert_eq!(count, taken.load(Relaxed) as u64);
}

/// A lock future polled by hand.
type LockHand<'a> = Hand<gort_sync::Lock<'a, u32>>;

/// The lock held, and two lockers queued behind it in order.
fn held_with_two_queued(m: &Mutex<u32>) -> (MutexGuard<'_, u32>, LockHand<'_>, LockHand<'_>) {
    let guard = m.try_lock().unwrap();
    let mut a = Hand::new(m.lock());
    let mut b = Hand::new(m.lock());
    assert!(a.poll().is_pending());
    assert!(b.poll().is_pending());
    (guard, a, b)
}

/// A waiter that an unlock woke, dropped before it competed again, passes the wake-up to
/// the next waiter.
#[test]
fn a_dropped_woken_waiter_passes_the_wake_up_on() {
    let m = Mutex::new(0);
    let (guard, a, mut b) = held_with_two_queued(&m);
    drop(guard);
    assert_eq!((a.woken(), b.woken()), (1, 0), "the unlock wakes the head");
    drop(a);
    assert_eq!(b.woken(), 1, "the dropped waiter passed its wake-up on");
    let Poll::Ready(guard) = b.poll() else {
        panic!("the woken waiter takes the free lock")
    };
    drop(guard);
    assert!(m.try_lock().is_some());
}

/// Starvation mode, step by step: a waiter that has waited over 1 ms and loses to a barging
/// locker switches the mutex to hand-offs; `try_lock` then fails even while the lock passes
/// between holders; a waiter handed the lock and dropped before it saw it hands it on; the
/// last hand-off ends the mode.
#[test]
fn starvation_mode_hands_off_and_a_dropped_grantee_hands_on() {
    let m = Mutex::new(0);
    let guard = m.try_lock().unwrap();
    let mut a = Hand::new(m.lock());
    assert!(a.poll().is_pending());
    let queued = Instant::now();
    while queued.elapsed() < Duration::from_millis(2) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(guard);
    assert_eq!(a.woken(), 1);
    // Normal mode: an arrival takes the free lock before the woken waiter competes...
    let barger = m.try_lock().expect("normal mode lets an arrival barge");
    // ... which loses, having waited over 1 ms: it queues at the front, starving.
    assert!(a.poll().is_pending());
    let mut b = Hand::new(m.lock());
    assert!(b.poll().is_pending());
    drop(barger);
    assert_eq!(a.woken(), 2, "the unlock hands the lock to the head");
    assert!(
        m.try_lock().is_none(),
        "starvation mode: the lock is the waiters'"
    );
    drop(a);
    assert_eq!(b.woken(), 1, "the dropped grantee handed the lock on");
    assert!(m.try_lock().is_none(), "b holds it now");
    let Poll::Ready(guard) = b.poll() else {
        panic!("the lock was handed to b")
    };
    drop(guard);
    assert!(
        m.try_lock().is_some(),
        "the last hand-off ended starvation mode"
    );
}

/// A waiter dropped while still queued just leaves: the next unlock wakes the one behind it.
#[test]
fn a_dropped_queued_waiter_leaves_the_queue() {
    let m = Mutex::new(0);
    let (guard, a, mut b) = held_with_two_queued(&m);
    drop(a);
    drop(guard);
    assert_eq!(b.woken(), 1);
    assert!(b.poll().is_ready());
}

#[test]
fn try_lock_get_mut_into_inner_and_debug() {
    let mut m = Mutex::new(vec![1]);
    m.get_mut().push(2);
    {
        let mut g = m.try_lock().unwrap();
        g.push(3);
        assert!(m.try_lock().is_none());
        assert_eq!(format!("{m:?}"), "Mutex { value: <locked>, .. }");
        assert_eq!(format!("{g:?}"), "[1, 2, 3]");
    }
    assert_eq!(format!("{m:?}"), "Mutex { value: [1, 2, 3], .. }");
    assert_eq!(m.into_inner(), [1, 2, 3]);
    let d: Mutex<u8> = Mutex::default();
    assert_eq!(d.into_inner(), 0);
    assert_eq!(Mutex::from(7).into_inner(), 7);
}

#[test]
fn send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<MutexGuard<'static, Vec<u8>>>();
    send_sync::<gort_sync::Lock<'static, Vec<u8>>>();
    // A guard of a `Send` but not `Sync` value moves between threads but is not shared.
    send::<MutexGuard<'static, std::cell::Cell<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>();
}
