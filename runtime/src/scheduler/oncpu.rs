//! Whether a worker's thread is on a CPU: what sysmon asks before it adds a thread.
//!
//! Go's sysmon hands a P to a new M only when the P's M is in a system call, which uses no
//! CPU; a goroutine that computes for too long is preempted instead. gort cannot preempt a
//! poll, and it cannot tell from the scheduler alone whether a stuck poll blocks (a blocking
//! call, a lock, a sleep) or computes. The kernel can: a thread's state in
//! `/proc/<pid>/task/<tid>/stat` is `R` while it runs or waits for a core, and `S` or `D`
//! while it sleeps in the kernel.
//!
//! Each worker opens its own `/proc/thread-self/stat` when it starts and keeps the file;
//! sysmon reads it from offset 0 (the kernel renders it afresh on each read) only for a
//! worker that has been stuck for 10 ms, so the cost is one small read per stuck worker per
//! look. Where there is no such file (other systems, a missing `/proc`, miri) the state is
//! unknown and sysmon relieves as if the thread were blocked, as it always did.

#[cfg(all(target_os = "linux", not(miri)))]
use std::{fs::File, os::unix::fs::FileExt};

/// The calling thread's scheduler state, readable from other threads.
pub(crate) struct ThreadState {
    #[cfg(all(target_os = "linux", not(miri)))]
    stat: Option<File>,
}

impl ThreadState {
    /// The calling thread's.
    pub(crate) fn current() -> ThreadState {
        ThreadState {
            #[cfg(all(target_os = "linux", not(miri)))]
            stat: File::open("/proc/thread-self/stat").ok(),
        }
    }

    /// `Some(true)` if the thread is running or runnable, `Some(false)` if it sleeps in the
    /// kernel, `None` if that cannot be known here.
    pub(crate) fn is_on_cpu(&self) -> Option<bool> {
        #[cfg(all(target_os = "linux", not(miri)))]
        {
            let mut buf = [0u8; 256];
            let n = self.stat.as_ref()?.read_at(&mut buf, 0).ok()?;
            parse_state(&buf[..n]).map(|state| state == b'R')
        }
        #[cfg(not(all(target_os = "linux", not(miri))))]
        None
    }
}

/// The state letter of a `stat` line: `tid (comm) S ...`, where `comm` may itself hold spaces
/// and parentheses, so the state is the first letter after the last `)`.
#[cfg_attr(not(all(target_os = "linux", not(miri))), allow(dead_code))]
fn parse_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat[close + 1..]
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        assert_eq!(parse_state(b"1240 (gort-worker-0) R 1234 1 1"), Some(b'R'));
        assert_eq!(parse_state(b"7 (a) b) (c) S 1"), Some(b'S'));
        assert_eq!(parse_state(b"7 (no close"), None);
        assert_eq!(parse_state(b"7 (x)"), None);
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn a_thread_that_computes_is_on_a_cpu_and_one_that_sleeps_is_not() {
        use std::sync::atomic::{AtomicBool, Ordering::*};
        use std::sync::{Arc, mpsc};
        use std::time::{Duration, Instant};
        // The calling thread is running as it asks.
        assert_eq!(ThreadState::current().is_on_cpu(), Some(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let sleeper = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                tx.send(ThreadState::current()).unwrap();
                while !stop.load(Relaxed) {
                    std::thread::park_timeout(Duration::from_secs(1));
                }
            })
        };
        let state = rx.recv().unwrap();
        // It parks at once and stays parked: within a second it must be seen asleep.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asleep = false;
        while !asleep && Instant::now() < deadline {
            asleep = state.is_on_cpu() == Some(false);
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Relaxed);
        sleeper.thread().unpark();
        sleeper.join().unwrap();
        assert!(asleep, "a parked thread was never seen asleep");
    }
}
