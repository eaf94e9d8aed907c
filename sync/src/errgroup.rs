//! `errgroup`: golang.org/x/sync's `errgroup.Group`, goroutines working on subtasks of one
//! task, with the first error kept and, optionally, a context cancelled on it.
//!
//! # Algorithm
//!
//! A group counts its goroutines in a `WaitGroup` and keeps the first error a goroutine
//! returns; with a context (`with_context`), that first error cancels the context, and so
//! does the end of `wait`. With a limit (`set_limit`), the group holds a channel of that
//! capacity, as x/sync's does: a goroutine sends into it before it runs its function and
//! receives from it after. x/sync's `Go` blocks its caller until a slot is free; `go` here is
//! not async, so it starts the goroutine at once and the goroutine waits for the slot: at most
//! `limit` functions run at a time either way. `try_go` starts one only if a slot is free now.
//!
//! A goroutine that panics is caught, counted as done, and its panic resumes in `wait` (as
//! x/sync's `Wait` does since 2024), after the others have finished.

use crate::chan::{self, Receiver, Sender};
use crate::context::{self, CancelFunc, Context};
use crate::unwind::{CatchUnwind, Panic};
use crate::waitgroup::WaitGroup;
use gort_runtime::__private::SpinLock;
use std::fmt;
use std::future::Future;
use std::panic::resume_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// A collection of goroutines working on subtasks of one task (x/sync's `errgroup.Group`).
///
/// ```
/// use gort_sync::errgroup::Group;
///
/// gort_runtime::block_on(async {
///     let g = Group::new();
///     for i in 0..3 {
///         g.go(async move { if i == 1 { Err(format!("task {i} failed")) } else { Ok(()) } });
///     }
///     assert_eq!(g.wait().await, Err("task 1 failed".to_owned()));
/// });
/// ```
pub struct Group<E> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    wg: WaitGroup,
    /// Goroutines started and not finished.
    active: AtomicUsize,
    first: SpinLock<Option<E>>,
    panic: SpinLock<Option<Panic>>,
    cancel: Option<CancelFunc>,
    /// The slots of `set_limit`: a send takes one, a receive gives it back.
    limit: SpinLock<Option<(Sender<()>, Receiver<()>)>>,
}

impl<E: Send + 'static> Group<E> {
    /// A group with no context and no limit (x/sync's zero `Group`).
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::errgroup::Group::<()>::new();
    ///     assert_eq!(g.wait().await, Ok(()));
    /// });
    /// ```
    pub fn new() -> Group<E> {
        Group::with_cancel(None)
    }

    /// A group and a context derived from `ctx` that is cancelled by the first error a
    /// goroutine returns, or when `wait` returns (x/sync's `WithContext`).
    ///
    /// ```
    /// use gort_sync::{context, errgroup::Group};
    ///
    /// gort_runtime::block_on(async {
    ///     let (g, ctx) = Group::with_context(&context::background());
    ///     let c = ctx.clone();
    ///     g.go(async move { c.done().await; Ok(()) }); // stops once another fails
    ///     g.go(async { Err("boom") });
    ///     assert_eq!(g.wait().await, Err("boom"));
    ///     assert!(ctx.err().is_some());
    /// });
    /// ```
    pub fn with_context(ctx: &Context) -> (Group<E>, Context) {
        let (ctx, cancel) = context::with_cancel(ctx);
        (Group::with_cancel(Some(cancel)), ctx)
    }

    fn with_cancel(cancel: Option<CancelFunc>) -> Group<E> {
        Group {
            inner: Arc::new(Inner {
                wg: WaitGroup::new(),
                active: AtomicUsize::new(0),
                first: SpinLock::new(None),
                panic: SpinLock::new(None),
                cancel,
                limit: SpinLock::new(None),
            }),
        }
    }

    /// Runs `f` in a new goroutine (x/sync's `Go`); with a limit, the goroutine waits for a
    /// slot before it runs `f`. The first error any returns is the group's.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::errgroup::Group::<String>::new();
    ///     g.go(async { Ok(()) });
    ///     assert!(g.wait().await.is_ok());
    /// });
    /// ```
    pub fn go<F>(&self, f: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let slots = self.inner.limit.lock().clone();
        self.start(f, slots, false);
    }

    /// Runs `f` in a new goroutine only if the limit allows one more now (x/sync's `TryGo`);
    /// true if it started.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let mut g = gort_sync::errgroup::Group::<()>::new();
    ///     g.set_limit(1);
    ///     assert!(g.try_go(async { gort_runtime::yield_now().await; Ok(()) }));
    ///     assert!(!g.try_go(async { Ok(()) }), "the one slot is taken");
    ///     g.wait().await.unwrap();
    /// });
    /// ```
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let slots = self.inner.limit.lock().clone();
        if let Some((tx, _)) = &slots
            && tx.try_send(()).is_err()
        {
            return false;
        }
        self.start(f, slots, true);
        true
    }

    fn start<F>(&self, f: F, slots: Option<(Sender<()>, Receiver<()>)>, has_slot: bool)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        let inner = self.inner.clone();
        inner.wg.add(1);
        inner.active.fetch_add(1, AcqRel);
        gort_runtime::go(async move {
            if let Some((tx, _)) = &slots
                && !has_slot
            {
                // Never closed: the group holds a receiver.
                let _ = tx.send(()).await;
            }
            match CatchUnwind::new(f).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => inner.fail(e),
                Err(panic) => {
                    inner.panic.lock().get_or_insert(panic);
                }
            }
            if let Some((_, rx)) = &slots {
                let _ = rx.try_recv();
            }
            inner.active.fetch_sub(1, AcqRel);
            inner.wg.done();
        });
    }

    /// Limits the goroutines running at once to `n`; negative: no limit (x/sync's
    /// `SetLimit`).
    ///
    /// # Panics
    /// While goroutines of the group are active, with x/sync's message.
    ///
    /// ```
    /// let mut g = gort_sync::errgroup::Group::<()>::new();
    /// g.set_limit(4);
    /// g.set_limit(-1);
    /// ```
    pub fn set_limit(&mut self, n: isize) {
        let active = self.inner.active.load(Acquire);
        if active != 0 {
            panic!(
                "errgroup: modify limit while {active} goroutines in the group are still active"
            );
        }
        *self.inner.limit.lock() = usize::try_from(n).ok().map(chan::bounded);
    }

    /// Waits for every goroutine started so far, then returns the first error (x/sync's
    /// `Wait`), and cancels the group's context if it has one. The error is handed out once:
    /// a second `wait` returns `Ok` unless a new one failed meanwhile.
    ///
    /// # Panics
    /// With the panic of a goroutine that panicked, once all have finished.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::errgroup::Group::new();
    ///     g.go(async { Err(1) });
    ///     g.go(async { Err(2) });
    ///     assert!(matches!(g.wait().await, Err(1 | 2)));
    /// });
    /// ```
    pub async fn wait(&self) -> Result<(), E> {
        self.inner.wg.wait().await;
        if let Some(cancel) = &self.inner.cancel {
            cancel.cancel();
        }
        if let Some(panic) = self.inner.panic.lock().take() {
            resume_unwind(panic);
        }
        match self.inner.first.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<E> Inner<E> {
    /// Keeps `e` if it is the first error, and cancels the context.
    fn fail(&self, e: E) {
        let mut first = self.first.lock();
        if first.is_none() {
            *first = Some(e);
            drop(first);
            if let Some(cancel) = &self.cancel {
                cancel.cancel();
            }
        }
    }
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Group<E> {
        Group::new()
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("active", &self.inner.active.load(Relaxed))
            .finish_non_exhaustive()
    }
}
