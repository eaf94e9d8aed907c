//! End-to-end tests of `#[gort::main]` and `#[gort::test]`: the attributes expand to a runtime
//! that runs goroutines, honours `workers = N`, hands back the function's return value, and lets
//! a panic reach the test harness. Misuse is covered by the compile-fail cases in `tests/ui/`.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[gort::test]
async fn goroutines_are_spawned_and_joined() {
    let handles: Vec<_> = (0..100u64)
        .map(|i| gort::go(async move { i * i }))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("the goroutine does not panic");
    }
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum::<u64>());
}

#[gort::test]
async fn spawn_is_go() {
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let counter = Arc::clone(&counter);
            gort::spawn(async move {
                counter.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), 10);
}

#[gort::test(workers = 2)]
async fn workers_sizes_the_runtime() {
    assert_eq!(gort::runtime::num_workers(), 2);
    let seen_by_a_goroutine = gort::go(async { gort::runtime::num_workers() });
    assert_eq!(seen_by_a_goroutine.await.unwrap(), 2);
}

#[gort::test(workers = 1)]
async fn one_worker_is_enough() {
    assert_eq!(gort::runtime::num_workers(), 1);
    let inner = gort::go(async { gort::go(async { 7 }).await.unwrap() * 6 });
    assert_eq!(inner.await.unwrap(), 42);
}

#[gort::test]
async fn a_test_may_return_a_result() -> Result<(), std::num::ParseIntError> {
    let n: u32 = gort::go(async { "42".parse::<u32>() }).await.unwrap()?;
    assert_eq!(n, 42);
    Ok(())
}

#[gort::test]
#[should_panic(expected = "the main goroutine panicked")]
async fn should_panic_is_kept() {
    gort::go(async {}).await.unwrap();
    panic!("the main goroutine panicked");
}

#[gort::test]
#[ignore = "only checks that #[ignore] is kept; passes when run with --ignored"]
async fn ignore_is_kept() {}

/// A `#[gort::main]` function need not be called `main`, may be `pub(crate)`, and keeps its
/// return type: here a `Result` whose `Err` comes out of the body through `?`.
#[gort::main(workers = 2)]
pub(crate) async fn main_err() -> Result<u32, String> {
    assert_eq!(gort::runtime::num_workers(), 2);
    let parsed = gort::go(async { "not a number".parse::<u32>() });
    let n = parsed.await.unwrap().map_err(|e| e.to_string())?;
    Ok(n * 2)
}

/// `#[gort::main]` without arguments, returning `Result<(), String>` as a `main` may.
#[gort::main]
async fn main_ok() -> Result<(), String> {
    let handle = gort::go(async { "done".to_string() });
    match handle.await {
        Ok(message) if message == "done" => Ok(()),
        other => Err(format!("unexpected: {other:?}")),
    }
}

#[test]
fn main_runs_the_body_and_returns_its_value() {
    assert_eq!(main_ok(), Ok(()));
    assert_eq!(main_err(), Err("invalid digit found in string".to_string()));
}

#[test]
fn main_can_be_called_more_than_once() {
    // Each call builds a fresh runtime.
    assert_eq!(main_ok(), Ok(()));
    assert_eq!(main_ok(), Ok(()));
}
