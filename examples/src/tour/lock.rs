//! Tour section of ember-lock: leases with expiry and fencing tokens, deadlock detection, and Redlock
//! over five in-process backends with two of them down.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_lock::{Error, FaultyBackend, FencedResource, LockBackend, LockManager, Redlock};

/// Runs this section.
pub fn run() {
    super::heading("ember-lock: leases, fencing tokens, deadlock detection, Redlock");
    let clock = ManualClock::new();
    let locks = LockManager::builder()
        .clock(clock.clone())
        .hierarchical('/')
        .build()
        .expect("valid configuration");
    let ttl = Duration::from_secs(30);

    // A lease, a refused competitor, expiry, and a fenced write.
    let seat = FencedResource::new(None::<&str>);
    let alice = locks
        .try_acquire("show/7/seat/A7", "alice", ttl)
        .expect("free seat");
    if let Err(e) = locks.try_acquire("show/7/seat/A7", "bob", ttl) {
        println!("bob is refused: {e}");
    }
    clock.advance(Duration::from_secs(31));
    let bob = locks
        .try_acquire("show/7/seat/A7", "bob", ttl)
        .expect("alice's hold expired");
    println!(
        "31 s later (manual clock) alice's hold has expired; bob holds A7 with token {} > {}",
        bob.token(),
        alice.token()
    );
    seat.write(bob.token(), |s| *s = Some("bob"))
        .expect("newest token");
    if let Err(e) = seat.write(alice.token(), |s| *s = Some("alice")) {
        println!("alice wakes from her pause and writes: {e}");
    }
    if let Err(e) = locks.try_acquire("show/7", "box-office", ttl) {
        println!("locking the whole show while a seat is held: {e}");
    }
    let _ = locks.release(&bob);

    // Two owners each holding what the other wants: the second wait is refused at once.
    let a = locks
        .try_acquire("account/1", "transfer-A", ttl)
        .expect("free");
    let b = locks
        .try_acquire("account/2", "transfer-B", ttl)
        .expect("free");
    let l = locks.clone();
    let waiting = thread::spawn(move || l.acquire("account/2", "transfer-A", ttl, ttl));
    while locks.queue_len("account/2") == 0 {
        thread::yield_now();
    }
    match locks.acquire("account/1", "transfer-B", ttl, ttl) {
        Err(Error::Deadlock { cycle }) => println!(
            "deadlock detected instead of hanging: {}",
            Error::Deadlock { cycle }
        ),
        other => println!("unexpected: {other:?}"),
    }
    let _ = locks.release(&b);
    if let Ok(Ok(lease)) = waiting.join() {
        println!(
            "transfer-B backs off; transfer-A gets {} (token {})",
            lease.resource(),
            lease.token()
        );
        let _ = locks.release(&lease);
    }
    let _ = locks.release(&a);
    println!("stats: {}", locks.stats());

    // Redlock over five backends, two of them down.
    let nodes: Vec<Arc<FaultyBackend<LockManager>>> = (0..5)
        .map(|i| {
            let m = LockManager::builder()
                .clock(clock.clone())
                .build()
                .expect("valid configuration");
            Arc::new(FaultyBackend::new(format!("node-{i}"), m))
        })
        .collect();
    let redlock = Redlock::builder()
        .backends(nodes.iter().map(|n| n.clone() as Arc<dyn LockBackend>))
        .clock(clock.clone())
        .build()
        .expect("five backends");
    nodes[1].set_down(true);
    nodes[4].set_down(true);
    match redlock.try_acquire("payments/cron", "worker-1", Duration::from_secs(10)) {
        Ok(lease) => println!(
            "redlock with nodes 1 and 4 down: granted on {}/5 (quorum {}), valid for {:?}",
            lease.acquired(),
            redlock.quorum(),
            lease.validity(&clock)
        ),
        Err(e) => println!("unexpected: {e}"),
    }
    nodes[2].set_down(true);
    if let Err(e) = redlock.try_acquire("payments/other", "worker-1", Duration::from_secs(10)) {
        println!("with a third node down: {e}");
    }
}
