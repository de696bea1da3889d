//! # ember-stream
//!
//! An in-process partitioned log: what Kafka topics and Redis Streams are used for — event sourcing, a
//! log read and re-read by many independent consumers, a work queue with claiming, change-data-capture
//! fan-out, chat and notifications — inside one process, with the same semantics.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::{AutoOffsetReset, Start, Topic};
//!
//! let topic = Topic::builder("chat").partitions(4).build().unwrap();
//!
//! // Produce: keyed records go to the partition of their key (Kafka's murmur2), so per-key order holds.
//! let first = topic.append("room:rust", "hello").unwrap();
//! topic.append("room:rust", "anyone here?").unwrap();
//!
//! // Replay: read any retained offset, as often as you like.
//! let history = topic.read(first.partition, first.offset, 100).unwrap();
//! assert_eq!(history[1].value_str(), Some("anyone here?"));
//!
//! // Consumer group: partitions shared among members, committed offsets, rebalancing.
//! let notifier = topic
//!     .consumer_group("notifier")
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .build()
//!     .unwrap();
//! let mut worker = notifier.join("worker-1").unwrap();
//! let batch = worker.poll(100, Duration::from_millis(10)).unwrap();
//! assert_eq!(batch.len(), 2);
//! worker.commit().unwrap();
//!
//! // Live pub/sub (at most once), and a plain consumer tailing the log.
//! let online = topic.subscribe("room:*").unwrap();
//! let mut tail = topic.consumer(Start::Latest);
//! topic.append("room:rust", "welcome!").unwrap();
//! assert_eq!(online.try_recv().unwrap().value_str(), Some("welcome!"));
//! assert_eq!(tail.next_timeout(Duration::from_secs(1)).unwrap().unwrap().value_str(), Some("welcome!"));
//! ```
//!
//! ## The model
//!
//! - A [`Topic`] has N partitions; each is an append-only sequence of [`Record`]s `{ partition, offset,
//!   timestamp, key, value, headers }`. Offsets are dense per partition, start at 0 and are never reused,
//!   not even after retention empties a partition. Order is guaranteed within a partition only.
//! - **Payloads are bytes** ([`Bytes`]): a `String` or `Vec<u8>` you append is stored without copying and
//!   shared by every reader; [`Topic::append_copy`] / [`Topic::append_batch_copy`] copy borrowed slices
//!   into the partition's segments instead (no allocation per record: the fastest way in). For typed
//!   values use [`Message::json`] / [`Record::json`] (feature `serde`, on by default) or your own
//!   encoding.
//! - **Timestamps** are milliseconds since the Unix epoch from the topic's [`Clock`](ember_core::Clock),
//!   or set by the producer for event time ([`Message::timestamp`]).
//! - **Producing**: [`Topic::append`] (keyed), [`Topic::append_unkeyed`], [`Topic::send`] for a full
//!   [`Message`] (headers, event time, explicit partition), [`Topic::append_batch`] taking each partition's
//!   lock once. Keyed records are placed by ember-core's partitioner (Kafka-compatible murmur2 by default),
//!   unkeyed ones round-robin or sticky ([`UnkeyedPolicy`]).
//! - **Reading**: [`Topic::read`] from any retained offset (replay), [`Topic::read_blocking`] waiting for
//!   the next append with a timeout, a [`Consumer`] iterator over one or all partitions.
//! - **Seeking by time** (Kafka's `offsetsForTimes`): [`Topic::offset_for_time`] gives the first offset
//!   whose record timestamp is at or after a time, from a per-partition time index (no scan);
//!   [`Start::Time`], [`Consumer::seek_to_time`], [`GroupConsumer::seek_to_time`],
//!   [`ConsumerGroup::reset_offsets_to_time`], [`AutoOffsetReset::ByDuration`] and
//!   [`WorkGroup::set_cursor_to_time`] start or move readers there ("replay the last hour"). With
//!   producer timestamps that go backwards the answer is the earliest *offset* at or after the time,
//!   as in Kafka.
//! - **Consumer groups**, the Kafka model ([`group`]): members, range or round-robin assignment,
//!   rebalancing on join, leave and session timeout, committed offsets, `auto_offset_reset`. At least
//!   once: what was polled but not committed is redelivered after a crash or rebalance.
//! - **Work groups**, the Redis Streams model ([`pending`]): each record delivered to one consumer and kept
//!   in a pending entries list until acknowledged; `pending`, `claim`, `autoclaim`.
//! - **Retention** ([`Retention`]): by age, bytes and record count per partition; reading a trimmed offset
//!   is [`Error::OffsetOutOfRange`]; a group whose committed offset was trimmed follows its reset policy.
//!   [`Topic::trim`] trims on demand (`XTRIM MAXLEN/MINID`), [`Topic::compact`] keeps the latest record per
//!   key.
//! - **Pub/sub** ([`pubsub`]): [`Topic::subscribe`] with a glob over keys, live and at most once, bounded
//!   per-subscriber buffers; a slow subscriber misses messages (counted), producers never wait.
//! - **Stats**: [`Topic::stats`] with partitions, groups (lag per partition) and work groups (pending).
//! - **Time** comes only from the topic's clock: with a [`ManualClock`](ember_core::ManualClock), retention
//!   by age, session timeouts, idle times and blocking reads are all tested without sleeping.
//! - **Storage** is behind the small [`storage::PartitionStorage`] seam (append, read a range, trim the
//!   head, compact), so an on-disk partition can replace the in-memory default.
//!
//! Everything is `Send + Sync`; a `Topic` is a cheap handle to share between threads.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod consumer;
#[cfg(feature = "durable")]
pub mod durable;
mod error;
pub mod group;
pub mod pending;
pub mod pubsub;
mod record;
pub mod stats;
pub mod storage;
mod timeindex;
mod topic;
pub mod window;

pub use consumer::{Consumer, Start};
pub use error::{Error, Result};
pub use group::{Assignor, AutoOffsetReset, ConsumerGroup, GroupBuilder, GroupConsumer};
pub use pending::{
    AutoClaim, Delivery, PendingEntry, PendingQuery, PendingSummary, WorkGroup, WorkGroupBuilder,
};
pub use pubsub::{Pattern, Subscription};
pub use record::{Bytes, Header, Message, Record, RecordId};
pub use stats::{GroupPartitionStats, GroupStats, PartitionStats, TopicStats, WorkGroupStats};
pub use timeindex::OffsetAndTimestamp;
pub use topic::{Retention, StorageFactory, Topic, TopicBuilder, UnkeyedPolicy};
