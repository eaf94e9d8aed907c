// A collected value's destructor runs on the collector's thread, so `Gc::new` needs `Send`;
// a value holding an `Rc` (here in a field that holds no `Gc`, skipped) is refused.

use std::rc::Rc;

#[derive(gort::gc::Trace)]
struct Shared {
    #[gc(skip)]
    count: Rc<u32>,
}

fn main() {
    let _ = gort::gc::Gc::new(Shared { count: Rc::new(1) });
}
