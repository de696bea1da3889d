//! TTL and TTI, whole-cache and per entry, judged by a manual clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_cache::{Cache, Expiry, Policy, RemovalCause};
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

// ---- Per-entry expiry through the `Expiry` trait ----

/// Per-key TTL and TTI in seconds, taken from the key: `key / 1000` s to live after each write (0 =
/// none) and `key % 1000` s of idle time (0 = none), and a log of every call.
#[derive(Clone, Default)]
struct ByKey {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// Which method was called, for which key, with how much time left.
type Call = (&'static str, u32, Option<Duration>);

impl ByKey {
    fn life(key: u32) -> Option<Duration> {
        match (key / 1000, key % 1000) {
            (0, 0) => None,
            (0, idle) => Some(idle * SEC),
            (ttl, _) => Some(ttl * SEC),
        }
    }
    fn idle(key: u32) -> Option<Duration> {
        (key / 1000 == 0 && key % 1000 != 0).then(|| (key % 1000) * SEC)
    }
}

impl Expiry<u32, u32> for ByKey {
    fn expire_after_create(&self, k: &u32, _: &u32, _: Instant) -> Option<Duration> {
        self.calls.lock().push(("create", *k, None));
        Self::life(*k)
    }
    fn expire_after_read(
        &self,
        k: &u32,
        _: &u32,
        _: Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        self.calls.lock().push(("read", *k, left));
        Self::idle(*k)
    }
    fn expire_after_update(
        &self,
        k: &u32,
        _: &u32,
        _: Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        self.calls.lock().push(("update", *k, left));
        Self::life(*k)
    }
}

fn with_expiry<X: Expiry<u32, u32> + 'static>(
    clock: &ManualClock,
    expiry: X,
    ttl: Option<Duration>,
    tti: Option<Duration>,
) -> Cache<u32, u32> {
    let mut b = Cache::builder()
        .max_capacity(1_000)
        .shards(1)
        .expire_after(expiry)
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
fn expiry_create_sets_a_per_entry_ttl() {
    let clock = ManualClock::new();
    let x = ByKey::default();
    let c = with_expiry(&clock, x.clone(), None, None);
    c.insert(2000, 1); // 2 s to live
    c.insert(5000, 2); // 5 s
    c.insert(0, 3); // no deadline
    clock.advance(Duration::from_millis(1_999));
    assert_eq!(c.get(&2000), Some(1));
    clock.advance(Duration::from_millis(1));
    assert_eq!(c.get(&2000), None, "expired exactly at its own deadline");
    assert_eq!(c.get(&5000), Some(2));
    clock.advance(3 * SEC);
    assert_eq!(c.get(&5000), None);
    clock.advance(10_000 * SEC);
    assert_eq!(c.get(&0), Some(3), "create answered None: no deadline");
    let calls = x.calls.lock();
    assert_eq!(calls.iter().filter(|c| c.0 == "create").count(), 3);
    // A TTL-only key answers None on reads: its deadline is kept and reported as the time left.
    assert!(calls.contains(&("read", 2000, Some(Duration::from_millis(1)))));
    assert!(calls.contains(&("read", 0, None)));
    assert_eq!(c.stats().evicted_expired, 2);
}

#[test]
fn expiry_read_extends_a_per_entry_idle_deadline() {
    let clock = ManualClock::new();
    let c = with_expiry(&clock, ByKey::default(), None, None);
    c.insert(3, 1); // 3 s idle
    c.insert(10, 2); // 10 s idle
    for _ in 0..5 {
        clock.advance(2 * SEC);
        assert_eq!(
            c.get(&3),
            Some(1),
            "each read restarts its 3 s of idle time"
        );
    }
    assert_eq!(c.get(&10), None, "10 s without a read");
    clock.advance(3 * SEC);
    assert_eq!(c.get(&3), None);
}

#[test]
fn expiry_update_moves_the_deadline_and_none_keeps_it() {
    struct UpdateTo(Option<Duration>);
    impl Expiry<u32, u32> for UpdateTo {
        fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
            Some(10 * SEC)
        }
        fn expire_after_update(
            &self,
            _: &u32,
            v: &u32,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            assert_eq!(*v, 2, "update sees the new value");
            self.0
        }
    }
    // None: the deadline set at create is kept through the update.
    let clock = ManualClock::new();
    let c = with_expiry(&clock, UpdateTo(None), None, None);
    c.insert(1, 1);
    clock.advance(6 * SEC);
    c.insert(1, 2);
    clock.advance(4 * SEC);
    assert_eq!(c.get(&1), None, "None kept the 10 s deadline from create");
    // Some: the update restarts it.
    let clock = ManualClock::new();
    let c = with_expiry(&clock, UpdateTo(Some(10 * SEC)), None, None);
    c.insert(1, 1);
    clock.advance(6 * SEC);
    c.insert(1, 2);
    clock.advance(9 * SEC);
    assert_eq!(c.get(&1), Some(2));
    clock.advance(SEC);
    assert_eq!(c.get(&1), None);
    // Shorter than what is left: the earlier deadline is honoured.
    let clock = ManualClock::new();
    let c = with_expiry(&clock, UpdateTo(Some(SEC)), None, None);
    c.insert(1, 1);
    c.insert(1, 2);
    clock.advance(SEC);
    assert_eq!(c.get(&1), None);
}

#[test]
fn expiry_zero_expires_at_once() {
    struct Zero(&'static str);
    impl Expiry<u32, u32> for Zero {
        fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
            (self.0 == "create").then_some(Duration::ZERO)
        }
        fn expire_after_read(
            &self,
            _: &u32,
            _: &u32,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            (self.0 == "read").then_some(Duration::ZERO)
        }
        fn expire_after_update(
            &self,
            _: &u32,
            _: &u32,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            (self.0 == "update").then_some(Duration::ZERO)
        }
    }
    let removed = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&removed);
    let clock = ManualClock::new();
    let c: Cache<u32, u32> = Cache::builder()
        .max_capacity(100)
        .expire_after(Zero("create"))
        .clock(clock.clone())
        .removal_listener(move |k, _, cause| r.lock().push((*k, cause)))
        .build()
        .unwrap();
    c.insert(1, 1);
    assert_eq!(c.get(&1), None, "never visible");
    assert!(!c.contains(&1));
    assert_eq!(c.len(), 0, "reclaimed by the write itself");
    assert_eq!(*removed.lock(), vec![(1, RemovalCause::Expired)]);

    let c = with_expiry(&clock, Zero("read"), None, None);
    c.insert(1, 1);
    assert_eq!(c.get(&1), Some(1), "the read that expires it still sees it");
    assert_eq!(c.get(&1), None);

    let c = with_expiry(&clock, Zero("update"), None, None);
    c.insert(1, 1);
    assert_eq!(c.get(&1), Some(1));
    c.insert(1, 2);
    assert_eq!(c.get(&1), None, "the update expired it");
    assert_eq!(c.stats().evicted_expired, 1);
}

#[test]
fn expiry_combines_with_cache_wide_ttl_and_tti_earliest_wins() {
    let clock = ManualClock::new();
    // Cache-wide TTL 5 s caps a per-entry 100 s; a per-entry 2 s undercuts it.
    let c = with_expiry(&clock, ByKey::default(), Some(5 * SEC), None);
    c.insert(100_000, 1);
    c.insert(2000, 2);
    clock.advance(2 * SEC);
    assert_eq!((c.get(&100_000), c.get(&2000)), (Some(1), None));
    clock.advance(3 * SEC);
    assert_eq!(c.get(&100_000), None, "the cache-wide TTL still applies");
    // Cache-wide TTI 4 s with a per-entry TTL of 10 s: idleness ends it first unless read.
    let c = with_expiry(&clock, ByKey::default(), None, Some(4 * SEC));
    c.insert(10_000, 1);
    c.insert(10_001, 2);
    clock.advance(3 * SEC);
    assert_eq!(c.get(&10_000), Some(1));
    clock.advance(3 * SEC);
    assert_eq!(c.get(&10_000), Some(1), "read 3 s ago: idle-alive");
    assert_eq!(c.get(&10_001), None, "never read: idle for 6 s");
    for _ in 0..2 {
        clock.advance(2 * SEC);
        let _ = c.get(&10_000);
    }
    assert_eq!(
        c.get(&10_000),
        None,
        "10 s TTL from create, despite the reads"
    );
}

#[test]
fn insert_with_ttl_wins_over_the_expiry_for_its_write() {
    let clock = ManualClock::new();
    let x = ByKey::default();
    let c = with_expiry(&clock, x.clone(), Some(100 * SEC), None);
    c.insert_with_ttl(2000, 1, 20 * SEC); // the Expiry would say 2 s
    assert!(x.calls.lock().is_empty(), "not asked for an explicit TTL");
    clock.advance(10 * SEC);
    assert_eq!(c.get(&2000), Some(1));
    assert_eq!(
        x.calls.lock().last(),
        Some(&("read", 2000, Some(10 * SEC))),
        "reads see the explicit deadline"
    );
    // A plain update asks the Expiry (2 s from now) ...
    c.insert(2000, 2);
    clock.advance(2 * SEC);
    assert_eq!(c.get(&2000), None);
    // ... and an explicit TTL longer than the cache-wide one replaces it for that write.
    c.insert_with_ttl(0, 3, 1_000 * SEC);
    clock.advance(500 * SEC);
    assert_eq!(c.get(&0), Some(3));
}

#[test]
fn counters_and_compute_ask_the_expiry() {
    struct Window;
    impl Expiry<&'static str, i64> for Window {
        fn expire_after_create(&self, _: &&str, _: &i64, _: Instant) -> Option<Duration> {
            Some(10 * SEC)
        }
        fn expire_after_update(
            &self,
            _: &&str,
            v: &i64,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            // Over the limit: keep the key 60 s (a penalty box); else keep the window's deadline.
            (*v > 3).then_some(60 * SEC)
        }
    }
    let clock = ManualClock::new();
    let c: Cache<&str, i64> = Cache::builder()
        .max_capacity(10)
        .expire_after(Window)
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(c.increment("a", 1, None).unwrap(), 1);
    clock.advance(5 * SEC);
    assert_eq!(c.increment("a", 1, None).unwrap(), 2);
    clock.advance(5 * SEC);
    assert_eq!(
        c.increment("a", 1, None).unwrap(),
        1,
        "10 s window from create"
    );
    for _ in 0..3 {
        c.increment("a", 1, None).unwrap();
    }
    clock.advance(30 * SEC);
    assert_eq!(
        c.get("a"),
        Some(4),
        "over the limit: 60 s from the last update"
    );
    c.compute("a", |v| v.map(|v| v + 1));
    clock.advance(59 * SEC);
    assert_eq!(c.get("a"), Some(5));
    clock.advance(SEC);
    assert_eq!(c.get("a"), None);
    // An explicit ttl_if_new replaces the create answer.
    assert_eq!(c.increment("b", 1, Some(SEC)).unwrap(), 1);
    clock.advance(SEC);
    assert_eq!(c.get("b"), None);
}

#[test]
fn expiry_duration_max_means_never_and_peeks_are_not_reads() {
    let clock = ManualClock::new();
    struct Forever;
    impl Expiry<u32, u32> for Forever {
        fn expire_after_create(&self, _: &u32, _: &u32, _: Instant) -> Option<Duration> {
            Some(SEC)
        }
        fn expire_after_read(
            &self,
            _: &u32,
            _: &u32,
            _: Instant,
            _: Option<Duration>,
        ) -> Option<Duration> {
            Some(Duration::MAX)
        }
    }
    let c = with_expiry(&clock, Forever, None, None);
    c.insert(1, 1);
    c.insert(2, 2);
    assert!(c.contains(&2));
    assert_eq!(c.iter().count(), 2);
    assert_eq!(c.get(&1), Some(1), "this read lifts the deadline");
    clock.advance(1_000_000 * SEC);
    assert_eq!(c.get(&1), Some(1));
    assert_eq!(c.get(&2), None, "contains and iter did not count as reads");
    c.cleanup();
    assert_eq!(c.len(), 1);
}

#[test]
fn expiry_reclaims_by_writes_and_cleanup_and_loaders_count_as_reads() {
    let clock = ManualClock::new();
    let x = ByKey::default();
    let c = with_expiry(&clock, x.clone(), None, None);
    for k in 1..=20 {
        c.insert(k, k); // k s idle
    }
    clock.advance(10 * SEC);
    assert_eq!(c.len(), 20, "no thread reclaims");
    c.insert(0, 0); // a write sweeps the ten whose idle time ran out
    assert_eq!(c.len(), 11);
    assert_eq!(c.get_with(15, || unreachable!()), 15);
    assert!(x.calls.lock().contains(&("read", 15, Some(5 * SEC))));
    clock.advance(14 * SEC);
    c.cleanup();
    let mut left: Vec<u32> = c.iter().map(|(k, _)| k).collect();
    left.sort_unstable();
    assert_eq!(left, vec![0, 15], "15 was read at 10 s: idle until 25 s");
}

/// An `Expiry` whose answers depend on the value, so a model can predict them: create `v % 4` s
/// (none when `v % 4 == 3`), read `v % 3` s when `v` is even (else keep), update `v % 5` s when
/// `v % 5 < 3` (else keep).
struct ByValue;

impl ByValue {
    fn create(v: u32) -> Option<u64> {
        (v % 4 != 3).then_some(u64::from(v % 4) * 1000)
    }
    fn read(v: u32) -> Option<u64> {
        (v % 2 == 0).then_some(u64::from(v % 3) * 1000)
    }
    fn update(v: u32) -> Option<u64> {
        (v % 5 < 3).then_some(u64::from(v % 5) * 1000)
    }
}

impl Expiry<u32, u32> for ByValue {
    fn expire_after_create(&self, _: &u32, v: &u32, _: Instant) -> Option<Duration> {
        Self::create(*v).map(Duration::from_millis)
    }
    fn expire_after_read(
        &self,
        _: &u32,
        v: &u32,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::read(*v).map(Duration::from_millis)
    }
    fn expire_after_update(
        &self,
        _: &u32,
        v: &u32,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Self::update(*v).map(Duration::from_millis)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u32, u32),
    InsertTtl(u32, u32, u64),
    Get(u32),
    Advance(u64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..6u32, 0..60u32).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (0..6u32, 0..60u32, 0..4000u64).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        4 => (0..6u32).prop_map(Op::Get),
        2 => (0..2500u64).prop_map(Op::Advance),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(crate::cases(200)))]

    /// The cache against a model of the documented rules: the earliest of the cache-wide TTL (from
    /// the last write, unless that write had an explicit TTL), the cache-wide TTI (from the last read
    /// or write) and the per-entry deadline (explicit TTL, else the Expiry's answer; `None` keeps it).
    #[test]
    fn expiry_matches_a_model(
        ops in proptest::collection::vec(op(), 1..80),
        ttl in proptest::option::of(1..5000u64),
        tti in proptest::option::of(1..5000u64),
    ) {
        #[derive(Debug)]
        struct E { v: u32, ttl_at: Option<u64>, idle_at: Option<u64>, custom: Option<u64> }
        impl E {
            fn alive(&self, now: u64) -> bool {
                [self.ttl_at, self.idle_at, self.custom].into_iter().flatten().all(|d| d > now)
            }
        }
        let clock = ManualClock::new();
        let mut b = Cache::builder().max_capacity(100).expire_after(ByValue).clock(clock.clone());
        if let Some(t) = ttl { b = b.time_to_live(Duration::from_millis(t)); }
        if let Some(t) = tti { b = b.time_to_idle(Duration::from_millis(t)); }
        let cache: Cache<u32, u32> = b.build().unwrap();
        let mut model: std::collections::HashMap<u32, E> = Default::default();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Advance(ms) => {
                    now += ms;
                    clock.advance(Duration::from_millis(ms));
                }
                Op::Insert(k, v) => {
                    cache.insert(k, v);
                    let live = model.get(&k).filter(|e| e.alive(now)).map(|e| e.custom);
                    let custom = match live {
                        Some(cur) => ByValue::update(v).map(|d| now + d).or(cur),
                        None => ByValue::create(v).map(|d| now + d),
                    };
                    model.insert(k, E { v, ttl_at: ttl.map(|t| now + t), idle_at: tti.map(|t| now + t), custom });
                }
                Op::InsertTtl(k, v, t) => {
                    cache.insert_with_ttl(k, v, Duration::from_millis(t));
                    model.insert(k, E { v, ttl_at: None, idle_at: tti.map(|t| now + t), custom: Some(now + t) });
                }
                Op::Get(k) => {
                    let expect = match model.get_mut(&k) {
                        Some(e) if e.alive(now) => {
                            if let Some(d) = ByValue::read(e.v) { e.custom = Some(now + d); }
                            if let Some(t) = tti { e.idle_at = Some(now + t); }
                            Some(e.v)
                        }
                        _ => { model.remove(&k); None }
                    };
                    proptest::prop_assert_eq!(cache.get(&k), expect, "get {} at {} ms", k, now);
                }
            }
        }
        for (k, e) in &model {
            proptest::prop_assert_eq!(cache.contains(k), e.alive(now), "contains {} at the end", k);
        }
    }
}
