//! Builder validation, basic operations, listener causes, weights, Send + Sync.

use std::sync::Arc;

use ember_cache::{Cache, Error, Policy, RemovalCause};
use parking_lot::Mutex;

#[test]
fn handles_are_send_sync_and_clone() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Cache<String, Vec<u8>>>();
    assert_send_sync::<Cache<u64, Arc<str>>>();
    fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
    assert_error::<Error>();
}

#[test]
fn builder_rejects_bad_settings() {
    let no_cap = Cache::<u32, u32>::builder().build();
    assert!(matches!(no_cap, Err(Error::Config(_))));
    assert!(matches!(Cache::<u32, u32>::new(0), Err(Error::Config(_))));
    let bad_shards = Cache::<u32, u32>::builder()
        .max_capacity(100)
        .shards(3)
        .build();
    assert!(matches!(bad_shards, Err(Error::Config(_))));
    let too_many = Cache::<u32, u32>::builder()
        .max_capacity(2)
        .shards(4)
        .build();
    assert!(matches!(too_many, Err(Error::Config(_))));
    let zero_ttl = Cache::<u32, u32>::builder()
        .max_capacity(2)
        .time_to_live(std::time::Duration::ZERO)
        .build();
    assert!(matches!(zero_ttl, Err(Error::Config(_))));
}

#[test]
fn get_insert_remove_contains_len_iter() {
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::Adaptive] {
        let cache: Cache<String, u32> = Cache::builder()
            .max_capacity(100)
            .policy(policy)
            .build()
            .unwrap();
        assert!(cache.is_empty());
        cache.insert("a".into(), 1);
        cache.insert("b".into(), 2);
        cache.insert("a".into(), 3);
        assert_eq!(cache.get("a"), Some(3), "{policy}");
        assert!(cache.contains("b"));
        assert_eq!(cache.len(), 2);
        let mut all: Vec<_> = cache.iter().collect();
        all.sort();
        assert_eq!(all, vec![("a".to_string(), 3), ("b".to_string(), 2)]);
        assert_eq!(cache.remove("a"), Some(3));
        assert_eq!(cache.remove("a"), None);
        assert_eq!(cache.get("a"), None);
        cache.invalidate_all();
        assert!(cache.is_empty());
        assert_eq!(cache.policy(), policy);
    }
}

#[test]
fn capacity_by_count_is_never_exceeded() {
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::Adaptive] {
        let cache: Cache<u64, u64> = Cache::builder()
            .max_capacity(100)
            .policy(policy)
            .build()
            .unwrap();
        for i in 0..10_000u64 {
            cache.insert(i % 700, i);
            let _ = cache.get(&(i % 37));
            assert!(cache.len() <= 100, "{policy}: {}", cache.len());
        }
        assert!(
            cache.len() >= 90,
            "{policy} keeps the cache full: {}",
            cache.len()
        );
    }
}

#[test]
fn weigher_bounds_total_weight_across_shards() {
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::Adaptive] {
        let cache: Cache<u64, String> = Cache::builder()
            .max_capacity(100_000)
            .shards(8)
            .policy(policy)
            .weigher(|_, v: &String| v.len() as u32)
            .build()
            .unwrap();
        let mut state = 7u64;
        for i in 0..20_000u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (state >> 33) as usize % 200;
            cache.insert(i % 3000, "x".repeat(len));
            assert!(
                cache.weighted_size() <= 100_000,
                "{policy}: {}",
                cache.weighted_size()
            );
        }
        let held: u64 = cache.iter().map(|(_, v)| v.len().max(1) as u64).sum();
        assert_eq!(held, cache.weighted_size(), "{policy}");
    }
}

#[test]
fn too_heavy_entry_is_not_cached_and_listener_is_told() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let cache: Cache<&str, Vec<u8>> = Cache::builder()
        .max_capacity(10)
        .weigher(|_, v: &Vec<u8>| v.len() as u32)
        .removal_listener(move |k, _, cause| s.lock().push((*k, cause)))
        .build()
        .unwrap();
    cache.insert("small", vec![0; 4]);
    cache.insert("huge", vec![0; 11]);
    assert!(!cache.contains("huge"));
    assert!(cache.contains("small"));
    // Replacing a cached value by one too heavy removes the old one too.
    cache.insert("small", vec![0; 50]);
    assert!(!cache.contains("small"));
    assert_eq!(
        *seen.lock(),
        vec![
            ("huge", RemovalCause::Size),
            ("small", RemovalCause::Replaced),
            ("small", RemovalCause::Size)
        ]
    );
}

#[test]
fn listener_sees_every_cause_and_stats_count_them() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let clock = ember_core::ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(2)
        .policy(Policy::Lru)
        .clock(clock.clone())
        .removal_listener(move |k, v, cause| s.lock().push((*k, *v, cause)))
        .build()
        .unwrap();
    cache.insert(1, 10);
    cache.insert(1, 11); // replaced
    cache.insert(2, 20);
    cache.insert(3, 30); // evicts 1 (LRU)
    cache.remove(&2); // explicit
    cache.insert_with_ttl(4, 40, super::SEC);
    clock.advance(super::SEC);
    assert_eq!(cache.get(&4), None); // expired
    assert_eq!(
        *seen.lock(),
        vec![
            (1, 10, RemovalCause::Replaced),
            (1, 11, RemovalCause::Size),
            (2, 20, RemovalCause::Explicit),
            (4, 40, RemovalCause::Expired),
        ]
    );
    let st = cache.stats();
    assert_eq!(
        (
            st.replaced,
            st.evicted_size,
            st.removed_explicit,
            st.evicted_expired
        ),
        (1, 1, 1, 1)
    );
    assert_eq!((st.hits, st.misses), (0, 1));
    assert_eq!(st.entries, 1);
}

#[test]
fn invalidate_if_reports_explicit_removals() {
    let count = Arc::new(Mutex::new(0));
    let c = Arc::clone(&count);
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(100)
        .removal_listener(move |_, _, cause| {
            assert_eq!(cause, RemovalCause::Explicit);
            *c.lock() += 1;
        })
        .build()
        .unwrap();
    for i in 0..50 {
        cache.insert(i, i);
    }
    cache.invalidate_if(|k, _| *k < 10);
    assert_eq!(*count.lock(), 10);
    cache.invalidate_all();
    assert_eq!(*count.lock(), 50);
    assert!(cache.is_empty());
}

#[test]
fn stats_display_is_one_line() {
    let cache: Cache<u32, u32> = Cache::new(10).unwrap();
    cache.insert(1, 1);
    let _ = cache.get(&1);
    let line = cache.stats().to_string();
    assert!(line.contains("hits=1") && !line.contains('\n'), "{line}");
}
