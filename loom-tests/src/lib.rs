//! Loom models of gort's public API.
//!
//! The models live in `tests/` and compile only with `--cfg gort_loom`, which switches every
//! atomic, lock, thread and thread-local of gort's crates to loom's (see `runtime/src/loom.rs`).
//! Run them with:
//!
//! ```text
//! RUSTFLAGS="--cfg gort_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p gort-loom-tests --release --target-dir target/loom
//! ```
//!
//! Models of internals (the run queue, task state transitions, parking) live beside the code
//! they check, in gort-runtime, under `#[cfg(all(test, gort_loom))]`.
