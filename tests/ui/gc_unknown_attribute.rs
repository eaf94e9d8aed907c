// `#[gc(...)]` takes `skip` on a field and `crate = "..."` on the type; anything else is an
// error, each pointing at its key (here, serde's `bound` and `skip_serializing`).

#[derive(gort::gc::Trace)]
#[gc(bound = "T: Trace")]
struct Counter<T> {
    value: T,
    #[gc(skip_serializing)]
    count: u64,
}

fn main() {}
