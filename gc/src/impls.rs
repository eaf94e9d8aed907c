//! `Trace` for the standard library's types: leaves that hold no `Gc`, and containers that
//! trace what they own.
//!
//! Not here, on purpose: `Rc` and `Arc` (their contents are shared, and a rooting walk needs
//! the handles it flips to itself), and `Cell`, `RefCell`, `Mutex` and `RwLock` (a `Gc` inside
//! them could be moved out through `&self`, behind the collector's back: use `GcCell`).

use crate::trace::{Trace, Tracer};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};

/// Types that can hold no `Gc`.
macro_rules! leaves {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: holds no `Gc`.
        unsafe impl Trace for $t {
            const NEEDS_TRACE: bool = false;
            const DROPS_IN_HEAP: bool = std::mem::needs_drop::<$t>();
            #[inline]
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}

leaves!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    str,
    String,
    std::ffi::OsString,
    std::path::PathBuf,
    std::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    std::num::NonZeroUsize,
    std::num::NonZeroU64,
    std::num::NonZeroU32,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicU32,
    std::net::IpAddr,
    std::net::SocketAddr,
);

// SAFETY: holds no `Gc`.
unsafe impl Trace for &'static str {
    const NEEDS_TRACE: bool = false;
    const DROPS_IN_HEAP: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

// SAFETY: holds no `Gc`.
unsafe impl<T: ?Sized> Trace for std::marker::PhantomData<T> {
    const NEEDS_TRACE: bool = false;
    const DROPS_IN_HEAP: bool = false;
    #[inline]
    fn trace(&self, _: &mut Tracer<'_>) {}
}

// SAFETY: traces what the box owns.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        (**self).trace(tracer);
    }
}

// SAFETY: traces what it owns.
unsafe impl<T: Trace> Trace for Option<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROPS_IN_HEAP: bool = T::DROPS_IN_HEAP;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if let Some(value) = self {
            value.trace(tracer);
        }
    }
}

// SAFETY: traces what it owns.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE || E::NEEDS_TRACE;
    const DROPS_IN_HEAP: bool = T::DROPS_IN_HEAP || E::DROPS_IN_HEAP;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self {
            Ok(value) => value.trace(tracer),
            Err(error) => error.trace(tracer),
        }
    }
}

/// Sequences: every element.
macro_rules! sequences {
    ($($t:ident),*) => {$(
        // SAFETY: traces every element it owns.
        unsafe impl<T: Trace> Trace for $t<T> {
            const NEEDS_TRACE: bool = T::NEEDS_TRACE;
            #[inline]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                if T::NEEDS_TRACE {
                    for value in self.iter() {
                        value.trace(tracer);
                    }
                }
            }
        }
    )*};
}

sequences!(Vec, VecDeque, LinkedList, BinaryHeap, BTreeSet);

// SAFETY: traces every element.
unsafe impl<T: Trace> Trace for [T] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROPS_IN_HEAP: bool = T::DROPS_IN_HEAP;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if T::NEEDS_TRACE {
            for value in self {
                value.trace(tracer);
            }
        }
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROPS_IN_HEAP: bool = T::DROPS_IN_HEAP;
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        self[..].trace(tracer);
    }
}

// SAFETY: traces every element.
unsafe impl<T: Trace, S> Trace for HashSet<T, S> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    fn trace(&self, tracer: &mut Tracer<'_>) {
        if T::NEEDS_TRACE {
            for value in self {
                value.trace(tracer);
            }
        }
    }
}

/// Maps: every key and value.
macro_rules! maps {
    ($($map:ident<K, V $(, $s:ident)?>),*) => {$(
        // SAFETY: traces every key and value.
        unsafe impl<K: Trace, V: Trace $(, $s)?> Trace for $map<K, V $(, $s)?> {
            const NEEDS_TRACE: bool = K::NEEDS_TRACE || V::NEEDS_TRACE;
            fn trace(&self, tracer: &mut Tracer<'_>) {
                if Self::NEEDS_TRACE {
                    for (key, value) in self {
                        key.trace(tracer);
                        value.trace(tracer);
                    }
                }
            }
        }
    )*};
}

maps!(HashMap<K, V, S>, BTreeMap<K, V>);

/// Tuples: every field.
macro_rules! tuples {
    ($(($($t:ident $i:tt),+))*) => {$(
        // SAFETY: traces every field.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const NEEDS_TRACE: bool = $($t::NEEDS_TRACE)||+;
            const DROPS_IN_HEAP: bool = $($t::DROPS_IN_HEAP)||+;
            #[inline]
            fn trace(&self, tracer: &mut Tracer<'_>) {
                $(self.$i.trace(tracer);)+
            }
        }
    )*};
}

tuples! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11)
}
