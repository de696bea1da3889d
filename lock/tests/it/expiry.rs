use std::time::Duration;

use ember_core::Clock;
use ember_lock::{Error, KeepAlive};

use crate::{TTL, manual, wait_until};

#[test]
fn an_unreleased_lease_expires_at_its_deadline() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("r", "a", TTL).unwrap();
    clock.advance(TTL - Duration::from_millis(1));
    assert!(locks.is_valid(&a));
    assert!(matches!(
        locks.try_acquire("r", "b", TTL),
        Err(Error::Held { .. })
    ));
    clock.advance(Duration::from_millis(1));
    assert!(!locks.is_valid(&a));
    assert!(a.is_expired(&clock));
    let b = locks.try_acquire("r", "b", TTL).unwrap();
    assert!(b.token() > a.token());
    // The expired holder can neither release nor renew, and does not disturb b.
    assert!(matches!(locks.release(&a), Err(Error::Expired { .. })));
    assert!(matches!(locks.extend(&a, TTL), Err(Error::Expired { .. })));
    assert!(locks.is_valid(&b));
    assert_eq!(locks.stats().expiries, 1);
}

#[test]
fn releasing_an_expired_lease_nobody_took_is_still_an_error() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("r", "a", TTL).unwrap();
    clock.advance(TTL * 2);
    match locks.release(&a) {
        Err(Error::Expired {
            token, deadline, ..
        }) => {
            assert_eq!(token, a.token());
            assert_eq!(deadline, a.deadline());
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    let a2 = locks.try_acquire("r", "a", TTL).unwrap();
    clock.advance(TTL);
    assert!(matches!(locks.extend(&a2, TTL), Err(Error::Expired { .. })));
    assert!(locks.try_acquire("r", "b", TTL).is_ok());
}

#[test]
fn extend_moves_the_deadline_from_now() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("r", "a", TTL).unwrap();
    clock.advance(Duration::from_secs(7));
    let renewed = locks.extend(&a, TTL).unwrap();
    assert_eq!(renewed.token(), a.token());
    assert_eq!(renewed.deadline(), clock.now() + TTL);
    clock.advance(Duration::from_secs(7)); // 14 s after the grant
    assert!(matches!(
        locks.try_acquire("r", "b", TTL),
        Err(Error::Held { .. })
    ));
    // Shortening is allowed too.
    let short = locks.extend(&renewed, Duration::from_secs(1)).unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(!locks.is_valid(&short));
    assert!(locks.try_acquire("r", "b", TTL).is_ok());
    // The original copy of the lease carries the old deadline but the same token: it is expired too.
    assert!(matches!(locks.release(&a), Err(Error::Expired { .. })));
}

#[test]
fn keep_alive_renews_when_polled() {
    let (clock, locks) = manual();
    let lease = locks.try_acquire("leader", "n1", TTL).unwrap();
    let mut keep = KeepAlive::new(&locks, lease, TTL).renew_every(Duration::from_secs(4));
    clock.advance(Duration::from_secs(3));
    assert!(!keep.poll().unwrap());
    clock.advance(Duration::from_secs(1));
    assert!(keep.poll().unwrap());
    assert_eq!(keep.lease().deadline(), clock.now() + TTL);
    for _ in 0..10 {
        clock.advance(Duration::from_secs(4));
        assert!(keep.poll().unwrap());
    }
    assert_eq!(keep.renewals(), 11);
    assert!(matches!(
        locks.try_acquire("leader", "n2", TTL),
        Err(Error::Held { .. })
    ));
    // A pause longer than the TTL loses the lease; the next poll says so.
    clock.advance(TTL);
    assert!(matches!(keep.poll(), Err(Error::Expired { .. })));
    let n2 = locks.try_acquire("leader", "n2", TTL).unwrap();
    assert!(n2.token() > keep.lease().token());
}

#[test]
fn keep_alive_thread_renews_on_the_manual_clock() {
    let (clock, locks) = manual();
    let lease = locks.try_acquire("leader", "n1", TTL).unwrap();
    let handle = KeepAlive::new(&locks, lease, TTL).spawn();
    for round in 1..=6 {
        wait_until("keep-alive thread asleep", || clock.waiters() >= 1);
        clock.advance(TTL / 3 + Duration::from_millis(1));
        wait_until("renewal", || handle.renewals() >= round);
    }
    // 20 s after a 10 s grant, still held thanks to the thread.
    assert!(matches!(
        locks.try_acquire("leader", "n2", TTL),
        Err(Error::Held { .. })
    ));
    assert!(handle.error().is_none());
    let lease = handle.stop().unwrap();
    assert!(locks.is_valid(&lease));
    // Stopped: nothing renews it any more.
    clock.advance(TTL);
    assert!(!locks.is_valid(&lease));
}

#[test]
fn keep_alive_thread_reports_a_lost_lease() {
    let (clock, locks) = manual();
    let lease = locks.try_acquire("leader", "n1", TTL).unwrap();
    let handle = KeepAlive::new(&locks, lease.clone(), TTL).spawn();
    wait_until("keep-alive thread asleep", || clock.waiters() >= 1);
    // Someone releases it behind the thread's back (the same credentials), so renewal fails.
    locks.release(&lease).unwrap();
    clock.advance(TTL / 2);
    wait_until("thread gave up", || handle.error().is_some());
    assert!(matches!(handle.stop(), Err(Error::NotHeld { .. })));
}

#[test]
fn keep_alive_hands_back_or_releases_its_lease() {
    let (clock, locks) = manual();
    let lease = locks.try_acquire("a", "n1", TTL).unwrap();
    let keep = KeepAlive::new(&locks, lease, TTL);
    assert_eq!(keep.next_renewal(), clock.now() + TTL / 3);
    let lease = keep.into_lease();
    assert!(locks.is_valid(&lease));
    let keep = KeepAlive::new(&locks, lease.clone(), TTL);
    keep.release().unwrap();
    assert!(!locks.is_valid(&lease));
}
