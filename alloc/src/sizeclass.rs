//! Size classes: the object sizes the small-object allocator rounds every request up to, and
//! how many 8 KiB pages a span of each class takes (Go's `sizeclasses.go`, TCMalloc's
//! `size_classes`).
//!
//! # How the table is made
//!
//! The table is computed at compile time by [`build`], from three rules:
//!
//! 1. Candidate sizes are 8, 16, 24, then every 16 bytes up to 128, and above 128 eight sizes per
//!    power of two (spacing `2^k / 8` between `2^k` and `2^(k+1)`), up to 32 KiB. Rounding a
//!    request up to the next candidate above 128 B so wastes less than 1/8 of the object; below
//!    128 B it wastes at most 15 bytes.
//! 2. A span of a class takes the fewest pages whose tail (the bytes left over after the last
//!    whole object) is under 1/8 of the span and that hold at least 64 objects, as long as
//!    that takes at most 8 pages (64 KiB), and at least 8 objects in any case (up to 32
//!    pages, which hold eight of the largest). Go stops at the tail rule, so its spans hold 8
//!    to 56 objects from 144 B to 1 KiB and one to four above, which suits a collector that
//!    frees in bulk. A program that frees explicitly switches spans about once per span's
//!    worth of allocations (the current one runs out, the next has a few objects freed
//!    since), and each switch is a slow path over cold span records; mimalloc's pages are 64
//!    KiB for small objects and hold at least 8 of the larger ones for the same reason. With
//!    at least 8 objects, a 4-thread mixed workload with a quarter of its blocks between
//!    257 B and 32 KiB took 17 spans from the page heap per 40,000 allocations instead of
//!    Go's 593; with at least 64 up to 64 KiB, the larson workload (blocks of 16 B to 1 KiB
//!    freed at random, half of them by the other thread) ran in 0.6 of the time.
//! 3. A candidate whose span holds as many objects in as many pages as its predecessor's does not
//!    need the predecessor: the two spans waste the same memory. The predecessor is dropped, as
//!    Go's generator does, unless that would push the rounding waste of rule 1 to 1/8 or more.
//!
//! Class 0 stands for "no class": a large object, which gets a span of its own from the page
//! heap.
//!
//! # The table
//!
//! `tail` is the span's leftover as a share of the span, `round` the worst rounding waste of
//! one object (a request one byte above the previous class). Both stay under 12.5% from 128 B
//! up; the test `table_in_docs_matches_the_generator` regenerates this table and compares it
//! with the text below, so it cannot drift from the code.
//!
//! ```text
//! class  bytes/obj  pages  objects  tail%   round%
//!     1          8      1     1024   0.00   87.50
//!     2         16      1      512   0.00   43.75
//!     3         24      1      341   0.10   29.17
//!     4         32      1      256   0.00   21.88
//!     5         48      1      170   0.39   31.25
//!     6         64      1      128   0.00   23.44
//!     7         80      1      102   0.39   18.75
//!     8         96      1       85   0.39   15.62
//!     9        112      1       73   0.20   13.39
//!    10        128      1       64   0.00   11.72
//!    11        144      2      113   0.68   10.42
//!    12        160      2      102   0.39    9.38
//!    13        176      2       93   0.10    8.52
//!    14        192      2       85   0.39    7.81
//!    15        208      2       78   0.98    7.21
//!    16        224      2       73   0.20    6.70
//!    17        240      2       68   0.39    6.25
//!    18        256      2       64   0.00    5.86
//!    19        288      3       85   0.39   10.76
//!    20        320      3       76   1.04    9.69
//!    21        352      3       69   1.17    8.81
//!    22        384      3       64   0.00    8.07
//!    23        416      4       78   0.98    7.45
//!    24        448      4       73   0.20    6.92
//!    25        480      4       68   0.39    6.46
//!    26        512      4       64   0.00    6.05
//!    27        576      5       71   0.16   10.94
//!    28        640      5       64   0.00    9.84
//!    29        704      6       69   1.17    8.95
//!    30        768      6       64   0.00    8.20
//!    31        832      7       68   1.34    7.57
//!    32        896      7       64   0.00    7.03
//!    33        960      8       68   0.39    6.56
//!    34       1024      8       64   0.00    6.15
//!    35       1152      8       56   1.56   11.02
//!    36       1280      8       51   0.39    9.92
//!    37       1408      8       46   1.17    9.02
//!    38       1536      8       42   1.56    8.27
//!    39       1664      8       39   0.98    7.63
//!    40       1792      8       36   1.56    7.09
//!    41       1920      8       34   0.39    6.61
//!    42       2048      8       32   0.00    6.20
//!    43       2304      8       28   1.56   11.07
//!    44       2560      8       25   2.34    9.96
//!    45       2816      8       23   1.17    9.06
//!    46       3072      8       21   1.56    8.30
//!    47       3328      8       19   3.52    7.66
//!    48       3584      8       18   1.56    7.11
//!    49       3840      8       17   0.39    6.64
//!    50       4096      8       16   0.00    6.23
//!    51       4608      8       14   1.56   11.09
//!    52       5120      8       12   6.25    9.98
//!    53       5632      8       11   5.47    9.07
//!    54       6144      8       10   6.25    8.32
//!    55       6656      8        9   8.59    7.68
//!    56       7168      8        9   1.56    7.13
//!    57       8192      8        8   0.00   12.49
//!    58       9216      9        8   0.00   11.10
//!    59      10240     10        8   0.00    9.99
//!    60      11264     11        8   0.00    9.08
//!    61      12288     12        8   0.00    8.33
//!    62      13312     13        8   0.00    7.68
//!    63      14336     14        8   0.00    7.14
//!    64      15360     15        8   0.00    6.66
//!    65      16384     16        8   0.00    6.24
//!    66      18432     18        8   0.00   11.11
//!    67      20480     20        8   0.00   10.00
//!    68      22528     22        8   0.00    9.09
//!    69      24576     24        8   0.00    8.33
//!    70      26624     26        8   0.00    7.69
//!    71      28672     28        8   0.00    7.14
//!    72      30720     30        8   0.00    6.66
//!    73      32768     32        8   0.00    6.25
//! ```
//!
//! # Lookup
//!
//! [`class_of`] is O(1): two byte tables, one indexed by `ceil(size / 8)` up to 1 KiB and one by
//! `ceil((size - 1024) / 128)` above (every class above 1 KiB is a multiple of 128), both filled
//! at compile time. An alignment `a` is honoured by moving up to the first class whose size is
//! a multiple of `a`: spans start on a page boundary, so every object of such a class is
//! `a`-aligned. Alignments above a page, or without a fitting class, go to the large path.

/// log2 of [`PAGE_SIZE`].
pub(crate) const PAGE_SHIFT: usize = 13;
/// The unit of the page heap: 8 KiB, as in Go.
///
/// ```
/// assert_eq!(gort_alloc::PAGE_SIZE, 8192);
/// ```
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The largest small object; anything larger gets a span of its own.
///
/// ```
/// assert_eq!(gort_alloc::size_class_of(gort_alloc::MAX_SMALL_SIZE, 8), Some(32 << 10));
/// assert_eq!(gort_alloc::size_class_of(gort_alloc::MAX_SMALL_SIZE + 1, 8), None);
/// ```
pub const MAX_SMALL_SIZE: usize = 32 << 10;
/// The number of size classes (class 0, "large", not counted).
///
/// ```
/// assert_eq!(gort_alloc::stats().classes.len(), gort_alloc::NUM_SIZE_CLASSES);
/// ```
pub const NUM_SIZE_CLASSES: usize = build().1;
/// Entries of the per-class tables: the classes plus class 0.
pub(crate) const NUM_CLASSES: usize = NUM_SIZE_CLASSES + 1;

/// Upper bound of the candidate list (rule 1 of the module docs yields 74 candidates).
const MAX_CANDIDATES: usize = 80;

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Class {
    /// Bytes per object.
    pub(crate) size: u32,
    /// Pages per span.
    pub(crate) pages: u32,
    /// Objects per span.
    pub(crate) objects: u32,
}

const EMPTY: Class = Class {
    size: 0,
    pages: 0,
    objects: 0,
};

/// The fewest pages for a span of `size`-byte objects whose tail is under 1/8 (rule 2).
const fn pages_for(size: usize) -> usize {
    let mut pages = 1;
    while (pages * PAGE_SIZE % size) * 8 >= pages * PAGE_SIZE
        || (pages * PAGE_SIZE / size < MIN_OBJECTS && pages < MAX_CLASS_PAGES)
        || (pages * PAGE_SIZE / size < MANY_OBJECTS && pages < MANY_PAGES)
    {
        pages += 1;
    }
    pages
}

/// Objects a span of a class holds at least (rule 2), unless that would take more than
/// `MAX_CLASS_PAGES`.
const MIN_OBJECTS: usize = 8;
/// Objects a span of a class holds at least while that takes at most `MANY_PAGES` (rule 2).
const MANY_OBJECTS: usize = 64;
/// 64 KiB, mimalloc's small page.
const MANY_PAGES: usize = 8;
/// The longest span rule 2 lengthens to hold `MIN_OBJECTS` (256 KiB, eight 32 KiB objects).
const MAX_CLASS_PAGES: usize = 32;

/// Runs the three rules of the module docs; returns the table (index 0 is class 0) and the
/// number of classes.
const fn build() -> ([Class; MAX_CANDIDATES], usize) {
    let mut candidates = [0usize; MAX_CANDIDATES];
    let mut n = 0;
    let small = [8, 16, 24, 32, 48, 64, 80, 96, 112, 128];
    while n < small.len() {
        candidates[n] = small[n];
        n += 1;
    }
    let mut band = 128;
    while band < MAX_SMALL_SIZE {
        let step = band / 8;
        let mut size = band + step;
        while size <= 2 * band {
            candidates[n] = size;
            n += 1;
            size += step;
        }
        band *= 2;
    }

    let mut table = [EMPTY; MAX_CANDIDATES];
    let mut len = 1; // table[0] is class 0
    let mut i = 0;
    while i < n {
        let size = candidates[i];
        let pages = pages_for(size);
        let objects = pages * PAGE_SIZE / size;
        let last = table[len - 1];
        let before_last = if len >= 2 {
            table[len - 2].size as usize
        } else {
            0
        };
        let same_span = len > 1 && last.pages as usize == pages && last.objects as usize == objects;
        let class = Class {
            size: size as u32,
            pages: pages as u32,
            objects: objects as u32,
        };
        if same_span && (size - before_last - 1) * 8 < size {
            table[len - 1] = class;
        } else {
            table[len] = class;
            len += 1;
        }
        i += 1;
    }
    (table, len - 1)
}

const fn trim() -> [Class; NUM_CLASSES] {
    let full = build().0;
    let mut table = [EMPTY; NUM_CLASSES];
    let mut i = 0;
    while i < NUM_CLASSES {
        table[i] = full[i];
        i += 1;
    }
    table
}

/// The table, indexed by class; entry 0 is class 0 (large).
pub(crate) static CLASSES: [Class; NUM_CLASSES] = trim();

const SMALL_LOOKUP_MAX: usize = 1024;
const SMALL_STEP: usize = 8;
const LARGE_STEP: usize = 128;
const SMALL_LEN: usize = SMALL_LOOKUP_MAX / SMALL_STEP + 1;
const LARGE_LEN: usize = (MAX_SMALL_SIZE - SMALL_LOOKUP_MAX) / LARGE_STEP + 1;

/// The first class at least `size` bytes, by walking the table (compile time only).
const fn first_class_fitting(size: usize) -> u8 {
    let table = trim();
    let mut class = 1;
    while (table[class].size as usize) < size {
        class += 1;
    }
    class as u8
}

const fn small_lookup() -> [u8; SMALL_LEN] {
    let mut lookup = [0u8; SMALL_LEN];
    let mut i = 1;
    while i < SMALL_LEN {
        lookup[i] = first_class_fitting(i * SMALL_STEP);
        i += 1;
    }
    lookup[0] = 1;
    lookup
}

const fn large_lookup() -> [u8; LARGE_LEN] {
    let mut lookup = [0u8; LARGE_LEN];
    let mut i = 0;
    while i < LARGE_LEN {
        lookup[i] = first_class_fitting(SMALL_LOOKUP_MAX + i * LARGE_STEP);
        i += 1;
    }
    lookup
}

static SMALL_TO_CLASS: [u8; SMALL_LEN] = small_lookup();
static LARGE_TO_CLASS: [u8; LARGE_LEN] = large_lookup();

/// The class for `size` bytes aligned to `align` (a power of two), or 0 when the request must
/// take the large path (too big, or an alignment no class can give).
#[inline]
pub(crate) fn class_of(size: usize, align: usize) -> usize {
    if size > MAX_SMALL_SIZE || align > PAGE_SIZE {
        return 0;
    }
    let mut class = if size <= SMALL_LOOKUP_MAX {
        SMALL_TO_CLASS[size.div_ceil(SMALL_STEP)] as usize
    } else {
        LARGE_TO_CLASS[(size - SMALL_LOOKUP_MAX).div_ceil(LARGE_STEP)] as usize
    };
    if align > SMALL_STEP {
        while class < NUM_CLASSES && !(CLASSES[class].size as usize).is_multiple_of(align) {
            class += 1;
        }
        if class == NUM_CLASSES {
            return 0;
        }
    }
    class
}

/// Bytes per object of `class` (which must be in `1..NUM_CLASSES`).
#[inline]
pub(crate) fn class_size(class: usize) -> usize {
    CLASSES[class].size as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    /// The table as the module docs print it.
    fn render() -> String {
        let mut out = String::from("class  bytes/obj  pages  objects  tail%   round%\n");
        let mut previous = 0;
        for (class, c) in CLASSES.iter().enumerate().skip(1) {
            let span = c.pages as usize * PAGE_SIZE;
            let tail = (span - c.objects as usize * c.size as usize) as f64 / span as f64;
            let round = (c.size - previous - 1) as f64 / c.size as f64;
            writeln!(
                out,
                "{class:5}  {:9}  {:5}  {:7}  {:5.2}  {:6.2}",
                c.size,
                c.pages,
                c.objects,
                tail * 100.0,
                round * 100.0
            )
            .unwrap();
            previous = c.size;
        }
        out
    }

    #[test]
    fn table_in_docs_matches_the_generator() {
        let source = include_str!("sizeclass.rs");
        let docs: String = source
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .map(|line| {
                let line = line.trim_start_matches("//!");
                line.strip_prefix(' ').unwrap_or(line)
            })
            .skip_while(|line| *line != "```text")
            .skip(1)
            .take_while(|line| *line != "```")
            .fold(String::new(), |mut acc, line| {
                acc.push_str(line);
                acc.push('\n');
                acc
            });
        let rendered = render();
        assert_eq!(docs, rendered, "regenerated table:\n{rendered}");
    }

    #[test]
    fn waste_stays_under_an_eighth() {
        let mut previous = 0;
        for c in &CLASSES[1..] {
            let span = c.pages as usize * PAGE_SIZE;
            let tail = span - c.objects as usize * c.size as usize;
            assert!(tail * 8 < span, "tail waste of class {c:?}");
            if c.size >= 128 {
                assert!(
                    (c.size - previous - 1) * 8 < c.size,
                    "rounding waste of {c:?}"
                );
            } else {
                assert!(c.size - previous - 1 <= 15, "rounding waste of {c:?}");
            }
            assert!(c.size > previous && c.size % 8 == 0);
            assert_eq!(c.objects as usize, span / c.size as usize);
            previous = c.size;
        }
        assert_eq!(previous as usize, MAX_SMALL_SIZE);
    }

    #[test]
    fn every_power_of_two_up_to_a_page_is_a_class() {
        let mut align = 8;
        while align <= PAGE_SIZE {
            assert_eq!(class_size(class_of(align, align)), align);
            align *= 2;
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "exhaustive: minutes under miri")]
    fn lookup_gives_the_smallest_fitting_class_for_every_size() {
        for size in 0..=MAX_SMALL_SIZE {
            let class = class_of(size, 1);
            assert!(class_size(class) >= size);
            assert!(class == 1 || class_size(class - 1) < size, "size {size}");
        }
        assert_eq!(class_of(MAX_SMALL_SIZE + 1, 1), 0);
        assert_eq!(class_of(8, PAGE_SIZE * 2), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "exhaustive: minutes under miri")]
    fn lookup_honours_alignment() {
        for size in (0..=MAX_SMALL_SIZE).step_by(7) {
            let mut align = 1;
            while align <= PAGE_SIZE {
                let class = class_of(size, align);
                if class != 0 {
                    assert!(class_size(class) >= size);
                    assert_eq!(class_size(class) % align, 0);
                }
                align *= 2;
            }
        }
    }
}
