//! A tour of what gort can do so far: a million goroutines started and joined, a spawn chain
//! through `runnext`, a ping-pong over unbuffered channels, timers, a `select!` fan-in,
//! blocking work on the blocking pool, sysmon relieving a worker that a goroutine blocked,
//! garbage-collected cyclic graphs built by goroutines, and the scheduler's own account of it
//! all.
//!
//! ```text
//! cargo run --release --example tour
//! ```

use std::time::Instant;

#[gort::main]
async fn main() {
    println!("gort tour: {} workers\n", gort::runtime::num_workers());

    // 1. A million goroutines, each joined (Go's `go` + WaitGroup).
    let start = Instant::now();
    let handles: Vec<_> = (0..1_000_000u64)
        .map(|i| gort::go(async move { i % 10 }))
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    let took = start.elapsed();
    assert_eq!(sum, 4_500_000);
    println!(
        "1,000,000 goroutines spawned and joined in {took:.2?} ({:.0} ns each)",
        took.as_nanos() as f64 / 1e6
    );

    // 2. A spawn chain: each goroutine starts the next and waits for it. Children go to
    //    `runnext`, so the chain runs on one worker without touching a shared queue.
    let start = Instant::now();
    let depth = chain(10_000).await;
    println!(
        "a chain of {depth} goroutines, each spawning the next: {:.2?}",
        start.elapsed()
    );

    // 3. Blocking work goes to the blocking pool; workers keep running goroutines.
    let start = Instant::now();
    let blocking: Vec<_> = (0..8)
        .map(|i| {
            gort::spawn_blocking(move || {
                std::thread::sleep(std::time::Duration::from_millis(10 + i))
            })
        })
        .collect();
    let quick = gort::go(async { "goroutines kept running" }).await.unwrap();
    for h in blocking {
        h.await.unwrap();
    }
    println!(
        "8 blocking sleeps of 10-17 ms in {:.2?}; meanwhile {quick}",
        start.elapsed()
    );

    // 4. Go's channels: a ping-pong over two unbuffered channels. Each send hands the value
    //    straight to the parked receiver and puts it in `runnext`: the pair stays on one worker.
    let (ping_tx, ping_rx) = gort::chan::bounded::<u32>(0);
    let (pong_tx, pong_rx) = gort::chan::bounded::<u32>(0);
    let echo = gort::go(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..100_000 {
        ping_tx.send(i).await.unwrap();
        assert_eq!(pong_rx.recv().await, Some(i));
    }
    let took = start.elapsed();
    drop(ping_tx);
    echo.await.unwrap();
    println!(
        "100,000 ping-pong round trips over unbuffered channels in {took:.2?} ({:.0} ns each)",
        took.as_nanos() as f64 / 1e5
    );

    // 5. Timers: a thousand goroutines sleep 10 ms each, on the per-worker timing wheels.
    let start = Instant::now();
    let sleepers: Vec<_> = (0..1000)
        .map(|_| gort::go(gort::time::sleep(gort::time::Duration::from_millis(10))))
        .collect();
    for s in sleepers {
        s.await.unwrap();
    }
    let timeout = gort::time::timeout(
        gort::time::Duration::from_millis(5),
        std::future::pending::<()>(),
    )
    .await;
    println!(
        "1,000 goroutines slept 10 ms in {:.2?}; a 5 ms timeout said: {}",
        start.elapsed(),
        timeout.unwrap_err()
    );

    // 6. select!: a worker fan-in with a quit channel and a deadline, as Go writes it.
    let (jobs_tx, jobs_rx) = gort::chan::bounded::<u64>(0);
    let (quit_tx, quit_rx) = gort::chan::bounded::<()>(0);
    for w in 0..4u64 {
        let jobs_tx = jobs_tx.clone();
        gort::go(async move {
            for i in 0..1000 {
                if jobs_tx.send(w * 1000 + i).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(jobs_tx);
    gort::go(async move {
        gort::time::sleep(gort::time::Duration::from_millis(50)).await;
        let _ = quit_tx.send(()).await;
    });
    let (mut sum, mut received) = (0, 0);
    let deadline = gort::time::after(gort::time::Duration::from_secs(5));
    let why = loop {
        gort::select! {
            job = jobs_rx.recv() => match job {
                Some(v) => { sum += v; received += 1; }
                None => break "every producer was done",
            },
            _ = quit_rx.recv() => break "quit",
            _ = deadline.recv() => break "the deadline passed",
        }
    };
    println!("select! took {received} jobs (sum {sum}) from 4 producers; stopped: {why}");

    // 7. A goroutine that panics does not take its worker down.
    let err = gort::go(async { panic!("a goroutine panicked") })
        .await
        .unwrap_err();
    println!("a panic reached its JoinHandle: {err}");

    // 8. A goroutine that blocks its worker's thread (a blocking call made by mistake) does not
    //    stall the others: sysmon sees the worker stuck in one poll for over 10 ms and starts a
    //    spare worker that runs the goroutines queued behind it.
    let start = Instant::now();
    let blockers: Vec<_> = (0..gort::runtime::num_workers())
        .map(|_| gort::go(async { std::thread::sleep(std::time::Duration::from_millis(100)) }))
        .collect();
    gort::yield_now().await;
    let ran = gort::go(async { "a goroutine ran" }).await.unwrap();
    let meanwhile = start.elapsed();
    for b in blockers {
        b.await.unwrap();
    }
    println!(
        "every worker blocked for 100 ms by a goroutine; {ran} after {meanwhile:.2?}; hand-offs: {}",
        gort::runtime::metrics().handoffs
    );

    // 9. Graph-shaped data with `Gc`: goroutines build rings of nodes (cycles, which reference
    //    counting would leak) and drop them; the collector frees them, in the background.
    let start = Instant::now();
    let rings: Vec<_> = (0..4)
        .map(|_| gort::go(async { build_rings(2_000, 100) }))
        .collect();
    let mut kept = 0;
    for ring in rings {
        kept += ring_len(&ring.await.unwrap());
    }
    gort::gc::collect();
    let gc = gort::gc::stats();
    println!(
        "4 goroutines built 8,000 rings of 100 Gc nodes in {:.2?}; {kept} nodes kept; the \
         collector ran {} cycles, freed {} objects, longest pause {:.1?}",
        start.elapsed(),
        gc.cycles,
        gc.objects_freed,
        gc.pause_max
    );

    // 10. What the scheduler saw (Go's runtime/metrics).
    println!("\nscheduler metrics:\n{}", gort::runtime::metrics());
}

/// Starts a chain of `n` goroutines, each awaiting the next; returns its length.
fn chain(n: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
    Box::pin(async move {
        if n == 0 {
            return 0;
        }
        1 + gort::go(chain(n - 1)).await.unwrap()
    })
}

/// A node of a ring: a cycle of `Gc` handles.
#[derive(gort::gc::Trace)]
struct RingNode {
    next: gort::gc::GcCell<Option<gort::gc::Gc<RingNode>>>,
}

/// Builds `rings` rings of `size` nodes, dropping all but the last; returns the last.
fn build_rings(rings: usize, size: usize) -> gort::gc::Gc<RingNode> {
    use gort::gc::{Gc, GcCell};
    let mut last = None;
    for _ in 0..rings {
        let first = Gc::new(RingNode {
            next: GcCell::new(None),
        });
        let mut at = first.clone();
        for _ in 1..size {
            let node = Gc::new(RingNode {
                next: GcCell::new(None),
            });
            *at.next.borrow_mut() = Some(node.clone());
            at = node;
        }
        *at.next.borrow_mut() = Some(first.clone());
        last = Some(first);
    }
    last.expect("at least one ring")
}

/// The number of nodes in the ring `first` starts.
fn ring_len(first: &gort::gc::Gc<RingNode>) -> usize {
    let mut len = 1;
    let mut at = first.next.borrow().clone().expect("a ring");
    while !gort::gc::Gc::ptr_eq(&at, first) {
        len += 1;
        let next = at.next.borrow().clone().expect("a ring");
        at = next;
    }
    len
}
