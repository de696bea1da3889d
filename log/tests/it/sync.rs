//! Fsync policies and group commit.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_log::{FsyncPolicy, Log};

fn log_with(dir: &std::path::Path, policy: FsyncPolicy, clock: ManualClock) -> Log {
    Log::builder(dir).fsync(policy).clock(clock).open().unwrap()
}

/// Starts one thread per entry of `counts` behind a barrier; thread `t` appends `counts[t]` records and
/// checks after each append that its record is durable (the `Always` promise). Joins them all.
fn append_durably_from_threads(log: &Arc<Log>, counts: &[u64]) {
    let barrier = Arc::new(Barrier::new(counts.len()));
    let handles: Vec<_> = counts
        .iter()
        .enumerate()
        .map(|(t, &n)| {
            let (log, barrier) = (log.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for i in 0..n {
                    let off = log.append(format!("{t}-{i}").as_bytes()).unwrap();
                    assert!(log.durable_offset() > off, "acknowledged before durable");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
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
    append_durably_from_threads(&log, &[40; 8]);
    let s = log.stats();
    assert_eq!(s.appends, 8 * 40);
    assert!(s.fsyncs <= s.appends + s.rolls, "{s}");
    assert_eq!(log.durable_offset(), s.appends);
}

#[test]
fn group_commit_window_does_not_stall_on_a_clock_that_never_moves() {
    // The group-commit window waits for the appenders it expects, bounded by half the last fsync's
    // duration on the log's clock and by a number of rounds. With a ManualClock nobody advances,
    // fsyncs take no time, so a wait for an appender that does not come (here: threads finishing at
    // different times, so the expected group shrinks as they leave) must end at once rather than
    // hang. Every append must still return, durable.
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(log_with(
        dir.path(),
        FsyncPolicy::Always,
        ManualClock::new(),
    ));
    // Thread t appends 5 * (t + 1) records: the group shrinks one thread at a time.
    append_durably_from_threads(&log, &[5, 10, 15, 20, 25, 30]);
    let s = log.stats();
    assert_eq!(s.appends, 5 * (1 + 2 + 3 + 4 + 5 + 6));
    assert!(s.fsyncs <= s.appends, "{s}");
    assert_eq!(log.durable_offset(), s.appends);
}

#[test]
fn stress_appenders_readers_and_retention_together() {
    // 4 appenders (group-committed syncs), 2 readers scanning from the head while retention deletes
    // segments under them. Invariants: offsets dense and unique, every record read is whole and in
    // its writer's order, reads below the head fail with OffsetOutOfRange (never wrong data).
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        Log::builder(dir.path())
            .fsync(FsyncPolicy::EveryN(3))
            .segment_bytes(2048)
            .retention(ember_log::Retention::default().max_bytes(8192))
            .open()
            .unwrap(),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4u8)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || {
                let mut last = None;
                for i in 0..300u32 {
                    let mut p = vec![t];
                    p.extend_from_slice(&i.to_le_bytes());
                    p.resize(5 + (i % 40) as usize, t);
                    let off = log.append(&p).unwrap();
                    assert!(last < Some(off));
                    last = Some(off);
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                let mut checked = 0u64;
                let mut out_of_range = 0u64;
                // Scan until the writers are done, then once more: a reader that the scheduler
                // starts only after the writers finished still checks the records that are left,
                // and that last scan (nothing is written or deleted any more) reaches the end.
                loop {
                    let last = stop.load(std::sync::atomic::Ordering::SeqCst);
                    let mut next = log.start_offset();
                    let mut last_seq = [None::<u32>; 4];
                    loop {
                        match log.read(next, 64, 0) {
                            Ok(recs) if recs.is_empty() => break,
                            Ok(recs) => {
                                for r in recs {
                                    assert_eq!(r.offset, next, "dense offsets");
                                    next += 1;
                                    let t = r.payload[0] as usize;
                                    let i = u32::from_le_bytes(r.payload[1..5].try_into().unwrap());
                                    assert_eq!(
                                        r.payload.len(),
                                        5 + (i % 40) as usize,
                                        "whole record"
                                    );
                                    assert!(r.payload[5..].iter().all(|&b| b as usize == t));
                                    assert!(last_seq[t] < Some(i), "writer order");
                                    last_seq[t] = Some(i);
                                    checked += 1;
                                }
                            }
                            Err(ember_log::Error::OffsetOutOfRange { .. }) => {
                                assert!(!last, "retention ran after the writers were done");
                                out_of_range += 1;
                                break; // retention overtook this reader: start again at the head
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    if last {
                        assert_eq!(next, 1200, "the last scan reaches the end");
                        break;
                    }
                }
                (checked, out_of_range)
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        let (checked, _) = r.join().unwrap();
        assert!(checked > 0);
    }
    let s = log.stats();
    assert_eq!(s.next_offset, 1200);
    assert!(s.segments_deleted > 0, "retention ran: {s}");
    let kept: u64 = log.segments().iter().map(|s| s.bytes).sum();
    assert!(kept <= 8192 + 2 * 2048, "{kept}");
    assert!(log.verify().unwrap().is_healthy());
}

#[test]
fn an_exclusive_writer_follows_the_fsync_policy() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Always, ManualClock::new());
    let mut w = log.writer().unwrap();
    for i in 0..5 {
        let off = w.append(b"x").unwrap();
        assert_eq!(off, i);
        assert_eq!(
            log.durable_offset(),
            off + 1,
            "durable before the append returned"
        );
    }
    drop(w);
    assert_eq!(log.stats().fsyncs, 5);

    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::EveryN(4), ManualClock::new());
    let mut w = log.writer().unwrap();
    for _ in 0..10 {
        w.append(b"x").unwrap();
    }
    drop(w);
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (2, 8));
    log.append(b"y").unwrap();
    log.append(b"y").unwrap();
    assert_eq!(
        (log.stats().fsyncs, log.durable_offset()),
        (3, 12),
        "the count carries over between the writer and append"
    );

    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Never, ManualClock::new());
    let mut w = log.writer().unwrap();
    w.append(b"x").unwrap();
    w.sync().unwrap();
    assert_eq!(log.durable_offset(), 1);
    drop(w);
    assert_eq!(log.stats().fsyncs, 1);
}

#[test]
fn a_deferred_append_is_durable_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Always, ManualClock::new());
    let a = log.append_meta_deferred(&1u8, b"a").unwrap();
    let b = log.append_meta_deferred(&2u8, b"b").unwrap();
    assert_eq!((a.offset(), b.offset()), (0, 1));
    assert_eq!(log.durable_offset(), 0, "not synced before the commit");
    assert_eq!(log.stats().fsyncs, 0);
    log.commit(b).unwrap();
    assert_eq!(
        log.durable_offset(),
        2,
        "the later ticket covers the earlier record"
    );
    log.commit(a).unwrap();
    assert_eq!(log.stats().fsyncs, 1, "already durable: no second fsync");
    assert_eq!(
        log.get(1).unwrap().unwrap().meta_value::<u8>().unwrap(),
        Some(2)
    );

    // With `Never`, a commit does not sync.
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), FsyncPolicy::Never, ManualClock::new());
    let t = log.append_meta_deferred(&0u8, b"x").unwrap();
    log.commit(t).unwrap();
    assert_eq!((log.stats().fsyncs, log.durable_offset()), (0, 0));
}
