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

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A future polled by hand, off any runtime, with a waker that counts its wake-ups (not every
/// test file uses it).
#[allow(dead_code)]
pub(crate) struct Hand<F: std::future::Future> {
    future: std::pin::Pin<Box<F>>,
    wakes: std::sync::Arc<Count>,
    waker: std::task::Waker,
}

#[allow(dead_code)]
impl<F: std::future::Future> Hand<F> {
    pub(crate) fn new(future: F) -> Hand<F> {
        let wakes = std::sync::Arc::new(Count::default());
        Hand {
            future: Box::pin(future),
            waker: std::task::Waker::from(wakes.clone()),
            wakes,
        }
    }

    pub(crate) fn poll(&mut self) -> std::task::Poll<F::Output> {
        let mut cx = std::task::Context::from_waker(&self.waker);
        self.future.as_mut().poll(&mut cx)
    }

    /// How many times its waker was woken.
    pub(crate) fn woken(&self) -> usize {
        self.wakes.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
