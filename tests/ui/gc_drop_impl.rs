// A `Drop` impl could move a `Gc` out of a value behind the collector's back (here, `take`):
// `#[derive(Trace)]` rejects every type that has one.

#[derive(gort::gc::Trace)]
struct Node {
    value: u32,
    next: Option<gort::gc::Gc<Node>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.next.take();
    }
}

fn main() {}
