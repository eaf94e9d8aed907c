// A runtime needs at least one worker.

#[gort::main(workers = 0)]
async fn main() {}
