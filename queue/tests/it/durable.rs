//! The durable mode: restart restores every unacked message and no acked one.

use std::collections::BTreeSet;

use ember_queue::{DurableQueue, Error, FsyncPolicy, NackOutcome, Queue};

fn open(dir: &std::path::Path) -> DurableQueue<String> {
    DurableQueue::open(
        dir,
        Queue::<String>::builder().max_receives(3),
        FsyncPolicy::Always,
    )
    .unwrap()
}

fn drain(q: &DurableQueue<String>) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    while let Ok(d) = q.try_receive() {
        assert!(
            got.insert(d.body().clone()),
            "delivered twice: {}",
            d.body()
        );
    }
    got
}

#[test]
fn restart_restores_unacked_and_never_acked() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    for i in 0..50 {
        q.send(format!("m{i:02}")).unwrap();
    }
    let mut acked = BTreeSet::new();
    let mut in_flight = Vec::new();
    for i in 0..30 {
        let d = q.try_receive().unwrap();
        match i % 3 {
            0 => {
                acked.insert(d.body().clone());
                q.ack(d.receipt()).unwrap();
            }
            1 => assert!(matches!(
                q.nack(d.receipt()).unwrap(),
                NackOutcome::Retry { .. }
            )),
            _ => in_flight.push(d), // leased when the process stops
        }
    }
    assert_eq!(acked.len(), 10);
    drop(in_flight);
    drop(q);

    let q = open(dir.path());
    let got = drain(&q);
    let expected: BTreeSet<String> = (0..50)
        .map(|i| format!("m{i:02}"))
        .filter(|m| !acked.contains(m))
        .collect();
    assert_eq!(got, expected, "every unacked message is back, no acked one");
    // A second restart: the messages drained above were in flight. Those whose receive count reached
    // max_receives (3) go to the dead-letter queue (their lease ended with the process); the others are
    // back. Acks after a restart stick too.
    drop(q);
    let q = open(dir.path());
    let dead: BTreeSet<String> = q
        .queue()
        .dead_letters()
        .list()
        .into_iter()
        .map(|l| {
            assert_eq!(l.attempts, 3);
            l.body
        })
        .collect();
    assert!(!dead.is_empty());
    let d = q.try_receive().unwrap();
    let first = d.body().clone();
    q.ack(d.receipt()).unwrap();
    drop(q);
    let q = open(dir.path());
    let again = drain(&q);
    assert_eq!(again.len() + dead.len(), expected.len() - 1);
    assert!(!again.contains(&first));
    assert!(again.is_disjoint(&dead));
    assert_eq!(q.queue().dead_letters().len(), dead.len());
}

#[test]
fn dead_letters_stay_dead_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let q = DurableQueue::open(
        dir.path(),
        Queue::<String>::builder().max_receives(1),
        FsyncPolicy::Always,
    )
    .unwrap();
    q.send("poison".into()).unwrap();
    q.send("fine".into()).unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(d.body(), "poison");
    assert_eq!(q.nack(d.receipt()).unwrap(), NackOutcome::DeadLettered);
    drop(q);
    let q = DurableQueue::open(
        dir.path(),
        Queue::<String>::builder().max_receives(1),
        FsyncPolicy::Always,
    )
    .unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(d.body(), "fine");
    q.ack(d.receipt()).unwrap();
    assert!(q.try_receive().is_err());
    let dead = q.queue().dead_letters().list();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    // redriven and acked: gone for good after the next snapshot and restart
    assert_eq!(q.queue().dead_letters().redrive_all().unwrap(), 1);
    let d = q.try_receive().unwrap();
    assert_eq!(d.body(), "poison");
    drop(d);
    q.compact().unwrap();
    drop(q);
    let q = DurableQueue::open(
        dir.path(),
        Queue::<String>::builder().max_receives(1),
        FsyncPolicy::Always,
    )
    .unwrap();
    assert!(q.queue().dead_letters().list().is_empty());
    assert!(
        drain(&q).contains("poison"),
        "redriven and not acked: back in the queue"
    );
}

#[test]
fn snapshots_keep_the_log_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let q = DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Never).unwrap();
    q.send("keeper".into()).unwrap();
    for round in 0..6000 {
        q.send(format!("work-{round}-{}", "x".repeat(100))).unwrap();
        let d = q.try_receive().unwrap();
        if d.body() == "keeper" {
            // keep it in flight forever: it must survive every snapshot
            continue;
        }
        q.ack(d.receipt()).unwrap();
    }
    let bytes: u64 = q.log().segments().iter().map(|s| s.bytes).sum();
    assert!(
        bytes < 2 << 20,
        "the log stays bounded by snapshots: {bytes} bytes"
    );
    assert!(q.log().stats().segments_deleted > 0);
    drop(q);
    let q = DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Never).unwrap();
    let left = drain(&q);
    assert!(left.contains("keeper"));
    assert!(left.len() <= 2, "{left:?}");
}

#[test]
fn a_corrupt_log_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let q = open(dir.path());
    for i in 0..10 {
        q.send(format!("m{i}")).unwrap();
    }
    drop(q);
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[80] ^= 0xff; // inside the first record, with more after it
    std::fs::write(&seg, &bytes).unwrap();
    match DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Always) {
        Err(Error::Storage(msg)) => {
            assert!(msg.contains("corrupt") && msg.contains("byte 64"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_producers_and_consumers_then_restart() {
    use std::sync::{Arc, Mutex};
    use std::thread;

    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(
        DurableQueue::open(
            dir.path(),
            Queue::<String>::builder(),
            FsyncPolicy::EveryN(50),
        )
        .unwrap(),
    );
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..150 {
                    q.send(format!("p{t}-{i:03}")).unwrap();
                }
            })
        })
        .collect();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (q, acked) = (q.clone(), acked.clone());
            thread::spawn(move || {
                let mut n = 0;
                while n < 100 {
                    let Ok(d) = q.receive_timeout(std::time::Duration::from_millis(200)) else {
                        continue;
                    };
                    if n % 4 == 3 {
                        q.nack(d.receipt()).unwrap();
                    } else {
                        let body = d.body().clone();
                        q.ack(d.receipt()).unwrap();
                        assert!(acked.lock().unwrap().insert(body), "acked twice");
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for h in producers.into_iter().chain(consumers) {
        h.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 225);
    drop(q);
    let q = open(dir.path());
    let left = drain(&q);
    let all: BTreeSet<String> = (0..4)
        .flat_map(|t| (0..150).map(move |i| format!("p{t}-{i:03}")))
        .collect();
    let expected: BTreeSet<String> = all.difference(&acked).cloned().collect();
    assert_eq!(left, expected);
}

#[test]
fn concurrent_sends_under_always_are_durable_with_at_most_one_fsync_each() {
    // Whether concurrent sends share an fsync (the ticket is settled outside the book's lock, so the
    // log's group commit can cover several) depends on how the threads are scheduled: with fast
    // fsyncs (a tmpfs) or one free core, every send got its own fsync, and an assertion of sharing
    // (`fsyncs < 120`) failed about half the runs. The sharing is measured by the log's group-commit
    // bench; here, what holds on any schedule: every send is durable when it returns, no send costs
    // more than one fsync (besides segment rolls), and all 120 are there after a restart.
    use std::sync::{Arc, Barrier};
    use std::thread;

    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(open(dir.path()));
    let before = q.log().stats();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (q, barrier) = (q.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..30 {
                    // This send's record lands at or after the log's end before the call, so once it
                    // returns, the durable offset must be past that end.
                    let end_before = q.log().next_offset();
                    q.send(format!("t{t}-{i:02}")).unwrap();
                    let durable = q.log().durable_offset();
                    assert!(
                        durable > end_before,
                        "a send returned before its record was durable ({durable} <= {end_before})"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let after = q.log().stats();
    let (fsyncs, rolls) = (after.fsyncs - before.fsyncs, after.rolls - before.rolls);
    assert!(
        fsyncs <= 120 + rolls,
        "120 sends from 4 threads: at most one fsync each: {fsyncs} (rolls {rolls})"
    );
    drop(Arc::try_unwrap(q).unwrap());
    let q = open(dir.path());
    assert_eq!(drain(&q).len(), 120);
}

// ---------------------------------------------------------------------------------------------------
// Message state across restarts (delays, retry backoff, groups, dedup ids, receive counts, DLQ moves).
// Each "process" gets its own ManualClock; a restart starts a new one at the old wall-clock time (plus
// the downtime), so monotonic instants do not carry over, as in a real restart.

use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_queue::{DeadLetterReason, Delivery, Message, QueueBuilder, RetryPolicy};

const SEC: Duration = Duration::from_secs(1);

/// Starts a "process": a fresh clock at wall time `unix_ms`, and the queue reopened on it.
fn process(
    dir: &std::path::Path,
    unix_ms: u64,
    configure: impl Fn(QueueBuilder<String>) -> QueueBuilder<String>,
) -> (ManualClock, DurableQueue<String>) {
    let clock = ManualClock::with_unix_millis(unix_ms);
    let builder = configure(Queue::<String>::builder().clock(clock.clone()).seed(7));
    let q = DurableQueue::open(dir, builder, FsyncPolicy::Never).unwrap();
    (clock, q)
}

const T0: u64 = 1_700_000_000_000;

#[test]
fn a_delayed_message_stays_delayed_until_its_original_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, q) = process(dir.path(), T0, |b| b);
    q.send_message(Message::new("in 60 s".to_string()).delay(60 * SEC))
        .unwrap();
    q.send("now".into()).unwrap();
    clock.advance(20 * SEC);
    assert_eq!(q.queue().stats().delayed, 1);
    let unix = clock.unix_millis();
    drop(q);

    // down for 10 s: 30 s of the delay are left
    let (clock, q) = process(dir.path(), unix + 10_000, |b| b);
    let now = q.try_receive().unwrap();
    assert_eq!(now.body(), "now");
    q.ack(now.receipt()).unwrap();
    assert!(q.try_receive().is_err(), "still delayed after the restart");
    assert_eq!(q.queue().stats().delayed, 1);
    clock.advance(29 * SEC);
    assert!(q.try_receive().is_err());
    let unix = clock.unix_millis();
    drop(q);

    // a second restart keeps the same due time; 1 s left
    let (clock, q) = process(dir.path(), unix, |b| b);
    assert!(q.try_receive().is_err());
    clock.advance(SEC);
    let d = q.try_receive().unwrap();
    assert_eq!((d.body().as_str(), d.receive_count()), ("in 60 s", 1));
    assert_eq!(d.sent_unix_ms(), T0, "the original send time is kept");

    // a queue-level delay is kept the same way, and a delay that ended while down is over
    drop(q);
    let dir = tempfile::tempdir().unwrap();
    let (_clock, q) = process(dir.path(), T0, |b| b.delay(5 * SEC));
    q.send("queue delay".into()).unwrap();
    drop(q);
    let (clock, q) = process(dir.path(), T0 + 2_000, |b| b.delay(5 * SEC));
    assert!(q.try_receive().is_err());
    clock.advance(3 * SEC);
    assert_eq!(q.try_receive().unwrap().body(), "queue delay");
    drop(q);
    let (_clock, q) = process(dir.path(), T0 + 60_000, |b| b.delay(5 * SEC));
    assert_eq!(q.try_receive().unwrap().receive_count(), 2);
}

#[test]
fn a_retry_backoff_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.retry(RetryPolicy::fixed(10 * SEC));
    let (clock, q) = process(dir.path(), T0, cfg);
    q.send("flaky".into()).unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(
        q.nack_with_error(d.receipt(), "disk full").unwrap(),
        NackOutcome::Retry { delay: 10 * SEC }
    );
    clock.advance(4 * SEC);
    let unix = clock.unix_millis();
    drop(q);

    let (clock, q) = process(dir.path(), unix, cfg);
    assert!(q.try_receive().is_err(), "backoff not over: 6 s left");
    clock.advance(5 * SEC);
    assert!(q.try_receive().is_err());
    clock.advance(SEC);
    let d = q.try_receive().unwrap();
    assert_eq!(d.receive_count(), 2);
    assert_eq!(d.last_error(), Some("disk full"));
}

#[test]
fn groups_keep_order_and_one_in_flight_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_clock, q) = process(dir.path(), T0, |b| b);
    for i in 0..3 {
        q.send_message(Message::new(format!("a{i}")).group("A"))
            .unwrap();
        q.send_message(Message::new(format!("b{i}")).group("B"))
            .unwrap();
    }
    let a0 = q.try_receive().unwrap();
    assert_eq!(a0.body(), "a0");
    q.ack(a0.receipt()).unwrap();
    let b0 = q.try_receive().unwrap();
    let a1 = q.try_receive().unwrap();
    assert_eq!((b0.body().as_str(), a1.body().as_str()), ("b0", "a1"));
    assert!(q.try_receive().is_err(), "both groups have one in flight");
    drop(q);

    let (_clock, q) = process(dir.path(), T0, |b| b);
    // the in-flight heads are visible again (in send order), each still first in its group
    let b0 = q.try_receive().unwrap();
    let a1 = q.try_receive().unwrap();
    assert_eq!((b0.body().as_str(), a1.body().as_str()), ("b0", "a1"));
    assert_eq!(a1.group().map(|g| &**g), Some("A"));
    assert_eq!(a1.receive_count(), 2);
    assert!(
        q.try_receive().is_err(),
        "one in flight per group after the restart"
    );
    q.ack(b0.receipt()).unwrap();
    let b1 = q.try_receive().unwrap();
    assert_eq!(b1.body(), "b1");
    assert!(q.try_receive().is_err());
    q.ack(a1.receipt()).unwrap();
    assert_eq!(q.try_receive().unwrap().body(), "a2");
    drop(q);
    // what is left drains in send order
    let (_clock, q) = process(dir.path(), T0, |b| b);
    let mut got = Vec::new();
    while let Ok(d) = q.try_receive() {
        got.push(d.body().clone());
        q.ack(d.receipt()).unwrap();
    }
    assert_eq!(got, ["b1", "a2", "b2"]);
}

#[test]
fn dedup_ids_are_remembered_within_the_window_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.dedup_window(60 * SEC);
    let (clock, q) = process(dir.path(), T0, cfg);
    let acked = q
        .send_message(Message::new("pay 1".to_string()).dedup_id("order-1"))
        .unwrap();
    let queued = q
        .send_message(Message::new("pay 2".to_string()).dedup_id("order-2"))
        .unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(d.id(), acked);
    q.ack(d.receipt()).unwrap();
    assert_eq!(
        q.send_message(Message::new("pay 2".to_string()).dedup_id("order-2"))
            .unwrap(),
        queued
    );
    clock.advance(30 * SEC);
    let unix = clock.unix_millis();
    drop(q);

    let (clock, q) = process(dir.path(), unix, cfg);
    // both ids are still within their window (30 s left): duplicates are absorbed
    let again1 = q
        .send_message(Message::new("pay 1".to_string()).dedup_id("order-1"))
        .unwrap();
    let again2 = q
        .send_message(Message::new("pay 2".to_string()).dedup_id("order-2"))
        .unwrap();
    let d = q.try_receive().unwrap();
    assert_eq!(d.body(), "pay 2");
    assert_eq!(d.id(), again2, "a duplicate returns the live original's id");
    assert_ne!(again1, again2);
    assert!(q.try_receive().is_err(), "no duplicate was enqueued");
    assert_eq!(q.queue().stats().deduplicated, 2);
    q.ack(d.receipt()).unwrap();
    q.compact().unwrap(); // dedup ids survive a snapshot too
    clock.advance(29 * SEC);
    let unix = clock.unix_millis();
    drop(q);

    let (clock, q) = process(dir.path(), unix, cfg);
    q.send_message(Message::new("pay 1".to_string()).dedup_id("order-1"))
        .unwrap();
    assert!(q.try_receive().is_err(), "1 s of the window left");
    clock.advance(SEC);
    q.send_message(Message::new("pay 1 again".to_string()).dedup_id("order-1"))
        .unwrap();
    assert_eq!(q.try_receive().unwrap().body(), "pay 1 again");
}

#[test]
fn receive_counts_survive_and_a_message_that_kills_its_consumer_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.max_receives(3);
    let (_clock, q) = process(dir.path(), T0, cfg);
    q.send("poison".into()).unwrap();
    q.send("fine".into()).unwrap();
    drop(q);
    // each "process" receives the poison message and dies holding it
    for attempt in 1..=3 {
        let (_clock, q) = process(dir.path(), T0, cfg);
        let d = q.try_receive().unwrap();
        assert_eq!((d.body().as_str(), d.receive_count()), ("poison", attempt));
        assert!(q.queue().dead_letters().is_empty());
    }
    let (_clock, q) = process(dir.path(), T0, cfg);
    let d = q.try_receive().unwrap();
    assert_eq!(d.body(), "fine", "the poison message left the queue");
    let dead = q.queue().dead_letters().list();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].reason, DeadLetterReason::VisibilityTimeout);
    drop(q);
    // and it stays there
    let (_clock, q) = process(dir.path(), T0, cfg);
    assert_eq!(q.queue().dead_letters().len(), 1);
    assert_eq!(q.try_receive().unwrap().body(), "fine");
}

#[test]
fn an_extended_lease_is_not_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.visibility_timeout(30 * SEC);
    let (clock, q) = process(dir.path(), T0, cfg);
    q.send("long job".into()).unwrap();
    let d = q.try_receive().unwrap();
    q.extend(d.receipt(), 600 * SEC).unwrap();
    clock.advance(60 * SEC);
    assert!(q.try_receive().is_err(), "still leased");
    let unix = clock.unix_millis();
    drop(q);
    let (_clock, q) = process(dir.path(), unix, cfg);
    let again = q.try_receive().unwrap();
    assert_eq!(
        (again.body().as_str(), again.receive_count()),
        ("long job", 2)
    );
}

#[test]
fn a_timeout_dead_letter_is_restored_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.max_receives(2).visibility_timeout(30 * SEC);
    let (clock, q) = process(dir.path(), T0, cfg);
    q.send("slow".into()).unwrap();
    let _ = q.try_receive().unwrap();
    clock.advance(31 * SEC);
    let d = q.try_receive().unwrap();
    assert_eq!(d.receive_count(), 2);
    clock.advance(31 * SEC);
    assert!(q.try_receive().is_err());
    assert_eq!(q.queue().dead_letters().len(), 1, "moved by the timeout");
    let unix = clock.unix_millis();
    drop(q);
    let (_clock, q) = process(dir.path(), unix, cfg);
    let dead = q.queue().dead_letters().list();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].reason),
        (2, DeadLetterReason::VisibilityTimeout)
    );
    assert!(q.try_receive().is_err());
}

#[test]
fn redrive_and_take_are_logged_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |b: QueueBuilder<String>| b.max_receives(1);
    let (_clock, q) = process(dir.path(), T0, cfg);
    for body in ["x", "y", "z"] {
        q.send(body.into()).unwrap();
        let d = q.try_receive().unwrap();
        assert_eq!(
            q.nack_with_error(d.receipt(), format!("{body} failed"))
                .unwrap(),
            NackOutcome::DeadLettered
        );
    }
    drop(q);
    let (_clock, q) = process(dir.path(), T0, cfg);
    let dead = q.queue().dead_letters().list();
    assert_eq!(dead.len(), 3);
    assert_eq!(dead[1].last_error.as_deref(), Some("y failed"));
    assert_eq!(dead[1].reason, DeadLetterReason::Nacked);
    let by_body = |b: &str| dead.iter().find(|l| l.body == b).unwrap().id;
    assert_eq!(q.redrive(&[by_body("x")]).unwrap(), 1);
    let taken = q.take_dead_letter(by_body("y")).unwrap().unwrap();
    assert_eq!(taken.body, "y");
    drop(q); // no snapshot in between: the log alone must say it

    let (_clock, q) = process(dir.path(), T0, cfg);
    let dead: Vec<String> = q
        .queue()
        .dead_letters()
        .list()
        .into_iter()
        .map(|l| l.body)
        .collect();
    assert_eq!(dead, ["z"], "y was taken, x redriven");
    let d = q.try_receive().unwrap();
    assert_eq!(
        (d.body().as_str(), d.receive_count()),
        ("x", 1),
        "count reset"
    );
    assert_eq!(d.last_error(), None);
    assert!(q.try_receive().is_err());
    assert_eq!(q.redrive_all().unwrap(), 1);
    q.ack(d.receipt()).unwrap();
    drop(q);
    let (_clock, q) = process(dir.path(), T0, cfg);
    assert!(q.queue().dead_letters().is_empty());
    assert_eq!(q.try_receive().unwrap().body(), "z");
}

#[test]
fn a_full_durable_queue_blocks_the_sender_until_room() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (clock, q) = process(dir.path(), T0, |b| b.capacity(2));
    let q = Arc::new(q);
    q.send("1".into()).unwrap();
    q.send("2".into()).unwrap();
    let sender = {
        let q = q.clone();
        std::thread::spawn(move || q.send("3".into()).unwrap())
    };
    while clock.waiters() < 1 {
        std::thread::yield_now();
    }
    let d = q.try_receive().unwrap();
    q.ack(d.receipt()).unwrap();
    sender.join().unwrap();
    drop(Arc::try_unwrap(q).unwrap());
    let (_clock, q) = process(dir.path(), T0, |b| b.capacity(2));
    assert_eq!(
        drain(&q),
        BTreeSet::from(["2".to_string(), "3".to_string()])
    );
}

/// A durable queue's room check is exact although the queue publishes removals to producers in runs
/// (capacity 64: runs of 4): after two acks, two sends fit and the third is refused.
#[test]
fn a_durable_full_verdict_sees_every_ack() {
    let dir = tempfile::tempdir().unwrap();
    let (_clock, q) = process(dir.path(), T0, |b| {
        b.capacity(64).when_full(ember_queue::FullPolicy::Reject)
    });
    for i in 0..64 {
        q.send(format!("{i}")).unwrap();
    }
    assert_eq!(q.send("x".into()).unwrap_err(), Error::Full);
    for _ in 0..2 {
        let d = q.try_receive().unwrap();
        q.ack(d.receipt()).unwrap();
    }
    q.send("a".into()).unwrap();
    q.send("b".into()).unwrap();
    assert_eq!(q.send("c".into()).unwrap_err(), Error::Full);
}

// ---------------------------------------------------------------------------------------------------
// Random operations with restarts: nothing acked comes back, nothing unacked is lost, a dedup id is
// absorbed exactly within its window, groups never have two messages in flight, delays hold.

mod random {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        SendDelayed(u8),
        SendGrouped(u8),
        SendDedup(u8),
        Receive,
        Ack(u8),
        Nack(u8),
        Advance(u8),
        Restart,
        Compact,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Send),
            1 => (1u8..30).prop_map(Op::SendDelayed),
            2 => (0u8..3).prop_map(Op::SendGrouped),
            2 => (0u8..4).prop_map(Op::SendDedup),
            5 => Just(Op::Receive),
            3 => any::<u8>().prop_map(Op::Ack),
            2 => any::<u8>().prop_map(Op::Nack),
            2 => (1u8..40).prop_map(Op::Advance),
            1 => Just(Op::Restart),
            1 => Just(Op::Compact),
        ]
    }

    const WINDOW_S: u64 = 60;

    fn cfg(b: QueueBuilder<String>) -> QueueBuilder<String> {
        b.max_receives(3)
            .visibility_timeout(20 * SEC)
            .dedup_window(Duration::from_secs(WINDOW_S))
    }

    fn run(ops: Vec<Op>) {
        let dir = tempfile::tempdir().unwrap();
        let (mut clock, mut q) = process(dir.path(), T0, cfg);
        let mut n = 0u32;
        let mut sent: BTreeSet<String> = BTreeSet::new();
        let mut acked: BTreeSet<String> = BTreeSet::new();
        // dedup key -> end of its window (unix ms)
        let mut dedup: HashMap<u8, u64> = HashMap::new();
        // body -> (due unix ms) for delayed sends
        let mut due: BTreeMap<String, u64> = BTreeMap::new();
        let mut held: Vec<Delivery<String>> = Vec::new();
        for op in ops {
            let now = clock.unix_millis();
            match op {
                Op::Send | Op::SendDelayed(_) | Op::SendGrouped(_) => {
                    n += 1;
                    let body = format!("m{n}");
                    let mut msg = Message::new(body.clone());
                    if let Op::SendDelayed(s) = op {
                        msg = msg.delay(Duration::from_secs(u64::from(s)));
                        due.insert(body.clone(), now + u64::from(s) * 1000);
                    }
                    if let Op::SendGrouped(g) = op {
                        msg = msg.group(format!("g{g}"));
                    }
                    q.send_message(msg).unwrap();
                    sent.insert(body);
                }
                Op::SendDedup(k) => {
                    n += 1;
                    let body = format!("m{n}");
                    q.send_message(Message::new(body.clone()).dedup_id(format!("d{k}")))
                        .unwrap();
                    let open = dedup.get(&k).is_some_and(|&until| now < until);
                    if !open {
                        dedup.insert(k, now + WINDOW_S * 1000);
                        sent.insert(body);
                    }
                }
                Op::Receive => {
                    if let Ok(d) = q.try_receive() {
                        assert!(!acked.contains(d.body()), "acked {} came back", d.body());
                        assert!(sent.contains(d.body()), "never sent: {}", d.body());
                        if let Some(&t) = due.get(d.body()) {
                            assert!(now >= t, "{} delivered before its delay ended", d.body());
                        }
                        held.retain(|h| h.id() != d.id());
                        held.push(d);
                    }
                }
                Op::Ack(i) if !held.is_empty() => {
                    let d = held.remove(usize::from(i) % held.len());
                    if q.ack(d.receipt()).is_ok() {
                        acked.insert(d.body().clone());
                    }
                }
                Op::Nack(i) if !held.is_empty() => {
                    let d = held.remove(usize::from(i) % held.len());
                    let _ = q.nack(d.receipt());
                }
                Op::Ack(_) | Op::Nack(_) => {}
                Op::Advance(s) => clock.advance(Duration::from_secs(u64::from(s))),
                Op::Restart => {
                    held.clear();
                    let unix = clock.unix_millis();
                    drop(q);
                    (clock, q) = process(dir.path(), unix, cfg);
                }
                Op::Compact => q.compact().unwrap(),
            }
            // one in flight per group, among the deliveries still held and live
            let mut groups = BTreeSet::new();
            let leased = q.queue().stats().in_flight;
            if leased as usize == held.len() {
                for d in &held {
                    if let Some(g) = d.group() {
                        assert!(groups.insert(g.clone()), "two of group {g} in flight");
                    }
                }
            }
        }
        // Final restart, then everything left: the queue (after every delay) and the DLQ.
        let unix = clock.unix_millis();
        drop(q);
        let (clock, q) = process(dir.path(), unix + 3_600_000, cfg);
        let _ = clock;
        let mut left = BTreeSet::new();
        while let Ok(d) = q.try_receive() {
            assert!(left.insert(d.body().clone()), "{} twice", d.body());
            q.ack(d.receipt()).unwrap();
        }
        for l in q.queue().dead_letters().list() {
            assert!(left.insert(l.body.clone()), "{} twice", l.body);
        }
        let expected: BTreeSet<String> = sent.difference(&acked).cloned().collect();
        assert_eq!(left, expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::cases(40), ..ProptestConfig::default() })]
        #[test]
        fn random_operations_and_restarts_keep_the_queue_whole(
            ops in proptest::collection::vec(op(), 1..80)
        ) {
            run(ops);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// A crash that really crashes: the test binary re-invoked as a child that sends, acks and nacks with
// `Always`, printing each send and ack once it returned; SIGKILLed at a random point; the parent reopens.

mod crash {
    use std::collections::BTreeSet;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use rand::{Rng, SeedableRng};

    use super::*;

    const DIR_ENV: &str = "EMBER_QUEUE_CRASH_DIR";
    const RUN_ENV: &str = "EMBER_QUEUE_CRASH_RUN";

    fn open(dir: &std::path::Path) -> DurableQueue<String> {
        DurableQueue::open(dir, Queue::<String>::builder(), FsyncPolicy::Always).unwrap()
    }

    /// The child: only acts when started by the crash test.
    #[test]
    #[ignore = "child process of the queue crash test"]
    fn crash_child() {
        let dir = std::env::var(DIR_ENV).expect("run by the crash test");
        let run = std::env::var(RUN_ENV).unwrap();
        let q = open(std::path::Path::new(&dir));
        println!("READY");
        for i in 0..100_000 {
            let body = format!("r{run}-{i}");
            q.send(body.clone()).unwrap();
            println!("SENT {body}");
            if i % 2 == 1 {
                let d = q.try_receive().unwrap();
                if i % 3 == 0 {
                    q.nack(d.receipt()).unwrap();
                } else {
                    let b = d.body().clone();
                    println!("ACKING {b}");
                    q.ack(d.receipt()).unwrap();
                    println!("ACKED {b}");
                }
            }
        }
    }

    #[test]
    fn sigkill_loses_no_sent_message_and_resurrects_no_acked_one() {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x51_6b11);
        for run in 0..4 {
            let kill_after: usize = rng.random_range(1..=60);
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "durable::crash::crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DIR_ENV, dir.path())
                .env(RUN_ENV, run.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            let (mut sent, mut acking, mut acked) =
                (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
            let (mut lines, mut killed) = (0, false);
            // Read to the end of the pipe even after the kill: the child may have gone on past the
            // line that triggered the kill, and what it printed before dying is still in the pipe.
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                // libtest may print its own words before ours on the same line
                let tags = [
                    ("SENT ", &mut sent),
                    ("ACKING ", &mut acking),
                    ("ACKED ", &mut acked),
                ];
                for (tag, set) in tags {
                    if let Some(at) = line.find(tag) {
                        set.insert(line[at + tag.len()..].trim().to_string());
                        lines += 1;
                    }
                }
                if lines >= kill_after && !killed {
                    child.kill().unwrap(); // SIGKILL, wherever the child is
                    killed = true;
                }
            }
            assert!(!child.wait().unwrap().success(), "killed, not finished");
            let q = open(dir.path());
            let mut present = BTreeSet::new();
            while let Ok(d) = q.try_receive() {
                assert!(present.insert(d.body().clone()), "{} twice", d.body());
                q.ack(d.receipt()).unwrap();
            }
            // (an ack the child started but was killed in may or may not have happened)
            for m in sent.difference(&acking) {
                assert!(
                    present.contains(m),
                    "run {run}: sent and not acked, lost: {m}"
                );
            }
            for m in &acked {
                assert!(!present.contains(m), "run {run}: acked, came back: {m}");
            }
            assert!(
                present.iter().all(|m| m.starts_with(&format!("r{run}-"))),
                "earlier runs were drained and acked"
            );
        }
    }
}
