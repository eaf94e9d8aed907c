//! gort's macros, `#[gort::main]`, `#[gort::test]`, `#[derive(Trace)]` and the engine of
//! `select!`: use them through the `gort` crate, which re-exports them.
//!
//! The attributes are thin: they turn an `async fn` into a plain `fn` that builds a runtime
//! with the public `gort::Builder` and blocks on the body (see `entry.rs` for the exact
//! lowering), so nothing they do is out of reach of hand-written code. On a mistake they still
//! emit the function next to a `compile_error!`, so that an IDE keeps seeing it.
//!
//! `#[derive(Trace)]` writes the `unsafe impl` of gort-gc's `Trace` that traces every field,
//! and rejects types with a `Drop` impl, which could move a `Gc` out of a value (`trace.rs`).

mod args;
mod entry;
mod errors;
mod select;
mod trace;

use proc_macro::TokenStream;

/// Runs an `async fn` as the main goroutine of a fresh gort runtime.
///
/// The function must be `async`, take no parameters and not be generic. It keeps its name,
/// visibility, attributes and return type, so `main` may return a `Result`:
///
/// ```ignore
/// #[gort::main]
/// async fn main() -> Result<(), std::io::Error> {
///     let handle = gort::go(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
///     Ok(())
/// }
/// ```
///
/// The runtime has as many workers as there are available cores, or as many as
/// `workers = N` says (an integer literal of at least 1):
///
/// ```ignore
/// #[gort::main(workers = 4)]
/// async fn main() {
///     assert_eq!(gort::runtime::num_workers(), 4);
/// }
/// ```
///
/// The function becomes the equivalent of:
///
/// ```ignore
/// fn main() {
///     let body = async move { /* the body */ };
///     gort::Builder::new()
///         .workers(4)
///         .build()
///         .expect("failed to build the gort runtime")
///         .block_on(body)
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Main, attr.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh gort runtime of its own.
///
/// It is `#[gort::main]` with `#[test]` in front: the same lowering, the same `workers = N`
/// argument, and the other attributes (`#[should_panic]`, `#[ignore]`, ...) are kept. Do not
/// add `#[test]` as well; that is an error.
///
/// ```ignore
/// #[gort::test(workers = 2)]
/// async fn goroutines_run() {
///     let handles: Vec<_> = (0..10).map(|i| gort::go(async move { i * 2 })).collect();
///     let mut sum = 0;
///     for handle in handles {
///         sum += handle.await.unwrap();
///     }
///     assert_eq!(sum, 90);
///     assert_eq!(gort::runtime::num_workers(), 2);
/// }
///
/// #[gort::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     panic!("boom");
/// }
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Test, attr.into(), item.into()).into()
}

/// The engine of `select!`; not a public API: use `gort::select!` (or `gort_sync::select!`),
/// which passes its crate's path first.
#[doc(hidden)]
#[proc_macro]
pub fn select_impl(input: TokenStream) -> TokenStream {
    select::expand(input.into()).into()
}

/// Implements gort-gc's `Trace` for a struct or an enum: the generated `trace` calls `trace` on
/// every field, and the type must not implement `Drop` (which could move a `Gc` out of it: the
/// derive makes such an impl a compile error).
///
/// ```ignore
/// use gort::gc::{Gc, GcCell, Trace};
///
/// #[derive(Trace)]
/// struct Node<T> {
///     value: T,
///     children: Vec<Gc<Node<T>>>,
///     parent: GcCell<Option<Gc<Node<T>>>>,
///     #[gc(skip)]
///     visits: u64,
/// }
///
/// #[derive(Trace)]
/// enum Tree {
///     Leaf,
///     Branch(Gc<Tree>, Gc<Tree>),
///     Labelled { tree: Gc<Tree>, #[gc(skip)] label: String },
/// }
/// ```
///
/// `Node` gets the equivalent of:
///
/// ```ignore
/// unsafe impl<T> gort::gc::Trace for Node<T>
/// where
///     T: gort::gc::Trace,
/// {
///     fn trace(&self, tracer: &mut gort::gc::Tracer<'_>) {
///         gort::gc::Trace::trace(&self.value, tracer);
///         gort::gc::Trace::trace(&self.children, tracer);
///         gort::gc::Trace::trace(&self.parent, tracer);
///     }
/// }
/// ```
///
/// and `Tree` a `match self` with an arm per variant that traces the variant's fields. Every
/// type parameter must implement `Trace`; lifetimes, const parameters and the type's own
/// `where` clauses are kept as they are. A type with nothing to trace (no fields, or all
/// skipped) also sets `Trace::NEEDS_TRACE` to `false`. Unions are rejected.
///
/// The attributes:
///
/// - `#[gc(skip)]` on a field: do not trace it. Only for fields that hold no `Gc` (a `Gc`
///   the collector never sees stays a root: its target leaks until the field is dropped);
/// - `#[gc(crate = "path")]` on the type: where gort-gc is, `::gort::gc` by default; for
///   crates that depend on `gort-gc` directly: `#[gc(crate = "gort_gc")]`.
#[proc_macro_derive(Trace, attributes(gc))]
pub fn derive_trace(item: TokenStream) -> TokenStream {
    trace::expand(item.into()).into()
}
