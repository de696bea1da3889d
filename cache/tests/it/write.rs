//! Write-through, write-around and write-back over a fault-injecting MemoryStore.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_cache::{Cache, Error, Policy, WriteBack, WritePolicy};
use ember_core::store::Write;
use ember_core::{ManualClock, MemoryStore};

use super::wait_until;

type Db = MemoryStore<u32, u64>;

fn cache(db: &Db, clock: &ManualClock, policy: WritePolicy, cap: u64) -> Cache<u32, u64> {
    Cache::builder()
        .max_capacity(cap)
        .policy(Policy::Lru)
        .shards(1)
        .clock(clock.clone())
        .store(db.clone(), policy)
        .build()
        .unwrap()
}

fn back(batch: usize, delay_ms: u64) -> WritePolicy {
    WritePolicy::WriteBack(
        WriteBack::new()
            .batch_size(batch)
            .max_delay(Duration::from_millis(delay_ms))
            .retry_backoff(Duration::from_millis(100), Duration::from_secs(1)),
    )
}

#[test]
fn no_store_means_typed_errors() {
    let c: Cache<u32, u64> = Cache::new(10).unwrap();
    assert!(matches!(c.put(1, 1), Err(Error::NoStore)));
    assert!(matches!(c.fetch(&1), Err(Error::NoStore)));
    assert!(matches!(c.delete(&1), Err(Error::NoStore)));
    assert!(c.flush().is_ok());
}

#[test]
fn bad_write_back_settings_are_rejected() {
    let db = Db::new();
    let r = Cache::<u32, u64>::builder()
        .max_capacity(10)
        .store(db, WritePolicy::WriteBack(WriteBack::new().batch_size(0)))
        .build();
    assert!(matches!(r, Err(Error::Config(_))));
}

#[test]
fn write_through_writes_store_then_cache_and_fails_cleanly() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, WritePolicy::WriteThrough, 10);
    c.put(1, 10).unwrap();
    assert_eq!(db.peek(&1), Some(10));
    assert_eq!(c.get(&1), Some(10));
    db.set_down(true);
    let err = c.put(1, 11).unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err}");
    assert_eq!(c.get(&1), Some(10), "cache unchanged");
    assert!(c.put(2, 20).is_err());
    assert!(!c.contains(&2));
    assert!(c.delete(&1).is_err());
    assert_eq!(c.get(&1), Some(10));
    db.set_down(false);
    c.delete(&1).unwrap();
    assert_eq!((db.peek(&1), c.get(&1)), (None, None));
}

#[test]
fn write_around_invalidates_and_next_read_loads() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, WritePolicy::WriteAround, 10);
    c.insert(1, 1);
    c.put(1, 2).unwrap();
    assert!(!c.contains(&1), "invalidated");
    assert_eq!(db.peek(&1), Some(2));
    assert_eq!(c.fetch(&1).unwrap(), Some(2));
    assert!(c.contains(&1));
    db.fail_next(1);
    assert!(c.put(1, 3).is_err());
    assert_eq!(
        c.get(&1),
        Some(2),
        "a failed write-around leaves the cache alone"
    );
}

#[test]
fn read_through_single_flight_and_errors() {
    let db = Db::new();
    let clock = ManualClock::new();
    db.seed(5, 50);
    let c = cache(&db, &clock, WritePolicy::WriteThrough, 10);
    db.fail_next(1);
    assert!(matches!(c.fetch(&5), Err(Error::Store { .. })));
    assert!(!c.contains(&5));
    assert_eq!(c.stats().load_failures, 1);
    // 16 concurrent misses: one store read.
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let c = c.clone();
            thread::spawn(move || c.fetch(&5).unwrap())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Some(50));
    }
    assert_eq!(db.calls().gets, 2, "one failed read, then one shared read");
    assert_eq!(c.fetch(&6).unwrap(), None);
    assert!(!c.contains(&6), "absent keys are not cached");
}

#[test]
fn write_back_flushes_when_a_batch_fills() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(10, 60_000), 1000);
    for i in 0..9 {
        c.put(i, u64::from(i)).unwrap();
    }
    assert_eq!(c.get(&3), Some(3), "visible in the cache at once");
    assert_eq!(db.len(), 0, "not yet in the store");
    assert_eq!(c.stats().dirty, 9);
    c.put(9, 9).unwrap();
    wait_until("batch flushed", || db.len() == 10);
    assert_eq!(db.calls().put_many, 1, "one batch");
    wait_until("clean", || c.dirty_count() == 0);
}

#[test]
fn write_back_flushes_after_max_delay_by_the_clock() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(100, 500), 1000);
    c.put(1, 1).unwrap();
    c.put(2, 2).unwrap();
    // The flusher is waiting for the delay; nothing is written before it.
    wait_until("flusher parked", || clock.waiters() >= 1);
    clock.advance(Duration::from_millis(499));
    wait_until("flusher parked again", || clock.waiters() >= 1);
    assert_eq!(db.len(), 0);
    clock.advance(Duration::from_millis(1));
    wait_until("flushed by delay", || db.len() == 2);
    assert_eq!(c.stats().flushes, 1);
}

#[test]
fn write_back_coalesces_writes_to_one_key() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(100, 60_000), 1000);
    for v in 0..50 {
        c.put(7, v).unwrap();
    }
    c.delete(&8).unwrap();
    c.flush().unwrap();
    assert_eq!(db.writes(), vec![Write::Put(7, 49), Write::Delete(8)]);
}

#[test]
fn write_back_flushes_an_evicted_dirty_entry_and_reads_see_it_meanwhile() {
    let db = Db::new();
    let clock = ManualClock::new();
    db.set_down(true);
    let c = cache(&db, &clock, back(100, 60_000), 2);
    c.put(1, 10).unwrap();
    c.put(2, 20).unwrap();
    c.put(3, 30).unwrap(); // evicts dirty key 1 (LRU): a flush is attempted at once
    wait_until("flush attempted", || c.stats().flush_failures >= 1);
    assert!(!c.contains(&1));
    // Key 1 is not in the cache and not in the store, but it is not lost: reads see it.
    assert_eq!(c.fetch(&1).unwrap(), Some(10));
    db.set_down(false);
    c.flush().unwrap();
    assert_eq!(
        (db.peek(&1), db.peek(&2), db.peek(&3)),
        (Some(10), Some(20), Some(30))
    );
}

#[test]
fn write_back_survives_an_outage_and_flush_reports_it() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(8, 100), 1000);
    db.set_down(true);
    for i in 0..20 {
        c.put(i, u64::from(i) * 10).unwrap();
    }
    match c.flush() {
        Err(Error::Flush { pending, .. }) => assert_eq!(pending, 20),
        other => panic!("expected a flush error, got {other:?}"),
    }
    assert_eq!(c.dirty_count(), 20);
    assert!(c.stats().flush_failures >= 1);
    // More writes during the outage, some to the same keys.
    for i in 10..30 {
        c.put(i, u64::from(i) * 100).unwrap();
    }
    // The store recovers; the flusher retries after its backoff (by the clock).
    db.set_down(false);
    for _ in 0..50 {
        if c.dirty_count() == 0 {
            break;
        }
        clock.advance(Duration::from_millis(200));
        wait_until("flusher idle", || {
            clock.waiters() >= 1 || c.dirty_count() == 0
        });
    }
    wait_until("all written", || c.dirty_count() == 0);
    for i in 0..30u32 {
        let want = if i < 10 {
            u64::from(i) * 10
        } else {
            u64::from(i) * 100
        };
        assert_eq!(db.peek(&i), Some(want), "key {i}");
    }
}

#[test]
fn write_back_with_a_slow_store_keeps_per_key_order() {
    let db = Db::new();
    let clock = ManualClock::new();
    let db = db.with_clock(Arc::new(clock.clone()));
    db.latency(Duration::from_millis(5));
    let c = cache(&db, &clock, back(16, 10), 10_000);
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for v in 0..300u64 {
                    c.put(t * 100 + (v % 7) as u32, v).unwrap();
                    if v % 50 == 0 {
                        let _ = c.flush();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    c.flush().unwrap();
    // Every key's writes reached the store in increasing order, and the last one is the final value.
    let mut last: HashMap<u32, u64> = HashMap::new();
    for w in db.writes() {
        if let Write::Put(k, v) = w {
            if let Some(prev) = last.insert(k, v) {
                assert!(v > prev, "key {k}: {v} written after {prev}");
            }
        }
    }
    for t in 0..4u32 {
        for r in 0..7u32 {
            let k = t * 100 + r;
            let final_v = (0..300u64).filter(|v| (v % 7) as u32 == r).max().unwrap();
            assert_eq!(db.peek(&k), Some(final_v));
        }
    }
}

#[test]
fn close_flushes_and_refuses_writes() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(100, 60_000), 100);
    c.put(1, 1).unwrap();
    c.close().unwrap();
    assert_eq!(db.peek(&1), Some(1));
    assert!(matches!(c.put(2, 2), Err(Error::Closed)));
    assert_eq!(c.get(&1), Some(1), "reads still work");
}

#[test]
fn close_during_outage_reports_and_the_flusher_keeps_retrying() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(100, 60_000), 100);
    c.put(1, 1).unwrap();
    db.set_down(true);
    assert!(matches!(c.close(), Err(Error::Flush { pending: 1, .. })));
    drop(c);
    db.set_down(false);
    for _ in 0..100 {
        if db.peek(&1).is_some() {
            break;
        }
        clock.advance(Duration::from_millis(500));
        wait_until("flusher waiting", || {
            clock.waiters() >= 1 || db.peek(&1).is_some()
        });
    }
    assert_eq!(db.peek(&1), Some(1), "written after the cache was dropped");
}

#[test]
fn dropping_the_last_handle_flushes() {
    let db = Db::new();
    let clock = ManualClock::new();
    let c = cache(&db, &clock, back(100, 60_000), 100);
    let c2 = c.clone();
    c.put(1, 1).unwrap();
    drop(c);
    assert_eq!(db.peek(&1), None, "another handle is alive");
    c2.put(2, 2).unwrap();
    drop(c2);
    assert_eq!((db.peek(&1), db.peek(&2)), (Some(1), Some(2)));
}
