use std::sync::Arc;
use std::thread;
use std::time::Duration;

use ember_core::{Clock, ManualClock};
use ember_log::{Error, FsyncPolicy, Log, Retention};

use crate::{read_all, small_log};

#[test]
fn log_and_iter_are_send_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Log>();
    fn send<T: Send>() {}
    send::<ember_log::Iter>();
    send::<Error>();
}

#[test]
fn append_read_and_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    let payloads: Vec<Vec<u8>> = (0..500u32)
        .map(|i| format!("record-{i}-{}", "x".repeat((i % 37) as usize)).into_bytes())
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        assert_eq!(log.append(p).unwrap(), i as u64);
    }
    assert!(
        log.segments().len() > 2,
        "small segments must roll: {}",
        log.segments().len()
    );
    assert_eq!(read_all(&log), payloads);
    // random access through the index
    for off in [0u64, 1, 77, 250, 498, 499] {
        assert_eq!(
            log.get(off).unwrap().unwrap().payload,
            payloads[off as usize]
        );
    }
    assert_eq!(log.get(500).unwrap(), None);
    let segs = log.segments();
    drop(log);
    let log = small_log(dir.path(), FsyncPolicy::Never);
    assert_eq!(log.next_offset(), 500);
    assert_eq!(log.segments().len(), segs.len());
    assert_eq!(read_all(&log), payloads);
    assert_eq!(log.append(b"after").unwrap(), 500);
    assert_eq!(
        log.recovery().scanned_segments,
        1,
        "only the tail is scanned when indexes are valid"
    );
}

#[test]
fn read_batches_respect_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    for i in 0..100u8 {
        log.append(&[i; 10]).unwrap();
    }
    let r = log.read(10, 5, 0).unwrap();
    assert_eq!(
        r.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14]
    );
    let r = log.read(10, 100, 25).unwrap();
    assert_eq!(r.len(), 3, "stops after the record reaching max_bytes");
    let r = log.read(10, 100, 1).unwrap();
    assert_eq!(r.len(), 1, "at least one record");
    assert!(log.read(100, 10, 0).unwrap().is_empty());
    assert!(log.read(5, 0, 0).unwrap().is_empty());
}

#[test]
fn metadata_and_timestamps() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Meta {
        key: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::with_unix_millis(5_000);
    let log = Log::builder(dir.path())
        .clock(clock.clone())
        .open()
        .unwrap();
    let m = Meta {
        key: Some("k".into()),
        headers: vec![("h".into(), vec![1, 2])],
    };
    let a = log.append_meta(&m, b"v").unwrap();
    clock.advance(Duration::from_millis(10));
    let b = log.append(b"plain").unwrap();
    let c = log.append_raw(Some(42), b"raw", b"p").unwrap();
    let ra = log.get(a).unwrap().unwrap();
    assert_eq!(ra.meta_value::<Meta>().unwrap(), Some(m));
    assert_eq!(ra.timestamp, None, "plain appends carry no timestamp");
    let rb = log.get(b).unwrap().unwrap();
    assert_eq!(
        (rb.timestamp, rb.meta_value::<Meta>().unwrap()),
        (None, None)
    );
    let rc = log.get(c).unwrap().unwrap();
    assert_eq!((rc.timestamp, &rc.meta[..]), (Some(42), &b"raw"[..]));
    let d = log
        .append_raw(Some(clock.unix_millis()), &[], b"stamped")
        .unwrap();
    assert_eq!(log.get(d).unwrap().unwrap().timestamp, Some(5_010));
    assert_eq!(log.segments()[0].max_timestamp, 5_010);
    assert!(matches!(rc.meta_value::<Meta>(), Err(Error::Codec { .. })));
}

#[test]
fn bad_input_is_a_typed_error_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::builder(dir.path())
        .max_record_bytes(100)
        .open()
        .unwrap();
    assert!(matches!(
        log.append(&[0; 101]),
        Err(Error::RecordTooLarge {
            size: 101,
            max: 100
        })
    ));
    assert!(matches!(
        log.append_batch([&[0u8; 5][..], &[0; 200]]),
        Err(Error::RecordTooLarge { size: 200, .. })
    ));
    assert_eq!(log.next_offset(), 0);
    assert_eq!(log.append(&[0; 100]).unwrap(), 0);
    // a record exactly too large for a small segment gets a segment of its own
    let dir2 = tempfile::tempdir().unwrap();
    let log2 = Log::builder(dir2.path())
        .segment_bytes(1024)
        .open()
        .unwrap();
    log2.append(b"small").unwrap();
    log2.append(&[7; 3000]).unwrap();
    log2.append(b"after").unwrap();
    assert_eq!(log2.segments().len(), 3);
    assert_eq!(log2.get(1).unwrap().unwrap().payload, vec![7; 3000]);
}

#[test]
fn builder_rejects_impossible_settings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    assert!(matches!(
        Log::builder(p).segment_bytes(10).open(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Log::builder(p).fsync(FsyncPolicy::EveryN(0)).open(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Log::builder(p).index_interval_bytes(0).open(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Log::builder(p).max_record_bytes(0).open(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Log::builder(p).segment_age(Duration::ZERO).open(),
        Err(Error::Config(_))
    ));
}

#[test]
fn a_directory_opens_once_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert!(matches!(Log::open(dir.path()), Err(Error::AlreadyOpen(_))));
    let clone = log.clone();
    drop(log);
    assert!(
        matches!(Log::open(dir.path()), Err(Error::AlreadyOpen(_))),
        "a clone keeps it open"
    );
    drop(clone);
    Log::open(dir.path()).unwrap();
}

#[test]
fn roll_by_age_uses_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let log = Log::builder(dir.path())
        .segment_age(Duration::from_secs(60))
        .clock(clock.clone())
        .open()
        .unwrap();
    log.append(b"a").unwrap();
    clock.advance(Duration::from_secs(59));
    log.append(b"b").unwrap();
    assert_eq!(log.segments().len(), 1);
    clock.advance(Duration::from_secs(1));
    log.append(b"c").unwrap();
    let segs = log.segments();
    assert_eq!(segs.len(), 2);
    assert_eq!((segs[1].base_offset, segs[1].next_offset), (2, 3));
}

#[test]
fn retention_by_age_size_and_offset_deletes_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let log = Log::builder(dir.path())
        .segment_bytes(1024)
        .retention(Retention::default().max_age(Duration::from_secs(3600)))
        .clock(clock.clone())
        .open()
        .unwrap();
    for _ in 0..30 {
        log.append(&[1; 100]).unwrap(); // ~8 records per segment
    }
    let before = log.segments().len();
    assert!(before >= 4);
    assert_eq!(log.apply_retention().unwrap(), 0, "nothing is old yet");
    clock.advance(Duration::from_secs(3601));
    let deleted = log.apply_retention().unwrap();
    assert_eq!(
        deleted,
        before - 1,
        "every sealed segment is expired; the active one stays"
    );
    assert_eq!(log.start_offset(), log.segments()[0].base_offset);
    assert!(matches!(
        log.get(0),
        Err(Error::OffsetOutOfRange { offset: 0, .. })
    ));
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "segment and index files are removed");
    drop(log);

    // by size
    let dir = tempfile::tempdir().unwrap();
    let log = Log::builder(dir.path())
        .segment_bytes(1024)
        .retention(Retention::default().max_bytes(3000))
        .open()
        .unwrap();
    for _ in 0..200 {
        log.append(&[2; 100]).unwrap();
        let total: u64 = log.segments().iter().map(|s| s.bytes).sum();
        // retention runs on roll and keeps at least max_bytes: bounded by max_bytes + 2 segments
        assert!(
            total <= 3000 + 2 * 1024,
            "retention keeps the size bounded: {total}"
        );
    }
    let s = log.stats();
    assert!(s.segments_deleted > 10);
    assert_eq!(read_all(&log).len() as u64, s.next_offset - s.start_offset);

    // by offset
    let start = log.start_offset();
    let segs = log.segments();
    let cut = segs[2].base_offset;
    assert_eq!(log.delete_before(cut + 1).unwrap(), 2);
    assert_eq!(log.start_offset(), cut);
    assert!(start < cut);
}

#[test]
fn concurrent_appenders_and_readers_see_dense_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(small_log(dir.path(), FsyncPolicy::EveryN(7)));
    let threads: Vec<_> = (0..6u8)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..200u32 {
                    let mut p = vec![t];
                    p.extend_from_slice(&i.to_le_bytes());
                    mine.push((log.append(&p).unwrap(), i));
                    if i % 50 == 0 {
                        // readers interleaved with writers
                        let n = log.next_offset();
                        let got = read_all(&log).len() as u64;
                        assert!(
                            got >= n,
                            "a read sees every record appended before it: {got} < {n}"
                        );
                    }
                }
                mine
            })
        })
        .collect();
    let mut seen = std::collections::HashMap::new();
    for (t, h) in threads.into_iter().enumerate() {
        let mine = h.join().unwrap();
        assert!(
            mine.windows(2).all(|w| w[0].0 < w[1].0),
            "a thread's offsets increase"
        );
        for (off, i) in mine {
            seen.insert(off, (t as u8, i));
        }
    }
    assert_eq!(seen.len(), 1200);
    let all = read_all(&log);
    assert_eq!(all.len(), 1200);
    for (off, p) in all.iter().enumerate() {
        let (t, i) = seen[&(off as u64)];
        assert_eq!(p[0], t);
        assert_eq!(u32::from_le_bytes(p[1..5].try_into().unwrap()), i);
    }
}

#[test]
fn stats_and_segments_report() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::EveryN(10));
    for _ in 0..100 {
        log.append(&[0; 90]).unwrap();
    }
    let s = log.stats();
    assert_eq!(
        (s.appends, s.appended_bytes, s.next_offset, s.start_offset),
        (100, 9000, 100, 0)
    );
    assert_eq!(s.segments, log.segments().len());
    assert!(s.rolls >= 2);
    let line = s.to_string();
    assert!(
        line.starts_with("appends=100 appended_bytes=9000 fsyncs="),
        "{line}"
    );
    let segs = log.segments();
    assert!(segs.last().unwrap().active && !segs[0].active);
    assert!(
        segs.windows(2)
            .all(|w| w[0].next_offset == w[1].base_offset)
    );
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"appends\":100"));
}

#[test]
fn an_exclusive_writer_appends_like_append_and_blocks_other_appenders() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path()).unwrap());
    log.append(b"first").unwrap();
    let mut w = log.writer().unwrap();
    let other = {
        let log = log.clone();
        std::thread::spawn(move || log.append(b"other").unwrap())
    };
    for i in 0..50u32 {
        assert_eq!(w.append(&i.to_le_bytes()).unwrap(), u64::from(i) + 1);
    }
    w.append_raw(Some(7), b"m", b"raw").unwrap();
    w.append_meta(&("k", 1u8), b"meta").unwrap();
    assert_eq!(w.next_offset(), 53);
    w.flush().unwrap();
    drop(w);
    assert_eq!(
        other.join().unwrap(),
        53,
        "the other appender waited for the writer"
    );
    let all: Vec<_> = log.iter(0).map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 54);
    assert_eq!(all[10].payload, 9u32.to_le_bytes());
    assert_eq!((all[51].timestamp, &all[51].meta[..]), (Some(7), &b"m"[..]));
    assert_eq!(
        all[52].meta_value::<(String, u8)>().unwrap(),
        Some(("k".into(), 1))
    );
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 54);
    assert!(log.verify().unwrap().is_healthy());
    // too large: a typed error, nothing written
    let log = Log::builder(tempfile::tempdir().unwrap().path())
        .max_record_bytes(10)
        .open()
        .unwrap();
    let mut w = log.writer().unwrap();
    assert!(matches!(
        w.append(&[0; 11]),
        Err(ember_log::Error::RecordTooLarge { .. })
    ));
    assert_eq!(w.next_offset(), 0);
}
