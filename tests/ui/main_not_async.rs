// `#[gort::main]` on a function that is not `async`.

#[gort::main]
fn main() {}
