//! GortAlloc against a model of live blocks (DESIGN.md, "Checking it"): random sequences of
//! alloc, alloc_zeroed, realloc and dealloc, checked after every step. This binary does not
//! install GortAlloc globally, and holds one test, so the allocator's statistics count only
//! the blocks the model makes.
//!
//! The model keeps each live block's address, layout and fill byte. The properties:
//!
//! - alignment: every block is aligned as asked, up to 64 KiB (past a page, the large path);
//! - no overlap: live blocks never share a byte;
//! - contents: a block keeps its bytes until freed, and realloc keeps the common prefix;
//! - zeroing: `alloc_zeroed` blocks read as zeroes, even on reused memory;
//! - accounting: once every block is freed, every size class has as many frees as allocations;
//! - reuse: after everything is freed, allocating the same layouts again needs no more pages
//!   in use than the blocks held before they were freed;
//! - statistics: live bytes fit in the pages in use, which with the released pages fit in
//!   what is mapped (the inequalities of Go's `TestMemStats`).

use gort_alloc::GortAlloc;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align_log: u32,
        zeroed: bool,
    },
    Realloc {
        pick: usize,
        size: usize,
    },
    Free {
        pick: usize,
    },
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..=64,
        4 => 65usize..=4096,
        2 => 4097usize..=40_000,
        1 => 40_001usize..=300_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size(), prop_oneof![8 => 0u32..=4, 2 => 5u32..=13, 1 => 14u32..=16], any::<bool>())
            .prop_map(|(size, align_log, zeroed)| Op::Alloc { size, align_log, zeroed }),
        2 => (any::<usize>(), size()).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
    ]
}

struct Block {
    layout: Layout,
    fill: u8,
    /// The size that chose the block's slot: a small block resized in place keeps its slot.
    request: usize,
}

/// Live blocks by address.
#[derive(Default)]
struct Model {
    blocks: BTreeMap<usize, Block>,
    next_fill: u8,
}

impl Model {
    fn check_no_overlap(&self, addr: usize, size: usize) {
        if let Some((&before, block)) = self.blocks.range(..=addr).next_back() {
            assert!(
                before + block.layout.size().max(1) <= addr,
                "{addr:#x} overlaps {before:#x}"
            );
        }
        if let Some((&after, _)) = self.blocks.range(addr + 1..).next() {
            assert!(addr + size.max(1) <= after, "{addr:#x} overlaps {after:#x}");
        }
    }

    fn check_contents(addr: usize, len: usize, fill: u8) {
        // SAFETY: the block is live and at least `len` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
        assert!(
            bytes.iter().all(|b| *b == fill),
            "block {addr:#x} lost its contents"
        );
    }

    fn insert(&mut self, addr: usize, layout: Layout, request: usize) {
        assert_ne!(addr, 0, "out of memory for {layout:?}");
        assert_eq!(
            addr % layout.align(),
            0,
            "{addr:#x} misaligned for {layout:?}"
        );
        self.check_no_overlap(addr, layout.size());
        self.next_fill = self.next_fill.wrapping_add(1).max(1);
        // SAFETY: the block is live and `layout.size()` bytes long.
        unsafe { (addr as *mut u8).write_bytes(self.next_fill, layout.size()) };
        let fill = self.next_fill;
        self.blocks.insert(
            addr,
            Block {
                layout,
                fill,
                request,
            },
        );
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        if self.blocks.is_empty() {
            return None;
        }
        self.blocks.keys().nth(pick % self.blocks.len()).copied()
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Alloc {
                size,
                align_log,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
                // SAFETY: any layout; zero-size ones are handled by the allocator.
                let addr = unsafe {
                    if zeroed {
                        GortAlloc.alloc_zeroed(layout)
                    } else {
                        GortAlloc.alloc(layout)
                    }
                } as usize;
                if zeroed {
                    Self::check_contents(addr, size, 0);
                }
                self.insert(addr, layout, size);
            }
            Op::Realloc { pick, size } => {
                let Some(addr) = self.pick(pick) else { return };
                let block = self.blocks.remove(&addr).unwrap();
                Self::check_contents(addr, block.layout.size(), block.fill);
                // SAFETY: a live block with its layout.
                let moved =
                    unsafe { GortAlloc.realloc(addr as *mut u8, block.layout, size) } as usize;
                let kept = block.layout.size().min(size);
                Self::check_contents(moved, kept, block.fill);
                let align = block.layout.align();
                let small = gort_alloc::size_class_of(size, align).is_some();
                let request = if moved == addr && small {
                    block.request
                } else {
                    size
                };
                self.insert(
                    moved,
                    Layout::from_size_align(size, align).unwrap(),
                    request,
                );
            }
            Op::Free { pick } => {
                let Some(addr) = self.pick(pick) else { return };
                let block = self.blocks.remove(&addr).unwrap();
                Self::check_contents(addr, block.layout.size(), block.fill);
                // SAFETY: a live block with its layout.
                unsafe { GortAlloc.dealloc(addr as *mut u8, block.layout) };
            }
        }
    }

    /// Frees every block; returns the layouts that would take the same slots again.
    fn free_all(&mut self) -> Vec<Layout> {
        let blocks = std::mem::take(&mut self.blocks);
        blocks
            .into_iter()
            .map(|(addr, block)| {
                Self::check_contents(addr, block.layout.size(), block.fill);
                // SAFETY: a live block with its layout.
                unsafe { GortAlloc.dealloc(addr as *mut u8, block.layout) };
                Layout::from_size_align(block.request, block.layout.align()).unwrap()
            })
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn alloc_realloc_free_match_the_model(ops in prop::collection::vec(op(), 1..300)) {
        // A failed case leaves its blocks behind while proptest shrinks: count from here.
        let before = gort_alloc::stats();
        let mut model = Model::default();
        for op in &ops {
            model.apply(op);
        }
        // The thread's cache keeps some freed spans for its own reuse (large ones, empty small
        // ones); handing them back to the page heap here and below makes the check that the
        // heap reuses freed memory independent of what the cache happened to keep.
        gort_alloc::release_memory();
        let held = gort_alloc::stats().heap_in_use;
        let layouts = model.free_all();
        gort_alloc::release_memory();
        let stats = gort_alloc::stats();
        let classes = stats.classes.iter().chain([&stats.large]);
        let classes_before = before.classes.iter().chain([&before.large]);
        for (now, then) in classes.zip(classes_before) {
            prop_assert_eq!(now.live(), then.live(), "class of {} bytes", now.size);
        }
        prop_assert_eq!(stats.allocated, before.allocated);
        for layout in &layouts {
            // SAFETY: as in `apply`.
            let addr = unsafe { GortAlloc.alloc(*layout) } as usize;
            model.insert(addr, *layout, layout.size());
        }
        let stats = gort_alloc::stats();
        prop_assert!(stats.heap_in_use <= held, "freed blocks were not reused");
        // The inequalities Go's TestMemStats (runtime/malloc_test.go) checks between HeapAlloc,
        // HeapInuse, HeapReleased and HeapSys.
        prop_assert!(stats.allocated <= stats.heap_in_use);
        prop_assert!(stats.heap_in_use + stats.released <= stats.mapped);
        model.free_all();
    }
}
