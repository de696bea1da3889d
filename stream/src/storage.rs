//! Where a partition's records live: the [`PartitionStorage`] seam and its in-memory implementation.
//!
//! A [`Topic`](crate::Topic) keeps everything that is *about* a partition (offset assignment, locking,
//! retention policy, wake-ups, pub/sub, groups) and delegates the records themselves to one
//! `PartitionStorage` per partition. The contract is small on purpose — append at the end, read a range,
//! trim the head, optionally compact — so that an on-disk log (segments, an index, recovery) can be
//! slotted in with [`TopicBuilder::storage`](crate::TopicBuilder::storage) without touching the rest.
//! [`MemoryStorage`] is the default.
//!
//! The topic calls a storage with its partition lock held (a write lock for `append`, `trim` and
//! `compact`, a read lock for the rest), so implementations need no locking of their own.
//!
//! ```
//! use ember_stream::storage::{MemoryStorage, PartitionStorage};
//! use ember_stream::Topic;
//!
//! // The default, spelled out: one MemoryStorage per partition.
//! let topic = Topic::builder("t")
//!     .partitions(2)
//!     .storage(|_topic: &str, _partition: u32| Ok(Box::new(MemoryStorage::new()) as Box<dyn PartitionStorage>))
//!     .build()
//!     .unwrap();
//! topic.append("k", "v").unwrap();
//! ```

use std::collections::VecDeque;
use std::fmt;

use hashbrown::HashSet;

use crate::error::Result;
use crate::record::{Bytes, Record};

/// A record with the time it was appended (milliseconds since the Unix epoch, from the topic's clock),
/// which retention by age judges by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record, its offset already assigned.
    pub record: Record,
    /// When the topic appended it (log-append time), in milliseconds since the Unix epoch.
    pub append_millis: u64,
}

impl StoredRecord {
    fn size(&self) -> u64 {
        self.record.size() as u64
    }
}

/// The limits a [`PartitionStorage::trim`] enforces, each optional. A storage removes records from the
/// head (oldest first) while any limit is exceeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrimLimits {
    /// Keep at most this many records (Redis `MAXLEN`).
    pub max_records: Option<u64>,
    /// Keep at most this many bytes (as [`Record::size`] counts them; Kafka `retention.bytes`).
    pub max_bytes: Option<u64>,
    /// Remove records appended before this time, in Unix milliseconds (Kafka `retention.ms`).
    pub min_append_millis: Option<u64>,
    /// Remove records whose offset is below this one (Redis `MINID`).
    pub min_offset: Option<u64>,
}

/// What a trim or compaction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Records removed.
    pub records: u64,
    /// Bytes removed (as [`Record::size`] counts them).
    pub bytes: u64,
}

/// The storage of one partition's records. See the [module docs](self) for the contract.
///
/// Offsets are assigned by the topic: `append` always receives `next_offset()` as the record's offset,
/// and the storage must remember the end offset even when trimming empties it, so that offsets are never
/// reused. After compaction offsets have gaps; `read` returns the records at or after `from`.
pub trait PartitionStorage: Send + Sync + fmt::Debug {
    /// Appends one record at the end. Its offset is `self.next_offset()`.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) if the record could not be stored.
    fn append(&mut self, record: StoredRecord) -> Result<()>;

    /// Pushes onto `out`, in offset order, at most `max` records whose offset is `>= from`.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) if the records could not be read.
    fn read(&self, from: u64, max: usize, out: &mut Vec<Record>) -> Result<()>;

    /// Kafka's log start offset: the first offset that may be read. Trimming moves it to the first
    /// remaining record (or to `next_offset()` when nothing remains); compaction does not move it, so
    /// reading from it after compaction starts at the first surviving record.
    fn earliest(&self) -> u64;

    /// The offset the next appended record gets (Kafka's log end offset).
    fn next_offset(&self) -> u64;

    /// How many records are stored.
    fn len(&self) -> u64;

    /// Whether no record is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes stored, as [`Record::size`] counts them.
    fn bytes(&self) -> u64;

    /// The append time of the oldest stored record, if any (lets the topic check age retention cheaply).
    fn head_append_millis(&self) -> Option<u64>;

    /// Removes records from the head while any of `limits` is exceeded.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) if the storage failed.
    fn trim(&mut self, limits: &TrimLimits) -> Result<Trimmed>;

    /// Log compaction: keeps only the latest record of each key (unkeyed records are kept), without
    /// changing any offset. The default reports [`Error::Unsupported`](crate::Error::Unsupported).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) or [`Error::Storage`](crate::Error::Storage).
    fn compact(&mut self) -> Result<Trimmed> {
        Err(crate::Error::Unsupported("compaction"))
    }
}

/// The default storage: records in a `VecDeque` in offset order.
///
/// Reads find their start in O(1) while offsets are dense and by binary search after compaction made
/// gaps; trimming the head is O(records removed).
///
/// ```
/// use ember_stream::storage::{MemoryStorage, PartitionStorage};
/// let s = MemoryStorage::new();
/// assert_eq!((s.earliest(), s.next_offset(), s.len()), (0, 0, 0));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStorage {
    records: VecDeque<StoredRecord>,
    /// The log start offset: moved by trimming, not by compaction.
    start: u64,
    next_offset: u64,
    bytes: u64,
}

impl MemoryStorage {
    /// An empty storage starting at offset 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn start_index(&self, from: u64) -> usize {
        let Some(first) = self.records.front() else {
            return 0;
        };
        if from <= first.record.offset {
            return 0;
        }
        let guess = (from - first.record.offset) as usize;
        if guess < self.records.len() && self.records[guess].record.offset == from {
            return guess;
        }
        self.records.partition_point(|r| r.record.offset < from)
    }
}

impl PartitionStorage for MemoryStorage {
    fn append(&mut self, record: StoredRecord) -> Result<()> {
        debug_assert_eq!(record.record.offset, self.next_offset);
        self.next_offset = record.record.offset + 1;
        self.bytes += record.size();
        self.records.push_back(record);
        Ok(())
    }

    fn read(&self, from: u64, max: usize, out: &mut Vec<Record>) -> Result<()> {
        let start = self.start_index(from);
        out.extend(
            self.records
                .range(start..)
                .take(max)
                .map(|r| r.record.clone()),
        );
        Ok(())
    }

    fn earliest(&self) -> u64 {
        self.start
    }

    fn next_offset(&self) -> u64 {
        self.next_offset
    }

    fn len(&self) -> u64 {
        self.records.len() as u64
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn head_append_millis(&self) -> Option<u64> {
        self.records.front().map(|r| r.append_millis)
    }

    fn trim(&mut self, limits: &TrimLimits) -> Result<Trimmed> {
        let mut trimmed = Trimmed::default();
        while let Some(head) = self.records.front() {
            let over = limits
                .max_records
                .is_some_and(|m| self.records.len() as u64 > m)
                || limits.max_bytes.is_some_and(|m| self.bytes > m)
                || limits
                    .min_append_millis
                    .is_some_and(|t| head.append_millis < t)
                || limits.min_offset.is_some_and(|o| head.record.offset < o);
            if !over {
                break;
            }
            let size = head.size();
            self.records.pop_front();
            self.bytes -= size;
            trimmed.records += 1;
            trimmed.bytes += size;
        }
        if trimmed.records > 0 {
            self.start = self
                .records
                .front()
                .map_or(self.next_offset, |r| r.record.offset);
        }
        Ok(trimmed)
    }

    fn compact(&mut self) -> Result<Trimmed> {
        let mut seen: HashSet<Bytes> = HashSet::new();
        let mut keep = vec![true; self.records.len()];
        for (i, r) in self.records.iter().enumerate().rev() {
            if let Some(key) = &r.record.key {
                if !seen.insert(key.clone()) {
                    keep[i] = false;
                }
            }
        }
        let mut trimmed = Trimmed::default();
        let mut i = 0;
        let bytes = &mut self.bytes;
        self.records.retain(|r| {
            let k = keep[i];
            i += 1;
            if !k {
                let size = r.size();
                *bytes -= size;
                trimmed.records += 1;
                trimmed.bytes += size;
            }
            k
        });
        Ok(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: u64, key: Option<&'static str>, value: &'static str, at: u64) -> StoredRecord {
        StoredRecord {
            record: Record {
                partition: 0,
                offset,
                timestamp: at,
                key: key.map(|k| Bytes::from_static(k.as_bytes())),
                value: Bytes::from_static(value.as_bytes()),
                headers: Vec::new(),
            },
            append_millis: at,
        }
    }

    fn filled(n: u64) -> MemoryStorage {
        let mut s = MemoryStorage::new();
        for i in 0..n {
            s.append(rec(
                i,
                Some(["a", "b", "c"][(i % 3) as usize]),
                "xx",
                i * 10,
            ))
            .unwrap();
        }
        s
    }

    fn offsets(s: &MemoryStorage, from: u64, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        s.read(from, max, &mut out).unwrap();
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn trim_by_each_limit() {
        let mut s = filled(10);
        assert_eq!(s.bytes(), 30);
        let t = s
            .trim(&TrimLimits {
                max_records: Some(7),
                ..TrimLimits::default()
            })
            .unwrap();
        assert_eq!(
            t,
            Trimmed {
                records: 3,
                bytes: 9
            }
        );
        assert_eq!(s.earliest(), 3);
        s.trim(&TrimLimits {
            max_bytes: Some(15),
            ..TrimLimits::default()
        })
        .unwrap();
        assert_eq!((s.earliest(), s.bytes()), (5, 15));
        s.trim(&TrimLimits {
            min_append_millis: Some(65),
            ..TrimLimits::default()
        })
        .unwrap();
        assert_eq!(s.earliest(), 7);
        s.trim(&TrimLimits {
            min_offset: Some(9),
            ..TrimLimits::default()
        })
        .unwrap();
        assert_eq!(offsets(&s, 0, 10), vec![9]);
        s.trim(&TrimLimits {
            max_records: Some(0),
            ..TrimLimits::default()
        })
        .unwrap();
        assert!(s.is_empty());
        assert_eq!((s.earliest(), s.next_offset()), (10, 10));
    }

    #[test]
    fn compaction_keeps_latest_per_key_and_offsets() {
        let mut s = filled(9);
        s.append(rec(9, None, "u", 90)).unwrap();
        let t = s.compact().unwrap();
        assert_eq!(t.records, 6);
        assert_eq!(offsets(&s, 0, 100), vec![6, 7, 8, 9]);
        // Reads in gaps start at the next stored record.
        assert_eq!(offsets(&s, 3, 2), vec![6, 7]);
        assert_eq!(offsets(&s, 7, 100), vec![7, 8, 9]);
        assert_eq!(offsets(&s, 10, 100), Vec::<u64>::new());
        assert_eq!(s.bytes(), 10);
    }
}
