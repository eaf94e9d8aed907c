//! Loom models of gort's public API through a whole `Runtime` with one worker: its worker
//! thread, injector, idle protocol, parker, task state machine and shutdown, all on loom's
//! atomics, locks and threads.
//!
//! The invariants: a goroutine's `JoinHandle` completes with its output or, if it was aborted
//! first, a cancelled `JoinError`, and never hangs (a lost wake-up leaves every thread blocked,
//! which loom reports as a deadlock); every future and every output is dropped exactly once,
//! whether the handle reads the output, is dropped first, or the runtime shuts down first;
//! a wake-up sent while the goroutine is being polled makes it run again.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-loom-tests
//! --release`. The time above each model is the whole model at `LOOM_MAX_PREEMPTIONS=3`,
//! release build, on a 2-core machine.
#![cfg(gort_loom)]

use gort::{Builder, JoinHandle, Runtime};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

fn runtime() -> Runtime {
    Builder::new().workers(1).build().unwrap()
}

/// Blocks the model's main thread on a `JoinHandle`, outside the runtime (as a plain thread
/// waiting for a goroutine would), parking it between polls.
fn join<T>(handle: JoinHandle<T>) -> Result<T, gort::JoinError> {
    let waker = Waker::from(std::sync::Arc::new(Unpark(loom::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut handle = handle;
    loop {
        if let Poll::Ready(output) = Pin::new(&mut handle).poll(&mut cx) {
            return output;
        }
        loom::thread::park();
    }
}

/// A waker that unparks a loom thread.
struct Unpark(loom::thread::Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Counts drops of futures and outputs.
#[derive(Clone)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn new() -> Drops {
        Drops(Arc::new(AtomicUsize::new(0)))
    }

    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Drop for Drops {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// LOOM_MAX_PREEMPTIONS=3: 7.0 s (28643 executions), 2026-11-23
/// `spawn` from outside the runtime, then join: the goroutine goes through the injector to the
/// worker, which may be searching, parking or parked when it arrives.
#[test]
fn spawn_and_join() {
    loom::model(|| {
        let rt = runtime();
        let handle = rt.spawn(async { 7 });
        assert_eq!(join(handle).unwrap(), 7);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 27 s (107089 executions), 2026-11-23
/// `block_on` runs its future as the main goroutine, which spawns another and awaits it: the
/// inner goroutine goes to `runnext` and the outer one is woken through its join waker.
#[test]
fn block_on_spawn_and_await() {
    loom::model(|| {
        let rt = runtime();
        let v = rt.block_on(async { gort::go(async { 7 }).await.unwrap() });
        assert_eq!(v, 7);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 8.3 s (40175 executions), 2026-11-23
/// `abort` from the main thread races the goroutine's completion on the worker: the handle
/// gives the output or a cancelled error, and the future and output are each dropped once.
#[test]
fn abort_racing_completion() {
    loom::model(|| {
        let rt = runtime();
        let future_drops = Drops::new();
        let output_drops = Drops::new();
        let handle = {
            let (future_drop, output) = (future_drops.clone(), output_drops.clone());
            rt.spawn(async move {
                let _future_drop = future_drop;
                output
            })
        };
        handle.abort();
        match join(handle) {
            Ok(output) => drop(output),
            Err(err) => assert!(err.is_cancelled(), "{err:?}"),
        }
        drop(rt);
        // The two `Drops` of this frame are counted when they go, so 1 each here.
        assert_eq!(future_drops.count(), 1, "the future was not dropped once");
        assert_eq!(output_drops.count(), 1, "the output was not dropped once");
    });
}

// LOOM_MAX_PREEMPTIONS=3: 1.6 s (7714 executions), 2026-11-23
/// The `JoinHandle` is dropped while the goroutine completes; the runtime then shuts down
/// (cancelling the goroutine if it had not run yet). The future and, if it was made, the
/// output are dropped exactly once.
#[test]
fn join_handle_drop_racing_completion() {
    loom::model(|| {
        let rt = runtime();
        let future_drops = Drops::new();
        let output_drops = Drops::new();
        let handle = {
            let (future_drop, output) = (future_drops.clone(), output_drops.clone());
            rt.spawn(async move {
                let _future_drop = future_drop;
                output
            })
        };
        drop(handle);
        drop(rt);
        assert_eq!(future_drops.count(), 1, "the future was not dropped once");
        // 1 if the goroutine never ran (the output was still a part of the future), or ran
        // and its output was dropped by whoever saw the handle gone.
        assert_eq!(output_drops.count(), 1, "the output was not dropped once");
    });
}

/// A future that publishes its waker on its first poll and completes once `woken` is set.
struct WaitForWake {
    waker: Arc<Mutex<Option<Waker>>>,
    woken: Arc<AtomicBool>,
}

impl Future for WaitForWake {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.load(SeqCst) {
            return Poll::Ready(());
        }
        let mut slot = self.waker.lock().unwrap();
        if slot.is_none() {
            *slot = Some(cx.waker().clone());
        }
        drop(slot);
        // Checked again after publishing the waker: a wake-up before it is not lost.
        if self.woken.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

// LOOM_MAX_PREEMPTIONS=3: 126 s (574485 executions), 2026-11-23
/// The main thread wakes the goroutine as soon as it has published its waker, so the wake-up
/// lands while the goroutine is still being polled (or just after): it must run again and
/// complete.
#[test]
fn wake_from_main_while_running() {
    loom::model(|| {
        let rt = runtime();
        let waker = Arc::new(Mutex::new(None));
        let woken = Arc::new(AtomicBool::new(false));
        let handle = rt.spawn(WaitForWake {
            waker: waker.clone(),
            woken: woken.clone(),
        });
        let waker = loop {
            if let Some(waker) = waker.lock().unwrap().take() {
                break waker;
            }
            loom::thread::yield_now();
        };
        woken.store(true, SeqCst);
        waker.wake();
        join(handle).unwrap();
    });
}
