//! # ember-log
//!
//! A crash-safe, segmented, append-only log on disk: the storage under the durable modes of
//! `ember-stream` (one log per partition) and `ember-queue`. Records are opaque bytes with an optional
//! small metadata blob, addressed by dense offsets `0, 1, 2, …`, as in a Kafka partition.
//!
//! ```
//! use ember_log::{FsyncPolicy, Log};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = Log::builder(dir.path()).fsync(FsyncPolicy::Always).open().unwrap();
//! for i in 0..100u32 {
//!     // `Always`: when append returns Ok, the record is on stable storage.
//!     assert_eq!(log.append(&i.to_le_bytes()).unwrap(), u64::from(i));
//! }
//! drop(log); // or a crash
//!
//! let log = Log::open(dir.path()).unwrap();
//! assert_eq!(log.next_offset(), 100);
//! let rec = log.get(42).unwrap().unwrap();
//! assert_eq!(rec.payload, 42u32.to_le_bytes());
//! ```
//!
//! ## On disk
//!
//! A log is a directory of segment files named by their first offset (`00000000000000000000.log`).
//! Each starts with a 64-byte header (magic, version, CRC, base offset and creation time encoded with
//! postcard), followed by frames: `length | CRC32C | offset | timestamp | meta length | meta | payload`.
//! Sealed segments have a sparse index `<base>.index` (an `(offset, position)` entry every
//! `index_interval_bytes`), so a read finds its segment by binary search and its position by the
//! index's floor entry: O(log n) plus a scan of at most one index interval.
//!
//! ## Durability
//!
//! Chosen per log with [`FsyncPolicy`] (`Always`, `EveryN(n)`, `Interval(d)`, `Never`); its docs state
//! exactly what each one guarantees. Concurrent appenders share fsyncs (group commit): a leader
//! fsyncs for every append that arrived while the previous fsync ran.
//!
//! ## Recovery
//!
//! On open, the tail segment is read in full and every CRC verified. A torn final record (a crash in the
//! middle of a write) is truncated, as is a zero-filled tail; the next append gets the offset after the
//! last valid record. A sealed segment whose index is missing or does not match the segment is scanned
//! and its index rebuilt. What was done is in [`Log::recovery`]. A bad record *followed by valid
//! records* is not a torn write but corruption: opening (or reading) fails with [`Error::Corrupt`],
//! naming the file and byte position; nothing is skipped silently.
//!
//! ## Segments and retention
//!
//! The active segment rolls when the next record would take it past `segment_bytes`, or once it is
//! `segment_age` old by the log's [`Clock`](ember_core::Clock). [`Retention`] deletes whole sealed
//! segments by age of their newest record or by total size; [`Log::delete_before`] by offset.
//!
//! ## Metadata files and inspection
//!
//! [`atomic`] writes small files atomically (temp, fsync, rename, fsync directory), for state such as
//! committed consumer offsets. [`inspect()`] reports a directory's segments, offsets, index state and
//! any CRC failure without changing anything.
//!
//! ## Limits
//!
//! One [`Log`] per directory: a second open in the same process fails with [`Error::AlreadyOpen`];
//! two *processes* opening the same directory are not detected. After a failed write or fsync the log
//! is poisoned (the on-disk state is unknown): reopen it to recover.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod atomic;
mod config;
mod error;
mod format;
pub mod inspect;
mod log;

pub use config::{FsyncPolicy, LogBuilder, Retention};
pub use error::{Error, Result};
pub use format::{FRAME_OVERHEAD, SEGMENT_HEADER_LEN};
pub use inspect::{IndexState, Inspection, SegmentReport, inspect};
pub use log::{Deferred, Iter, Log, LogStats, LogWriter, Record, RecoveryReport, SegmentInfo};
