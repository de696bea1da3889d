use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_lock::{Error, FaultyBackend, LockBackend, LockManager, Owner, Redlock};

use crate::wait_until;

const TTL: Duration = Duration::from_secs(10);

struct Cluster {
    clock: ManualClock,
    nodes: Vec<Arc<FaultyBackend<LockManager>>>,
    redlock: Redlock,
}

fn cluster(n: usize) -> Cluster {
    let clock = ManualClock::new();
    let nodes: Vec<_> = (0..n)
        .map(|i| {
            let m = LockManager::builder().clock(clock.clone()).build().unwrap();
            Arc::new(FaultyBackend::new(format!("node-{i}"), m).with_clock(clock.clone()))
        })
        .collect();
    let redlock = Redlock::builder()
        .backends(nodes.iter().map(|n| n.clone() as Arc<dyn LockBackend>))
        .clock(clock.clone())
        .build()
        .unwrap();
    Cluster {
        clock,
        nodes,
        redlock,
    }
}

impl Cluster {
    fn held_on(&self, resource: &str) -> usize {
        self.nodes
            .iter()
            .filter(|n| !n.inner().holders(resource).is_empty())
            .count()
    }
}

#[test]
fn majority_with_two_of_five_down() {
    let c = cluster(5);
    assert_eq!(c.redlock.quorum(), 3);
    c.nodes[1].set_down(true);
    c.nodes[3].set_down(true);
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.acquired(), 3);
    assert!(lease.tokens()[1].is_none() && lease.tokens()[3].is_none());
    // Validity = TTL - elapsed (0 on the manual clock) - (1% of TTL + 2 ms).
    assert_eq!(lease.validity(&c.clock), Duration::from_millis(9_898));
    assert!(lease.is_valid(&c.clock));
    // A second client cannot get a majority.
    assert!(matches!(
        c.redlock.try_acquire("job", "client-2", TTL),
        Err(Error::NoQuorum {
            acquired: 0,
            needed: 3,
            ..
        })
    ));
    assert_eq!(c.redlock.release(&lease).unwrap(), 3);
    assert_eq!(c.held_on("job"), 0);
    assert!(c.redlock.try_acquire("job", "client-2", TTL).is_ok());
}

#[test]
fn three_down_is_no_quorum_and_grants_are_released() {
    let c = cluster(5);
    for i in [0, 2, 4] {
        c.nodes[i].set_down(true);
    }
    match c.redlock.try_acquire("job", "client-1", TTL) {
        Err(Error::NoQuorum {
            acquired, needed, ..
        }) => assert_eq!((acquired, needed), (2, 3)),
        other => panic!("expected NoQuorum, got {other:?}"),
    }
    // The two nodes that granted it were released: nobody is blocked for a TTL.
    assert_eq!(c.held_on("job"), 0);
    assert_eq!(c.nodes[1].inner().stats().releases, 1);
    assert_eq!(c.nodes[3].inner().stats().releases, 1);
}

#[test]
fn a_minority_with_stale_state_does_not_prevent_a_grant() {
    let c = cluster(5);
    // Nodes 0 and 1 still hold a lease of a client that crashed (or that they wrongly kept).
    let zombie = Owner::new("zombie");
    for n in &c.nodes[..2] {
        let _ = n
            .inner()
            .try_acquire("job", &zombie, Duration::from_secs(300))
            .unwrap();
    }
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.tokens()[..2], [None, None]);
    assert_eq!(lease.acquired(), 3);
    // The stale minority plus the lease's majority: nobody else can get in.
    assert!(matches!(
        c.redlock.try_acquire("job", "client-2", TTL),
        Err(Error::NoQuorum { acquired: 0, .. })
    ));
}

#[test]
fn a_majority_with_stale_state_refuses_and_releases_the_rest() {
    let c = cluster(5);
    let zombie = Owner::new("zombie");
    for n in &c.nodes[..3] {
        let _ = n
            .inner()
            .try_acquire("job", &zombie, Duration::from_secs(30))
            .unwrap();
    }
    assert!(matches!(
        c.redlock.try_acquire("job", "client-1", TTL),
        Err(Error::NoQuorum { acquired: 2, .. })
    ));
    // Nodes 3 and 4 were released again.
    for n in &c.nodes[3..] {
        assert!(n.inner().holders("job").is_empty());
    }
    // Once the stale leases expire, the lock is available.
    c.clock.advance(Duration::from_secs(30));
    assert!(c.redlock.try_acquire("job", "client-1", TTL).is_ok());
}

#[test]
fn elapsed_time_and_drift_are_subtracted() {
    let c = cluster(5);
    for n in &c.nodes {
        n.set_latency(Duration::from_millis(10));
    }
    let lease = c
        .redlock
        .try_acquire("job", "client-1", Duration::from_secs(1))
        .unwrap();
    // 1000 ms - 50 ms spent - (10 ms + 2 ms) drift.
    assert_eq!(lease.validity(&c.clock), Duration::from_millis(938));
}

#[test]
fn too_slow_a_majority_is_refused_and_released() {
    let c = cluster(5);
    for n in &c.nodes {
        n.set_latency(Duration::from_millis(1_980));
    }
    // 5 x 1.98 s = 9.9 s of a 10 s TTL, minus 102 ms drift: nothing left.
    match c.redlock.try_acquire("job", "client-1", TTL) {
        Err(Error::ValidityExpired { elapsed, ttl, .. }) => {
            assert_eq!(elapsed, Duration::from_millis(9_900));
            assert_eq!(ttl, TTL);
        }
        other => panic!("expected ValidityExpired, got {other:?}"),
    }
    assert_eq!(c.held_on("job"), 0);
}

#[test]
fn extend_needs_a_majority_too() {
    let c = cluster(5);
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    c.clock.advance(Duration::from_secs(8));
    c.nodes[0].set_down(true);
    c.nodes[1].set_down(true);
    let lease = c.redlock.extend(&lease, TTL).unwrap();
    assert_eq!(lease.acquired(), 3);
    c.clock.advance(Duration::from_secs(8));
    assert!(lease.is_valid(&c.clock));
    c.nodes[2].set_down(true);
    assert!(matches!(
        c.redlock.extend(&lease, TTL),
        Err(Error::NoQuorum { acquired: 2, .. })
    ));
    // Released where it could be reached; node 2 (down) keeps it until its own deadline.
    assert_eq!(c.held_on("job"), 1);
    c.clock.advance(Duration::from_secs(2));
    assert_eq!(c.held_on("job"), 0);
}

#[test]
fn a_lost_reply_leaves_an_orphan_that_expires() {
    let c = cluster(5);
    c.nodes[4].set_lose_replies(true);
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.acquired(), 4);
    assert_eq!(c.held_on("job"), 5);
    c.nodes[4].set_lose_replies(false);
    assert_eq!(c.redlock.release(&lease).unwrap(), 4);
    assert_eq!(c.held_on("job"), 1);
    c.clock.advance(TTL);
    assert_eq!(c.held_on("job"), 0);
}

#[test]
fn acquire_retries_until_the_stale_majority_expires() {
    let c = Arc::new(cluster(5));
    let zombie = Owner::new("zombie");
    for n in &c.nodes[..3] {
        let _ = n.inner().try_acquire("job", &zombie, TTL).unwrap();
    }
    let c2 = c.clone();
    let client = thread::spawn(move || {
        c2.redlock
            .acquire("job", "client-1", TTL, Duration::from_secs(60))
    });
    wait_until("client pausing between attempts", || c.clock.waiters() >= 1);
    c.clock.advance(TTL);
    let lease = client.join().unwrap().unwrap();
    assert_eq!(lease.acquired(), 5);
}

#[test]
fn acquire_gives_up_at_its_timeout() {
    let c = Arc::new(cluster(3));
    for n in &c.nodes[..2] {
        n.set_down(true);
    }
    let c2 = c.clone();
    let client = thread::spawn(move || {
        c2.redlock
            .acquire("job", "client-1", TTL, Duration::from_secs(1))
    });
    let start = c.clock.now();
    while !client.is_finished() {
        wait_until("client asleep or done", || {
            c.clock.waiters() >= 1 || client.is_finished()
        });
        if !client.is_finished() {
            c.clock.advance(Duration::from_millis(100));
        }
    }
    assert!(matches!(client.join().unwrap(), Err(Error::Timeout { .. })));
    assert!(c.clock.now() - start >= Duration::from_secs(1));
    assert!(c.nodes[0].calls() >= 2, "retried");
}

#[test]
fn bad_configuration_is_refused() {
    assert!(matches!(Redlock::builder().build(), Err(Error::Config(_))));
    assert!(matches!(
        Redlock::builder()
            .backend(LockManager::new())
            .drift_factor(1.5)
            .build(),
        Err(Error::Config(_))
    ));
    let r = Redlock::builder()
        .backend(LockManager::new())
        .build()
        .unwrap();
    assert!(matches!(
        r.try_acquire("x", "me", Duration::ZERO),
        Err(Error::InvalidTtl { .. })
    ));
}

#[test]
fn injected_failures_count_as_missing_grants() {
    let c = cluster(5);
    c.nodes[0].fail_next(1);
    c.nodes[1].fail_next(1);
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.acquired(), 3);
    // The injected failures were used up: the next round reaches every node.
    assert_eq!(c.redlock.release(&lease).unwrap(), 3);
    let lease = c.redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.acquired(), 5);
    // Node 0: the failed acquire and the second one (no release: it never granted); node 2 also
    // received the release.
    assert_eq!((c.nodes[0].calls(), c.nodes[2].calls()), (2, 3));
}

#[test]
fn a_grant_slower_than_the_backend_timeout_is_given_back() {
    let clock = ManualClock::new();
    let nodes: Vec<_> = (0..5)
        .map(|i| {
            let m = LockManager::builder().clock(clock.clone()).build().unwrap();
            Arc::new(FaultyBackend::new(format!("node-{i}"), m).with_clock(clock.clone()))
        })
        .collect();
    let redlock = Redlock::builder()
        .backends(nodes.iter().map(|n| n.clone() as Arc<dyn LockBackend>))
        .clock(clock.clone())
        .backend_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    nodes[3].set_latency(Duration::from_millis(200));
    let lease = redlock.try_acquire("job", "client-1", TTL).unwrap();
    assert_eq!(lease.acquired(), 4);
    assert_eq!(lease.tokens()[3], None);
    // Node 3 granted, but too late: its grant was released again.
    assert!(nodes[3].inner().holders("job").is_empty());
    // The slow node's time still counts against validity: 10 s - 0.4 s (two slow calls) - 102 ms.
    assert_eq!(lease.validity(&clock), Duration::from_millis(9_498));
}
