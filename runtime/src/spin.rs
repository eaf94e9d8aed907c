//! A test-and-test-and-set spin lock for critical sections of a few dozen instructions (Go's
//! runtime `lock` spins before it sleeps, for the same reason): the lock of a channel and of a
//! timer shard.
//!
//! Those critical sections move a value and a few pointers; they never run user code other
//! than cloning a `Waker`, and never block. For such sections a futex mutex costs more than it
//! saves: its unlock must be a read-modify-write to learn whether to wake a sleeper, and once
//! contended it wakes through a system call. Here the fast path is one compare-and-swap to lock
//! and one release store to unlock.
//!
//! Contention is where a spin lock wins or loses. A locker that retries as soon as the lock is
//! free makes the lock's cache line, and the data it guards, move between cores at every
//! critical section: two workers hammering one channel then pay a cache miss per operation. So
//! a contended locker looks four times, one spin-loop hint apart (a short critical section may
//! be ending), then backs off for a randomised 1 to 3 µs between looks (the randomness keeps
//! waiters from retrying in step). Meanwhile the holder can take the lock again and again with
//! its lines in place: under contention the lock passes in runs rather than in turns, which
//! took the 4x4 MPMC bench from 45-95 ms to 28-52 ms. Longer pauses help MPMC more but delay a
//! lone waiter on the critical path (the consumer of a `select!` fan-in) by as much: with 3 to
//! 9 µs, MPMC took 17% less time and the 4-way select fan-in 25% more.
//!
//! The back-off is timed, not counted: a spin-loop hint lasts 9 ns on one machine of ours and
//! about 45 on another, and a fixed count of hints (32 to 95, tuned on the second) made the
//! 4x4 MPMC bench 1.8 times slower on the first. Its length in hints is measured once per
//! process, at the first contended lock. The lock is unfair in the short run, as Go's runtime
//! lock and kanal's are.
//!
//! After two long rounds (2 to 6 µs of waiting) the waiter sleeps its thread for 50 µs between
//! looks (plus the kernel's timer slack, 50 µs by default), as Go's runtime lock sleeps its M
//! and kanal's lock sleeps for a millisecond. A wait that long means the holder is in a long
//! run, or the OS preempted it: either way the waiting core can do nothing useful, and while it
//! spins, each look it takes, and each critical section it wins between the holder's, moves the
//! channel's lines to it and back. Asleep, it lets the holder run alone with its lines in place;
//! the goroutines queued behind the sleeper stay stealable by other workers. Measured in paired
//! rounds (one process, alternating): the 4x4 MPMC bench 1.3 times faster than with the
//! spinning rounds only, and no change on SPSC, ping-pong or the select fan-ins, whose waits
//! rarely last two rounds. Sleeping after four rounds instead of two gained about half as
//! much; a back-off that doubles each round instead of sleeping, 1.13 times.
//!
//! A lock that one thread takes again and again becomes biased to it (`bias.rs`): that
//! thread then takes and releases it with plain stores, and anyone else revokes the bias first.
//!
//! Under loom the lock is loom's `Mutex`, so the models explore its interleavings; the bias
//! has a model of its own (`loom_bias.rs`).
//!
//! gort-sync uses it too, through `gort_runtime::__private`; it is not part of the public API.

#[cfg(not(gort_loom))]
pub use imp::{SpinGuard, SpinLock};

#[cfg(gort_loom)]
pub use loom_imp::{SpinGuard, SpinLock};

#[cfg(not(gort_loom))]
mod imp {
    use crate::bias::{self, Holder, RawBiased, Settled};
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicU32, Ordering::*};
    use std::time::Duration;

    /// Quick looks, one spin-loop hint apart, before the long back-off.
    const SHORT_ROUNDS: u32 = 4;
    /// A long back-off round lasts one to three times this, in spin-loop hints.
    const BACKOFF_MIN_NS: u64 = 1_000;
    /// Long back-off rounds after which the waiter sleeps its thread between looks.
    const SLEEP_AFTER: u32 = 2;
    /// How long it sleeps.
    const SLEEP: Duration = Duration::from_micros(50);

    /// How many spin-loop hints last `BACKOFF_MIN_NS` on this CPU, measured once.
    ///
    /// A hint (`pause` on x86) costs 10 cycles on some CPUs and 140 on others, so a back-off
    /// counted in hints is ten times longer on one machine than on another; the lock's
    /// behaviour under contention depends on its length in time.
    fn backoff_min() -> u32 {
        static HINTS: AtomicU32 = AtomicU32::new(0);
        match HINTS.load(Relaxed) {
            0 => {
                let hints = calibrate();
                HINTS.store(hints, Relaxed);
                hints
            }
            hints => hints,
        }
    }

    /// Times a run of hints (the fastest of three, as a preemption only makes one slower).
    #[cold]
    fn calibrate() -> u32 {
        const PROBE: u32 = 1_000;
        if cfg!(miri) {
            return 32;
        }
        let fastest = (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..PROBE {
                    std::hint::spin_loop();
                }
                start.elapsed().as_nanos().max(1)
            })
            .min()
            .expect("three probes");
        let hints = u128::from(BACKOFF_MIN_NS) * u128::from(PROBE) / fastest;
        hints.clamp(8, 4_096) as u32
    }

    /// A spin lock around a `T`.
    ///
    /// `repr(C)`: the lock's 8 bytes of words come first, so the value's first fields share
    /// their cache line (a channel keeps there what every operation writes, see `gort-sync`'s
    /// `chan/state.rs`).
    #[repr(C)]
    pub struct SpinLock<T> {
        raw: RawBiased,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out `&mut T` to one holder at a time; `T: Send` lets it move
    // between the threads that hold it in turn.
    unsafe impl<T: Send> Send for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T> SpinLock<T> {
        /// An unlocked lock around `value`.
        pub const fn new(value: T) -> SpinLock<T> {
            SpinLock {
                raw: RawBiased::new(),
                value: UnsafeCell::new(value),
            }
        }

        /// Takes the lock, spinning (then sleeping the thread) while another holds it.
        /// Always inlined, as every channel operation's first step: left to itself the compiler
        /// called it out of line once the bias made it longer, which cost select over four
        /// buffered channels 6%.
        #[inline(always)]
        pub fn lock(&self) -> SpinGuard<'_, T> {
            if let Some(guard) = self.try_biased() {
                return guard;
            }
            if self
                .raw
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            self.settle(true);
            SpinGuard {
                lock: self,
                biased: None,
            }
        }

        /// The fast path, if this thread has seen the lock biased to it.
        #[inline(always)]
        fn try_biased(&self) -> Option<SpinGuard<'_, T>> {
            let addr = self.raw.addr();
            if !bias::thread::hinted(addr) {
                return None;
            }
            let me = bias::thread::me();
            if self.raw.try_biased(me) {
                return Some(SpinGuard {
                    lock: self,
                    biased: Some(me),
                });
            }
            bias::thread::unhint(addr);
            None
        }

        /// The lock if it is free now, without waiting (a bias held by another thread is
        /// revoked, and if that thread is inside, the lock is not free).
        #[inline]
        pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
            if let Some(guard) = self.try_biased() {
                return Some(guard);
            }
            self.raw
                .locked
                .compare_exchange(false, true, Acquire, Relaxed)
                .ok()?;
            self.settle(false).then_some(SpinGuard {
                lock: self,
                biased: None,
            })
        }

        /// With the lock word held: revokes another thread's bias or counts towards one for
        /// this thread (see `bias.rs`). False if `wait` is false and the biased owner is
        /// inside; the lock word is released then.
        #[inline(always)]
        fn settle(&self, wait: bool) -> bool {
            let settled = self.raw.settle(
                bias::thread::record_or_make(bias::thread::me()),
                wait,
                bias::thread::record,
                bias::thread::heavy_fence,
                |looks| {
                    if looks < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                },
            );
            if settled == Settled::Mine {
                bias::thread::hint(self.raw.addr());
            }
            settled != Settled::Busy
        }

        #[cold]
        fn lock_contended(&self) {
            // A short critical section is likely to end within a few hints: look again soon.
            for _ in 0..SHORT_ROUNDS {
                std::hint::spin_loop();
                if self.try_acquire() {
                    return;
                }
            }
            let mut rounds = 0u32;
            loop {
                // The holder is in a run: back off for a randomised while before looking again,
                // so that it keeps its cache lines while it runs.
                let min = backoff_min();
                for _ in 0..min + fastrand::u32(..min * 2) {
                    std::hint::spin_loop();
                }
                if self.try_acquire() {
                    return;
                }
                rounds += 1;
                if rounds >= SLEEP_AFTER {
                    std::thread::sleep(SLEEP);
                    if self.try_acquire() {
                        return;
                    }
                }
            }
        }

        /// Whether the lock is biased to some thread now.
        #[cfg(test)]
        pub(crate) fn is_biased(&self) -> bool {
            self.raw.is_biased()
        }

        /// Test, then test-and-set: a failing CAS would take the line from the holder.
        #[inline]
        fn try_acquire(&self) -> bool {
            !self.raw.locked.load(Relaxed)
                && self
                    .raw
                    .locked
                    .compare_exchange_weak(false, true, Acquire, Relaxed)
                    .is_ok()
        }
    }

    /// Holds the lock; unlocks when dropped.
    pub struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
        /// The thread's record if the lock was taken through its bias.
        biased: Option<&'static Holder>,
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;

        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock, so no `&mut T` exists elsewhere.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock, so this is the only reference.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            match self.biased {
                Some(me) => RawBiased::unlock_biased(me),
                None => self.lock.raw.locked.store(false, Release),
            }
        }
    }
}

#[cfg(gort_loom)]
mod loom_imp {
    /// loom's `Mutex`, standing in for the spin lock.
    pub struct SpinLock<T>(loom::sync::Mutex<T>);
    /// loom's guard.
    pub type SpinGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        /// An unlocked lock around `value`.
        pub fn new(value: T) -> SpinLock<T> {
            SpinLock(loom::sync::Mutex::new(value))
        }

        /// Takes the lock.
        pub fn lock(&self) -> SpinGuard<'_, T> {
            self.0
                .lock()
                .expect("spin-locked critical sections do not panic")
        }

        /// The lock if it is free now.
        pub fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::SpinLock;
    use std::sync::Arc;
    use std::time::Duration;

    /// Threads that take the lock in short and in long-held turns (long enough that waiters
    /// reach the sleeping rounds) never overlap inside it and lose no increment.
    #[test]
    fn long_and_short_holders_exclude_each_other() {
        const THREADS: u64 = 3;
        const TURNS: u64 = 20_000;
        let lock = Arc::new(SpinLock::new((0u64, false)));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for i in 0..TURNS {
                        let mut guard = lock.lock();
                        assert!(!guard.1, "two holders at once");
                        guard.1 = true;
                        if i % 2_000 == t {
                            // Held long enough for every waiter to sleep.
                            std::thread::sleep(Duration::from_micros(300));
                        }
                        guard.0 += 1;
                        guard.1 = false;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("a locker panicked");
        }
        assert_eq!(lock.lock().0, THREADS * TURNS);
    }

    /// A waiter whose holder keeps the lock for milliseconds still gets it once it is free.
    #[test]
    fn a_sleeping_waiter_takes_the_lock_once_it_is_free() {
        let lock = Arc::new(SpinLock::new(0u32));
        let guard = lock.lock();
        let waiter = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || *lock.lock() += 1)
        };
        std::thread::sleep(Duration::from_millis(5));
        drop(guard);
        waiter.join().expect("the waiter panicked");
        assert_eq!(*lock.lock(), 1);
        assert!(lock.try_lock().is_some());
    }

    /// A lock that one thread takes again and again becomes biased to it (where the machine
    /// has the asymmetric fence), and loses the bias when another thread takes it.
    #[test]
    fn a_lock_taken_by_one_thread_becomes_biased_to_it() {
        let lock = Arc::new(SpinLock::new(0u32));
        for _ in 0..5_000 {
            *lock.lock() += 1;
        }
        if !crate::bias::thread::heavy_available() {
            assert!(!lock.is_biased());
            return;
        }
        assert!(
            lock.is_biased(),
            "5,000 acquisitions by one thread did not bias the lock"
        );
        {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || *lock.lock() += 1)
                .join()
                .expect("the other thread panicked");
        }
        assert!(!lock.is_biased());
        assert_eq!(*lock.lock(), 5_001);
    }

    /// A lock biased to one thread, then taken by four threads in runs long enough to bias it
    /// again, with `lock` and `try_lock`: never two inside, no increment lost, and the bias was
    /// revoked along the way.
    #[test]
    fn biased_owners_and_revokers_exclude_each_other() {
        const THREADS: u64 = 4;
        const RUNS: u64 = 10;
        const RUN: u64 = 5_000;
        let lock = Arc::new(SpinLock::new((0u64, false)));
        let mut done = 0;
        for _ in 0..40_000 {
            lock.lock().0 += 1;
            done += 1;
        }
        let available = crate::bias::thread::heavy_available();
        assert_eq!(lock.is_biased(), available);
        let before = crate::bias::REVOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    let mut done = 0;
                    for run in 0..RUNS {
                        for i in 0..RUN {
                            let mut guard = if (run + i + t) % 7 == 0 {
                                match lock.try_lock() {
                                    Some(guard) => guard,
                                    None => continue,
                                }
                            } else {
                                lock.lock()
                            };
                            assert!(!guard.1, "two holders at once");
                            guard.1 = true;
                            std::hint::spin_loop();
                            guard.0 += 1;
                            guard.1 = false;
                            done += 1;
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    done
                })
            })
            .collect();
        done += threads
            .into_iter()
            .map(|thread| thread.join().expect("a locker panicked"))
            .sum::<u64>();
        assert_eq!(lock.lock().0, done);
        if available {
            let after = crate::bias::REVOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
            assert!(after > before, "the bias was never revoked");
        }
    }

    /// Threads that come and go, one after another, each biasing a lock to itself: an exited
    /// thread's record goes to the next thread, which inherits the biases made to it (and
    /// takes the lock through them), and records are not made anew for each thread.
    #[test]
    fn exited_threads_hand_their_records_on() {
        if !crate::bias::thread::heavy_available() {
            return;
        }
        const THREADS: u32 = 40;
        let lock = Arc::new(SpinLock::new(0u64));
        let before = crate::bias::thread::records_made();
        for _ in 0..THREADS {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    *lock.lock() += 1;
                }
            })
            .join()
            .expect("a locker panicked");
        }
        assert_eq!(*lock.lock(), u64::from(THREADS) * 5_000);
        let made = crate::bias::thread::records_made() - before;
        // Other tests' threads run meanwhile and take records too, but far fewer than one per
        // thread here.
        assert!(
            made < THREADS / 2,
            "{made} records made for {THREADS} threads in turn"
        );
    }
}
