//! Segments of format version 1 (one CRC'd frame per record, written by earlier releases) are still
//! read, recovered and inspected; new records go to a version-2 segment after them.

use std::fs;
use std::path::Path;

use ember_log::{Error, Log, SEGMENT_HEADER_LEN, inspect};

use crate::{expect_corrupt, read_all, segment_path, truncate};

/// A version-1 segment header, as the first releases wrote it.
fn v1_header(base: u64) -> Vec<u8> {
    let body = postcard::to_allocvec(&(base, 1_700_000_000_000u64)).unwrap();
    let mut h = vec![0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(b"EMBERLOG");
    h[8..10].copy_from_slice(&1u16.to_le_bytes());
    h[10..12].copy_from_slice(&(body.len() as u16).to_le_bytes());
    h[12..16].copy_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    h[16..16 + body.len()].copy_from_slice(&body);
    h
}

/// A version-1 record frame: `CRC32C(rest) | length | offset | flags | [timestamp] | [meta] | payload`.
fn v1_frame(offset: u64, timestamp: Option<u64>, meta: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = offset.to_le_bytes().to_vec();
    body.push(u8::from(timestamp.is_some()) | if meta.is_empty() { 0 } else { 2 });
    if let Some(t) = timestamp {
        body.extend_from_slice(&t.to_le_bytes());
    }
    if !meta.is_empty() {
        body.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        body.extend_from_slice(meta);
    }
    body.extend_from_slice(payload);
    let mut rest = (body.len() as u32).to_le_bytes().to_vec();
    rest.extend_from_slice(&body);
    let mut f = crc32c::crc32c(&rest).to_le_bytes().to_vec();
    f.extend_from_slice(&rest);
    f
}

fn payload(i: u64) -> Vec<u8> {
    format!("old-{i:04}").into_bytes()
}

/// Writes a version-1 segment holding offsets `base..base + n`; returns each frame's position.
fn v1_segment(dir: &Path, base: u64, n: u64) -> Vec<u64> {
    let mut bytes = v1_header(base);
    let mut at = Vec::new();
    for o in base..base + n {
        at.push(bytes.len() as u64);
        let ts = (o % 2 == 0).then_some(1_000 + o);
        let meta = if o % 3 == 0 {
            b"m".to_vec()
        } else {
            Vec::new()
        };
        bytes.extend_from_slice(&v1_frame(o, ts, &meta, &payload(o)));
    }
    fs::write(segment_path(dir, base), bytes).unwrap();
    at
}

#[test]
fn a_version_1_log_is_read_and_new_records_go_to_a_version_2_segment() {
    let dir = tempfile::tempdir().unwrap();
    v1_segment(dir.path(), 0, 6);
    v1_segment(dir.path(), 6, 4);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 10);
    for o in 0..10 {
        let r = log.get(o).unwrap().unwrap();
        assert_eq!(r.payload, payload(o));
        assert_eq!(r.timestamp, (o % 2 == 0).then_some(1_000 + o));
        assert_eq!(r.meta.is_empty(), o % 3 != 0);
    }
    // the version-1 tail was sealed: appends start a new segment
    let segs = log.segments();
    assert_eq!(
        segs.iter().map(|s| s.base_offset).collect::<Vec<_>>(),
        vec![0, 6, 10]
    );
    for o in 10..15 {
        assert_eq!(log.append(&payload(o)).unwrap(), o);
    }
    let reads: Vec<u64> = log
        .read(4, 100, 0)
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(reads, vec![4, 5], "a read stops at the end of its segment");
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(read_all(&log), (0..15).map(payload).collect::<Vec<_>>());
    let report = inspect(dir.path()).unwrap();
    assert!(report.is_healthy(), "{report}");
    assert_eq!(report.records(), 15);
}

#[test]
fn a_torn_version_1_tail_is_cut_at_its_last_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let at = v1_segment(dir.path(), 0, 5);
    let path = segment_path(dir.path(), 0);
    truncate(&path, at[4] + 7);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 4);
    assert_eq!(log.recovery().truncated_at, Some((path.clone(), at[4])));
    assert_eq!(log.append(b"new").unwrap(), 4);
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.get(4).unwrap().unwrap().payload, b"new");
    assert_eq!(log.segments().len(), 2);
}

#[test]
fn corruption_in_a_version_1_segment_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let at = v1_segment(dir.path(), 0, 5);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[(at[2] + 20) as usize] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let (p, position, reason) = expect_corrupt(Log::open(dir.path()), "open");
    assert_eq!((p, position), (path.clone(), at[2]));
    assert!(reason.contains("CRC"), "{reason}");
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a failed open changes nothing"
    );
}

#[test]
fn an_empty_version_1_tail_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    v1_segment(dir.path(), 0, 3);
    v1_segment(dir.path(), 3, 0);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.next_offset(), 3);
    assert_eq!(log.append(b"x").unwrap(), 3);
    drop(log);
    let log = Log::open(dir.path()).unwrap();
    assert_eq!(log.segments().len(), 2);
    assert_eq!(log.get(3).unwrap().unwrap().payload, b"x");
    assert_eq!(log.get(2).unwrap().unwrap().payload, payload(2));
}

#[test]
fn a_damaged_version_1_record_before_a_tiny_last_one_is_corruption_not_a_torn_tail() {
    // The smallest version-1 frame (no payload) is 17 bytes, less than a batch header: the search for
    // a valid frame after the damage must still find it, or recovery would cut a good record.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = v1_header(0);
    for o in 0..3 {
        bytes.extend_from_slice(&v1_frame(o, None, b"", &payload(o)));
    }
    let damaged = bytes.len();
    bytes.extend_from_slice(&v1_frame(3, None, b"", &payload(3)));
    let tiny = v1_frame(4, None, b"", b"");
    assert_eq!(tiny.len(), 17);
    bytes.extend_from_slice(&tiny);
    bytes[damaged + 18] ^= 0x08;
    let path = segment_path(dir.path(), 0);
    fs::write(&path, &bytes).unwrap();
    match Log::open(dir.path()) {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, damaged as u64),
        other => panic!("{other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);
}
