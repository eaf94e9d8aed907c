//! Compile-fail tests of `#[gort::main]`, `#[gort::test]`, `#[derive(gort::gc::Trace)]` and
//! `Gc::new`: each file in `tests/ui/` misuses one, and its `.stderr` holds the message the user
//! sees and where it points.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test trybuild`, then
//! read the diff: each message must say what is wrong and point at the right tokens.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
