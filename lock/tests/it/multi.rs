use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use ember_lock::{Error, LockManager, Mode};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::{LONG, TTL, manual, manual_tree, wait_until};

#[test]
fn acquire_all_is_all_or_nothing() {
    let (_clock, locks) = manual();
    let held = locks.try_acquire("c", "other", TTL).unwrap();
    match locks.try_acquire_all(&["d", "c", "a", "b"], "me", TTL) {
        Err(Error::Held { resource, .. }) => assert_eq!(&*resource, "c"),
        other => panic!("expected Held, got {other:?}"),
    }
    for r in ["a", "b", "d"] {
        assert!(locks.holders(r).is_empty(), "{r} leaked");
    }
    locks.release(&held).unwrap();
    let leases = locks
        .try_acquire_all(&["d", "c", "a", "b", "a"], "me", TTL)
        .unwrap();
    let names: Vec<&str> = leases.iter().map(|l| l.resource()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert!(leases.windows(2).all(|w| w[0].token() < w[1].token()));
    locks.release_all(&leases).unwrap();
    assert_eq!(locks.stats().holders, 0);
}

#[test]
fn acquire_all_waits_until_every_resource_is_free() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("a", "x", TTL).unwrap();
    let _b = locks
        .try_acquire("b", "y", Duration::from_secs(20))
        .unwrap();
    let l = locks.clone();
    let w = thread::spawn(move || l.acquire_all(&["a", "b"], "me", TTL, LONG));
    wait_until("queued", || {
        locks.queue_len("a") == 1 && locks.queue_len("b") == 1
    });
    locks.release(&a).unwrap();
    // a is free now but b is not: nothing is taken yet.
    wait_until("asleep", || clock.waiters() >= 1);
    assert!(locks.holders("a").is_empty());
    clock.advance(Duration::from_secs(20)); // b's holder expires
    let leases = w.join().unwrap().unwrap();
    assert_eq!(leases.len(), 2);
}

#[test]
fn mixed_modes_in_one_request() {
    let (_clock, locks) = manual();
    let leases = locks
        .acquire_all_modes(
            &[
                ("cfg", Mode::Shared),
                ("row", Mode::Exclusive),
                ("cfg", Mode::Shared),
            ],
            "me",
            TTL,
            None,
        )
        .unwrap();
    assert_eq!(leases.len(), 2);
    assert!(locks.try_acquire_shared("cfg", "other", TTL).is_ok());
    assert!(locks.try_acquire("row", "other", TTL).is_err());
    // Naming a resource twice with different modes takes the stronger one.
    let both = locks
        .acquire_all_modes(
            &[("z", Mode::Shared), ("z", Mode::Exclusive)],
            "me",
            TTL,
            None,
        )
        .unwrap();
    assert_eq!(both[0].mode(), Mode::Exclusive);
}

/// Threads lock random overlapping sets, listed in random order; the canonical order and atomic
/// queueing mean none of them deadlocks, and each resource has one holder at a time.
#[test]
fn overlapping_sets_from_many_threads_never_deadlock() {
    const RESOURCES: [&str; 6] = ["r0", "r1", "r2", "r3", "r4", "r5"];
    let locks = LockManager::new();
    let busy: Arc<Vec<AtomicU32>> =
        Arc::new((0..RESOURCES.len()).map(|_| AtomicU32::new(0)).collect());
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let (locks, busy) = (locks.clone(), busy.clone());
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(t);
                let owner = format!("t{t}");
                for _ in 0..150 {
                    let mut set: Vec<usize> = (0..RESOURCES.len()).collect();
                    set.shuffle(&mut rng);
                    set.truncate(rng.random_range(1..=4));
                    let names: Vec<&str> = set.iter().map(|&i| RESOURCES[i]).collect();
                    let leases = locks.acquire_all(&names, &owner, LONG, LONG).unwrap();
                    for &i in &set {
                        assert_eq!(
                            busy[i].fetch_add(1, Ordering::SeqCst),
                            0,
                            "two holders of r{i}"
                        );
                    }
                    thread::yield_now();
                    for &i in &set {
                        busy[i].fetch_sub(1, Ordering::SeqCst);
                    }
                    locks.release_all(&leases).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = locks.stats();
    assert_eq!((s.deadlocks, s.timeouts, s.holders), (0, 0, 0));
}

#[test]
fn hierarchical_names_conflict_with_ancestors_and_descendants() {
    let (clock, locks) = manual_tree();
    let a7 = locks.try_acquire("event/42/seat/A7", "alice", TTL).unwrap();
    // A sibling seat is independent.
    let a8 = locks.try_acquire("event/42/seat/A8", "bob", TTL).unwrap();
    // The whole event cannot be locked while seats are held, exclusively or shared.
    match locks.try_acquire("event/42", "organiser", TTL) {
        Err(Error::Held { resource, .. }) => assert_eq!(&*resource, "event/42"),
        other => panic!("expected Held, got {other:?}"),
    }
    assert!(
        locks
            .try_acquire_shared("event/42", "auditor", TTL)
            .is_err()
    );
    // Another event is independent.
    let other_event = locks.try_acquire("event/43", "organiser", TTL).unwrap();
    locks.release(&a7).unwrap();
    assert!(locks.try_acquire("event/42", "organiser", TTL).is_err());
    locks.release(&a8).unwrap();
    let event = locks.try_acquire("event/42", "organiser", TTL).unwrap();
    // Now every seat of event 42 is blocked, and seats of event 43 too (event/43 is locked).
    assert!(locks.try_acquire("event/42/seat/B1", "carol", TTL).is_err());
    assert!(locks.try_acquire("event/43/seat/B1", "carol", TTL).is_err());
    locks.release(&event).unwrap();
    locks.release(&other_event).unwrap();

    // A shared lock on the event (a report) allows shared seat reads but no seat writes.
    let report = locks
        .try_acquire_shared("event/42", "auditor", TTL)
        .unwrap();
    assert!(
        locks
            .try_acquire_shared("event/42/seat/A1", "reader", TTL)
            .is_ok()
    );
    assert!(
        locks
            .try_acquire("event/42/seat/A2", "writer", TTL)
            .is_err()
    );
    locks.release(&report).unwrap();

    // Intention holds follow the lease's renewals and expiry.
    let seat = locks.try_acquire("event/7/seat/C3", "dave", TTL).unwrap();
    clock.advance(Duration::from_secs(8));
    let seat = locks.extend(&seat, TTL).unwrap();
    clock.advance(Duration::from_secs(8));
    assert!(locks.try_acquire("event/7", "organiser", TTL).is_err());
    clock.advance(Duration::from_secs(2));
    assert!(!locks.is_valid(&seat));
    assert!(locks.try_acquire("event/7", "organiser", TTL).is_ok());
}

#[test]
fn hierarchical_waiter_gets_the_parent_when_children_are_released() {
    let (_clock, locks) = manual_tree();
    let s1 = locks.try_acquire("event/1/seat/1", "a", TTL).unwrap();
    let s2 = locks.try_acquire("event/1/seat/2", "b", TTL).unwrap();
    let l = locks.clone();
    let organiser = thread::spawn(move || l.acquire("event/1", "organiser", TTL, LONG));
    wait_until("organiser queued", || locks.queue_len("event/1") == 1);
    // A new seat hold queues behind the organiser instead of starving it.
    assert!(matches!(
        locks.try_acquire("event/1/seat/3", "c", TTL),
        Err(Error::Queued { .. })
    ));
    locks.release(&s1).unwrap();
    locks.release(&s2).unwrap();
    let lease = organiser.join().unwrap().unwrap();
    assert_eq!(lease.resource(), "event/1");
}
