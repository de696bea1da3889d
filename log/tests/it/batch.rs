//! Format version 2: records in CRC'd batches. Torn and corrupt batches, seeks into the middle of a
//! batch, reads of records still in the write buffer, old-format segments.

use std::fs;

use ember_log::{
    BATCH_OVERHEAD, Error, FsyncPolicy, Log, RECORD_OVERHEAD, SEGMENT_HEADER_LEN, inspect,
};

use crate::{expect_corrupt, read_all, segment_path, truncate};

fn payload(i: u64) -> Vec<u8> {
    format!("rec-{i:06}").into_bytes() // 10 bytes
}

/// Bytes of a batch of `n` 10-byte records.
fn batch_len(n: u64) -> u64 {
    BATCH_OVERHEAD + n * (RECORD_OVERHEAD + 10)
}

/// A log whose sparse index has an entry at every batch start.
fn open_indexed(dir: &std::path::Path) -> Log {
    Log::builder(dir)
        .fsync(FsyncPolicy::Never)
        .index_interval_bytes(1)
        .open()
        .unwrap()
}

/// Writes batches of the given sizes (a flush after each) with `Never`; returns the payloads.
fn batches(dir: &std::path::Path, sizes: &[u64]) -> Vec<Vec<u8>> {
    let log = open_indexed(dir);
    let mut all = Vec::new();
    for &n in sizes {
        for _ in 0..n {
            let p = payload(all.len() as u64);
            log.append(&p).unwrap();
            all.push(p);
        }
        log.flush().unwrap();
    }
    all
}

#[test]
fn a_torn_batch_is_dropped_whole_and_earlier_batches_kept() {
    let base = tempfile::tempdir().unwrap();
    let payloads = batches(base.path(), &[3, 4]);
    let second = SEGMENT_HEADER_LEN + batch_len(3);
    let full = second + batch_len(4);
    assert_eq!(
        fs::metadata(segment_path(base.path(), 0)).unwrap().len(),
        full
    );
    for cut in second..full {
        let dir = tempfile::tempdir().unwrap();
        fs::copy(segment_path(base.path(), 0), segment_path(dir.path(), 0)).unwrap();
        truncate(&segment_path(dir.path(), 0), cut);
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(
            log.next_offset(),
            3,
            "cut at {cut}: none of the torn batch kept"
        );
        assert_eq!(log.recovery().truncated_bytes, cut - second);
        assert_eq!(
            log.recovery().truncated_at.as_ref().map(|t| t.1),
            (cut > second).then_some(second)
        );
        assert_eq!(read_all(&log), payloads[..3].to_vec());
        assert_eq!(log.append(b"next").unwrap(), 3);
    }
}

#[test]
fn a_flipped_byte_inside_a_batch_is_corruption_at_the_batch_start() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = batches(dir.path(), &[3, 4, 2]);
    let path = segment_path(dir.path(), 0);
    let good = fs::read(&path).unwrap();
    let second = SEGMENT_HEADER_LEN + batch_len(3);
    // every byte of the middle batch: header, record lengths, flags, payloads
    for i in second..second + batch_len(4) {
        let mut bad = good.clone();
        bad[i as usize] ^= 0x20;
        fs::write(&path, &bad).unwrap();
        let (p, position, _) = expect_corrupt(Log::open(dir.path()), &format!("flip at {i}"));
        assert_eq!((p, position), (path.clone(), second), "flip at {i}");
        let report = inspect(dir.path()).unwrap();
        assert!(!report.is_healthy(), "flip at {i}");
        assert_eq!(
            fs::read(&path).unwrap(),
            bad,
            "a failed open changes nothing"
        );
    }
    fs::write(&path, &good).unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(read_all(&log), payloads);
}

#[test]
fn a_damaged_batch_in_a_sealed_segment_fails_reads_from_its_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = batches(dir.path(), &[3, 4, 2]);
    {
        let log = open_indexed(dir.path());
        log.roll().unwrap(); // seal segment 0 with a valid index: open will not scan it
    }
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let second = SEGMENT_HEADER_LEN + batch_len(3);
    bytes[(second + batch_len(4) - 2) as usize] ^= 0x01; // last payload byte of record 6
    fs::write(&path, &bytes).unwrap();
    let log = open_indexed(dir.path());
    assert_eq!(log.get(2).unwrap().unwrap().payload, payloads[2]);
    for off in 3..7 {
        let (p, position, _) = expect_corrupt(log.get(off), &format!("get({off})"));
        assert_eq!((&p, position), (&path, second));
    }
    // the index points past the damaged batch: later records are still readable
    assert_eq!(log.get(7).unwrap().unwrap().payload, payloads[7]);
    // a read from before the damage returns the good records first, then reports it
    let first = log.read(0, 100, 0).unwrap();
    assert_eq!(first.len(), 3);
    assert!(matches!(log.read(3, 100, 0), Err(Error::Corrupt { .. })));
}

#[test]
fn reads_seek_into_the_middle_of_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [50, 1, 120, 7, 60];
    let payloads = batches(dir.path(), &sizes);
    let n = payloads.len() as u64;
    let check = |log: &Log| {
        for off in 0..n {
            let r = log.get(off).unwrap().unwrap();
            assert_eq!((r.offset, &r.payload), (off, &payloads[off as usize]));
        }
        // ranges starting inside a batch and crossing into the next ones
        for from in [0, 13, 49, 50, 51, 99, 170, 171, 200] {
            let got = log.read(from, 40, 0).unwrap();
            let want: Vec<u64> = (from..(from + 40).min(n)).collect();
            assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), want);
            for r in got {
                assert_eq!(r.payload, payloads[r.offset as usize]);
            }
        }
        assert_eq!(log.get(n).unwrap(), None);
    };
    let log = open_indexed(dir.path());
    check(&log);
    log.roll().unwrap(); // now a sealed segment with a persisted index pointing at batch starts
    drop(log);
    let log = open_indexed(dir.path());
    assert_eq!(log.recovery().scanned_segments, 1, "only the new tail");
    check(&log);
    assert_eq!(
        log.segments()[0].index_entries,
        sizes.len(),
        "one entry per batch start (interval 1 byte)"
    );
}

#[test]
fn records_still_in_the_write_buffer_are_readable_and_the_read_flushes_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::builder(dir.path())
        .fsync(FsyncPolicy::Never)
        .open()
        .unwrap();
    for i in 0..10 {
        log.append(&payload(i)).unwrap();
    }
    assert_eq!(inspect(dir.path()).unwrap().records(), 0, "all buffered");
    assert_eq!(log.get(4).unwrap().unwrap().payload, payload(4));
    // the read sealed the open batch and handed it to the OS: a process crash no longer loses it
    let on_disk = inspect(dir.path()).unwrap();
    assert_eq!((on_disk.records(), on_disk.next_offset), (10, 10));
    for i in 10..25 {
        log.append(&payload(i)).unwrap();
    }
    // a read spanning the written batch and the open one
    let got = log.read(8, 100, 0).unwrap();
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (8..25).collect::<Vec<_>>()
    );
    let it: Vec<u64> = log.iter(20).map(|r| r.unwrap().offset).collect();
    assert_eq!(it, (20..25).collect::<Vec<_>>());
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(read_all(&log), (0..25).map(payload).collect::<Vec<_>>());
}

#[test]
fn every_policy_seals_a_batch_before_its_fsync() {
    // A record acknowledged as durable must be in a whole batch on disk: after `sync` (any policy)
    // and after an `Always` append, inspecting the files (what a crash would leave, short of the
    // OS losing written-back pages) finds every record.
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::EveryN(3),
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::builder(dir.path()).fsync(policy).open().unwrap();
        for i in 0..7 {
            log.append(&payload(i)).unwrap();
            let durable = log.durable_offset();
            let on_disk = inspect(dir.path()).unwrap().next_offset;
            assert!(
                on_disk >= durable,
                "{policy:?}: durable {durable} > on disk {on_disk}"
            );
            if policy == FsyncPolicy::Always {
                assert_eq!(durable, i + 1);
            }
        }
        assert_eq!(
            log.durable_offset(),
            match policy {
                FsyncPolicy::Always => 7,
                FsyncPolicy::EveryN(_) => 6,
                _ => 0,
            }
        );
        log.sync().unwrap();
        assert_eq!(inspect(dir.path()).unwrap().next_offset, 7, "{policy:?}");
    }
}

#[test]
fn a_segment_of_an_unknown_format_version_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    batches(dir.path(), &[2]);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&3u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    match Log::open(dir.path()) {
        Err(Error::UnsupportedFormat {
            path: p,
            version: 3,
            supported: 2,
        }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    let report = inspect(dir.path()).unwrap();
    assert!(!report.is_healthy());
    assert!(
        report.segments[0]
            .error
            .as_deref()
            .unwrap()
            .contains("version 3")
    );
    assert_eq!(fs::read(&path).unwrap(), bytes, "nothing changed on disk");
}

#[test]
fn batches_are_sealed_at_batch_bytes_inside_one_flush() {
    let dir = tempfile::tempdir().unwrap();
    // batches of 3 records (3 x 15 bytes + 20 >= 60), all in one write buffer
    let log = Log::builder(dir.path())
        .fsync(FsyncPolicy::Never)
        .batch_bytes(60)
        .index_interval_bytes(1)
        .open()
        .unwrap();
    for i in 0..10 {
        log.append(&payload(i)).unwrap();
    }
    drop(log); // one flush: batches 0..3, 3..6, 6..9 and 9..10
    let path = segment_path(dir.path(), 0);
    let len = fs::metadata(&path).unwrap().len();
    assert_eq!(len, SEGMENT_HEADER_LEN + 3 * batch_len(3) + batch_len(1));
    // tear the last byte of batch 6..9's last record and drop batch 9..10: batch 6..9 is gone whole
    truncate(&path, SEGMENT_HEADER_LEN + 3 * batch_len(3) - 1);
    let log = open_indexed(dir.path());
    assert_eq!(log.next_offset(), 6);
    assert_eq!(read_all(&log), (0..6).map(payload).collect::<Vec<_>>());
    assert_eq!(
        log.segments()[0].index_entries,
        2,
        "an entry per batch start"
    );
}
