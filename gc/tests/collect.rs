//! What a collection frees and what it keeps: cycles, roots, cells, destructors, threads.

use gort_gc::{Gc, GcCell, Trace, Tracer, collect, stats};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

/// Counts its drops.
struct Tally(Arc<AtomicUsize>);

impl Drop for Tally {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

// SAFETY: holds no `Gc`.
unsafe impl Trace for Tally {
    const NEEDS_TRACE: bool = false;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

struct Node {
    id: usize,
    next: GcCell<Option<Gc<Node>>>,
    children: Vec<Gc<Node>>,
    _tally: Tally,
}

// SAFETY: traces both places that hold handles.
unsafe impl Trace for Node {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self.next.trace(tracer);
        self.children.trace(tracer);
    }
}

fn node(id: usize, children: Vec<Gc<Node>>, drops: &Arc<AtomicUsize>) -> Gc<Node> {
    Gc::new(Node {
        id,
        next: GcCell::new(None),
        children,
        _tally: Tally(drops.clone()),
    })
}

#[test]
fn a_cycle_is_freed_once_unreachable_and_kept_while_rooted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = node(1, vec![], &drops);
    let b = node(2, vec![a.clone()], &drops);
    *a.next.borrow_mut() = Some(b.clone());
    drop(b);
    collect();
    assert_eq!(drops.load(SeqCst), 0, "reachable from the root `a`");
    let b = a.next.borrow().clone().unwrap();
    assert_eq!(b.id, 2);
    assert_eq!(b.children[0].id, 1);
    drop((a, b));
    collect();
    assert_eq!(drops.load(SeqCst), 2, "the cycle is garbage");
}

#[test]
fn a_handle_moved_out_of_a_cell_is_a_root() {
    let drops = Arc::new(AtomicUsize::new(0));
    let holder = node(0, vec![], &drops);
    *holder.next.borrow_mut() = Some(node(7, vec![], &drops));
    let taken = holder.next.borrow_mut().take().unwrap();
    drop(holder);
    collect();
    assert_eq!(drops.load(SeqCst), 1, "only the holder died");
    assert_eq!(taken.id, 7);
    drop(taken);
    collect();
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn long_lists_survive_collections_while_they_are_mutated() {
    let drops = Arc::new(AtomicUsize::new(0));
    let head = node(0, vec![], &drops);
    let mut tail = head.clone();
    for id in 1..=10_000 {
        let next = node(id, vec![], &drops);
        *tail.next.borrow_mut() = Some(next.clone());
        tail = next;
        if id % 2_500 == 0 {
            collect();
        }
    }
    drop(tail);
    collect();
    let mut walk = Some(head.clone());
    let mut seen = 0;
    while let Some(node) = walk {
        assert_eq!(node.id, seen);
        seen += 1;
        walk = node.next.borrow().clone();
    }
    assert_eq!(seen, 10_001);
    assert_eq!(drops.load(SeqCst), 0);
    drop(head);
    collect();
    assert_eq!(drops.load(SeqCst), 10_001);
}

#[test]
fn threads_mutate_a_shared_graph_while_collections_run() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let made = Arc::new(AtomicUsize::new(0));
    let shared: Gc<GcCell<Vec<Gc<Node>>>> = Gc::new(GcCell::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut cycles = 0;
            while !stop.load(SeqCst) {
                collect();
                cycles += 1;
            }
            cycles
        })
    };
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (drops, made) = (drops.clone(), made.clone());
            // A root per thread: moved into the thread, it stays a root there.
            let shared = shared.clone();
            scope.spawn(move || {
                let mut mine = node(t, vec![], &drops);
                made.fetch_add(1, SeqCst);
                for round in 0..ROUNDS {
                    let fresh = node(round, vec![mine.clone()], &drops);
                    made.fetch_add(1, SeqCst);
                    *mine.next.borrow_mut() = Some(fresh.clone());
                    if round % 64 == 0 {
                        let mut list = shared.borrow_mut();
                        if list.len() > 32 {
                            list.drain(..16);
                        }
                        list.push(fresh.clone());
                    }
                    // Every node on the chain from the newest back stays intact.
                    assert_eq!(fresh.children[0].id, mine.id);
                    mine = fresh;
                }
            });
        }
    });
    stop.store(true, SeqCst);
    assert!(collector.join().unwrap() > 0);
    for node in shared.borrow().iter() {
        assert!(node.id < ROUNDS);
        let back = &node.children[0];
        assert!(back.id + 1 == node.id || back.id < THREADS);
    }
    drop(shared);
    collect();
    collect();
    assert_eq!(
        drops.load(SeqCst),
        made.load(SeqCst),
        "everything is garbage now"
    );
    assert!(stats().cycles >= 2);
}
