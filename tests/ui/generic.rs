// Entry points cannot be generic: the macro knows no type to call them with.

#[gort::main]
async fn run<T: Default>() {
    let _ = T::default();
}

fn main() {
    run::<u8>();
}
