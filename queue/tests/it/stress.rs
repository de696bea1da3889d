use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_queue::{Error, Jitter, Queue, Receipt, RetryPolicy};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::spawn_producers;

/// Producers send; consumers randomly ack, nack, drop (let the lease time out) or ack late (possibly
/// after the message was redelivered) while a driver thread moves the manual clock. At the end every
/// message was acked exactly once or is in the dead-letter queue; none is lost or duplicated.
#[test]
fn every_message_is_acked_exactly_once_or_dead_lettered() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 500;
    const CONSUMERS: u64 = 4;
    let clock = ManualClock::new();
    let q: Queue<u64> = Queue::builder()
        .clock(clock.clone())
        .capacity(64)
        .visibility_timeout(Duration::from_secs(2))
        .max_receives(4)
        .retry(
            RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(1))
                .with_jitter(Jitter::Full),
        )
        .seed(9)
        .build()
        .unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let driver = {
        let (clock, done) = (clock.clone(), done.clone());
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                clock.advance(Duration::from_millis(250));
                for _ in 0..20 {
                    thread::yield_now();
                }
            }
        })
    };
    let producers = spawn_producers(&q, PRODUCERS, PER_PRODUCER);
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let q = q.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(c);
                let mut acked = Vec::new();
                let mut late: Option<(Receipt, u64)> = None;
                let try_late = |late: &mut Option<(Receipt, u64)>, acked: &mut Vec<u64>| {
                    if let Some((r, body)) = late.take() {
                        match q.ack(r) {
                            Ok(()) => acked.push(body),
                            Err(Error::StaleReceipt(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                };
                loop {
                    try_late(&mut late, &mut acked);
                    let d = match q.receive_timeout(Duration::from_secs(1)) {
                        Ok(d) => d,
                        Err(Error::Timeout) => continue,
                        Err(Error::Closed) => break,
                        Err(e) => panic!("{e}"),
                    };
                    // A consumer descheduled while the driver moves the clock can lose its lease
                    // like a slow worker would: the ack is then refused, and the message comes back.
                    match rng.random_range(0..10) {
                        0..=5 => match q.ack(d.receipt()) {
                            Ok(()) => acked.push(*d.body()),
                            Err(Error::StaleReceipt(_)) => {}
                            Err(e) => panic!("{e}"),
                        },
                        6 | 7 => match q.nack_with_error(d.receipt(), "worker failed") {
                            Ok(_) | Err(Error::StaleReceipt(_)) => {}
                            Err(e) => panic!("{e}"),
                        },
                        8 => {} // dropped: the visibility timeout brings it back
                        _ => late = Some((d.receipt(), *d.body())),
                    }
                }
                try_late(&mut late, &mut acked);
                acked
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.close();
    let mut acked = Vec::new();
    for c in consumers {
        acked.extend(c.join().unwrap());
    }
    done.store(true, Ordering::SeqCst);
    driver.join().unwrap();

    let total = PRODUCERS * PER_PRODUCER;
    let acked_set: HashSet<u64> = acked.iter().copied().collect();
    assert_eq!(acked_set.len(), acked.len(), "a message was acked twice");
    let dead: Vec<u64> = q
        .dead_letters()
        .list()
        .into_iter()
        .map(|l| l.body)
        .collect();
    let dead_set: HashSet<u64> = dead.iter().copied().collect();
    assert_eq!(
        dead_set.len(),
        dead.len(),
        "a message was dead-lettered twice"
    );
    assert!(acked_set.is_disjoint(&dead_set), "acked and dead-lettered");
    let all: HashSet<u64> = acked_set.union(&dead_set).copied().collect();
    assert_eq!(all, (0..total).collect::<HashSet<_>>(), "messages lost");
    for letter in q.dead_letters().list() {
        assert_eq!(letter.attempts, 4);
    }
    let s = q.stats();
    assert_eq!(s.sends, total);
    assert_eq!(s.acks + s.dead_lettered, total);
    assert_eq!(s.depth(), 0);
    assert!(s.nacks > 0 && s.expired > 0 && s.dead_lettered > 0, "{s}");
}
