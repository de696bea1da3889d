//! The crate's error type.

/// Everything that can go wrong in ember-stream.
///
/// ```
/// use ember_stream::{Error, Topic};
/// let topic = Topic::builder("t").partitions(2).build().unwrap();
/// match topic.read(7, 0, 10) {
///     Err(Error::UnknownPartition { partition: 7, partitions: 2 }) => {}
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder was given an invalid setting.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The partition does not exist in this topic.
    #[error("partition {partition} does not exist (the topic has {partitions})")]
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },

    /// The offset is not in the partition: it was trimmed by retention (below `earliest`) or has not been
    /// written yet (above `latest`, the log end offset). Reading *at* `latest` is valid and returns nothing.
    #[error("offset {offset} of partition {partition} is out of range [{earliest}, {latest}]")]
    OffsetOutOfRange {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The first offset still stored.
        earliest: u64,
        /// The log end offset: the offset the next appended record will get.
        latest: u64,
    },

    /// A consumer group has no committed offset for a partition and its
    /// [`AutoOffsetReset`](crate::AutoOffsetReset) is `None`.
    #[error(
        "group {group:?} has no valid committed offset for partition {partition} and auto_offset_reset is none"
    )]
    NoOffset {
        /// The group.
        group: String,
        /// The partition.
        partition: u32,
    },

    /// A member id is already in use in the group.
    #[error("member {member:?} is already in group {group:?}")]
    DuplicateMember {
        /// The group.
        group: String,
        /// The member id.
        member: String,
    },

    /// The commit was rejected: the group rebalanced since this member's last poll (Kafka's
    /// `CommitFailedException`). Poll again, which picks up the new assignment, then commit.
    #[error(
        "commit rejected for member {member:?} of group {group:?}: the group rebalanced since its last poll"
    )]
    CommitFailed {
        /// The group.
        group: String,
        /// The member id.
        member: String,
    },

    /// The partition is not assigned to this member.
    #[error("partition {partition} is not assigned to member {member:?}")]
    NotAssigned {
        /// The member id.
        member: String,
        /// The partition.
        partition: u32,
    },

    /// A group with this name exists with a different configuration.
    #[error("group {group:?} already exists with a different configuration")]
    GroupConflict {
        /// The group.
        group: String,
    },

    /// A pub/sub pattern could not be parsed.
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The operation is not supported by this partition storage (for example compaction on a storage
    /// that cannot compact).
    #[error("unsupported by the partition storage: {0}")]
    Unsupported(&'static str),

    /// The partition storage failed (an on-disk storage's I/O error, for example).
    #[error("partition storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// A value could not be encoded or decoded by the serde helpers.
    #[cfg(feature = "serde")]
    #[error("serialization failed: {0}")]
    Serde(#[from] serde_json::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
