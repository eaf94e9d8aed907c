//! `errgroup` end to end, after x/sync's `errgroup_test.go`: `TestZeroGroup` (the first
//! error), `TestWithContext` (the context cancelled by it), `TestGoLimit` and `TestTryGo`
//! (the limit), and a goroutine's panic reaching `wait`.

mod common;

use common::rt;
use gort_runtime::time::{Duration, sleep};
use gort_sync::context::{self, ContextError};
use gort_sync::errgroup::Group;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// x/sync's `TestZeroGroup`: the first error is kept, whatever errors follow.
#[test]
fn test_zero_group() {
    rt(2).block_on(async {
        let g = Group::new();
        g.go(async { Ok(()) });
        g.go(async {
            sleep(Duration::from_millis(1)).await;
            Err("first")
        });
        g.go(async {
            sleep(Duration::from_millis(20)).await;
            Err("second")
        });
        assert_eq!(g.wait().await, Err("first"));
        assert_eq!(g.wait().await, Ok(()), "the error is handed out once");
    });
}

/// x/sync's `TestWithContext`: the first error cancels the context; without one, `wait`
/// does.
#[test]
fn test_with_context() {
    rt(2).block_on(async {
        let (g, ctx) = Group::with_context(&context::background());
        for _ in 0..4 {
            let ctx = ctx.clone();
            g.go(async move {
                ctx.done().await;
                Ok(())
            });
        }
        g.go(async { Err("boom") });
        assert_eq!(g.wait().await, Err("boom"));
        assert_eq!(ctx.err(), Some(ContextError::Canceled));

        let (g, ctx) = Group::<()>::with_context(&context::background());
        g.go(async { Ok(()) });
        assert_eq!(g.wait().await, Ok(()));
        assert_eq!(
            ctx.err(),
            Some(ContextError::Canceled),
            "wait cancels the context"
        );
    });
}

/// x/sync's `TestGoLimit`: never more than the limit running at once.
#[test]
fn test_go_limit() {
    const LIMIT: isize = 3;
    rt(2).block_on(async {
        let mut g = Group::<()>::new();
        g.set_limit(LIMIT);
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for _ in 0..40 {
            let (active, peak) = (active.clone(), peak.clone());
            g.go(async move {
                let now = active.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                sleep(Duration::from_micros(200)).await;
                active.fetch_sub(1, SeqCst);
                Ok(())
            });
        }
        g.wait().await.unwrap();
        let peak = peak.load(SeqCst);
        assert!(
            (1..=LIMIT as usize).contains(&peak),
            "{peak} ran at once, limit {LIMIT}"
        );
    });
}

/// x/sync's `TestTryGo`: with the limit reached, `try_go` refuses; once a slot frees, it
/// accepts.
#[test]
fn test_try_go() {
    rt(2).block_on(async {
        let mut g = Group::<()>::new();
        g.set_limit(2);
        let (tx, rx) = gort_sync::chan::bounded::<()>(0);
        for _ in 0..2 {
            let rx = rx.clone();
            assert!(g.try_go(async move {
                rx.recv().await;
                Ok(())
            }));
        }
        assert!(!g.try_go(async { Ok(()) }), "a third started beside two");
        tx.send(()).await.unwrap();
        // One finished; its slot comes back once it is done.
        let mut started = false;
        for _ in 0..10_000 {
            if g.try_go(async { Ok(()) }) {
                started = true;
                break;
            }
            gort_runtime::yield_now().await;
        }
        assert!(started, "a freed slot was never reused");
        tx.send(()).await.unwrap();
        g.wait().await.unwrap();
    });
}

/// Changing the limit while goroutines run panics with x/sync's message.
#[test]
fn set_limit_while_active_panics() {
    rt(1).block_on(async {
        let mut g = Group::<()>::new();
        g.go(async {
            sleep(Duration::from_millis(50)).await;
            Ok(())
        });
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.set_limit(1)));
        let message = panic.unwrap_err();
        assert_eq!(
            message.downcast_ref::<String>().map(String::as_str),
            Some("errgroup: modify limit while 1 goroutines in the group are still active")
        );
        g.wait().await.unwrap();
    });
}

/// A goroutine's panic resumes in `wait`, after the others finished.
#[test]
fn a_panic_reaches_wait() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let outcome = rt(2).block_on(async move {
        gort_runtime::go(async move {
            let g = Group::<()>::new();
            g.go(async { panic!("worker failed") });
            g.go(async move {
                sleep(Duration::from_millis(5)).await;
                f.fetch_add(1, SeqCst);
                Ok(())
            });
            g.wait().await
        })
        .await
    });
    assert!(outcome.unwrap_err().is_panic());
    assert_eq!(
        finished.load(SeqCst),
        1,
        "wait panicked before the others finished"
    );
}
