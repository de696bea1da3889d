//! The topic: N partitions, producing, reading, retention and compaction.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ember_core::clock::{Clock, SharedClock, Signal, SystemClock, WaitOutcome};
use ember_core::partition::{HashPartitioner, Partitioner};
use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::group::GroupShared;
use crate::pending::WorkGroupShared;
use crate::pubsub::PubSub;
use crate::record::{Bytes, Message, NewRecord, Record, RecordId};
use crate::storage::{
    CopiedRecord, MemoryStorage, PartitionStorage, StoredRecord, TrimLimits, Trimmed,
};
use crate::timeindex::OffsetAndTimestamp;

/// How unkeyed records are spread over partitions.
///
/// Keyed records always go to the partition of their key (the topic's [`Partitioner`], Kafka's murmur2 by
/// default), so per-key order holds. An [`append_batch`](Topic::append_batch) puts all its unkeyed
/// records in one partition, the next in turn (as Kafka's sticky partitioner fills one batch at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnkeyedPolicy {
    /// Each unkeyed record goes to the next partition in turn. The default.
    #[default]
    RoundRobin,
    /// Kafka's sticky partitioner: `records` consecutive unkeyed records go to one partition, then the
    /// next partition is used (fewer, larger batches per partition).
    Sticky {
        /// How many records stick to a partition before switching (at least 1).
        records: u32,
    },
}

/// Retention: how long and how much a topic keeps, per partition. Every limit is optional; the default
/// keeps everything. Records are removed from the head (oldest first) while any limit is exceeded.
///
/// - `max_age` (Kafka `retention.ms`, Redis `MINID` by time): records appended longer ago than this, by the
///   topic's clock, are removed. Judged by *append* time, not by a producer-set event timestamp, so a
///   replayed old event is not trimmed on arrival.
/// - `max_bytes` (Kafka `retention.bytes`): keep at most this many payload bytes per partition.
/// - `max_records` (Redis `MAXLEN`): keep at most this many records per partition.
///
/// Count and size limits are enforced on every append; the age limit on append and before every read,
/// so a topic nobody writes to still forgets old records.
///
/// ```
/// use std::time::Duration;
/// use ember_stream::Retention;
/// let r = Retention::default().max_age(Duration::from_secs(3600)).max_records(10_000);
/// assert_eq!(r.max_records, Some(10_000));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Retention {
    /// Remove records older than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many bytes per partition.
    pub max_bytes: Option<u64>,
    /// Keep at most this many records per partition.
    pub max_records: Option<u64>,
}

impl Retention {
    /// Keeps everything.
    pub fn unlimited() -> Self {
        Self::default()
    }
    /// Sets [`max_age`](Retention::max_age).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }
    /// Sets [`max_bytes`](Retention::max_bytes).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
    /// Sets [`max_records`](Retention::max_records).
    pub fn max_records(mut self, records: u64) -> Self {
        self.max_records = Some(records);
        self
    }

    fn is_unlimited(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none() && self.max_records.is_none()
    }
}

/// Makes the storage of one partition: called with the topic name and the partition number.
pub type StorageFactory = Arc<dyn Fn(&str, u32) -> Result<Box<dyn PartitionStorage>> + Send + Sync>;

/// Configures and builds a [`Topic`]. Get one from [`Topic::builder`].
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_stream::{Retention, Topic, UnkeyedPolicy};
///
/// let topic = Topic::builder("events")
///     .partitions(8)
///     .retention(Retention::default().max_age(Duration::from_secs(7 * 24 * 3600)))
///     .unkeyed(UnkeyedPolicy::Sticky { records: 64 })
///     .subscriber_buffer(4096)
///     .clock(ManualClock::new())
///     .build()
///     .unwrap();
/// assert_eq!(topic.partitions(), 8);
/// ```
#[must_use]
pub struct TopicBuilder {
    name: String,
    partitions: u32,
    retention: Retention,
    clock: SharedClock,
    partitioner: Arc<dyn Partitioner>,
    unkeyed: UnkeyedPolicy,
    subscriber_buffer: usize,
    storage: StorageFactory,
    #[cfg(feature = "durable")]
    durable_dir: Option<std::path::PathBuf>,
    #[cfg(feature = "durable")]
    durable_fsync: ember_log::FsyncPolicy,
}

impl fmt::Debug for TopicBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicBuilder")
            .field("name", &self.name)
            .field("partitions", &self.partitions)
            .field("retention", &self.retention)
            .field("unkeyed", &self.unkeyed)
            .finish_non_exhaustive()
    }
}

impl TopicBuilder {
    /// The number of partitions (default 1, at most 65 536).
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// The retention policy (default: keep everything).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The clock for timestamps, retention by age, blocking reads and group session timeouts (default
    /// [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The partitioner for keyed records (default: Kafka's murmur2, [`HashPartitioner::kafka`]).
    pub fn partitioner(mut self, partitioner: impl Partitioner + 'static) -> Self {
        self.partitioner = Arc::new(partitioner);
        self
    }

    /// How unkeyed records are spread (default [`UnkeyedPolicy::RoundRobin`]).
    pub fn unkeyed(mut self, policy: UnkeyedPolicy) -> Self {
        self.unkeyed = policy;
        self
    }

    /// How many records each pub/sub subscriber may have waiting before it starts missing messages
    /// (default 1024).
    pub fn subscriber_buffer(mut self, records: usize) -> Self {
        self.subscriber_buffer = records;
        self
    }

    /// Durable mode: each partition in an `ember-log` segmented log under `dir` (`<dir>/<topic>-<p>/`),
    /// synced by `fsync`, and consumer groups' committed offsets in `<dir>/<topic>.groups/`. Building the
    /// topic again on the same directory (after a restart or a crash) resumes every partition's offsets
    /// and every group's committed offsets. See [`crate::durable`].
    #[cfg(feature = "durable")]
    pub fn durable(
        mut self,
        dir: impl Into<std::path::PathBuf>,
        fsync: ember_log::FsyncPolicy,
    ) -> Self {
        let dir = dir.into();
        self.durable_dir = Some(dir.clone());
        self.durable_fsync = fsync;
        self.storage(move |topic: &str, partition: u32| {
            let storage = crate::durable::LogStorage::open(
                &crate::durable::partition_dir(&dir, topic, partition),
                partition,
                fsync,
            )?;
            Ok(Box::new(storage) as Box<dyn PartitionStorage>)
        })
    }

    /// Where partitions keep their records (default: [`MemoryStorage`]). See [`crate::storage`].
    pub fn storage<F>(mut self, factory: F) -> Self
    where
        F: Fn(&str, u32) -> Result<Box<dyn PartitionStorage>> + Send + Sync + 'static,
    {
        self.storage = Arc::new(factory);
        self
    }

    /// Builds the topic.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for 0 or more than 65 536 partitions, a zero retention limit, a zero
    /// subscriber buffer or a sticky policy of 0 records; whatever the storage factory returns.
    pub fn build(self) -> Result<Topic> {
        if self.partitions == 0 || self.partitions > 65_536 {
            return Err(Error::InvalidConfig(format!(
                "partitions must be in 1..=65536, got {}",
                self.partitions
            )));
        }
        let r = &self.retention;
        if r.max_age == Some(Duration::ZERO) || r.max_bytes == Some(0) || r.max_records == Some(0) {
            return Err(Error::InvalidConfig(
                "retention limits must be positive (leave a limit unset for no limit)".into(),
            ));
        }
        if self.subscriber_buffer == 0 {
            return Err(Error::InvalidConfig(
                "subscriber_buffer must be at least 1".into(),
            ));
        }
        if self.unkeyed == (UnkeyedPolicy::Sticky { records: 0 }) {
            return Err(Error::InvalidConfig(
                "a sticky policy needs at least 1 record".into(),
            ));
        }
        let partitions = (0..self.partitions)
            .map(|p| {
                Ok(Partition {
                    log: RwLock::new(PartitionLog {
                        storage: (self.storage)(&self.name, p)?,
                        appended: 0,
                        appended_bytes: 0,
                        trimmed: 0,
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let sticky = match self.unkeyed {
            UnkeyedPolicy::RoundRobin => 1,
            UnkeyedPolicy::Sticky { records } => u64::from(records),
        };
        Ok(Topic {
            inner: Arc::new(TopicInner {
                name: self.name,
                partitions: partitions.into_boxed_slice(),
                retention: self.retention,
                clock: self.clock,
                partitioner: self.partitioner,
                sticky,
                unkeyed_counter: AtomicU64::new(0),
                signal: Signal::new(),
                pubsub: PubSub::new(self.subscriber_buffer),
                groups: Mutex::new(HashMap::new()),
                work_groups: Mutex::new(HashMap::new()),
                #[cfg(feature = "durable")]
                durable_dir: self.durable_dir,
                #[cfg(feature = "durable")]
                durable_fsync: self.durable_fsync,
            }),
        })
    }
}

pub(crate) struct Partition {
    pub(crate) log: RwLock<PartitionLog>,
}

/// A partition's storage and the counters kept with it, all under the partition's lock.
pub(crate) struct PartitionLog {
    storage: Box<dyn PartitionStorage>,
    pub(crate) appended: u64,
    pub(crate) appended_bytes: u64,
    pub(crate) trimmed: u64,
}

impl PartitionLog {
    fn count_trimmed(&mut self, t: Trimmed) {
        self.trimmed += t.records;
    }
}

impl std::ops::Deref for PartitionLog {
    type Target = dyn PartitionStorage;
    fn deref(&self) -> &Self::Target {
        &*self.storage
    }
}

impl std::ops::DerefMut for PartitionLog {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.storage
    }
}

pub(crate) struct TopicInner {
    pub(crate) name: String,
    pub(crate) partitions: Box<[Partition]>,
    pub(crate) retention: Retention,
    pub(crate) clock: SharedClock,
    partitioner: Arc<dyn Partitioner>,
    sticky: u64,
    unkeyed_counter: AtomicU64,
    /// Notified on every append and every group change: what blocking reads wait on.
    pub(crate) signal: Signal,
    pub(crate) pubsub: PubSub,
    pub(crate) groups: Mutex<HashMap<String, Arc<GroupShared>>>,
    pub(crate) work_groups: Mutex<HashMap<String, Arc<WorkGroupShared>>>,
    /// The durable mode's directory, if any (groups keep their committed offsets under it).
    #[cfg(feature = "durable")]
    pub(crate) durable_dir: Option<std::path::PathBuf>,
    /// The durable mode's fsync policy (work groups' journals use it too).
    #[cfg(feature = "durable")]
    pub(crate) durable_fsync: ember_log::FsyncPolicy,
}

/// A topic: N partitions, each an append-only log of [`Record`]s with dense offsets.
///
/// `Topic` is a cheap handle (`Clone` shares the same topic) and `Send + Sync`: produce and consume from
/// as many threads as you like. See the [crate docs](crate) for the model.
///
/// ```
/// use ember_stream::Topic;
/// let topic = Topic::builder("chat").partitions(3).build().unwrap();
/// let a = topic.append("room-1", "hi").unwrap();
/// let b = topic.append("room-1", "how are you?").unwrap();
/// assert_eq!(a.partition, b.partition); // same key, same partition
/// assert_eq!(b.offset, a.offset + 1); // dense offsets
/// let history = topic.read(a.partition, 0, 100).unwrap();
/// assert_eq!(history.len(), 2);
/// ```
#[derive(Clone)]
pub struct Topic {
    pub(crate) inner: Arc<TopicInner>,
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .field("partitions", &self.inner.partitions.len())
            .field("retention", &self.inner.retention)
            .finish_non_exhaustive()
    }
}

impl Topic {
    /// A builder for a topic called `name`: 1 partition, unlimited retention, [`SystemClock`].
    pub fn builder(name: impl Into<String>) -> TopicBuilder {
        TopicBuilder {
            name: name.into(),
            partitions: 1,
            retention: Retention::default(),
            clock: Arc::new(SystemClock),
            partitioner: Arc::new(HashPartitioner::kafka()),
            unkeyed: UnkeyedPolicy::RoundRobin,
            subscriber_buffer: 1024,
            storage: Arc::new(|_, _| Ok(Box::new(MemoryStorage::new()))),
            #[cfg(feature = "durable")]
            durable_dir: None,
            #[cfg(feature = "durable")]
            durable_fsync: ember_log::FsyncPolicy::Never,
        }
    }

    /// The topic's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The number of partitions.
    #[must_use]
    pub fn partitions(&self) -> u32 {
        self.inner.partitions.len() as u32
    }

    /// The topic's clock.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The retention policy.
    pub fn retention(&self) -> Retention {
        self.inner.retention
    }

    /// The partition a key belongs to (what [`append`](Topic::append) will use).
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").partitions(50).build().unwrap();
    /// assert_eq!(topic.partition_for(b"foobar"), 16); // as Kafka's Java client places it
    /// ```
    #[must_use]
    pub fn partition_for(&self, key: &[u8]) -> u32 {
        self.inner.partitioner.partition(key, self.partitions())
    }

    pub(crate) fn part(&self, partition: u32) -> Result<&Partition> {
        self.inner
            .partitions
            .get(partition as usize)
            .ok_or(Error::UnknownPartition {
                partition,
                partitions: self.partitions(),
            })
    }

    fn next_unkeyed(&self, count: u64) -> u32 {
        if self.inner.partitions.len() == 1 {
            return 0;
        }
        let c = self
            .inner
            .unkeyed_counter
            .fetch_add(count, Ordering::Relaxed);
        ((c / self.inner.sticky) % u64::from(self.partitions())) as u32
    }

    fn place(&self, msg: &Message, unkeyed: &mut Option<u32>) -> Result<u32> {
        match (msg.partition, &msg.key) {
            (Some(p), _) => {
                self.part(p)?;
                Ok(p)
            }
            (None, Some(key)) => Ok(self.partition_for(key)),
            (None, None) => Ok(*unkeyed.get_or_insert_with(|| self.next_unkeyed(1))),
        }
    }

    /// Appends a keyed record: it goes to the partition of `key`. Returns where it was stored.
    ///
    /// Keys and values are anything that converts into [`Bytes`] (`&'static str`, `String`, `Vec<u8>`,
    /// `Bytes`...). For borrowed data use `Bytes::copy_from_slice`.
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").partitions(4).build().unwrap();
    /// let id = topic.append(format!("user:{}", 7), "logged in").unwrap();
    /// assert_eq!(id.partition, topic.partition_for(b"user:7"));
    /// ```
    ///
    /// # Errors
    /// Only [`Error::Storage`] from a storage that can fail (never with the default in-memory storage).
    pub fn append(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<RecordId> {
        self.send(Message::keyed(key, value))
    }

    /// Appends an unkeyed record, placed by the topic's [`UnkeyedPolicy`].
    ///
    /// # Errors
    /// As [`append`](Topic::append).
    pub fn append_unkeyed(&self, value: impl Into<Bytes>) -> Result<RecordId> {
        self.send(Message::new(value))
    }

    /// Appends one [`Message`] (key, headers, event timestamp and explicit partition all optional).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] for an explicit partition that does not exist; [`Error::Storage`].
    pub fn send(&self, msg: Message) -> Result<RecordId> {
        let mut unkeyed = None;
        let p = self.place(&msg, &mut unkeyed)?;
        let now = self.inner.clock.unix_millis();
        let part = &self.inner.partitions[p as usize];
        let publish = self.inner.pubsub.active();
        let mut log = part.log.write();
        let offset = self.push(p, &mut log, msg.into_record(), now, publish)?;
        self.after_append(&mut log, now)?;
        drop(log);
        self.inner.signal.notify_all();
        Ok(RecordId::new(p, offset))
    }

    /// Appends one record, copying key and value from borrowed slices into the partition's storage
    /// (the in-memory storage writes them into large segments, like a log's bytes: no allocation per
    /// record). `key` `None` is an unkeyed record.
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").partitions(2).build().unwrap();
    /// let frame = b"sensor-7:21.5C".to_vec();
    /// let id = topic.append_copy(Some(&frame[..8]), &frame[9..]).unwrap();
    /// assert_eq!(topic.read(id.partition, id.offset, 1).unwrap()[0].value_str(), Some("21.5C"));
    /// ```
    ///
    /// # Errors
    /// As [`append`](Topic::append).
    pub fn append_copy(&self, key: Option<&[u8]>, value: &[u8]) -> Result<RecordId> {
        let p = match key {
            Some(k) => self.partition_for(k),
            None => self.next_unkeyed(1),
        };
        let now = self.inner.clock.unix_millis();
        let publish = self.inner.pubsub.active();
        let part = &self.inner.partitions[p as usize];
        let mut log = part.log.write();
        let offset = self.push_copy(p, &mut log, key, value, now, publish)?;
        self.after_append(&mut log, now)?;
        drop(log);
        self.inner.signal.notify_all();
        Ok(RecordId::new(p, offset))
    }

    /// Appends many `(key, value)` records copied from borrowed slices, as
    /// [`append_copy`](Topic::append_copy) does one, taking each partition's lock once. Placement as in
    /// [`append_batch`](Topic::append_batch). Returns the ids in the order given.
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").build().unwrap();
    /// let lines = ["a", "b", "c"];
    /// let ids = topic.append_batch_copy(lines.iter().map(|l| (None, l.as_bytes()))).unwrap();
    /// assert_eq!(ids.iter().map(|id| id.offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    /// ```
    ///
    /// # Errors
    /// As [`append`](Topic::append).
    pub fn append_batch_copy<'a>(
        &self,
        records: impl IntoIterator<Item = (Option<&'a [u8]>, &'a [u8])>,
    ) -> Result<Vec<RecordId>> {
        let records: Vec<(Option<&[u8]>, &[u8])> = records.into_iter().collect();
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut unkeyed = None;
        let placed: Vec<u32> = records
            .iter()
            .map(|(k, _)| match k {
                Some(k) => self.partition_for(k),
                None => *unkeyed.get_or_insert_with(|| self.next_unkeyed(1)),
            })
            .collect();
        let now = self.inner.clock.unix_millis();
        let publish = self.inner.pubsub.active();
        let mut ids = vec![RecordId::default(); records.len()];
        let mut write = |p: u32, items: &mut dyn Iterator<Item = usize>| -> Result<()> {
            let part = &self.inner.partitions[p as usize];
            let mut log = part.log.write();
            for i in items {
                let (key, value) = records[i];
                ids[i] = RecordId::new(p, self.push_copy(p, &mut log, key, value, now, publish)?);
            }
            self.after_append(&mut log, now)
        };
        let first = placed[0];
        if placed.iter().all(|&p| p == first) {
            write(first, &mut (0..records.len()))?;
        } else {
            for p in 0..self.partitions() {
                let mut mine = placed
                    .iter()
                    .enumerate()
                    .filter(|&(_, &q)| q == p)
                    .map(|(i, _)| i)
                    .peekable();
                if mine.peek().is_some() {
                    write(p, &mut mine)?;
                }
            }
        }
        self.inner.signal.notify_all();
        Ok(ids)
    }

    /// Appends many messages, taking each partition's lock once. Returns their ids, in the order given.
    ///
    /// All the batch's unkeyed messages (without explicit partition) go to one partition, the next in
    /// turn. Order is kept within each partition.
    ///
    /// ```
    /// use ember_stream::{Message, Topic};
    /// let topic = Topic::builder("t").partitions(2).build().unwrap();
    /// let ids = topic.append_batch((0..10).map(|i| Message::new(format!("event {i}")))).unwrap();
    /// assert_eq!(ids.len(), 10);
    /// assert!(ids.windows(2).all(|w| w[1].offset == w[0].offset + 1));
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] if a message names a partition that does not exist (then nothing is
    /// appended); [`Error::Storage`].
    pub fn append_batch(
        &self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<Vec<RecordId>> {
        let messages: Vec<Message> = messages.into_iter().collect();
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut unkeyed = None;
        let placed: Vec<u32> = messages
            .iter()
            .map(|m| self.place(m, &mut unkeyed))
            .collect::<Result<_>>()?;
        let now = self.inner.clock.unix_millis();
        let publish = self.inner.pubsub.active();
        let mut ids = vec![RecordId::default(); messages.len()];
        let first = placed[0];
        if placed.iter().all(|&p| p == first) {
            // The common case: one lock, records in order.
            let part = &self.inner.partitions[first as usize];
            let mut log = part.log.write();
            for (msg, id) in messages.into_iter().zip(ids.iter_mut()) {
                *id = RecordId::new(
                    first,
                    self.push(first, &mut log, msg.into_record(), now, publish)?,
                );
            }
            self.after_append(&mut log, now)?;
        } else {
            let mut by_partition: Vec<Vec<(usize, Message)>> =
                (0..self.partitions()).map(|_| Vec::new()).collect();
            for (i, (msg, p)) in messages.into_iter().zip(placed).enumerate() {
                by_partition[p as usize].push((i, msg));
            }
            for (p, batch) in by_partition.into_iter().enumerate() {
                if batch.is_empty() {
                    continue;
                }
                let part = &self.inner.partitions[p];
                let mut log = part.log.write();
                for (i, msg) in batch {
                    let offset = self.push(p as u32, &mut log, msg.into_record(), now, publish)?;
                    ids[i] = RecordId::new(p as u32, offset);
                }
                self.after_append(&mut log, now)?;
            }
        }
        self.inner.signal.notify_all();
        Ok(ids)
    }

    /// Appends one record under the partition's write lock.
    #[inline]
    fn push(
        &self,
        p: u32,
        log: &mut PartitionLog,
        new: NewRecord,
        now: u64,
        publish: bool,
    ) -> Result<u64> {
        let offset = log.next_offset();
        let record = Record {
            partition: p,
            offset,
            timestamp: new.timestamp.unwrap_or(now),
            key: new.key,
            value: new.value,
            headers: new.headers,
        };
        let size = record.size() as u64;
        if publish {
            self.inner.pubsub.publish(&record);
        }
        log.append(StoredRecord {
            record,
            append_millis: now,
        })?;
        log.appended += 1;
        log.appended_bytes += size;
        Ok(offset)
    }

    /// Appends one record copied from borrowed slices under the partition's write lock.
    #[inline]
    fn push_copy(
        &self,
        p: u32,
        log: &mut PartitionLog,
        key: Option<&[u8]>,
        value: &[u8],
        now: u64,
        publish: bool,
    ) -> Result<u64> {
        let offset = log.next_offset();
        if publish {
            self.inner.pubsub.publish(&Record {
                partition: p,
                offset,
                timestamp: now,
                key: key.map(Bytes::copy_from_slice),
                value: Bytes::copy_from_slice(value),
                headers: Vec::new(),
            });
        }
        log.append_copy(CopiedRecord {
            partition: p,
            offset,
            timestamp: now,
            append_millis: now,
            key,
            value,
        })?;
        log.appended += 1;
        log.appended_bytes += (key.map_or(0, <[u8]>::len) + value.len()) as u64;
        Ok(offset)
    }

    fn limits(&self, now: u64) -> TrimLimits {
        let r = &self.inner.retention;
        TrimLimits {
            max_records: r.max_records,
            max_bytes: r.max_bytes,
            min_append_millis: r
                .max_age
                .map(|age| now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))),
            min_offset: None,
        }
    }

    fn over_limits(log: &dyn PartitionStorage, limits: &TrimLimits) -> bool {
        limits.max_records.is_some_and(|m| log.len() > m)
            || limits.max_bytes.is_some_and(|m| log.bytes() > m)
            || limits
                .min_append_millis
                .is_some_and(|t| log.head_append_millis().is_some_and(|h| h < t))
    }

    #[inline]
    fn after_append(&self, log: &mut PartitionLog, now: u64) -> Result<()> {
        if self.inner.retention.is_unlimited() {
            return Ok(());
        }
        let limits = self.limits(now);
        if Self::over_limits(&**log, &limits) {
            let t = log.trim(&limits)?;
            log.count_trimmed(t);
        }
        Ok(())
    }

    /// Applies age retention to a partition before it is read.
    pub(crate) fn expire(&self, part: &Partition) -> Result<()> {
        if self.inner.retention.max_age.is_none() {
            return Ok(());
        }
        let limits = self.limits(self.inner.clock.unix_millis());
        if Self::over_limits(&**part.log.read(), &limits) {
            let mut log = part.log.write();
            let t = log.trim(&limits)?;
            log.count_trimmed(t);
        }
        Ok(())
    }

    /// The first stored offset and the log end offset (the next offset to be written) of a partition,
    /// after applying age retention.
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").build().unwrap();
    /// topic.append_unkeyed("a").unwrap();
    /// assert_eq!(topic.offsets(0).unwrap(), (0, 1));
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::Storage`].
    pub fn offsets(&self, partition: u32) -> Result<(u64, u64)> {
        let part = self.part(partition)?;
        self.expire(part)?;
        let log = part.log.read();
        Ok((log.earliest(), log.next_offset()))
    }

    /// Kafka's `offsetsForTimes` for one partition: the first retained record, in offset order, whose
    /// timestamp is at or after `timestamp` (Unix milliseconds), as its offset and timestamp; `None` if
    /// no retained record has such a timestamp. Age retention is applied first, as for reads.
    ///
    /// - A time older than every retained record gives the first retained record (the log start).
    /// - Records trimmed by retention or removed by compaction are never returned.
    /// - Equal timestamps: the earliest offset wins.
    /// - **Timestamps that go backwards** (producer-set event times, [`Message::timestamp`]): the answer
    ///   is the earliest *offset* whose timestamp is `>= timestamp`, as Kafka answers, not the record
    ///   whose timestamp is nearest. Reading from it never skips a record at or after the time; records
    ///   with older timestamps may follow it.
    ///
    /// Each partition keeps a sparse time index (see [`storage::PartitionStorage::offset_for_time`](crate::storage::PartitionStorage::offset_for_time)),
    /// so a lookup costs a few hundred comparisons however long the partition is.
    ///
    /// ```
    /// use ember_stream::{Message, OffsetAndTimestamp, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// // Event times, out of order: offsets 0..4 carry 10, 30, 20, 40.
    /// for ts in [10, 30, 20, 40] {
    ///     topic.send(Message::new("e").timestamp(ts)).unwrap();
    /// }
    /// let at = |ts| topic.offset_for_time(0, ts).unwrap().map(|o| o.offset);
    /// assert_eq!(at(0), Some(0)); // older than everything: the log start
    /// assert_eq!(at(20), Some(1)); // the first offset at or after 20 holds 30
    /// assert_eq!(at(31), Some(3));
    /// assert_eq!(at(41), None); // nothing that late yet
    /// assert_eq!(
    ///     topic.offset_for_time(0, 40).unwrap(),
    ///     Some(OffsetAndTimestamp { offset: 3, timestamp: 40 })
    /// );
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::Storage`].
    pub fn offset_for_time(
        &self,
        partition: u32,
        timestamp: u64,
    ) -> Result<Option<OffsetAndTimestamp>> {
        let part = self.part(partition)?;
        self.expire(part)?;
        let log = part.log.read();
        log.offset_for_time(timestamp)
    }

    /// [`offset_for_time`](Topic::offset_for_time) for several partitions at once, as Kafka's
    /// `offsetsForTimes(Map<TopicPartition, Long>)`: one `(partition, timestamp)` per partition (a
    /// partition given twice is looked up with its last timestamp). Returns each partition's answer.
    ///
    /// ```
    /// use ember_stream::{Message, Topic};
    /// let topic = Topic::builder("t").partitions(2).build().unwrap();
    /// for (p, ts) in [(0, 100), (0, 200), (1, 150)] {
    ///     topic.send(Message::new("x").partition(p).timestamp(ts)).unwrap();
    /// }
    /// let found = topic.offsets_for_times([(0, 150), (1, 160)]).unwrap();
    /// assert_eq!(found[&0].map(|o| o.offset), Some(1));
    /// assert_eq!(found[&1], None);
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] if any partition does not exist (then nothing is looked up);
    /// [`Error::Storage`].
    pub fn offsets_for_times(
        &self,
        timestamps: impl IntoIterator<Item = (u32, u64)>,
    ) -> Result<BTreeMap<u32, Option<OffsetAndTimestamp>>> {
        let wanted: BTreeMap<u32, u64> = timestamps.into_iter().collect();
        for &partition in wanted.keys() {
            self.part(partition)?;
        }
        wanted
            .into_iter()
            .map(|(p, ts)| Ok((p, self.offset_for_time(p, ts)?)))
            .collect()
    }

    /// Where a reader of `partition` goes to read from `timestamp` on: the answer of
    /// [`offset_for_time`](Topic::offset_for_time), or the log end offset when no retained record is
    /// that late (Kafka's reset tool and `auto.offset.reset=by_duration` do the same).
    pub(crate) fn position_for_time(&self, partition: u32, timestamp: u64) -> Result<u64> {
        let part = self.part(partition)?;
        self.expire(part)?;
        // One lock: a record appended between the lookup and reading the end is not skipped.
        let log = part.log.read();
        Ok(match log.offset_for_time(timestamp)? {
            Some(found) => found.offset,
            None => log.next_offset(),
        })
    }

    /// Checks a position a reader or a group may be set to: at most the log end offset and, if
    /// `retained`, at least the earliest retained offset.
    ///
    /// # Errors
    /// [`Error::OffsetOutOfRange`] outside that range; as for [`offsets`](Topic::offsets).
    pub(crate) fn check_position(&self, partition: u32, offset: u64, retained: bool) -> Result<()> {
        let (earliest, latest) = self.offsets(partition)?;
        if offset > latest || (retained && offset < earliest) {
            return Err(Error::OffsetOutOfRange {
                partition,
                offset,
                earliest,
                latest,
            });
        }
        Ok(())
    }

    /// Reads up to `max` records of `partition` starting at offset `from`: replay from any retained
    /// offset. Reading at the log end offset returns an empty vector.
    ///
    /// After compaction a partition has gaps; reading from a removed offset starts at the next record.
    ///
    /// ```
    /// use ember_stream::{Error, Retention, Topic};
    /// let topic = Topic::builder("t").retention(Retention::default().max_records(2)).build().unwrap();
    /// for v in ["a", "b", "c"] {
    ///     topic.append_unkeyed(v).unwrap();
    /// }
    /// let tail: Vec<_> = topic.read(0, 1, 10).unwrap().iter().map(|r| r.offset).collect();
    /// assert_eq!(tail, vec![1, 2]);
    /// assert!(matches!(
    ///     topic.read(0, 0, 10),
    ///     Err(Error::OffsetOutOfRange { earliest: 1, latest: 3, .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::OffsetOutOfRange`] if `from` was trimmed or is past the log
    /// end offset; [`Error::Storage`].
    pub fn read(&self, partition: u32, from: u64, max: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        self.read_into(partition, from, max, &mut out)?;
        Ok(out)
    }

    /// As [`read`](Topic::read), appending to `out` (lets a consumer reuse its buffer).
    ///
    /// # Errors
    /// As [`read`](Topic::read).
    pub fn read_into(
        &self,
        partition: u32,
        from: u64,
        max: usize,
        out: &mut Vec<Record>,
    ) -> Result<usize> {
        let part = self.part(partition)?;
        self.expire(part)?;
        let log = part.log.read();
        let (earliest, latest) = (log.earliest(), log.next_offset());
        if from < earliest || from > latest {
            return Err(Error::OffsetOutOfRange {
                partition,
                offset: from,
                earliest,
                latest,
            });
        }
        let before = out.len();
        if from < latest && max > 0 {
            log.read(from, max, out)?;
        }
        Ok(out.len() - before)
    }

    /// As [`read`](Topic::read), but when there is nothing at `from` yet, waits up to `timeout` (by the
    /// topic's clock, so a [`ManualClock`](ember_core::ManualClock) advance ends the wait) for a record to
    /// be appended. Returns an empty vector on timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("t").build().unwrap();
    /// let t = topic.clone();
    /// let reader = std::thread::spawn(move || t.read_blocking(0, 0, 10, Duration::from_secs(30)).unwrap());
    /// topic.append_unkeyed("wake up").unwrap();
    /// assert_eq!(reader.join().unwrap().len(), 1);
    /// ```
    ///
    /// # Errors
    /// As [`read`](Topic::read).
    pub fn read_blocking(
        &self,
        partition: u32,
        from: u64,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<Record>> {
        let deadline = self.inner.clock.now() + timeout;
        loop {
            let seen = self.inner.signal.epoch();
            let records = self.read(partition, from, max)?;
            if !records.is_empty() || max == 0 {
                return Ok(records);
            }
            if self.wait(seen, deadline) == WaitOutcome::TimedOut {
                return self.read(partition, from, max);
            }
        }
    }

    /// Waits on the topic's signal (appends and group changes) until `deadline`.
    pub(crate) fn wait(&self, seen: u64, deadline: std::time::Instant) -> WaitOutcome {
        self.inner
            .signal
            .wait(&*self.inner.clock, seen, Some(deadline))
    }

    /// Trims one partition now (Redis `XTRIM`): `MAXLEN` with `max_records`, `MINID` with `min_offset`,
    /// and so on. Returns what was removed.
    ///
    /// ```
    /// use ember_stream::{storage::TrimLimits, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// for i in 0..10u8 {
    ///     topic.append_unkeyed(vec![i]).unwrap();
    /// }
    /// let t = topic.trim(0, &TrimLimits { min_offset: Some(4), ..Default::default() }).unwrap();
    /// assert_eq!(t.records, 4);
    /// assert_eq!(topic.offsets(0).unwrap(), (4, 10));
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::Storage`].
    pub fn trim(&self, partition: u32, limits: &TrimLimits) -> Result<Trimmed> {
        let part = self.part(partition)?;
        let mut log = part.log.write();
        let t = log.trim(limits)?;
        log.count_trimmed(t);
        Ok(t)
    }

    /// Applies the retention policy to every partition now (it is otherwise applied on append and
    /// before reads). Returns what was removed.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn enforce_retention(&self) -> Result<Trimmed> {
        let limits = self.limits(self.inner.clock.unix_millis());
        let mut total = Trimmed::default();
        for part in self.inner.partitions.iter() {
            let mut log = part.log.write();
            let t = log.trim(&limits)?;
            log.count_trimmed(t);
            total.records += t.records;
            total.bytes += t.bytes;
        }
        Ok(total)
    }

    /// Log compaction (Kafka `cleanup.policy=compact`): keeps only the latest record of each key in every
    /// partition. Offsets do not change; gaps appear. Unkeyed records are kept.
    ///
    /// ```
    /// use ember_stream::Topic;
    /// let topic = Topic::builder("prices").build().unwrap();
    /// topic.append("AAPL", "180").unwrap();
    /// topic.append("MSFT", "410").unwrap();
    /// topic.append("AAPL", "182").unwrap();
    /// assert_eq!(topic.compact().unwrap().records, 1);
    /// let latest: Vec<_> = topic.read(0, 0, 10).unwrap().iter().map(|r| r.offset).collect();
    /// assert_eq!(latest, vec![1, 2]);
    /// ```
    ///
    /// # Errors
    /// [`Error::Unsupported`] if the storage cannot compact; [`Error::Storage`].
    pub fn compact(&self) -> Result<Trimmed> {
        let mut total = Trimmed::default();
        for part in self.inner.partitions.iter() {
            let mut log = part.log.write();
            let t = log.compact()?;
            log.count_trimmed(t);
            total.records += t.records;
            total.bytes += t.bytes;
        }
        Ok(total)
    }
}
