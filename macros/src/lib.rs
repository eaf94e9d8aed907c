//! gort's macros, `#[gort::main]`, `#[gort::test]` and the engine of `select!`: use them
//! through the `gort` crate, which re-exports them.
//!
//! Both are thin: they turn an `async fn` into a plain `fn` that builds a runtime with the
//! public `gort::Builder` and blocks on the body (see `entry.rs` for the exact lowering), so
//! nothing they do is out of reach of hand-written code. On a mistake they still emit the
//! function next to a `compile_error!`, so that an IDE keeps seeing it.

mod args;
mod entry;
mod errors;
mod select;

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
