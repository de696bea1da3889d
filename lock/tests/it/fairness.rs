use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::Clock;
use ember_lock::{Error, Mode};
use parking_lot::Mutex;

use crate::{LONG, TTL, manual, wait_until};

#[test]
fn waiters_are_served_in_arrival_order() {
    let (_clock, locks) = manual();
    let first = locks.try_acquire("r", "holder", TTL).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for i in 0..5 {
        let (l, order) = (locks.clone(), order.clone());
        handles.push(thread::spawn(move || {
            let lease = l.acquire("r", format!("w{i}"), TTL, LONG).unwrap();
            order.lock().push(i);
            l.release(&lease).unwrap();
        }));
        wait_until("waiter queued", || locks.queue_len("r") == i + 1);
    }
    assert_eq!(locks.stats().waiters, 5);
    locks.release(&first).unwrap();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*order.lock(), vec![0, 1, 2, 3, 4]);
    let s = locks.stats();
    assert_eq!((s.contended_waits, s.waiters, s.grants), (5, 0, 6));
}

#[test]
fn waiter_wakes_when_the_holders_lease_expires() {
    let (clock, locks) = manual();
    let holder = locks.try_acquire("r", "crashed", TTL).unwrap();
    let l2 = locks.clone();
    let waiter = thread::spawn(move || l2.acquire("r", "next", TTL, LONG));
    wait_until("waiter asleep", || {
        clock.waiters() >= 1 && locks.queue_len("r") == 1
    });
    clock.advance(Duration::from_secs(4));
    wait_until("waiter asleep again", || clock.waiters() >= 1);
    assert!(!waiter.is_finished());
    clock.advance(Duration::from_secs(6));
    let lease = waiter.join().unwrap().unwrap();
    assert!(lease.token() > holder.token());
    assert_eq!(lease.deadline(), clock.now() + TTL);
    assert_eq!(locks.stats().expiries, 1);
}

#[test]
fn waiter_times_out_at_its_deadline() {
    let (clock, locks) = manual();
    let _holder = locks.try_acquire("r", "holder", LONG).unwrap();
    let l2 = locks.clone();
    let waiter = thread::spawn(move || l2.acquire("r", "impatient", TTL, Duration::from_secs(5)));
    wait_until("waiter asleep", || {
        clock.waiters() >= 1 && locks.queue_len("r") == 1
    });
    clock.advance(Duration::from_secs(5));
    match waiter.join().unwrap() {
        Err(Error::Timeout { resource, waited }) => {
            assert_eq!(&*resource, "r");
            assert_eq!(waited, Duration::from_secs(5));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(locks.queue_len("r"), 0);
    let s = locks.stats();
    assert_eq!((s.timeouts, s.waiters), (1, 0));
}

#[test]
fn zero_wait_on_a_held_resource_times_out_at_once() {
    let (_clock, locks) = manual();
    let _holder = locks.try_acquire("r", "holder", TTL).unwrap();
    assert!(matches!(
        locks.acquire("r", "x", TTL, Duration::ZERO),
        Err(Error::Timeout { .. })
    ));
}

#[test]
fn waiter_wakes_on_release() {
    let (_clock, locks) = manual();
    let holder = locks.try_acquire("r", "holder", TTL).unwrap();
    let l2 = locks.clone();
    let waiter = thread::spawn(move || l2.acquire("r", "next", TTL, LONG));
    wait_until("waiter queued", || locks.queue_len("r") == 1);
    locks.release(&holder).unwrap();
    let lease = waiter.join().unwrap().unwrap();
    assert_eq!(lease.owner().as_str(), "next");
}

#[test]
fn try_acquire_does_not_jump_the_queue() {
    let (_clock, locks) = manual();
    // w waits for {a, b}; b is held, a is free but w is queued on it.
    let hold_b = locks.try_acquire("b", "holder", TTL).unwrap();
    let l2 = locks.clone();
    let w = thread::spawn(move || l2.acquire_all(&["a", "b"], "w", TTL, LONG));
    wait_until("w queued", || locks.queue_len("a") == 1);
    match locks.try_acquire("a", "barger", TTL) {
        Err(Error::Queued { resource, waiters }) => {
            assert_eq!(&*resource, "a");
            assert_eq!(waiters, 1);
        }
        other => panic!("expected Queued, got {other:?}"),
    }
    locks.release(&hold_b).unwrap();
    let leases = w.join().unwrap().unwrap();
    assert_eq!(leases.len(), 2);
}

#[test]
fn readers_share_and_a_waiting_writer_is_not_starved() {
    let (_clock, locks) = manual();
    let r1 = locks.try_acquire_shared("doc", "r1", TTL).unwrap();
    let r2 = locks.try_acquire_shared("doc", "r2", TTL).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (l, o) = (locks.clone(), order.clone());
    let writer = thread::spawn(move || {
        let lease = l.acquire("doc", "writer", TTL, LONG).unwrap();
        o.lock().push("writer");
        l.release(&lease).unwrap();
    });
    wait_until("writer queued", || locks.queue_len("doc") == 1);
    // A new reader is compatible with the holders but must not overtake the writer.
    assert!(matches!(
        locks.try_acquire_shared("doc", "r3", TTL),
        Err(Error::Queued { .. })
    ));
    let (l, o) = (locks.clone(), order.clone());
    let late_reader = thread::spawn(move || {
        let lease = l.acquire_shared("doc", "r4", TTL, LONG).unwrap();
        assert_eq!(lease.mode(), Mode::Shared);
        o.lock().push("late reader");
        l.release(&lease).unwrap();
    });
    wait_until("reader queued", || locks.queue_len("doc") == 2);
    locks.release(&r1).unwrap();
    locks.release(&r2).unwrap();
    writer.join().unwrap();
    late_reader.join().unwrap();
    assert_eq!(*order.lock(), vec!["writer", "late reader"]);
}

#[test]
fn queued_readers_are_admitted_together() {
    let (_clock, locks) = manual();
    let w = locks.try_acquire("doc", "writer", TTL).unwrap();
    let mut handles = Vec::new();
    for i in 0..3 {
        let l = locks.clone();
        handles.push(thread::spawn(move || {
            l.acquire_shared("doc", format!("r{i}"), TTL, LONG).unwrap()
        }));
        wait_until("reader queued", || locks.queue_len("doc") == i + 1);
    }
    locks.release(&w).unwrap();
    // All three hold it at the same time (none of them releases).
    let leases: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(locks.holders("doc").len(), 3);
    for l in &leases {
        assert!(locks.is_valid(l));
    }
}
