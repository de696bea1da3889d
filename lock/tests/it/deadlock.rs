use std::thread;

use ember_lock::{Error, Owner};

use crate::{LONG, TTL, manual, wait_until};

fn names(cycle: &[Owner]) -> Vec<&str> {
    cycle.iter().map(Owner::as_str).collect()
}

#[test]
fn two_owners_waiting_for_each_other() {
    let (_clock, locks) = manual();
    let _a1 = locks.try_acquire("r1", "A", TTL).unwrap();
    let b2 = locks.try_acquire("r2", "B", TTL).unwrap();
    let l = locks.clone();
    let a_waits = thread::spawn(move || l.acquire("r2", "A", TTL, LONG));
    wait_until("A queued on r2", || locks.queue_len("r2") == 1);
    // B asking for r1 would close the cycle B -> A -> B: refused at once instead of hanging.
    match locks.acquire("r1", "B", TTL, LONG) {
        Err(Error::Deadlock { cycle }) => assert_eq!(names(&cycle), ["B", "A"]),
        other => panic!("expected Deadlock, got {other:?}"),
    }
    assert_eq!(locks.stats().deadlocks, 1);
    assert_eq!(locks.queue_len("r1"), 0);
    // B backs off; A proceeds.
    locks.release(&b2).unwrap();
    let lease = a_waits.join().unwrap().unwrap();
    assert_eq!(lease.resource(), "r2");
}

#[test]
fn three_owners_in_a_cycle() {
    let (_clock, locks) = manual();
    let _a = locks.try_acquire("r1", "A", TTL).unwrap();
    let _b = locks.try_acquire("r2", "B", TTL).unwrap();
    let c = locks.try_acquire("r3", "C", TTL).unwrap();
    let l = locks.clone();
    let a_waits = thread::spawn(move || l.acquire("r2", "A", TTL, LONG));
    wait_until("A queued", || locks.queue_len("r2") == 1);
    let l = locks.clone();
    let b_waits = thread::spawn(move || l.acquire("r3", "B", TTL, LONG));
    wait_until("B queued", || locks.queue_len("r3") == 1);
    match locks.acquire("r1", "C", TTL, LONG) {
        Err(Error::Deadlock { cycle }) => assert_eq!(names(&cycle), ["C", "A", "B"]),
        other => panic!("expected Deadlock, got {other:?}"),
    }
    let err = locks.acquire("r1", "C", TTL, LONG).unwrap_err();
    assert_eq!(err.to_string(), "deadlock: C -> A -> B -> C");
    // Breaking the cycle lets everyone finish: C gives up r3, B gets it, releases r2, A gets it.
    locks.release(&c).unwrap();
    let b3 = b_waits.join().unwrap().unwrap();
    assert_eq!(b3.resource(), "r3");
    assert!(!a_waits.is_finished());
    let b2 = locks.holders("r2").pop().unwrap();
    locks.release(&b2).unwrap();
    assert_eq!(a_waits.join().unwrap().unwrap().resource(), "r2");
}

#[test]
fn waiting_for_yourself_is_a_deadlock() {
    let (_clock, locks) = manual();
    let _a = locks.try_acquire("r", "A", TTL).unwrap();
    match locks.acquire("r", "A", TTL, LONG) {
        Err(Error::Deadlock { cycle }) => assert_eq!(names(&cycle), ["A"]),
        other => panic!("expected Deadlock, got {other:?}"),
    }
    // Shared-to-exclusive upgrade is the same situation.
    let _s = locks.try_acquire_shared("s", "A", TTL).unwrap();
    assert!(matches!(
        locks.acquire("s", "A", TTL, LONG),
        Err(Error::Deadlock { .. })
    ));
}

#[test]
fn a_chain_without_a_cycle_is_not_a_deadlock() {
    let (_clock, locks) = manual();
    let a1 = locks.try_acquire("r1", "A", TTL).unwrap();
    let _b2 = locks.try_acquire("r2", "B", TTL).unwrap();
    let l = locks.clone();
    // B holds r2 and waits for r1 (held by A).
    let b_waits = thread::spawn(move || l.acquire("r1", "B", TTL, LONG));
    wait_until("B queued", || locks.queue_len("r1") == 1);
    let l = locks.clone();
    // C waits for r2 (held by B): C -> B -> A, no cycle.
    let c_waits = thread::spawn(move || l.acquire("r2", "C", TTL, LONG));
    wait_until("C queued", || locks.queue_len("r2") == 1);
    assert_eq!(locks.stats().deadlocks, 0);
    locks.release(&a1).unwrap();
    let b1 = b_waits.join().unwrap().unwrap();
    locks.release(&b1).unwrap();
    let b2 = locks.holders("r2").pop().unwrap();
    locks.release(&b2).unwrap();
    assert_eq!(c_waits.join().unwrap().unwrap().owner().as_str(), "C");
}

#[test]
fn cycle_through_a_queued_waiter_is_detected() {
    let (_clock, locks) = manual();
    // X holds r2. W wants {r1, r2}: r1 is free, but W waits in both queues, blocked by X on r2.
    let x2 = locks.try_acquire("r2", "X", TTL).unwrap();
    let l = locks.clone();
    let w = thread::spawn(move || l.acquire_all(&["r1", "r2"], "W", TTL, LONG));
    wait_until("W queued", || locks.queue_len("r1") == 1);
    // X asks for r1: nobody holds it, but W is ahead in line and W waits for X.
    match locks.acquire("r1", "X", TTL, LONG) {
        Err(Error::Deadlock { cycle }) => assert_eq!(names(&cycle), ["X", "W"]),
        other => panic!("expected Deadlock, got {other:?}"),
    }
    locks.release(&x2).unwrap();
    assert_eq!(w.join().unwrap().unwrap().len(), 2);
}
