//! A proptest of the run queue (`queue.rs`) against a sequential model: two workers' rings
//! and `runnext` slots as `VecDeque`s and `Option`s, and the injector as a `VecDeque`.
//!
//! Each case is a random sequence of the operations the scheduler performs: pushes to the back
//! of a ring (overflowing half of a full ring and the new task into the injector), pops,
//! `runnext` pushes (the displaced task goes to the ring, held, as `schedule_local` does) and
//! pops, steals of half a ring or of `runnext` from the other worker, batches from the injector
//! into a ring (`push_many`), and pops from the injector; and the thief's view of the owner's
//! grace (`queue.rs`): whether a ring is held, and steals bounded by a tail seen earlier. The
//! model numbers ring positions as the real ring does (a count of tasks that left the front). After every operation the lengths must
//! match the model's, and every task taken must be the one the model takes, so the order is
//! checked too. At the end both queues and the injector are drained in the same way, every task
//! must have been taken exactly once, and every future dropped exactly once.
//!
//! Run with `cargo test -p gort-runtime --lib proptest`.

use super::injector::Injector;
use super::queue::{self, CAPACITY, Local, Ring, Steal};
use crate::task::{self, Header, Notified, Schedule};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};

const HALF: usize = CAPACITY / 2;

/// One step of a case; `Worker` 0 or 1 says whose queue the step acts on.
#[derive(Debug, Clone)]
enum Op {
    /// Push this many new tasks, one by one, to the back of the worker's ring.
    PushBack(usize, usize),
    Pop(usize),
    PushRunnext(usize),
    PopRunnext(usize),
    /// The worker steals half of the other worker's ring.
    Steal(usize),
    /// The worker takes the other worker's `runnext`.
    StealRunnext(usize),
    /// The worker asks what the other worker's ring holds for a thief (`Steal::ring`).
    Held(usize),
    /// The worker steals from the other worker's ring while a task queued before the position
    /// this far back from its tail is still queued.
    StealBefore(usize, u32),
    /// The worker moves a batch of at most this many tasks from the injector into its ring;
    /// what does not fit goes back to the injector (`take_from_injector`, less the task it runs).
    FromInjector(usize, usize),
    PopInjector,
}

fn op() -> impl Strategy<Value = Op> {
    let worker = 0..2usize;
    prop_oneof![
        6 => (worker.clone(), 1..4usize).prop_map(|(w, n)| Op::PushBack(w, n)),
        1 => (worker.clone(), HALF..CAPACITY + 8).prop_map(|(w, n)| Op::PushBack(w, n)),
        4 => worker.clone().prop_map(Op::Pop),
        3 => worker.clone().prop_map(Op::PushRunnext),
        2 => worker.clone().prop_map(Op::PopRunnext),
        3 => worker.clone().prop_map(Op::Steal),
        1 => worker.clone().prop_map(Op::StealRunnext),
        2 => worker.clone().prop_map(Op::Held),
        2 => (worker.clone(), 0..6u32).prop_map(|(w, back)| Op::StealBefore(w, back)),
        2 => (worker, 1..HALF + 2).prop_map(|(w, n)| Op::FromInjector(w, n)),
        2 => Just(Op::PopInjector),
    ]
}

/// The scheduler of the tasks: they are never polled, only moved between queues.
struct NoSchedule;

impl Schedule for NoSchedule {
    fn schedule(&self, _task: Notified) {
        unreachable!("the proptest never polls its tasks");
    }

    fn release(&self, _task: NonNull<Header>) -> bool {
        false
    }
}

/// A future that counts its drop (when the task's last reference, its `Notified`, goes).
struct Counted(Arc<AtomicUsize>);

impl Future for Counted {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// The id of a task, handing the task back.
fn id(task: Notified) -> (u64, Notified) {
    let ptr = task.into_raw();
    // SAFETY: the `Notified` held a reference, which `ptr` now carries: the header is alive.
    let id = unsafe { ptr.as_ref() }.id;
    // SAFETY: `ptr` came from `Notified::into_raw` just above and is used once.
    (id, unsafe { Notified::from_raw(ptr) })
}

fn opt_id(task: Option<Notified>) -> (Option<u64>, Option<Notified>) {
    match task {
        Some(task) => {
            let (id, task) = id(task);
            (Some(id), Some(task))
        }
        None => (None, None),
    }
}

/// The real queues and the model, side by side.
struct Harness {
    locals: [Local; 2],
    steals: [Steal; 2],
    injector: Injector,
    model: [VecDeque<u64>; 2],
    model_runnext: [Option<u64>; 2],
    /// Tasks that have left each model ring from the front: its `head`.
    model_head: [u32; 2],
    /// The model's `held` mark: its tail after the last held push.
    model_held: [u32; 2],
    model_injector: VecDeque<u64>,
    /// Every task ever created, by id.
    created: Vec<u64>,
    taken: Vec<(u64, Notified)>,
    dropped: Arc<AtomicUsize>,
}

impl Harness {
    fn new() -> Harness {
        let (l0, s0) = queue::local();
        let (l1, s1) = queue::local();
        Harness {
            locals: [l0, l1],
            steals: [s0, s1],
            injector: Injector::new(),
            model: Default::default(),
            model_runnext: [None, None],
            model_head: [0, 0],
            model_held: [0, 0],
            model_injector: VecDeque::new(),
            created: Vec::new(),
            taken: Vec::new(),
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn new_task(&mut self) -> (u64, Notified) {
        let future = Counted(self.dropped.clone());
        let (task, notified, join) = task::new(future, NoSchedule, Location::caller());
        drop(task);
        drop(join);
        let (id, notified) = id(notified);
        self.created.push(id);
        (id, notified)
    }

    /// Records a task the real queue gave, checking it is the one the model gives.
    fn take(&mut self, real: Option<Notified>, model: Option<u64>, what: &str) {
        let (id, real) = opt_id(real);
        assert_eq!(id, model, "{what}");
        self.taken.extend(real.map(|task| (id.unwrap(), task)));
    }

    /// `Local::push_back` (`push_back_held` if `held`) and its model.
    fn push_back(&mut self, w: usize, id: u64, task: Notified, held: bool) {
        let overflowed = if held {
            self.locals[w].push_back_held(task, &self.injector)
        } else {
            self.locals[w].push_back(task, &self.injector)
        };
        let ring = &mut self.model[w];
        let model_overflowed = ring.len() == CAPACITY;
        if model_overflowed {
            self.model_injector.extend(ring.drain(..HALF));
            self.model_injector.push_back(id);
            self.model_head[w] = self.model_head[w].wrapping_add(HALF as u32);
        } else {
            ring.push_back(id);
        }
        if held {
            self.model_held[w] = self.model_tail(w);
        }
        assert_eq!(overflowed, model_overflowed, "push_back overflow");
    }

    fn model_tail(&self, w: usize) -> u32 {
        self.model_head[w].wrapping_add(self.model[w].len() as u32)
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::PushBack(w, n) => {
                for _ in 0..n {
                    let (id, task) = self.new_task();
                    self.push_back(w, id, task, false);
                }
            }
            Op::Pop(w) => {
                let real = self.locals[w].pop();
                let model = self.model[w].pop_front();
                if model.is_some() {
                    self.model_head[w] = self.model_head[w].wrapping_add(1);
                }
                self.take(real, model, "pop");
            }
            Op::PushRunnext(w) => {
                let (id, task) = self.new_task();
                let displaced = self.locals[w].push_runnext(task);
                let model = self.model_runnext[w].replace(id);
                let (displaced_id, displaced) = opt_id(displaced);
                assert_eq!(displaced_id, model, "push_runnext displaced");
                if let (Some(task), Some(id)) = (displaced, model) {
                    self.push_back(w, id, task, true);
                }
            }
            Op::PopRunnext(w) => {
                let real = self.locals[w].pop_runnext();
                let model = self.model_runnext[w].take();
                self.take(real, model, "pop_runnext");
            }
            Op::Steal(w) => {
                let victim = 1 - w;
                let real = self.steals[victim].steal_into(&self.locals[w]);
                let model = self.model_steal(victim, w);
                self.take(real, model, "steal_into");
            }
            Op::StealRunnext(w) => {
                let real = self.steals[1 - w].steal_runnext(|| {});
                let model = self.model_runnext[1 - w].take();
                self.take(real, model, "steal_runnext");
            }
            Op::Held(w) => {
                let victim = 1 - w;
                let n = self.model[victim].len();
                let model = if n == 0 {
                    Ring::Empty
                } else if n < 4 && self.model_held[victim] > self.model_head[victim] {
                    Ring::Held(self.model_tail(victim))
                } else {
                    Ring::Open
                };
                assert_eq!(self.steals[victim].ring(), model, "ring");
            }
            Op::StealBefore(w, back) => {
                let victim = 1 - w;
                // A tail seen earlier: at most the ring's length back from the tail now.
                let back = back.min(self.model[victim].len() as u32);
                let seen = self.model_tail(victim) - back;
                let real = self.steals[victim].steal_into_before(&self.locals[w], Some(seen));
                let model = if self.model_head[victim] < seen {
                    self.model_steal(victim, w)
                } else {
                    None
                };
                self.take(real, model, "steal_into_before");
            }
            Op::FromInjector(w, max) => {
                let mut batch = self.injector.pop_batch(max);
                self.locals[w].push_many(&mut batch);
                self.injector.push_batch(batch);
                let n = max.min(self.model_injector.len());
                let room = CAPACITY - self.model[w].len();
                let mut moved: VecDeque<u64> = self.model_injector.drain(..n).collect();
                self.model[w].extend(moved.drain(..room.min(n)));
                self.model_injector.extend(moved);
            }
            Op::PopInjector => {
                let real = self.injector.pop();
                let model = self.model_injector.pop_front();
                self.take(real, model, "injector pop");
            }
        }
        self.check_lengths();
    }

    /// The model of `steal_into`: the thief takes the first half (rounded up) of the victim's
    /// ring, keeps the last of them to run and appends the others to its own ring; it does not
    /// steal while more than half of its own ring is full.
    fn model_steal(&mut self, victim: usize, thief: usize) -> Option<u64> {
        if self.model[thief].len() > HALF {
            return None;
        }
        let len = self.model[victim].len();
        let n = len - len / 2;
        if n == 0 {
            return None;
        }
        let mut stolen: VecDeque<u64> = self.model[victim].drain(..n).collect();
        self.model_head[victim] = self.model_head[victim].wrapping_add(n as u32);
        let last = stolen.pop_back();
        self.model[thief].extend(stolen);
        last
    }

    fn check_lengths(&self) {
        for w in 0..2 {
            assert_eq!(self.locals[w].len(), self.model[w].len(), "ring {w} length");
            let empty = self.model[w].is_empty() && self.model_runnext[w].is_none();
            assert_eq!(self.steals[w].is_empty(), empty, "queue {w} is_empty");
        }
        assert_eq!(
            self.injector.len(),
            self.model_injector.len(),
            "injector length"
        );
    }

    /// Drains everything, checking the order, then checks that every task was taken once and,
    /// once all are dropped, that every future was dropped once.
    fn finish(mut self) {
        for w in 0..2 {
            self.apply(&Op::PopRunnext(w));
            while !self.model[w].is_empty() {
                self.apply(&Op::Pop(w));
            }
            self.apply(&Op::Pop(w));
        }
        while !self.model_injector.is_empty() {
            self.apply(&Op::PopInjector);
        }
        self.apply(&Op::PopInjector);

        let mut taken: Vec<u64> = self.taken.iter().map(|(id, _)| *id).collect();
        taken.sort_unstable();
        let mut created = self.created.clone();
        created.sort_unstable();
        assert_eq!(taken, created, "every task is taken exactly once");
        let n = created.len();
        self.taken.clear();
        assert_eq!(
            self.dropped.load(Relaxed),
            n,
            "every future is dropped exactly once"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn proptest_ring_matches_vecdeque(ops in prop::collection::vec(op(), 1..200)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op);
        }
        harness.finish();
    }
}
