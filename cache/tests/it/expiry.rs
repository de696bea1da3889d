//! TTL and TTI, whole-cache and per entry, judged by a manual clock.

use std::sync::Arc;
use std::time::Duration;

use ember_cache::{Cache, Policy, RemovalCause};
use ember_core::ManualClock;
use parking_lot::Mutex;

use super::SEC;

fn build(clock: &ManualClock, ttl: Option<Duration>, tti: Option<Duration>) -> Cache<u32, u32> {
    let mut b = Cache::builder()
        .max_capacity(100)
        .shards(1)
        .policy(Policy::Lru)
        .clock(clock.clone());
    if let Some(t) = ttl {
        b = b.time_to_live(t);
    }
    if let Some(t) = tti {
        b = b.time_to_idle(t);
    }
    b.build().unwrap()
}

#[test]
fn ttl_expires_exactly_at_the_deadline() {
    let clock = ManualClock::new();
    let c = build(&clock, Some(10 * SEC), None);
    c.insert(1, 1);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(c.get(&1), Some(1));
    clock.advance(Duration::from_millis(1));
    assert_eq!(c.get(&1), None);
    assert!(!c.contains(&1));
    assert_eq!(c.stats().evicted_expired, 1);
}

#[test]
fn ttl_restarts_on_write_not_on_read() {
    let clock = ManualClock::new();
    let c = build(&clock, Some(10 * SEC), None);
    c.insert(1, 1);
    clock.advance(6 * SEC);
    assert_eq!(c.get(&1), Some(1));
    clock.advance(4 * SEC);
    assert_eq!(c.get(&1), None, "reads do not extend a TTL");
    c.insert(2, 2);
    clock.advance(6 * SEC);
    c.insert(2, 3);
    clock.advance(6 * SEC);
    assert_eq!(c.get(&2), Some(3), "a write restarts it");
}

#[test]
fn tti_extends_on_each_access() {
    let clock = ManualClock::new();
    let c = build(&clock, None, Some(5 * SEC));
    c.insert(1, 1);
    for _ in 0..10 {
        clock.advance(4 * SEC);
        assert_eq!(c.get(&1), Some(1));
    }
    clock.advance(5 * SEC);
    assert_eq!(c.get(&1), None);
}

#[test]
fn ttl_and_tti_together_the_earlier_wins() {
    let clock = ManualClock::new();
    let c = build(&clock, Some(10 * SEC), Some(4 * SEC));
    c.insert(1, 1);
    for _ in 0..2 {
        clock.advance(3 * SEC);
        assert_eq!(c.get(&1), Some(1));
    }
    clock.advance(3 * SEC); // 9 s: idle 3 s, alive
    assert_eq!(c.get(&1), Some(1));
    clock.advance(SEC); // 10 s: TTL
    assert_eq!(c.get(&1), None);
}

#[test]
fn per_entry_ttl_overrides_the_cache_ttl() {
    let clock = ManualClock::new();
    let c = build(&clock, Some(100 * SEC), None);
    c.insert_with_ttl(1, 1, 2 * SEC);
    c.insert(2, 2);
    c.insert_with_ttl(3, 3, 1_000 * SEC);
    clock.advance(2 * SEC);
    assert_eq!(c.get(&1), None);
    assert_eq!(c.get(&2), Some(2));
    clock.advance(100 * SEC);
    assert_eq!(c.get(&2), None);
    assert_eq!(c.get(&3), Some(3));
}

#[test]
fn huge_ttl_does_not_overflow() {
    let clock = ManualClock::new();
    let c = build(&clock, None, None);
    c.insert_with_ttl(1, 1, Duration::MAX);
    clock.advance(1_000_000 * SEC);
    assert_eq!(c.get(&1), Some(1));
}

#[test]
fn expired_entries_are_reclaimed_by_writes_without_a_thread() {
    let removed = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&removed);
    let clock = ManualClock::new();
    let c: Cache<u32, u32> = Cache::builder()
        .max_capacity(10_000)
        .shards(1)
        .time_to_live(SEC)
        .clock(clock.clone())
        .removal_listener(move |k, _, cause| r.lock().push((*k, cause)))
        .build()
        .unwrap();
    for i in 0..10 {
        c.insert(i, i);
    }
    clock.advance(SEC);
    assert_eq!(c.len(), 10, "nothing reclaimed yet: no thread");
    assert!(c.iter().next().is_none(), "but nothing expired is visible");
    c.insert(100, 100); // a write sweeps
    assert_eq!(c.len(), 1);
    let r = removed.lock();
    assert_eq!(r.len(), 10);
    assert!(r.iter().all(|(_, cause)| *cause == RemovalCause::Expired));
}

#[test]
fn cleanup_reclaims_everything_expired() {
    let clock = ManualClock::new();
    let c = build(&clock, None, Some(SEC));
    for i in 0..50 {
        c.insert(i, i);
    }
    clock.advance(SEC / 2);
    for i in 0..10 {
        assert_eq!(c.get(&i), Some(i));
    }
    clock.advance(SEC / 2);
    c.cleanup();
    assert_eq!(c.len(), 10, "the ten read half-way are still idle-alive");
    clock.advance(SEC);
    c.cleanup();
    assert!(c.is_empty());
}

#[test]
fn expired_counter_restarts_and_compute_sees_nothing() {
    let clock = ManualClock::new();
    let c: Cache<&str, i64> = Cache::builder()
        .max_capacity(10)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(c.increment("k", 5, Some(SEC)).unwrap(), 5);
    assert_eq!(c.increment("k", 5, Some(100 * SEC)).unwrap(), 10);
    clock.advance(SEC);
    assert_eq!(
        c.compute("k", |old| {
            assert!(old.is_none());
            None
        }),
        None
    );
    assert_eq!(c.increment("k", 1, None).unwrap(), 1);
    clock.advance(1000 * SEC);
    assert_eq!(c.get("k"), Some(1), "no TTL given for the new counter");
}
