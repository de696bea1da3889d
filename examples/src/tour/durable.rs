//! Tour section: durability with ember-log, the on-disk log under the durable modes.
//!
//! Writes records with `FsyncPolicy::Always`, "restarts" (drops the log and opens the directory again,
//! as a new process would), reads everything back, then shows recovery cutting a torn final record
//! and the atomic metadata file used for committed consumer offsets.

use std::collections::BTreeMap;
use std::fs::OpenOptions;

use ember_log::{FsyncPolicy, Log, atomic};

#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Meta {
    key: String,
}

/// Runs this section.
pub fn run() {
    super::heading("ember-log: durable, crash-safe log");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("orders-0");

    // 1. Write: every append returns once the record is fsynced.
    let log = Log::builder(&path)
        .fsync(FsyncPolicy::Always)
        .segment_bytes(4096)
        .open()
        .expect("open log");
    for i in 0..100u32 {
        let meta = Meta {
            key: format!("customer-{}", i % 7),
        };
        log.append_meta(&meta, format!("order #{i}: {} items", i % 5 + 1).as_bytes())
            .expect("append");
    }
    let offsets = path.join("consumer-offsets");
    let mut committed = BTreeMap::new();
    committed.insert("billing".to_string(), 60u64);
    atomic::write_value(&offsets, &committed).expect("commit offsets");
    let s = log.stats();
    println!(
        "wrote {} records with Always: {} fsyncs, {} segments",
        s.appends, s.fsyncs, s.segments
    );
    drop(log); // the process "stops"

    // 2. Restart: open the same directory and resume from the committed offset.
    let log = Log::open(&path).expect("reopen");
    let committed: BTreeMap<String, u64> = atomic::read_value(&offsets)
        .expect("read offsets")
        .unwrap_or_default();
    let from = committed["billing"];
    let rest: Vec<_> = log.iter(from).map(|r| r.expect("read")).collect();
    let first = &rest[0];
    println!(
        "after restart: offsets {}..{}, group 'billing' resumes at {from}: {} records to go, first = {:?} (key {})",
        log.start_offset(),
        log.next_offset(),
        rest.len(),
        String::from_utf8_lossy(&first.payload),
        first
            .meta_value::<Meta>()
            .expect("meta")
            .expect("has meta")
            .key,
    );
    let segs = log.segments();
    let tail = segs.last().expect("a segment").path.clone();
    drop(log);

    // 3. A crash in the middle of a write leaves a torn record: recovery cuts it, nothing else is lost.
    let len = std::fs::metadata(&tail).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&tail)
        .and_then(|f| f.set_len(len - 5))
        .expect("tear the tail");
    let log = Log::open(&path).expect("recover");
    let r = log.recovery();
    println!(
        "torn tail: recovery cut {} bytes at byte {} of {}, next offset {} (records 0..{} intact)",
        r.truncated_bytes,
        r.truncated_at.as_ref().map_or(0, |t| t.1),
        tail.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        log.next_offset(),
        log.next_offset(),
    );
    let report = log.verify().expect("verify");
    println!(
        "inspect: {} segments, {} records, every CRC checked, healthy = {}",
        report.segments.len(),
        report.records(),
        report.is_healthy()
    );
}
