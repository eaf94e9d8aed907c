//! Large spans a thread keeps for its next large allocations (mimalloc's per-thread pages for
//! large objects; Go's per-P `pageCache` serves the same purpose for its page allocations).
//!
//! # Why
//!
//! A large object (above 32 KiB) takes a span of its own from the page heap and gives it back
//! when freed, and the page heap is one lock. A thread that allocates and frees large objects
//! at a steady rate takes that lock twice per object, and with more threads than cores the lock
//! is often held by a thread the kernel has preempted, so the others sleep on it: four threads
//! on two cores, each replacing blocks of 32 to 256 KiB, ran 14 times slower per object than one
//! thread alone. So a thread cache keeps the last large spans freed on its thread and hands them
//! out again without the lock.
//!
//! # The rules
//!
//! - A span is kept only if it has at most [`MAX_SPAN_PAGES`] pages (bigger ones are rare and
//!   would tie up too much memory), and the cache keeps at most [`SLOTS`] spans and
//!   [`MAX_PAGES`] pages in all. To make room, the oldest kept span goes back to the page heap.
//! - A request for `n` pages takes the smallest kept span of `n` to `n + n / 8` pages, so the
//!   object wastes under 1/8 of its span, the bound the size classes keep. The span stays what
//!   it was, a large span of its own length: its extent is not rewritten (only the page heap
//!   writes extents, under its lock, and it may be reading this one to coalesce a neighbour),
//!   and `realloc` sees the true slot.
//! - A kept span stays in use as far as the page heap can tell (state `Large`), so no neighbour
//!   coalesces with it and the scavenger leaves it resident; its pages are dirty, so a zeroed
//!   allocation clears them.
//! - A kept span that sits unused for [`KEEP_EPOCHS`] epochs of the scavenger's clock (50
//!   ms each, `heap.rs`) after the cache first saw it goes back to the page heap, whose
//!   scavenger returns it to the OS as it does any long-free span. The thread cache looks at
//!   most once an epoch, at the flushes of its counters (every 1,024 allocations and frees of
//!   a class, large objects included), so a thread that keeps allocating anything holds idle
//!   spans for 100 to 200 ms. A span is stamped with the epoch of the first look that finds
//!   it, not when it is put, which keeps the clock off the free path. A thread that stops
//!   allocating keeps its spans until it exits or calls [`crate::release_memory`].
//! - The spans go back to the page heap when the thread exits ([`crate::cache::MCache::flush`]).
//!   Until then they count as in use in [`crate::stats()`]'s `heap_in_use`.
//!
//! The cache is a small array scanned linearly: [`SLOTS`] page counts sit in two cache lines
//! beside the span pointers, so a lookup touches no span record. The slots are in no order
//! (a span taken out is replaced by the last one); each carries the time it was put, and the
//! oldest is found by a scan when room is needed. Both scans run over every slot without a
//! branch on the data, which compiles to vector minimums: with 32 slots kept oldest first,
//! the scalar scan and the shifting of the arrays at each removal were half the large path.
//!
//! Requests of 32 to 256 KiB come in some 20 rounded lengths, so a cache must hold more spans
//! than a thread has such objects alive to find a fit most of the time: with 16 slots and 4
//! MiB, a quarter of the large requests of a 4-thread mixed workload (a thirteenth of its
//! live blocks large) missed and took the page heap's lock, twice with the eviction; with 32
//! slots and 8 MiB, about one in fourteen, and the workload ran some 10% faster.

use crate::sizeclass::PAGE_SIZE;
use crate::span::Span;
use std::ptr;

/// Spans kept at most.
pub(crate) const SLOTS: usize = 32;
/// The longest span kept (1 MiB).
pub(crate) const MAX_SPAN_PAGES: usize = 128;
/// Pages kept at most, all spans together (8 MiB).
pub(crate) const MAX_PAGES: usize = 1024;
/// Scavenger epochs a kept span may sit unused before it goes back to the page heap.
pub(crate) const KEEP_EPOCHS: u64 = 2;

/// The page count a large request of `pages` pages is rounded up to, so that spans freed for
/// one request fit the next ones of about the same length: exact up to 16 pages, then eight
/// steps per doubling (16, 18, 20, ... 32, 36, ...), which wastes under 1/8 of the span, as
/// the size classes do. Spans too long to be kept are not rounded.
#[inline]
pub(crate) fn round_pages(pages: usize) -> usize {
    if pages <= 16 || pages > MAX_SPAN_PAGES {
        return pages;
    }
    let step = 1 << ((pages - 1).ilog2() - 3);
    pages.next_multiple_of(step)
}

/// A thread's kept large spans (see the module docs).
#[derive(Debug)]
pub(crate) struct LargeCache {
    /// The kept spans in slots `..len`, in no order.
    spans: [*mut Span; SLOTS],
    /// Each slot's page count; 0 in the free slots `len..`.
    pages: [u32; SLOTS],
    /// Each slot's put time on `clock`, to find the oldest.
    stamps: [u32; SLOTS],
    /// The scavenger epoch in which a look ([`LargeCache::age_out`]) first found each slot's
    /// span; [`UNSEEN`] until then.
    epochs: [u64; SLOTS],
    len: usize,
    total: usize,
    /// Counts puts (wrapping: ages are taken as differences).
    clock: u32,
}

/// `LargeCache::epochs` of a span no look has found yet (real epochs count from boot).
pub(crate) const UNSEEN: u64 = 0;

impl LargeCache {
    /// No spans.
    pub(crate) const fn new() -> LargeCache {
        LargeCache {
            spans: [ptr::null_mut(); SLOTS],
            pages: [0; SLOTS],
            stamps: [0; SLOTS],
            epochs: [0; SLOTS],
            len: 0,
            total: 0,
            clock: 0,
        }
    }

    /// Takes the smallest kept span of `pages` to `pages + pages / 8` pages that starts on a
    /// multiple of `align` (a power of two); null if none.
    #[inline]
    pub(crate) fn take(&mut self, pages: usize, align: usize) -> *mut Span {
        debug_assert!((1..=MAX_SPAN_PAGES).contains(&pages));
        let (pages, slack) = (pages as u32, pages as u32 / 8);
        // One pass over every slot, free ones included (their 0 pages never fit), with no
        // branch on the data: which slots fit is as good as random, so branches on it would
        // mispredict, and a fixed-length loop of minimums compiles to a few vector operations.
        // The key orders by length, then slot; lengths fit in 8 bits (`MAX_SPAN_PAGES`).
        let mut best = u32::MAX;
        for (i, &have) in self.pages.iter().enumerate() {
            let fits = have.wrapping_sub(pages) <= slack;
            best = best.min(if fits { have << 8 | i as u32 } else { u32::MAX });
        }
        if best == u32::MAX {
            return ptr::null_mut();
        }
        if align > PAGE_SIZE {
            return self.take_aligned(pages, align);
        }
        self.remove((best & 0xff) as usize)
    }

    /// [`LargeCache::take`] for an alignment above a page (rare): the span's start decides.
    #[cold]
    fn take_aligned(&mut self, pages: u32, align: usize) -> *mut Span {
        let slack = pages / 8;
        let fits = |i: usize| {
            let have = self.pages[i];
            // SAFETY: the cache holds its spans alone, in use.
            have.wrapping_sub(pages) <= slack && unsafe { (*self.spans[i]).start() } % align == 0
        };
        match (0..self.len)
            .filter(|&i| fits(i))
            .min_by_key(|&i| self.pages[i])
        {
            Some(at) => self.remove(at),
            None => ptr::null_mut(),
        }
    }

    /// Keeps `span`, a large span of `pages` pages whose object was just freed, handing
    /// `give_back` every span that does not fit: `span` itself if it is too long, else the
    /// oldest kept spans until it fits.
    pub(crate) fn put(
        &mut self,
        span: *mut Span,
        pages: usize,
        mut give_back: impl FnMut(*mut Span),
    ) {
        if pages > MAX_SPAN_PAGES {
            return give_back(span);
        }
        while self.len == SLOTS || self.total + pages > MAX_PAGES {
            give_back(self.remove(self.oldest()));
        }
        let at = self.len;
        self.spans[at] = span;
        self.pages[at] = pages as u32;
        self.stamps[at] = self.clock;
        self.epochs[at] = UNSEEN;
        self.clock = self.clock.wrapping_add(1);
        self.len += 1;
        self.total += pages;
    }

    /// A look in scavenger epoch `epoch` (non-zero): stamps the spans no look has found yet
    /// with it, and hands `give_back` every span found [`KEEP_EPOCHS`] epochs before or
    /// earlier.
    pub(crate) fn age_out(&mut self, epoch: u64, mut give_back: impl FnMut(*mut Span)) {
        debug_assert_ne!(epoch, UNSEEN);
        let mut i = 0;
        while i < self.len {
            if self.epochs[i] == UNSEEN {
                self.epochs[i] = epoch;
                i += 1;
            } else if epoch.saturating_sub(self.epochs[i]) >= KEEP_EPOCHS {
                // The last span moves into slot `i`: look at it next.
                give_back(self.remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// The slot of the span put longest ago (the cache is not empty).
    fn oldest(&self) -> usize {
        debug_assert!(self.len > 0);
        // As in `take`: the key orders by age (on the wrapping clock), then slot. Free slots
        // count as age 0 and lose to every kept span, whose age is at least 1.
        let mut best = 0u64;
        for i in 0..SLOTS {
            let age = if i < self.len {
                self.clock.wrapping_sub(self.stamps[i])
            } else {
                0
            };
            best = best.max(u64::from(age) << 8 | i as u64);
        }
        (best & 0xff) as usize
    }

    /// Hands every kept span to `give_back` and empties the cache.
    pub(crate) fn drain(&mut self, give_back: impl FnMut(*mut Span)) {
        self.spans[..self.len].iter().copied().for_each(give_back);
        self.pages = [0; SLOTS];
        self.len = 0;
        self.total = 0;
    }

    /// Pages kept.
    #[cfg(all(test, not(gort_loom)))]
    pub(crate) fn pages(&self) -> usize {
        self.total
    }

    /// Takes the span out of slot `i`, moving the last kept one into its place.
    fn remove(&mut self, i: usize) -> *mut Span {
        let span = self.spans[i];
        self.total -= self.pages[i] as usize;
        let last = self.len - 1;
        self.spans[i] = self.spans[last];
        self.pages[i] = self.pages[last];
        self.stamps[i] = self.stamps[last];
        self.epochs[i] = self.epochs[last];
        self.pages[last] = 0;
        self.len = last;
        span
    }
}

#[cfg(all(test, not(gort_loom)))]
mod tests {
    use super::*;

    /// Distinct fake span pointers: the cache never dereferences them.
    fn fake(n: usize) -> *mut Span {
        (n * 64) as *mut Span
    }

    #[test]
    fn rounding_keeps_eight_lengths_per_doubling_and_wastes_under_an_eighth() {
        assert_eq!(round_pages(5), 5);
        assert_eq!(round_pages(16), 16);
        assert_eq!(round_pages(17), 18);
        assert_eq!(round_pages(33), 36);
        assert_eq!(round_pages(MAX_SPAN_PAGES), MAX_SPAN_PAGES);
        assert_eq!(round_pages(MAX_SPAN_PAGES + 1), MAX_SPAN_PAGES + 1);
        for pages in 1..=MAX_SPAN_PAGES {
            let rounded = round_pages(pages);
            assert!(
                rounded >= pages && (rounded - pages) * 8 < rounded,
                "{pages}"
            );
        }
    }

    #[test]
    fn takes_the_smallest_span_within_an_eighth() {
        let mut cache = LargeCache::new();
        for (n, pages) in [(1, 20), (2, 17), (3, 16), (4, 40)] {
            cache.put(fake(n), pages, |_| panic!("room for all"));
        }
        assert_eq!(cache.take(16, PAGE_SIZE), fake(3), "an exact fit");
        assert_eq!(cache.take(16, PAGE_SIZE), fake(2), "17 is within 16 + 2");
        assert!(
            cache.take(16, PAGE_SIZE).is_null(),
            "20 is more than 16 + 2"
        );
        assert_eq!(cache.take(18, PAGE_SIZE), fake(1));
        assert_eq!(cache.take(36, PAGE_SIZE), fake(4));
        assert_eq!(cache.pages(), 0);
    }

    #[test]
    fn the_oldest_spans_make_room_and_long_ones_are_not_kept() {
        let mut cache = LargeCache::new();
        let mut returned = Vec::new();
        cache.put(fake(1), MAX_SPAN_PAGES + 1, |s| returned.push(s));
        assert_eq!(returned, [fake(1)]);
        returned.clear();
        for n in 0..SLOTS + 2 {
            cache.put(fake(10 + n), 5, |s| returned.push(s));
        }
        assert_eq!(returned, [fake(10), fake(11)], "the two oldest, by count");
        let mut drained = Vec::new();
        cache.drain(|s| drained.push(s));
        assert_eq!(drained.len(), SLOTS);
        assert_eq!(cache.pages(), 0);
        returned.clear();
        // Long spans fill the budget of pages before the slots run out.
        for n in 0..MAX_PAGES / MAX_SPAN_PAGES {
            cache.put(fake(20 + n), MAX_SPAN_PAGES, |s| returned.push(s));
        }
        assert!(returned.is_empty());
        cache.put(fake(99), 20, |s| returned.push(s));
        assert_eq!(returned, [fake(20)], "the oldest, by pages");
        assert_eq!(cache.pages(), MAX_PAGES - MAX_SPAN_PAGES + 20);
        cache.drain(|_| {});
        assert_eq!(cache.pages(), 0);
    }
    #[test]
    fn spans_go_back_two_epochs_after_a_look_first_finds_them() {
        let mut cache = LargeCache::new();
        let mut returned = Vec::new();
        cache.put(fake(1), 8, |_| panic!("room"));
        cache.put(fake(2), 9, |_| panic!("room"));
        cache.age_out(10, |s| returned.push(s));
        cache.put(fake(3), 8, |_| panic!("room"));
        cache.age_out(11, |s| returned.push(s));
        assert!(returned.is_empty(), "found in epochs 10 and 11");
        cache.age_out(12, |s| returned.push(s));
        returned.sort();
        assert_eq!(returned, [fake(1), fake(2)]);
        assert_eq!((cache.len, cache.pages()), (1, 8));
        returned.clear();
        // Taking a span out and putting it back makes it unseen again.
        assert_eq!(cache.take(8, PAGE_SIZE), fake(3));
        cache.put(fake(3), 8, |_| panic!("room"));
        cache.age_out(13, |s| returned.push(s));
        assert!(returned.is_empty());
        cache.age_out(15, |s| returned.push(s));
        assert_eq!(returned, [fake(3)]);
        assert_eq!(cache.pages(), 0);
    }

    /// What the cache is asked to do, for the proptest.
    #[derive(Clone, Debug)]
    enum Op {
        Put(usize),
        Take(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        // Lengths cluster where the cache works (and a few too long to keep).
        let pages = prop_oneof![4 => 1..=40usize, 1 => 1..=MAX_SPAN_PAGES + 8];
        prop_oneof![pages.clone().prop_map(Op::Put), pages.prop_map(Op::Take)]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Against a model that keeps its spans oldest first: a take gets a span of the
        /// smallest fitting length (any of that length), a put gives back exactly the
        /// oldest spans that must make room, and the counts agree throughout.
        #[test]
        #[cfg_attr(miri, ignore = "safe code; proptest's failure file needs the file system")]
        fn behaves_as_an_oldest_first_list(ops in proptest::collection::vec(op(), 1..400)) {
            let mut cache = LargeCache::new();
            let mut model: Vec<(*mut Span, usize)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Put(pages) => {
                        let span = fake(n + 1);
                        let mut returned = Vec::new();
                        cache.put(span, pages, |s| returned.push(s));
                        let mut expected = Vec::new();
                        if pages > MAX_SPAN_PAGES {
                            expected.push(span);
                        } else {
                            while model.len() == SLOTS
                                || model.iter().map(|m| m.1).sum::<usize>() + pages > MAX_PAGES
                            {
                                expected.push(model.remove(0).0);
                            }
                            model.push((span, pages));
                        }
                        proptest::prop_assert_eq!(returned, expected);
                    }
                    Op::Take(pages) if pages <= MAX_SPAN_PAGES => {
                        let got = cache.take(pages, PAGE_SIZE);
                        let best = model
                            .iter()
                            .map(|m| m.1)
                            .filter(|&have| have >= pages && have - pages <= pages / 8)
                            .min();
                        match best {
                            None => proptest::prop_assert!(got.is_null()),
                            Some(len) => {
                                let at = model.iter().position(|m| m.0 == got);
                                proptest::prop_assert!(at.is_some(), "not a kept span");
                                let at = at.unwrap();
                                proptest::prop_assert_eq!(model[at].1, len);
                                model.remove(at);
                            }
                        }
                    }
                    Op::Take(_) => {}
                }
                proptest::prop_assert_eq!(cache.pages(), model.iter().map(|m| m.1).sum::<usize>());
                proptest::prop_assert_eq!(cache.len, model.len());
            }
            let mut drained = Vec::new();
            cache.drain(|s| drained.push(s));
            let mut kept: Vec<_> = model.iter().map(|m| m.0).collect();
            drained.sort();
            kept.sort();
            proptest::prop_assert_eq!(drained, kept);
        }
    }
}
