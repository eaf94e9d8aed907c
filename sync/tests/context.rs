//! `gort::context` end to end: cancellation down the tree (and not up), deadlines and
//! timeouts on the timer wheel, values, and `done()` in `select!`. After Go's
//! `context_test.go` (`TestWithCancel`, `TestDeadline`, `TestTimeout`, `TestValues`,
//! `TestCancelRemoves` in the crate's unit tests).

mod common;

use common::rt;
use gort_runtime::go;
use gort_runtime::time::{Duration, Instant, sleep};
use gort_sync::context::{self, ContextError};
use gort_sync::select;

/// Go's `TestWithCancel`: cancelling a parent cancels its children and their `done()`s
/// return; cancelling a child leaves the parent alone.
#[test]
fn test_with_cancel() {
    rt(2).block_on(async {
        let (c1, cancel1) = context::with_cancel(&context::background());
        let (c2, cancel2) = context::with_cancel(&c1);
        let c3 = context::with_value(&c2, "value");
        let waiters: Vec<_> = [c1.clone(), c2.clone(), c3.clone()]
            .into_iter()
            .map(|c| go(async move { c.done().await }))
            .collect();
        cancel2.cancel();
        assert_eq!(c2.err(), Some(ContextError::Canceled));
        assert_eq!(c3.err(), Some(ContextError::Canceled));
        assert_eq!(c1.err(), None, "cancelling a child cancelled its parent");
        cancel1.cancel();
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(c1.err(), Some(ContextError::Canceled));
    });
}

/// Go's `TestDeadline` and `TestTimeout`: the context is cancelled with
/// `DeadlineExceeded`; a child with a later deadline keeps its parent's earlier one; a
/// deadline already past cancels at once.
#[test]
fn test_deadline_and_timeout() {
    rt(2).block_on(async {
        let start = Instant::now();
        let (parent, _p) = context::with_timeout(&context::background(), Duration::from_millis(20));
        let (child, _c) = context::with_timeout(&parent, Duration::from_secs(60));
        assert_eq!(
            child.deadline(),
            parent.deadline(),
            "a later deadline replaced an earlier"
        );
        child.done().await;
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "cancelled before its deadline"
        );
        assert_eq!(parent.err(), Some(ContextError::DeadlineExceeded));
        assert_eq!(child.err(), Some(ContextError::DeadlineExceeded));
        let (past, _c) = context::with_deadline(&context::background(), Instant::now());
        assert_eq!(past.err(), Some(ContextError::DeadlineExceeded));
    });
}

/// Cancelling before the deadline gives `Canceled`, and the deadline does not fire later.
#[test]
fn cancel_before_the_deadline() {
    rt(2).block_on(async {
        let (ctx, cancel) =
            context::with_timeout(&context::background(), Duration::from_millis(200));
        cancel.cancel();
        sleep(Duration::from_millis(400)).await;
        assert_eq!(ctx.err(), Some(ContextError::Canceled));
    });
}

/// Go's `TestValues`: the nearest value of a type wins; values pass through cancellable
/// nodes.
#[test]
fn test_values() {
    #[derive(Debug, PartialEq)]
    struct User(&'static str);
    let c1 = context::with_value(&context::background(), User("a"));
    let (c2, _cancel) = context::with_cancel(&c1);
    let c3 = context::with_value(&c2, 7u64);
    let c4 = context::with_value(&c3, User("b"));
    assert_eq!(c3.value::<User>(), Some(&User("a")));
    assert_eq!(c4.value::<User>(), Some(&User("b")));
    assert_eq!(c4.value::<u64>(), Some(&7));
    assert_eq!(c2.value::<u64>(), None);
}

/// A deep chain cancels without recursion, and every level sees it.
#[test]
fn a_deep_chain_cancels() {
    let (root, cancel) = context::with_cancel(&context::background());
    let mut chain = vec![root];
    let mut funcs = Vec::new();
    for _ in 0..50_000 {
        let (c, f) = context::with_cancel(chain.last().unwrap());
        chain.push(c);
        funcs.push(f);
    }
    cancel.cancel();
    assert!(
        chain
            .iter()
            .all(|c| c.err() == Some(ContextError::Canceled))
    );
    // Dropping the chain (a linked list of Arcs) must not overflow the stack either: only
    // the last context holds it.
    drop(funcs);
    let last = chain.pop().unwrap();
    drop(chain);
    drop(last);
}

/// A deep chain nobody cancelled goes away without recursion too, whichever goes last: the
/// contexts or their `CancelFunc`s.
#[test]
fn a_deep_chain_drops() {
    for funcs_last in [false, true] {
        let mut ctx = context::background();
        let mut funcs = Vec::new();
        for _ in 0..50_000 {
            let (c, f) = context::with_cancel(&ctx);
            ctx = context::with_value(&c, 1u8);
            funcs.push(f);
        }
        if funcs_last {
            drop(ctx);
            drop(funcs);
        } else {
            drop(funcs);
            drop(ctx);
        }
    }
}

/// `done()` as a `select!` arm; the background's never resolves.
#[test]
fn done_in_select() {
    rt(2).block_on(async {
        let bg = context::background();
        let timed_out = select! {
            _ = bg.done() => false,
            _ = sleep(Duration::from_millis(2)) => true,
        };
        assert!(timed_out);
        let (ctx, cancel) = context::with_cancel(&bg);
        go(async move {
            sleep(Duration::from_millis(1)).await;
            cancel.cancel();
        });
        let cancelled = select! {
            _ = ctx.done() => true,
            _ = sleep(Duration::from_secs(10)) => false,
        };
        assert!(cancelled);
    });
}

#[test]
fn debug_and_auto_traits() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<context::Context>();
    send_sync::<context::CancelFunc>();
    fn send<T: Send>() {}
    send::<context::Done<'static>>();
    assert_eq!(
        format!("{:?}", context::background()),
        "Context { err: None, deadline: None, .. }"
    );
}
