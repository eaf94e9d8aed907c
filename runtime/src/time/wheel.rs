//! A hierarchical timing wheel: O(1) insert and cancel, expirations found by bit scans.
//!
//! Time is counted in ticks of 1 ms since the driver started. The wheel has `LEVELS` levels of
//! 64 slots. A slot of level `L` covers `64^L` ticks, so level 0 holds the next 64 ms tick by
//! tick, level 1 the next 4 s in 64 ms slots, and so on up to level 6 (64^7 ms, about 139
//! years). An entry due at `when` goes to the level of the highest bit in which `when` and the
//! wheel's `elapsed` differ (taken 6 bits at a time), in the slot given by `when`'s 6 bits at
//! that level:
//!
//! ```text
//!   level  slot size   range (from elapsed)
//!     0     1 ms        64 ms
//!     1     64 ms       ~4 s
//!     2     ~4 s        ~4.4 min
//!     3     ~4.4 min    ~4.7 h
//!     4     ~4.7 h      ~12 days
//!     5     ~12 days    ~2.2 years
//!     6     ~2.2 years  ~139 years
//! ```
//!
//! Invariants:
//!
//! 1. Every entry in a slot is due after `elapsed`; entries due at or before it wait in
//!    `pending` until `poll` hands them out.
//! 2. An entry at level `L` shares with `elapsed` every bit above level `L`'s 6 bits, so all
//!    entries of lower levels are due before any entry of a higher level, and within a level
//!    the occupied slot nearest after `elapsed`'s slot holds the earliest entries.
//! 3. `occupied` has bit `s` set exactly when slot `s` of that level is non-empty.
//!
//! `poll(now)` finds the earliest occupied slot; if it starts at or before `now`, it moves
//! `elapsed` to the slot's start and re-inserts the slot's entries: those due at `elapsed` go to
//! `pending`, the others cascade to lower levels. Each entry is thus moved at most once per
//! level, and `poll` costs O(levels) bit scans plus O(1) per entry moved.
//!
//! Entries are intrusive `Node`s owned by the caller (the timer futures); the wheel only links
//! them. Every method is `unsafe` on the caller's promise that each node is alive and touched by
//! no one else while it is linked (the time driver guards each wheel with a mutex).

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU64, Ordering::*};
use std::ptr::NonNull;

pub(crate) const LEVELS: usize = 7;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// The latest tick the wheel can hold; later deadlines are clamped to it.
pub(crate) const MAX_TICK: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;

/// Bits of a node's key that hold its due tick.
const WHEN_BITS: u32 = SLOT_BITS * LEVELS as u32;
const WHEN_MASK: u64 = (1 << WHEN_BITS) - 1;
/// Place codes, above the tick in a node's key: where the node is linked.
const UNLINKED: u64 = 0;
const PENDING: u64 = 1;
/// `SLOT_CODE + level * SLOTS + slot`: in that slot. The highest code is 449, so a key never
/// reaches `FIRED`.
const SLOT_CODE: u64 = 2;
/// The key of a node whose timer fired (set by the timer entry, see `entry.rs`).
pub(crate) const FIRED: u64 = u64::MAX;

/// Where a node is linked, decoded from its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Unlinked,
    Slot { level: usize, slot: usize },
    Pending,
}

fn key(when: u64, place: Place) -> u64 {
    let code = match place {
        Place::Unlinked => UNLINKED,
        Place::Pending => PENDING,
        Place::Slot { level, slot } => SLOT_CODE + (level * SLOTS + slot) as u64,
    };
    when | code << WHEN_BITS
}

fn place_of(key: u64) -> Place {
    match key >> WHEN_BITS {
        UNLINKED => Place::Unlinked,
        PENDING => Place::Pending,
        code => {
            let at = (code - SLOT_CODE) as usize;
            Place::Slot {
                level: at / SLOTS,
                slot: at % SLOTS,
            }
        }
    }
}

struct Links {
    prev: Option<NonNull<Node>>,
    next: Option<NonNull<Node>>,
}

/// The part of a timer entry the wheel links: two links and a key, 24 bytes.
///
/// The key packs the due tick (42 bits) and where the node is linked (the place code above
/// it), or is `FIRED`. The wheel writes it only under its owner's lock; it is atomic because
/// the timer's owner reads it without the lock to see whether it fired. A fired entry has key
/// `FIRED` and is in no wheel; `reset` (by the owner, once the driver is done with it) makes
/// it unlinked again.
pub(crate) struct Node {
    links: UnsafeCell<Links>,
    key: AtomicU64,
}

impl Node {
    pub(crate) fn new() -> Node {
        Node {
            links: UnsafeCell::new(Links {
                prev: None,
                next: None,
            }),
            key: AtomicU64::new(key(0, Place::Unlinked)),
        }
    }

    /// True once the entry's timer fired (`Acquire`: pairs with `mark_fired`).
    pub(crate) fn is_fired(&self) -> bool {
        self.key.load(Acquire) == FIRED
    }

    /// Marks an unlinked node fired, with `Release`: after this the driver never touches it.
    pub(crate) fn mark_fired(&self) {
        self.key.store(FIRED, Release);
    }

    /// Unlinked again, after the owner observed `FIRED`.
    pub(crate) fn reset(&self) {
        self.key.store(key(0, Place::Unlinked), Relaxed);
    }

    fn when(&self) -> u64 {
        self.key.load(Relaxed) & WHEN_MASK
    }

    fn place(&self) -> Place {
        let k = self.key.load(Relaxed);
        if k == FIRED {
            Place::Unlinked
        } else {
            place_of(k)
        }
    }

    fn set(&self, when: u64, place: Place) {
        self.key.store(key(when, place), Relaxed);
    }
}

// SAFETY (for `links` below): the caller of the wheel's unsafe methods guarantees exclusive
// access to linked nodes' links, see the module comment.
fn links<'a>(node: NonNull<Node>) -> &'a mut Links {
    // SAFETY: see above.
    unsafe { node.as_ref().links.with_mut(|p| &mut *p) }
}

fn node<'a>(node: NonNull<Node>) -> &'a Node {
    // SAFETY: linked nodes are alive (the wheel's contract).
    unsafe { node.as_ref() }
}

#[derive(Default)]
struct List {
    head: Option<NonNull<Node>>,
    tail: Option<NonNull<Node>>,
}

impl List {
    fn push_back(&mut self, node: NonNull<Node>) {
        let n = links(node);
        n.prev = self.tail;
        n.next = None;
        match self.tail {
            Some(tail) => links(tail).next = Some(node),
            None => self.head = Some(node),
        }
        self.tail = Some(node);
    }

    fn remove(&mut self, node: NonNull<Node>) {
        let n = links(node);
        match n.prev {
            Some(prev) => links(prev).next = n.next,
            None => self.head = n.next,
        }
        match n.next {
            Some(next) => links(next).prev = n.prev,
            None => self.tail = n.prev,
        }
        n.prev = None;
        n.next = None;
    }

    fn pop_front(&mut self) -> Option<NonNull<Node>> {
        let node = self.head?;
        self.remove(node);
        Some(node)
    }

    fn is_empty(&self) -> bool {
        self.head.is_none()
    }
}

struct Level {
    occupied: u64,
    slots: [List; SLOTS],
}

/// The next slot to expire: its level, slot and first tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiration {
    level: usize,
    slot: usize,
    deadline: u64,
}

pub(crate) struct Wheel {
    elapsed: u64,
    levels: Box<[Level]>,
    pending: List,
    len: usize,
}

// SAFETY: the wheel only holds pointers to nodes that its owner keeps alive and Send (timer
// entries of Send futures); it is used under a mutex.
unsafe impl Send for Wheel {}

fn level_for(elapsed: u64, when: u64) -> usize {
    // Highest differing bit, with the low 6 bits forced on so that level 0 is the minimum.
    let masked = (elapsed ^ when) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * SLOT_BITS)) & SLOT_MASK) as usize
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        let levels = (0..LEVELS)
            .map(|_| Level {
                occupied: 0,
                slots: std::array::from_fn(|_| List::default()),
            })
            .collect();
        Wheel {
            elapsed: 0,
            levels,
            pending: List::default(),
            len: 0,
        }
    }

    /// The tick the wheel has been advanced to.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Entries linked (in slots or pending).
    #[cfg(all(test, not(gort_loom)))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `node`, due at tick `when` (clamped to `MAX_TICK`). A node due at or before
    /// `elapsed` goes straight to the pending list, to be handed out by the next `poll`.
    ///
    /// # Safety
    /// `node` is alive and unlinked, and stays alive until it is removed or handed out.
    pub(crate) unsafe fn insert(&mut self, node: NonNull<Node>, when: u64) {
        let when = when.min(MAX_TICK);
        self.len += 1;
        self.link(node, when);
    }

    fn link(&mut self, n: NonNull<Node>, when: u64) {
        if when <= self.elapsed {
            node(n).set(when, Place::Pending);
            self.pending.push_back(n);
            return;
        }
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        node(n).set(when, Place::Slot { level, slot });
        let lvl = &mut self.levels[level];
        lvl.slots[slot].push_back(n);
        lvl.occupied |= 1 << slot;
    }

    /// Unlinks `node` if it is linked; true if it was.
    ///
    /// # Safety
    /// `node` is alive and, if linked, linked in this wheel.
    pub(crate) unsafe fn remove(&mut self, n: NonNull<Node>) -> bool {
        let nd = node(n);
        match nd.place() {
            Place::Unlinked => return false,
            Place::Pending => self.pending.remove(n),
            Place::Slot { level, slot } => {
                let lvl = &mut self.levels[level];
                let list = &mut lvl.slots[slot];
                list.remove(n);
                if list.is_empty() {
                    lvl.occupied &= !(1 << slot);
                }
            }
        }
        nd.set(0, Place::Unlinked);
        self.len -= 1;
        true
    }

    /// The tick at which the next `poll` may hand something out: the earliest slot's start, or
    /// `elapsed` if entries are pending. `None` if the wheel is empty.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if !self.pending.is_empty() {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|e| e.deadline)
    }

    fn next_expiration(&self) -> Option<Expiration> {
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let now_slot = slot_for(self.elapsed, level);
            let rotated = lvl.occupied.rotate_right(now_slot as u32);
            let slot = (rotated.trailing_zeros() as usize + now_slot) % SLOTS;
            let slot_range = 1u64 << (level as u32 * SLOT_BITS);
            let level_range = slot_range << SLOT_BITS;
            let level_start = self.elapsed & !(level_range - 1);
            let mut deadline = level_start + slot as u64 * slot_range;
            if deadline < self.elapsed {
                // Invariant 2 rules this out; kept so a broken invariant delays, never loses.
                debug_assert!(false, "gort: timer wheel slot behind elapsed");
                deadline += level_range;
            }
            return Some(Expiration {
                level,
                slot,
                deadline,
            });
        }
        None
    }

    /// Hands out one entry due at or before `now`, advancing the wheel; `None` when nothing is
    /// due, after which `elapsed` is `now` (or stays, if `now` is in the past).
    ///
    /// # Safety
    /// Every linked node is alive.
    pub(crate) unsafe fn poll(&mut self, now: u64) -> Option<NonNull<Node>> {
        loop {
            if let Some(n) = self.pending.pop_front() {
                node(n).set(0, Place::Unlinked);
                self.len -= 1;
                return Some(n);
            }
            match self.next_expiration() {
                Some(exp) if exp.deadline <= now => self.cascade(exp),
                _ => {
                    self.elapsed = self.elapsed.max(now.min(MAX_TICK));
                    return None;
                }
            }
        }
    }

    /// Moves `elapsed` to the slot's start and re-links the slot's entries relative to it.
    fn cascade(&mut self, exp: Expiration) {
        let lvl = &mut self.levels[exp.level];
        let mut list = std::mem::take(&mut lvl.slots[exp.slot]);
        lvl.occupied &= !(1 << exp.slot);
        self.elapsed = exp.deadline;
        while let Some(n) = list.pop_front() {
            let when = node(n).when();
            self.link(n, when);
        }
    }
}

impl Drop for Wheel {
    fn drop(&mut self) {
        // The nodes belong to their timers; just mark them unlinked so a late cancel is a no-op.
        for lvl in self.levels.iter_mut() {
            for list in lvl.slots.iter_mut() {
                while let Some(n) = list.pop_front() {
                    node(n).set(0, Place::Unlinked);
                }
            }
        }
        while let Some(n) = self.pending.pop_front() {
            node(n).set(0, Place::Unlinked);
        }
    }
}
