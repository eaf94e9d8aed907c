//! `singleflight`: golang.org/x/sync's `singleflight.Group`, one execution of a function per
//! key at a time, its result shared by every caller that asked meanwhile.
//!
//! # Algorithm
//!
//! A map from key to the call in flight, behind a spin lock. The first caller for a key (the
//! leader) inserts a call and starts the function in a goroutine of its own; later callers
//! for the key find the call, count themselves as duplicates, and wait at its gate
//! (`gate.rs`). When the function ends, the goroutine removes the key (unless `forget` did,
//! or a new call took its place), stores the result, opens the gate and sends the result to
//! the channels of `call_chan`. The shared flag is x/sync's: whether any duplicate joined.
//!
//! x/sync's `Do` runs the function in the leader's goroutine. Here it runs in its own, so
//! that a leader whose future is dropped (a timeout, a `select!`) leaves the others waiting
//! for a result that still comes: every caller is a waiter, and every waiter is cancel-safe.
//!
//! # Panics
//!
//! A function that panics is caught; every caller of `call` waiting for it then panics with
//! its message (x/sync re-panics in each waiter, with the value wrapped), and the channels of
//! `call_chan` close without a value.

use crate::chan::{self, Receiver, Sender};
use crate::gate::{Gate, GateWaiter};
use crate::unwind::{self, CatchUnwind};
use gort_runtime::__private::SpinLock;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Suppresses duplicate calls for the same key (x/sync's `singleflight.Group`).
///
/// ```
/// use gort_sync::singleflight::Group;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// gort_runtime::block_on(async {
///     let group = Arc::new(Group::new());
///     let runs = Arc::new(AtomicUsize::new(0));
///     let callers: Vec<_> = (0..5)
///         .map(|_| {
///             let (group, runs) = (group.clone(), runs.clone());
///             gort_runtime::go(async move {
///                 group
///                     .call("config", move || async move {
///                         runs.fetch_add(1, Ordering::SeqCst);
///                         gort_runtime::time::sleep(std::time::Duration::from_millis(5)).await;
///                         42
///                     })
///                     .await
///             })
///         })
///         .collect();
///     for c in callers {
///         assert_eq!(c.await.unwrap().0, 42);
///     }
///     assert!(runs.load(Ordering::SeqCst) < 5, "the callers shared runs");
/// });
/// ```
pub struct Group<K, V> {
    /// Shared with the goroutines in flight, which remove their key when they finish.
    calls: Arc<Calls<K, V>>,
}

type Calls<K, V> = SpinLock<HashMap<K, Arc<Call<V>>>>;

/// One execution in flight.
struct Call<V> {
    gate: Gate,
    /// Set before the gate opens: the value, or the panic's message.
    result: SpinLock<Option<Result<V, String>>>,
    dups: AtomicUsize,
    done: AtomicBool,
    chans: SpinLock<Vec<Sender<(V, bool)>>>,
}

impl<K, V> Group<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// An empty group.
    ///
    /// ```
    /// let g = gort_sync::singleflight::Group::<String, u32>::new();
    /// g.forget(&"nothing".to_owned());
    /// ```
    pub fn new() -> Group<K, V> {
        Group {
            calls: Arc::new(SpinLock::new(HashMap::new())),
        }
    }

    /// Runs `f` for `key` unless a run for it is in flight, and returns its value with
    /// whether it was shared with another caller (x/sync's `Do`). Cancel-safe: a dropped
    /// caller leaves the run going for the others.
    ///
    /// # Panics
    /// If the run's function panicked (with its message).
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::singleflight::Group::new();
    ///     let (v, shared) = g.call(1, || async { "one" }).await;
    ///     assert_eq!((v, shared), ("one", false));
    /// });
    /// ```
    pub async fn call<F, Fut>(&self, key: K, f: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let call = self.join(key, f);
        let mut waiter = std::pin::pin!(GateWaiter::new(&call.gate));
        std::future::poll_fn(|cx| {
            Pin::as_mut(&mut waiter).poll_event(cx, || call.done.load(Acquire), || false)
        })
        .await;
        let result = call.result.lock().clone();
        match result.expect("a finished call has a result") {
            Ok(v) => (v, call.dups.load(Acquire) > 0),
            Err(message) => panic!("singleflight: the function panicked: {message}"),
        }
    }

    /// As [`call`](Group::call), but the result comes on a channel (x/sync's `DoChan`); the
    /// channel closes without a value if the function panicked.
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::singleflight::Group::new();
    ///     let rx = g.call_chan("k", || async { 7 });
    ///     assert_eq!(rx.recv().await, Some((7, false)));
    /// });
    /// ```
    pub fn call_chan<F, Fut>(&self, key: K, f: F) -> Receiver<(V, bool)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (tx, rx) = chan::bounded(1);
        let call = self.join(key, f);
        let mut chans = call.chans.lock();
        if call.done.load(Acquire) {
            drop(chans);
            // Finished before we registered: answer from its stored result.
            if let Some(Ok(v)) = call.result.lock().clone() {
                let _ = tx.try_send((v, call.dups.load(Acquire) > 0));
            }
        } else {
            chans.push(tx);
        }
        rx
    }

    /// Forgets `key`: a later call for it starts a new run, while callers of the one in
    /// flight still get its result (x/sync's `Forget`).
    ///
    /// ```
    /// gort_runtime::block_on(async {
    ///     let g = gort_sync::singleflight::Group::new();
    ///     assert_eq!(g.call("k", || async { 1 }).await.0, 1);
    ///     g.forget(&"k");
    ///     assert_eq!(g.call("k", || async { 2 }).await.0, 2);
    /// });
    /// ```
    pub fn forget(&self, key: &K) {
        self.calls.lock().remove(key);
    }

    /// The call in flight for `key`, counting this caller as a duplicate; or a new one,
    /// whose goroutine starts `f`.
    fn join<F, Fut>(&self, key: K, f: F) -> Arc<Call<V>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let mut calls = self.calls.lock();
        if let Some(call) = calls.get(&key) {
            call.dups.fetch_add(1, AcqRel);
            return call.clone();
        }
        let call = Arc::new(Call {
            gate: Gate::new(),
            result: SpinLock::new(None),
            dups: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            chans: SpinLock::new(Vec::new()),
        });
        calls.insert(key.clone(), call.clone());
        drop(calls);
        let fut = f();
        let (run, map) = (call.clone(), Arc::downgrade(&self.calls));
        gort_runtime::go(async move {
            let result = CatchUnwind::new(fut).await.map_err(|p| unwind::message(&p));
            // Forget the key, unless `forget` did already and a new call took its place.
            if let Some(map) = map.upgrade() {
                let mut calls = map.lock();
                if calls.get(&key).is_some_and(|c| Arc::ptr_eq(c, &run)) {
                    calls.remove(&key);
                }
            }
            *run.result.lock() = Some(result.clone());
            run.gate.open(|| run.done.store(true, Release));
            let shared = run.dups.load(Acquire) > 0;
            let chans = std::mem::take(&mut *run.chans.lock());
            if let Ok(v) = result {
                for tx in chans {
                    let _ = tx.try_send((v.clone(), shared));
                }
            }
        });
        call
    }
}

impl<K, V> Default for Group<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    fn default() -> Group<K, V> {
        Group::new()
    }
}

impl<K, V> fmt::Debug for Group<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("in_flight", &self.calls.lock().len())
            .finish_non_exhaustive()
    }
}
