//! Stats snapshots: per topic, partition, consumer group and work group (the Ember stats convention,
//! see [`ember_core::stats`]).
//!
//! ```
//! use ember_stream::Topic;
//! let topic = Topic::builder("t").partitions(2).build().unwrap();
//! topic.append("k", "value").unwrap();
//! let s = topic.stats();
//! assert_eq!((s.records, s.bytes, s.appended), (1, 6, 1));
//! assert!(s.to_string().starts_with("topic=t partitions=2 records=1"));
//! ```

use std::fmt;

use ember_core::stats::{Snapshot, write_fields};

use crate::topic::Topic;

/// A partition's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PartitionStats {
    /// The partition.
    pub partition: u32,
    /// Records stored now.
    pub records: u64,
    /// Payload bytes stored now.
    pub bytes: u64,
    /// The first retained offset.
    pub earliest: u64,
    /// The log end offset (the next offset to be written).
    pub latest: u64,
    /// Records ever appended.
    pub appended: u64,
    /// Payload bytes ever appended.
    pub appended_bytes: u64,
    /// Records removed by retention, trimming or compaction.
    pub trimmed: u64,
}

impl fmt::Display for PartitionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("partition", &self.partition),
                ("records", &self.records),
                ("bytes", &self.bytes),
                ("earliest", &self.earliest),
                ("latest", &self.latest),
                ("appended", &self.appended),
                ("trimmed", &self.trimmed),
            ],
        )
    }
}
impl Snapshot for PartitionStats {}

/// One partition as a consumer group sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupPartitionStats {
    /// The partition.
    pub partition: u32,
    /// The member that owns it, if the group has members.
    pub owner: Option<String>,
    /// The committed offset (next record to process), if any.
    pub committed: Option<u64>,
    /// The log end offset.
    pub latest: u64,
    /// Consumer lag: records from the committed offset (or the earliest retained one) to the end.
    pub lag: u64,
}

/// A consumer group's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupStats {
    /// The group.
    pub name: String,
    /// Live members.
    pub members: usize,
    /// Current generation.
    pub generation: u64,
    /// Rebalances so far.
    pub rebalances: u64,
    /// Commits so far.
    pub commits: u64,
    /// Members removed because their session timed out.
    pub expired_sessions: u64,
    /// Total lag over all partitions.
    pub lag: u64,
    /// Per partition.
    pub partitions: Vec<GroupPartitionStats>,
}

impl fmt::Display for GroupStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("group", &self.name),
                ("members", &self.members),
                ("generation", &self.generation),
                ("rebalances", &self.rebalances),
                ("commits", &self.commits),
                ("expired_sessions", &self.expired_sessions),
                ("lag", &self.lag),
            ],
        )
    }
}
impl Snapshot for GroupStats {}

/// A work group's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct WorkGroupStats {
    /// The group.
    pub name: String,
    /// Consumers known to the group.
    pub consumers: usize,
    /// Entries pending (delivered, not acknowledged).
    pub pending: u64,
    /// Records delivered by reads (claims not included).
    pub delivered: u64,
    /// Acknowledgements.
    pub acked: u64,
    /// Entries claimed.
    pub claimed: u64,
    /// Records not yet delivered to the group.
    pub lag: u64,
}

impl fmt::Display for WorkGroupStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("work_group", &self.name),
                ("consumers", &self.consumers),
                ("pending", &self.pending),
                ("delivered", &self.delivered),
                ("acked", &self.acked),
                ("claimed", &self.claimed),
                ("lag", &self.lag),
            ],
        )
    }
}
impl Snapshot for WorkGroupStats {}

/// A topic's numbers, with its partitions and groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic.
    pub name: String,
    /// How many partitions.
    pub partitions: u32,
    /// Records stored now.
    pub records: u64,
    /// Payload bytes stored now.
    pub bytes: u64,
    /// Records ever appended.
    pub appended: u64,
    /// Payload bytes ever appended.
    pub appended_bytes: u64,
    /// Records removed by retention, trimming or compaction.
    pub trimmed: u64,
    /// Current pub/sub subscribers.
    pub subscribers: usize,
    /// Records put in subscribers' buffers.
    pub pubsub_delivered: u64,
    /// Records subscribers missed because their buffer was full.
    pub pubsub_dropped: u64,
    /// Per partition.
    pub partition_stats: Vec<PartitionStats>,
    /// Per consumer group.
    pub groups: Vec<GroupStats>,
    /// Per work group.
    pub work_groups: Vec<WorkGroupStats>,
}

impl fmt::Display for TopicStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("topic", &self.name),
                ("partitions", &self.partitions),
                ("records", &self.records),
                ("bytes", &self.bytes),
                ("appended", &self.appended),
                ("appended_bytes", &self.appended_bytes),
                ("trimmed", &self.trimmed),
                ("subscribers", &self.subscribers),
                ("pubsub_delivered", &self.pubsub_delivered),
                ("pubsub_dropped", &self.pubsub_dropped),
                ("groups", &self.groups.len()),
                ("work_groups", &self.work_groups.len()),
            ],
        )
    }
}
impl Snapshot for TopicStats {}

impl Topic {
    /// A snapshot of one partition.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`](crate::Error::UnknownPartition).
    pub fn partition_stats(&self, partition: u32) -> crate::Result<PartitionStats> {
        let part = self.part(partition)?;
        self.expire(part)?;
        let log = part.log.read();
        Ok(PartitionStats {
            partition,
            records: log.len(),
            bytes: log.bytes(),
            earliest: log.earliest(),
            latest: log.next_offset(),
            appended: log.appended,
            appended_bytes: log.appended_bytes,
            trimmed: log.trimmed,
        })
    }

    /// A snapshot of the topic, its partitions, consumer groups (with lag per partition) and work groups
    /// (with pending counts).
    #[must_use]
    pub fn stats(&self) -> TopicStats {
        let partition_stats: Vec<PartitionStats> = (0..self.partitions())
            .filter_map(|p| self.partition_stats(p).ok())
            .collect();
        let pubsub = &self.inner.pubsub;
        TopicStats {
            name: self.name().to_owned(),
            partitions: self.partitions(),
            records: partition_stats.iter().map(|p| p.records).sum(),
            bytes: partition_stats.iter().map(|p| p.bytes).sum(),
            appended: partition_stats.iter().map(|p| p.appended).sum(),
            appended_bytes: partition_stats.iter().map(|p| p.appended_bytes).sum(),
            trimmed: partition_stats.iter().map(|p| p.trimmed).sum(),
            subscribers: pubsub.subscribers(),
            pubsub_delivered: pubsub.delivered(),
            pubsub_dropped: pubsub.dropped(),
            partition_stats,
            groups: self.group_handles().iter().map(|g| g.stats()).collect(),
            work_groups: self
                .work_group_handles()
                .iter()
                .map(|g| g.stats())
                .collect(),
        }
    }
}
