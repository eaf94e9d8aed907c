//! Binding a thread cache to each thread, without the allocator ever calling itself.
//!
//! The cache lives in a `thread_local!` that is const-initialised and has no destructor, so
//! reaching it never allocates and never fails, even while the thread's other thread-locals are
//! being destroyed. Handing the cache's spans back when the thread exits needs a destructor,
//! so that lives in a second, zero-sized thread-local, `EXIT`, whose first touch registers it;
//! on glibc that registration itself calls `calloc`, which may be this allocator. A state byte
//! in the first thread-local breaks the cycle:
//!
//! - `UNBOUND`: the thread has not allocated yet. The first allocation sets `REGISTERING`,
//!   touches `EXIT`, then sets `ACTIVE`.
//! - `REGISTERING`: an allocation made by the registration itself; it must not use the cache
//!   (which the outer call is about to), so it takes the shared path.
//! - `ACTIVE`: the cache is usable.
//! - `EXITED`: `EXIT`'s destructor has handed the cache back; allocations and frees made by
//!   later destructors of this thread take the shared path.
//!
//! The shared path allocates through one cache behind a lock (`global.rs`) and frees through
//! the span's remote-free list, which is correct from any thread.
//!
//! # The fast paths skip the state
//!
//! A cache holds spans only while `ACTIVE`: it takes spans only through [`with_cache`], which
//! hands it out only then, and the exit destructor gives every span back (resetting each
//! span's `owner`) as it sets `EXITED`. So [`with_cache_fast`] hands out the cache whatever the
//! state, for work that only touches spans the cache already holds: allocating from a current
//! span (there is none unless `ACTIVE`) and freeing into a span whose `owner` is this cache
//! (there is none unless `ACTIVE`). Anything else falls back to [`with_cache`].

use crate::cache::MCache;
use crate::global::global;
use std::cell::{Cell, UnsafeCell};

const UNBOUND: u8 = 0;
const REGISTERING: u8 = 1;
const ACTIVE: u8 = 2;
const EXITED: u8 = 3;

struct Local {
    state: Cell<u8>,
    cache: UnsafeCell<MCache>,
}

/// Hands the thread's cache back when the thread exits.
struct Exit;

impl Drop for Exit {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|local| {
            if local.state.replace(EXITED) == ACTIVE
                && let Some(global) = global()
            {
                // SAFETY: no `with_cache` call is running on this thread (destructors run
                // after the thread's code), so the cache is not borrowed.
                unsafe { (*local.cache.get()).flush(global) };
            }
        });
    }
}

std::thread_local! {
    static LOCAL: Local = const {
        Local {
            state: Cell::new(UNBOUND),
            cache: UnsafeCell::new(MCache::new()),
        }
    };
    static EXIT: Exit = const { Exit };
}

/// Runs `f` with this thread's cache whatever its state ("The fast paths skip the state");
/// `None` if the thread-local is out of reach. `f` must only use spans the cache already
/// holds, and must not allocate through the global allocator.
#[inline]
pub(crate) fn with_cache_fast<R>(f: impl FnOnce(&mut MCache) -> R) -> Option<R> {
    let cache = LOCAL.try_with(|local| local.cache.get()).ok()?;
    // SAFETY: `LOCAL` has no destructor, so its storage lives as long as the thread. No other
    // borrow of the cache is live: `with_cache` callers and the exit destructor do not allocate
    // or free through the global allocator while they hold it, and neither does `f`.
    Some(f(unsafe { &mut *cache }))
}

/// Runs `f` with this thread's cache, or with `None` when the thread cannot use one (module
/// docs). `f` must not allocate through the global allocator.
#[inline]
pub(crate) fn with_cache<R>(f: impl FnOnce(Option<&mut MCache>) -> R) -> R {
    let local = LOCAL.try_with(|local| local as *const Local);
    let Ok(local) = local else {
        return f(None);
    };
    // SAFETY: `LOCAL` has no destructor, so its storage lives as long as the thread, and the
    // pointer does not leave this thread.
    let local = unsafe { &*local };
    match local.state.get() {
        ACTIVE => {}
        UNBOUND if register(local) => {}
        _ => return f(None),
    }
    // SAFETY: the state is `ACTIVE` and `f` does not allocate through the global allocator, so
    // no other `with_cache` call on this thread borrows the cache meanwhile; the exit
    // destructor runs only after this thread's code.
    f(Some(unsafe { &mut *local.cache.get() }))
}

/// Registers the exit hook of an `UNBOUND` thread (module docs); true if the cache is now
/// `ACTIVE`. Out of line: it runs once per thread, and inlined it would cost every caller of
/// [`with_cache`] registers to save.
#[cold]
#[inline(never)]
fn register(local: &Local) -> bool {
    local.state.set(REGISTERING);
    let registered = EXIT.try_with(|_| ()).is_ok();
    local.state.set(if registered { ACTIVE } else { EXITED });
    registered
}
