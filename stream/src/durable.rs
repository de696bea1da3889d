//! Durable partitions: [`LogStorage`], a [`PartitionStorage`] on an `ember-log` segmented log, used by
//! [`TopicBuilder::durable`](crate::TopicBuilder::durable).
//!
//! A durable topic keeps each partition in a directory of its own (`<dir>/<topic>-<partition>/`) and each
//! consumer group's committed offsets in `<dir>/<topic>.groups/<group>.offsets`, replaced atomically
//! (temp file, fsync, rename, fsync directory) before a commit returns. Building the topic again on the
//! same directory — after a restart or a crash — recovers each partition's log (a torn final record is
//! cut off), resumes offsets exactly where they ended, and groups resume from their committed offsets.
//! The in-memory storage stays the default.
//!
//! ```
//! use std::time::Duration;
//! use ember_log::FsyncPolicy;
//! use ember_stream::{AutoOffsetReset, Topic};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let open = || Topic::builder("orders").durable(dir.path(), FsyncPolicy::Always).build().unwrap();
//! let topic = open();
//! for i in 0..3 {
//!     topic.append("k", format!("v{i}")).unwrap();
//! }
//! let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::Earliest).build().unwrap();
//! let mut c = group.join("c").unwrap();
//! assert_eq!(c.poll(1, Duration::ZERO).unwrap()[0].value_str(), Some("v0"));
//! c.commit().unwrap(); // processed "v0"
//! drop((c, group, topic)); // the process stops
//!
//! let topic = open();
//! assert_eq!(topic.offsets(0).unwrap(), (0, 3));
//! let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::Earliest).build().unwrap();
//! assert_eq!(group.committed(0).unwrap(), Some(1));
//! let mut c = group.join("c").unwrap();
//! let rest = c.poll(10, Duration::ZERO).unwrap();
//! assert_eq!(rest.iter().map(|r| r.value_str().unwrap()).collect::<Vec<_>>(), ["v1", "v2"]);
//! ```
//!
//! What is stored per record: the value as the log record's payload; key, producer timestamp and headers
//! as postcard-encoded metadata; the append time as the log record's timestamp. Trimming (retention)
//! moves a logical start offset, persisted atomically before anything is deleted (like Kafka's
//! log-start-offset checkpoint), and deletes every whole segment below it. Opening a partition reads its
//! retained records once, to rebuild the size and age accounting retention needs. Compaction is not
//! supported by this storage ([`Error::Unsupported`]).
//!
//! **Work groups** of a durable topic (see [`crate::pending`]) keep a journal in
//! `<dir>/<topic>.workgroups/<group>/` (an `ember-log` log with the topic's fsync policy): every read
//! (the records delivered, to whom, and the cursors they advance), ack, claim, cursor move and consumer
//! removal is appended before the call returns, and a snapshot of the whole group (cursors, consumers,
//! pending entries) replaces the journal once it has grown past `max(1000, 2 × pending entries)`
//! operations. Opening the group again after a restart restores its cursors and its pending entries
//! list: who holds which entry, its delivery count and its idle time (delivery times are kept in
//! wall-clock milliseconds of the topic's clock, so time spent down counts as idle), so a restarted
//! consumer can re-read its own entries and others can claim them. `ack` and `remove_consumer` cannot
//! report a storage failure (they return counts): the failure is returned by the group's next
//! read, claim or cursor move.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::storage::{PartitionStorage, StoredRecord, TrimLimits, Trimmed};
use crate::timeindex::{OffsetAndTimestamp, TimeIndex};
use bytes::Bytes;
use ember_log::{FsyncPolicy, Log};

/// The metadata stored with each record's value.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta<'a> {
    timestamp: u64,
    #[serde(borrow)]
    key: Option<&'a [u8]>,
    #[serde(borrow)]
    headers: Vec<(&'a str, &'a [u8])>,
}

const START_FILE: &str = "start-offset";

/// The directory of one partition of a durable topic.
pub(crate) fn partition_dir(dir: &Path, topic: &str, partition: u32) -> PathBuf {
    dir.join(format!("{topic}-{partition}"))
}

/// The committed-offsets file of a consumer group of a durable topic.
pub(crate) fn offsets_file(dir: &Path, topic: &str, group: &str) -> PathBuf {
    dir.join(format!("{topic}.groups"))
        .join(format!("{group}.offsets"))
}

/// Writes a group's committed offsets (one per partition) atomically.
pub(crate) fn save_offsets(path: &Path, committed: &[Option<u64>]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Storage(Box::new(e)))?;
    }
    ember_log::atomic::write_value(path, committed).map_err(storage_err)
}

/// Reads a group's committed offsets; none yet if the file does not exist. Partitions added since are
/// uncommitted.
pub(crate) fn load_offsets(path: &Path, partitions: usize) -> Result<Vec<Option<u64>>> {
    let mut committed: Vec<Option<u64>> = ember_log::atomic::read_value(path)
        .map_err(storage_err)?
        .unwrap_or_default();
    committed.resize(partitions, None);
    Ok(committed)
}

// ---------------------------------------------------------------------------------------------------
// Work-group journal

/// The journal directory of a work group of a durable topic.
pub(crate) fn work_group_dir(dir: &Path, topic: &str, group: &str) -> PathBuf {
    dir.join(format!("{topic}.workgroups")).join(group)
}

/// One pending entry, as journaled: who holds it, when it was last delivered (unix ms), how often.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PelRow {
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) consumer: String,
    pub(crate) at_ms: u64,
    pub(crate) deliveries: u32,
}

/// One journaled change of a work group. Ids are `(partition, offset)`.
#[derive(serde::Serialize, serde::Deserialize)]
enum WgOp {
    /// Records delivered to `consumer` (pending with one delivery if `track`); they advance the cursors.
    Read {
        consumer: String,
        at_ms: u64,
        ids: Vec<(u32, u64)>,
        track: bool,
    },
    Ack {
        ids: Vec<(u32, u64)>,
    },
    /// Entries claimed by `consumer`: one more delivery each, delivered now.
    Claim {
        consumer: String,
        at_ms: u64,
        ids: Vec<(u32, u64)>,
    },
    /// Entries whose record was trimmed, dropped from the list.
    Forget {
        ids: Vec<(u32, u64)>,
    },
    Cursor {
        partition: u32,
        offset: u64,
    },
    RemoveConsumer {
        consumer: String,
    },
    /// Snapshot: the cursors and consumers (the pending entries follow in `Entries` records).
    Image {
        cursors: Vec<u64>,
        consumers: Vec<String>,
    },
    Entries {
        rows: Vec<PelRow>,
    },
}

/// A work group's state as its journal restores it.
#[derive(Debug, Default)]
pub(crate) struct WgImage {
    /// Whether the journal held anything (the group existed).
    pub(crate) exists: bool,
    pub(crate) cursors: Vec<u64>,
    pub(crate) consumers: BTreeSet<String>,
    pub(crate) pel: BTreeMap<(u32, u64), PelRow>,
}

impl WgImage {
    fn cursor_past(&mut self, partition: u32, offset: u64) {
        let p = partition as usize;
        if self.cursors.len() <= p {
            self.cursors.resize(p + 1, 0);
        }
        self.cursors[p] = self.cursors[p].max(offset + 1);
    }

    fn apply(&mut self, op: WgOp) {
        self.exists = true;
        match op {
            WgOp::Read {
                consumer,
                at_ms,
                ids,
                track,
            } => {
                for &(partition, offset) in &ids {
                    self.cursor_past(partition, offset);
                    if track {
                        self.pel.insert(
                            (partition, offset),
                            PelRow {
                                partition,
                                offset,
                                consumer: consumer.clone(),
                                at_ms,
                                deliveries: 1,
                            },
                        );
                    }
                }
                self.consumers.insert(consumer);
            }
            WgOp::Ack { ids } | WgOp::Forget { ids } => {
                for id in ids {
                    self.pel.remove(&id);
                }
            }
            WgOp::Claim {
                consumer,
                at_ms,
                ids,
            } => {
                for id in ids {
                    if let Some(row) = self.pel.get_mut(&id) {
                        row.consumer.clone_from(&consumer);
                        row.at_ms = at_ms;
                        row.deliveries += 1;
                    }
                }
                self.consumers.insert(consumer);
            }
            WgOp::Cursor { partition, offset } => {
                let p = partition as usize;
                if self.cursors.len() <= p {
                    self.cursors.resize(p + 1, 0);
                }
                self.cursors[p] = offset;
            }
            WgOp::RemoveConsumer { consumer } => {
                self.pel.retain(|_, row| row.consumer != consumer);
                self.consumers.remove(&consumer);
            }
            WgOp::Image { cursors, consumers } => {
                self.cursors = cursors;
                self.consumers = consumers.into_iter().collect();
                self.pel.clear();
            }
            WgOp::Entries { rows } => {
                for row in rows {
                    self.pel.insert((row.partition, row.offset), row);
                }
            }
        }
    }
}

/// A change of a work group to journal (built by `pending.rs`).
pub(crate) enum WgChange<'a> {
    Read {
        consumer: &'a str,
        ids: Vec<(u32, u64)>,
        track: bool,
    },
    Ack(Vec<(u32, u64)>),
    Claim {
        consumer: &'a str,
        ids: Vec<(u32, u64)>,
    },
    Forget(Vec<(u32, u64)>),
    Cursor(u32, u64),
    RemoveConsumer(&'a str),
}

/// The journal of one work group of a durable topic. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct WgJournal {
    log: Log,
    since_snapshot: u64,
    /// A write that failed where the caller could not be told (`ack`): returned by the next change.
    failed: Option<String>,
}

impl WgJournal {
    /// Opens (or creates) the journal in `dir` and replays it.
    pub(crate) fn open(dir: &Path, fsync: FsyncPolicy) -> Result<(Self, WgImage)> {
        let log = Log::builder(dir)
            .fsync(fsync)
            .segment_bytes(4 << 20)
            .open()
            .map_err(storage_err)?;
        let mut image = WgImage::default();
        for rec in log.iter(log.start_offset()) {
            let rec = rec.map_err(storage_err)?;
            let op: WgOp = rec.meta_value().map_err(storage_err)?.ok_or_else(|| {
                Error::Storage(format!("work-group journal record {} is empty", rec.offset).into())
            })?;
            image.apply(op);
        }
        let journal = WgJournal {
            log,
            since_snapshot: 0,
            failed: None,
        };
        Ok((journal, image))
    }

    /// Appends one change (durable per the fsync policy when this returns).
    pub(crate) fn record(&mut self, change: WgChange<'_>, at_ms: u64) -> Result<()> {
        if let Some(msg) = &self.failed {
            return Err(Error::Storage(msg.clone().into()));
        }
        let op = match change {
            WgChange::Read {
                consumer,
                ids,
                track,
            } => WgOp::Read {
                consumer: consumer.to_owned(),
                at_ms,
                ids,
                track,
            },
            WgChange::Ack(ids) => WgOp::Ack { ids },
            WgChange::Claim { consumer, ids } => WgOp::Claim {
                consumer: consumer.to_owned(),
                at_ms,
                ids,
            },
            WgChange::Forget(ids) => WgOp::Forget { ids },
            WgChange::Cursor(partition, offset) => WgOp::Cursor { partition, offset },
            WgChange::RemoveConsumer(consumer) => WgOp::RemoveConsumer {
                consumer: consumer.to_owned(),
            },
        };
        match self.log.append_meta(&op, &[]) {
            Ok(_) => {
                self.since_snapshot += 1;
                Ok(())
            }
            Err(e) => {
                let msg = format!("work-group journal {}: {e}", self.log.dir().display());
                self.failed = Some(msg.clone());
                Err(Error::Storage(msg.into()))
            }
        }
    }

    /// Whether the journal grew enough since the last snapshot to be replaced by one.
    pub(crate) fn snapshot_due(&self, pending: usize) -> bool {
        self.since_snapshot > 1000.max(2 * pending as u64)
    }

    /// Writes the whole group to a new segment and deletes the older ones.
    pub(crate) fn snapshot(
        &mut self,
        cursors: Vec<u64>,
        consumers: Vec<String>,
        rows: Vec<PelRow>,
    ) -> Result<()> {
        let mut ops = vec![WgOp::Image { cursors, consumers }];
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            ops.push(WgOp::Entries {
                rows: rows.by_ref().take(1000).collect(),
            });
        }
        let result = (|| {
            self.log.roll()?;
            let from = self.log.next_offset();
            self.log
                .append_meta_batch(ops.iter().map(|op| (op, &[][..])))?;
            self.log.sync()?;
            self.log.delete_before(from)?;
            Ok::<_, ember_log::Error>(())
        })();
        result.map_err(storage_err)?;
        self.since_snapshot = 0;
        Ok(())
    }
}

fn storage_err(e: ember_log::Error) -> Error {
    Error::Storage(Box::new(e))
}

/// A partition's records in an `ember-log` directory. See the [module docs](self).
///
/// ```
/// use ember_log::FsyncPolicy;
/// use ember_stream::durable::LogStorage;
/// use ember_stream::storage::PartitionStorage;
/// use ember_stream::Topic;
///
/// let dir = tempfile::tempdir().unwrap();
/// let d = dir.path().to_path_buf();
/// // What `TopicBuilder::durable` does, spelled out (choose your own layout or log settings this way).
/// let topic = Topic::builder("t")
///     .storage(move |_topic: &str, p: u32| {
///         let s = LogStorage::open(&d.join(format!("p{p}")), p, FsyncPolicy::EveryN(100))?;
///         Ok(Box::new(s) as Box<dyn PartitionStorage>)
///     })
///     .build()
///     .unwrap();
/// assert_eq!(topic.append("k", "v").unwrap().offset, 0);
/// ```
pub struct LogStorage {
    log: Log,
    partition: u32,
    dir: PathBuf,
    /// Logical log start offset (records below it are trimmed even if their segment still exists).
    start: u64,
    /// `(size, append_millis)` of every retained record, oldest first: what trimming needs.
    accounting: VecDeque<(u32, u64)>,
    bytes: u64,
    /// Largest record timestamps per range of offsets (rebuilt on open).
    times: TimeIndex,
}

impl fmt::Debug for LogStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStorage")
            .field("dir", &self.dir)
            .field("partition", &self.partition)
            .field("start", &self.start)
            .field("next_offset", &self.log.next_offset())
            .finish()
    }
}

impl LogStorage {
    /// Opens (or creates) the log of `partition` in `dir` with the given fsync policy (16 MiB segments),
    /// recovering it.
    ///
    /// # Errors
    /// [`Error::Storage`] wrapping the [`ember_log::Error`] (I/O, corruption with file and position).
    pub fn open(dir: &Path, partition: u32, fsync: FsyncPolicy) -> Result<Self> {
        let log = Log::builder(dir)
            .fsync(fsync)
            .segment_bytes(16 << 20)
            .open()
            .map_err(storage_err)?;
        Self::with_log(log, partition)
    }

    /// Wraps an already opened log (to choose segment size, retention of segments, clock...).
    ///
    /// # Errors
    /// [`Error::Storage`] if the log cannot be read back.
    pub fn with_log(log: Log, partition: u32) -> Result<Self> {
        let dir = log.dir().to_path_buf();
        let saved: Option<u64> =
            ember_log::atomic::read_value(&dir.join(START_FILE)).map_err(storage_err)?;
        let start = saved
            .unwrap_or(0)
            .max(log.start_offset())
            .min(log.next_offset());
        let mut accounting = VecDeque::new();
        let mut bytes = 0;
        let mut times = TimeIndex::default();
        for r in log.iter(start) {
            let r = r.map_err(storage_err)?;
            let meta: Meta<'_> = decode(&r.meta, r.offset)?;
            let size = record_size(meta.key, &r.payload, &meta.headers);
            accounting.push_back((size as u32, r.timestamp.unwrap_or(0)));
            bytes += size as u64;
            times.push(r.offset, meta.timestamp);
        }
        Ok(LogStorage {
            log,
            partition,
            dir,
            start,
            accounting,
            bytes,
            times,
        })
    }

    /// The underlying log (stats, segments, verify).
    #[must_use]
    pub fn log(&self) -> &Log {
        &self.log
    }
}

fn decode<'a>(meta: &'a [u8], offset: u64) -> Result<Meta<'a>> {
    postcard::from_bytes(meta)
        .map_err(|e| Error::Storage(format!("record {offset}: undecodable metadata: {e}").into()))
}

fn record_size(key: Option<&[u8]>, value: &[u8], headers: &[(&str, &[u8])]) -> usize {
    key.map_or(0, <[u8]>::len)
        + value.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

impl PartitionStorage for LogStorage {
    fn append(&mut self, stored: StoredRecord) -> Result<()> {
        let r = &stored.record;
        let headers: Vec<(&str, &[u8])> = r
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), &v[..]))
            .collect();
        let meta = Meta {
            timestamp: r.timestamp,
            key: r.key.as_deref(),
            headers,
        };
        let meta_bytes = postcard::to_allocvec(&meta)
            .map_err(|e| Error::Storage(format!("cannot encode record metadata: {e}").into()))?;
        let offset = self
            .log
            .append_raw(Some(stored.append_millis), &meta_bytes, &r.value)
            .map_err(storage_err)?;
        debug_assert_eq!(offset, r.offset);
        let size = r.size();
        self.accounting
            .push_back((size as u32, stored.append_millis));
        self.bytes += size as u64;
        self.times.push(offset, r.timestamp);
        Ok(())
    }

    fn read(&self, from: u64, max: usize, out: &mut Vec<Record>) -> Result<()> {
        let mut next = from.max(self.start);
        let mut left = max;
        while left > 0 {
            let batch = self
                .log
                .read(next, left.min(1024), 0)
                .map_err(storage_err)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let meta = decode(&r.meta, r.offset)?;
                out.push(Record {
                    partition: self.partition,
                    offset: r.offset,
                    timestamp: meta.timestamp,
                    key: meta.key.map(Bytes::copy_from_slice),
                    value: Bytes::from(r.payload),
                    headers: meta
                        .headers
                        .iter()
                        .map(|(n, v)| ((*n).to_string(), Bytes::copy_from_slice(v)))
                        .collect(),
                });
                next = r.offset + 1;
                left -= 1;
            }
        }
        Ok(())
    }

    fn earliest(&self) -> u64 {
        self.start
    }

    fn next_offset(&self) -> u64 {
        self.log.next_offset()
    }

    fn len(&self) -> u64 {
        self.accounting.len() as u64
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn head_append_millis(&self) -> Option<u64> {
        self.accounting.front().map(|&(_, t)| t)
    }

    fn trim(&mut self, limits: &TrimLimits) -> Result<Trimmed> {
        let mut trimmed = Trimmed::default();
        let mut start = self.start;
        while let Some(&(size, millis)) = self.accounting.front() {
            let over = limits
                .max_records
                .is_some_and(|m| self.accounting.len() as u64 > m)
                || limits.max_bytes.is_some_and(|m| self.bytes > m)
                || limits.min_append_millis.is_some_and(|t| millis < t)
                || limits.min_offset.is_some_and(|o| start < o);
            if !over {
                break;
            }
            self.accounting.pop_front();
            self.bytes -= u64::from(size);
            trimmed.records += 1;
            trimmed.bytes += u64::from(size);
            start += 1;
        }
        if trimmed.records > 0 {
            // Persist the new start before deleting anything, so a crash in between never resurrects
            // trimmed records.
            ember_log::atomic::write_value(&self.dir.join(START_FILE), &start)
                .map_err(storage_err)?;
            self.start = start;
            self.times.trim_before(start);
            self.log.delete_before(start).map_err(storage_err)?;
        }
        Ok(trimmed)
    }

    fn offset_for_time(&self, timestamp: u64) -> Result<Option<OffsetAndTimestamp>> {
        self.times.find(timestamp, self.start, &mut |lo, hi| {
            let mut next = lo;
            while next < hi {
                let want = usize::try_from(hi - next).unwrap_or(usize::MAX).min(256);
                let batch = self.log.read(next, want, 0).map_err(storage_err)?;
                if batch.is_empty() {
                    break;
                }
                for r in batch {
                    if r.offset >= hi {
                        return Ok(None);
                    }
                    let meta = decode(&r.meta, r.offset)?;
                    if meta.timestamp >= timestamp {
                        return Ok(Some(OffsetAndTimestamp {
                            offset: r.offset,
                            timestamp: meta.timestamp,
                        }));
                    }
                    next = r.offset + 1;
                }
            }
            Ok(None)
        })
    }
}
