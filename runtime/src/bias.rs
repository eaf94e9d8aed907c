//! Biased locking: the lock word of `SpinLock`, which the thread that takes it most takes
//! without an atomic read-modify-write.
//!
//! An uncontended lock still costs a compare-and-swap, and on x86 every locked instruction
//! waits for the core's store buffer to drain: 6 ns per lock and unlock on our machines, three
//! quarters of a buffered channel operation and a third of arming and cancelling a timer. Yet
//! most of gort's locks are taken by one thread at a time for long stretches: a timer shard by
//! its own worker, a channel by the one worker a producer and its consumer share (a goroutine
//! woken by a channel operation runs next on the waker's worker). Java's biased locking (and
//! Dice, Moir and Scherer's "quickly reacquirable locks") serve that case, and so does this.
//!
//! # The protocol
//!
//! Every thread that takes a lock has a `Holder` record, numbered from 1. A lock's `owner` word
//! holds a record's number, with `BIASED` set once the lock is biased to it.
//!
//! - **Fast path** (the biased owner): store the lock's address in its own record's `slot`, a
//!   *light* fence, and check that `owner` still names it biased. If so it holds the lock; it
//!   unlocks by clearing `slot` (a release store). No read-modify-write either way.
//! - **Slow path** (everyone else, and the owner once revoked): take the lock word, a plain
//!   test-and-test-and-set spin lock (`spin.rs`), then `settle`. If the lock is biased to
//!   another record, **revoke**: store `owner = 0`, a *heavy* fence, then wait while that
//!   record's `slot` names this lock (its owner is inside, or about to find out that it lost).
//!
//! The fences are asymmetric (Linux's `membarrier`, as in liburcu and folly's
//! `asymmetricHeavyBarrier`): the light one is only a compiler fence, and the heavy one makes
//! every running thread of the process execute a full fence. Together they act as a pair of
//! `SeqCst` fences (Dekker's handshake), which is how the loom model represents them
//! (`loom_bias.rs`): either the owner's fast path reads `owner` after the revocation and backs
//! off, or the revoker sees the owner's `slot` and waits for its release store. So at any
//! time at most one thread holds the lock: the owner through its slot, or a holder of the word
//! that has revoked any bias first.
//!
//! A record's `slot` is written only by its thread and holds one lock at a time (a lock taken
//! while the slot is busy, nested, takes the slow path), so a thread that lost a bias and is
//! still in its fast path's window can never overwrite another owner's mark.
//!
//! # When a lock becomes biased
//!
//! A revocation is expensive where it matters: `membarrier` interrupts every core that runs a
//! thread of the process, 15 µs on our 2-core VMs when the other core is busy (0.1 µs when it
//! is idle), where a biased acquisition saves some 5 ns. So a lock is biased only to a thread
//! that has shown it keeps it: `settle` counts the consecutive slow acquisitions by one record
//! (`streak`), and at 4,096 of them biases the lock to it. While biased, the owner counts its
//! acquisitions in the same field. A revocation that finds the bias served at least 8,192 of
//! them lowers the lock's `penalty`, otherwise it raises it; at penalty 1 it takes 16,384
//! consecutive acquisitions to bias the lock, and at 2 it is never biased again. A lock that
//! threads take in turns (a channel between goroutines on two workers) is never biased, and
//! pays for the bookkeeping a load and two stores to a line it holds anyway. With a first
//! threshold of 64 the prime sieve's 5,000 short-lived channels saw 25,000 revocations a run
//! and ran 1.4 times slower; with 4,096, 10 to 200. With 16,384 the 4x4 MPMC bench lost most
//! of its gain (0.88 of kanal's time against 0.62), as its channel's runs on one worker are
//! biased less often.
//!
//! # Records
//!
//! Records are allocated in chunks that are never freed (a revoker may read the record of a
//! thread that has exited) and handed back when their thread exits, for the next new thread;
//! a thread that inherits a record inherits its biases, which is harmless: the exited thread
//! holds no lock. Threads beyond 65,536 alive at once, threads in a thread-local destructor
//! after their record went back, and machines without `membarrier` take the slow path always.

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::*};

/// Set in `owner` when the lock is biased to the record named in the other bits.
const BIASED: u32 = 1 << 31;
/// Consecutive slow acquisitions by one record before the lock is biased to it, at penalty 0;
/// four times as many at penalty 1.
const MIN_STREAK: u16 = 4096;
/// The penalty at which a lock is never biased again.
const NEVER: u8 = 2;
/// Acquisitions through a bias that paid for its revocation: the penalty goes down.
const PAYOFF: u16 = 8192;

/// Revocations so far, for the tests.
#[cfg(all(test, not(gort_loom)))]
pub(crate) static REVOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// A thread's record: the lock it holds through a bias, if any.
#[repr(align(64))]
pub(crate) struct Holder {
    /// The address of the lock held through the fast path; 0 when none. Read by revokers.
    slot: AtomicUsize,
    /// This record's number, from 1 (0: a placeholder, no thread's).
    index: u32,
}

impl Holder {
    pub(crate) fn new(index: u32) -> Holder {
        debug_assert!(index != 0 && index & BIASED == 0);
        Holder {
            slot: AtomicUsize::new(0),
            index,
        }
    }

    /// A record that is no thread's: what the slow path sees before a thread's first slow
    /// lock and where it has none.
    #[cfg(not(gort_loom))]
    const fn placeholder() -> Holder {
        Holder {
            slot: AtomicUsize::new(0),
            index: 0,
        }
    }

    /// True while this record holds a lock through its fast path.
    pub(crate) fn is_busy(&self) -> bool {
        self.slot.load(Relaxed) != 0
    }
}

/// The light side of the asymmetric fence: orders the owner's `slot` store before its second
/// read of `owner`, given the heavy side.
#[inline(always)]
fn light_fence() {
    #[cfg(gort_loom)]
    crate::loom::atomic::fence(SeqCst);
    #[cfg(not(gort_loom))]
    std::sync::atomic::compiler_fence(SeqCst);
}

/// What `settle` found, with the lock word held.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Settled {
    /// The lock is held, through the word.
    Held,
    /// The lock is held, through the word, and is biased to the caller: it may take it
    /// through the bias from now on.
    Mine,
    /// `try_lock` only: the biased owner is inside; the bias is restored and the word released.
    Busy,
}

/// The lock's words: the spin lock's, and the bias's. `repr(C)` and 8 bytes outside loom, so
/// that what a `SpinLock` guards starts 8 bytes in (see gort-sync's `chan/state.rs`).
#[repr(C)]
pub(crate) struct RawBiased {
    pub(crate) locked: AtomicBool,
    /// Raised at each revocation of a bias that served fewer than `PAYOFF` acquisitions,
    /// lowered at the others (under the lock word).
    penalty: UnsafeCell<u8>,
    /// Unbiased: consecutive slow acquisitions by the record in `owner`. Biased: acquisitions
    /// through the bias. Saturating; touched only by the lock's holder.
    streak: UnsafeCell<u16>,
    /// The record the lock is biased to (with `BIASED`), or the last one to take it slowly
    /// (without), or 0. Written only under the lock word.
    owner: AtomicU32,
}

#[cfg(not(gort_loom))]
const _: () = assert!(std::mem::size_of::<RawBiased>() == 8);

/// An unlocked, unbiased lock: one body for `new`, `const` outside loom only.
macro_rules! unlocked {
    () => {
        RawBiased {
            locked: AtomicBool::new(false),
            penalty: UnsafeCell::new(0),
            streak: UnsafeCell::new(0),
            owner: AtomicU32::new(0),
        }
    };
}

impl RawBiased {
    #[cfg(not(gort_loom))]
    pub(crate) const fn new() -> RawBiased {
        unlocked!()
    }

    #[cfg(gort_loom)]
    pub(crate) fn new() -> RawBiased {
        unlocked!()
    }

    /// Biases the lock to record `index` at once (the models start from a biased lock
    /// without 64 slow acquisitions). The caller holds the lock word.
    #[cfg(gort_loom)]
    pub(crate) fn bias_to(&self, index: u32) {
        self.owner.store(index | BIASED, Relaxed);
    }

    /// # Safety
    /// The caller holds the lock (through the word or the bias).
    unsafe fn streak(&self) -> u16 {
        // SAFETY: the caller holds the lock, through the word or the bias, so no other thread
        // writes the field meanwhile.
        self.streak.with(|s| unsafe { *s })
    }

    /// # Safety
    /// As for `streak`.
    unsafe fn set_streak(&self, value: u16) {
        // SAFETY: the caller holds the lock, through the word or the bias, so this thread is
        // the only one to touch the field.
        self.streak.with_mut(|s| unsafe { *s = value })
    }

    /// # Safety
    /// The caller holds the lock word (the bias's owner never touches the penalty).
    unsafe fn penalty(&self) -> u8 {
        // SAFETY: the caller holds the lock word, and only holders of the word touch the
        // field.
        self.penalty.with(|p| unsafe { *p })
    }

    /// # Safety
    /// As for `penalty`.
    unsafe fn set_penalty(&self, value: u8) {
        // SAFETY: the caller holds the lock word, and only holders of the word touch the
        // field (a biased owner never does).
        self.penalty.with_mut(|p| unsafe { *p = value })
    }

    pub(crate) fn addr(&self) -> usize {
        self as *const RawBiased as usize
    }

    #[cfg(all(test, not(gort_loom)))]
    pub(crate) fn is_biased(&self) -> bool {
        self.owner.load(Relaxed) & BIASED != 0
    }

    /// The fast path: takes the lock if it is biased to `me` and `me` holds no other lock
    /// through its bias.
    #[inline(always)]
    pub(crate) fn try_biased(&self, me: &Holder) -> bool {
        let word = me.index | BIASED;
        if self.owner.load(Relaxed) != word || me.slot.load(Relaxed) != 0 {
            return false;
        }
        me.slot.store(self.addr(), Relaxed);
        light_fence();
        // Acquire: nothing of the critical section moves above the check.
        if self.owner.load(Acquire) == word {
            // SAFETY: the lock is held through the bias, so no other thread touches the count:
            // a revoker reads it only after the owner's release store of `slot`.
            let served = unsafe { self.streak() };
            // SAFETY: as for the read just above: the lock is held through the bias.
            unsafe { self.set_streak(served.saturating_add(1)) };
            return true;
        }
        me.slot.store(0, Release);
        false
    }

    /// Releases a lock taken through the bias.
    #[inline(always)]
    pub(crate) fn unlock_biased(me: &Holder) {
        me.slot.store(0, Release);
    }

    /// Called with the lock word held: revokes another record's bias (waiting for its owner to
    /// leave), or counts towards biasing the lock to `me`. When `wait` is false and the owner
    /// is inside: `Busy`, with the bias restored and the lock word released.
    ///
    /// `record` finds a record by its number; `heavy_fence` is the heavy side of the fence and
    /// `relax` what to do between looks at the owner's slot. Inlined: every slow acquisition
    /// passes here, and on the common paths it is a load, a compare and at most two stores.
    #[inline(always)]
    pub(crate) fn settle<'r>(
        &self,
        me: Option<&Holder>,
        wait: bool,
        record: impl Fn(u32) -> &'r Holder,
        heavy_fence: impl Fn(),
        relax: impl Fn(u32),
    ) -> Settled {
        let word = self.owner.load(Relaxed);
        let mine = me.map_or(0, |h| h.index);
        if word & BIASED != 0 {
            if mine != 0 && word == mine | BIASED {
                // The owner itself: nested inside another biased lock (its slot is busy with
                // that one, so it cannot be inside this one), or it had forgotten the bias.
                return Settled::Mine;
            }
            return self.revoke(word, wait, record(word & !BIASED), heavy_fence, relax);
        }
        if mine == 0 {
            return Settled::Held;
        }
        // SAFETY: every call in the block reads or writes `streak` or `penalty`, whose contract
        // is that the caller holds the lock word: it does (we took it), and as the lock is not
        // biased no owner is inside through the bias either.
        unsafe {
            if word == mine {
                let streak = self.streak().saturating_add(1);
                self.set_streak(streak);
                let penalty = self.penalty();
                if penalty < NEVER && u32::from(streak) >= u32::from(MIN_STREAK) << (2 * penalty) {
                    self.owner.store(mine | BIASED, Relaxed);
                    return Settled::Mine;
                }
            } else {
                self.owner.store(mine, Relaxed);
                self.set_streak(1);
            }
        }
        Settled::Held
    }

    /// Revokes the bias of `holder`'s thread (`word`), then waits for it to leave (see
    /// `settle`). Out of line: rare, and a system call.
    #[cold]
    #[inline(never)]
    fn revoke(
        &self,
        word: u32,
        wait: bool,
        holder: &Holder,
        heavy_fence: impl Fn(),
        relax: impl Fn(u32),
    ) -> Settled {
        self.owner.store(0, Relaxed);
        heavy_fence();

        #[cfg(all(test, not(gort_loom)))]
        REVOCATIONS.fetch_add(1, Relaxed);
        let mut looks = 0;
        let inside = loop {
            if holder.slot.load(Acquire) != self.addr() {
                break false;
            }
            if !wait {
                break true;
            }
            relax(looks);
            looks = looks.saturating_add(1);
        };
        if inside {
            // `try_lock` gives up, and gives the bias back: the owner is inside, and a
            // later holder of the word that found the lock unbiased would join it there.
            // Its fast paths that failed meanwhile wait for the word, and take it as the
            // biased owner (above).
            self.owner.store(word, Relaxed);
            self.locked.store(false, Release);
            return Settled::Busy;
        }
        // SAFETY: every call in the block reads or writes `streak` or `penalty`, whose contract
        // is that the caller holds the lock: the lock word is ours, and the biased owner is out
        // (its release store of `slot` was read with Acquire, so its writes of `streak` are
        // visible and no more will come).
        unsafe {
            let penalty = self.penalty();
            self.set_penalty(if self.streak() >= PAYOFF {
                penalty.saturating_sub(1)
            } else {
                (penalty + 1).min(NEVER)
            });
            self.set_streak(0);
        }
        Settled::Held
    }
}

/// The records of the threads, the asymmetric fence and the thread's own record: the parts
/// that only exist outside loom (the model passes its records and fences explicitly).
#[cfg(not(gort_loom))]
pub(crate) mod thread {
    use super::Holder;
    use std::cell::Cell;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering::*};

    const CHUNK: usize = 256;
    const CHUNKS: usize = 256;
    /// Where the thread's record points before its first slow lock.
    static UNMADE: Holder = Holder::placeholder();
    /// Where it points after the thread's exit, or where it has none: slow path for good.
    static NONE: Holder = Holder::placeholder();

    static CHUNK_TABLE: [AtomicPtr<Holder>; CHUNKS] =
        [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

    /// Records handed out so far, and those given back.
    static FREE: Mutex<(u32, Vec<u32>)> = Mutex::new((0, Vec::new()));

    /// Slots of the thread's cache of locks biased to it.
    const HINTS: usize = 8;

    std::thread_local! {
        /// The thread's record: `UNMADE` until its first slow lock, `NONE` after its exit or
        /// where it has none.
        static ME: Cell<&'static Holder> = const { Cell::new(&UNMADE) };
        /// Addresses of locks biased to this thread, direct-mapped by address. The fast path
        /// reads a lock's `owner` only if its address is here: a lock word read before the
        /// compare-and-swap that takes it would fetch the line shared and then again
        /// exclusive, and a read of the thread's record before it would make the
        /// compare-and-swap wait for two dependent loads (select over four buffered channels
        /// shared by two workers lost 7 to 15% to those). A stale hint costs a load of the
        /// lock word; a missing one, the slow path, which puts it back.
        static HINTED: [Cell<usize>; HINTS] = const { [const { Cell::new(0) }; HINTS] };
        /// Gives the record back when the thread exits.
        static EXIT: Exit = const { Exit(Cell::new(0)) };
    }

    struct Exit(Cell<u32>);

    impl Drop for Exit {
        fn drop(&mut self) {
            let index = self.0.get();
            if index == 0 {
                return;
            }
            let _ = ME.try_with(|me| me.set(&NONE));
            debug_assert!(!record(index).is_busy(), "a thread exits holding a lock");
            FREE.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .1
                .push(index);
        }
    }

    /// Records made so far (for the tests: exited threads' records are reused).
    #[cfg(test)]
    pub(crate) fn records_made() -> u32 {
        FREE.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
    }

    /// The record numbered `index` (from 1).
    pub(crate) fn record(index: u32) -> &'static Holder {
        let i = index as usize - 1;
        let chunk = CHUNK_TABLE[i / CHUNK].load(Acquire);
        assert!(
            !chunk.is_null(),
            "gort: a lock names a record that was never made"
        );
        // SAFETY: chunks are leaked arrays of `CHUNK` records, published before any record in
        // them is handed out, and never freed.
        unsafe { &*chunk.add(i % CHUNK) }
    }

    /// The thread's record: a placeholder before the thread's first slow lock and where it
    /// has none.
    #[inline(always)]
    pub(crate) fn me() -> &'static Holder {
        ME.with(Cell::get)
    }

    fn hint_slot<R>(lock: usize, f: impl FnOnce(&Cell<usize>) -> R) -> R {
        HINTED.with(|hints| f(&hints[(lock >> 6) % HINTS]))
    }

    /// Whether the lock at `lock` was biased to this thread when it last looked.
    #[inline(always)]
    pub(crate) fn hinted(lock: usize) -> bool {
        hint_slot(lock, |slot| slot.get() == lock)
    }

    /// Remembers that the lock at `lock` is biased to this thread.
    #[inline(always)]
    pub(crate) fn hint(lock: usize) {
        hint_slot(lock, |slot| slot.set(lock));
    }

    /// Forgets it (the bias was revoked).
    #[inline(always)]
    pub(crate) fn unhint(lock: usize) {
        hint_slot(lock, |slot| slot.set(0));
    }

    /// The record for the slow path: made at the thread's first slow lock.
    #[inline(always)]
    pub(crate) fn record_or_make(me: &'static Holder) -> Option<&'static Holder> {
        if std::ptr::eq(me, &UNMADE) {
            return make();
        }
        (!std::ptr::eq(me, &NONE)).then_some(me)
    }

    /// Makes the thread's record, or marks it as having none (`NONE`) for good.
    #[cold]
    fn make() -> Option<&'static Holder> {
        let made = try_make();
        if made.is_none() {
            ME.with(|cell| cell.set(&NONE));
        }
        made
    }

    fn try_make() -> Option<&'static Holder> {
        if !heavy_available() {
            return None;
        }
        let index = {
            let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match free.1.pop() {
                Some(index) => index,
                None if (free.0 as usize) < CHUNK * CHUNKS => {
                    let i = free.0 as usize;
                    if i.is_multiple_of(CHUNK) {
                        let chunk: Box<[Holder]> = (0..CHUNK)
                            .map(|k| Holder::new((i + k + 1) as u32))
                            .collect();
                        CHUNK_TABLE[i / CHUNK].store(Box::leak(chunk).as_mut_ptr(), Release);
                    }
                    free.0 += 1;
                    free.0
                }
                None => return None,
            }
        };
        // Register the exit first: a thread past its thread-locals' destruction gets no record.
        if EXIT.try_with(|exit| exit.0.set(index)).is_err() {
            FREE.lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .1
                .push(index);
            return None;
        }
        let me = record(index);
        ME.with(|cell| cell.set(me));
        Some(me)
    }

    const UNKNOWN: u8 = 0;
    const AVAILABLE: u8 = 1;
    const UNAVAILABLE: u8 = 2;
    static HEAVY: AtomicU8 = AtomicU8::new(UNKNOWN);

    // Linux's `membarrier` commands (include/uapi/linux/membarrier.h).
    #[cfg(target_os = "linux")]
    const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
    #[cfg(target_os = "linux")]
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    #[cfg(target_os = "linux")]
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    #[cfg(target_os = "linux")]
    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: `membarrier` takes a command and two integer arguments and touches no memory
        // of ours.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Asks for the heavy fence ahead of the first lock that would (see `Builder::build`).
    pub(crate) fn prepare() {
        heavy_available();
    }

    /// Whether the heavy fence works here (asked, and the process registered, once): locks
    /// are biased only then.
    pub(crate) fn heavy_available() -> bool {
        match HEAVY.load(Relaxed) {
            AVAILABLE => true,
            UNAVAILABLE => false,
            _ => {
                let ok = register();
                HEAVY.store(if ok { AVAILABLE } else { UNAVAILABLE }, Relaxed);
                ok
            }
        }
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    fn register() -> bool {
        if std::env::var_os("GORT_NO_BIAS").is_some() {
            return false;
        }
        let commands = membarrier(MEMBARRIER_CMD_QUERY);
        commands >= 0
            && commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
            && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn register() -> bool {
        false
    }

    /// The heavy side: every running thread of the process executes a full fence before this
    /// returns. Only called once `heavy_available` said yes (a lock is biased only then).
    pub(crate) fn heavy_fence() {
        #[cfg(target_os = "linux")]
        if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 {
            return;
        }
        // Registered, yet refused: the bias cannot be revoked safely, and going on could let
        // two threads into one critical section.
        eprintln!("gort: membarrier failed after registration; aborting");
        std::process::abort();
    }
}
