//! Timers end to end: sleep precision (never early), cancellation, Go's Timer and Ticker
//! semantics, timeouts, and a million timers.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::time::{self, Duration, Instant, Ticker, Timer, sleep, sleep_until, timeout};
use gort_runtime::{Builder, Runtime, go, yield_now};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

#[test]
fn sleep_never_fires_early() {
    rt(2).block_on(async {
        for ms in [0u64, 1, 2, 3, 5, 8, 13] {
            let start = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
        let at = Instant::now() + Duration::from_micros(1500);
        sleep_until(at).await;
        assert!(Instant::now() >= at);
    });
}

/// A worker reads the time for a new timer from the CPU's counter, extrapolating from its last
/// real read (see `time/clock.rs`, once the counter's rate is measured, 10 ms in): deadlines
/// taken that way are never before the real clock's, at any offset within a tick.
#[test]
fn sleeps_armed_from_the_workers_clock_are_never_early() {
    rt(2).block_on(async {
        for i in 0..400u64 {
            let d = Duration::from_micros(i * 37 % 2_000);
            let start = Instant::now();
            let s = sleep(d);
            assert!(s.deadline() >= start + d, "deadline before start + {d:?}");
            s.await;
            assert!(start.elapsed() >= d, "woke before {d:?}");
        }
    });
}

#[test]
fn many_sleepers_on_all_workers_wake() {
    let rt = rt(2);
    let woke = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| {
                let woke = woke.clone();
                go(async move {
                    let d = Duration::from_millis(1 + i % 20);
                    let start = Instant::now();
                    sleep(d).await;
                    assert!(start.elapsed() >= d);
                    woke.fetch_add(1, Relaxed);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(woke.load(Relaxed), 10_000);
}

/// All workers parked: the watcher wakes for the deadline.
#[test]
fn a_lone_sleeper_is_woken_while_every_worker_is_parked() {
    let rt = rt(3);
    for _ in 0..20 {
        let h = rt.spawn(async {
            sleep(Duration::from_millis(3)).await;
            7
        });
        assert_eq!(rt.block_on(h).unwrap(), 7);
    }
}

/// A sleep polled on a plain thread (block_on_local) is fired by the workers.
#[test]
fn sleep_on_the_calling_thread() {
    let rt = rt(1);
    rt.block_on_local(async {
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() >= Duration::from_millis(5));
    });
}

/// An earlier deadline registered while the watcher sleeps toward a later one wakes it.
#[test]
fn an_earlier_deadline_shortens_the_watch() {
    let rt = rt(1);
    let far = rt.spawn(async { sleep(Duration::from_secs(3600)).await });
    std::thread::sleep(Duration::from_millis(20)); // the worker parks as the watcher
    let start = Instant::now();
    rt.block_on(async { sleep(Duration::from_millis(5)).await });
    // A guard against a hang, not a precision claim: a missed wake-up would take an hour.
    assert!(start.elapsed() < Duration::from_secs(60));
    far.abort();
}

#[test]
fn dropping_a_sleep_cancels_it() {
    let rt = rt(2);
    rt.block_on(async {
        for _ in 0..1000 {
            let s = sleep(Duration::from_millis(50));
            let mut s = std::pin::pin!(s);
            // Armed by this poll; or due already, if this thread was held up for 50 ms since
            // `sleep` (it happens under miri, or on a loaded machine).
            let _ = futures::poll!(s.as_mut());
        }
        // Dropped sleeps leave nothing behind that could fire into a dead task.
        sleep(Duration::from_millis(60)).await;
    });
}

#[test]
fn timeout_returns_the_output_or_elapsed() {
    rt(2).block_on(async {
        assert_eq!(timeout(Duration::from_millis(50), async { 1 }).await, Ok(1));
        let err = timeout(Duration::from_millis(5), std::future::pending::<()>())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        // A future that never yields Pending still times out thanks to the unbudgeted check.
        let busy = async {
            loop {
                gort_runtime::coop::consume_budget().await;
            }
        };
        assert!(timeout(Duration::from_millis(5), busy).await.is_err());
    });
}

/// Go's TestTimerStopReset-style checks: Stop and Reset report whether the timer was active.
#[test]
fn timer_stop_and_reset_report_activity() {
    rt(2).block_on(async {
        let mut t = Timer::new(Duration::from_secs(60));
        assert!(t.stop(), "an active timer stops");
        assert!(!t.stop(), "a stopped timer is inactive");
        assert!(
            !t.reset(Duration::from_millis(2)),
            "reset of a stopped timer"
        );
        t.wait().await;
        assert!(!t.stop(), "a fired timer is inactive");
        assert!(!t.reset(Duration::from_secs(60)));
        assert!(
            t.reset(Duration::from_millis(1)),
            "reset of an active timer"
        );
        t.wait().await;
        // A timer that fired without being awaited is inactive too.
        let mut t = Timer::new(Duration::from_millis(1));
        sleep(Duration::from_millis(5)).await;
        assert!(!t.stop());
    });
}

#[test]
fn a_stopped_timer_never_completes() {
    rt(1).block_on(async {
        let mut t = Timer::new(Duration::from_millis(1));
        t.stop();
        assert!(timeout(Duration::from_millis(10), t.wait()).await.is_err());
    });
}

/// Ticks stay on the period's grid; a slow reader gets one stale tick, then the grid again:
/// never a burst (Go's ticker drops ticks).
#[test]
fn ticker_drops_ticks_for_a_slow_reader() {
    rt(2).block_on(async {
        let period = Duration::from_millis(5);
        let mut t = Ticker::new(period);
        let on_grid = |a: Instant, b: Instant| (b - a).as_nanos().is_multiple_of(period.as_nanos());
        let first = t.tick().await;
        let second = t.tick().await;
        assert!(second > first && on_grid(first, second));
        // A slow reader misses about 40 ticks: far more than any scheduling delay on a busy
        // machine could account for, so no assertion below depends on how late a timer fires.
        let slow_start = Instant::now();
        sleep(period * 40 + Duration::from_millis(2)).await;
        let before = Instant::now();
        let stale = t.tick().await;
        assert!(
            stale < before && on_grid(first, stale),
            "one stale tick, delivered at once"
        );
        assert!(
            stale > second && stale <= slow_start + period,
            "the first missed tick"
        );
        let next = t.tick().await;
        // A burst would deliver the missed ticks one period apart; dropping them (Go's rule)
        // leaves a gap of many periods. (Comparing `next` with the wall clock instead failed
        // once on a loaded machine: a fire for a grid point just before `before` ran late.)
        assert!(
            next - stale > period * 10,
            "after the stale tick comes a fresh one, not a burst of missed ones"
        );
        assert!(on_grid(first, next), "ticks stay on the grid");
    });
}

#[test]
fn ticker_stop_and_reset() {
    rt(1).block_on(async {
        let mut t = time::interval(Duration::from_secs(3600));
        t.reset(Duration::from_millis(2));
        t.tick().await;
        t.stop();
        assert!(timeout(Duration::from_millis(10), t.tick()).await.is_err());
        t.reset(Duration::from_millis(1));
        t.tick().await;
    });
}

#[test]
#[should_panic(expected = "non-positive interval for NewTicker")]
fn zero_period_ticker_panics_as_in_go() {
    rt(1).block_on_local(async {
        let _ = Ticker::new(Duration::ZERO);
    });
}

#[test]
fn sleep_outside_a_runtime_panics_with_a_clear_message() {
    let err = std::panic::catch_unwind(|| sleep(Duration::from_millis(1))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("gort::time::sleep must be called from inside a gort runtime"),
        "{msg}"
    );
}

/// A timer awaited outside the workers after its runtime shut down resolves instead of hanging.
#[test]
fn timers_resolve_when_the_runtime_shuts_down() {
    let rt = rt(1);
    let s = rt.block_on_local(async { Some(Box::pin(sleep(Duration::from_secs(3600)))) });
    let mut s = s.unwrap();
    // Arm it.
    let waker = std::task::Waker::noop();
    assert!(
        s.as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    rt.shutdown_timeout(Duration::from_secs(5));
    futures::executor::block_on(s);
    use std::future::Future;
}

/// The stress test of the issue: a million timers armed, then cancelled, and a hundred
/// thousand that fire.
#[test]
fn one_million_timers() {
    let rt = rt(2);
    rt.block_on(async {
        {
            let mut sleeps: Vec<_> = (0..1_000_000u64)
                .map(|i| Box::pin(sleep(Duration::from_secs(3600 + i % 1000))))
                .collect();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            for s in sleeps.iter_mut() {
                assert!(std::future::Future::poll(s.as_mut(), &mut cx).is_pending());
            }
        }
        let fired = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..100_000u64)
            .map(|i| {
                let fired = fired.clone();
                go(async move {
                    sleep(Duration::from_millis(i % 50)).await;
                    fired.fetch_add(1, Relaxed);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(fired.load(Relaxed), 100_000);
        yield_now().await;
    });
}
