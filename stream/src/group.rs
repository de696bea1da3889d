//! Consumer groups, the Kafka model: partitions shared out among the members, committed offsets per
//! partition, rebalancing on join, leave and session timeout.
//!
//! - **Membership.** [`ConsumerGroup::join`] adds a member and returns its [`GroupConsumer`] handle.
//!   Every [`poll`](GroupConsumer::poll), [`commit`](GroupConsumer::commit) and
//!   [`heartbeat`](GroupConsumer::heartbeat) is a heartbeat; a member not heard from for the group's
//!   session timeout (judged by the topic's clock) is removed, as is one that [leaves](GroupConsumer::leave)
//!   or is dropped. A blocked `poll` heartbeats every heartbeat interval while it waits.
//! - **Assignment.** Each partition is owned by exactly one member while the group has members
//!   ([`Assignor::Range`] or [`Assignor::RoundRobin`], over members sorted by id). Any change of membership
//!   is a rebalance: a new *generation* and a fresh assignment. Members pick it up at their next call.
//! - **Positions and commits.** A member reads each of its partitions from its position. A partition it
//!   newly owns starts at the group's committed offset, or, when there is none or it was trimmed by
//!   retention, at the earliest or latest offset as [`AutoOffsetReset`] says. The committed offset is the
//!   offset of the *next* record to process (Kafka's convention). `commit` stores the member's positions
//!   (everything returned by `poll` so far); [`commit_sync`](GroupConsumer::commit_sync) and
//!   [`commit_offset`](GroupConsumer::commit_offset) store explicit ones. Commits are synchronous: when
//!   the call returns the group has them (Kafka's `commitSync`). A commit from a member that has not seen the latest rebalance fails with
//!   [`Error::CommitFailed`] (Kafka's generation fencing); it polls again and carries on.
//! - **Delivery guarantee.** At least once: records polled but not committed when a member crashes or a
//!   partition moves are delivered again to the next owner. Commit after processing.
//! - Many groups read one topic independently; each keeps its own members and offsets.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::{AutoOffsetReset, Topic};
//!
//! let topic = Topic::builder("orders").partitions(4).build().unwrap();
//! for i in 0..100 {
//!     topic.append(format!("customer-{}", i % 10), format!("order {i}")).unwrap();
//! }
//! let group = topic
//!     .consumer_group("billing")
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .build()
//!     .unwrap();
//! let mut a = group.join("a").unwrap();
//! let mut b = group.join("b").unwrap();
//! let mut seen = 0;
//! for member in [&mut a, &mut b] {
//!     loop {
//!         let batch = member.poll(50, Duration::ZERO).unwrap();
//!         if batch.is_empty() { break; }
//!         seen += batch.len();
//!         member.commit().unwrap();
//!     }
//! }
//! assert_eq!(seen, 100);
//! assert_eq!(group.stats().lag, 0);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_core::clock::WaitOutcome;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::record::Record;
use crate::topic::Topic;

/// How a group shares partitions among its members (sorted by member id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Assignor {
    /// Kafka's `RangeAssignor`: consecutive ranges of partitions; the first `partitions % members`
    /// members get one more. The default.
    #[default]
    Range,
    /// Kafka's `RoundRobinAssignor`: partition `i` goes to member `i % members`.
    RoundRobin,
}

impl Assignor {
    /// The owner index (into members sorted by id) of each of `partitions` partitions.
    pub(crate) fn assign(self, partitions: u32, members: usize) -> Vec<usize> {
        let n = partitions as usize;
        if members == 0 {
            return Vec::new();
        }
        match self {
            Assignor::RoundRobin => (0..n).map(|p| p % members).collect(),
            Assignor::Range => {
                let (each, extra) = (n / members, n % members);
                let mut owners = Vec::with_capacity(n);
                for m in 0..members {
                    let count = each + usize::from(m < extra);
                    owners.extend(std::iter::repeat_n(m, count));
                }
                owners
            }
        }
    }
}

/// Where a group starts reading a partition for which it has no valid committed offset (none yet, or
/// trimmed by retention): Kafka's `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// From the oldest retained record.
    Earliest,
    /// From the end: only records appended from now on. Kafka's default.
    #[default]
    Latest,
    /// Fail with [`Error::NoOffset`] (or [`Error::OffsetOutOfRange`] when a position was trimmed).
    None,
    /// From the first record whose timestamp is at most this long before now (by the topic's clock),
    /// or from the end if there is none: Kafka 4's `auto.offset.reset=by_duration:<duration>`. "Start
    /// with the last hour". The record is found by [`Topic::offset_for_time`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::ManualClock;
    /// use ember_stream::{AutoOffsetReset, Topic};
    ///
    /// let clock = ManualClock::new();
    /// let topic = Topic::builder("t").clock(clock.clone()).build().unwrap();
    /// topic.append_unkeyed("two hours old").unwrap();
    /// clock.advance(Duration::from_secs(2 * 3600));
    /// topic.append_unkeyed("fresh").unwrap();
    /// let group = topic
    ///     .consumer_group("dashboard")
    ///     .auto_offset_reset(AutoOffsetReset::ByDuration(Duration::from_secs(3600)))
    ///     .build()
    ///     .unwrap();
    /// let mut c = group.join("c").unwrap();
    /// let got = c.poll(10, Duration::ZERO).unwrap();
    /// assert_eq!(got.iter().map(|r| r.value_str().unwrap()).collect::<Vec<_>>(), ["fresh"]);
    /// ```
    ByDuration(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupConfig {
    assignor: Assignor,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    auto_offset_reset: AutoOffsetReset,
    auto_commit: Option<Duration>,
}

/// Configures a consumer group. Get one from [`Topic::consumer_group`].
///
/// ```
/// use std::time::Duration;
/// use ember_stream::{Assignor, AutoOffsetReset, Topic};
/// let topic = Topic::builder("t").partitions(6).build().unwrap();
/// let group = topic
///     .consumer_group("audit")
///     .assignor(Assignor::RoundRobin)
///     .session_timeout(Duration::from_secs(10))
///     .auto_offset_reset(AutoOffsetReset::Earliest)
///     .auto_commit(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!(group.name(), "audit");
/// ```
#[must_use]
#[derive(Debug)]
pub struct GroupBuilder {
    topic: Topic,
    name: String,
    config: GroupConfig,
    heartbeat_set: bool,
}

impl GroupBuilder {
    /// The assignment strategy (default [`Assignor::Range`]).
    pub fn assignor(mut self, assignor: Assignor) -> Self {
        self.config.assignor = assignor;
        self
    }

    /// How long a member may go without a heartbeat before it is removed (default 45 s, Kafka's).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self
    }

    /// How often a member blocked in `poll` heartbeats (default a third of the session timeout).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self.heartbeat_set = true;
        self
    }

    /// Where to start without a valid committed offset (default [`AutoOffsetReset::Latest`], Kafka's).
    pub fn auto_offset_reset(mut self, reset: AutoOffsetReset) -> Self {
        self.config.auto_offset_reset = reset;
        self
    }

    /// Commits each member's positions automatically at its first `poll` after `interval` has passed
    /// since its last commit, and when it leaves (Kafka's `enable.auto.commit`). Default: off, commit
    /// explicitly.
    pub fn auto_commit(mut self, interval: Duration) -> Self {
        self.config.auto_commit = Some(interval);
        self
    }

    /// Opens the group: creates it, or returns the existing group of that name on this topic.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero session timeout or a heartbeat interval not below it;
    /// [`Error::GroupConflict`] if the group exists with a different configuration.
    pub fn build(mut self) -> Result<ConsumerGroup> {
        if self.config.session_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "session_timeout must be positive".into(),
            ));
        }
        if !self.heartbeat_set {
            self.config.heartbeat_interval = self.config.session_timeout / 3;
        }
        if self.config.heartbeat_interval.is_zero()
            || self.config.heartbeat_interval >= self.config.session_timeout
        {
            return Err(Error::InvalidConfig(
                "heartbeat_interval must be positive and below session_timeout".into(),
            ));
        }
        let mut groups = self.topic.inner.groups.lock();
        if let Some(existing) = groups.get(&self.name) {
            if existing.config != self.config {
                return Err(Error::GroupConflict { group: self.name });
            }
            return Ok(ConsumerGroup {
                topic: self.topic.clone(),
                shared: existing.clone(),
            });
        }
        let n = self.topic.partitions() as usize;
        #[cfg(feature = "durable")]
        let offsets_path = self
            .topic
            .inner
            .durable_dir
            .as_ref()
            .map(|dir| crate::durable::offsets_file(dir, self.topic.name(), &self.name));
        #[cfg(feature = "durable")]
        let committed = match &offsets_path {
            Some(path) => crate::durable::load_offsets(path, n)?,
            None => vec![None; n],
        };
        #[cfg(not(feature = "durable"))]
        let committed = vec![None; n];
        let shared = Arc::new(GroupShared {
            name: self.name.clone(),
            config: self.config,
            #[cfg(feature = "durable")]
            offsets_path,
            state: Mutex::new(GroupState {
                generation: 0,
                next_incarnation: 0,
                members: BTreeMap::new(),
                owners: vec![None; n],
                committed,
                rebalances: 0,
                commits: 0,
                expired: 0,
            }),
        });
        groups.insert(self.name, shared.clone());
        drop(groups);
        Ok(ConsumerGroup {
            topic: self.topic,
            shared,
        })
    }
}

#[derive(Debug)]
struct MemberInfo {
    incarnation: u64,
    last_seen: Instant,
}

#[derive(Debug)]
struct GroupState {
    generation: u64,
    next_incarnation: u64,
    members: BTreeMap<Arc<str>, MemberInfo>,
    owners: Vec<Option<Arc<str>>>,
    committed: Vec<Option<u64>>,
    rebalances: u64,
    commits: u64,
    expired: u64,
}

impl GroupState {
    fn rebalance(&mut self, assignor: Assignor) {
        self.generation += 1;
        self.rebalances += 1;
        let ids: Vec<Arc<str>> = self.members.keys().cloned().collect();
        let owners = assignor.assign(self.owners.len() as u32, ids.len());
        for (p, slot) in self.owners.iter_mut().enumerate() {
            *slot = owners.get(p).map(|&m| ids[m].clone());
        }
    }

    /// Removes members whose session expired; rebalances if any did.
    fn expire(&mut self, now: Instant, config: &GroupConfig) -> bool {
        let before = self.members.len();
        self.members
            .retain(|_, m| now.saturating_duration_since(m.last_seen) < config.session_timeout);
        let gone = before - self.members.len();
        if gone > 0 {
            self.expired += gone as u64;
            self.rebalance(config.assignor);
        }
        gone > 0
    }

    fn is_member(&self, id: &str, incarnation: u64) -> bool {
        self.members
            .get(id)
            .is_some_and(|m| m.incarnation == incarnation)
    }

    fn assignment_of(&self, id: &str) -> Vec<u32> {
        self.owners
            .iter()
            .enumerate()
            .filter(|(_, o)| o.as_deref() == Some(id))
            .map(|(p, _)| p as u32)
            .collect()
    }
}

pub(crate) struct GroupShared {
    name: String,
    config: GroupConfig,
    state: Mutex<GroupState>,
    /// Durable mode: the file the committed offsets are written to on every change.
    #[cfg(feature = "durable")]
    offsets_path: Option<std::path::PathBuf>,
}

impl GroupShared {
    /// Durable mode: writes the committed offsets to disk (atomically) before a commit returns.
    fn persist(&self, st: &GroupState) -> Result<()> {
        #[cfg(feature = "durable")]
        if let Some(path) = &self.offsets_path {
            crate::durable::save_offsets(path, &st.committed)?;
        }
        let _ = st;
        Ok(())
    }
}

impl fmt::Debug for GroupShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupShared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A consumer group on a topic (Kafka model). A cheap handle: clones share the group. See the
/// [module docs](self).
#[derive(Clone)]
pub struct ConsumerGroup {
    topic: Topic,
    shared: Arc<GroupShared>,
}

impl fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("topic", &self.topic.name())
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Topic {
    /// Opens (creates or finds) the consumer group `name` on this topic. See [`crate::group`].
    pub fn consumer_group(&self, name: impl Into<String>) -> GroupBuilder {
        let session_timeout = Duration::from_secs(45);
        GroupBuilder {
            topic: self.clone(),
            name: name.into(),
            config: GroupConfig {
                assignor: Assignor::Range,
                session_timeout,
                heartbeat_interval: session_timeout / 3,
                auto_offset_reset: AutoOffsetReset::Latest,
                auto_commit: None,
            },
            heartbeat_set: false,
        }
    }

    /// The names of this topic's consumer groups.
    #[must_use]
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.groups.lock().keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn group_handles(&self) -> Vec<ConsumerGroup> {
        let mut groups: Vec<ConsumerGroup> = self
            .inner
            .groups
            .lock()
            .values()
            .map(|shared| ConsumerGroup {
                topic: self.clone(),
                shared: shared.clone(),
            })
            .collect();
        groups.sort_by(|a, b| a.shared.name.cmp(&b.shared.name));
        groups
    }
}

impl ConsumerGroup {
    /// The group's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The topic the group reads.
    #[must_use]
    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    fn lock_expired(&self) -> parking_lot::MutexGuard<'_, GroupState> {
        let mut st = self.shared.state.lock();
        if st.expire(self.topic.clock().now(), &self.shared.config) {
            self.topic.inner.signal.notify_all();
        }
        st
    }

    /// Adds member `id` to the group, which rebalances. Returns the member's handle.
    ///
    /// # Errors
    /// [`Error::DuplicateMember`] if a live member already has this id.
    pub fn join(&self, id: impl Into<String>) -> Result<GroupConsumer> {
        let id: Arc<str> = Arc::from(id.into());
        let mut st = self.lock_expired();
        if st.members.contains_key(&id) {
            return Err(Error::DuplicateMember {
                group: self.shared.name.clone(),
                member: id.to_string(),
            });
        }
        let incarnation = Self::add_member(&mut st, &id, self.topic.clock().now());
        st.rebalance(self.shared.config.assignor);
        drop(st);
        self.topic.inner.signal.notify_all();
        let now = self.topic.clock().now();
        Ok(GroupConsumer {
            group: self.clone(),
            id,
            incarnation,
            generation: None,
            assignment: Vec::new(),
            positions: vec![None; self.topic.partitions() as usize],
            rotate: 0,
            last_commit: now,
            left: false,
        })
    }

    fn add_member(st: &mut GroupState, id: &Arc<str>, now: Instant) -> u64 {
        st.next_incarnation += 1;
        let incarnation = st.next_incarnation;
        st.members.insert(
            id.clone(),
            MemberInfo {
                incarnation,
                last_seen: now,
            },
        );
        incarnation
    }

    /// The live members' ids, sorted (after removing expired sessions).
    #[must_use]
    pub fn members(&self) -> Vec<String> {
        self.lock_expired()
            .members
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// The current generation: it grows by one at every rebalance.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.lock_expired().generation
    }

    /// The owner of each partition (`None` only while the group has no members), after removing expired
    /// sessions. The coordinator's view: members learn of it at their next call.
    #[must_use]
    pub fn assignment(&self) -> Vec<Option<String>> {
        self.lock_expired()
            .owners
            .iter()
            .map(|o| o.as_deref().map(str::to_owned))
            .collect()
    }

    /// The committed offset of `partition` (the next record to process), if any.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`].
    pub fn committed(&self, partition: u32) -> Result<Option<u64>> {
        self.topic.part(partition)?;
        Ok(self.shared.state.lock().committed[partition as usize])
    }

    /// Sets the committed offset of `partition` from outside the group (an admin's
    /// `kafka-consumer-groups --reset-offsets`): for replay, set it to 0 or the earliest offset. Members
    /// that own the partition keep their current position until the next rebalance.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`]; [`Error::OffsetOutOfRange`] for an offset past the log end.
    pub fn reset_offset(&self, partition: u32, offset: u64) -> Result<()> {
        self.topic.check_position(partition, offset, false)?;
        let mut st = self.shared.state.lock();
        st.committed[partition as usize] = Some(offset);
        self.shared.persist(&st)
    }

    /// Sets every partition's committed offset to the first record whose timestamp is at or after
    /// `timestamp` (Unix milliseconds), or to the log end offset where no retained record is that late:
    /// `kafka-consumer-groups --reset-offsets --to-datetime`. Returns the new committed offset of each
    /// partition. As with [`reset_offset`](ConsumerGroup::reset_offset), members that own a partition
    /// keep their current position until the next rebalance; a member moves itself with
    /// [`GroupConsumer::seek_to_time`]. The rule for timestamps that go backwards is
    /// [`Topic::offset_for_time`]'s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::{AutoOffsetReset, Message, Topic};
    /// let topic = Topic::builder("t").partitions(2).build().unwrap();
    /// for (p, ts) in [(0, 100), (0, 300), (1, 200)] {
    ///     topic.send(Message::new("x").partition(p).timestamp(ts)).unwrap();
    /// }
    /// let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::None).build().unwrap();
    /// assert_eq!(group.reset_offsets_to_time(250).unwrap(), vec![1, 1]);
    /// let mut c = group.join("c").unwrap();
    /// let replay = c.poll(10, Duration::ZERO).unwrap();
    /// assert_eq!(replay.iter().map(|r| r.timestamp).collect::<Vec<_>>(), [300]);
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`] (then no committed offset is changed).
    pub fn reset_offsets_to_time(&self, timestamp: u64) -> Result<Vec<u64>> {
        let offsets = (0..self.topic.partitions())
            .map(|p| self.topic.position_for_time(p, timestamp))
            .collect::<Result<Vec<u64>>>()?;
        let mut st = self.shared.state.lock();
        let before = std::mem::replace(
            &mut st.committed,
            offsets.iter().map(|&o| Some(o)).collect(),
        );
        if let Err(e) = self.shared.persist(&st) {
            st.committed = before;
            return Err(e);
        }
        Ok(offsets)
    }

    /// A snapshot of the group: members, generation, committed offsets and lag per partition.
    #[must_use]
    pub fn stats(&self) -> crate::stats::GroupStats {
        let st = self.lock_expired();
        let owners = st.owners.clone();
        let committed = st.committed.clone();
        let (generation, members, rebalances, commits, expired) = (
            st.generation,
            st.members.len(),
            st.rebalances,
            st.commits,
            st.expired,
        );
        drop(st);
        let mut partitions = Vec::with_capacity(owners.len());
        let mut lag = 0;
        for (p, (owner, committed)) in owners.into_iter().zip(committed).enumerate() {
            let (earliest, latest) = self.topic.offsets(p as u32).unwrap_or((0, 0));
            let from = committed.unwrap_or(earliest).max(earliest);
            let l = latest.saturating_sub(from);
            lag += l;
            partitions.push(crate::stats::GroupPartitionStats {
                partition: p as u32,
                owner: owner.map(|o| o.to_string()),
                committed,
                latest,
                lag: l,
            });
        }
        crate::stats::GroupStats {
            name: self.shared.name.clone(),
            members,
            generation,
            rebalances,
            commits,
            expired_sessions: expired,
            lag,
            partitions,
        }
    }
}

/// One member of a [`ConsumerGroup`]: polls records of its assigned partitions and commits its progress.
/// Dropping it leaves the group. See the [module docs](crate::group).
pub struct GroupConsumer {
    group: ConsumerGroup,
    id: Arc<str>,
    incarnation: u64,
    /// The generation whose assignment this member has applied.
    generation: Option<u64>,
    assignment: Vec<u32>,
    /// Next offset to read, per topic partition (`None`: not owned, or not yet resolved).
    positions: Vec<Option<u64>>,
    rotate: usize,
    last_commit: Instant,
    left: bool,
}

impl fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("group", &self.group.shared.name)
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("assignment", &self.assignment)
            .finish_non_exhaustive()
    }
}

impl GroupConsumer {
    /// The member id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group.
    #[must_use]
    pub fn group(&self) -> &ConsumerGroup {
        &self.group
    }

    /// The partitions this member owned at its last call (poll, heartbeat, commit).
    #[must_use]
    pub fn assignment(&self) -> &[u32] {
        &self.assignment
    }

    /// The next offset this member will read from `partition`, if it owns it and has resolved it.
    #[must_use]
    pub fn position(&self, partition: u32) -> Option<u64> {
        self.positions.get(partition as usize).copied().flatten()
    }

    /// Heartbeats, rejoins if its session had expired, and applies a new assignment if the group
    /// rebalanced. Returns the assignment's generation. Called by every other method.
    ///
    /// # Errors
    /// [`Error::NoOffset`] / [`Error::OffsetOutOfRange`] if a newly owned partition has no valid
    /// committed offset and the reset policy is [`AutoOffsetReset::None`].
    pub fn heartbeat(&mut self) -> Result<u64> {
        let topic = self.group.topic.clone();
        let now = topic.clock().now();
        let config = self.group.shared.config;
        let mut st = self.group.lock_expired();
        if !st.is_member(&self.id, self.incarnation) {
            // Our session expired (or we left): rejoin like a Kafka consumer does at its next poll.
            if st.members.contains_key(&self.id) {
                return Err(Error::DuplicateMember {
                    group: self.group.shared.name.clone(),
                    member: self.id.to_string(),
                });
            }
            self.incarnation = ConsumerGroup::add_member(&mut st, &self.id, now);
            self.left = false;
            st.rebalance(config.assignor);
            topic.inner.signal.notify_all();
        }
        if let Some(m) = st.members.get_mut(&self.id) {
            m.last_seen = now;
        }
        if self.generation != Some(st.generation) {
            let assignment = st.assignment_of(&self.id);
            for (p, pos) in self.positions.iter_mut().enumerate() {
                if !assignment.contains(&(p as u32)) {
                    *pos = None;
                }
            }
            for &p in &assignment {
                if self.positions[p as usize].is_none() {
                    let committed = st.committed[p as usize];
                    self.positions[p as usize] = Some(self.resolve(p, committed)?);
                }
            }
            self.assignment = assignment;
            self.generation = Some(st.generation);
        }
        Ok(st.generation)
    }

    /// Where the reset policy puts a reader of `partition` (`None` for [`AutoOffsetReset::None`]).
    fn reset_position(&self, partition: u32, earliest: u64, latest: u64) -> Result<Option<u64>> {
        Ok(match self.group.shared.config.auto_offset_reset {
            AutoOffsetReset::Earliest => Some(earliest),
            AutoOffsetReset::Latest => Some(latest),
            AutoOffsetReset::ByDuration(age) => {
                let topic = &self.group.topic;
                let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                let since = topic.clock().unix_millis().saturating_sub(age);
                Some(topic.position_for_time(partition, since)?)
            }
            AutoOffsetReset::None => None,
        })
    }

    /// Where to start in `partition` given the group's committed offset.
    fn resolve(&self, partition: u32, committed: Option<u64>) -> Result<u64> {
        let (earliest, latest) = self.group.topic.offsets(partition)?;
        match committed {
            Some(c) if c >= earliest && c <= latest => Ok(c),
            _ => match self.reset_position(partition, earliest, latest)? {
                Some(position) => Ok(position),
                None => match committed {
                    None => Err(Error::NoOffset {
                        group: self.group.shared.name.clone(),
                        partition,
                    }),
                    Some(offset) => Err(Error::OffsetOutOfRange {
                        partition,
                        offset,
                        earliest,
                        latest,
                    }),
                },
            },
        }
    }

    /// Returns up to `max` records from this member's partitions, waiting up to `timeout` (by the topic's
    /// clock) when there are none. Advances the member's positions past what it returns; they are
    /// committed by [`commit`](GroupConsumer::commit) (or auto-commit).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::{AutoOffsetReset, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::Earliest).build().unwrap();
    /// let mut c = group.join("c1").unwrap();
    /// topic.append_unkeyed("one").unwrap();
    /// assert_eq!(c.poll(10, Duration::from_secs(1)).unwrap().len(), 1);
    /// c.commit().unwrap();
    /// assert_eq!(group.committed(0).unwrap(), Some(1));
    /// ```
    ///
    /// # Errors
    /// As [`heartbeat`](GroupConsumer::heartbeat); [`Error::OffsetOutOfRange`] if a position was trimmed
    /// and the reset policy is [`AutoOffsetReset::None`]; [`Error::Storage`].
    pub fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        let topic = self.group.topic.clone();
        let clock = topic.clock().clone();
        let deadline = clock.now() + timeout;
        let interval = self.group.shared.config.heartbeat_interval;
        let mut out = Vec::new();
        loop {
            let seen = topic.inner.signal.epoch();
            self.heartbeat()?;
            self.maybe_auto_commit()?;
            self.fetch(max, &mut out)?;
            if !out.is_empty() || max == 0 {
                return Ok(out);
            }
            let now = clock.now();
            if now >= deadline {
                return Ok(out);
            }
            let wake = deadline.min(now + interval);
            if topic.wait(seen, wake) == WaitOutcome::TimedOut && wake == deadline {
                self.heartbeat()?;
                self.fetch(max, &mut out)?;
                return Ok(out);
            }
        }
    }

    fn fetch(&mut self, max: usize, out: &mut Vec<Record>) -> Result<()> {
        let topic = self.group.topic.clone();
        let n = self.assignment.len();
        for i in 0..n {
            if out.len() >= max {
                break;
            }
            let p = self.assignment[(self.rotate + i) % n];
            let Some(pos) = self.positions[p as usize] else {
                continue;
            };
            let before = out.len();
            match topic.read_into(p, pos, max - out.len(), out) {
                Ok(_) => {}
                Err(Error::OffsetOutOfRange {
                    earliest, latest, ..
                }) => {
                    let Some(reset) = self.reset_position(p, earliest, latest)? else {
                        return Err(Error::OffsetOutOfRange {
                            partition: p,
                            offset: pos,
                            earliest,
                            latest,
                        });
                    };
                    self.positions[p as usize] = Some(reset);
                    topic.read_into(p, reset, max - out.len(), out)?;
                }
                Err(e) => return Err(e),
            }
            if out.len() > before {
                self.positions[p as usize] = Some(out[out.len() - 1].offset + 1);
            }
        }
        if n > 0 {
            self.rotate = (self.rotate + 1) % n;
        }
        Ok(())
    }

    fn maybe_auto_commit(&mut self) -> Result<()> {
        if let Some(interval) = self.group.shared.config.auto_commit {
            let now = self.group.topic.clock().now();
            if now.saturating_duration_since(self.last_commit) >= interval {
                self.commit()?;
            }
        }
        Ok(())
    }

    fn check_current(&self, st: &GroupState) -> Result<()> {
        if !st.is_member(&self.id, self.incarnation) || self.generation != Some(st.generation) {
            return Err(Error::CommitFailed {
                group: self.group.shared.name.clone(),
                member: self.id.to_string(),
            });
        }
        Ok(())
    }

    /// Commits this member's positions: everything [`poll`](GroupConsumer::poll) returned so far is
    /// marked processed for the group.
    ///
    /// # Errors
    /// [`Error::CommitFailed`] if the group rebalanced since this member last polled (or its session
    /// expired): nothing is committed; poll again.
    pub fn commit(&mut self) -> Result<()> {
        let now = self.group.topic.clock().now();
        let mut st = self.group.lock_expired();
        self.check_current(&st)?;
        for &p in &self.assignment {
            if let Some(pos) = self.positions[p as usize] {
                st.committed[p as usize] = Some(pos);
            }
        }
        self.group.shared.persist(&st)?;
        st.commits += 1;
        if let Some(m) = st.members.get_mut(&self.id) {
            m.last_seen = now;
        }
        self.last_commit = now;
        Ok(())
    }

    /// Commits an explicit position of one partition: `offset` is the next record to process (the last
    /// processed offset + 1). [`commit_sync`](GroupConsumer::commit_sync) for one partition.
    ///
    /// # Errors
    /// [`Error::CommitFailed`] as for [`commit`](GroupConsumer::commit); [`Error::NotAssigned`] if the
    /// partition is not this member's; [`Error::OffsetOutOfRange`] for an offset past the log end.
    pub fn commit_offset(&mut self, partition: u32, offset: u64) -> Result<()> {
        self.commit_sync(&[(partition, offset)])
    }

    /// Commits explicit positions of several partitions at once, all or nothing (Kafka's
    /// `commitSync(Map<TopicPartition, OffsetAndMetadata>)`): each `offset` is the next record to process.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::{AutoOffsetReset, Topic};
    /// let topic = Topic::builder("t").partitions(2).build().unwrap();
    /// for i in 0..10 {
    ///     topic.append_unkeyed(format!("{i}")).unwrap();
    /// }
    /// let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::Earliest).build().unwrap();
    /// let mut c = group.join("c").unwrap();
    /// let batch = c.poll(4, Duration::ZERO).unwrap();
    /// // Processed only the first record of each partition seen: commit exactly that.
    /// let mut offsets: Vec<(u32, u64)> = Vec::new();
    /// for r in &batch {
    ///     if !offsets.iter().any(|(p, _)| *p == r.partition) {
    ///         offsets.push((r.partition, r.offset + 1));
    ///     }
    /// }
    /// c.commit_sync(&offsets).unwrap();
    /// assert_eq!(group.committed(0).unwrap(), Some(1));
    /// ```
    ///
    /// # Errors
    /// Nothing is committed on error: [`Error::CommitFailed`] as for [`commit`](GroupConsumer::commit);
    /// [`Error::NotAssigned`] if a partition is not this member's; [`Error::OffsetOutOfRange`] for an
    /// offset past the log end; [`Error::UnknownPartition`].
    pub fn commit_sync(&mut self, offsets: &[(u32, u64)]) -> Result<()> {
        for &(partition, offset) in offsets {
            self.group.topic.check_position(partition, offset, false)?;
        }
        let now = self.group.topic.clock().now();
        let mut st = self.group.lock_expired();
        self.check_current(&st)?;
        if let Some(&(partition, _)) = offsets.iter().find(|(p, _)| !self.assignment.contains(p)) {
            return Err(Error::NotAssigned {
                member: self.id.to_string(),
                partition,
            });
        }
        for &(partition, offset) in offsets {
            st.committed[partition as usize] = Some(offset);
        }
        self.group.shared.persist(&st)?;
        st.commits += 1;
        if let Some(m) = st.members.get_mut(&self.id) {
            m.last_seen = now;
        }
        Ok(())
    }

    /// Moves this member's position in one of its partitions (replay from an offset, or skip ahead).
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if the partition is not this member's; [`Error::OffsetOutOfRange`] if the
    /// offset is not retained.
    pub fn seek(&mut self, partition: u32, offset: u64) -> Result<()> {
        if !self.assignment.contains(&partition) {
            return Err(Error::NotAssigned {
                member: self.id.to_string(),
                partition,
            });
        }
        self.group.topic.check_position(partition, offset, true)?;
        self.positions[partition as usize] = Some(offset);
        Ok(())
    }

    /// Moves this member's position in one of its partitions to the first record whose timestamp is at
    /// or after `timestamp` (Unix milliseconds), or to the end of the partition if no retained record is
    /// that late: Kafka's `offsetsForTimes` followed by `seek`. Returns the new position (committed
    /// with the member's next [`commit`](GroupConsumer::commit)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::{AutoOffsetReset, Message, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// for ts in [100, 200, 300] {
    ///     topic.send(Message::new(format!("{ts}")).timestamp(ts)).unwrap();
    /// }
    /// let group = topic.consumer_group("g").auto_offset_reset(AutoOffsetReset::Latest).build().unwrap();
    /// let mut c = group.join("c").unwrap();
    /// c.heartbeat().unwrap(); // picks up the assignment (partition 0, at the end)
    /// assert_eq!(c.seek_to_time(0, 150).unwrap(), 1);
    /// assert_eq!(c.poll(10, Duration::ZERO).unwrap().len(), 2);
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAssigned`] if the partition is not this member's; [`Error::Storage`].
    pub fn seek_to_time(&mut self, partition: u32, timestamp: u64) -> Result<u64> {
        if !self.assignment.contains(&partition) {
            return Err(Error::NotAssigned {
                member: self.id.to_string(),
                partition,
            });
        }
        let offset = self.group.topic.position_for_time(partition, timestamp)?;
        self.positions[partition as usize] = Some(offset);
        Ok(offset)
    }

    /// Leaves the group (it rebalances at once), committing first if auto-commit is on. Dropping the
    /// handle does the same.
    pub fn leave(mut self) {
        self.do_leave();
    }

    fn do_leave(&mut self) {
        if self.left {
            return;
        }
        self.left = true;
        if self.group.shared.config.auto_commit.is_some() {
            let _ = self.commit();
        }
        let mut st = self.group.shared.state.lock();
        if st.is_member(&self.id, self.incarnation) {
            st.members.remove(&self.id);
            st.rebalance(self.group.shared.config.assignor);
            drop(st);
            self.group.topic.inner.signal.notify_all();
        }
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        self.do_leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_round_robin_assign_every_partition_once() {
        assert_eq!(Assignor::Range.assign(7, 3), vec![0, 0, 0, 1, 1, 2, 2]);
        assert_eq!(Assignor::RoundRobin.assign(7, 3), vec![0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(Assignor::Range.assign(2, 4), vec![0, 1]);
        assert!(Assignor::Range.assign(3, 0).is_empty());
        for parts in 0..20 {
            for members in 1..8 {
                for a in [Assignor::Range, Assignor::RoundRobin] {
                    let owners = a.assign(parts, members);
                    assert_eq!(owners.len(), parts as usize);
                    assert!(owners.iter().all(|&m| m < members));
                    let mut counts = vec![0; members];
                    for &m in &owners {
                        counts[m] += 1;
                    }
                    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                    assert!(hi - lo <= 1, "{a:?} {parts}/{members}: {counts:?}");
                }
            }
        }
    }
}
