//! Loom models of `select!` (`select/mod.rs`, `chan/select.rs`): the races of the token
//! protocol, on real channels, with the select written as the macro writes it.
//!
//! Futures are polled by hand on loom threads with counting wakers (`crate::loom_harness`): a
//! lost wake-up is a loom deadlock. A plain operation that completed was woken exactly once per
//! `Pending` poll. A select is checked with `Wakes::assert_select_woken`: it returns `Pending` at
//! most once (once parked it is only woken by the counterparty that claimed it), and it is
//! woken at most once in all, since only the claim of its token wakes it. It may be woken
//! without having returned `Pending`: a counterparty that claims the token while the select is
//! still registering its arms wakes it, and the select then returns `Ready` from that same poll
//! (`Round::Won`); that wake-up is spurious, as `Waker` allows, and never doubled.
//!
//! The invariants, each checked by the models below on every interleaving:
//!
//! - exactly one arm takes effect: the select's result is that arm's, the other arms' channels
//!   saw nothing (a losing send arm's value is neither received nor given back, it is dropped
//!   with the arm; values count their drops);
//! - a select never pairs with itself, and two selects facing each other pair on exactly one
//!   channel without deadlocking (the abort-and-retry path of a registration round);
//! - a value handed to a select's receive arm is never lost, even if the select is dropped
//!   before it reports it; close completes a waiting select with the closed arm's result.
//!
//! Under loom the arms are not shuffled (`Select::shuffle`), so the models write them in each
//! order they check.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib --target-dir target/loom loom_select`. The time above each model is that
//! model alone at `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use crate::chan::{Receiver, SendError, Sender, TryRecvError, bounded};
use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom_harness::{Counted, Polled, send_one};
use loom::thread;

/// `select!` over `tx.send(v)` and `rx.recv()`, the send arm written first if `send_first`
/// (under loom the arms are tried in the order written): `None` if the send took effect,
/// `Some(got)` if the receive did.
async fn send_or_recv(
    tx: &Sender<u32>,
    v: u32,
    rx: &Receiver<u32>,
    send_first: bool,
) -> Option<Option<u32>> {
    if send_first {
        crate::select! {
            r = tx.send(v) => {
                assert_eq!(r, Ok(()));
                None
            }
            got = rx.recv() => Some(got),
        }
    } else {
        crate::select! {
            got = rx.recv() => Some(got),
            r = tx.send(v) => {
                assert_eq!(r, Ok(()));
                None
            }
        }
    }
}

// Model 1. Invariant: a select over two rendezvous receives, racing a plain send on each
// channel: exactly one arm takes effect; the select gets exactly one of the values, the other
// stays with its sender (still waiting or not yet sent) and a plain `recv` gets it afterwards:
// neither lost nor duplicated; both sends complete `Ok`, each Pending poll woken once.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn select_claimed_by_one_of_two_senders() {
    loom::model(|| {
        let (tx1, rx1) = bounded::<u32>(0);
        let (tx2, rx2) = bounded::<u32>(0);
        // The senders are handed back, so that no channel closes while the model runs.
        let senders: Vec<_> = [(tx1, 1), (tx2, 2)]
            .into_iter()
            .map(|(tx, v)| {
                thread::spawn(move || {
                    let (sent, wakes) = send_one(&tx, v);
                    (sent, wakes, tx)
                })
            })
            .collect();
        let mut select = Polled::new(async {
            crate::select! {
                v = rx1.recv() => (1, v),
                v = rx2.recv() => (2, v),
            }
        });
        let (arm, got) = select.wait();
        let select = select.finish();
        assert_eq!(got, Some(arm), "the select's arm and value disagree");
        let other = if arm == 1 { &rx2 } else { &rx1 };
        let mut recv = Polled::new(other.recv());
        assert_eq!(
            recv.wait(),
            Some(3 - arm),
            "the other sender's value was lost"
        );
        let recv = recv.finish();
        let mut txs = Vec::new();
        for sender in senders {
            let (sent, wakes, tx) = sender.join().unwrap();
            assert_eq!(sent, Ok(()));
            wakes.assert_each_pending_woken_once();
            txs.push(tx);
        }
        select.assert_select_woken();
        recv.assert_each_pending_woken_once();
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty), "delivered twice");
        assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty), "delivered twice");
    });
}

/// Model 2's body: a select {`tx1.send(1)`, `rx2.recv()`} (in that order if `send_first`)
/// against a plain receiver on channel 1 and a plain sender of `2` on channel 2.
fn send_and_recv_arms(send_first: bool) {
    let (tx1, rx1) = bounded::<u32>(0);
    let (tx2, rx2) = bounded::<u32>(0);
    let receiver = thread::spawn(move || {
        let mut recv = Polled::new(rx1.recv());
        let got = recv.wait();
        (got, recv.finish(), rx1)
    });
    let sender = thread::spawn(move || {
        let (sent, wakes) = send_one(&tx2, 2);
        (sent, wakes, tx2)
    });
    // `Some(v)`: the receive arm got `v`; `None`: the send arm sent `1`.
    let mut select = Polled::new(send_or_recv(&tx1, 1, &rx2, send_first));
    let taken = select.wait();
    let select = select.finish();
    // Complete whichever counterparty the select did not pair with.
    let other = match taken {
        None => {
            let mut recv = Polled::new(rx2.recv());
            assert_eq!(recv.wait(), Some(2));
            recv.finish()
        }
        Some(v) => {
            assert_eq!(v, Some(2));
            let (sent, wakes) = send_one(&tx1, 1);
            assert_eq!(sent, Ok(()));
            wakes
        }
    };
    let (got, recv_wakes, rx1) = receiver.join().unwrap();
    let (sent, send_wakes, _tx2) = sender.join().unwrap();
    // `1` was received once, by the receiver; `2` was sent once, received by the select or
    // the main thread.
    assert_eq!(got, Some(1));
    assert_eq!(sent, Ok(()));
    select.assert_select_woken();
    other.assert_each_pending_woken_once();
    recv_wakes.assert_each_pending_woken_once();
    send_wakes.assert_each_pending_woken_once();
    assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty), "delivered twice");
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty), "delivered twice");
}

// Model 2a. Invariant: a select with a send arm and a receive arm (send first) on different
// rendezvous channels, against a plain counterparty on each: exactly one arm takes effect,
// the other counterparty still waits and completes with the main thread; each value is
// delivered exactly once.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn send_and_recv_arms_send_first() {
    loom::model(|| send_and_recv_arms(true));
}

// Model 2b. Invariant: as 2a, the receive arm first.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn send_and_recv_arms_recv_first() {
    loom::model(|| send_and_recv_arms(false));
}

/// Model 3's body: a select {`tx.send(1)`, `rx.recv()`} on one rendezvous channel (in that
/// order if `send_first`), and a third party on the channel that receives, or sends `2` if
/// `third_sends`.
fn both_ends_of_one_channel(send_first: bool, third_sends: bool) {
    let (tx, rx) = bounded::<u32>(0);
    let (tx3, rx3) = (tx.clone(), rx.clone());
    let third = thread::spawn(move || {
        if third_sends {
            let (sent, wakes) = send_one(&tx3, 2);
            assert_eq!(sent, Ok(()));
            (None, wakes, tx3, rx3)
        } else {
            let mut recv = Polled::new(rx3.recv());
            let got = recv.wait();
            (got, recv.finish(), tx3, rx3)
        }
    });
    // `Some(v)`: the receive arm got `v`; `None`: the send arm sent `1`.
    let mut select = Polled::new(send_or_recv(&tx, 1, &rx, send_first));
    let taken = select.wait();
    let select = select.finish();
    let (got, wakes, _tx3, _rx3) = third.join().unwrap();
    if third_sends {
        assert_eq!(
            taken,
            Some(Some(2)),
            "the select did not receive the third party's value"
        );
    } else {
        assert_eq!(taken, None, "the select did not send to the third party");
        assert_eq!(got, Some(1));
    }
    select.assert_select_woken();
    wakes.assert_each_pending_woken_once();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "delivered twice");
}

// Model 3a. Invariant: a select on both ends of one rendezvous channel (send arm first) never
// pairs with itself: with a third party receiving, its send arm takes effect, to the third
// party.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn both_ends_send_first_third_receives() {
    loom::model(|| both_ends_of_one_channel(true, false));
}

// Model 3b. Invariant: as 3a, the receive arm first.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn both_ends_recv_first_third_receives() {
    loom::model(|| both_ends_of_one_channel(false, false));
}

// Model 3c. Invariant: as 3a (send arm first) with the third party sending `2`: the select's
// receive arm takes effect and gets `2`.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn both_ends_send_first_third_sends() {
    loom::model(|| both_ends_of_one_channel(true, true));
}

// Model 3d. Invariant: as 3c, the receive arm first.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn both_ends_recv_first_third_sends() {
    loom::model(|| both_ends_of_one_channel(false, true));
}

// Model 4a. Invariant: a parked select {`rx.recv()`, `idle.recv()`} dropped while a
// `try_send` on rx's channel races the drop: the value is never lost nor duplicated. Either
// the `try_send` claimed the select (then woke it once) and the value is receivable afterwards
// with `try_recv`, or it found the select aborted or gone, failed and kept its value; the
// value is dropped exactly once.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn select_dropped_racing_try_send() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let (_idle_tx, idle_rx) = bounded::<Counted>(0);
        let mut select = Polled::new(async {
            crate::select! {
                v = rx.recv() => v,
                v = idle_rx.recv() => v,
            }
        });
        assert!(select.poll().is_pending());
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                // Failed: the value comes back in the error and is dropped here.
                let sent = tx.try_send(Counted::new(7, &drops)).is_ok();
                (sent, tx)
            })
        };
        let select = select.finish();
        let (sent, _tx) = sender.join().unwrap();
        assert_eq!(select.woken(), usize::from(sent));
        if sent {
            assert_eq!(drops.load(SeqCst), 0, "a value sent was dropped");
            let v = rx
                .try_recv()
                .expect("a value handed to a dropped select was lost");
            assert_eq!(v.id, 7);
        }
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value was not dropped exactly once"
        );
        assert!(
            matches!(rx.try_recv(), Err(TryRecvError::Empty)),
            "delivered twice"
        );
    });
}

// Model 4b. Invariant: a parked select {`idle.recv()`, `rx.recv()`} dropped while a plain
// `send` on rx's channel and a second plain receiver race the drop: the send completes and the
// value reaches the second receiver exactly once, directly, given back by the dropped select
// to the parked receiver, or through the buffer; it is dropped exactly once, by its receiver.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn select_dropped_racing_send_and_another_receiver() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let (_idle_tx, idle_rx) = bounded::<Counted>(0);
        let rx2 = rx.clone();
        let mut select = Polled::new(async {
            crate::select! {
                v = idle_rx.recv() => v,
                v = rx.recv() => v,
            }
        });
        assert!(select.poll().is_pending());
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                let (sent, wakes) = send_one(&tx, Counted::new(7, &drops));
                (sent.is_ok(), wakes, tx)
            })
        };
        let other = thread::spawn(move || {
            let mut recv = Polled::new(rx2.recv());
            let got = recv.wait();
            (got, recv.finish(), rx2)
        });
        let select = select.finish();
        let (sent, send_wakes, _tx) = sender.join().unwrap();
        let (got, recv_wakes, _rx2) = other.join().unwrap();
        assert!(sent);
        send_wakes.assert_each_pending_woken_once();
        recv_wakes.assert_each_pending_woken_once();
        assert!(select.woken() <= 1, "a dropped select was woken twice");
        let got = got.expect("the channel is not closed");
        assert_eq!(got.id, 7);
        assert_eq!(drops.load(SeqCst), 0, "a value received was dropped");
        drop(got);
        assert_eq!(drops.load(SeqCst), 1);
        assert!(
            matches!(rx.try_recv(), Err(TryRecvError::Empty)),
            "delivered twice"
        );
    });
}

/// Model 5's body: a select {`rx1.recv()`, `tx2.send(v)`} (in that order if `recv_first`)
/// on two rendezvous channels with no counterparty, while another thread closes channel 1 (if
/// `close_recv_side`) or channel 2.
fn close_racing_select(recv_first: bool, close_recv_side: bool) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx1, rx1) = bounded::<Counted>(0);
    let (tx2, rx2) = bounded::<Counted>(0);
    let closer = if close_recv_side {
        let tx1 = tx1.clone();
        thread::spawn(move || assert!(tx1.close()))
    } else {
        let rx2 = rx2.clone();
        thread::spawn(move || assert!(rx2.close()))
    };
    // `Ok(v)`: the receive arm got `v`; `Err(r)`: the send arm's result.
    let mut select = Polled::new(async {
        let v = Counted::new(7, &drops);
        if recv_first {
            crate::select! {
                v = rx1.recv() => Ok(v),
                r = tx2.send(v) => Err(r),
            }
        } else {
            crate::select! {
                r = tx2.send(v) => Err(r),
                v = rx1.recv() => Ok(v),
            }
        }
    });
    let taken = select.wait();
    let select = select.finish();
    closer.join().unwrap();
    select.assert_select_woken();
    if close_recv_side {
        assert!(
            matches!(taken, Ok(None)),
            "the receive arm on the closed channel did not get None"
        );
        // The send arm had no effect: its value was dropped with it, undelivered.
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the losing send's value was not dropped"
        );
        assert!(matches!(rx2.try_recv(), Err(TryRecvError::Empty)));
    } else {
        match taken {
            Err(Err(SendError(v))) => {
                assert_eq!(v.id, 7);
                assert_eq!(drops.load(SeqCst), 0, "a value given back was dropped");
            }
            _ => panic!("the send arm on the closed channel did not get its value back"),
        }
        assert_eq!(drops.load(SeqCst), 1);
        assert!(matches!(rx2.try_recv(), Err(TryRecvError::Closed)));
    }
    drop(tx1);
    drop(tx2);
}

// Model 5a. Invariant: a select {`rx1.recv()`, `tx2.send(v)`} racing a close of channel 1
// (its first arm): the select completes with `None` from the receive arm; the send arm had no
// effect (its value is dropped with it, once, and nothing is in channel 2).
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn close_racing_select_first_arm_recv() {
    loom::model(|| close_racing_select(true, true));
}

// Model 5b. Invariant: as 5a, closing channel 2 (the second arm): the select completes with
// `Err(SendError(v))` from the send arm, `v` given back, not dropped.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn close_racing_select_second_arm_send() {
    loom::model(|| close_racing_select(true, false));
}

// Model 5c. Invariant: as 5a with the arms reversed {`tx2.send(v)`, `rx1.recv()`}, closing
// channel 1 (now the second arm): `None` from the receive arm, the send had no effect.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn close_racing_select_second_arm_recv() {
    loom::model(|| close_racing_select(false, true));
}

// Model 5d. Invariant: as 5c, closing channel 2 (now the first arm): `Err(SendError(v))`.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn close_racing_select_first_arm_send() {
    loom::model(|| close_racing_select(false, false));
}

/// Model 6's body: thread A selects {`tx1.send(1)`, `rx2.recv()`}; the main thread, B, selects
/// {`rx1.recv()`, `tx2.send(2)`}, or {`tx2.send(2)`, `rx1.recv()`} if `crossed`.
fn facing_selects(crossed: bool) {
    let (tx1, rx1) = bounded::<u32>(0);
    let (tx2, rx2) = bounded::<u32>(0);
    let (rx1_check, rx2_check) = (rx1.clone(), rx2.clone());
    // Each select: `Some(v)` if its receive arm got `v`, `None` if its send arm sent.
    let a = thread::spawn(move || {
        let mut select = Polled::new(send_or_recv(&tx1, 1, &rx2, true));
        let taken = select.wait();
        (taken, select.finish(), tx1, rx2)
    });
    let mut select = Polled::new(send_or_recv(&tx2, 2, &rx1, crossed));
    let b_taken = select.wait();
    let b_wakes = select.finish();
    let (a_taken, a_wakes, _tx1, _rx2) = a.join().unwrap();
    match (a_taken, b_taken) {
        // A sent 1 to B, or B sent 2 to A; never both, never a send without its receive.
        (None, Some(Some(1))) | (Some(Some(2)), None) => {}
        other => panic!("the selects did not pair on exactly one channel: {other:?}"),
    }
    a_wakes.assert_select_woken();
    b_wakes.assert_select_woken();
    assert_eq!(rx1_check.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx2_check.try_recv(), Err(TryRecvError::Empty));
    drop((rx1, tx2));
}

// Model 6a. Invariant: two selects facing each other on two rendezvous channels, each
// registering channel 1 first: they pair on exactly one channel, exactly one value moves,
// neither deadlocks, and nothing is left pending on the other channel.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn facing_selects_same_order() {
    loom::model(|| facing_selects(false));
}

// Model 6b. Invariant: as 6a with B registering channel 2 first, so that each select may find
// the other's waiter when registering its second arm and both abort and retry: still exactly
// one transfer, no deadlock.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn facing_selects_crossed_order() {
    loom::model(|| facing_selects(true));
}
