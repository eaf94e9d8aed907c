//! `gort::context`: Go's `context` package, waker-based.
//!
//! # The tree
//!
//! A [`Context`] is an `Arc` to a node: the background (the root, never cancelled), a
//! cancellable node (`with_cancel`, `with_deadline`, `with_timeout`), or a value node
//! (`with_value`). Each node keeps its parent alive; values are looked up by walking up.
//!
//! A cancellable node owns a `CancelState`: its error (none yet, `Canceled` or
//! `DeadlineExceeded`), a gate (`gate.rs`) on which `done()` futures wait, and its children:
//! the cancel states of the nearest cancellable nodes below it, as weak references in a
//! slab, so that a child that goes away unregisters in O(1). Value nodes share the cancel
//! state of their nearest cancellable ancestor, so `done()` and `err()` on them are theirs.
//!
//! # Cancelling (Go's `cancelCtx.cancel`)
//!
//! 1. The first canceller of a state sets its error with a compare-and-swap (a second one
//!    finds it set and stops), then opens its gate: every `done()` waiting returns, and later
//!    ones return at once.
//! 2. It takes all its children out of the slab and cancels each the same way, with the same
//!    error, depth-first with an explicit stack: O(descendants), whatever the depth.
//! 3. A state cancelled through its own `CancelFunc` (not by its parent) unregisters from its
//!    parent, and a deadline's timer goroutine is aborted.
//!
//! A child registers under its parent's children lock after checking the parent's error there:
//! either it registers before the parent drains its children (and is cancelled with them), or
//! it sees the error and is cancelled at once (Go's `propagateCancel`).
//!
//! # Deadlines
//!
//! `with_deadline(parent, at)` is `with_cancel` when the parent's deadline is earlier (Go
//! does the same). Otherwise a goroutine sleeps on the timer wheel until `at` and cancels the
//! node with `DeadlineExceeded`; it holds the state weakly, and cancelling the node first
//! aborts it. So a deadline must be set inside a gort runtime.
//!
//! A dropped `CancelFunc` does not cancel (as in Go, where it must be called); a context that
//! nobody holds any more unregisters from its parent and stops its timer.

use crate::gate::{Gate, GateWaiter};
use crate::loom::atomic::{AtomicU8, Ordering::*};
use gort_runtime::__private::SpinLock;
use gort_runtime::JoinHandle;
use gort_runtime::time::{Duration, Instant};
use slab::Slab;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};

const LIVE: u8 = 0;
const CANCELED: u8 = 1;
const DEADLINE_EXCEEDED: u8 = 2;

/// Why a context was cancelled (Go's `context.Canceled` and `context.DeadlineExceeded`).
///
/// ```
/// use gort_sync::context::ContextError;
///
/// assert_eq!(ContextError::Canceled.to_string(), "context canceled");
/// assert_eq!(ContextError::DeadlineExceeded.to_string(), "context deadline exceeded");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextError {
    /// Cancelled by a `CancelFunc` (its own or an ancestor's).
    Canceled,
    /// Its deadline (or an ancestor's) passed.
    DeadlineExceeded,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ContextError::Canceled => "context canceled",
            ContextError::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl std::error::Error for ContextError {}

fn decode(err: u8) -> Option<ContextError> {
    match err {
        CANCELED => Some(ContextError::Canceled),
        DEADLINE_EXCEEDED => Some(ContextError::DeadlineExceeded),
        _ => None,
    }
}

fn encode(err: ContextError) -> u8 {
    match err {
        ContextError::Canceled => CANCELED,
        ContextError::DeadlineExceeded => DEADLINE_EXCEEDED,
    }
}

/// A cancellable node's state (see the module docs).
struct CancelState {
    err: AtomicU8,
    gate: Gate,
    children: SpinLock<Slab<Weak<CancelState>>>,
    /// The parent's state and this one's key among its children, while registered.
    parent: SpinLock<Option<(Arc<CancelState>, usize)>>,
    /// A deadline's timer goroutine.
    timer: SpinLock<Option<JoinHandle<()>>>,
}

impl CancelState {
    fn new() -> Arc<CancelState> {
        Arc::new(CancelState {
            err: AtomicU8::new(LIVE),
            gate: Gate::new(),
            children: SpinLock::new(Slab::new()),
            parent: SpinLock::new(None),
            timer: SpinLock::new(None),
        })
    }

    fn err(&self) -> Option<ContextError> {
        decode(self.err.load(Acquire))
    }

    /// Registers `child` below this state, or cancels it at once if this one is cancelled.
    fn adopt(self: &Arc<Self>, child: &Arc<CancelState>) {
        let mut children = self.children.lock();
        if let Some(err) = self.err() {
            drop(children);
            child.cancel(err, false);
            return;
        }
        let key = children.insert(Arc::downgrade(child));
        *child.parent.lock() = Some((self.clone(), key));
    }

    /// Cancels this state and its descendants with `err`; `unregister`: this one leaves its
    /// parent's children too (a cancel from its own `CancelFunc` or deadline).
    fn cancel(self: &Arc<Self>, err: ContextError, unregister: bool) {
        if unregister {
            self.unregister();
        }
        let mut stack = vec![self.clone()];
        while let Some(state) = stack.pop() {
            if state
                .err
                .compare_exchange(LIVE, encode(err), AcqRel, Acquire)
                .is_err()
            {
                continue;
            }
            state.gate.open(|| {});
            let children = std::mem::take(&mut *state.children.lock());
            for (_, child) in children {
                if let Some(child) = child.upgrade() {
                    // Taken out of our slab already: it must not remove its key from it.
                    child.parent.lock().take();
                    stack.push(child);
                }
            }
            if let Some(timer) = state.timer.lock().take() {
                timer.abort();
            }
        }
    }
}

impl CancelState {
    /// Leaves the parent's children, if registered there.
    fn unregister(&self) {
        let registration = self.parent.lock().take();
        if let Some((parent, key)) = registration {
            parent.children.lock().try_remove(key);
        }
    }
}

impl Drop for CancelState {
    /// Leaves the parent's children and stops the timer; a parent that only this state held
    /// goes too, in a loop rather than recursively (a chain of any length).
    fn drop(&mut self) {
        if let Some(timer) = self.timer.lock().take() {
            timer.abort();
        }
        let mut registration = self.parent.lock().take();
        while let Some((parent, key)) = registration {
            parent.children.lock().try_remove(key);
            registration = match Arc::try_unwrap(parent) {
                Ok(parent) => {
                    if let Some(timer) = parent.timer.lock().take() {
                        timer.abort();
                    }
                    parent.parent.lock().take()
                }
                Err(_) => None,
            };
        }
    }
}

/// A node of the tree.
struct Node {
    parent: Option<Context>,
    value: Option<Box<dyn Any + Send + Sync>>,
    deadline: Option<Instant>,
    /// This node's cancel state, or its nearest cancellable ancestor's; none under the
    /// background alone.
    cancel: Option<Arc<CancelState>>,
}

impl Drop for Node {
    /// Drops a chain of ancestors that only this node held without recursing, so that a
    /// context derived in a loop (a chain of any length) goes away on any stack.
    fn drop(&mut self) {
        let mut parent = self.parent.take();
        while let Some(ctx) = parent {
            parent = match Arc::try_unwrap(ctx.node) {
                Ok(mut node) => node.parent.take(),
                Err(_) => None,
            };
        }
    }
}

/// Carries a cancellation signal, a deadline and values across goroutines (Go's
/// `context.Context`). Cheap to clone; a tree in which cancelling a node cancels everything
/// below it.
///
/// ```
/// use gort_sync::context;
///
/// gort_runtime::block_on(async {
///     let (ctx, cancel) = context::with_cancel(&context::background());
///     let worker = {
///         let ctx = ctx.clone();
///         gort_runtime::go(async move {
///             ctx.done().await; // until cancelled
///             ctx.err()
///         })
///     };
///     cancel.cancel();
///     assert_eq!(worker.await.unwrap(), Some(context::ContextError::Canceled));
/// });
/// ```
#[derive(Clone)]
pub struct Context {
    node: Arc<Node>,
}

/// Cancels the context it came with (Go's `context.CancelFunc`). Dropping it does not
/// cancel; calling it more than once does nothing more.
///
/// ```
/// use gort_sync::context;
///
/// let (ctx, cancel) = context::with_cancel(&context::background());
/// cancel.cancel();
/// cancel.cancel();
/// assert!(ctx.err().is_some());
/// ```
#[derive(Clone)]
pub struct CancelFunc {
    state: Arc<CancelState>,
}

impl CancelFunc {
    /// Cancels the context and everything derived from it with `Canceled` (unless already
    /// cancelled).
    ///
    /// ```
    /// use gort_sync::context;
    ///
    /// let (parent, cancel) = context::with_cancel(&context::background());
    /// let (child, _keep) = context::with_cancel(&parent);
    /// cancel.cancel();
    /// assert_eq!(child.err(), Some(context::ContextError::Canceled));
    /// ```
    pub fn cancel(&self) {
        self.state.cancel(ContextError::Canceled, true);
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFunc").finish_non_exhaustive()
    }
}

/// The root of every tree: never cancelled, no deadline, no values (Go's `Background`).
///
/// ```
/// let ctx = gort_sync::context::background();
/// assert!(ctx.err().is_none() && ctx.deadline().is_none());
/// ```
pub fn background() -> Context {
    Context {
        node: Arc::new(Node {
            parent: None,
            value: None,
            deadline: None,
            cancel: None,
        }),
    }
}

/// A child of `parent` with a `CancelFunc` of its own; cancelled when either is (Go's
/// `WithCancel`).
///
/// ```
/// use gort_sync::context;
///
/// let (ctx, cancel) = context::with_cancel(&context::background());
/// assert!(ctx.err().is_none());
/// cancel.cancel();
/// assert_eq!(ctx.err(), Some(context::ContextError::Canceled));
/// ```
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    cancellable(parent, parent.deadline())
}

/// A child of `parent` cancelled with `DeadlineExceeded` at `at` at the latest (Go's
/// `WithDeadline`).
///
/// # Panics
/// Outside a gort runtime, unless the parent's deadline is earlier or `at` has passed (the
/// deadline is a goroutine sleeping on the runtime's timers).
///
/// ```
/// use gort_sync::context;
/// use gort_runtime::time::{Duration, Instant};
///
/// gort_runtime::block_on(async {
///     let at = Instant::now() + Duration::from_millis(5);
///     let (ctx, _cancel) = context::with_deadline(&context::background(), at);
///     assert_eq!(ctx.deadline(), Some(at));
///     ctx.done().await;
///     assert_eq!(ctx.err(), Some(context::ContextError::DeadlineExceeded));
/// });
/// ```
#[track_caller]
pub fn with_deadline(parent: &Context, at: Instant) -> (Context, CancelFunc) {
    if parent.deadline().is_some_and(|d| d <= at) {
        return with_cancel(parent);
    }
    let (ctx, cancel) = cancellable(parent, Some(at));
    if at <= Instant::now() {
        cancel.state.cancel(ContextError::DeadlineExceeded, true);
        return (ctx, cancel);
    }
    let state = Arc::downgrade(&cancel.state);
    let timer = gort_runtime::go(async move {
        gort_runtime::time::sleep_until(at).await;
        if let Some(state) = state.upgrade() {
            state.cancel(ContextError::DeadlineExceeded, true);
        }
    });
    let mut slot = cancel.state.timer.lock();
    if cancel.state.err().is_some() {
        // Cancelled meanwhile (its parent was): the timer has nothing left to do.
        timer.abort();
    } else {
        *slot = Some(timer);
    }
    drop(slot);
    (ctx, cancel)
}

/// `with_deadline(parent, now + d)` (Go's `WithTimeout`).
///
/// # Panics
/// As [`with_deadline`].
///
/// ```
/// use gort_sync::context;
/// use gort_runtime::time::Duration;
///
/// gort_runtime::block_on(async {
///     let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(1));
///     ctx.done().await;
///     assert_eq!(ctx.err(), Some(context::ContextError::DeadlineExceeded));
/// });
/// ```
#[track_caller]
pub fn with_timeout(parent: &Context, d: Duration) -> (Context, CancelFunc) {
    with_deadline(parent, Instant::now() + d)
}

/// A child of `parent` that carries `v`; found by [`Context::value`] on it and below (Go's
/// `WithValue`, keyed by type).
///
/// ```
/// use gort_sync::context;
///
/// struct RequestId(u64);
/// let ctx = context::with_value(&context::background(), RequestId(7));
/// assert_eq!(ctx.value::<RequestId>().map(|r| r.0), Some(7));
/// assert!(ctx.value::<String>().is_none());
/// ```
pub fn with_value<V: Any + Send + Sync>(parent: &Context, v: V) -> Context {
    Context {
        node: Arc::new(Node {
            parent: Some(parent.clone()),
            value: Some(Box::new(v)),
            deadline: parent.deadline(),
            cancel: parent.node.cancel.clone(),
        }),
    }
}

/// A cancellable child of `parent` with `deadline`, registered below the parent's nearest
/// cancellable ancestor.
fn cancellable(parent: &Context, deadline: Option<Instant>) -> (Context, CancelFunc) {
    let state = CancelState::new();
    if let Some(above) = &parent.node.cancel {
        above.adopt(&state);
    }
    let ctx = Context {
        node: Arc::new(Node {
            parent: Some(parent.clone()),
            value: None,
            deadline,
            cancel: Some(state.clone()),
        }),
    };
    (ctx, CancelFunc { state })
}

impl Context {
    /// Resolves once the context is cancelled (Go's `Done` channel, as a future for
    /// `select!`); never, for one that cannot be. Cancel-safe.
    ///
    /// ```
    /// use gort_sync::{context, select};
    /// use gort_runtime::time::{Duration, sleep};
    ///
    /// gort_runtime::block_on(async {
    ///     let (ctx, cancel) = context::with_cancel(&context::background());
    ///     cancel.cancel();
    ///     let stopped = select! {
    ///         _ = ctx.done() => true,
    ///         _ = sleep(Duration::from_secs(10)) => false,
    ///     };
    ///     assert!(stopped);
    /// });
    /// ```
    pub fn done(&self) -> Done<'_> {
        Done {
            state: self.node.cancel.as_deref(),
            waiter: self
                .node
                .cancel
                .as_deref()
                .map(|state| GateWaiter::new(&state.gate)),
        }
    }

    /// Why the context was cancelled, or `None` while it is not (Go's `Err`).
    ///
    /// ```
    /// assert_eq!(gort_sync::context::background().err(), None);
    /// ```
    pub fn err(&self) -> Option<ContextError> {
        self.node.cancel.as_ref().and_then(|state| state.err())
    }

    /// When the context will be cancelled at the latest, if it has a deadline (Go's
    /// `Deadline`).
    ///
    /// ```
    /// assert_eq!(gort_sync::context::background().deadline(), None);
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline
    }

    /// The value of type `V` that this context or its nearest ancestor carrying one carries
    /// (Go's `Value`, keyed by type).
    ///
    /// ```
    /// use gort_sync::context;
    ///
    /// let outer = context::with_value(&context::background(), 1u32);
    /// let inner = context::with_value(&outer, 2u32);
    /// assert_eq!(inner.value::<u32>(), Some(&2));
    /// assert_eq!(outer.value::<u32>(), Some(&1));
    /// ```
    pub fn value<V: Any>(&self) -> Option<&V> {
        let mut node = &*self.node;
        loop {
            if let Some(v) = node.value.as_ref().and_then(|v| v.downcast_ref::<V>()) {
                return Some(v);
            }
            node = &*node.parent.as_ref()?.node;
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("err", &self.err())
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

/// The future of [`Context::done`].
///
/// ```
/// use gort_sync::context;
///
/// gort_runtime::block_on(async {
///     let (ctx, cancel) = context::with_cancel(&context::background());
///     let done: context::Done<'_> = ctx.done();
///     cancel.cancel();
///     done.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Done<'a> {
    state: Option<&'a CancelState>,
    /// Pinned; none for a context that cannot be cancelled.
    waiter: Option<GateWaiter<'a>>,
}

impl Future for Done<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        // SAFETY: the waiter is structurally pinned (never moved out); `state` is a reference.
        let this = unsafe { self.get_unchecked_mut() };
        let (Some(state), Some(waiter)) = (this.state, this.waiter.as_mut()) else {
            return Poll::Pending;
        };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(waiter) };
        waiter.poll_event(cx, || state.err.load(Acquire) != LIVE, || false)
    }
}

impl fmt::Debug for Done<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done").finish_non_exhaustive()
    }
}

/// The children registered below `ctx`'s cancel state (the models check it is drained).
#[cfg(all(test, gort_loom))]
pub(crate) fn children_for_models(ctx: &Context) -> usize {
    ctx.node
        .cancel
        .as_ref()
        .map_or(0, |s| s.children.lock().len())
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    fn children(ctx: &Context) -> usize {
        ctx.node.cancel.as_ref().unwrap().children.lock().len()
    }

    /// Children that go away, or cancel themselves, leave their parent's slab: a long-lived
    /// parent does not grow with the contexts derived from it.
    #[test]
    fn children_unregister_when_dropped_or_cancelled() {
        let (parent, _cancel) = with_cancel(&background());
        for _ in 0..1_000 {
            let (child, cancel) = with_cancel(&parent);
            let grandchild = with_value(&child, 1u8);
            assert_eq!(children(&parent), 1);
            drop((child, cancel, grandchild));
            assert_eq!(children(&parent), 0);
        }
        let (child, cancel) = with_cancel(&parent);
        cancel.cancel();
        assert_eq!(children(&parent), 0);
        assert!(child.err().is_some() && parent.err().is_none());
    }

    /// A parent's cancel drains its children, which then have nothing to unregister from.
    #[test]
    fn a_cancelled_parent_drains_its_children() {
        let (parent, cancel) = with_cancel(&background());
        let kids: Vec<_> = (0..10).map(|_| with_cancel(&parent)).collect();
        assert_eq!(children(&parent), 10);
        cancel.cancel();
        assert_eq!(children(&parent), 0);
        for (kid, _) in &kids {
            assert_eq!(kid.err(), Some(ContextError::Canceled));
        }
        // A child made under a cancelled parent is cancelled at once and not registered.
        let (late, _c) = with_cancel(&parent);
        assert_eq!(late.err(), Some(ContextError::Canceled));
        assert_eq!(children(&parent), 0);
    }
}
