//! Paired rounds: a ratio between gort and a peer that survives a machine whose speed drifts.
//!
//! The machines these benches run on change speed by up to 2x, in stretches of seconds to
//! minutes, with no other process running (a shared host: Go's anchors saw the same). Criterion
//! measures the functions of a group one after another, several seconds each, so gort's row and
//! a peer's can land in different stretches, and their ratio moves with the machine, not with
//! the code: the same binary gave a peer's row 7.9 ms in one minute and 16.5 ms in the next.
//!
//! A paired run takes one sample of every contender in turn, round after round, so that the
//! samples of one round are taken within a fraction of a second of each other: a stretch of a
//! slow machine slows all of them. The order rotates from round to round, so no contender
//! always runs first (after the idle gap) or right after one that left the caches cold. Each
//! round gives one ratio per peer, gort's sample over the peer's; the figure to quote is the
//! median of those ratios over the rounds, with the middle half of them as its spread. One
//! round is run first and thrown away (first touches of memory, threads starting).
//!
//! The contenders are closures that take and time one sample themselves, so the set-up they
//! need (a runtime, a channel) stays outside the timing, as in the criterion groups.

use std::time::Duration;

/// One contender of a paired run: its name and a closure that runs one sample and returns how
/// long the sample took.
pub struct Contender<'a> {
    name: String,
    sample: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    /// A contender called `name` whose samples `sample` takes and times.
    pub fn new(name: impl Into<String>, sample: impl FnMut() -> Duration + 'a) -> Contender<'a> {
        Contender {
            name: name.into(),
            sample: Box::new(sample),
        }
    }
}

/// The samples of a paired run: `samples[c][r]` is contender `c`'s sample of round `r`.
#[derive(Debug, Clone)]
pub struct Paired {
    names: Vec<String>,
    samples: Vec<Vec<Duration>>,
}

/// Runs `rounds` rounds of one sample of every contender (plus one round thrown away), the
/// order rotating by one each round.
pub fn run(rounds: usize, contenders: &mut [Contender<'_>]) -> Paired {
    assert!(rounds > 0 && !contenders.is_empty(), "nothing to pair");
    let n = contenders.len();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    for round in 0..=rounds {
        for k in 0..n {
            let c = (round + k) % n;
            let took = (contenders[c].sample)();
            if round > 0 {
                samples[c].push(took);
            }
        }
    }
    Paired {
        names: contenders.iter().map(|c| c.name.clone()).collect(),
        samples,
    }
}

impl Paired {
    /// The median sample of contender `c`.
    pub fn median(&self, c: usize) -> Duration {
        let mut s = self.samples[c].clone();
        s.sort_unstable();
        s[s.len() / 2]
    }

    /// The ratio of contender `a`'s sample to contender `b`'s, round by round, sorted: its
    /// first quartile, median and third quartile.
    pub fn ratio_quartiles(&self, a: usize, b: usize) -> [f64; 3] {
        let mut r: Vec<f64> = self.samples[a]
            .iter()
            .zip(&self.samples[b])
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect();
        r.sort_unstable_by(f64::total_cmp);
        let at = |q: f64| r[((r.len() - 1) as f64 * q).round() as usize];
        [at(0.25), at(0.5), at(0.75)]
    }

    /// Prints one markdown row per peer of contender 0 (gort): the workload, the peer, both
    /// medians divided by `per` (the sample's units of work, named `unit`), and the median
    /// ratio of the rounds with the middle half of them.
    pub fn print_rows(&self, workload: &str, per: u64, unit: &str) {
        let scaled = |d: Duration| {
            let v = d.as_secs_f64() / per as f64;
            if v >= 1e-3 {
                format!("{:.2} ms{unit}", v * 1e3)
            } else if v >= 1e-6 {
                format!("{:.1} µs{unit}", v * 1e6)
            } else {
                format!("{:.1} ns{unit}", v * 1e9)
            }
        };
        for peer in 1..self.names.len() {
            let [q1, mid, q3] = self.ratio_quartiles(0, peer);
            println!(
                "| {workload} | {} | {} | {} | **{mid:.2}** ({q1:.2} to {q3:.2}) |",
                self.names[peer],
                scaled(self.median(0)),
                scaled(self.median(peer)),
            );
        }
    }

    /// The header of the table [`Paired::print_rows`] writes, for `rounds` rounds.
    pub fn print_header(title: &str, rounds: usize) {
        println!("\n{title}: {rounds} paired rounds, order rotating (see `paired.rs`)\n");
        println!(
            "| workload | peer | gort (median) | peer (median) | gort / peer: median of rounds (middle half) |"
        );
        println!("| --- | --- | --- | --- | --- |");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_and_ratios_pair_samples_of_one_round() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut t = 0u64;
        let mut a_tick = 0u64;
        let mut contenders = vec![
            Contender::new("a", || {
                order.borrow_mut().push('a');
                a_tick += 1;
                Duration::from_millis(a_tick)
            }),
            Contender::new("b", || {
                order.borrow_mut().push('b');
                t += 1;
                Duration::from_millis(2 * t)
            }),
        ];
        let p = run(3, &mut contenders);
        drop(contenders);
        assert_eq!(order.into_inner(), ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
        // The thrown-away round took a = 1, b = 2; then a = 2, 3, 4 and b = 4, 6, 8.
        assert_eq!(p.median(0), Duration::from_millis(3));
        assert_eq!(p.median(1), Duration::from_millis(6));
        assert_eq!(p.ratio_quartiles(0, 1), [0.5, 0.5, 0.5]);
    }
}
