//! Configuration: fsync policy, retention, and the builder.

use std::path::PathBuf;
use std::time::Duration;

use ember_core::clock::{SharedClock, SystemClock};

use crate::error::{Error, Result};
use crate::log::Log;

/// When appended records are forced to stable storage with `fsync` (`fdatasync`).
///
/// Records are first framed into an in-process write buffer; *flushing* hands the buffer to the
/// operating system (a `write`), *syncing* makes the OS put it on the disk. What survives what:
///
/// | policy | `append` returns after | process crash (SIGKILL, panic=abort) | OS crash / power loss |
/// |---|---|---|---|
/// | [`Always`](Self::Always) | the record is fsynced | nothing acknowledged lost | nothing acknowledged lost |
/// | [`EveryN(n)`](Self::EveryN) | buffered; every n-th append fsyncs all before it | at most the last `n - 1` acknowledged | at most the last `n - 1` acknowledged |
/// | [`Interval(d)`](Self::Interval) | buffered; the first append at least `d` after the last sync fsyncs | what was appended since the last sync | same |
/// | [`Never`](Self::Never) | buffered | the unflushed buffer (at most `write_buffer_bytes`) | whatever the OS had not written back |
///
/// With every policy a clean shutdown (dropping the last [`Log`] handle, or [`Log::sync`]) loses
/// nothing, and recovery on open always yields a consistent prefix of what was appended: dense offsets,
/// no half record. `Interval` is checked on appends (and on [`Log::sync_if_due`]), so an idle log
/// should be given a timer that calls [`Log::sync_if_due`] if its tail must not wait for the next
/// append. Segment rolls fsync the finished segment under every policy except `Never`.
///
/// Records are stored in CRC'd *batches* (see [`LogBuilder::batch_bytes`]), and recovery drops a torn
/// final batch whole. That never drops an acknowledged-durable record, under any policy: a record is
/// reported durable (`append` returning under `Always`, [`Log::durable_offset`], [`Log::sync`]) only
/// after an fsync, and every fsync is preceded by the flush that seals the open batch and writes it
/// completely, so a batch a crash can tear holds only records appended after the last completed
/// fsync, which the table above already counts as losable (`EveryN`: fewer than `n`; `Interval`:
/// those since the last sync; `Never`: anything not yet written back; `Always`: none acknowledged, as
/// a batch is one fsync group whose appends have not returned yet). Under `Never` and `EveryN` a
/// process crash (the OS survives) loses at most the unflushed write buffer: a flush is one `pwrite`
/// of whole batches.
///
/// Concurrent appenders share fsyncs (group commit): one thread syncs on behalf of every record appended
/// while it waited, so `Always` with several appenders costs far fewer than one fsync per record. When
/// several threads have recently waited for fsyncs at once, the syncing thread first waits briefly
/// (at most half the last fsync's duration, and never with a single appender) for the appenders the
/// previous fsync released, so that one fsync covers all of them (a commit delay, as PostgreSQL's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Fsync before `append` returns: an acknowledged record survives power loss.
    Always,
    /// Fsync on every `n`-th append (n ≥ 1): at most `n - 1` acknowledged records can be lost.
    EveryN(u64),
    /// Fsync on the first append (or [`Log::sync_if_due`]) at least this long after the previous sync,
    /// measured by the log's clock.
    Interval(Duration),
    /// Never fsync on append; the OS writes back when it decides.
    Never,
}

/// Which old segments are deleted. Only whole, sealed segments are ever deleted (never the active one),
/// oldest first, when a segment rolls or on [`Log::apply_retention`].
///
/// ```
/// use std::time::Duration;
/// use ember_log::Retention;
/// let r = Retention::default().max_age(Duration::from_secs(7 * 24 * 3600)).max_bytes(1 << 30);
/// assert_eq!(r.max_bytes, Some(1 << 30));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Delete a sealed segment once its newest record is older than this, by the log's clock (Kafka's
    /// `retention.ms`). A segment's newest record is dated by the later of its largest record
    /// timestamp and the creation time of the segment that followed it.
    pub max_age: Option<Duration>,
    /// Delete the oldest segment while the log would still hold at least this many bytes without it
    /// (Kafka's `retention.bytes`).
    pub max_bytes: Option<u64>,
}

impl Retention {
    /// Keeps everything (the default).
    #[must_use]
    pub fn keep_all() -> Self {
        Self::default()
    }

    /// Sets [`max_age`](Self::max_age).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
}

/// Settings a [`Log`] is opened with; see [`LogBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub segment_age: Option<Duration>,
    pub retention: Retention,
    pub index_interval_bytes: u64,
    pub max_record_bytes: u64,
    pub write_buffer_bytes: usize,
    pub batch_bytes: usize,
}

/// Builds a [`Log`]: `Log::builder(dir)...open()`.
///
/// ```
/// use std::time::Duration;
/// use ember_log::{FsyncPolicy, Log, Retention};
///
/// let dir = tempfile::tempdir().unwrap();
/// let log = Log::builder(dir.path())
///     .fsync(FsyncPolicy::EveryN(100))
///     .segment_bytes(1 << 20)
///     .segment_age(Duration::from_secs(3600))
///     .retention(Retention::default().max_bytes(16 << 20))
///     .open()
///     .unwrap();
/// assert_eq!(log.append(b"hello").unwrap(), 0);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct LogBuilder {
    pub(crate) cfg: Config,
    pub(crate) clock: SharedClock,
}

impl LogBuilder {
    pub(crate) fn new(dir: PathBuf) -> Self {
        LogBuilder {
            cfg: Config {
                dir,
                fsync: FsyncPolicy::EveryN(1000),
                segment_bytes: 64 << 20,
                segment_age: None,
                retention: Retention::default(),
                index_interval_bytes: 4096,
                max_record_bytes: 8 << 20,
                write_buffer_bytes: 256 << 10,
                batch_bytes: 16 << 10,
            },
            clock: std::sync::Arc::new(SystemClock),
        }
    }

    /// The fsync policy (default `EveryN(1000)`).
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.cfg.fsync = policy;
        self
    }

    /// Roll to a new segment before one would grow past this many bytes (default 64 MiB; at least
    /// 1 KiB). A single record larger than this gets a segment of its own.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.cfg.segment_bytes = bytes;
        self
    }

    /// Roll to a new segment once the active one is this old (by the clock's wall time since it was
    /// created), checked on append. Default: no age limit.
    pub fn segment_age(mut self, age: Duration) -> Self {
        self.cfg.segment_age = Some(age);
        self
    }

    /// Which old segments to delete (default: keep all).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.cfg.retention = retention;
        self
    }

    /// Add an entry to the sparse offset index at most every this many bytes (default 4 KiB).
    pub fn index_interval_bytes(mut self, bytes: u64) -> Self {
        self.cfg.index_interval_bytes = bytes;
        self
    }

    /// Largest accepted record, metadata plus payload (default 8 MiB, at most 1 GiB).
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.cfg.max_record_bytes = bytes;
        self
    }

    /// Size of the in-process write buffer (default 256 KiB, at most 1 GiB). Records accumulate in it
    /// and are written as one CRC'd batch when it is full (or on a flush, an fsync, a read of the
    /// active segment, a roll, a close); with [`FsyncPolicy::Never`] it is what a process crash can
    /// lose.
    pub fn write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.cfg.write_buffer_bytes = bytes;
        self
    }

    /// Seal a record batch (one CRC32C over all its records, as in Kafka's record batch) once it holds
    /// this many bytes (default 16 KiB, at most 1 GiB); a batch is also sealed at every flush of the
    /// write buffer, so it is never larger than the buffer plus one record. Larger batches cost
    /// nothing more to write; a read of one record checks the CRC of its whole batch, and a torn
    /// final batch is dropped whole by recovery (see [`FsyncPolicy`] for why that loses nothing
    /// acknowledged as durable). `0` or `1`: one batch per record.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = ember_log::Log::builder(dir.path()).batch_bytes(4096).open().unwrap();
    /// log.append(b"x").unwrap();
    /// ```
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.cfg.batch_bytes = bytes;
        self
    }

    /// The clock that stamps records and judges segment and retention age (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl ember_core::Clock + 'static) -> Self {
        self.clock = std::sync::Arc::new(clock);
        self
    }

    /// Opens (creating if needed) the log directory, recovering it: see [`Log`].
    ///
    /// # Errors
    /// [`Error::Config`] for impossible settings, [`Error::AlreadyOpen`], [`Error::Io`], and
    /// [`Error::Corrupt`] when a segment is damaged anywhere but its torn tail.
    pub fn open(self) -> Result<Log> {
        self.validate()?;
        Log::open_with(self)
    }

    /// Same as [`open`](Self::open), under the name every Ember builder uses.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn build(self) -> Result<Log> {
        self.open()
    }

    fn validate(&self) -> Result<()> {
        let c = &self.cfg;
        if c.segment_bytes < 1024 {
            return Err(Error::Config(format!(
                "segment_bytes {} is below 1024",
                c.segment_bytes
            )));
        }
        if let FsyncPolicy::EveryN(0) = c.fsync {
            return Err(Error::Config(
                "FsyncPolicy::EveryN(0): n must be at least 1".into(),
            ));
        }
        if c.index_interval_bytes == 0 {
            return Err(Error::Config(
                "index_interval_bytes must be at least 1".into(),
            ));
        }
        if c.max_record_bytes == 0 || c.max_record_bytes > (1 << 30) {
            return Err(Error::Config(
                "max_record_bytes must be in 1..=1 GiB".into(),
            ));
        }
        if c.write_buffer_bytes > (1 << 30) || c.batch_bytes > (1 << 30) {
            return Err(Error::Config(
                "write_buffer_bytes and batch_bytes must be at most 1 GiB".into(),
            ));
        }
        if c.segment_age == Some(Duration::ZERO) {
            return Err(Error::Config("segment_age must be positive".into()));
        }
        Ok(())
    }
}
