//! Loom models of the channel (`state.rs`, `ops.rs`): the races the module essays describe, on
//! real `Sender`s, `Receiver`s and their futures.
//!
//! Futures are polled by hand on loom threads with counting wakers (`crate::loom_harness`): a
//! lost wake-up is a loom deadlock, and a spurious or doubled one fails the count check
//! (`Wakes`): every `Pending` poll of a future that completed was woken exactly once, and a
//! cancelled future was woken at most once per `Pending` poll.
//!
//! The invariants, each checked by the models below on every interleaving:
//!
//! - a value is delivered exactly once: received once, or returned in `SendError`, or dropped
//!   with a cancelled send that nobody received from; never two of these, never none (values
//!   count their drops, and loom's `Arc` reports a leaked one);
//! - close wakes every parked operation: senders get their value back, receivers drain the
//!   buffer and then get `None`;
//! - a value handed to a receiver whose future is dropped before reporting it reaches another
//!   receiver or stays receivable.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-sync
//! --release --lib loom_chan`. The time above each model is that model alone at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::Sender;
use super::{SendError, TryRecvError, bounded};
use crate::loom::Arc;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom_harness::{Counted, Polled, Wakes, recv_all, send_one};
use loom::thread;

// Model 1. Invariant: on a rendezvous channel a send racing a recv delivers the value exactly
// once; both futures complete; every Pending poll is woken exactly once. The sender drops its
// `Sender` right after the send completes, so the close also races the receiver's last poll.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn rendezvous_send_racing_recv() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || {
            let (result, wakes) = send_one(&tx, 7);
            assert_eq!(result, Ok(()));
            wakes
        });
        let mut recv = Polled::new(rx.recv());
        assert_eq!(recv.wait(), Some(7));
        let recv = recv.finish();
        let send = sender.join().unwrap();
        send.assert_each_pending_woken_once();
        recv.assert_each_pending_woken_once();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "delivered twice");
    });
}

/// Model 2's body: `buffered` values are in the buffer, then a sender of `2` and a receiver
/// draining the channel race a close from a third thread.
fn send_recv_racing_close(cap: usize, buffered: &[u32]) {
    let (tx, rx) = bounded::<u32>(cap);
    for &v in buffered {
        tx.try_send(v).unwrap();
    }
    let closer = tx.clone();
    let sender = thread::spawn(move || send_one(&tx, 2));
    let receiver = thread::spawn(move || recv_all(&rx));
    closer.close();
    let (sent, send_wakes) = sender.join().unwrap();
    let (got, recv_wakes) = receiver.join().unwrap();
    send_wakes.assert_each_pending_woken_once();
    for wakes in &recv_wakes {
        wakes.assert_each_pending_woken_once();
    }
    let mut expected = buffered.to_vec();
    match sent {
        // Received, exactly once, after the values buffered before it.
        Ok(()) => expected.push(2),
        // Given back, and so not received.
        Err(SendError(v)) => assert_eq!(v, 2),
    }
    assert_eq!(got, expected);
}

// Model 2a. Invariant: on a rendezvous channel, a send and a recv racing close: the send is
// received or its value comes back in `SendError`, never both, never neither; the receiver
// gets the value or `None`; every parked operation is woken once.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn rendezvous_send_recv_racing_close() {
    loom::model(|| send_recv_racing_close(0, &[]));
}

// Model 2b. Invariant: as 2a on a full one-slot buffer, so the sender parks: the buffered value
// is still received after close, then the sender's if (and only if) its send succeeded.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn full_buffer_send_recv_racing_close() {
    loom::model(|| send_recv_racing_close(1, &[1]));
}

// Model 2c. Invariant: as 2a on an empty one-slot buffer, so the receiver may park: it gets the
// value (buffered or handed over) or `None`, and the send succeeded exactly when it got it.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn empty_buffer_send_recv_racing_close() {
    loom::model(|| send_recv_racing_close(1, &[]));
}

// Model 3a. Invariant: a value handed to a parked receiver whose future is dropped (before it
// is polled again) is never lost: it stays receivable with `try_recv`, even though the
// channel closed meanwhile; and it was handed over only if the receiver was still parked.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn handoff_to_cancelled_recv_stays_receivable() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let mut recv = Polled::new(rx.recv());
        assert!(recv.poll().is_pending());
        let sender = thread::spawn(move || {
            // Hands over to the parked receiver, or finds nobody: then nothing was sent.
            tx.try_send(7).is_ok()
            // `tx` dropped: the channel closes.
        });
        let recv = recv.finish();
        let sent = sender.join().unwrap();
        assert_eq!(recv.woken(), usize::from(sent));
        if sent {
            assert_eq!(rx.try_recv(), Ok(7), "a handed-over value was lost");
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// Model 3b/3c's body: a receiver parks; a sender hands it `7` while its future is dropped
/// and a second receiver waits. With `close`, the sender drops the last `Sender` once its send
/// completes; without, the channel stays open until the threads are joined.
fn handoff_to_cancelled_recv(close: bool) {
    let (tx, rx) = bounded::<u32>(0);
    let keep_open = (!close).then(|| tx.clone());
    let rx2 = rx.clone();
    let mut recv = Polled::new(rx.recv());
    assert!(recv.poll().is_pending());
    let sender = thread::spawn(move || send_one(&tx, 7));
    let other = thread::spawn(move || {
        let mut recv = Polled::new(rx2.recv());
        let got = recv.wait();
        (got, recv.finish(), rx2)
    });
    let cancelled = recv.finish();
    let (sent, send_wakes) = sender.join().unwrap();
    let (got, other_wakes, _rx2) = other.join().unwrap();
    assert_eq!(sent, Ok(()));
    send_wakes.assert_each_pending_woken_once();
    other_wakes.assert_each_pending_woken_once();
    assert!(cancelled.woken() <= 1);
    match got {
        Some(v) => assert_eq!(v, 7),
        None => {
            assert!(close, "the other receiver got None on an open channel");
            assert_eq!(rx.try_recv(), Ok(7), "a handed-over value was lost");
        }
    }
    drop(keep_open);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "delivered twice");
}

// Model 3b. Invariant: a value handed to a parked receiver whose future is dropped before it is
// polled again reaches the other receiver, exactly once: given back to it if it is parked (and
// then woken), or through the buffer if it comes later.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn handoff_to_cancelled_recv_reaches_another() {
    loom::model(|| handoff_to_cancelled_recv(false));
}

// Model 3c. Invariant: as 3b, with the sender closing the channel once its send completes:
// the value reaches the other receiver or, if the close came while the value sat in the dropped
// receiver's node, stays receivable with `try_recv` afterwards; never lost, never twice. In
// that second case the other receiver has already seen `None` ("closed and drained") before
// the value came back to the buffer: the close-while-in-flight hazard, see `ops.rs`.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn handoff_to_cancelled_recv_racing_close() {
    loom::model(|| handoff_to_cancelled_recv(true));
}

// Model 4. Invariant: a parked send on a rendezvous channel whose future is dropped while a
// receiver arrives either completed (the receiver got the value; the future did not drop it)
// or did not (the receiver got `None` at close; the value was dropped with the future) —
// never both, never neither: the value is dropped exactly once, by its final owner.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn cancelled_send_racing_recv() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let mut send = Polled::new(tx.send(Counted::new(7, &drops)));
        assert!(send.poll().is_pending());
        let receiver = thread::spawn(move || {
            let mut recv = Polled::new(rx.recv());
            let got = recv.wait();
            (got, recv.finish())
        });
        let send = send.finish();
        drop(tx); // closes the channel: a receiver that found nothing wakes to `None`
        let (got, recv_wakes) = receiver.join().unwrap();
        recv_wakes.assert_each_pending_woken_once();
        match got {
            Some(value) => {
                assert_eq!(value.id, 7);
                assert_eq!(drops.load(SeqCst), 0, "received, and dropped by the send");
                assert_eq!(send.woken(), 1, "a completed send was not woken");
                drop(value);
            }
            None => {
                assert_eq!(drops.load(SeqCst), 1, "neither received nor dropped");
                assert_eq!(send.woken(), 0, "a cancelled send was woken");
            }
        }
        assert_eq!(drops.load(SeqCst), 1);
    });
}

// Model 5a. Invariant: two senders and one receiver on a one-slot buffer: each value is
// received exactly once, every send succeeds, every Pending poll is woken once; the channel
// closes when the last `Sender` goes, after which the receiver gets `None`.
// LOOM_MAX_PREEMPTIONS=3: under 1 s
#[test]
fn two_senders_one_receiver() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let senders = spawn_senders_of_1_and_2(tx);
        let (got, recv_wakes) = recv_all(&rx);
        assert_1_and_2_delivered(senders, got, &recv_wakes);
    });
}

// Model 5b. Invariant: MPMC, two senders and two receivers on a rendezvous channel: each value
// is received exactly once, by one of the receivers.
// LOOM_MAX_PREEMPTIONS=3: 15 s
#[test]
fn two_senders_two_receivers() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let senders = spawn_senders_of_1_and_2(tx);
        let rx2 = rx.clone();
        let other = thread::spawn(move || recv_all(&rx2));
        let (mut got, mut recv_wakes) = recv_all(&rx);
        let (other_got, other_wakes) = other.join().unwrap();
        got.extend(other_got);
        recv_wakes.extend(other_wakes);
        assert_1_and_2_delivered(senders, got, &recv_wakes);
    });
}

type SenderThread = thread::JoinHandle<(Result<(), SendError<u32>>, Wakes)>;

/// Two threads, one sending 1 and the other 2 on `tx`.
fn spawn_senders_of_1_and_2(tx: Sender<u32>) -> Vec<SenderThread> {
    [(tx.clone(), 1), (tx, 2)]
        .into_iter()
        .map(|(tx, v)| thread::spawn(move || send_one(&tx, v)))
        .collect()
}

/// Joins the senders and checks the model's invariant: both sends succeeded, the receivers got
/// 1 and 2 exactly once between them, and every `Pending` poll on either side was woken once.
fn assert_1_and_2_delivered(senders: Vec<SenderThread>, mut got: Vec<u32>, recv_wakes: &[Wakes]) {
    for sender in senders {
        let (sent, wakes) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        wakes.assert_each_pending_woken_once();
    }
    for wakes in recv_wakes {
        wakes.assert_each_pending_woken_once();
    }
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
}
