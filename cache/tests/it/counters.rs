//! Counters and compute under concurrency.

use std::sync::Arc;
use std::thread;

use ember_cache::{Cache, Error};

#[test]
fn concurrent_increments_are_never_lost() {
    let c: Cache<u32, i64> = Cache::builder()
        .max_capacity(1000)
        .shards(4)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..2_000 {
                    c.increment(i % 10, 1, None).unwrap();
                    c.increment(100 + t, 2, None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for k in 0..10 {
        assert_eq!(c.get(&k), Some(8 * 200));
    }
    for t in 0..8 {
        assert_eq!(c.get(&(100 + t)), Some(4_000));
    }
}

#[test]
fn increment_reports_overflow_and_keeps_the_value() {
    let c: Cache<u32, i64> = Cache::new(10).unwrap();
    c.increment(1, i64::MAX - 1, None).unwrap();
    assert!(matches!(c.increment(1, 2, None), Err(Error::Overflow)));
    assert_eq!(c.get(&1), Some(i64::MAX - 1));
    assert_eq!(c.increment(1, -10, None).unwrap(), i64::MAX - 11);
}

#[test]
fn concurrent_compute_appends_every_item() {
    let c: Cache<&str, Arc<Vec<u32>>> = Cache::new(10).unwrap();
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    c.compute("list", |old| {
                        let mut v = old.map(|a| (**a).clone()).unwrap_or_default();
                        v.push(t * 1000 + i);
                        Some(Arc::new(v))
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let list = c.get("list").unwrap();
    assert_eq!(list.len(), 1600);
    // Each thread's items appear in its own order.
    for t in 0..8 {
        let mine: Vec<u32> = list.iter().copied().filter(|x| x / 1000 == t).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(mine.len(), 200);
    }
}
