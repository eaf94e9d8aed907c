//! The heap under loom: each object its own allocation, listed so that a model can scan it,
//! with its colour in its header (`header.rs`). It stands in for gort-alloc's `GcSpace`, whose
//! own protocols gort-alloc's models check, so that gort-gc's models explore the collector's
//! protocols alone. Objects are never freed: a model checks marks, not sweeps.

use crate::header::Header;
use crate::loom::atomic::Ordering::Relaxed;
use std::alloc::Layout;
use std::ptr::NonNull;

pub(crate) struct Space {
    black: bool,
    pub(crate) objects: Vec<NonNull<Header>>,
}

impl Space {
    pub(crate) fn new() -> Space {
        Space {
            black: false,
            objects: Vec::new(),
        }
    }

    pub(crate) fn set_marking(&mut self, on: bool) {
        self.black = on;
    }

    pub(crate) fn alloc_uninit_finalizable(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.alloc_uninit(layout)
    }

    pub(crate) fn alloc_uninit(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        // SAFETY: a `GcBox` is never zero-sized (it has a header).
        let object = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        self.objects.push(object.cast());
        Some(object)
    }

    /// Black allocation, once the object's header is written.
    pub(crate) fn born(&mut self, header: NonNull<Header>) {
        if self.black {
            // SAFETY: the object was just written.
            unsafe { header.as_ref() }.marked.store(true, Relaxed);
        }
    }
}
