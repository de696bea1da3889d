//! get_with / try_get_with single-flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ember_cache::Cache;
use parking_lot::Mutex;

#[test]
fn thirty_two_concurrent_misses_run_the_loader_once() {
    for round in 0..20u32 {
        let clock = ember_core::ManualClock::new();
        let c: Cache<u32, String> = Cache::builder()
            .max_capacity(100)
            .clock(clock.clone())
            .build()
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(32));
        // The loader blocks until every caller has had the chance to arrive.
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock();
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let (c, calls, barrier, gate) =
                    (c.clone(), calls.clone(), barrier.clone(), gate.clone());
                thread::spawn(move || {
                    barrier.wait();
                    c.get_with(round, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        drop(gate.lock());
                        format!("v{round}")
                    })
                })
            })
            .collect();
        // Every other caller is now waiting on the flight (they block on the cache's clock).
        super::wait_until("31 waiters", || clock.waiters() == 31);
        drop(held);
        for t in threads {
            assert_eq!(t.join().unwrap(), format!("v{round}"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(c.stats().loads, 1);
    }
}

#[derive(Debug, PartialEq)]
struct LoadError(&'static str);

#[test]
fn a_failing_loader_reaches_every_waiter_and_nothing_is_cached() {
    let clock = ember_core::ManualClock::new();
    let c: Cache<u32, u32> = Cache::builder()
        .max_capacity(100)
        .clock(clock.clone())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (c, calls, gate) = (c.clone(), calls.clone(), gate.clone());
            thread::spawn(move || {
                c.try_get_with(7, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    drop(gate.lock());
                    Err(LoadError("db down"))
                })
            })
        })
        .collect();
    super::wait_until("15 waiters", || clock.waiters() == 15);
    drop(held);
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let n = calls.load(Ordering::SeqCst);
    // Every caller got the error, from one loader call.
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().err().map(|e| &**e) == Some(&LoadError("db down")))
    );
    assert_eq!(n, 1, "waiters shared the failure");
    assert!(!c.contains(&7));
    assert_eq!(c.stats().load_failures, n as u64);
    // A later success is cached.
    assert_eq!(c.try_get_with(7, || Ok::<_, LoadError>(70)).unwrap(), 70);
    assert_eq!(c.get(&7), Some(70));
}

#[test]
fn a_panicking_loader_hands_over_to_a_waiter() {
    let c: Cache<u32, u32> = Cache::new(100).unwrap();
    let c2 = c.clone();
    let r = thread::spawn(move || c2.get_with(1, || panic!("loader bug"))).join();
    assert!(r.is_err());
    // The flight was abandoned, not left hanging.
    assert_eq!(c.get_with(1, || 11), 11);
}

#[test]
fn get_with_hit_does_not_call_the_loader() {
    let c: Cache<u32, u32> = Cache::new(100).unwrap();
    c.insert(1, 1);
    assert_eq!(c.get_with(1, || unreachable!()), 1);
    assert_eq!(c.stats().loads, 0);
}
