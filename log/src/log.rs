//! The segmented log: append, read, sync, roll, retention, recovery.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::SharedClock;
use ember_core::stats::{Ratio, Snapshot, ratio, write_fields};
use parking_lot::{Condvar, Mutex, MutexGuard};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, FsyncPolicy, LogBuilder};
use crate::error::{Error, Result, corrupt, io_err};
use crate::format::{
    self, IndexFile, Parse, SEGMENT_HEADER_LEN, SegmentHeader, index_file_name, parse_at,
    segment_file_name,
};

/// One record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its offset: dense, starting at 0, never reused.
    pub offset: u64,
    /// The timestamp given to [`Log::append_raw`] (any unit the caller likes, unix ms by convention);
    /// `None` for records appended without one.
    pub timestamp: Option<u64>,
    /// Optional small metadata (empty when none was given); see [`Log::append_meta`].
    pub meta: Vec<u8>,
    /// The opaque payload.
    pub payload: Vec<u8>,
}

impl Record {
    /// Decodes the metadata written by [`Log::append_meta`]; `None` if the record has none.
    ///
    /// # Errors
    /// [`Error::Codec`] if the metadata is not a postcard encoding of `M`.
    pub fn meta_value<M: DeserializeOwned>(&self) -> Result<Option<M>> {
        if self.meta.is_empty() {
            return Ok(None);
        }
        postcard::from_bytes(&self.meta)
            .map(Some)
            .map_err(|source| Error::Codec {
                what: format!("metadata of record {}", self.offset),
                source,
            })
    }
}

/// A segment as [`Log::segments`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Its file.
    pub path: PathBuf,
    /// Offset of its first record.
    pub base_offset: u64,
    /// One past its last record (`== base_offset` when empty).
    pub next_offset: u64,
    /// Size in bytes, header and buffered bytes included.
    pub bytes: u64,
    /// Wall time it was created, unix ms.
    pub created_unix_ms: u64,
    /// Newest record timestamp given to [`Log::append_raw`] (0 when none).
    pub max_timestamp: u64,
    /// Number of sparse index entries.
    pub index_entries: usize,
    /// Whether appends go to it.
    pub active: bool,
}

/// What recovery did when the log was opened ([`Log::recovery`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segments whose records were read and CRC-checked (the tail, and any whose index was unusable).
    pub scanned_segments: usize,
    /// Sparse indexes rebuilt because they were missing or stale.
    pub rebuilt_indexes: usize,
    /// Where a torn final batch (with all its records) was cut off: file and byte position.
    pub truncated_at: Option<(PathBuf, u64)>,
    /// Bytes removed by that truncation.
    pub truncated_bytes: u64,
    /// Segment files removed: an empty half-created tail, or segments after a torn one.
    pub removed_segments: Vec<PathBuf>,
}

/// Counters and gauges of a log (the Ember stats convention).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LogStats {
    /// Records appended since open.
    pub appends: u64,
    /// Payload and metadata bytes appended since open.
    pub appended_bytes: u64,
    /// `fdatasync` calls made (appends, rolls, explicit syncs).
    pub fsyncs: u64,
    /// Appends per fsync: above 1 when fsyncs are amortized (group commit, `EveryN`).
    pub appends_per_fsync: Ratio,
    /// Segment rolls since open.
    pub rolls: u64,
    /// Segments deleted by retention since open.
    pub segments_deleted: u64,
    /// Segments on disk now.
    pub segments: usize,
    /// Bytes on disk now (plus the write buffer).
    pub total_bytes: u64,
    /// First offset still stored.
    pub start_offset: u64,
    /// Offset the next append gets.
    pub next_offset: u64,
}

impl fmt::Display for LogStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("appends", &self.appends),
                ("appended_bytes", &self.appended_bytes),
                ("fsyncs", &self.fsyncs),
                ("appends_per_fsync", &self.appends_per_fsync),
                ("rolls", &self.rolls),
                ("segments_deleted", &self.segments_deleted),
                ("segments", &self.segments),
                ("total_bytes", &self.total_bytes),
                ("start_offset", &self.start_offset),
                ("next_offset", &self.next_offset),
            ],
        )
    }
}

impl Snapshot for LogStats {}

/// An append-only log of opaque records in a directory of segment files. Cheap to clone (a handle);
/// `Send + Sync`.
///
/// See the [crate docs](crate) for the format and the guarantees, [`FsyncPolicy`] for durability.
///
/// ```
/// use ember_log::{FsyncPolicy, Log};
///
/// let dir = tempfile::tempdir().unwrap();
/// let log = Log::builder(dir.path()).fsync(FsyncPolicy::Always).open().unwrap();
/// assert_eq!(log.append(b"a").unwrap(), 0);
/// assert_eq!(log.append(b"b").unwrap(), 1);
/// drop(log);
///
/// // "Restart": reopen and read back.
/// let log = Log::open(dir.path()).unwrap();
/// assert_eq!(log.next_offset(), 2);
/// let all: Vec<_> = log.iter(0).map(|r| r.unwrap().payload).collect();
/// assert_eq!(all, vec![b"a".to_vec(), b"b".to_vec()]);
/// ```
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.inner.cfg.dir)
            .field("fsync", &self.inner.cfg.fsync)
            .field("next_offset", &self.next_offset())
            .finish()
    }
}

struct Inner {
    cfg: Config,
    clock: SharedClock,
    state: Mutex<State>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    fsyncs: AtomicU64,
    /// Threads inside [`Inner::sync_to`] now (each has appended and waits for its fsync, or has just
    /// been released and not yet returned).
    in_sync: AtomicUsize,
    /// How many threads have recently waited for an fsync at once: the group-commit window waits for
    /// that many (see [`Inner::leader_sync`]).
    sync_peak: AtomicUsize,
    /// How long the last group-commit fsync took (by the clock), in nanoseconds.
    last_fsync_nanos: AtomicU64,
    recovery: RecoveryReport,
    registered: PathBuf,
}

struct Segment {
    base: u64,
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file (for the active segment, not counting the write buffer).
    len: u64,
    next_offset: u64,
    created_unix_ms: u64,
    max_timestamp: u64,
    index: Vec<(u64, u64)>,
    /// Format version of the file: 2 (batches), or 1 for a sealed segment of an older release.
    version: u16,
}

impl Segment {
    fn info(&self, buffered: u64, active: bool) -> SegmentInfo {
        SegmentInfo {
            path: self.path.clone(),
            base_offset: self.base,
            next_offset: self.next_offset,
            bytes: self.len + buffered,
            created_unix_ms: self.created_unix_ms,
            max_timestamp: self.max_timestamp,
            index_entries: self.index.len(),
            active,
        }
    }

    /// Byte position to start scanning from to find `offset`: the sparse index's floor entry.
    fn seek(&self, offset: u64) -> u64 {
        let i = self.index.partition_point(|&(o, _)| o <= offset);
        if i == 0 {
            SEGMENT_HEADER_LEN
        } else {
            self.index[i - 1].1
        }
    }
}

struct State {
    sealed: BTreeMap<u64, Segment>,
    sealed_bytes: u64,
    active: Segment,
    /// Records appended since the last flush: sealed batches, then the open batch (if any), which is
    /// sealed (length, count, CRC) when it reaches `batch_bytes` or the buffer is handed to the OS.
    buf: Vec<u8>,
    /// Whether the tail of `buf` is an open batch, starting at `batch_start` with offset `batch_base`.
    batch_open: bool,
    batch_start: usize,
    batch_base: u64,
    next_offset: u64,
    last_indexed_pos: u64,
    unsynced: u64,
    last_sync: Instant,
    poisoned: bool,
    appends: u64,
    appended_bytes: u64,
    rolls: u64,
    segments_deleted: u64,
}

impl State {
    fn start_offset(&self) -> u64 {
        self.sealed
            .keys()
            .next()
            .copied()
            .unwrap_or(self.active.base)
    }
    /// Seals the open batch, if any (it stays in the buffer until the next flush).
    fn seal_batch(&mut self) {
        if self.batch_open {
            let count = self.next_offset - self.batch_base;
            format::seal_batch(&mut self.buf[self.batch_start..], self.batch_base, count);
            self.batch_open = false;
        }
    }
    fn total_bytes(&self) -> u64 {
        self.sealed_bytes + self.active.len + self.buf.len() as u64
    }
}

struct SyncState {
    /// Every offset below this is on stable storage.
    durable: u64,
    leader: bool,
    poisoned: bool,
}

/// Directories open in this process (a second `Log` on the same directory would corrupt it).
static OPEN_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

impl Log {
    /// A builder for a log in `dir` (created if missing).
    pub fn builder(dir: impl Into<PathBuf>) -> LogBuilder {
        LogBuilder::new(dir.into())
    }

    /// Opens `dir` with default settings (`EveryN(1000)`, 64 MiB segments, no retention).
    ///
    /// # Errors
    /// As [`LogBuilder::open`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Log> {
        Self::builder(dir).open()
    }

    pub(crate) fn open_with(b: LogBuilder) -> Result<Log> {
        let LogBuilder { cfg, clock } = b;
        fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
        let canonical = fs::canonicalize(&cfg.dir).map_err(io_err(&cfg.dir))?;
        {
            let mut open = OPEN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
            if open.contains(&canonical) {
                return Err(Error::AlreadyOpen(canonical));
            }
            open.push(canonical.clone());
        }
        let registered = Registration(canonical);
        let (state, recovery) = recover(&cfg, &*clock)?;
        let durable = state.next_offset;
        let registered = registered.release();
        Ok(Log {
            inner: Arc::new(Inner {
                cfg,
                clock,
                state: Mutex::new(state),
                sync: Mutex::new(SyncState {
                    durable,
                    leader: false,
                    poisoned: false,
                }),
                synced: Condvar::new(),
                fsyncs: AtomicU64::new(0),
                in_sync: AtomicUsize::new(0),
                sync_peak: AtomicUsize::new(1),
                last_fsync_nanos: AtomicU64::new(0),
                recovery,
                registered,
            }),
        })
    }

    /// Appends `payload` and returns its offset. Returns once the record is as durable as the
    /// [`FsyncPolicy`] promises. The hot path reads no clock (unless `segment_age` is set): a record
    /// carries a timestamp only if given one through [`append_raw`](Self::append_raw).
    ///
    /// # Errors
    /// [`Error::RecordTooLarge`]; [`Error::Io`] if a write or fsync fails (the log is then
    /// [poisoned](Error::Poisoned)); [`Error::Poisoned`].
    pub fn append(&self, payload: &[u8]) -> Result<u64> {
        self.append_raw(None, &[], payload)
    }

    /// Appends a record with raw metadata bytes and an optional timestamp (unix ms by convention; it
    /// counts for retention by age; `u64::MAX` is reserved and stored as "none"). Pass
    /// `Some(clock.unix_millis())` to stamp records with the append time.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// let off = log.append_raw(Some(1_700_000_000_000), b"key", b"value").unwrap();
    /// let rec = log.get(off).unwrap().unwrap();
    /// assert_eq!((rec.timestamp, &rec.meta[..]), (Some(1_700_000_000_000), &b"key"[..]));
    /// ```
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_raw(&self, timestamp: Option<u64>, meta: &[u8], payload: &[u8]) -> Result<u64> {
        let d = self.append_raw_deferred(timestamp, meta, payload)?;
        self.commit(d)?;
        Ok(d.offset)
    }

    /// Appends a record with postcard-encoded metadata like [`append_meta`](Self::append_meta), but
    /// does not wait for the fsync the policy calls for: the record is in the log's order at once, and
    /// durable (per the policy) once [`commit`](Self::commit) of the returned ticket returns. For a
    /// caller that must order its records under a lock of its own but should not hold that lock during
    /// the fsync: append under the lock, commit after releasing it, and concurrent callers share
    /// fsyncs (group commit). Since the log is synced as a prefix, committing a later ticket makes
    /// every earlier record durable too.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::builder(dir.path())
    ///     .fsync(ember_log::FsyncPolicy::Always)
    ///     .open()
    ///     .unwrap();
    /// let ticket = log.append_meta_deferred(&"op", b"payload").unwrap();
    /// // ... release your own lock here ...
    /// log.commit(ticket).unwrap();
    /// assert_eq!(log.durable_offset(), ticket.offset() + 1);
    /// ```
    ///
    /// # Errors
    /// As [`append_meta`](Self::append_meta).
    pub fn append_meta_deferred<M: Serialize + ?Sized>(
        &self,
        meta: &M,
        payload: &[u8],
    ) -> Result<Deferred> {
        let bytes = postcard::to_allocvec(meta).map_err(|source| Error::Codec {
            what: "record metadata".into(),
            source,
        })?;
        self.append_raw_deferred(None, &bytes, payload)
    }

    /// Waits until the record of `ticket` is durable as its fsync policy promises (a no-op if the
    /// policy did not call for a sync at that append).
    ///
    /// # Errors
    /// [`Error::Io`] if the fsync fails (the log is then poisoned), [`Error::Poisoned`].
    pub fn commit(&self, ticket: Deferred) -> Result<()> {
        if ticket.sync {
            self.inner.sync_to(ticket.offset + 1)?;
        }
        Ok(())
    }

    fn append_raw_deferred(
        &self,
        timestamp: Option<u64>,
        meta: &[u8],
        payload: &[u8],
    ) -> Result<Deferred> {
        let size = (meta.len() + payload.len()) as u64;
        let cfg = &self.inner.cfg;
        if size > cfg.max_record_bytes {
            return Err(Error::RecordTooLarge {
                size,
                max: cfg.max_record_bytes,
            });
        }
        let timestamp = timestamp.unwrap_or(format::NO_TIMESTAMP);
        let mut st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let offset = self.inner.write_record(
            &mut st,
            format::MAX_FRAME_OVERHEAD,
            timestamp,
            meta,
            payload,
        )?;
        let sync = self.inner.sync_due(&mut st, 1);
        drop(st);
        Ok(Deferred { offset, sync })
    }

    /// Appends a record whose metadata is `meta` encoded with postcard (compact, serde-based); read it
    /// back with [`Record::meta_value`].
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Meta { key: String, partition: u32 }
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// let m = Meta { key: "user-1".into(), partition: 3 };
    /// let off = log.append_meta(&m, b"payload").unwrap();
    /// assert_eq!(log.get(off).unwrap().unwrap().meta_value::<Meta>().unwrap(), Some(m));
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] if `meta` cannot be encoded; otherwise as [`append`](Self::append).
    pub fn append_meta<M: Serialize + ?Sized>(&self, meta: &M, payload: &[u8]) -> Result<u64> {
        let bytes = postcard::to_allocvec(meta).map_err(|source| Error::Codec {
            what: "record metadata".into(),
            source,
        })?;
        self.append_raw(None, &bytes, payload)
    }

    /// Appends several payloads under one lock and at most one fsync; returns the offset range.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// let r = log.append_batch([&b"x"[..], b"y", b"z"]).unwrap();
    /// assert_eq!(r, 0..3);
    /// ```
    ///
    /// # Errors
    /// As [`append`](Self::append). On [`Error::RecordTooLarge`] nothing of the batch is appended.
    pub fn append_batch<'a, I>(&self, payloads: I) -> Result<std::ops::Range<u64>>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let payloads: Vec<&[u8]> = payloads.into_iter().collect();
        let cfg = &self.inner.cfg;
        if let Some(p) = payloads
            .iter()
            .find(|p| p.len() as u64 > cfg.max_record_bytes)
        {
            return Err(Error::RecordTooLarge {
                size: p.len() as u64,
                max: cfg.max_record_bytes,
            });
        }
        let mut st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let first = st.next_offset;
        for p in &payloads {
            self.inner.write_record(
                &mut st,
                format::MAX_FRAME_OVERHEAD,
                format::NO_TIMESTAMP,
                &[],
                p,
            )?;
        }
        let end = st.next_offset;
        let sync = self.inner.sync_due(&mut st, end - first);
        drop(st);
        if sync {
            self.inner.sync_to(end)?;
        }
        Ok(first..end)
    }

    /// Appends several records with postcard-encoded metadata (as [`append_meta`](Self::append_meta))
    /// under one lock and at most one fsync; returns the offset range.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// let r = log.append_meta_batch([(&1u32, &b"a"[..]), (&2u32, &b"b"[..])]).unwrap();
    /// assert_eq!(r, 0..2);
    /// assert_eq!(log.get(1).unwrap().unwrap().meta_value::<u32>().unwrap(), Some(2));
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] or [`Error::RecordTooLarge`] (nothing of the batch is appended then);
    /// otherwise as [`append`](Self::append).
    pub fn append_meta_batch<'a, M, I>(&self, items: I) -> Result<std::ops::Range<u64>>
    where
        M: Serialize + 'a,
        I: IntoIterator<Item = (&'a M, &'a [u8])>,
    {
        let cfg = &self.inner.cfg;
        let mut encoded = Vec::new();
        for (meta, payload) in items {
            let bytes = postcard::to_allocvec(meta).map_err(|source| Error::Codec {
                what: "record metadata".into(),
                source,
            })?;
            let size = (bytes.len() + payload.len()) as u64;
            if size > cfg.max_record_bytes {
                return Err(Error::RecordTooLarge {
                    size,
                    max: cfg.max_record_bytes,
                });
            }
            encoded.push((bytes, payload));
        }
        let mut st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let first = st.next_offset;
        for (meta, payload) in &encoded {
            self.inner.write_record(
                &mut st,
                format::MAX_FRAME_OVERHEAD,
                format::NO_TIMESTAMP,
                meta,
                payload,
            )?;
        }
        let end = st.next_offset;
        let sync = self.inner.sync_due(&mut st, end - first);
        drop(st);
        if sync {
            self.inner.sync_to(end)?;
        }
        Ok(first..end)
    }

    /// An exclusive appender: holds the log's tail (its lock) until dropped, so that each of its
    /// appends skips taking the lock. For a single thread writing a burst of records (a producer
    /// draining its queue, an import, a replay); other appenders and readers of this log wait until
    /// it is dropped. Every record is batched, checksummed and synced exactly as by
    /// [`append`](Self::append), so the crash guarantees of the [`FsyncPolicy`] are the same (with
    /// `Always` or `EveryN`, the writer fsyncs itself when due, before its append returns).
    ///
    /// Like a held lock: do not call other methods of this log on the thread holding the writer (they
    /// would wait for it forever); use the writer's own.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// let mut w = log.writer().unwrap();
    /// for i in 0..100u32 {
    ///     w.append(&i.to_le_bytes()).unwrap();
    /// }
    /// assert_eq!(w.next_offset(), 100);
    /// drop(w);
    /// assert_eq!(log.get(42).unwrap().unwrap().payload, 42u32.to_le_bytes());
    /// ```
    ///
    /// # Errors
    /// [`Error::Poisoned`].
    pub fn writer(&self) -> Result<LogWriter<'_>> {
        let st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        Ok(LogWriter {
            inner: &self.inner,
            st,
        })
    }

    /// Writes the in-process buffer to the OS (no fsync): a process crash no longer loses it.
    ///
    /// # Errors
    /// [`Error::Io`] (the log is then poisoned), [`Error::Poisoned`].
    pub fn flush(&self) -> Result<()> {
        let mut st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        self.inner.flush_buf(&mut st)
    }

    /// Makes every record appended so far durable (flush and fsync), whatever the policy.
    ///
    /// # Errors
    /// [`Error::Io`] (the log is then poisoned), [`Error::Poisoned`].
    pub fn sync(&self) -> Result<()> {
        let target = self.inner.state.lock().next_offset;
        self.inner.sync_to(target)
    }

    /// With [`FsyncPolicy::Interval`], syncs if the interval has passed since the last sync (call it
    /// from a timer so an idle log's tail is synced too); a no-op for the other policies. Returns
    /// whether it synced.
    ///
    /// # Errors
    /// As [`sync`](Self::sync).
    pub fn sync_if_due(&self) -> Result<bool> {
        let FsyncPolicy::Interval(d) = self.inner.cfg.fsync else {
            return Ok(false);
        };
        let target = {
            let mut st = self.inner.state.lock();
            let now = self.inner.clock.now();
            if now.saturating_duration_since(st.last_sync) < d {
                return Ok(false);
            }
            st.last_sync = now;
            st.next_offset
        };
        self.inner.sync_to(target)?;
        Ok(true)
    }

    /// Every offset below this is on stable storage (as far as fsync guarantees).
    #[must_use]
    pub fn durable_offset(&self) -> u64 {
        self.inner.sync.lock().durable
    }

    /// The offset the next append gets (one past the last record).
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.inner.state.lock().next_offset
    }

    /// The first offset still stored (retention deletes from the head).
    #[must_use]
    pub fn start_offset(&self) -> u64 {
        self.inner.state.lock().start_offset()
    }

    /// The directory of this log.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.cfg.dir
    }

    /// What recovery did when this log was opened.
    #[must_use]
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// The record at `offset`, or `None` if it is at or past [`next_offset`](Self::next_offset).
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if retention deleted it; [`Error::Corrupt`]; [`Error::Io`].
    pub fn get(&self, offset: u64) -> Result<Option<Record>> {
        Ok(self.read(offset, 1, 0)?.into_iter().next())
    }

    /// Reads records from `from` on: at most `max_records`, and stops after the record that reaches
    /// `max_bytes` of payload (at least one record is returned if any exists; `0` means no byte limit).
    /// Returns fewer when the end of a segment or of the log is reached; an empty vector at the end.
    /// Reads see every appended record, synced or not.
    ///
    /// The offset is found in O(log n): the segment by binary search over base offsets, then the
    /// sparse index's floor entry (a batch start), then a short forward scan over batches and into the
    /// batch holding `from` (every batch read is CRC-checked whole).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// for i in 0..10u8 { log.append(&[i]).unwrap(); }
    /// let recs = log.read(4, 3, 0).unwrap();
    /// assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![4, 5, 6]);
    /// ```
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] if `from` was deleted by retention; [`Error::Corrupt`] naming the
    /// file and the byte position of the batch if a batch fails its CRC; [`Error::Io`];
    /// [`Error::Poisoned`].
    pub fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Result<Vec<Record>> {
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let (file, path, mut pos, end_offset, end_pos, version) = {
            let mut st = self.inner.state.lock();
            if st.poisoned {
                return Err(Error::Poisoned);
            }
            let start = st.start_offset();
            if from < start {
                return Err(Error::OffsetOutOfRange {
                    offset: from,
                    start,
                    next: st.next_offset,
                });
            }
            if from >= st.next_offset {
                return Ok(Vec::new());
            }
            let seg = if from >= st.active.base {
                if !st.buf.is_empty() {
                    self.inner.flush_buf(&mut st)?;
                }
                &st.active
            } else {
                match st.sealed.range(..=from).next_back() {
                    Some((_, s)) => s,
                    None => unreachable!("from >= start offset"),
                }
            };
            (
                seg.file.clone(),
                seg.path.clone(),
                seg.seek(from),
                seg.next_offset,
                seg.len,
                seg.version,
            )
        };
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut chunk: Vec<u8> = Vec::new();
        let mut chunk_start;
        'outer: while pos < end_pos {
            let want = ((end_pos - pos) as usize).min(256 * 1024);
            chunk.resize(want, 0);
            if let Err(e) = file.read_exact_at(&mut chunk, pos) {
                return Self::partial(out, io_err(&path)(e));
            }
            chunk_start = pos;
            let mut at = 0usize;
            loop {
                let here = chunk_start + at as u64;
                match parse_at(&chunk[at..], version) {
                    Parse::Ok(batch) => {
                        if batch.base > from.max(out.last().map_or(0, |r: &Record| r.offset + 1)) {
                            return Self::partial(
                                out,
                                corrupt(&path, here, "index points past the record"),
                            );
                        }
                        if batch.end() > end_offset {
                            return Self::partial(
                                out,
                                corrupt(&path, here, "batch beyond the segment's end"),
                            );
                        }
                        if batch.end() > from {
                            for r in batch.records() {
                                let r = match r {
                                    Ok(r) => r,
                                    Err(why) => {
                                        return Self::partial(out, corrupt(&path, here, why));
                                    }
                                };
                                if r.offset < from {
                                    continue;
                                }
                                bytes += r.payload.len() + r.meta.len();
                                out.push(Record {
                                    offset: r.offset,
                                    timestamp: (r.timestamp != format::NO_TIMESTAMP)
                                        .then_some(r.timestamp),
                                    meta: r.meta.to_vec(),
                                    payload: r.payload.to_vec(),
                                });
                                if out.len() >= max_records
                                    || (max_bytes > 0 && bytes >= max_bytes)
                                    || r.offset + 1 >= end_offset
                                {
                                    break 'outer;
                                }
                            }
                        }
                        at += batch.len as usize;
                    }
                    Parse::NeedMore(n) => {
                        if here + n as u64 > end_pos {
                            return Self::partial(
                                out,
                                corrupt(&path, here, "batch runs past the end of the segment"),
                            );
                        }
                        if at == 0 {
                            // A batch bigger than the chunk: read exactly it.
                            chunk.resize(n, 0);
                            if let Err(e) = file.read_exact_at(&mut chunk, pos) {
                                return Self::partial(out, io_err(&path)(e));
                            }
                            continue;
                        }
                        pos = here;
                        continue 'outer;
                    }
                    Parse::Bad(reason) => {
                        return Self::partial(out, corrupt(&path, here, reason));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Records read before hitting `err` are returned first; the next read starts at the damage and
    /// reports it.
    fn partial(out: Vec<Record>, err: Error) -> Result<Vec<Record>> {
        if out.is_empty() { Err(err) } else { Ok(out) }
    }

    /// Iterates over records from `from` to the end of the log (including records appended while
    /// iterating), reading in batches. Yields an error once and then ends.
    pub fn iter(&self, from: u64) -> Iter {
        Iter {
            log: self.clone(),
            next: from,
            batch: VecDeque::new(),
            done: false,
        }
    }

    /// The segments, oldest first.
    #[must_use]
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let st = self.inner.state.lock();
        let mut v: Vec<SegmentInfo> = st.sealed.values().map(|s| s.info(0, false)).collect();
        v.push(st.active.info(st.buf.len() as u64, true));
        v
    }

    /// Seals the active segment and starts a new one (if the active one holds any record).
    ///
    /// # Errors
    /// [`Error::Io`] (the log is then poisoned), [`Error::Poisoned`].
    pub fn roll(&self) -> Result<()> {
        let mut st = self.inner.state.lock();
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        if st.active.next_offset > st.active.base {
            self.inner.roll(&mut st)?;
        }
        Ok(())
    }

    /// Applies the configured [`Retention`](crate::Retention) now; returns the number of segments
    /// deleted. (It also runs on every roll.)
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be deleted.
    pub fn apply_retention(&self) -> Result<usize> {
        let mut st = self.inner.state.lock();
        self.inner.retain(&mut st, None)
    }

    /// Deletes every sealed segment whose records are all below `offset` (like Kafka's
    /// `deleteRecords`, but whole segments only; [`roll`](Self::roll) first to include the active
    /// one). Returns the number of segments deleted.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::open(dir.path()).unwrap();
    /// log.append_batch([&b"a"[..], b"b"]).unwrap();
    /// log.roll().unwrap();
    /// log.append(b"c").unwrap();
    /// assert_eq!(log.delete_before(2).unwrap(), 1);
    /// assert_eq!(log.start_offset(), 2);
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be deleted.
    pub fn delete_before(&self, offset: u64) -> Result<usize> {
        let mut st = self.inner.state.lock();
        self.inner.retain(&mut st, Some(offset))
    }

    /// Reads every record of every segment and checks its CRC (read-only); see
    /// [`inspect`](crate::inspect()). Flushes the write buffer first.
    ///
    /// # Errors
    /// [`Error::Io`]; damage is reported in the result, not as an error.
    pub fn verify(&self) -> Result<crate::inspect::Inspection> {
        self.flush()?;
        crate::inspect::inspect(&self.inner.cfg.dir)
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> LogStats {
        let st = self.inner.state.lock();
        let fsyncs = self.inner.fsyncs.load(Ordering::Relaxed);
        LogStats {
            appends: st.appends,
            appended_bytes: st.appended_bytes,
            fsyncs,
            appends_per_fsync: ratio(st.appends, fsyncs),
            rolls: st.rolls,
            segments_deleted: st.segments_deleted,
            segments: st.sealed.len() + 1,
            total_bytes: st.total_bytes(),
            start_offset: st.start_offset(),
            next_offset: st.next_offset,
        }
    }
}

/// An appended record whose fsync has not been waited for: see [`Log::append_meta_deferred`].
#[must_use = "the record is durable only once `Log::commit` of this ticket returned"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferred {
    offset: u64,
    sync: bool,
}

impl Deferred {
    /// The record's offset.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// An exclusive appender on a [`Log`]: see [`Log::writer`].
pub struct LogWriter<'a> {
    inner: &'a Inner,
    st: MutexGuard<'a, State>,
}

impl fmt::Debug for LogWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("dir", &self.inner.cfg.dir)
            .field("next_offset", &self.st.next_offset)
            .finish()
    }
}

impl LogWriter<'_> {
    /// Appends a record (as [`Log::append`]); returns its offset.
    ///
    /// # Errors
    /// As [`Log::append`].
    #[inline]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.append_raw(None, &[], payload)
    }

    /// Appends a record with raw metadata and an optional timestamp (as [`Log::append_raw`]).
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_raw(
        &mut self,
        timestamp: Option<u64>,
        meta: &[u8],
        payload: &[u8],
    ) -> Result<u64> {
        let size = (meta.len() + payload.len()) as u64;
        let inner = self.inner;
        if size > inner.cfg.max_record_bytes {
            return Err(Error::RecordTooLarge {
                size,
                max: inner.cfg.max_record_bytes,
            });
        }
        let st = &mut *self.st;
        if st.poisoned {
            return Err(Error::Poisoned);
        }
        let offset = inner.write_record(
            st,
            format::MAX_FRAME_OVERHEAD,
            timestamp.unwrap_or(format::NO_TIMESTAMP),
            meta,
            payload,
        )?;
        if inner.sync_due(st, 1) {
            inner.sync_locked(st)?;
        }
        Ok(offset)
    }

    /// Appends a record with postcard-encoded metadata (as [`Log::append_meta`]).
    ///
    /// # Errors
    /// As [`Log::append_meta`].
    pub fn append_meta<M: Serialize + ?Sized>(&mut self, meta: &M, payload: &[u8]) -> Result<u64> {
        let bytes = postcard::to_allocvec(meta).map_err(|source| Error::Codec {
            what: "record metadata".into(),
            source,
        })?;
        self.append_raw(None, &bytes, payload)
    }

    /// Hands the buffered records to the OS (as [`Log::flush`]).
    ///
    /// # Errors
    /// As [`Log::flush`].
    pub fn flush(&mut self) -> Result<()> {
        if self.st.poisoned {
            return Err(Error::Poisoned);
        }
        self.inner.flush_buf(&mut self.st)
    }

    /// Makes every record appended so far durable (as [`Log::sync`]).
    ///
    /// # Errors
    /// As [`Log::sync`].
    pub fn sync(&mut self) -> Result<()> {
        if self.st.poisoned {
            return Err(Error::Poisoned);
        }
        self.inner.sync_locked(&mut self.st)
    }

    /// The offset the next append gets.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.st.next_offset
    }
}

/// Iterator over records, from [`Log::iter`].
#[derive(Debug)]
pub struct Iter {
    log: Log,
    next: u64,
    batch: VecDeque<Record>,
    done: bool,
}

impl Iterator for Iter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.batch.is_empty() {
            match self.log.read(self.next, 1024, 1 << 20) {
                Ok(v) if v.is_empty() => {
                    self.done = true;
                    return None;
                }
                Ok(v) => self.batch.extend(v),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let r = self.batch.pop_front()?;
        self.next = r.offset + 1;
        Some(Ok(r))
    }
}

/// Rounds (16 spins, then yields) the group-commit window waits at most for the appenders it expects
/// (see `Inner::leader_sync`).
const GROUP_COMMIT_ROUNDS: u32 = 4096;
/// The longest the group-commit window waits by the clock (besides: at most half the last fsync).
const GROUP_COMMIT_MAX_WAIT: Duration = Duration::from_micros(500);

/// Counts a thread inside [`Inner::sync_to`] (and raises the recent peak) for as long as it lives.
struct InSync<'a>(&'a Inner);

impl<'a> InSync<'a> {
    fn enter(inner: &'a Inner) -> Self {
        let now = inner.in_sync.fetch_add(1, Ordering::Relaxed) + 1;
        inner.sync_peak.fetch_max(now, Ordering::Relaxed);
        InSync(inner)
    }
}

impl Drop for InSync<'_> {
    fn drop(&mut self) {
        self.0.in_sync.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Inner {
    fn poison(&self, st: &mut State) {
        st.poisoned = true;
        self.sync.lock().poisoned = true;
        self.synced.notify_all();
    }

    /// Adds one record to the open batch of the write buffer (opening one if needed) at the next
    /// offset: rolls the segment first if the record (at most `overhead` plus meta and payload bytes)
    /// would not fit, indexes a new batch's start when due, seals the batch at `batch_bytes`, and
    /// hands the buffer to the OS once it is full. Returns the record's offset.
    fn write_record(
        &self,
        st: &mut State,
        overhead: u64,
        timestamp: u64,
        meta: &[u8],
        payload: &[u8],
    ) -> Result<u64> {
        let size = (meta.len() + payload.len()) as u64;
        self.maybe_roll(st, overhead + size)?;
        let offset = st.next_offset;
        if !st.batch_open {
            // Open a batch; the index points at batch starts.
            let pos = st.active.len + st.buf.len() as u64;
            if st.active.index.is_empty()
                || pos - st.last_indexed_pos >= self.cfg.index_interval_bytes
            {
                st.active.index.push((offset, pos));
                st.last_indexed_pos = pos;
            }
            st.batch_open = true;
            st.batch_start = st.buf.len();
            st.batch_base = offset;
            format::begin_batch(&mut st.buf);
        }
        format::encode_record(&mut st.buf, timestamp, meta, payload);
        st.next_offset = offset + 1;
        st.active.next_offset = offset + 1;
        if timestamp != format::NO_TIMESTAMP && timestamp > st.active.max_timestamp {
            st.active.max_timestamp = timestamp;
        }
        st.appends += 1;
        st.appended_bytes += size;
        if st.buf.len() >= self.cfg.write_buffer_bytes {
            self.flush_buf(st)?;
        } else if st.buf.len() - st.batch_start >= self.cfg.batch_bytes {
            st.seal_batch();
        }
        Ok(offset)
    }

    /// Whether the fsync policy wants a sync now that `appended` more records were written.
    fn sync_due(&self, st: &mut State, appended: u64) -> bool {
        match self.cfg.fsync {
            FsyncPolicy::Never => false,
            FsyncPolicy::Always => appended > 0,
            FsyncPolicy::EveryN(every) => {
                st.unsynced += appended;
                if st.unsynced >= every {
                    st.unsynced = 0;
                    true
                } else {
                    false
                }
            }
            FsyncPolicy::Interval(d) => {
                let now = self.clock.now();
                if now.saturating_duration_since(st.last_sync) >= d {
                    st.last_sync = now;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Seals the open batch and hands it to the OS (no fsync).
    fn flush_buf(&self, st: &mut State) -> Result<()> {
        if st.buf.is_empty() {
            return Ok(());
        }
        st.seal_batch();
        if let Err(e) = st.active.file.write_all_at(&st.buf, st.active.len) {
            let path = st.active.path.clone();
            self.poison(st);
            return Err(io_err(&path)(e));
        }
        st.active.len += st.buf.len() as u64;
        st.buf.clear();
        Ok(())
    }

    /// Group commit: returns once every offset below `target` is durable. The first waiter becomes
    /// the leader and fsyncs everything appended so far; the others wait for it, then re-check.
    fn sync_to(&self, target: u64) -> Result<()> {
        let _inside = InSync::enter(self);
        let mut s = self.sync.lock();
        loop {
            if s.poisoned {
                return Err(Error::Poisoned);
            }
            if s.durable >= target {
                return Ok(());
            }
            if s.leader {
                self.synced.wait(&mut s);
                continue;
            }
            s.leader = true;
            drop(s);
            let res = self.leader_sync();
            s = self.sync.lock();
            s.leader = false;
            match res {
                Ok(upto) => {
                    s.durable = s.durable.max(upto);
                    self.synced.notify_all();
                }
                Err(e) => {
                    s.poisoned = true;
                    self.synced.notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Flushes and fsyncs while the caller holds the state lock (an exclusive writer: no group
    /// commit to wait for), then publishes the new durable offset.
    fn sync_locked(&self, st: &mut State) -> Result<()> {
        self.flush_buf(st)?;
        self.fsync_active(st)
    }

    /// Fsyncs the active segment (already flushed) while the caller holds the state lock, then
    /// publishes everything appended so far as durable. A failure poisons the log.
    fn fsync_active(&self, st: &mut State) -> Result<()> {
        if let Err(e) = st.active.file.sync_data() {
            let path = st.active.path.clone();
            self.poison(st);
            return Err(io_err(&path)(e));
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        let mut s = self.sync.lock();
        s.durable = s.durable.max(st.next_offset);
        drop(s);
        self.synced.notify_all();
        Ok(())
    }

    fn leader_sync(&self) -> Result<u64> {
        // Group-commit window (as PostgreSQL's commit_delay or Kafka's linger): when several threads
        // have recently waited for fsyncs at once, the appenders that the previous fsync released are
        // about to append again. Without waiting for them, groups alternate (the released threads just
        // miss this fsync and form the next one), so an fsync covers about half of the appenders
        // (measured: 2.5 of 4). So wait, spinning then yielding, until as many records are pending as
        // threads recently waited at once, for at most half of the last fsync's duration (at most
        // `GROUP_COMMIT_MAX_WAIT`, by the log's clock: with a `ManualClock` fsyncs take no time, so
        // the window closes at once) and `GROUP_COMMIT_ROUNDS` rounds; if they do not come, lower the
        // expectation to what came. A single appender never waits. Durability is unchanged: nothing is
        // reported durable before its fsync.
        if self.cfg.fsync == FsyncPolicy::Always {
            let want = self.sync_peak.load(Ordering::Relaxed);
            if want > 1 {
                let start = self.clock.now();
                let limit = Duration::from_nanos(self.last_fsync_nanos.load(Ordering::Relaxed) / 2)
                    .min(GROUP_COMMIT_MAX_WAIT);
                let durable = self.sync.lock().durable;
                let mut pending = 0;
                for round in 0..GROUP_COMMIT_ROUNDS {
                    pending = self.state.lock().next_offset.saturating_sub(durable);
                    if pending >= want as u64 {
                        break;
                    }
                    if round % 4 == 3 && self.clock.now().saturating_duration_since(start) >= limit
                    {
                        break;
                    }
                    if round < 16 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                if pending < want as u64 {
                    // They did not come: expect what came.
                    let came = usize::try_from(pending).unwrap_or(usize::MAX).max(1);
                    self.sync_peak.store(came, Ordering::Relaxed);
                }
            }
        }
        let (file, path, upto) = {
            let mut st = self.state.lock();
            if st.poisoned {
                return Err(Error::Poisoned);
            }
            self.flush_buf(&mut st)?;
            (
                st.active.file.clone(),
                st.active.path.clone(),
                st.next_offset,
            )
        };
        let started = self.clock.now();
        if let Err(e) = file.sync_data() {
            self.state.lock().poisoned = true;
            return Err(io_err(&path)(e));
        }
        let took = self.clock.now().saturating_duration_since(started);
        self.last_fsync_nanos.store(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(upto)
    }

    fn maybe_roll(&self, st: &mut State, frame_len: u64) -> Result<()> {
        if st.active.next_offset == st.active.base {
            return Ok(()); // never roll an empty segment: an oversized record gets one to itself
        }
        let size = st.active.len + st.buf.len() as u64;
        let by_size = size + frame_len > self.cfg.segment_bytes;
        let by_age = self.cfg.segment_age.is_some_and(|age| {
            let now = self.clock.unix_millis();
            now.saturating_sub(st.active.created_unix_ms) >= age.as_millis() as u64
        });
        if by_size || by_age {
            self.roll(st)?;
        }
        Ok(())
    }

    fn roll(&self, st: &mut State) -> Result<()> {
        self.flush_buf(st)?;
        let durable = self.cfg.fsync != FsyncPolicy::Never;
        if durable {
            self.fsync_active(st)?;
            st.unsynced = 0;
        }
        // The index is an optimisation, rebuilt on open if missing: a failure to write it is not fatal.
        let _ = write_index(&self.cfg.dir, &st.active);
        let created = self.clock.unix_millis();
        let new = match create_segment(&self.cfg.dir, st.next_offset, created, durable) {
            Ok(s) => s,
            Err(e) => {
                self.poison(st);
                return Err(e);
            }
        };
        let old = std::mem::replace(&mut st.active, new);
        st.sealed_bytes += old.len;
        st.sealed.insert(old.base, old);
        st.last_indexed_pos = 0;
        st.rolls += 1;
        self.retain(st, None)?;
        Ok(())
    }

    /// Deletes old sealed segments by the retention settings, and (if `before` is given) every sealed
    /// segment entirely below that offset.
    fn retain(&self, st: &mut State, before: Option<u64>) -> Result<usize> {
        let r = self.cfg.retention;
        let now = self.clock.unix_millis();
        let mut deleted = 0;
        while let Some((&base, seg)) = st.sealed.first_key_value() {
            let total = st.total_bytes();
            // Every record of a sealed segment is older than the creation of the segment after it.
            let next_created = st
                .sealed
                .range(base + 1..)
                .next()
                .map_or(st.active.created_unix_ms, |(_, s)| s.created_unix_ms);
            let newest = seg.max_timestamp.max(next_created);
            let by_age = r
                .max_age
                .is_some_and(|a| now.saturating_sub(newest) > a.as_millis() as u64);
            let by_size = r.max_bytes.is_some_and(|m| total - seg.len >= m);
            let by_offset = before.is_some_and(|b| seg.next_offset <= b);
            if !(by_age || by_size || by_offset) {
                break;
            }
            let seg = st.sealed.remove(&base).expect("present");
            st.sealed_bytes -= seg.len;
            st.segments_deleted += 1;
            deleted += 1;
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&seg.path)(e)),
            }
            let ix = self.cfg.dir.join(index_file_name(base));
            let _ = fs::remove_file(ix);
        }
        Ok(deleted)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if !st.poisoned && !st.buf.is_empty() {
            st.seal_batch();
            if st.active.file.write_all_at(&st.buf, st.active.len).is_ok() {
                st.active.len += st.buf.len() as u64;
                st.buf.clear();
            } else {
                st.poisoned = true;
            }
        }
        if !st.poisoned && self.cfg.fsync != FsyncPolicy::Never {
            let _ = st.active.file.sync_data();
        }
        let mut open = OPEN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|p| p != &self.registered);
    }
}

/// Unregisters a directory if opening fails half-way.
struct Registration(PathBuf);

impl Registration {
    fn release(mut self) -> PathBuf {
        let path = std::mem::take(&mut self.0);
        std::mem::forget(self);
        path
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = OPEN_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|p| p != &self.0);
    }
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn create_segment(dir: &Path, base: u64, created_unix_ms: u64, durable: bool) -> Result<Segment> {
    let path = dir.join(segment_file_name(base));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let header = format::encode_segment_header(&SegmentHeader {
        base_offset: base,
        created_unix_ms,
    })?;
    file.write_all_at(&header, 0).map_err(io_err(&path))?;
    if durable {
        file.sync_all().map_err(io_err(&path))?;
        fsync_dir(dir)?;
    }
    Ok(Segment {
        base,
        path,
        file: Arc::new(file),
        len: SEGMENT_HEADER_LEN,
        next_offset: base,
        created_unix_ms,
        max_timestamp: 0,
        index: Vec::new(),
        version: format::FORMAT_VERSION,
    })
}

fn write_index(dir: &Path, seg: &Segment) -> Result<()> {
    let bytes = format::encode_index(&IndexFile {
        segment_len: seg.len,
        next_offset: seg.next_offset,
        max_timestamp: seg.max_timestamp,
        entries: seg.index.clone(),
    })?;
    let path = dir.join(index_file_name(seg.base));
    fs::write(&path, bytes).map_err(io_err(&path))
}

/// Lists the segment base offsets of `dir`, sorted.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(format::parse_segment_name)
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))
}

/// Loads a sealed segment from its index file if that index matches the segment.
fn load_indexed(
    dir: &Path,
    base: u64,
    path: &Path,
    file: File,
    len: u64,
) -> Result<Option<Segment>> {
    let Ok(bytes) = fs::read(dir.join(index_file_name(base))) else {
        return Ok(None);
    };
    let Some(ix) = format::decode_index(&bytes) else {
        return Ok(None);
    };
    if ix.segment_len != len || ix.next_offset < base {
        return Ok(None);
    }
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact_at(&mut head, 0).map_err(io_err(path))?;
    let (header, version) = format::decode_segment_header(path, &head)?;
    if header.base_offset != base {
        return Err(corrupt(
            path,
            16,
            format!("header says base offset {}", header.base_offset),
        ));
    }
    Ok(Some(Segment {
        base,
        path: path.to_path_buf(),
        file: Arc::new(file),
        len,
        next_offset: ix.next_offset,
        created_unix_ms: header.created_unix_ms,
        max_timestamp: ix.max_timestamp,
        index: ix.entries,
        version,
    }))
}

fn recover(cfg: &Config, clock: &dyn ember_core::Clock) -> Result<(State, RecoveryReport)> {
    let dir = &cfg.dir;
    let mut report = RecoveryReport::default();
    let bases = list_segments(dir)?;
    let mut sealed: BTreeMap<u64, Segment> = BTreeMap::new();
    let mut active: Option<Segment> = None;
    let mut expected: Option<u64> = None;
    let mut i = 0;
    while i < bases.len() {
        let base = bases[i];
        let last = i + 1 == bases.len();
        let path = dir.join(segment_file_name(base));
        let file = open_rw(&path)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if last && len < SEGMENT_HEADER_LEN && expected.is_none_or(|e| e == base) {
            // Created but its header never fully written: a crash during a roll.
            fs::remove_file(&path).map_err(io_err(&path))?;
            report.removed_segments.push(path);
            break;
        }
        if let Some(e) = expected {
            if e != base {
                return Err(corrupt(
                    &path,
                    0,
                    format!("segment starts at offset {base} but the previous one ends at {e}"),
                ));
            }
        }
        let mut seg = None;
        if !last {
            seg = load_indexed(
                dir,
                base,
                &path,
                file.try_clone().map_err(io_err(&path))?,
                len,
            )?;
        }
        let mut cut_after = false;
        let seg = match seg {
            Some(s) => s,
            None => {
                let scan = format::scan_segment(&path, &file, cfg.index_interval_bytes)?;
                report.scanned_segments += 1;
                if scan.header.base_offset != base {
                    return Err(corrupt(
                        &path,
                        16,
                        format!("header says base offset {}", scan.header.base_offset),
                    ));
                }
                if let Some(torn) = &scan.torn {
                    file.set_len(scan.valid_len).map_err(io_err(&path))?;
                    file.sync_all().map_err(io_err(&path))?;
                    report.truncated_bytes += len - scan.valid_len;
                    report.truncated_at = Some((path.clone(), torn.position));
                    cut_after = !last;
                }
                let s = Segment {
                    base,
                    path: path.clone(),
                    file: Arc::new(file),
                    len: scan.valid_len,
                    next_offset: scan.next_offset,
                    created_unix_ms: scan.header.created_unix_ms,
                    max_timestamp: scan.max_timestamp,
                    index: scan.index,
                    version: scan.version,
                };
                if !last {
                    report.rebuilt_indexes += 1;
                    if !cut_after {
                        let _ = write_index(dir, &s);
                    }
                }
                s
            }
        };
        expected = Some(seg.next_offset);
        if last || cut_after {
            // The tail's index is kept in memory and written when it is sealed.
            let _ = fs::remove_file(dir.join(index_file_name(base)));
            active = Some(seg);
            if cut_after {
                // Records after a torn segment would leave a gap in the offsets: drop them.
                for &later in &bases[i + 1..] {
                    let p = dir.join(segment_file_name(later));
                    fs::remove_file(&p).map_err(io_err(&p))?;
                    let _ = fs::remove_file(dir.join(index_file_name(later)));
                    report.removed_segments.push(p);
                }
                fsync_dir(dir)?;
            }
            break;
        }
        sealed.insert(base, seg);
        i += 1;
    }
    let active = match active {
        Some(a) if a.version != format::FORMAT_VERSION => {
            // A tail written by an older release: appends never go into an old-format segment.
            let created = clock.unix_millis();
            if a.next_offset == a.base {
                // Empty: replace it by a current one of the same base offset.
                fs::remove_file(&a.path).map_err(io_err(&a.path))?;
                create_segment(dir, a.base, created, true)?
            } else {
                let _ = write_index(dir, &a);
                let next = a.next_offset;
                sealed.insert(a.base, a);
                create_segment(dir, next, created, true)?
            }
        }
        Some(a) => a,
        None => {
            let base = expected.unwrap_or(0);
            create_segment(dir, base, clock.unix_millis(), true)?
        }
    };
    let sealed_bytes = sealed.values().map(|s| s.len).sum();
    let next_offset = active.next_offset;
    let last_indexed_pos = active.index.last().map_or(0, |e| e.1);
    Ok((
        State {
            sealed,
            sealed_bytes,
            active,
            buf: Vec::with_capacity(cfg.write_buffer_bytes + 1024),
            batch_open: false,
            batch_start: 0,
            batch_base: next_offset,
            next_offset,
            last_indexed_pos,
            unsynced: 0,
            last_sync: clock.now(),
            poisoned: false,
            appends: 0,
            appended_bytes: 0,
            rolls: 0,
            segments_deleted: 0,
        },
        report,
    ))
}
