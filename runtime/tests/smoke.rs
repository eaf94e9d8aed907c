use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn spawn_and_join() {
    let rt = gort_runtime::Builder::new().workers(2).build().unwrap();
    let v = rt.block_on(async {
        let hs: Vec<_> = (0..1000u64).map(|i| gort_runtime::go(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(v, 499500);
}

#[test]
fn many_spawned_from_outside() {
    let rt = gort_runtime::Builder::new().workers(2).build().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..10_000)
        .map(|_| {
            let n = n.clone();
            rt.spawn(async move {
                n.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    rt.block_on(async move {
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(n.load(Ordering::Relaxed), 10_000);
}
