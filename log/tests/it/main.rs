//! Integration tests of ember-log.

mod atomic;
mod basic;
mod batch;
mod crash;
mod legacy;
mod model;
mod recovery;
mod sync;

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

use std::path::{Path, PathBuf};

use ember_log::{Error, FsyncPolicy, Log};

/// A log in `dir` with small segments so tests roll often.
pub fn small_log(dir: &Path, policy: FsyncPolicy) -> Log {
    Log::builder(dir)
        .fsync(policy)
        .segment_bytes(4096)
        .index_interval_bytes(256)
        .open()
        .unwrap()
}

/// Path of the segment file with base offset `base`.
pub fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Cuts the file at `path` to `len` bytes (a torn write, as a crash leaves one).
pub fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// All records' payloads, checking offsets are dense from the start offset.
pub fn read_all(log: &Log) -> Vec<Vec<u8>> {
    let start = log.start_offset();
    log.iter(start)
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap();
            assert_eq!(r.offset, start + i as u64, "offsets must be dense");
            r.payload
        })
        .collect()
}

/// The file, position and reason of the [`Error::Corrupt`] that `result` must be; any other outcome
/// fails the test, naming `what`.
pub fn expect_corrupt<T: std::fmt::Debug>(
    result: Result<T, Error>,
    what: &str,
) -> (PathBuf, u64, String) {
    match result {
        Err(Error::Corrupt {
            path,
            position,
            reason,
        }) => (path, position, reason),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    }
}
