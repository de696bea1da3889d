//! Torn writes, corruption, index rebuilds: damage done by hand to the files.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use ember_log::{
    BATCH_OVERHEAD, Error, FRAME_OVERHEAD, FsyncPolicy, IndexState, Log, RECORD_OVERHEAD,
    SEGMENT_HEADER_LEN, inspect,
};

use crate::{expect_corrupt, read_all, segment_path, small_log, truncate};

/// Writes `n` records of 20 bytes into one segment, each in a batch of its own (a flush after each
/// append: `FRAME` bytes per record), and closes the log.
fn one_segment(dir: &Path, n: u64) -> Vec<Vec<u8>> {
    let log = Log::open(dir).unwrap();
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("payload-{i:012}").into_bytes())
        .collect();
    for p in &payloads {
        log.append(p).unwrap();
        log.flush().unwrap();
    }
    payloads
}

const FRAME: u64 = FRAME_OVERHEAD + 20;

fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn truncation_at_every_byte_of_the_tail_keeps_the_whole_records() {
    let base = tempfile::tempdir().unwrap();
    let payloads = one_segment(base.path(), 5);
    let full = SEGMENT_HEADER_LEN + 5 * FRAME;
    assert_eq!(
        fs::metadata(segment_path(base.path(), 0)).unwrap().len(),
        full
    );
    for cut in SEGMENT_HEADER_LEN..full {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(base.path(), dir.path());
        truncate(&segment_path(dir.path(), 0), cut);
        let log = Log::open(dir.path()).unwrap();
        let whole = (cut - SEGMENT_HEADER_LEN) / FRAME;
        assert_eq!(log.next_offset(), whole, "cut at {cut}");
        let rep = log.recovery();
        let torn = (cut - SEGMENT_HEADER_LEN) % FRAME != 0;
        assert_eq!(rep.truncated_bytes, (cut - SEGMENT_HEADER_LEN) % FRAME);
        assert_eq!(rep.truncated_at.is_some(), torn);
        assert_eq!(read_all(&log), payloads[..whole as usize].to_vec());
        // the log resumes exactly after the last whole record
        assert_eq!(log.append(b"next").unwrap(), whole);
        drop(log);
        let log = Log::open(dir.path()).unwrap();
        assert_eq!(log.next_offset(), whole + 1);
        assert_eq!(log.get(whole).unwrap().unwrap().payload, b"next");
    }
}

#[test]
fn a_garbled_final_record_and_a_zero_filled_tail_are_torn_writes() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = one_segment(dir.path(), 5);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 4);
    assert_eq!(
        log.recovery().truncated_at,
        Some((path.clone(), SEGMENT_HEADER_LEN + 4 * FRAME))
    );
    assert_eq!(read_all(&log), payloads[..4].to_vec());
    drop(log);

    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0u8; 3000]).unwrap();
    drop(f);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 4);
    assert_eq!(log.recovery().truncated_bytes, 3000);
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    one_segment(dir.path(), 10);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let victim = SEGMENT_HEADER_LEN + 3 * FRAME; // record 3 of 10
    bytes[(victim + 30) as usize] ^= 0x01; // a payload bit
    fs::write(&path, &bytes).unwrap();
    let (p, position, reason) = expect_corrupt(Log::open(dir.path()), "open");
    assert_eq!(p, path);
    assert_eq!(position, victim);
    assert!(reason.contains("CRC"), "{reason}");
    // a damaged length field in the middle is corruption too, not a torn tail
    bytes[(victim + 30) as usize] ^= 0x01;
    bytes[(victim + 5) as usize] = 0x7f; // the length field
    fs::write(&path, &bytes).unwrap();
    assert!(
        matches!(Log::open(dir.path()), Err(Error::Corrupt { position, .. }) if position == victim)
    );
    let report = inspect(dir.path()).unwrap();
    assert!(!report.is_healthy());
    assert!(
        report.segments[0]
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("byte {victim}"))
    );
    // the file was not modified by the failed open
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn corruption_in_a_sealed_segment_fails_the_read_and_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    for i in 0..400u32 {
        log.append(format!("{i:030}").as_bytes()).unwrap();
        if i % 2 == 1 {
            log.flush().unwrap(); // batches of 2 records
        }
    }
    drop(log);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let batch = BATCH_OVERHEAD + 2 * (RECORD_OVERHEAD + 30);
    let pos = SEGMENT_HEADER_LEN + batch; // the batch of records 2 and 3
    bytes[(pos + 40) as usize] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    // The sealed segment's index is valid, so open does not scan it...
    let log = small_log(dir.path(), FsyncPolicy::Never);
    assert_eq!(
        log.get(1).unwrap().unwrap().payload,
        format!("{:030}", 1).as_bytes()
    );
    // ...but reading the damaged record names file and position, and nothing is skipped.
    let (p, position, _) = expect_corrupt(log.get(2), "get(2)");
    assert_eq!((p, position), (path.clone(), pos));
    let mut it = log.iter(0);
    assert_eq!(it.next().unwrap().unwrap().offset, 0);
    assert_eq!(it.next().unwrap().unwrap().offset, 1);
    assert!(matches!(it.next(), Some(Err(Error::Corrupt { .. }))));
    assert!(it.next().is_none());
    let v = log.verify().unwrap();
    assert!(!v.is_healthy());
    assert!(v.segments[0].error.is_some() && v.segments[1..].iter().all(|s| s.error.is_none()));
}

#[test]
fn missing_or_stale_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    let payloads: Vec<Vec<u8>> = (0..300u32)
        .map(|i| vec![(i % 251) as u8; (i % 60) as usize])
        .collect();
    for p in &payloads {
        log.append(p).unwrap();
    }
    let nseg = log.segments().len();
    drop(log);
    let report = inspect(dir.path()).unwrap();
    assert!(
        report.segments[..nseg - 1]
            .iter()
            .all(|s| s.index == IndexState::Valid)
    );
    assert_eq!(report.segments[nseg - 1].index, IndexState::Missing);
    // delete one index, garble another
    fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    let second = report.segments[1].base_offset;
    let ix = dir.path().join(format!("{second:020}.index"));
    let mut b = fs::read(&ix).unwrap();
    let n = b.len() - 1;
    b[n] ^= 0xff;
    fs::write(&ix, &b).unwrap();
    assert_eq!(
        inspect(dir.path()).unwrap().segments[1].index,
        IndexState::Stale
    );
    let log = small_log(dir.path(), FsyncPolicy::Never);
    assert_eq!(log.recovery().rebuilt_indexes, 2);
    assert_eq!(read_all(&log), payloads);
    for off in (0..300).step_by(17) {
        assert_eq!(
            log.get(off).unwrap().unwrap().payload,
            payloads[off as usize]
        );
    }
    drop(log);
    assert!(
        inspect(dir.path()).unwrap().segments[..2]
            .iter()
            .all(|s| s.index == IndexState::Valid)
    );
}

#[test]
fn a_half_created_tail_segment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = one_segment(dir.path(), 3);
    // a crash right after creating the next segment, before its header was written
    fs::write(segment_path(dir.path(), 3), b"EMB").unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(
        log.recovery().removed_segments,
        vec![segment_path(dir.path(), 3)]
    );
    assert_eq!(log.next_offset(), 3);
    assert_eq!(read_all(&log), payloads);
}

#[test]
fn a_torn_sealed_segment_drops_the_later_ones_so_offsets_stay_dense() {
    // Possible only with FsyncPolicy::Never (a roll does not fsync): a crash leaves segment 0 torn
    // while segment N exists. Keeping N would leave a gap; recovery keeps the consistent prefix.
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    for i in 0..200u32 {
        log.append(format!("{i:040}").as_bytes()).unwrap();
        log.flush().unwrap(); // a batch per record: cutting 5 bytes tears the last record only
    }
    let segs = log.segments();
    drop(log);
    let first = &segs[0];
    truncate(&first.path, first.bytes - 5);
    fs::remove_file(dir.path().join(format!("{:020}.index", 0))).unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    assert_eq!(log.next_offset(), first.next_offset - 1);
    assert_eq!(log.recovery().removed_segments.len(), segs.len() - 1);
    assert_eq!(read_all(&log).len() as u64, first.next_offset - 1);
}

#[test]
fn a_gap_between_segments_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_log(dir.path(), FsyncPolicy::Never);
    for i in 0..200u32 {
        log.append(format!("{i:040}").as_bytes()).unwrap();
    }
    let segs = log.segments();
    drop(log);
    fs::remove_file(&segs[1].path).unwrap();
    let (path, position, reason) = expect_corrupt(Log::open(dir.path()), "open");
    assert_eq!((path, position), (segs[2].path.clone(), 0));
    assert!(reason.contains("previous one ends"), "{reason}");
    assert_eq!(
        inspect(dir.path()).unwrap().gaps,
        vec![(segs[1].base_offset, segs[2].base_offset)]
    );
}

#[test]
fn a_file_that_is_not_a_segment_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    one_segment(dir.path(), 3);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[0] = b'X';
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Log::open(dir.path()),
        Err(Error::Corrupt { position: 0, .. })
    ));
}

#[test]
fn a_failed_open_leaves_the_directory_openable_and_inspect_prints_a_report() {
    let dir = tempfile::tempdir().unwrap();
    one_segment(dir.path(), 10);
    let path = segment_path(dir.path(), 0);
    let good = fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[(SEGMENT_HEADER_LEN + FRAME + 20) as usize] ^= 0x04;
    fs::write(&path, &bad).unwrap();
    assert!(matches!(Log::open(dir.path()), Err(Error::Corrupt { .. })));
    let text = inspect(dir.path()).unwrap().to_string();
    assert!(
        text.contains("DAMAGED") && text.contains(&format!("byte {}", SEGMENT_HEADER_LEN + FRAME)),
        "{text}"
    );
    // the operator restores the file: the failed open did not keep the directory registered
    fs::write(&path, &good).unwrap();
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 10);
    drop(log);
    let text = inspect(dir.path()).unwrap().to_string();
    assert!(
        text.contains("offsets 0..10, 10 records in 1 segments, healthy"),
        "{text}"
    );
}
