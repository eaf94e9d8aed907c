// Entry points are called with nothing, so they cannot take parameters.

#[gort::test]
async fn with_a_parameter(n: u32) {
    assert_eq!(n, 1);
}

#[gort::main]
async fn run(name: &'static str) {
    println!("{name}");
}

fn main() {
    run("x");
}
