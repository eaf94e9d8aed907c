//! Loom models of the protocols threads run against each other inside the allocator: the
//! remote-free list (`remote.rs`), a span's hand-over to its central list (parked as full,
//! or given back by an exiting thread) racing a remote free and a refill (`central.rs`), and
//! an owner's watched full spans racing remote frees (`owned.rs`).
//!
//! Run with `RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p gort-alloc --lib
//! --release`. Each model's comment gives the bound it was run at and how long it took, release
//! build, on a 2-core machine.

use crate::central::Central;
use crate::heap::Heap;
use crate::owned::OwnedSpans;
use crate::remote::{self, Push, RemoteFree};
use crate::sizeclass::{CLASSES, class_of};
use crate::span::Span;
use loom::sync::Arc;
use loom::thread;
use std::collections::BTreeSet;

/// The token of the model's owning cache.
const OWNER: usize = 0x10;

/// Three 8-byte objects for the lists to link, addressed as integers so they cross threads.
fn objects() -> (Box<[u64; 3]>, [usize; 3]) {
    let mut memory = Box::new([0u64; 3]);
    let base = memory.as_mut_ptr() as usize;
    (memory, [base, base + 8, base + 16])
}

/// Takes a list and walks it into a set, checking the count its head word kept.
fn collect(list: &RemoteFree, into: &mut BTreeSet<usize>) {
    let (first, count) = list.take_counted();
    let mut walked = 0;
    // SAFETY: the list was just taken, and its objects (the model's memory) stay put.
    unsafe {
        remote::for_each(first, |o| {
            assert!(into.insert(o as usize), "seen twice");
            walked += 1;
        })
    };
    assert_eq!(walked, count, "the head word counts the list");
}

/// Two threads free into a span while its holder drains it and parks it once it sees it
/// empty (the loop of `Central::give_back`; `OwnedSpans::refill` watches the same way). Every
/// object ends up either drained by the holder or on the list exactly once, and a span parked
/// while frees still come in is rescued exactly once.
// LOOM_MAX_PREEMPTIONS=3: 0.06 s (818 executions), 2026-11-23; at 2: 231 executions
/// A fresh page heap and the central list of the size class of `size`-byte objects.
fn heap_and_central(size: usize) -> (Arc<Heap>, Arc<Central>) {
    let central = Central::new(class_of(size, 8));
    (Arc::new(Heap::new()), Arc::new(central))
}

/// As [`heap_and_central`], and a span of the class taken by the model's thread (`OWNER`).
fn fresh_span(size: usize) -> (Arc<Heap>, Arc<Central>, *mut Span) {
    let (heap, central) = heap_and_central(size);
    let span = central.take(&heap, OWNER);
    (heap, central, span)
}

/// Objects per span of the class of `size` (at least 8, see `sizeclass.rs`).
fn per_span(size: usize) -> usize {
    CLASSES[class_of(size, 8)].objects as usize
}

/// Allocates every object of `span`, which the caller holds and which is fresh; the span is
/// then full.
fn fill(span: *mut Span, size: usize) -> Vec<usize> {
    // SAFETY: the caller holds the span.
    let objects: Vec<usize> = (0..per_span(size))
        .map(|_| unsafe { (*span).alloc_object() }.unwrap().0)
        .collect();
    // SAFETY: as above.
    assert_eq!(unsafe { (*span).alloc_object() }, None, "the span is full");
    objects
}

/// A thread that frees `object`, a live object of the span at `span_addr`, as a thread that
/// does not own the span: a push onto its remote list, then what the push asks of the pusher.
fn spawn_remote_free(
    central: &Arc<Central>,
    span_addr: usize,
    object: usize,
) -> thread::JoinHandle<()> {
    let central = Arc::clone(central);
    thread::spawn(move || {
        let span = span_addr as *mut Span;
        // SAFETY: the object is live and freed once, here; `after_push` gets what the push
        // returned.
        unsafe {
            let push = (*span).remote.push(object as *mut u8);
            central.after_push(span, push);
        }
    })
}

#[test]
fn remote_frees_race_the_owner_parking_the_span() {
    loom::model(|| {
        let (_memory, [a, b, _]) = objects();
        let list = Arc::new(RemoteFree::new());
        let pushers: Vec<_> = [a, b]
            .into_iter()
            .map(|object| {
                let list = Arc::clone(&list);
                // SAFETY: each object is pushed once, by this thread only.
                thread::spawn(move || unsafe { list.push(object as *mut u8) })
            })
            .collect();
        let mut drained = BTreeSet::new();
        loop {
            collect(&list, &mut drained);
            if list.detach() {
                break;
            }
        }
        let rescues = pushers
            .into_iter()
            .map(|p| p.join().unwrap())
            .filter(|push| *push == Push::Rescue)
            .count();
        let mut left = BTreeSet::new();
        if rescues > 0 {
            collect(&list, &mut left);
        }
        assert!(rescues <= 1, "a span is rescued once");
        assert_eq!(
            rescues == 1,
            !left.is_empty(),
            "a rescue exactly when frees came after"
        );
        assert!(drained.is_disjoint(&left));
        let all: BTreeSet<usize> = drained.union(&left).copied().collect();
        assert_eq!(all, BTreeSet::from([a, b]));
    });
}

/// The owner of a full span parks it on the central list while another thread frees one of
/// its objects and a third refills from the central list. Whatever the interleaving, the freed
/// object is allocatable again exactly once: from the owner's span, or from the span the
/// refill took (or will take) off the partial list, and the span is on no list twice.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s with spans of 8 objects (2026-12-06)
#[test]
fn parking_a_full_span_races_a_remote_free_and_a_refill() {
    const REFILLER: usize = 0x20;
    loom::model(|| {
        let (heap, central, span) = fresh_span(8192);
        let object = fill(span, 8192)[0];
        let span_addr = span as usize;

        let freer = spawn_remote_free(&central, span_addr, object);
        let refiller = {
            let (central, heap) = (Arc::clone(&central), Arc::clone(&heap));
            thread::spawn(move || central.take(&heap, REFILLER) as usize)
        };

        let kept = loop {
            // SAFETY: the model's thread owns the span until it parks it.
            if unsafe { (*span).drain_remote() } > 0 {
                break true;
            }
            // SAFETY: owned and full.
            if unsafe { central.park_full(span) } {
                break false;
            }
        };
        freer.join().unwrap();
        let refilled = refiller.join().unwrap() as *mut crate::span::Span;

        // Where is the object's slot now? Exactly one holder can allocate it again.
        assert!(
            !(kept && refilled == span),
            "the owner and the refiller never share a span"
        );
        let holder = if kept || refilled == span {
            span
        } else {
            let (partial, full) = central.lens();
            assert_eq!(
                (partial, full),
                (1, 0),
                "rescued exactly once, parked nowhere else"
            );
            central.take(&heap, OWNER)
        };
        assert_eq!(holder, span);
        // SAFETY: the holder found above owns the span now.
        unsafe {
            (*holder).drain_remote();
            assert_eq!((*holder).alloc_object().map(|(addr, _)| addr), Some(object));
            assert_eq!((*holder).alloc_object(), None);
        }
    });
}

/// A thread exits (its cache gives a full span back) while another thread frees one of the
/// span's objects. Whichever wins, the span ends up on the partial list once, with the freed
/// object allocatable and the other still allocated.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s with spans of 8 objects (2026-12-06)
#[test]
fn an_exiting_owner_gives_back_a_span_while_another_thread_frees_into_it() {
    const NEXT: usize = 0x30;
    loom::model(|| {
        let (heap, central, span) = fresh_span(12288);
        let objects = fill(span, 12288);
        let (freed, kept) = (objects[0], objects[1]);
        let span_addr = span as usize;
        let freer = spawn_remote_free(&central, span_addr, freed);
        // SAFETY: the owner gives up its span.
        unsafe { central.give_back(&heap, span) };
        freer.join().unwrap();

        assert_eq!(central.lens(), (1, 0), "on the partial list, once");
        let again = central.take(&heap, NEXT);
        assert_eq!(again, span);
        // SAFETY: `NEXT` holds the span now.
        unsafe {
            assert_eq!((*again).alloc_object().map(|(addr, _)| addr), Some(freed));
            assert_eq!(
                (*again).alloc_object(),
                None,
                "{kept:#x} is still allocated"
            );
        }
    });
}

/// An owner whose current span has all its objects allocated, the first two `a` and `b`,
/// about to run out.
/// The object size of `FullSpanOwner`'s class.
const SIZE: usize = 12288;

struct FullSpanOwner {
    heap: Arc<Heap>,
    central: Arc<Central>,
    spans: OwnedSpans,
    span: *mut Span,
    a: usize,
    b: usize,
}

impl FullSpanOwner {
    fn new() -> FullSpanOwner {
        let (heap, central) = heap_and_central(SIZE);
        let mut spans = OwnedSpans::new();
        assert!(spans.refill(&central, &heap, OWNER, &mut 0));
        let (a, _) = spans.alloc().unwrap();
        let (b, _) = spans.alloc().unwrap();
        for _ in 2..per_span(SIZE) {
            spans.alloc().unwrap();
        }
        let span = crate::pagemap::lookup(a);
        FullSpanOwner {
            heap,
            central,
            spans,
            span,
            a,
            b,
        }
    }

    /// A thread that frees `a` remotely.
    fn remote_free_a(&self) -> thread::JoinHandle<()> {
        let central = Arc::clone(&self.central);
        let (span, a) = (self.span as usize, self.a);
        thread::spawn(move || {
            let span = span as *mut Span;
            // SAFETY: `a` is live and freed once, here; `after_push` gets what the push returned.
            unsafe {
                let push = (*span).remote.push(a as *mut u8);
                central.after_push(span, push);
            }
        })
    }

    /// The next `n` objects the owner allocates.
    fn allocate(&mut self, n: usize) -> BTreeSet<usize> {
        (0..n)
            .map(|_| match self.spans.alloc() {
                Some((addr, _)) => addr,
                None => {
                    assert!(self.spans.refill(&self.central, &self.heap, OWNER, &mut 0));
                    self.spans.alloc().unwrap().0
                }
            })
            .collect()
    }
}

/// The owner sets its exhausted span aside, watched, on its full list while another thread
/// frees an object of it. The freed object is allocated again within the next span's worth of
/// allocations: either the watch failed and the owner kept the span, or the free notified the
/// class and the owner's next refill looks through its full list.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s with spans of 8 objects (2026-12-06)
#[test]
fn a_remote_free_into_a_span_set_aside_as_full_is_found_again() {
    loom::model(|| {
        let mut owner = FullSpanOwner::new();
        let freer = owner.remote_free_a();
        let first = owner.allocate(1);
        freer.join().unwrap();
        let mut all = first;
        let n = per_span(SIZE);
        all.extend(owner.allocate(n));
        assert!(
            all.contains(&owner.a),
            "the remotely freed object came back"
        );
        assert!(
            !all.contains(&owner.b),
            "the live object was not handed out"
        );
        assert_eq!(all.len(), n + 1);
    });
}

/// The owner frees `b` into its span set aside as full (taking it off the full list and
/// clearing the watch) while another thread frees `a` into it remotely. Both objects come back,
/// once each, after the objects of the owner's new current span.
// LOOM_MAX_PREEMPTIONS=3: under 0.1 s with spans of 8 objects (2026-12-06)
#[test]
fn a_local_free_into_a_watched_span_races_a_remote_free() {
    loom::model(|| {
        let mut owner = FullSpanOwner::new();
        let fresh = owner.allocate(1); // sets the span aside, starts a new one
        assert!(!fresh.contains(&owner.a) && !fresh.contains(&owner.b));
        let freer = owner.remote_free_a();
        // SAFETY: the owner holds the span and `b` is live.
        unsafe {
            if (*owner.span).free_local(owner.b) {
                owner.spans.after_free(owner.span, &owner.heap, &mut 0);
            }
        }
        freer.join().unwrap();
        // The rest of the new span, then the two freed objects.
        let n = per_span(SIZE);
        let next = owner.allocate(n + 1);
        assert_eq!(next.len(), n + 1);
        assert!(next.contains(&owner.a) && next.contains(&owner.b));
    });
}
