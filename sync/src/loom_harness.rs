//! The harness the loom models share (`chan/loom_chan.rs`, `select/loom_select.rs`).
//!
//! Futures are polled by hand on loom threads, each with its own counting waker: a wake-up
//! increments a loom atomic and unparks the polling thread, and the thread re-polls only after
//! such a wake-up (`Polled::wait`). A lost wake-up therefore leaves a thread parked forever,
//! which loom reports as a deadlock, and a spurious or doubled one fails the count check
//! (`Wakes`). Values that count their drops (`Counted`) check that a value is dropped exactly
//! once, by its final owner; they hold a loom `Arc`, so a leaked one fails the model too.

use crate::chan::{Receiver, SendError, Sender};
use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wake-ups and unparks the loom thread that polls with it.
struct ThreadWaker {
    wakes: AtomicUsize,
    thread: thread::Thread,
}

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        self.thread.unpark();
    }
}

/// A future polled by hand on the current loom thread, with its own counting waker.
pub(crate) struct Polled<F: Future> {
    future: Pin<Box<F>>,
    counter: std::sync::Arc<ThreadWaker>,
    waker: Waker,
    pending: usize,
}

impl<F: Future> Polled<F> {
    pub(crate) fn new(future: F) -> Polled<F> {
        let counter = std::sync::Arc::new(ThreadWaker {
            wakes: AtomicUsize::new(0),
            thread: thread::current(),
        });
        Polled {
            future: Box::pin(future),
            waker: Waker::from(counter.clone()),
            counter,
            pending: 0,
        }
    }

    /// Polls once.
    pub(crate) fn poll(&mut self) -> Poll<F::Output> {
        let poll = self
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&self.waker));
        if poll.is_pending() {
            self.pending += 1;
        }
        poll
    }

    /// Polls to completion, parking the thread after each `Pending` until the waker has been
    /// woken for it: a lost wake-up parks the thread forever, a loom deadlock.
    pub(crate) fn wait(&mut self) -> F::Output {
        loop {
            if let Poll::Ready(output) = self.poll() {
                return output;
            }
            while self.counter.wakes.load(SeqCst) < self.pending {
                thread::park();
            }
        }
    }

    /// Drops the future (cancelling it if it has not completed) and keeps its counts.
    pub(crate) fn finish(self) -> Wakes {
        drop(self.future);
        Wakes {
            counter: self.counter,
            pending: self.pending,
        }
    }
}

/// What one future's counting waker saw; checked once the model's threads are joined, so that
/// a late or doubled wake-up is counted too.
pub(crate) struct Wakes {
    counter: std::sync::Arc<ThreadWaker>,
    pending: usize,
}

impl Wakes {
    /// How many times the future's waker was woken.
    pub(crate) fn woken(&self) -> usize {
        self.counter.wakes.load(SeqCst)
    }

    /// For a `select!` that completed (see `select/loom_select.rs`): woken exactly once if it
    /// returned `Pending`, which it does at most once; woken at most once in all (a
    /// counterparty that claims it while it is still registering wakes it spuriously).
    pub(crate) fn assert_select_woken(&self) {
        assert!(self.pending <= 1, "a select returned Pending twice");
        assert!(
            self.woken() >= self.pending,
            "a parked select was not woken"
        );
        assert!(self.woken() <= 1, "a select was woken twice");
    }

    /// For a future that completed: every `Pending` poll was woken exactly once.
    pub(crate) fn assert_each_pending_woken_once(&self) {
        assert_eq!(
            self.woken(),
            self.pending,
            "a Pending poll was not woken exactly once"
        );
    }
}

/// A value that counts its drops (on a loom `Arc`, so a leaked one fails the model too).
pub(crate) struct Counted {
    pub(crate) id: u32,
    pub(crate) drops: Arc<AtomicUsize>,
}

impl Counted {
    /// A value `id` counting its drops in `drops`.
    pub(crate) fn new(id: u32, drops: &Arc<AtomicUsize>) -> Counted {
        Counted {
            id,
            drops: drops.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.id)
    }
}

/// Receives until the channel is closed and drained, one hand-polled `recv` at a time.
pub(crate) fn recv_all<T>(rx: &Receiver<T>) -> (Vec<T>, Vec<Wakes>) {
    let mut got = Vec::new();
    let mut wakes = Vec::new();
    loop {
        let mut recv = Polled::new(rx.recv());
        let v = recv.wait();
        wakes.push(recv.finish());
        match v {
            Some(v) => got.push(v),
            None => return (got, wakes),
        }
    }
}

/// Sends `v` with a hand-polled `send` to completion.
pub(crate) fn send_one<T>(tx: &Sender<T>, v: T) -> (Result<(), SendError<T>>, Wakes) {
    let mut send = Polled::new(tx.send(v));
    let result = send.wait();
    (result, send.finish())
}
