//! Loom models of sysmon's two protocols with the workers.
//!
//! 1. Sleeping (`sysmon.rs`): sysmon sleeps without a timeout only while every worker is
//!    parked; a worker that is unparked meanwhile wakes it. A lost wake-up would leave sysmon
//!    asleep while a worker runs (and could get stuck unseen): here it leaves the sysmon thread
//!    blocked forever, which loom reports as a deadlock.
//! 2. Stopping a parked spare (`spare.rs`): sysmon's stop request races a notifier that pops
//!    the parked spare off the idle list. Whichever wins, the spare ends stopped, off the idle
//!    list, not searching, and `Idle`'s counts are exact afterwards.
//!
//! Both run on the real `Idle`, `Parker`, `Sysmon` and `SpareFlags`. The spare's side of the
//! second model is the part of `Worker::park` and `Worker::run_loop` that a spare adds, as
//! `loom_park.rs` models the worker loop.
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-runtime
//! --release --lib loom_sysmon`. The time above each model is the whole model at
//! `LOOM_MAX_PREEMPTIONS=3`, release build, on a 2-core machine.

use super::idle::Idle;
use super::park::Parker;
use super::spare::SpareFlags;
use super::sysmon::{Sysmon, all_parked};
use crate::loom::{Arc, thread};

// LOOM_MAX_PREEMPTIONS=3: <0.2 s, 2026-11-23
/// One worker, parked; a notifier unparks it while sysmon decides whether to sleep. sysmon
/// must not stay asleep with the worker unparked.
#[test]
fn sysmon_does_not_sleep_through_an_unpark() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1, 0));
        let (sysmon, parts) = Sysmon::new();
        let sysmon = Arc::new(sysmon);
        // The worker parks (`Worker::park`, not searching).
        assert!(!idle.transition_worker_to_parked(0, false));

        let waker = {
            let (idle, sysmon) = (idle.clone(), sysmon.clone());
            thread::spawn(move || {
                // A notifier pops the worker (`Shared::notify_parked`)...
                assert_eq!(idle.worker_to_notify(), Some(0));
                // ...and the worker, unparked, leaves its park loop.
                assert!(idle.transition_worker_from_parked(0));
                sysmon.worker_unparked();
            })
        };
        // sysmon's loop: while every worker is parked it sleeps; once one runs it goes on
        // to its periodic look (here: the model ends).
        let parker = parts.parker;
        while sysmon.sleep_while_idle(&parker, || all_parked(&idle, 0)) {}
        assert!(!all_parked(&idle, 0));
        waker.join().unwrap();
    });
}

// LOOM_MAX_PREEMPTIONS=3: <0.2 s, 2026-11-23
/// A running spare is parked on the idle list. sysmon asks it to stop while a notifier pops
/// it for new work. Either way the spare ends stopped, off the list, not searching.
#[test]
fn stopping_a_parked_spare_races_a_notifier() {
    loom::model(|| {
        const SPARE: usize = 1;
        // One worker (busy, unparked) and one spare.
        let idle = Arc::new(Idle::new(1, 1));
        let flags = Arc::new(SpareFlags::default());
        let parker = Parker::new();
        flags.start();
        // The spare ran out of work and parked.
        assert!(!idle.transition_worker_to_parked(SPARE, false));

        let sysmon = {
            let (flags, unparker) = (flags.clone(), parker.unparker());
            thread::spawn(move || {
                flags.request_stop();
                unparker.unpark();
            })
        };
        let notifier = {
            let (idle, unparker) = (idle.clone(), parker.unparker());
            thread::spawn(move || {
                if let Some(index) = idle.worker_to_notify() {
                    assert_eq!(index, SPARE);
                    unparker.unpark();
                }
            })
        };

        // The spare: `Worker::park`'s loop...
        let mut is_searching = false;
        loop {
            parker.park();
            if idle.transition_worker_from_parked(SPARE) {
                is_searching = true;
                break;
            }
            if flags.should_stop() && idle.unpark_worker_by_id(SPARE) {
                break;
            }
        }
        // ...then the top of `Worker::run_loop`. A notified spare searches first and finds
        // nothing here; it must see the stop before it parks again (sysmon's unpark comes
        // after the request, so a spare woken only by the notifier may need another park).
        loop {
            if flags.should_stop() {
                // `Worker::stop_spare`.
                if is_searching {
                    idle.transition_worker_from_searching();
                }
                flags.stopped();
                break;
            }
            // Parks again (`Worker::park`), as in the first loop.
            idle.transition_worker_to_parked(SPARE, is_searching);
            is_searching = false;
            loop {
                parker.park();
                if idle.transition_worker_from_parked(SPARE) {
                    is_searching = true;
                    break;
                }
                if flags.should_stop() && idle.unpark_worker_by_id(SPARE) {
                    break;
                }
            }
        }
        sysmon.join().unwrap();
        notifier.join().unwrap();
        assert!(!flags.is_running());
        assert_eq!(idle.num_searching(), 0);
        assert_eq!(idle.num_parked(), 0);
        // Both counted unparked: the busy worker and the stopped spare.
        assert_eq!(idle.num_unparked(), 2);
    });
}
