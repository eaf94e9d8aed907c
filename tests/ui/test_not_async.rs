// `#[gort::test]` on a function that is not `async`.

#[gort::test]
fn not_async() {}

fn main() {}
