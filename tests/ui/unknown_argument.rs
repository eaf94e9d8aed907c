// An argument other than `workers` (here, tokio's `flavor`).

#[gort::main(flavor = "current_thread")]
async fn main() {}
