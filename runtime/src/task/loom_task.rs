//! Loom models of the task state machine (`state.rs`, `harness.rs`): every race the module essay
//! in `task/mod.rs` lists, on real tasks.
//!
//! The tasks run on a test scheduler that pushes each `Notified` into a queue (a loom
//! `Mutex<VecDeque>`) which the model's threads drain. Their future (`Probe`) completes once it
//! has seen a wake-up from the model (`needed` of them), counts its polls, checks that no two
//! polls overlap, and counts its own drop and its output's; the scheduler handle counts its drop,
//! which is the allocation being freed. Join-side wake-ups use counting wakers.
//!
//! The invariants checked, at the end of every execution (after the threads are joined and the
//! queue drained):
//!
//! - a wake-up is never lost: the task completes once the wake-up it waits for has been sent;
//! - a task is never polled by two threads at once, and never after it completed;
//! - the future, the output and the allocation are each dropped exactly once;
//! - a `JoinHandle` gives the output or a cancelled `JoinError`, never hangs: every poll of it
//!   that returned `Pending` had its waker woken exactly once.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime
//! --release --lib loom_task`. The time above each model is the whole model at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::waker::waker_ref;
use super::{JoinError, JoinHandle, Notified, Schedule};
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::loom::{Arc, Mutex, lock, thread};
use crate::task::Header;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Wake, Waker};

/// What one execution counts.
#[derive(Default)]
struct Counts {
    /// Wake-ups the model sent (incremented before each wake).
    woken: AtomicUsize,
    /// Set while a poll of the future is in progress.
    polling: AtomicBool,
    polled: AtomicUsize,
    future_dropped: AtomicUsize,
    outputs_made: AtomicUsize,
    outputs_dropped: AtomicUsize,
    /// The scheduler handle in the task's cell was dropped: the allocation was freed.
    freed: AtomicUsize,
}

/// The test scheduler: a FIFO the model's threads take tasks from.
struct TestSchedule {
    queue: Arc<Mutex<VecDeque<Notified>>>,
    counts: Arc<Counts>,
}

impl Schedule for TestSchedule {
    fn schedule(&self, task: Notified) {
        lock(&self.queue).push_back(task);
    }

    fn release(&self, _task: NonNull<Header>) -> bool {
        // No owned list: the models drop the `Task` handle themselves.
        false
    }
}

impl Drop for TestSchedule {
    fn drop(&mut self) {
        self.counts.freed.fetch_add(1, SeqCst);
    }
}

/// The task's future: ready once the model sent `needed` wake-ups.
struct Probe {
    counts: Arc<Counts>,
    needed: usize,
}

/// The task's output, counted.
struct Output(Arc<Counts>);

impl Drop for Output {
    fn drop(&mut self) {
        self.0.outputs_dropped.fetch_add(1, SeqCst);
    }
}

impl Future for Probe {
    type Output = Output;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Output> {
        let counts = &self.counts;
        assert!(
            !counts.polling.swap(true, SeqCst),
            "a task was polled by two threads at once"
        );
        counts.polled.fetch_add(1, SeqCst);
        let ready = counts.woken.load(SeqCst) >= self.needed;
        let output = ready.then(|| {
            counts.outputs_made.fetch_add(1, SeqCst);
            Output(counts.clone())
        });
        counts.polling.store(false, SeqCst);
        match output {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.counts.future_dropped.fetch_add(1, SeqCst);
    }
}

/// One execution's task, its queue and its counters.
struct Model {
    queue: Arc<Mutex<VecDeque<Notified>>>,
    counts: Arc<Counts>,
}

impl Model {
    /// Spawns a task that completes after `needed` wake-ups. Returns its `JoinHandle` and a
    /// counted `Waker` for it (as a future would clone from its `Context`); the owned list's
    /// `Task` is dropped at once.
    fn spawn(needed: usize) -> (Model, JoinHandle<Output>, Waker) {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let counts = Arc::new(Counts::default());
        let scheduler = TestSchedule {
            queue: queue.clone(),
            counts: counts.clone(),
        };
        let probe = Probe {
            counts: counts.clone(),
            needed,
        };
        let (task, notified, join) = super::new(probe, scheduler, Location::caller());
        let header = task.header_ptr();
        let waker = Waker::clone(&waker_ref(&header));
        drop(task);
        lock(&queue).push_back(notified);
        (Model { queue, counts }, join, waker)
    }

    fn handle(&self) -> Model {
        Model {
            queue: self.queue.clone(),
            counts: self.counts.clone(),
        }
    }

    /// Runs the first queued task; false if the queue was empty.
    fn run_one(&self) -> bool {
        let task = lock(&self.queue).pop_front();
        match task {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    fn run_all(&self) {
        while self.run_one() {}
    }

    /// Sends the wake-up the future waits for.
    fn wake(&self, waker: Waker) {
        self.counts.woken.fetch_add(1, SeqCst);
        waker.wake();
    }

    /// The end of every execution: the threads are joined and the queue is drained.
    fn finish(self, join: Option<JoinHandle<Output>>) {
        self.run_all();
        if let Some(mut join) = join {
            let output = poll_join(&mut join, &CountingWaker::new())
                .expect("the task did not complete: a wake-up was lost");
            self.check_output(&output);
            drop(output);
            drop(join);
        }
        let counts = &self.counts;
        assert!(
            lock(&self.queue).is_empty(),
            "a task was queued after it completed"
        );
        assert_eq!(
            counts.future_dropped.load(SeqCst),
            1,
            "the future was not dropped once"
        );
        let made = counts.outputs_made.load(SeqCst);
        assert!(made <= 1);
        assert_eq!(
            counts.outputs_dropped.load(SeqCst),
            made,
            "the output was not dropped once"
        );
        assert_eq!(
            counts.freed.load(SeqCst),
            1,
            "the task was not freed exactly once"
        );
    }

    /// An output the `JoinHandle` returned agrees with what the future did.
    fn check_output(&self, output: &Result<Output, JoinError>) {
        match output {
            Ok(_) => assert_eq!(self.counts.outputs_made.load(SeqCst), 1),
            Err(err) => {
                assert!(err.is_cancelled(), "unexpected {err:?}");
                assert_eq!(
                    self.counts.outputs_made.load(SeqCst),
                    0,
                    "an output was made"
                );
            }
        }
    }
}

/// A waker that counts its wake-ups.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    fn new() -> std::sync::Arc<CountingWaker> {
        std::sync::Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Polls `join` once with `waker`.
fn poll_join(
    join: &mut JoinHandle<Output>,
    waker: &std::sync::Arc<CountingWaker>,
) -> Option<Result<Output, JoinError>> {
    let waker = Waker::from(waker.clone());
    match Pin::new(join).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

// LOOM_MAX_PREEMPTIONS=3: 0.6 s (3037 executions), 2026-11-23
/// *Wake while running*, by value: a waker thread wakes the task while two runner threads take
/// it from the queue. The wake may land while the task is queued, polled or idle; in every case
/// the task is polled after it (it completes), and never by two runners at once.
#[test]
fn wake_by_val_while_running() {
    loom::model(|| {
        let (model, join, waker) = Model::spawn(1);
        let waking = {
            let model = model.handle();
            thread::spawn(move || model.wake(waker))
        };
        let runner = {
            let model = model.handle();
            thread::spawn(move || {
                model.run_one();
            })
        };
        model.run_one();
        waking.join().unwrap();
        runner.join().unwrap();
        model.finish(Some(join));
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.7 s (3477 executions), 2026-11-23
/// *Wake while running*, by reference: as above with `wake_by_ref`, after which the waker is
/// dropped (the task's last reference may then be the waker's).
#[test]
fn wake_by_ref_while_running() {
    loom::model(|| {
        let (model, join, waker) = Model::spawn(1);
        let waking = {
            let model = model.handle();
            thread::spawn(move || {
                model.counts.woken.fetch_add(1, SeqCst);
                waker.wake_by_ref();
                drop(waker);
            })
        };
        let runner = {
            let model = model.handle();
            thread::spawn(move || {
                model.run_one();
            })
        };
        model.run_one();
        waking.join().unwrap();
        runner.join().unwrap();
        model.finish(Some(join));
    });
}

// LOOM_MAX_PREEMPTIONS=3: 7.7 s (41016 executions), 2026-11-23
/// *Wake while running*, from two threads at once: the task needs both wake-ups (one by value,
/// one by reference) while the main thread runs it; the two may coalesce into one queued
/// `Notified` or one resubmission, but the last poll sees both.
#[test]
fn two_wakers_while_running() {
    loom::model(|| {
        let (model, join, waker) = Model::spawn(2);
        let by_ref = waker.clone();
        let by_val = {
            let model = model.handle();
            thread::spawn(move || model.wake(waker))
        };
        let by_ref = {
            let model = model.handle();
            thread::spawn(move || {
                model.counts.woken.fetch_add(1, SeqCst);
                by_ref.wake_by_ref();
            })
        };
        model.run_one();
        model.run_one();
        by_val.join().unwrap();
        by_ref.join().unwrap();
        model.finish(Some(join));
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (692 executions), 2026-11-23
/// *Wake after complete*: the task needs no wake-up; a waker thread wakes it while the main
/// thread runs it to completion and drops its `JoinHandle`. A wake that finds the task complete
/// is a no-op (the future is polled exactly once), and whoever drops the last reference (the
/// runner, the handle or the waker) frees the task, once.
#[test]
fn wake_after_complete() {
    loom::model(|| {
        let (model, join, waker) = Model::spawn(0);
        let waking = {
            let model = model.handle();
            thread::spawn(move || model.wake(waker))
        };
        model.run_all();
        drop(join);
        waking.join().unwrap();
        model.run_all();
        assert_eq!(
            model.counts.polled.load(SeqCst),
            1,
            "a complete task was polled again"
        );
        model.finish(None);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (282 executions), 2026-11-23
/// *Abort racing completion*: after a first `Pending` poll, one thread aborts the task and polls
/// its `JoinHandle` while the main thread sends the wake-up that lets it complete and runs it.
/// The handle gives either the output or a cancelled `JoinError` (never both, and the output
/// is made only in the first case), and if its poll was `Pending`, its waker is woken once.
#[test]
fn abort_racing_completion() {
    loom::model(|| {
        let (model, mut join, waker) = Model::spawn(1);
        model.run_all();
        let aborting = thread::spawn(move || {
            join.abort();
            let joiner = CountingWaker::new();
            let output = poll_join(&mut join, &joiner);
            (join, joiner, output)
        });
        model.wake(waker);
        model.run_all();
        let (join, joiner, output) = aborting.join().unwrap();
        model.run_all();
        let output = match output {
            Some(output) => {
                assert_eq!(joiner.wakes(), 0);
                output
            }
            None => {
                assert_eq!(joiner.wakes(), 1, "a pending JoinHandle was not woken once");
                model.finish(Some(join));
                return;
            }
        };
        model.check_output(&output);
        drop(output);
        drop(join);
        model.finish(None);
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (198 executions), 2026-11-23
/// *JoinHandle drop racing completion*: the handle registered its waker (a `Pending` poll) and
/// is then dropped on one thread while the main thread wakes and runs the task to completion.
/// Exactly one side drops the output, exactly one side the join waker (never while the other
/// reads it), and the task is freed once.
#[test]
fn join_handle_drop_racing_completion() {
    loom::model(|| {
        let (model, mut join, waker) = Model::spawn(1);
        model.run_all();
        let joiner = CountingWaker::new();
        assert!(poll_join(&mut join, &joiner).is_none());
        let dropping = thread::spawn(move || drop(join));
        model.wake(waker);
        model.run_all();
        dropping.join().unwrap();
        model.finish(None);
        assert!(joiner.wakes() <= 1);
        assert_eq!(
            std::sync::Arc::strong_count(&joiner),
            1,
            "the join waker leaked"
        );
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.1 s (123 executions), 2026-11-23
/// *JoinHandle drop racing completion*, without a registered waker: the handle is dropped
/// before it was ever polled.
#[test]
fn join_handle_drop_unpolled_racing_completion() {
    loom::model(|| {
        let (model, join, waker) = Model::spawn(1);
        model.run_all();
        let dropping = thread::spawn(move || drop(join));
        model.wake(waker);
        model.run_all();
        dropping.join().unwrap();
        model.finish(None);
    });
}

/// The end of the join-waker models: the joiner's last poll gave `output`, or it was `Pending`
/// with `last` registered, which must then have been woken exactly once.
fn finish_join(
    model: Model,
    join: JoinHandle<Output>,
    last: &std::sync::Arc<CountingWaker>,
    output: Option<Result<Output, JoinError>>,
) {
    match output {
        Some(output) => {
            assert_eq!(last.wakes(), 0, "a join waker was woken after Ready");
            model.check_output(&output);
            drop(output);
            drop(join);
            model.finish(None);
        }
        None => {
            assert_eq!(
                last.wakes(),
                1,
                "a pending JoinHandle was not woken exactly once"
            );
            model.finish(Some(join));
        }
    }
    assert_eq!(std::sync::Arc::strong_count(last), 1, "a join waker leaked");
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (265 executions), 2026-11-23
/// *Join waker registration racing completion*: one thread polls the handle for the first
/// time (writing and publishing its waker) while the main thread completes the task. The
/// joiner sees `Ready`, or its waker is woken exactly once.
#[test]
fn join_waker_racing_completion() {
    loom::model(|| {
        let (model, mut join, waker) = Model::spawn(1);
        model.run_all();
        let joining = thread::spawn(move || {
            let joiner = CountingWaker::new();
            let output = poll_join(&mut join, &joiner);
            (join, joiner, output)
        });
        model.wake(waker);
        model.run_all();
        let (join, joiner, output) = joining.join().unwrap();
        finish_join(model, join, &joiner, output);
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (582 executions), 2026-11-23
/// *Join waker re-registration racing completion*: the handle registered one waker; one
/// thread polls it again with another (taking the first back and publishing the second) while
/// the main thread completes the task. The first is woken at most once, and the joiner sees
/// `Ready` or the second is woken exactly once.
#[test]
fn join_waker_replaced_racing_completion() {
    loom::model(|| {
        let (model, mut join, waker) = Model::spawn(1);
        model.run_all();
        let first = CountingWaker::new();
        assert!(poll_join(&mut join, &first).is_none());
        let joining = thread::spawn(move || {
            let second = CountingWaker::new();
            let output = poll_join(&mut join, &second);
            (join, second, output)
        });
        model.wake(waker);
        model.run_all();
        let (join, second, output) = joining.join().unwrap();
        assert!(first.wakes() <= 1);
        finish_join(model, join, &second, output);
        assert_eq!(
            std::sync::Arc::strong_count(&first),
            1,
            "a join waker leaked"
        );
    });
}

// LOOM_MAX_PREEMPTIONS=3: 0.1 s (335 executions), 2026-11-23
/// *Abort racing a wake-up*: the task never completes on its own (it waits for two wake-ups and
/// gets one), so whether the abort finds it idle, queued or being polled, a worker must drop
/// its future and the handle must give a cancelled `JoinError`.
#[test]
fn abort_racing_wake() {
    loom::model(|| {
        let (model, mut join, waker) = Model::spawn(2);
        model.run_all();
        let aborting = thread::spawn(move || {
            join.abort();
            let joiner = CountingWaker::new();
            let output = poll_join(&mut join, &joiner);
            (join, joiner, output)
        });
        model.wake(waker);
        model.run_all();
        let (join, joiner, output) = aborting.join().unwrap();
        model.run_all();
        if let Some(Ok(_)) = output {
            panic!("a task that never completes gave an output");
        }
        finish_join(model, join, &joiner, output);
    });
}
