//! Channels end to end: Go's semantics (rendezvous, FIFO, close), MPMC exactly-once delivery
//! under stress, cancel safety under random cancellation, and the blocking and Stream forms.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::time::{Duration, timeout};
use gort_runtime::{Builder, Runtime, go, yield_now};
use gort_sync::chan::{self, SendError, TryRecvError, TrySendError};
use std::collections::HashSet;

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

#[test]
fn unbuffered_ping_pong() {
    rt(2).block_on(async {
        let (ping_tx, ping_rx) = chan::bounded::<u32>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u32>(0);
        let echo = go(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v + 1).await.unwrap();
            }
        });
        for i in 0..10_000 {
            ping_tx.send(i).await.unwrap();
            assert_eq!(pong_rx.recv().await, Some(i + 1));
        }
        drop(ping_tx);
        echo.await.unwrap();
    });
}

/// Go: a send on an unbuffered channel completes only when a receiver takes the value.
#[test]
fn unbuffered_send_waits_for_a_receiver() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        assert!(
            timeout(Duration::from_millis(20), tx.send(1))
                .await
                .is_err(),
            "no receiver"
        );
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "the cancelled send delivered nothing"
        );
        let r = go(async move { rx.recv().await });
        tx.send(2).await.unwrap();
        assert_eq!(r.await.unwrap(), Some(2));
    });
}

#[test]
fn buffered_fifo_and_blocking_when_full() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded(3);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        let t2 = tx.clone();
        let blocked = go(async move { t2.send(3).await });
        yield_now().await;
        for i in 0..4 {
            assert_eq!(rx.recv().await, Some(i));
        }
        blocked.await.unwrap().unwrap();
    });
}

/// Go's close: buffered values are still received, then `None`; parked senders get their
/// value back; parked receivers wake with `None`.
#[test]
fn close_semantics() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let t2 = tx.clone();
        let parked_sender = go(async move { t2.send(3).await });
        yield_now().await;
        assert!(rx.close());
        assert!(!tx.close());
        assert_eq!(parked_sender.await.unwrap(), Err(SendError(3)));
        assert_eq!(tx.send(4).await, Err(SendError(4)));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

        let (tx, rx) = chan::bounded::<u8>(0);
        let parked_receiver = go(async move { rx.recv().await });
        yield_now().await;
        drop(tx); // the last sender closes the channel
        assert_eq!(parked_receiver.await.unwrap(), None);
    });
}

#[test]
fn dropping_every_receiver_returns_values_to_parked_senders() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<String>(0);
        let sender = go(async move { tx.send("lost?".to_owned()).await });
        yield_now().await;
        drop(rx);
        assert_eq!(sender.await.unwrap().unwrap_err().into_inner(), "lost?");
    });
}

/// 8 producers and 8 consumers: every value is received exactly once.
#[test]
fn mpmc_exactly_once() {
    for cap in [0, 1, 16, usize::MAX] {
        rt(2).block_on(async move {
            let (tx, rx) = if cap == usize::MAX {
                chan::unbounded()
            } else {
                chan::bounded(cap)
            };
            const PER: u64 = 5_000;
            let producers: Vec<_> = (0..8u64)
                .map(|p| {
                    let tx = tx.clone();
                    go(async move {
                        for i in 0..PER {
                            tx.send(p * PER + i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..8)
                .map(|_| {
                    let rx = rx.clone();
                    go(async move {
                        let mut got = Vec::new();
                        while let Some(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            for p in producers {
                p.await.unwrap();
            }
            let mut all = HashSet::new();
            for c in consumers {
                for v in c.await.unwrap() {
                    assert!(all.insert(v), "{v} received twice (cap {cap})");
                }
            }
            assert_eq!(all.len() as u64, 8 * PER, "cap {cap}");
        });
    }
}

/// Heavy random cancellation of both sends and receives (each wrapped in a short random
/// timeout): no value is lost or received twice, every send that reported success was
/// received, and nothing is received that was not sent. (A send that times out at the very
/// moment a receiver takes its value has completed without reporting it; `select!` makes that
/// choice exact.)
#[test]
fn cancel_safety_under_random_cancellation() {
    for cap in [0usize, 1, 4] {
        rt(2).block_on(async move {
            let (tx, rx) = chan::bounded::<usize>(cap);
            let producers: Vec<_> = (0..4usize)
                .map(|p| {
                    let tx = tx.clone();
                    go(async move {
                        let mut rng = fastrand_like(p as u64 + 1);
                        let mut ok = Vec::new();
                        for i in 0..2_000usize {
                            let v = p * 10_000 + i;
                            let patience = Duration::from_micros(rng() % 200);
                            if let Ok(Ok(())) = timeout(patience, tx.send(v)).await {
                                ok.push(v);
                            }
                        }
                        ok
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..4)
                .map(|c| {
                    let rx = rx.clone();
                    go(async move {
                        let mut rng = fastrand_like(100 + c as u64);
                        let mut got = Vec::new();
                        loop {
                            let patience = Duration::from_micros(rng() % 200);
                            match timeout(patience, rx.recv()).await {
                                Ok(Some(v)) => got.push(v),
                                Ok(None) => break,
                                Err(_) => {}
                            }
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            let mut ok = Vec::new();
            for p in producers {
                ok.extend(p.await.unwrap());
            }
            let mut received = HashSet::new();
            for c in consumers {
                for v in c.await.unwrap() {
                    assert!(received.insert(v), "{v} received twice (cap {cap})");
                    assert!(v % 10_000 < 2_000 && v / 10_000 < 4, "{v} was never sent");
                }
            }
            assert!(!ok.is_empty());
            for v in &ok {
                assert!(received.contains(v), "{v} was sent but lost (cap {cap})");
            }
        });
    }
}

/// A tiny xorshift, to keep the test's randomness reproducible.
fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn blocking_forms_across_plain_threads_and_goroutines() {
    let rt = rt(2);
    let (tx, rx) = chan::bounded::<u32>(0);
    let t = std::thread::spawn(move || {
        for i in 0..100 {
            tx.send_blocking(i).unwrap();
        }
    });
    let sum = rt.block_on(async move {
        let mut sum = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    t.join().unwrap();
    assert_eq!(sum, 4950);
}

#[test]
fn receiver_is_a_stream() {
    use futures::StreamExt;
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded(0);
        go(async move {
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
        });
        let got: Vec<i32> = rx.collect().await;
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn a_ping_pong_pair_stays_on_one_worker() {
    let rt = rt(2);
    rt.block_on(async {
        let (a_tx, a_rx) = chan::bounded::<u32>(0);
        let (b_tx, b_rx) = chan::bounded::<u32>(0);
        go(async move {
            while let Some(v) = a_rx.recv().await {
                b_tx.send(v).await.unwrap();
            }
        });
        for i in 0..1000 {
            a_tx.send(i).await.unwrap();
            b_rx.recv().await.unwrap();
        }
    });
    let m = rt.metrics();
    assert!(m.runnext_hits > 1000, "{m}");
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<chan::Sender<u8>>();
    send_sync::<chan::Receiver<u8>>();
    send_sync::<SendError<u8>>();
    send_sync::<TrySendError<u8>>();
    send_sync::<TryRecvError>();
    fn send<T: Send>() {}
    send::<chan::Recv<'static, u8>>();
    send::<chan::SendFut<'static, u8>>();
}

#[test]
fn errors_display_and_debug_without_the_value() {
    assert_eq!(SendError(1).to_string(), "send on closed channel");
    assert_eq!(format!("{:?}", SendError(1)), "SendError { .. }");
    assert_eq!(TrySendError::Full(1).to_string(), "send on full channel");
    assert_eq!(
        TryRecvError::Closed.to_string(),
        "receive on empty and closed channel"
    );
}

/// Go's time.After: the channel receives the time once, after the duration.
#[test]
fn after_delivers_the_time_once() {
    rt(2).block_on(async {
        let start = gort_runtime::time::Instant::now();
        let rx = gort_sync::after(Duration::from_millis(3));
        let at = rx.recv().await.unwrap();
        assert!(at - start >= Duration::from_millis(3));
        assert_eq!(rx.recv().await, None, "one value, then closed");
        // Abandoned: the receiver is dropped before the deadline; nothing panics or hangs.
        drop(gort_sync::after(Duration::from_millis(1)));
        gort_runtime::time::sleep(Duration::from_millis(3)).await;
    });
}
