//! The collector: one background thread that runs each cycle, and the stop-the-world flips.
//!
//! A cycle (Go's `gcStart`, `gcMarkDone`, `gcMarkTermination`, `gcSweep`):
//!
//! 1. **Mark start** (stop-the-world): every thread's state turns shading on (root count
//!    changes and rooting walks shade, `gc.rs`, `cell.rs`) and allocation black (new objects
//!    are born marked).
//! 2. **Concurrent mark**: the collector scans each thread's space for white objects with roots
//!    (`mark.rs`), traces from them, and keeps taking the grey objects threads shade, from the
//!    pool and from their buffers, until it finds none. Threads that allocate ahead of
//!    marking's progress trace packets from the pool too (assists, `pacer.rs`); the pool
//!    counts the packets they hold under its lock.
//! 3. **Mark termination** (stop-the-world): if some thread's buffer or the pool still holds
//!    grey objects, the world restarts and marking goes on; otherwise shading turns off and the
//!    set of threads is frozen for this cycle. Allocation stays black until a space is swept.
//! 4. **Destructors**: every white allocated object is dead. Those whose type drops anything
//!    in the heap are dropped, one by one, outside any lock; no memory is freed until all of
//!    them have run, so a destructor never reads freed memory, and one that reaches another
//!    dead object through a handle panics (`finalize.rs`).
//! 5. **Sweep**: allocation turns white again, and each space is swept a few spans at a time
//!    (and by its own thread when it runs out of swept spans of a class: gort-alloc's lazy
//!    sweep), each span swapping its bitmaps: its marks become its allocation bits.
//!
//! The stop-the-world is not a stop of the threads: it takes every thread's lock
//! (`local.rs`), which a thread holds only inside a collector operation, so it waits for the
//! operations in flight and holds off new ones, while the program otherwise runs on. Its
//! length is each pause reported in `GcStats`.
//!
//! Correctness (why no reachable object is freed): at mark termination every object with a
//! root is marked (it had its root when the scan passed it, or gained it during marking and
//! was shaded then, or was born black), and no marked object points at a white one: a marked
//! object was traced, and every edge made after that went through a shading walk (a handle
//! moving into the heap is shaded, `Gc::new` and the end of a `GcCell` mutable borrow). A
//! `GcCell` that the marker found mutably borrowed was skipped: its contents were rooted for
//! the whole borrow, and are shaded when it ends. So every reachable object is marked.

use crate::header::Header;
use crate::local::{Local, LocalState};
use crate::lock::Guard;
use crate::mark::{self, WorkPool, lock};
use crate::pacer::Pacer;
use crate::stats::{GcStats, Totals};
use std::ptr::NonNull;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A cycle runs at least this often while the program allocates (Go's `forcegcperiod`).
const FORCE_PERIOD: Duration = Duration::from_secs(120);

/// Spans the background sweep sweeps per turn of a thread's lock (a few microseconds).
const SPANS_PER_SWEEP: usize = 4;

/// Grey objects an assist traces before it looks at the pacer again.
const ASSIST_OBJECTS: usize = 1024;

/// How long an assist that found no grey work waits for the marker before it looks again.
const ASSIST_WAIT: Duration = Duration::from_micros(50);

pub(crate) struct Collector {
    registry: Mutex<Registry>,
    pub(crate) work: WorkPool,
    pub(crate) pacer: Pacer,
    /// Between mark start and mark termination.
    marking: AtomicBool,
    control: Mutex<Control>,
    /// The collector thread waits here for a request.
    wake: Condvar,
    /// `collect` waits here for its cycle.
    done: Condvar,
    totals: Mutex<Totals>,
    /// The last stop-the-world's length (written and read by the collector thread only).
    last_pause: PauseCell,
    /// `GORT_GCTRACE=1`: a line per cycle on stderr.
    trace: bool,
    born: Instant,
}

/// A `Duration` the collector thread leaves for itself.
struct PauseCell(std::sync::atomic::AtomicU64);

impl PauseCell {
    fn set(&self, pause: Duration) {
        self.0.store(pause.as_nanos() as u64, Relaxed);
    }

    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Relaxed))
    }
}

/// The threads' states, and the phase a new one starts in.
struct Registry {
    locals: Vec<Arc<Local>>,
    shade: bool,
    black: bool,
}

#[derive(Default)]
struct Control {
    /// Cycles asked for (counting from the first), and cycles completed.
    requested: u64,
    completed: u64,
    running: bool,
    started: bool,
}

pub(crate) fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| Collector {
        registry: Mutex::new(Registry {
            locals: Vec::new(),
            shade: false,
            black: false,
        }),
        work: WorkPool::new(),
        pacer: Pacer::new(),
        marking: AtomicBool::new(false),
        control: Mutex::new(Control::default()),
        wake: Condvar::new(),
        done: Condvar::new(),
        totals: Mutex::new(Totals::default()),
        last_pause: PauseCell(std::sync::atomic::AtomicU64::new(0)),
        trace: std::env::var_os("GORT_GCTRACE").is_some_and(|v| v == "1"),
        born: Instant::now(),
    })
}

impl Collector {
    /// A new thread state, in the current phase.
    pub(crate) fn register(&'static self) -> Arc<Local> {
        let mut registry = lock(&self.registry);
        let local = Arc::new(Local::new(registry.shade, registry.black));
        registry.locals.push(local.clone());
        drop(registry);
        // The collector's thread starts with the first thread that uses the heap, so that the
        // forced cycles (`FORCE_PERIOD`) run even if the pacer never triggers one.
        self.start_thread(&mut lock(&self.control));
        local
    }

    /// A thread reports `bytes` of new objects; starts a cycle at the trigger. True if the
    /// thread should assist the marker: a cycle is marking and the threads have allocated
    /// ahead of its progress (`pacer.rs`).
    pub(crate) fn allocated(&'static self, bytes: usize) -> bool {
        if self.marking.load(Relaxed) {
            self.pacer.allocated(bytes);
            return self.ahead();
        }
        if self.pacer.allocated(bytes) {
            let mut control = lock(&self.control);
            if control.requested == control.completed && !control.running {
                control.requested += 1;
                self.start_thread(&mut control);
                self.wake.notify_one();
            }
        }
        false
    }

    fn ahead(&self) -> bool {
        self.pacer.ahead(self.work.work.load(Relaxed))
    }

    /// Go's mark assist, on a thread that allocates faster than the marker marks: until the
    /// heap is back within what marking's progress allows (or marking ends), trace grey
    /// objects from the pool. Finding none, it asks the marker to share its stack; and if the
    /// heap has passed its goal, it waits for the marker, which bounds the heap. (Called
    /// outside the thread's lock: the stop-the-world never waits for it.)
    pub(crate) fn assist(&self) {
        while self.marking.load(Relaxed) && self.ahead() {
            if !self.assist_once() {
                self.work.hungry.store(true, Relaxed);
                if !self.pacer.over_goal() {
                    return;
                }
                std::thread::sleep(ASSIST_WAIT);
            }
        }
    }

    /// Traces up to `ASSIST_OBJECTS` grey objects from the pool; false if it had none.
    fn assist_once(&self) -> bool {
        // The pool counts the packet as held until it is given back, so that mark termination
        // sees it (see `cycle`).
        let Some(mut stack) = self.work.take() else {
            return false;
        };
        let mut budget = ASSIST_OBJECTS;
        loop {
            budget -= mark::drain(&mut stack, &self.work, budget);
            if budget == 0 || !self.work.refill(&mut stack) {
                break;
            }
        }
        self.work.give_back(stack);
        true
    }

    /// Runs a full cycle that starts after this call, and returns once it has swept.
    pub(crate) fn collect(&'static self) {
        let mut control = lock(&self.control);
        let target = control.completed + if control.running { 2 } else { 1 };
        control.requested = control.requested.max(target);
        self.start_thread(&mut control);
        self.wake.notify_one();
        while control.completed < target {
            control = self
                .done
                .wait(control)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    pub(crate) fn stats(&self) -> GcStats {
        lock(&self.totals).snapshot(self.pacer.live(), self.pacer.goal())
    }

    fn start_thread(&'static self, control: &mut Control) {
        if !control.started {
            control.started = true;
            std::thread::Builder::new()
                .name("gort-gc".into())
                .spawn(move || self.run())
                .expect("gort::gc: cannot start the collector thread");
        }
    }

    fn run(&'static self) {
        /// A collector that died would leave every `collect` waiting forever, and the heap
        /// growing: better to stop the process.
        struct AbortOnPanic;
        impl Drop for AbortOnPanic {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    eprintln!("gort::gc: the collector panicked; aborting");
                    std::process::abort();
                }
            }
        }
        let _abort = AbortOnPanic;
        loop {
            let mut control = lock(&self.control);
            while control.requested <= control.completed {
                let (next, waited) = self
                    .wake
                    .wait_timeout(control, FORCE_PERIOD)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                control = next;
                // Go's forcegc: a program that allocates too slowly to reach the trigger still
                // gets its garbage (and its destructors) collected every two minutes.
                if waited.timed_out() && self.pacer.allocated_since_cycle() > 0 {
                    control.requested = control.completed + 1;
                }
            }
            control.running = true;
            drop(control);
            self.cycle();
            let mut control = lock(&self.control);
            control.running = false;
            control.completed += 1;
            self.done.notify_all();
        }
    }

    /// Takes every thread's lock, runs `flip` on the registry and the states, and lets them go;
    /// records the pause.
    fn stop_the_world<R>(
        &self,
        flip: impl FnOnce(&mut Registry, &mut [Guard<'_, LocalState>]) -> R,
    ) -> R {
        let start = Instant::now();
        let mut registry = lock(&self.registry);
        let locals = registry.locals.clone();
        let mut states: Vec<_> = locals
            .iter()
            .map(|local| local.state.lock_collector())
            .collect();
        let result = flip(&mut registry, &mut states);
        drop(states);
        drop(registry);
        let pause = start.elapsed();
        lock(&self.totals).pause(pause);
        self.last_pause.set(pause);
        result
    }

    fn cycle(&self) {
        let started = Instant::now();
        let mut pauses = Duration::ZERO;
        // 1. Mark start.
        let locals = self.stop_the_world(|registry, states| {
            registry.shade = true;
            registry.black = true;
            self.work.work.store(0, Relaxed);
            self.pacer.mark_started();
            self.marking.store(true, Relaxed);
            for state in states.iter_mut() {
                state.start_marking();
            }
            spans_by_local(registry, states)
        });
        pauses += self.last_pause.get();
        // 2. Concurrent mark.
        let mut stack = Vec::new();
        for (local, spans) in &locals {
            mark::scan_roots(local, *spans, &mut stack, &self.work);
        }
        // 3. Mark termination, as often as it finds work left.
        let cycle_locals = loop {
            self.mark_until_idle(&mut stack);
            let done = self.stop_the_world(|registry, states| {
                // Grey objects outside the threads' buffers are in the pool or held by an
                // assist, which the pool counts under the same lock: one look sees both.
                let mut left = !self.work.is_idle();
                for state in states.iter_mut() {
                    if !state.grey.is_empty() {
                        stack.append(&mut state.grey);
                        left = true;
                    }
                }
                if left {
                    return None;
                }
                registry.shade = false;
                registry.black = false;
                self.marking.store(false, Relaxed);
                self.pacer.mark_done();
                for state in states.iter_mut() {
                    state.stop_shading();
                }
                Some(spans_by_local(registry, states))
            });
            pauses += self.last_pause.get();
            if let Some(locals) = done {
                break locals;
            }
        };
        let marked = Instant::now();
        // 4. Destructors, then 5. sweep.
        let (freed, live) = crate::finalize::run_destructors(&cycle_locals);
        for (local, _) in &cycle_locals {
            local.state.lock_collector().space.sweep_begin();
        }
        self.pacer.swept(live, self.work.work.load(Relaxed));
        for (local, _) in &cycle_locals {
            loop {
                let mut state = local.state.lock_collector();
                if state.space.sweep_some(SPANS_PER_SWEEP, |_, _| {}) {
                    state.space.take_sweep_stats();
                    break;
                }
            }
        }
        self.forget_orphans();
        let mut totals = lock(&self.totals);
        totals.cycles += 1;
        totals.objects_freed += freed;
        if self.trace {
            // Go's GODEBUG=gctrace=1, in spirit.
            eprintln!(
                "gc {} @{:.3}s: {:.0} us stopped, mark {:.2} ms, finish {:.2} ms, {} KiB kept, \
                 {} KiB live, {freed} objects freed, goal {} KiB",
                totals.cycles,
                self.born.elapsed().as_secs_f64(),
                pauses.as_secs_f64() * 1e6,
                (marked - started).as_secs_f64() * 1e3,
                marked.elapsed().as_secs_f64() * 1e3,
                live >> 10,
                self.pacer.live() >> 10,
                self.pacer.goal() >> 10,
            );
        }
    }

    /// Traces until no grey object is left anywhere outside a stop-the-world.
    fn mark_until_idle(&self, stack: &mut Vec<NonNull<Header>>) {
        loop {
            mark::drain(stack, &self.work, usize::MAX);
            if let Some(packet) = self.work.pop() {
                *stack = packet;
                continue;
            }
            let locals = lock(&self.registry).locals.clone();
            for local in &locals {
                stack.append(&mut local.state.lock_collector().grey);
            }
            if stack.is_empty() {
                if !self.work.is_held() {
                    return;
                }
                // An assist holds grey objects: it traces them or gives them back shortly.
                std::thread::yield_now();
            }
        }
    }

    /// Drops the states of exited threads whose spaces are empty.
    fn forget_orphans(&self) {
        let mut registry = lock(&self.registry);
        registry.locals.retain(|local| {
            if !local.orphan.load(Relaxed) {
                return true;
            }
            let state = local.state.lock_collector();
            state.space.span_count() != 0 || !state.grey.is_empty()
        });
    }
}

/// Each thread's state, with the number of spans its space had at a stop-the-world.
fn spans_by_local(
    registry: &Registry,
    states: &[Guard<'_, LocalState>],
) -> Vec<(Arc<Local>, usize)> {
    let counts = states.iter().map(|state| state.space.span_count());
    registry.locals.iter().cloned().zip(counts).collect()
}
