// Which field of a union to trace depends on which one is live, which only the program knows:
// `Trace` cannot be derived for unions.

#[derive(gort::gc::Trace)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
