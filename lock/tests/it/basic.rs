use std::time::Duration;

use ember_core::Clock;
use ember_lock::{
    Error, FaultyBackend, Fence, FencedResource, KeepAlive, KeepAliveHandle, Lease, LeaseGuard,
    LockManager, LockStats, Mode, Owner, Redlock, RedlockLease,
};

use crate::{LONG, TTL, manual};

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LockManager>();
    check::<Lease>();
    check::<LeaseGuard>();
    check::<Owner>();
    check::<Error>();
    check::<Fence>();
    check::<FencedResource<Vec<u8>>>();
    check::<KeepAlive>();
    check::<KeepAliveHandle>();
    check::<Redlock>();
    check::<RedlockLease>();
    check::<FaultyBackend<LockManager>>();
    check::<LockStats>();
}

#[test]
fn held_reports_holder_and_deadline() {
    let (clock, locks) = manual();
    let lease = locks.try_acquire("r", "alice", TTL).unwrap();
    assert_eq!(lease.deadline(), clock.now() + TTL);
    assert_eq!(lease.mode(), Mode::Exclusive);
    match locks.try_acquire("r", "bob", TTL) {
        Err(Error::Held {
            resource,
            by,
            until,
        }) => {
            assert_eq!(&*resource, "r");
            assert_eq!(by.as_str(), "alice");
            assert_eq!(until, lease.deadline());
        }
        other => panic!("expected Held, got {other:?}"),
    }
    // Not reentrant: the holder itself is refused too.
    assert!(matches!(
        locks.try_acquire("r", "alice", TTL),
        Err(Error::Held { .. })
    ));
    // Another resource is independent.
    let other = locks.try_acquire("s", "bob", TTL).unwrap();
    locks.release(&lease).unwrap();
    locks.release(&other).unwrap();
    let again = locks.try_acquire("r", "bob", TTL).unwrap();
    assert!(again.token() > other.token());
}

#[test]
fn tokens_strictly_increase_across_grants() {
    let (clock, locks) = manual();
    let mut last = 0;
    for i in 0..500u64 {
        let name = format!("r{}", i % 7);
        let lease = if i % 3 == 0 {
            locks.try_acquire_shared(&name, "me", TTL).unwrap()
        } else {
            locks.try_acquire(&name, "me", TTL).unwrap()
        };
        assert!(lease.token() > last, "token {} after {last}", lease.token());
        last = lease.token();
        if i % 5 == 0 {
            // Let it expire instead of releasing it.
            clock.advance(TTL);
        } else {
            locks.release(&lease).unwrap();
        }
    }
}

#[test]
fn only_the_holder_can_release() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("r", "a", TTL).unwrap();
    locks.release(&a).unwrap();
    // Double release.
    assert!(matches!(locks.release(&a), Err(Error::NotHeld { .. })));
    // The resource now belongs to b: a's old lease must not free it.
    let b = locks.try_acquire("r", "b", TTL).unwrap();
    assert!(matches!(locks.release(&a), Err(Error::NotHeld { .. })));
    assert!(matches!(locks.extend(&a, TTL), Err(Error::NotHeld { .. })));
    assert!(locks.is_valid(&b));
    // A lease from another manager, even with a colliding token, is foreign.
    let other = LockManager::builder().clock(clock.clone()).build().unwrap();
    let foreign = other.try_acquire("r", "b", TTL).unwrap();
    assert!(matches!(
        locks.release(&foreign),
        Err(Error::NotHeld { .. })
    ));
    assert!(!locks.is_valid(&foreign));
    assert!(locks.is_valid(&b));
    assert_eq!(locks.stats().refused, 4);
    locks.release(&b).unwrap();
}

#[test]
fn bad_input_is_a_typed_error() {
    let locks = LockManager::builder()
        .max_ttl(Duration::from_secs(60))
        .hierarchical('/')
        .build()
        .unwrap();
    assert!(matches!(
        locks.try_acquire("r", "a", Duration::ZERO),
        Err(Error::InvalidTtl { .. })
    ));
    assert!(matches!(
        locks.try_acquire("r", "a", Duration::from_secs(61)),
        Err(Error::InvalidTtl { .. })
    ));
    assert!(matches!(
        locks.acquire("r", "a", Duration::MAX, Duration::ZERO),
        Err(Error::InvalidTtl { .. })
    ));
    assert!(matches!(
        locks.try_acquire("", "a", TTL),
        Err(Error::InvalidName { .. })
    ));
    for bad in ["a//b", "/a", "a/"] {
        assert!(
            matches!(
                locks.try_acquire(bad, "a", TTL),
                Err(Error::InvalidName { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        locks.try_acquire_all(&["ok", ""], "a", TTL),
        Err(Error::InvalidName { .. })
    ));
    // Nothing was granted by the failed calls.
    assert_eq!(locks.stats().grants, 0);
    assert!(matches!(
        LockManager::builder().max_ttl(Duration::ZERO).build(),
        Err(Error::Config(_))
    ));
    // Empty sets are trivially granted.
    assert!(locks.try_acquire_all(&[], "a", TTL).unwrap().is_empty());
}

#[test]
fn guard_releases_on_drop_and_reports_validity() {
    let (clock, locks) = manual();
    {
        let guard = locks.lock("r", "a", TTL, Duration::ZERO).unwrap();
        assert!(guard.is_valid());
        assert!(locks.try_acquire("r", "b", TTL).is_err());
    }
    let mut guard = locks.lock("r", "b", TTL, Duration::ZERO).unwrap();
    clock.advance(Duration::from_secs(9));
    guard.extend(TTL).unwrap();
    clock.advance(Duration::from_secs(9));
    assert!(guard.is_valid());
    clock.advance(Duration::from_secs(1));
    assert!(!guard.is_valid());
    assert!(matches!(guard.release(), Err(Error::Expired { .. })));
    let kept = locks
        .lock("r", "c", TTL, Duration::ZERO)
        .unwrap()
        .into_lease();
    assert!(locks.is_valid(&kept));
}

#[test]
fn stats_count_what_happened() {
    let (clock, locks) = manual();
    let a = locks.try_acquire("r", "a", TTL).unwrap();
    let _ = locks.try_acquire("r", "b", TTL).unwrap_err();
    let a = locks.extend(&a, TTL).unwrap();
    let _s = locks.try_acquire_shared("s", "a", LONG).unwrap();
    clock.advance(TTL);
    let s = locks.stats();
    assert_eq!(s.grants, 2);
    assert_eq!(s.rejected, 1);
    assert_eq!(s.extends, 1);
    assert_eq!(s.expiries, 1);
    assert_eq!(s.holders, 1);
    assert_eq!(s.waiters, 0);
    assert!(matches!(locks.release(&a), Err(Error::Expired { .. })));
    assert_eq!(locks.stats().refused, 1);
    let line = locks.stats().to_string();
    assert!(
        line.starts_with("grants=2 releases=0 extends=1 rejected=1"),
        "{line}"
    );
}

#[test]
fn holders_lists_live_leases() {
    let (clock, locks) = manual();
    let r1 = locks.try_acquire_shared("cfg", "r1", TTL).unwrap();
    let r2 = locks.try_acquire_shared("cfg", "r2", TTL * 2).unwrap();
    let held = locks.holders("cfg");
    assert_eq!(held, vec![r1.clone(), r2.clone()]);
    clock.advance(TTL);
    assert_eq!(locks.holders("cfg"), vec![r2]);
    assert!(locks.holders("nothing").is_empty());
}
