//! How many free pages the page heap keeps from the OS: enough to get back to its peak use of
//! the last second (TCMalloc's "skip subrelease").
//!
//! The scavenger (`heap.rs`) gives back pages that have stayed free for a second. That alone
//! would still give back pages that the program's next rise needs, when the heap happened to
//! serve the last rise from other runs; the rise then takes them back page by page, each time
//! with a page fault and the kernel zeroing the page. So the heap also remembers its peak use
//! over the last [`WINDOW`] epochs, and the scavenger keeps `peak - in_use` free pages
//! unreleased: what a return to that peak would take. Only free pages beyond those go back. A
//! program whose use falls for good gets the difference back one window later, at its first
//! free after that.
//!
//! The window is a ring of per-epoch peaks, slot `epoch % WINDOW`. The heap reads the clock
//! only on frees, so between two reads it does not know which epoch a rise happened in: the
//! peak noted since the last read is charged to the epoch just before the new one, the latest
//! it could have happened in, where it stays in the window longest. Epochs skipped in between
//! start at zero. Everything here runs under the heap's lock.

/// Epochs the heap remembers its peak use over: 20 epochs of 50 ms, one second.
pub(crate) const WINDOW: usize = 20;

fn slot(epoch: u64) -> usize {
    (epoch % WINDOW as u64) as usize
}

/// The peak use, in pages, of each of the last [`WINDOW`] epochs.
#[derive(Debug)]
pub(crate) struct PeakWindow {
    peaks: [usize; WINDOW],
    /// The latest epoch the heap has read.
    epoch: u64,
}

impl PeakWindow {
    /// A window that starts at `epoch` with nothing in use.
    pub(crate) const fn new(epoch: u64) -> PeakWindow {
        PeakWindow {
            peaks: [0; WINDOW],
            epoch,
        }
    }

    /// The latest epoch the heap has read.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Use changed to `in_use` pages.
    #[inline]
    pub(crate) fn note(&mut self, in_use: usize) {
        let peak = &mut self.peaks[slot(self.epoch)];
        *peak = (*peak).max(in_use);
    }

    /// The clock reads epoch `now`, later than [`PeakWindow::epoch`]; `in_use` pages are in
    /// use.
    pub(crate) fn advance(&mut self, now: u64, in_use: usize) {
        let old = self.epoch;
        debug_assert!(now > old, "epochs only move forward");
        let carried = self.peaks[slot(old)];
        if now - old >= WINDOW as u64 {
            self.peaks = [0; WINDOW];
        } else {
            for epoch in old + 1..=now {
                self.peaks[slot(epoch)] = 0;
            }
        }
        let last = &mut self.peaks[slot(now - 1)];
        *last = (*last).max(carried);
        self.peaks[slot(now)] = in_use;
        self.epoch = now;
    }

    /// The highest use of the window, in pages.
    pub(crate) fn peak(&self) -> usize {
        self.peaks.iter().copied().max().unwrap_or(0)
    }

    /// Free pages to keep unreleased while `in_use` pages are in use.
    pub(crate) fn keep(&self, in_use: usize) -> usize {
        self.peak().saturating_sub(in_use)
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_peak_is_kept_for_one_window_then_forgotten() {
        let mut w = PeakWindow::new(100);
        w.note(50);
        w.note(10);
        w.advance(101, 10);
        assert_eq!(w.keep(10), 40, "back to the peak takes 40 pages");
        w.advance(100 + WINDOW as u64 - 1, 10);
        assert_eq!(w.peak(), 50, "charged to epoch 100, still in the window");
        w.advance(100 + WINDOW as u64, 10);
        assert_eq!(w.peak(), 10, "epoch 100 has left the window");
        assert_eq!(w.keep(10), 0);
    }

    #[test]
    fn a_rise_seen_late_is_charged_to_the_epoch_before_the_read() {
        let mut w = PeakWindow::new(0);
        // No read of the clock for ten windows, then a rise, then a read.
        w.note(70);
        w.advance(10 * WINDOW as u64, 5);
        assert_eq!(w.peak(), 70, "the rise may have come just before the read");
        w.advance(11 * WINDOW as u64 - 2, 5);
        assert_eq!(w.peak(), 70);
        w.advance(11 * WINDOW as u64, 5);
        assert_eq!(w.peak(), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Note(usize),
        Advance(u64, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..1000).prop_map(Op::Note),
            (1u64..30, 0usize..1000).prop_map(|(by, in_use)| Op::Advance(by, in_use)),
        ]
    }

    proptest! {
        /// Against a model that keeps every use with the epoch it is charged to: the use read
        /// with the clock in that epoch, and the highest use seen between two reads (the
        /// uses noted, and the one at the first read, which may have lasted) in the epoch
        /// before the second.
        #[test]
        fn peak_is_the_highest_use_charged_to_the_last_window(
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut w = PeakWindow::new(5);
            let mut charged: Vec<(u64, usize)> = vec![];
            let mut unread: Vec<usize> = vec![];
            let mut epoch = 5u64;
            let mut level = 0usize;
            for op in ops {
                match op {
                    Op::Note(in_use) => {
                        w.note(in_use);
                        unread.push(in_use);
                    }
                    Op::Advance(by, in_use) => {
                        let now = epoch + by;
                        w.advance(now, in_use);
                        let between = unread.drain(..).chain([level]);
                        charged.extend(between.map(|u| (now - 1, u)));
                        charged.push((now, in_use));
                        (epoch, level) = (now, in_use);
                    }
                }
                let window = epoch.saturating_sub(WINDOW as u64 - 1)..=epoch;
                let model = charged
                    .iter()
                    .filter(|(e, _)| window.contains(e))
                    .map(|&(_, u)| u)
                    .chain(unread.iter().copied())
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(w.peak(), model);
            }
        }
    }
}
