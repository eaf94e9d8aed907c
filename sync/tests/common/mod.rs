//! What the sync package's integration tests share: gort's allocator as the global one under
//! `--cfg gort_global_alloc` (see `.ci/run`), and a runtime of a given size.

#[cfg(gort_global_alloc)]
#[global_allocator]
static GLOBAL: gort_alloc::GortAlloc = gort_alloc::GortAlloc;

/// A runtime with `workers` workers (not every test file uses it).
#[allow(dead_code)]
pub(crate) fn rt(workers: usize) -> gort_runtime::Runtime {
    gort_runtime::Builder::new()
        .workers(workers)
        .build()
        .unwrap()
}
