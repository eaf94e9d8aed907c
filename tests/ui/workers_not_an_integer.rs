// `workers` takes an integer literal, not a string.

#[gort::test(workers = "x")]
async fn workers_is_a_string() {}

fn main() {}
