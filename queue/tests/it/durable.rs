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
    // a second restart without acks gives the same set; acks after a restart stick too
    drop(q);
    let q = open(dir.path());
    let d = q.try_receive().unwrap();
    let first = d.body().clone();
    q.ack(d.receipt()).unwrap();
    drop(q);
    let q = open(dir.path());
    let again = drain(&q);
    assert_eq!(again.len(), expected.len() - 1);
    assert!(!again.contains(&first));
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
    assert_eq!(drain(&q), BTreeSet::from(["fine".to_string()]));
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
