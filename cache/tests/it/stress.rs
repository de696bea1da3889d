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

/// Per-entry expiry under concurrency: writers insert values that carry (an upper bound of) their
/// deadline while a thread advances the manual clock; a reader must never get a value whose deadline
/// had passed before its read began. Entries live `key % 50` ms from their creation; updates keep it.
#[test]
fn concurrent_expiry_never_returns_expired_entries() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use ember_cache::Expiry;
    use ember_core::{Clock, ManualClock};

    struct Life;
    impl Expiry<u64, u64> for Life {
        fn expire_after_create(&self, k: &u64, _: &u64, _: Instant) -> Option<Duration> {
            Some(Duration::from_millis(k % 50))
        }
    }

    let clock = ManualClock::new();
    let base = clock.now();
    let ms = move |c: &ManualClock| c.now().duration_since(base).as_millis() as u64;
    let c: Cache<u64, u64> = Cache::builder()
        .max_capacity(400)
        .shards(4)
        .expire_after(Life)
        .clock(clock.clone())
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (clock, stop) = (clock.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                clock.advance(Duration::from_millis(1));
                thread::yield_now();
            }
        })
    };
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let (c, clock) = (c.clone(), clock.clone());
            thread::spawn(move || {
                let mut x = t + 1;
                for i in 0..4_000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % 1_000;
                    if i % 3 == 0 {
                        // Insert a placeholder, then store the deadline computed from the clock after
                        // the entry was created: an upper bound of the real one. Updates keep the
                        // deadline, and compute does not create.
                        c.insert(k, u64::MAX);
                        c.compute(k, |old| old.map(|_| ms(&clock) + k % 50));
                    } else {
                        let before = ms(&clock);
                        if let Some(deadline) = c.get(&k) {
                            assert!(
                                deadline == u64::MAX || deadline > before,
                                "key {k}: deadline {deadline} ms returned at {before} ms"
                            );
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    ticker.join().unwrap();
    assert!(c.len() <= 400);
    c.cleanup();
    let now = ms(&clock);
    for (k, deadline) in c.iter() {
        assert!(
            deadline == u64::MAX || deadline > now,
            "key {k} left after cleanup"
        );
    }
}
