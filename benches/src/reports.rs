//! Which of a bench binary's own reports (the paired tables and the like, printed before
//! criterion's groups) a run asks for.
//!
//! The reports read criterion's command line: `cargo bench --bench gc -- gc_pause` runs the
//! reports whose name contains a filter (`gc_pause` here), none when criterion is only listing
//! its benchmarks (`--list`), and all of them when no filter is given. Flags (arguments that
//! start with `-`) are criterion's and are not filters.

/// Whether the report called `report` should run (see the module's docs).
///
/// ```
/// // The doctest's own command line has no filter: every report runs.
/// assert!(gort_benches::reports::wanted("paired"));
/// ```
pub fn wanted(report: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    wanted_by(&args, report)
}

fn wanted_by(args: &[String], report: &str) -> bool {
    if args.iter().any(|arg| arg == "--list") {
        return false;
    }
    let mut filters = args.iter().filter(|arg| !arg.starts_with('-')).peekable();
    filters.peek().is_none() || filters.any(|filter| report.contains(filter.as_str()))
}

#[cfg(test)]
mod tests {
    use super::wanted_by;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn filters_pick_reports_by_substring_and_listing_runs_none() {
        assert!(wanted_by(&args(&["--bench"]), "paired"));
        assert!(wanted_by(&args(&["--bench", "pair"]), "paired"));
        assert!(!wanted_by(&args(&["--bench", "gc_pause"]), "paired"));
        assert!(wanted_by(&args(&["x", "gc_pause"]), "gc_pause"));
        assert!(!wanted_by(&args(&["--list"]), "paired"));
    }
}
