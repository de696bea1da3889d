//! Fsync policies and group commit.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_log::{FsyncPolicy, Log};

fn log_with(dir: &std::path::Path, policy: FsyncPolicy, clock: ManualClock) -> Log {
    Log::builder(dir).fsync(policy).clock(clock).open().unwrap()
}

#[test]
fn always_syncs_before_returning() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Always, ManualClock::new());
    for i in 0..20 {
        let off = log.append(b"x").unwrap();
        assert_eq!(
            log.durable_offset(),
            off + 1,
            "append {i} returned before it was durable"
        );
    }
    assert_eq!(log.stats().fsyncs, 20);
    log.append_batch([&b"a"[..], b"b", b"c"]).unwrap();
    assert_eq!(log.stats().fsyncs, 21, "a batch costs one fsync");
    assert_eq!(log.durable_offset(), 23);
}

#[test]
fn every_n_syncs_every_nth_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::EveryN(10), ManualClock::new());
    for _ in 0..9 {
        log.append(b"x").unwrap();
    }
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (0, 0));
    log.append(b"x").unwrap();
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (1, 10));
    for _ in 0..95 {
        log.append(b"x").unwrap();
    }
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (10, 100));
    log.sync().unwrap();
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (11, 105));
}

#[test]
fn interval_syncs_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let log = log_with(
        dir.path(),
        FsyncPolicy::Interval(Duration::from_millis(100)),
        clock.clone(),
    );
    for _ in 0..50 {
        log.append(b"x").unwrap();
    }
    assert_eq!(log.stats().fsyncs, 0);
    assert!(!log.sync_if_due().unwrap());
    clock.advance(Duration::from_millis(100));
    log.append(b"y").unwrap();
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (1, 51));
    log.append(b"z").unwrap();
    assert_eq!(log.stats().fsyncs, 1);
    clock.advance(Duration::from_millis(150));
    assert!(
        log.sync_if_due().unwrap(),
        "an idle log is synced by sync_if_due"
    );
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (2, 52));
}

#[test]
fn never_does_not_sync_but_survives_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Never, ManualClock::new());
    for _ in 0..1000 {
        log.append(&[3; 100]).unwrap();
    }
    assert_eq!(log.stats().fsyncs, 0);
    assert!(!log.sync_if_due().unwrap());
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 1000);
}

#[test]
fn group_commit_keeps_every_acknowledged_record_durable() {
    // Many threads appending with Always: each append must see its own record durable on return,
    // and the fsyncs are shared (never more fsyncs than appends).
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::builder(dir.path())
            .fsync(FsyncPolicy::Always)
            .segment_bytes(8192)
            .open()
            .unwrap(),
    );
    let threads = 8;
    let per = 40;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (log, barrier) = (log.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..per {
                    let off = log.append(format!("{t}-{i}").as_bytes()).unwrap();
                    assert!(log.durable_offset() > off, "acknowledged before durable");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = log.stats();
    assert_eq!(s.appends, (threads * per) as u64);
    assert!(s.fsyncs <= s.appends + s.rolls, "{s}");
    assert_eq!(log.durable_offset(), s.appends);
}
