//! Many threads, mixed operations, invariant checks.

use std::thread;

use ember_cache::{Cache, Policy};

#[test]
fn concurrent_mixed_operations_keep_invariants() {
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::Adaptive] {
        let c: Cache<u64, (u64, u64)> = Cache::builder()
            .max_capacity(500)
            .shards(4)
            .policy(policy)
            .build()
            .unwrap();
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let c = c.clone();
                thread::spawn(move || {
                    let mut x = t + 1;
                    for i in 0..5_000u64 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = x % 2_000;
                        match i % 10 {
                            0..=5 => {
                                if let Some((kk, v)) = c.get(&k) {
                                    // Values always belong to their key.
                                    assert_eq!(kk, k);
                                    assert_eq!(v % 2_000, k);
                                }
                            }
                            6 | 7 => c.insert(k, (k, k + 2_000 * i)),
                            8 => {
                                c.remove(&k);
                            }
                            _ => {
                                let v = c.get_with(k, || (k, k));
                                assert_eq!(v.0, k);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(c.len() <= 500, "{policy}: {}", c.len());
        assert_eq!(c.len() as u64, c.weighted_size());
        assert_eq!(c.iter().count(), c.len());
        let s = c.stats();
        assert_eq!(s.hits + s.misses, s.hits + s.misses);
        assert!(s.inserts >= s.entries);
    }
}
