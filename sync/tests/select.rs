//! `select!` end to end: Go's semantics (a uniform choice among ready arms, `default`, exactly
//! one arm taking effect under concurrent counterparties, no pairing with itself, close), cancel
//! safety under random cancellation, and a stress test of selecting senders and receivers.

/// With `--cfg gort_global_alloc`, these tests run on gort's allocator (see `.ci/run`).
#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

use gort_runtime::time::{Duration, sleep, timeout};
use gort_runtime::{Builder, Runtime, go, yield_now};
use gort_sync::chan::{self, SendError};
use gort_sync::{after, select};
use std::collections::HashSet;

fn rt(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

#[test]
fn takes_the_ready_arm() {
    rt(2).block_on(async {
        let (tx1, rx1) = chan::bounded::<u32>(1);
        let (_tx2, rx2) = chan::bounded::<&str>(1);
        tx1.try_send(7).unwrap();
        let got = select! {
            v = rx1.recv() => v.unwrap(),
            s = rx2.recv() => s.unwrap().len() as u32,
        };
        assert_eq!(got, 7);
        assert_eq!(rx1.len(), 0);
    });
}

#[test]
fn waits_for_an_arm() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (_keep, never) = chan::bounded::<u32>(0);
        go(async move {
            sleep(Duration::from_millis(5)).await;
            tx.send(3).await.unwrap();
        });
        let got = select! {
            v = never.recv() => v,
            v = rx.recv() => v.map(|v| v * 10),
        };
        assert_eq!(got, Some(30));
    });
}

/// Go: `select` with `default` never blocks, and a channel arm not taken has no effect.
#[test]
fn default_runs_when_nothing_is_ready() {
    rt(1).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let taken = select! {
            _ = rx.recv() => "recv",
            r = tx.send(1) => { r.unwrap(); "send" }
            default => "default",
        };
        assert_eq!(taken, "default");
        assert_eq!(rx.try_recv(), Err(chan::TryRecvError::Empty));
    });
}

/// Go's TestSelectFairness: among ready arms the choice is uniform.
#[test]
fn ready_arms_are_chosen_uniformly() {
    rt(1).block_on(async {
        const ROUNDS: usize = 8_000;
        let chans: Vec<_> = (0..4).map(|_| chan::unbounded::<()>()).collect();
        let mut counts = [0usize; 4];
        for _ in 0..ROUNDS {
            for (tx, _) in &chans {
                if tx.is_empty() {
                    tx.try_send(()).unwrap();
                }
            }
            let [a, b, c, d] = [&chans[0].1, &chans[1].1, &chans[2].1, &chans[3].1];
            let i = select! {
                _ = a.recv() => 0,
                _ = b.recv() => 1,
                _ = c.recv() => 2,
                _ = d.recv() => 3,
            };
            counts[i] += 1;
        }
        // Each arm expects 2,000; a binomial(8000, 1/4) leaves 1,700..2,300 with probability
        // 1 - 1e-12 or so.
        for (i, &count) in counts.iter().enumerate() {
            assert!((1_700..=2_300).contains(&count), "arm {i}: {counts:?}");
        }
    });
}

/// A select on both ends of one unbuffered channel never pairs with itself.
#[test]
fn never_pairs_with_itself() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        for _ in 0..100 {
            let taken = select! {
                r = tx.send(1) => { r.unwrap(); "send" }
                _ = rx.recv() => "recv",
                default => "default",
            };
            assert_eq!(taken, "default");
        }
        // Parked on both ends; a receiver elsewhere takes the send.
        let (tx2, rx2) = (tx.clone(), rx.clone());
        let other = go(async move { rx2.recv().await });
        let taken = select! {
            r = tx.send(5) => { r.unwrap(); "send" }
            _ = rx.recv() => "recv",
        };
        assert_eq!(taken, "send");
        assert_eq!(other.await.unwrap(), Some(5));
        drop(tx2);
    });
}

/// Go: a closed channel makes a receive arm ready (with `None`) and a send arm ready (with its
/// value back), also when the close comes while the select waits.
#[test]
fn close_wakes_a_waiting_select() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let (stx, srx) = chan::bounded::<String>(0);
        let closer = go(async move {
            sleep(Duration::from_millis(5)).await;
            srx.close();
            drop(tx);
        });
        let mut seen = Vec::new();
        for _ in 0..2 {
            select! {
                v = rx.recv() => { assert_eq!(v, None); seen.push("recv") }
                r = stx.send("hello".to_owned()) => {
                    assert_eq!(r, Err(SendError("hello".to_owned())));
                    seen.push("send");
                }
            }
        }
        closer.await.unwrap();
        assert!(!seen.is_empty());
    });
}

/// Any future can be an arm; `time::after(d).recv()` keeps its temporary receiver alive.
#[test]
fn futures_and_after_as_arms() {
    rt(2).block_on(async {
        let (_tx, rx) = chan::bounded::<u32>(0);
        let got = select! {
            v = rx.recv() => v,
            _ = after(Duration::from_millis(2)).recv() => Some(99),
        };
        assert_eq!(got, Some(99));
        let h = go(async { 6 * 7 });
        let got = select! {
            v = rx.recv() => v,
            r = h => r.ok(),
        };
        assert_eq!(got, Some(42));
        // `select! {}` waits forever.
        let forever = async {
            select! {}
        };
        assert!(timeout(Duration::from_millis(2), forever).await.is_err());
    });
}

/// Bodies run in the enclosing function: `break`, `continue` and `return` work.
#[test]
fn control_flow_in_bodies() {
    async fn first_even(rx: &chan::Receiver<u32>) -> Option<u32> {
        loop {
            select! {
                v = rx.recv() => match v {
                    Some(v) if v % 2 == 0 => return Some(v),
                    Some(_) => continue,
                    None => break,
                },
            }
        }
        None
    }
    rt(1).block_on(async {
        let (tx, rx) = chan::unbounded();
        for v in [1, 3, 4, 5] {
            tx.try_send(v).unwrap();
        }
        assert_eq!(first_even(&rx).await, Some(4));
        drop(tx);
        assert_eq!(first_even(&rx).await, None);
    });
}

/// Exactly one arm takes effect: two senders race to a select over both their channels; the
/// select takes one value, the other sender is still waiting and its value is received after.
#[test]
fn exactly_one_arm_under_racing_senders() {
    rt(2).block_on(async {
        for round in 0..2_000u32 {
            let (tx1, rx1) = chan::bounded::<u32>(0);
            let (tx2, rx2) = chan::bounded::<u32>(0);
            let s1 = go(async move { tx1.send(round).await });
            let s2 = go(async move { tx2.send(round + 1_000_000).await });
            if round % 2 == 0 {
                yield_now().await;
            }
            let (first, other) = select! {
                v = rx1.recv() => (v.unwrap(), &rx2),
                v = rx2.recv() => (v.unwrap(), &rx1),
            };
            let second = other.recv().await.unwrap();
            let mut got = [first, second];
            got.sort_unstable();
            assert_eq!(got, [round, round + 1_000_000]);
            s1.await.unwrap().unwrap();
            s2.await.unwrap().unwrap();
        }
    });
}

/// Cancel safety: selects dropped at random moments while a sender hands them values lose
/// none and duplicate none, and the order of a single sender is kept.
#[test]
fn random_cancellation_loses_nothing() {
    rt(2).block_on(async {
        const N: u32 = 5_000;
        let (tx, rx) = chan::bounded::<u32>(0);
        let (_tx2, rx2) = chan::bounded::<u32>(0);
        let sender = go(async move {
            for i in 0..N {
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while got.len() < N as usize {
            let wait = Duration::from_micros(fastrand::u64(0..50));
            let recv = async {
                select! {
                    v = rx.recv() => v,
                    v = rx2.recv() => v,
                }
            };
            if let Ok(Some(v)) = timeout(wait, recv).await {
                got.push(v);
            }
        }
        sender.await.unwrap();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
    });
}

/// 8 goroutines, each selecting between sending its own values on one of 4 unbuffered
/// channels and receiving on all 4 (so on both ends of the channel it sends on): every value
/// sent is received exactly once.
#[test]
fn selecting_senders_and_receivers_exactly_once() {
    const GOROUTINES: u32 = 8;
    const PER: u32 = 2_000;
    rt(2).block_on(async {
        let chans: Vec<_> = (0..4).map(|_| chan::bounded::<u32>(0)).collect();
        let (done_tx, done_rx) = chan::bounded::<()>(0);
        let (sent_tx, sent_rx) = chan::unbounded::<()>();
        let handles: Vec<_> = (0..GOROUTINES)
            .map(|g| {
                let txs: Vec<_> = chans.iter().map(|(tx, _)| tx.clone()).collect();
                let rxs: Vec<_> = chans.iter().map(|(_, rx)| rx.clone()).collect();
                let (done_rx, sent_tx) = (done_rx.clone(), sent_tx.clone());
                go(async move {
                    let mut next = 0;
                    let mut got = Vec::new();
                    let [a, b, c, d] = [&rxs[0], &rxs[1], &rxs[2], &rxs[3]];
                    loop {
                        if next < PER {
                            let tx = &txs[fastrand::usize(..4)];
                            select! {
                                r = tx.send(g * PER + next) => {
                                    r.unwrap();
                                    next += 1;
                                    sent_tx.try_send(()).unwrap();
                                }
                                v = a.recv() => got.push(v.unwrap()),
                                v = b.recv() => got.push(v.unwrap()),
                                v = c.recv() => got.push(v.unwrap()),
                                v = d.recv() => got.push(v.unwrap()),
                            }
                        } else {
                            select! {
                                v = a.recv() => got.push(v.unwrap()),
                                v = b.recv() => got.push(v.unwrap()),
                                v = c.recv() => got.push(v.unwrap()),
                                v = d.recv() => got.push(v.unwrap()),
                                _ = done_rx.recv() => return got,
                            }
                        }
                    }
                })
            })
            .collect();
        for _ in 0..GOROUTINES * PER {
            sent_rx.recv().await.unwrap();
        }
        drop(done_tx); // closes `done`: every goroutine returns
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        assert_eq!(all.len(), (GOROUTINES * PER) as usize, "lost or duplicated");
        let distinct: HashSet<_> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len(), "a value was received twice");
        assert!(all.iter().all(|&v| v < GOROUTINES * PER));
    });
}

/// The select future is `Send` when its arms are, so it can run in a goroutine.
#[test]
fn select_in_a_goroutine() {
    rt(2).block_on(async {
        let (tx, rx) = chan::bounded::<u32>(0);
        let h = go(async move {
            select! {
                v = rx.recv() => v,
                _ = sleep(Duration::from_secs(5)) => None,
            }
        });
        tx.send(1).await.unwrap();
        assert_eq!(h.await.unwrap(), Some(1));
    });
}
