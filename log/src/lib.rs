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
//! Each starts with a 64-byte header (magic, format version 2, CRC, base offset and creation time
//! encoded with postcard), followed by record *batches*, as in Kafka's record batch: one CRC32C covers
//! a whole batch, the records inside carry none.
//!
//! ```text
//! batch  = CRC32C | length | base offset | record count | record * count
//! record = length | flags | [timestamp] | [meta length, meta] | payload
//! ```
//!
//! A batch holds consecutive records appended between two flushes of the write buffer, and is sealed
//! once it reaches [`batch_bytes`](LogBuilder::batch_bytes) (16 KiB by default): under
//! [`FsyncPolicy::Never`] and `EveryN` a 256 KiB buffer flush writes about 16 full batches, under
//! `Always` a batch is one fsync group (one record with a single appender). Sealing a batch costs one
//! CRC pass over it, at memory speed, instead of a CRC over each short record. Sealed segments have a sparse index
//! `<base>.index` (an `(offset, position)` entry at a batch start every `index_interval_bytes`), so a
//! read finds its segment by binary search, its batch by the index's floor entry, and walks the
//! batches and then the records of one batch: O(log n) plus a scan of at most one index interval and
//! one batch. Reading records not yet flushed seals and flushes the open batch first. Segments of
//! format version 1 (one CRC'd frame per record, written by earlier releases) are still read; recovery
//! seals a version-1 tail so that new records go to a version-2 segment. An unknown version is refused
//! with [`Error::UnsupportedFormat`].
//!
//! ## Durability
//!
//! Chosen per log with [`FsyncPolicy`] (`Always`, `EveryN(n)`, `Interval(d)`, `Never`); its docs state
//! exactly what each one guarantees. Concurrent appenders share fsyncs (group commit): a leader
//! fsyncs for every append that arrived while the previous fsync ran, after a short wait for the
//! appenders that fsync released (so one fsync covers all of them).
//!
//! ## Recovery
//!
//! On open, the tail segment is read in full and every batch CRC verified. A torn final batch (a crash
//! in the middle of a write) is truncated *whole*, as is a zero-filled tail; the next append gets the
//! offset after the last valid batch. Dropping a whole batch never loses an acknowledged-durable
//! record: a record is reported durable only by an fsync, every fsync is preceded by the flush that
//! seals and writes the open batch completely, so a batch torn by a crash holds only records appended
//! after the last completed fsync (see [`FsyncPolicy`] for what each policy acknowledges). A sealed
//! segment whose index is missing or does not match the segment is scanned and its index rebuilt.
//! What was done is in [`Log::recovery`]. A bad batch *followed by a valid batch* is not a torn write
//! but corruption: opening (or reading) fails with [`Error::Corrupt`], naming the file and the byte
//! position of the batch; nothing is skipped silently.
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
pub use format::{BATCH_OVERHEAD, FRAME_OVERHEAD, RECORD_OVERHEAD, SEGMENT_HEADER_LEN};
pub use inspect::{IndexState, Inspection, SegmentReport, inspect};
pub use log::{Deferred, Iter, Log, LogStats, LogWriter, Record, RecoveryReport, SegmentInfo};
