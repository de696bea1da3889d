//! Work groups with pending entries, the Redis Streams model (`XREADGROUP`, `XACK`, `XPENDING`,
//! `XCLAIM`, `XAUTOCLAIM`), for using a topic as a work queue.
//!
//! A [`WorkGroup`] keeps a cursor per partition (the next never-delivered offset) and a **pending entries
//! list** (PEL). [`read`](WorkGroup::read) hands each new record to exactly one named consumer (any
//! partition, no assignment) and records it as pending for that consumer with a delivery count of 1,
//! until the consumer [`ack`](WorkGroup::ack)s it. [`pending`](WorkGroup::pending) and
//! [`pending_entries`](WorkGroup::pending_entries) inspect the list (idle time, delivery count, owner).
//! When a consumer dies, another takes over its entries that have been idle long enough with
//! [`claim`](WorkGroup::claim) or [`autoclaim`](WorkGroup::autoclaim); each claim resets the idle time and
//! increments the delivery count, which is how poison messages are spotted (there is no built-in dead
//! letter queue in Redis either: check `deliveries` and move the record elsewhere).
//!
//! Consumers are just names: they exist once they have read. Idle times are judged by the topic's clock.
//! A pending entry whose record has since been trimmed by retention is dropped from the list when claimed
//! and reported in [`AutoClaim::deleted`].
//!
//! ```
//! use std::time::Duration;
//! use ember_core::ManualClock;
//! use ember_stream::{Start, Topic};
//!
//! let clock = ManualClock::new();
//! let topic = Topic::builder("jobs").partitions(2).clock(clock.clone()).build().unwrap();
//! for i in 0..4 {
//!     topic.append_unkeyed(format!("job {i}")).unwrap();
//! }
//! let group = topic.work_group("workers").start(Start::Earliest).build().unwrap();
//! let taken = group.read("alice", 10).unwrap();
//! assert_eq!(taken.len(), 4);
//! group.ack(&[taken[0].record.id()]);
//! assert_eq!(group.pending().count, 3);
//!
//! // alice crashes; a minute later bob takes over what she left.
//! clock.advance(Duration::from_secs(60));
//! let claimed = group.autoclaim("bob", Duration::from_secs(30), Default::default(), 100).unwrap();
//! assert_eq!(claimed.claimed.len(), 3);
//! assert!(claimed.claimed.iter().all(|d| d.deliveries == 2));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_core::clock::WaitOutcome;
use parking_lot::Mutex;

use crate::consumer::Start;
use crate::error::{Error, Result};
use crate::record::{Record, RecordId};
use crate::topic::Topic;

/// A record handed to a work-group consumer, with how many times it has been delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The record.
    pub record: Record,
    /// How many times it has been delivered (1 on first read; claims add one).
    pub deliveries: u32,
}

/// One entry of a pending entries list (a row of `XPENDING` with a range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The record.
    pub id: RecordId,
    /// The consumer it was delivered to.
    pub consumer: String,
    /// How long ago it was last delivered.
    pub idle: Duration,
    /// How many times it has been delivered.
    pub deliveries: u32,
}

/// The summary form of `XPENDING`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// How many entries are pending.
    pub count: u64,
    /// The smallest pending id.
    pub lowest: Option<RecordId>,
    /// The largest pending id.
    pub highest: Option<RecordId>,
    /// Pending entries per consumer, sorted by name.
    pub consumers: Vec<(String, u64)>,
}

/// Filters for [`WorkGroup::pending_entries`] (the extended form of `XPENDING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingQuery {
    /// Only entries at or after this id.
    pub start: RecordId,
    /// At most this many entries.
    pub count: usize,
    /// Only entries idle for at least this long (`IDLE`).
    pub min_idle: Duration,
    /// Only this consumer's entries.
    pub consumer: Option<String>,
}

impl Default for PendingQuery {
    fn default() -> Self {
        PendingQuery {
            start: RecordId::default(),
            count: usize::MAX,
            min_idle: Duration::ZERO,
            consumer: None,
        }
    }
}

/// The result of [`WorkGroup::autoclaim`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoClaim {
    /// Where the next call should start, or `None` when the scan reached the end of the list (Redis
    /// returns `0-0`).
    pub next: Option<RecordId>,
    /// The entries now owned by the claiming consumer.
    pub claimed: Vec<Delivery>,
    /// Pending entries whose record no longer exists (trimmed); they were removed from the list.
    pub deleted: Vec<RecordId>,
}

#[derive(Debug)]
struct Pending {
    consumer: Arc<str>,
    delivered_at: Instant,
    deliveries: u32,
}

#[derive(Debug)]
struct WgState {
    cursors: Vec<u64>,
    pel: BTreeMap<RecordId, Pending>,
    consumers: BTreeMap<Arc<str>, Instant>,
    rotate: usize,
    delivered: u64,
    acked: u64,
    claimed: u64,
    /// Durable mode: the group's journal (see [`crate::durable`]).
    #[cfg(feature = "durable")]
    journal: Option<crate::durable::WgJournal>,
}

/// Durable mode: journals a change of the group held in `$st` (after the change was made in memory);
/// `Ok(())` at once for an in-memory topic (`$change` is then not even built).
macro_rules! journal {
    ($st:expr, $topic:expr, $change:expr) => {{
        #[cfg(feature = "durable")]
        let r = if $st.journal.is_some() {
            $st.journal_change($topic, $change)
        } else {
            Ok(())
        };
        #[cfg(not(feature = "durable"))]
        let r: Result<()> = Ok(());
        r
    }};
}

impl WgState {
    fn consumer(&mut self, name: &str, now: Instant) -> Arc<str> {
        if let Some((k, seen)) = self.consumers.iter_mut().find(|(k, _)| &***k == name) {
            *seen = now;
            return k.clone();
        }
        let k: Arc<str> = Arc::from(name);
        self.consumers.insert(k.clone(), now);
        k
    }
}

pub(crate) struct WorkGroupShared {
    name: String,
    state: Mutex<WgState>,
}

/// Configures a work group. Get one from [`Topic::work_group`].
#[must_use]
#[derive(Debug)]
pub struct WorkGroupBuilder {
    topic: Topic,
    name: String,
    start: Start,
}

impl WorkGroupBuilder {
    /// Where a new group starts (`XGROUP CREATE ... 0` is [`Start::Earliest`], `$` is [`Start::Latest`],
    /// the default). Ignored if the group exists.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Opens the group: creates it, or returns the existing group of that name on this topic.
    ///
    /// # Errors
    /// [`Error::Storage`] if the partitions' offsets cannot be read.
    pub fn build(self) -> Result<WorkGroup> {
        let mut groups = self.topic.inner.work_groups.lock();
        if let Some(existing) = groups.get(&self.name) {
            return Ok(WorkGroup {
                topic: self.topic.clone(),
                shared: existing.clone(),
            });
        }
        let cursors = (0..self.topic.partitions())
            .map(|p| self.start.resolve(&self.topic, p))
            .collect::<Result<Vec<_>>>()?;
        #[allow(unused_mut)]
        let mut state = WgState {
            cursors,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
            rotate: 0,
            delivered: 0,
            acked: 0,
            claimed: 0,
            #[cfg(feature = "durable")]
            journal: None,
        };
        #[cfg(feature = "durable")]
        state.restore(&self.topic, &self.name)?;
        let shared = Arc::new(WorkGroupShared {
            name: self.name.clone(),
            state: Mutex::new(state),
        });
        groups.insert(self.name, shared.clone());
        drop(groups);
        Ok(WorkGroup {
            topic: self.topic,
            shared,
        })
    }
}

/// A Redis-Streams-style consumer group over a topic. A cheap handle: clones share the group. See the
/// [module docs](self).
#[derive(Clone)]
pub struct WorkGroup {
    topic: Topic,
    shared: Arc<WorkGroupShared>,
}

impl fmt::Debug for WorkGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkGroup")
            .field("topic", &self.topic.name())
            .field("name", &self.shared.name)
            .finish()
    }
}

impl Topic {
    /// Opens (creates or finds) the work group `name` (Redis Streams consumer group with a pending
    /// entries list). See [`crate::pending`].
    pub fn work_group(&self, name: impl Into<String>) -> WorkGroupBuilder {
        WorkGroupBuilder {
            topic: self.clone(),
            name: name.into(),
            start: Start::Latest,
        }
    }

    pub(crate) fn work_group_handles(&self) -> Vec<WorkGroup> {
        let mut groups: Vec<WorkGroup> = self
            .inner
            .work_groups
            .lock()
            .values()
            .map(|shared| WorkGroup {
                topic: self.clone(),
                shared: shared.clone(),
            })
            .collect();
        groups.sort_by(|a, b| a.shared.name.cmp(&b.shared.name));
        groups
    }
}

impl WorkGroup {
    /// The group's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Delivers up to `max` never-delivered records to `consumer` and adds them to the pending entries
    /// list (`XREADGROUP ... >`). Partitions are served in turn. Does not wait.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn read(&self, consumer: &str, max: usize) -> Result<Vec<Delivery>> {
        self.read_inner(consumer, max, true)
    }

    /// As [`read`](WorkGroup::read), without adding to the pending list (`NOACK`): at most once.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn read_noack(&self, consumer: &str, max: usize) -> Result<Vec<Delivery>> {
        self.read_inner(consumer, max, false)
    }

    /// As [`read`](WorkGroup::read), waiting up to `timeout` (by the topic's clock) for new records when
    /// there are none (`BLOCK`).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn read_blocking(
        &self,
        consumer: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<Delivery>> {
        let deadline = self.topic.clock().now() + timeout;
        loop {
            let seen = self.topic.inner.signal.epoch();
            let got = self.read(consumer, max)?;
            if !got.is_empty() || max == 0 {
                return Ok(got);
            }
            if self.topic.wait(seen, deadline) == WaitOutcome::TimedOut {
                return self.read(consumer, max);
            }
        }
    }

    fn read_inner(&self, consumer: &str, max: usize, track: bool) -> Result<Vec<Delivery>> {
        let now = self.topic.clock().now();
        let mut st = self.shared.state.lock();
        let owner = st.consumer(consumer, now);
        let n = st.cursors.len();
        let mut records = Vec::new();
        for i in 0..n {
            if records.len() >= max {
                break;
            }
            let p = (st.rotate + i) % n;
            let (earliest, latest) = self.topic.offsets(p as u32)?;
            let cursor = st.cursors[p].clamp(earliest, latest);
            let before = records.len();
            self.topic
                .read_into(p as u32, cursor, max - records.len(), &mut records)?;
            st.cursors[p] = records[before..].last().map_or(cursor, |r| r.offset + 1);
        }
        if n > 0 {
            st.rotate = (st.rotate + 1) % n;
        }
        st.delivered += records.len() as u64;
        if track {
            for r in &records {
                st.pel.insert(
                    r.id(),
                    Pending {
                        consumer: owner.clone(),
                        delivered_at: now,
                        deliveries: 1,
                    },
                );
            }
        }
        if !records.is_empty() {
            journal!(
                st,
                &self.topic,
                crate::durable::WgChange::Read {
                    consumer,
                    ids: records.iter().map(|r| (r.partition, r.offset)).collect(),
                    track,
                }
            )?;
        }
        Ok(records
            .into_iter()
            .map(|record| Delivery {
                record,
                deliveries: 1,
            })
            .collect())
    }

    /// Re-reads `consumer`'s own pending records (at most `max`, ids after `after`), without changing
    /// their delivery count or idle time (`XREADGROUP ... 0`): what a restarted consumer does first.
    /// Entries whose record was trimmed are skipped.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn read_pending(
        &self,
        consumer: &str,
        after: Option<RecordId>,
        max: usize,
    ) -> Result<Vec<Delivery>> {
        let st = self.shared.state.lock();
        let mut out = Vec::new();
        for (id, e) in &st.pel {
            if out.len() >= max {
                break;
            }
            if after.is_some_and(|a| *id <= a) || &*e.consumer != consumer {
                continue;
            }
            if let Some(record) = self.fetch(*id)? {
                out.push(Delivery {
                    record,
                    deliveries: e.deliveries,
                });
            }
        }
        Ok(out)
    }

    fn fetch(&self, id: RecordId) -> Result<Option<Record>> {
        match self.topic.read(id.partition, id.offset, 1) {
            Ok(mut v) if v.first().is_some_and(|r| r.offset == id.offset) => Ok(v.pop()),
            Ok(_) | Err(Error::OffsetOutOfRange { .. } | Error::UnknownPartition { .. }) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Acknowledges records: removes them from the pending list (`XACK`). Returns how many were pending.
    pub fn ack(&self, ids: &[RecordId]) -> usize {
        let mut st = self.shared.state.lock();
        let n = ids.iter().filter(|id| st.pel.remove(id).is_some()).count();
        st.acked += n as u64;
        if n > 0 {
            // (ids that were not pending replay as no-ops.) A failure is kept by the journal and
            // returned by the group's next fallible call.
            let _ = journal!(
                st,
                &self.topic,
                crate::durable::WgChange::Ack(
                    ids.iter().map(|id| (id.partition, id.offset)).collect()
                )
            );
        }
        n
    }

    /// The pending list's summary (`XPENDING key group`).
    #[must_use]
    pub fn pending(&self) -> PendingSummary {
        let st = self.shared.state.lock();
        let mut per: BTreeMap<&str, u64> = BTreeMap::new();
        for e in st.pel.values() {
            *per.entry(&e.consumer).or_default() += 1;
        }
        PendingSummary {
            count: st.pel.len() as u64,
            lowest: st.pel.keys().next().copied(),
            highest: st.pel.keys().next_back().copied(),
            consumers: per.into_iter().map(|(c, n)| (c.to_owned(), n)).collect(),
        }
    }

    /// Pending entries matching `query`, in id order (`XPENDING key group [IDLE t] start end count
    /// [consumer]`).
    #[must_use]
    pub fn pending_entries(&self, query: &PendingQuery) -> Vec<PendingEntry> {
        let now = self.topic.clock().now();
        let st = self.shared.state.lock();
        st.pel
            .range(query.start..)
            .map(|(id, e)| (id, e, now.saturating_duration_since(e.delivered_at)))
            .filter(|(_, e, idle)| {
                *idle >= query.min_idle
                    && query.consumer.as_deref().is_none_or(|c| c == &*e.consumer)
            })
            .take(query.count)
            .map(|(id, e, idle)| PendingEntry {
                id: *id,
                consumer: e.consumer.to_string(),
                idle,
                deliveries: e.deliveries,
            })
            .collect()
    }

    /// Gives `consumer` the listed pending entries that have been idle for at least `min_idle` (`XCLAIM`):
    /// their idle time restarts and their delivery count grows by one. Entries not pending, not idle long
    /// enough, or whose record was trimmed (those are removed from the list) are left out of the result.
    /// Two consumers claiming the same entry with the same `min_idle`: only the first gets it.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn claim(
        &self,
        consumer: &str,
        min_idle: Duration,
        ids: &[RecordId],
    ) -> Result<Vec<Delivery>> {
        let now = self.topic.clock().now();
        let mut st = self.shared.state.lock();
        let owner = st.consumer(consumer, now);
        let mut out = Vec::new();
        #[allow(unused_mut)]
        let mut gone: Vec<(u32, u64)> = Vec::new();
        for id in ids {
            let Some(e) = st.pel.get(id) else { continue };
            if now.saturating_duration_since(e.delivered_at) < min_idle {
                continue;
            }
            match self.fetch(*id)? {
                Some(record) => {
                    let e = st.pel.get_mut(id).expect("checked above");
                    e.consumer = owner.clone();
                    e.delivered_at = now;
                    e.deliveries += 1;
                    out.push(Delivery {
                        record,
                        deliveries: e.deliveries,
                    });
                }
                None => {
                    st.pel.remove(id);
                    gone.push((id.partition, id.offset));
                }
            }
        }
        st.claimed += out.len() as u64;
        if !gone.is_empty() {
            journal!(st, &self.topic, crate::durable::WgChange::Forget(gone))?;
        }
        if !out.is_empty() {
            journal!(
                st,
                &self.topic,
                crate::durable::WgChange::Claim {
                    consumer,
                    ids: out
                        .iter()
                        .map(|d| (d.record.partition, d.record.offset))
                        .collect(),
                }
            )?;
        }
        Ok(out)
    }

    /// Scans the pending list from `start` and gives `consumer` up to `count` entries idle for at least
    /// `min_idle` (`XAUTOCLAIM`). Scans at most `10 × count` entries per call, like Redis; call again with
    /// [`AutoClaim::next`] until it is `None`.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn autoclaim(
        &self,
        consumer: &str,
        min_idle: Duration,
        start: RecordId,
        count: usize,
    ) -> Result<AutoClaim> {
        let now = self.topic.clock().now();
        let mut st = self.shared.state.lock();
        let owner = st.consumer(consumer, now);
        let mut result = AutoClaim::default();
        let scan_limit = count.saturating_mul(10).max(1);
        let ids: Vec<RecordId> = st
            .pel
            .range(start..)
            .take(scan_limit + 1)
            .map(|(id, _)| *id)
            .collect();
        for (scanned, id) in ids.into_iter().enumerate() {
            if scanned == scan_limit || result.claimed.len() == count {
                result.next = Some(id);
                break;
            }
            let e = &st.pel[&id];
            if now.saturating_duration_since(e.delivered_at) < min_idle {
                continue;
            }
            match self.fetch(id)? {
                Some(record) => {
                    let e = st.pel.get_mut(&id).expect("listed above");
                    e.consumer = owner.clone();
                    e.delivered_at = now;
                    e.deliveries += 1;
                    result.claimed.push(Delivery {
                        record,
                        deliveries: e.deliveries,
                    });
                }
                None => {
                    st.pel.remove(&id);
                    result.deleted.push(id);
                }
            }
        }
        st.claimed += result.claimed.len() as u64;
        if !result.deleted.is_empty() {
            journal!(
                st,
                &self.topic,
                crate::durable::WgChange::Forget(
                    result
                        .deleted
                        .iter()
                        .map(|id| (id.partition, id.offset))
                        .collect()
                )
            )?;
        }
        if !result.claimed.is_empty() {
            journal!(
                st,
                &self.topic,
                crate::durable::WgChange::Claim {
                    consumer,
                    ids: result
                        .claimed
                        .iter()
                        .map(|d| (d.record.partition, d.record.offset))
                        .collect(),
                }
            )?;
        }
        Ok(result)
    }

    /// Moves the group's cursor of `partition` (`XGROUP SETID`): the next [`read`](WorkGroup::read)
    /// delivers from `offset` (0 replays the partition from its earliest retained record).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::OffsetOutOfRange`] past the log end.
    pub fn set_cursor(&self, partition: u32, offset: u64) -> Result<()> {
        self.topic.check_position(partition, offset, false)?;
        let mut st = self.shared.state.lock();
        st.cursors[partition as usize] = offset;
        journal!(
            st,
            &self.topic,
            crate::durable::WgChange::Cursor(partition, offset)
        )
    }

    /// Moves the group's cursor of `partition` to the first record whose timestamp is at or after
    /// `timestamp` (Unix milliseconds), or to the log end if no retained record is that late: `XGROUP
    /// SETID` with a time, as Redis stream ids are times. Returns the new cursor. The rule for
    /// timestamps that go backwards is [`Topic::offset_for_time`]'s.
    ///
    /// ```
    /// use ember_stream::{Message, Start, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// for ts in [100, 200, 300] {
    ///     topic.send(Message::new(format!("{ts}")).timestamp(ts)).unwrap();
    /// }
    /// let group = topic.work_group("w").start(Start::Latest).build().unwrap();
    /// assert_eq!(group.set_cursor_to_time(0, 150).unwrap(), 1);
    /// assert_eq!(group.read("c", 10).unwrap().len(), 2);
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::Storage`].
    pub fn set_cursor_to_time(&self, partition: u32, timestamp: u64) -> Result<u64> {
        let offset = self.topic.position_for_time(partition, timestamp)?;
        self.set_cursor(partition, offset)?;
        Ok(offset)
    }

    /// Removes a consumer and its pending entries (`XGROUP DELCONSUMER`). Returns how many entries it had.
    pub fn remove_consumer(&self, consumer: &str) -> usize {
        let mut st = self.shared.state.lock();
        st.consumers.retain(|k, _| &**k != consumer);
        let before = st.pel.len();
        st.pel.retain(|_, e| &*e.consumer != consumer);
        // A failure is kept by the journal and returned by the group's next fallible call.
        let _ = journal!(
            st,
            &self.topic,
            crate::durable::WgChange::RemoveConsumer(consumer)
        );
        before - st.pel.len()
    }

    /// A snapshot of the group.
    #[must_use]
    pub fn stats(&self) -> crate::stats::WorkGroupStats {
        let st = self.shared.state.lock();
        let cursors = st.cursors.clone();
        let snapshot = crate::stats::WorkGroupStats {
            name: self.shared.name.clone(),
            consumers: st.consumers.len(),
            pending: st.pel.len() as u64,
            delivered: st.delivered,
            acked: st.acked,
            claimed: st.claimed,
            lag: 0,
        };
        drop(st);
        let lag = cursors
            .iter()
            .enumerate()
            .map(|(p, &c)| {
                let (earliest, latest) = self.topic.offsets(p as u32).unwrap_or((0, 0));
                latest.saturating_sub(c.max(earliest))
            })
            .sum();
        crate::stats::WorkGroupStats { lag, ..snapshot }
    }
}

// ---- durable mode: the work group's journal (see `crate::durable`) ----

#[cfg(feature = "durable")]
impl WgState {
    /// Opens the group's journal if the topic is durable and restores what it holds (cursors,
    /// consumers, pending entries); a new group's starting cursors are journaled at once.
    fn restore(&mut self, topic: &Topic, name: &str) -> Result<()> {
        let Some(dir) = &topic.inner.durable_dir else {
            return Ok(());
        };
        let path = crate::durable::work_group_dir(dir, topic.name(), name);
        let (journal, image) = crate::durable::WgJournal::open(&path, topic.inner.durable_fsync)?;
        self.journal = Some(journal);
        if !image.exists {
            return self.snapshot(topic);
        }
        let now = topic.clock().now();
        let now_ms = topic.clock().unix_millis();
        for (p, c) in image.cursors.into_iter().enumerate() {
            if let Some(cursor) = self.cursors.get_mut(p) {
                *cursor = c;
            }
        }
        for consumer in image.consumers {
            self.consumer(&consumer, now);
        }
        for ((partition, offset), row) in image.pel {
            let consumer = self.consumer(&row.consumer, now);
            let idle = Duration::from_millis(now_ms.saturating_sub(row.at_ms));
            self.pel.insert(
                RecordId { partition, offset },
                Pending {
                    consumer,
                    delivered_at: now.checked_sub(idle).unwrap_or(now),
                    deliveries: row.deliveries,
                },
            );
        }
        Ok(())
    }

    /// Journals `change`, then replaces the journal by a snapshot if it grew enough.
    fn journal_change(
        &mut self,
        topic: &Topic,
        change: crate::durable::WgChange<'_>,
    ) -> Result<()> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        journal.record(change, topic.clock().unix_millis())?;
        if journal.snapshot_due(self.pel.len()) {
            self.snapshot(topic)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, topic: &Topic) -> Result<()> {
        let now = topic.clock().now();
        let now_ms = topic.clock().unix_millis();
        let rows = self
            .pel
            .iter()
            .map(|(id, e)| crate::durable::PelRow {
                partition: id.partition,
                offset: id.offset,
                consumer: e.consumer.to_string(),
                at_ms: now_ms.saturating_sub(
                    u64::try_from(now.saturating_duration_since(e.delivered_at).as_millis())
                        .unwrap_or(u64::MAX),
                ),
                deliveries: e.deliveries,
            })
            .collect();
        let consumers = self.consumers.keys().map(|k| k.to_string()).collect();
        let cursors = self.cursors.clone();
        match &mut self.journal {
            Some(journal) => journal.snapshot(cursors, consumers, rows),
            None => Ok(()),
        }
    }
}
