//! Loom models of buffered channels: an operation parking on a full (empty) buffer against the
//! counterparty that frees (fills) it, a value given back ahead of the buffer, and a select
//! parked on buffered channels. The models in `loom_chan.rs` are mostly rendezvous; these check
//! the buffered path, where the counterparty does not meet a parked waiter but the buffer.
//!
//! As in `loom_chan.rs`, futures are polled by hand with counting wakers (a lost wake-up is a
//! loom deadlock), and the channels stay open until the threads are joined, so that no close
//! can wake a waiter that the buffered path forgot.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib --target-dir target/loom loom_buffered`. The time above each model is that
//! model alone at `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::{TryRecvError, bounded};
use crate::loom_harness::{Polled, send_one};
use loom::thread;

// Model 1. Invariant: a send into an empty buffer racing a receiver that parks: the receiver
// gets the value and is woken once if it parked.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn send_racing_parking_recv() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let sender = thread::spawn(move || {
            assert_eq!(tx.try_send(7), Ok(()));
            tx
        });
        let mut recv = Polled::new(rx.recv());
        assert_eq!(recv.wait(), Some(7));
        recv.finish().assert_each_pending_woken_once();
        let _tx = sender.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "delivered twice");
    });
}

// Model 2. Invariant: a receive from a full buffer racing a sender that parks: the sender's
// value moves into the freed slot and the sender is woken once if it parked; values come out
// in order.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn recv_racing_parking_send() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(1));
            rx
        });
        let (sent, wakes) = send_one(&tx, 2);
        assert_eq!(sent, Ok(()));
        wakes.assert_each_pending_woken_once();
        let rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(2), "the parked sender's value was lost");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

// Model 3. Invariant: a value handed to a parked receiver of a buffered channel whose future is
// dropped before it is polled again goes back ahead of the buffer: a second receiver gets it
// (woken once if it parked) before a value sent after it, and nothing is lost.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn given_back_value_goes_ahead_of_the_buffer() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let rx2 = rx.clone();
        let mut recv = Polled::new(rx.recv());
        assert!(recv.poll().is_pending());
        let sender = thread::spawn(move || {
            let (sent, wakes) = send_one(&tx, 1);
            assert_eq!(sent, Ok(()));
            wakes.assert_each_pending_woken_once();
            let (sent, wakes) = send_one(&tx, 2);
            assert_eq!(sent, Ok(()));
            wakes.assert_each_pending_woken_once();
            tx
        });
        let cancelled = recv.finish();
        assert!(cancelled.woken() <= 1);
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut recv = Polled::new(rx2.recv());
            got.push(recv.wait().expect("the channel is open"));
            recv.finish().assert_each_pending_woken_once();
        }
        let _tx = sender.join().unwrap();
        assert_eq!(got, [1, 2], "a value was lost, duplicated or reordered");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Model 4's body: a select parks on a buffered channel (a receive from an empty one, or with
/// `send_arm` a send into a full one) and on a second buffered channel nothing happens on,
/// while a plain operation on the first makes its arm ready.
fn select_parked_racing_op(send_arm: bool) {
    let (tx1, rx1) = bounded::<u32>(1);
    let (tx2, rx2) = bounded::<u32>(1);
    if send_arm {
        tx1.try_send(0).unwrap();
    }
    // The select runs on its own thread, which ends with it: a spurious wake-up of the select
    // (see `Wakes::assert_select_woken`) leaves an unpark pending for that thread, and a
    // pending unpark confuses loom's `join` if the thread joins afterwards.
    let selector = {
        let (tx1, rx1) = (tx1.clone(), rx1.clone());
        thread::spawn(move || {
            let mut select = Polled::new(async {
                if send_arm {
                    crate::select! {
                        r = tx1.send(5) => r.map(|()| 5).unwrap(),
                        v = rx2.recv() => panic!("nothing was sent on channel 2: {v:?}"),
                    }
                } else {
                    crate::select! {
                        v = rx1.recv() => v.unwrap(),
                        v = rx2.recv() => panic!("nothing was sent on channel 2: {v:?}"),
                    }
                }
            });
            let got = select.wait();
            select.finish().assert_select_woken();
            got
        })
    };
    if send_arm {
        assert_eq!(rx1.try_recv(), Ok(0));
    } else {
        assert_eq!(tx1.try_send(1), Ok(()));
    }
    let got = selector.join().unwrap();
    if send_arm {
        assert_eq!(got, 5);
        assert_eq!(rx1.try_recv(), Ok(5), "the select's send was lost");
    } else {
        assert_eq!(got, 1);
    }
    assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty), "delivered twice");
    drop(tx2);
}

// Model 4a. Invariant: a select parked on a receive from an empty buffered channel, racing a
// send into it: the select is woken once and gets the value.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn select_recv_parked_racing_send() {
    loom::model(|| select_parked_racing_op(false));
}

// Model 4b. Invariant: a select parked on a send into a full buffered channel, racing a
// receive from it: the select is woken once and its value moves into the freed slot.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn select_send_parked_racing_recv() {
    loom::model(|| select_parked_racing_op(true));
}
