//! The blocking pool: threads for work that blocks (file I/O, DNS, CPU-heavy loops), so it
//! never stalls a worker and the goroutines queued behind it.
//!
//! Go hands the P of a thread entering a syscall to another M; gort keeps workers for futures
//! and sends blocking closures here instead (`spawn_blocking`). The pool is a FIFO of tasks
//! under one mutex and a condvar:
//!
//! - A submitted task wakes an idle thread if there is one (counted in `num_notify` so that each
//!   idle thread consumes one wake-up), otherwise it starts a new thread, up to `max_threads`;
//!   beyond that the task waits in the queue.
//! - A thread idle for `keep_alive` exits, so a burst of blocking work does not leave hundreds
//!   of threads behind.
//! - Shutdown cancels the queued tasks (their `JoinHandle`s report cancellation), wakes the
//!   idle threads and waits, up to a timeout, for the running ones; those still running are
//!   detached and finish on their own.
//!
//! A blocking task is an ordinary task (`crate::task`) whose future runs the closure in its
//! first poll, so `JoinHandle`, panics and abort behave as for goroutines.

use crate::context;
use crate::loom::{Arc, Condvar, Mutex, MutexGuard, lock, thread};
use crate::scheduler::Shared;
use crate::task::{self, Header, JoinHandle, Notified, Schedule, Task};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The handle to a runtime's blocking pool.
pub(crate) struct Spawner {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Idle threads wait here.
    work: Condvar,
    /// Shutdown waits here for the threads to exit.
    exited: Condvar,
    thread_name: String,
    stack_size: Option<usize>,
    max_threads: usize,
    keep_alive: Duration,
}

struct State {
    queue: VecDeque<(Task, Notified)>,
    num_threads: usize,
    num_idle: usize,
    num_notify: usize,
    next_thread_id: usize,
    shutdown: bool,
}

/// Settings of the pool.
pub(crate) struct Config {
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
}

impl Spawner {
    pub(crate) fn new(config: Config) -> Spawner {
        let state = State {
            queue: VecDeque::new(),
            num_threads: 0,
            num_idle: 0,
            num_notify: 0,
            next_thread_id: 0,
            shutdown: false,
        };
        let inner = Inner {
            state: Mutex::new(state),
            work: Condvar::new(),
            exited: Condvar::new(),
            thread_name: config.thread_name,
            stack_size: config.stack_size,
            max_threads: config.max_threads.max(1),
            keep_alive: config.keep_alive,
        };
        Spawner {
            inner: Arc::new(inner),
        }
    }

    /// Runs `f` on a pool thread of `handle`'s runtime.
    pub(crate) fn spawn<F, R>(
        handle: &Arc<Shared>,
        f: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (task, notified, join) = task::new(BlockingTask(Some(f)), NoSchedule, location);
        let inner = &handle.blocking.inner;
        let mut state = lock(&inner.state);
        if state.shutdown {
            drop(state);
            drop(notified);
            task.shutdown();
            return join;
        }
        state.queue.push_back((task, notified));
        if state.num_idle > 0 {
            state.num_idle -= 1;
            state.num_notify += 1;
            inner.work.notify_one();
        } else if state.num_threads < inner.max_threads
            && let Err(err) = Self::spawn_thread(handle, &mut state)
        {
            // The queued task waits for an existing thread; with none, it would wait forever,
            // so fail loudly as Go does when it cannot create a thread.
            assert!(
                state.num_threads > 0,
                "gort: failed to start a blocking thread: {err}"
            );
        }
        join
    }

    fn spawn_thread(handle: &Arc<Shared>, state: &mut MutexGuard<'_, State>) -> io::Result<()> {
        let inner = &handle.blocking.inner;
        let id = state.next_thread_id;
        let mut builder = thread::Builder::new().name(format!("{}-{id}", inner.thread_name));
        if let Some(size) = inner.stack_size {
            builder = builder.stack_size(size);
        }
        let handle = handle.clone();
        builder.spawn(move || run(handle))?;
        state.next_thread_id += 1;
        state.num_threads += 1;
        Ok(())
    }

    /// (threads, idle threads), for metrics.
    pub(crate) fn thread_counts(&self) -> (usize, usize) {
        let state = lock(&self.inner.state);
        (state.num_threads, state.num_idle)
    }

    /// Cancels queued tasks and waits until every thread exited or `deadline` passed.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let inner = &*self.inner;
        let queued = {
            let mut state = lock(&inner.state);
            state.shutdown = true;
            inner.work.notify_all();
            std::mem::take(&mut state.queue)
        };
        for (task, notified) in queued {
            drop(notified);
            task.shutdown();
        }
        let Some(deadline) = deadline else { return };
        let mut state = lock(&inner.state);
        while state.num_threads > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = inner
                .exited
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The body of a pool thread.
fn run(handle: Arc<Shared>) {
    let inner = handle.blocking.inner.clone();
    let _enter = context::enter(handle);
    let mut state = lock(&inner.state);
    'outer: loop {
        while let Some((task, notified)) = state.queue.pop_front() {
            drop(state);
            drop(task);
            notified.run();
            state = lock(&inner.state);
        }
        if state.shutdown {
            break;
        }
        state.num_idle += 1;
        loop {
            let (guard, result) = inner
                .work
                .wait_timeout(state, inner.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if state.num_notify > 0 {
                // A submitter took us off the idle count and left a wake-up for us.
                state.num_notify -= 1;
                continue 'outer;
            }
            if state.shutdown || result.timed_out() {
                state.num_idle -= 1;
                break 'outer;
            }
        }
    }
    state.num_threads -= 1;
    inner.exited.notify_all();
}

/// The future of a blocking task: runs the closure in its first poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("gort: blocking task polled after completion");
        // Blocking work is not budgeted: it runs to completion on its own thread.
        Poll::Ready(crate::coop::with_budget(
            crate::coop::Budget::unconstrained(),
            f,
        ))
    }
}

/// Blocking tasks are never rescheduled: their only poll completes them, and they are in no
/// owned list (the pool's queue owns them until they run).
struct NoSchedule;

impl Schedule for NoSchedule {
    fn schedule(&self, task: Notified) {
        // Unreachable: a blocking task's future never returns Pending, and `abort` of a queued
        // or running task only sets CANCELLED. Dropping the reference is the safe fallback.
        debug_assert!(false, "gort: a blocking task was rescheduled");
        drop(task);
    }

    fn release(&self, _task: NonNull<Header>) -> bool {
        false
    }
}
