//! Where a partition's records live: the [`PartitionStorage`] seam and its in-memory implementation.
//!
//! A [`Topic`](crate::Topic) keeps everything that is *about* a partition (offset assignment, locking,
//! retention policy, wake-ups, pub/sub, groups) and delegates the records themselves to one
//! `PartitionStorage` per partition. The contract is small on purpose — append at the end (records
//! holding [`Bytes`], or borrowed slices to copy with `append_copy`), read a range, trim the head,
//! optionally compact — so that an on-disk log (segments, an index, recovery) can be
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
use crate::timeindex::{OffsetAndTimestamp, TimeIndex};

/// A record with the time it was appended (milliseconds since the Unix epoch, from the topic's clock),
/// which retention by age judges by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record, its offset already assigned.
    pub record: Record,
    /// When the topic appended it (log-append time), in milliseconds since the Unix epoch.
    pub append_millis: u64,
}

/// A record to append whose key and value are borrowed: see [`PartitionStorage::append_copy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedRecord<'a> {
    /// The partition.
    pub partition: u32,
    /// Its offset (the storage's `next_offset()`).
    pub offset: u64,
    /// Its timestamp, in Unix milliseconds.
    pub timestamp: u64,
    /// When the topic appended it, in Unix milliseconds.
    pub append_millis: u64,
    /// The key, if any.
    pub key: Option<&'a [u8]>,
    /// The value.
    pub value: &'a [u8],
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

    /// Appends one record whose key and value are borrowed (from [`Topic::append_copy`](crate::Topic::append_copy)):
    /// the storage copies them to wherever it keeps data. The default copies them into new [`Bytes`]
    /// and calls [`append`](PartitionStorage::append).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) if the record could not be stored.
    fn append_copy(&mut self, record: CopiedRecord<'_>) -> Result<()> {
        self.append(StoredRecord {
            record: Record {
                partition: record.partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.map(Bytes::copy_from_slice),
                value: Bytes::copy_from_slice(record.value),
                headers: Vec::new(),
            },
            append_millis: record.append_millis,
        })
    }

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

    /// The first stored record, in offset order, whose timestamp is `>= timestamp`: its offset and
    /// timestamp, or `None` if no stored record has such a timestamp (Kafka's lookup by timestamp; the
    /// rule is spelled out in [`Topic::offset_for_time`](crate::Topic::offset_for_time)).
    ///
    /// The default reads the records from [`earliest`](PartitionStorage::earliest) on until it finds
    /// one: correct for any storage but linear in the partition's length. [`MemoryStorage`] and the
    /// durable `LogStorage` keep a time index instead and answer in a few hundred comparisons.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) if the records could not be read.
    fn offset_for_time(&self, timestamp: u64) -> Result<Option<OffsetAndTimestamp>> {
        let mut next = self.earliest();
        let end = self.next_offset();
        let mut batch = Vec::new();
        while next < end {
            batch.clear();
            self.read(next, 1024, &mut batch)?;
            let Some(last) = batch.last() else {
                break;
            };
            next = last.offset + 1;
            if let Some(r) = batch.iter().find(|r| r.timestamp >= timestamp) {
                return Ok(Some(OffsetAndTimestamp {
                    offset: r.offset,
                    timestamp: r.timestamp,
                }));
            }
        }
        Ok(None)
    }

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
/// Payloads handed over as [`Bytes`] are kept as they are (shared, no copy). Payloads appended from
/// borrowed slices ([`append_copy`](PartitionStorage::append_copy)) are copied into 256 KiB segments,
/// like a log's bytes: no allocation and no reference count per record. A record in a sealed segment is
/// read as a slice of it (shared); a record in the segment still being written is copied out on read.
/// A segment is freed when retention has removed all its records.
///
/// Reads find their start in O(1) while offsets are dense and by binary search after compaction made
/// gaps; trimming the head is O(records removed). A time index (a maximum timestamp per 64 offsets,
/// and per 4 096, ...) answers [`offset_for_time`](PartitionStorage::offset_for_time) without a scan.
///
/// ```
/// use ember_stream::storage::{MemoryStorage, PartitionStorage};
/// let s = MemoryStorage::new();
/// assert_eq!((s.earliest(), s.next_offset(), s.len()), (0, 0, 0));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStorage {
    slots: VecDeque<Slot>,
    /// The log start offset: moved by trimming, not by compaction.
    start: u64,
    next_offset: u64,
    bytes: u64,
    /// The segment being written, its id and the last offset written into it.
    active: Vec<u8>,
    active_id: u64,
    active_last: u64,
    /// Sealed segments, oldest first, with consecutive ids.
    sealed: VecDeque<Sealed>,
    /// Largest timestamps per range of offsets, for lookups by time.
    times: TimeIndex,
}

const SEGMENT: usize = 256 * 1024;
const NO_KEY: u32 = u32::MAX;

#[derive(Debug)]
struct Sealed {
    id: u64,
    last_offset: u64,
    data: Bytes,
}

#[derive(Debug)]
enum Payload {
    Shared {
        key: Option<Bytes>,
        value: Bytes,
    },
    Inline {
        segment: u64,
        start: u32,
        key_len: u32,
        value_len: u32,
    },
}

#[derive(Debug)]
struct Slot {
    offset: u64,
    timestamp: u64,
    append_millis: u64,
    partition: u32,
    payload: Payload,
    headers: Vec<crate::record::Header>,
}

impl Slot {
    fn size(&self) -> u64 {
        let payload = match &self.payload {
            Payload::Shared { key, value } => key.as_ref().map_or(0, Bytes::len) + value.len(),
            Payload::Inline {
                key_len, value_len, ..
            } => {
                (if *key_len == NO_KEY {
                    0
                } else {
                    *key_len as usize
                }) + *value_len as usize
            }
        };
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        (payload + headers) as u64
    }
}

enum Segment<'a> {
    Active(&'a [u8]),
    Sealed(&'a Bytes),
}

impl MemoryStorage {
    /// An empty storage starting at offset 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn start_index(&self, from: u64) -> usize {
        let Some(first) = self.slots.front() else {
            return 0;
        };
        if from <= first.offset {
            return 0;
        }
        let guess = (from - first.offset) as usize;
        if guess < self.slots.len() && self.slots[guess].offset == from {
            return guess;
        }
        self.slots.partition_point(|r| r.offset < from)
    }

    fn segment(&self, id: u64) -> Segment<'_> {
        if id == self.active_id {
            return Segment::Active(&self.active);
        }
        let first = self.sealed.front().map_or(0, |s| s.id);
        Segment::Sealed(&self.sealed[(id - first) as usize].data)
    }

    fn slice(&self, segment: u64, start: u32, len: u32) -> Bytes {
        let range = start as usize..start as usize + len as usize;
        match self.segment(segment) {
            Segment::Active(data) => Bytes::copy_from_slice(&data[range]),
            Segment::Sealed(data) => data.slice(range),
        }
    }

    fn key_of<'a>(&'a self, slot: &'a Slot) -> Option<&'a [u8]> {
        match &slot.payload {
            Payload::Shared { key, .. } => key.as_deref(),
            Payload::Inline {
                segment,
                start,
                key_len,
                ..
            } => {
                if *key_len == NO_KEY {
                    return None;
                }
                let range = *start as usize..(*start + *key_len) as usize;
                Some(match self.segment(*segment) {
                    Segment::Active(data) => &data[range],
                    Segment::Sealed(data) => &data[range],
                })
            }
        }
    }

    fn materialize(&self, slot: &Slot) -> Record {
        let (key, value) = match &slot.payload {
            Payload::Shared { key, value } => (key.clone(), value.clone()),
            Payload::Inline {
                segment,
                start,
                key_len,
                value_len,
            } => {
                let (key, value_start) = if *key_len == NO_KEY {
                    (None, *start)
                } else {
                    (
                        Some(self.slice(*segment, *start, *key_len)),
                        *start + *key_len,
                    )
                };
                (key, self.slice(*segment, value_start, *value_len))
            }
        };
        Record {
            partition: slot.partition,
            offset: slot.offset,
            timestamp: slot.timestamp,
            key,
            value,
            headers: slot.headers.clone(),
        }
    }

    #[inline]
    fn push(&mut self, slot: Slot) {
        debug_assert_eq!(slot.offset, self.next_offset);
        let (offset, timestamp) = (slot.offset, slot.timestamp);
        self.next_offset = offset + 1;
        self.bytes += slot.size();
        // The slot goes straight into the deque; the index (which may call out) comes after.
        self.slots.push_back(slot);
        self.times.push(offset, timestamp);
    }

    /// Frees the segments no remaining record points into.
    fn release_segments(&mut self) {
        let first = self.slots.front().map_or(self.next_offset, |s| s.offset);
        while self.sealed.front().is_some_and(|s| s.last_offset < first) {
            self.sealed.pop_front();
        }
        if self.active_last < first && !self.active.is_empty() {
            self.active.clear();
        }
    }
}

impl PartitionStorage for MemoryStorage {
    fn append(&mut self, record: StoredRecord) -> Result<()> {
        let StoredRecord {
            record,
            append_millis,
        } = record;
        self.push(Slot {
            offset: record.offset,
            timestamp: record.timestamp,
            append_millis,
            partition: record.partition,
            payload: Payload::Shared {
                key: record.key,
                value: record.value,
            },
            headers: record.headers,
        });
        Ok(())
    }

    fn append_copy(&mut self, record: CopiedRecord<'_>) -> Result<()> {
        let key_len = record.key.map_or(0, <[u8]>::len);
        let total = key_len + record.value.len();
        let payload = if total > SEGMENT / 8 {
            Payload::Shared {
                key: record.key.map(Bytes::copy_from_slice),
                value: Bytes::copy_from_slice(record.value),
            }
        } else {
            if self.active.len() + total > self.active.capacity() {
                if !self.active.is_empty() {
                    let full = std::mem::replace(&mut self.active, Vec::with_capacity(SEGMENT));
                    self.sealed.push_back(Sealed {
                        id: self.active_id,
                        last_offset: self.active_last,
                        data: Bytes::from(full),
                    });
                    self.active_id += 1;
                } else {
                    self.active.reserve_exact(SEGMENT);
                }
            }
            let start = self.active.len() as u32;
            if let Some(key) = record.key {
                self.active.extend_from_slice(key);
            }
            self.active.extend_from_slice(record.value);
            self.active_last = record.offset;
            Payload::Inline {
                segment: self.active_id,
                start,
                key_len: record.key.map_or(NO_KEY, |k| k.len() as u32),
                value_len: record.value.len() as u32,
            }
        };
        self.push(Slot {
            offset: record.offset,
            timestamp: record.timestamp,
            append_millis: record.append_millis,
            partition: record.partition,
            payload,
            headers: Vec::new(),
        });
        Ok(())
    }

    fn read(&self, from: u64, max: usize, out: &mut Vec<Record>) -> Result<()> {
        let start = self.start_index(from);
        out.extend(
            self.slots
                .range(start..)
                .take(max)
                .map(|s| self.materialize(s)),
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
        self.slots.len() as u64
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn head_append_millis(&self) -> Option<u64> {
        self.slots.front().map(|r| r.append_millis)
    }

    fn trim(&mut self, limits: &TrimLimits) -> Result<Trimmed> {
        let mut trimmed = Trimmed::default();
        while let Some(head) = self.slots.front() {
            let over = limits
                .max_records
                .is_some_and(|m| self.slots.len() as u64 > m)
                || limits.max_bytes.is_some_and(|m| self.bytes > m)
                || limits
                    .min_append_millis
                    .is_some_and(|t| head.append_millis < t)
                || limits.min_offset.is_some_and(|o| head.offset < o);
            if !over {
                break;
            }
            let size = head.size();
            self.slots.pop_front();
            self.bytes -= size;
            trimmed.records += 1;
            trimmed.bytes += size;
        }
        if trimmed.records > 0 {
            self.start = self.slots.front().map_or(self.next_offset, |r| r.offset);
            self.release_segments();
            self.times.trim_before(self.start);
        }
        Ok(trimmed)
    }

    fn offset_for_time(&self, timestamp: u64) -> Result<Option<OffsetAndTimestamp>> {
        self.times.find(timestamp, self.start, &mut |lo, hi| {
            let from = self.start_index(lo);
            Ok(self
                .slots
                .range(from..)
                .take_while(|s| s.offset < hi)
                .find(|s| s.timestamp >= timestamp)
                .map(|s| OffsetAndTimestamp {
                    offset: s.offset,
                    timestamp: s.timestamp,
                }))
        })
    }

    fn compact(&mut self) -> Result<Trimmed> {
        let keep: Vec<bool> = {
            let mut seen: HashSet<&[u8]> = HashSet::new();
            let mut keep = vec![true; self.slots.len()];
            for (i, slot) in self.slots.iter().enumerate().rev() {
                if let Some(key) = self.key_of(slot) {
                    if !seen.insert(key) {
                        keep[i] = false;
                    }
                }
            }
            keep
        };
        let mut trimmed = Trimmed::default();
        let mut i = 0;
        let bytes = &mut self.bytes;
        self.slots.retain(|r| {
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
        if trimmed.records > 0 {
            // Removed records may have held a leaf's largest timestamp: index the survivors afresh.
            self.times.clear();
            for slot in &self.slots {
                self.times.push(slot.offset, slot.timestamp);
            }
        }
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
    fn copied_payloads_span_segments_and_segments_are_freed_by_trim() {
        let mut s = MemoryStorage::new();
        let value = vec![7u8; 1000];
        let n = 6 * SEGMENT as u64 / 1000;
        for i in 0..n {
            let key = format!("k{}", i % 5);
            s.append_copy(CopiedRecord {
                partition: 3,
                offset: i,
                timestamp: i,
                append_millis: i,
                key: (i % 2 == 0).then_some(key.as_bytes()),
                value: &value[..(i % 1000) as usize],
            })
            .unwrap();
        }
        assert!(s.sealed.len() >= 2);
        let mut out = Vec::new();
        s.read(0, usize::MAX, &mut out).unwrap();
        for r in &out {
            assert_eq!(r.partition, 3);
            assert_eq!(r.value.len() as u64, r.offset % 1000);
            assert_eq!(r.key.is_some(), r.offset % 2 == 0);
            if let Some(k) = &r.key {
                assert_eq!(&k[..], format!("k{}", r.offset % 5).as_bytes());
            }
        }
        let sealed = s.sealed.len();
        s.trim(&TrimLimits {
            min_offset: Some(n - 10),
            ..TrimLimits::default()
        })
        .unwrap();
        assert!(
            s.sealed.len() < sealed,
            "segments without records are freed"
        );
        s.trim(&TrimLimits {
            max_records: Some(0),
            ..TrimLimits::default()
        })
        .unwrap();
        assert!(s.sealed.is_empty() && s.active.is_empty());
        // Copied and shared records compact together.
        let mut c = MemoryStorage::new();
        for (i, k) in ["a", "b", "a"].iter().enumerate() {
            c.append_copy(CopiedRecord {
                partition: 0,
                offset: i as u64,
                timestamp: 0,
                append_millis: 0,
                key: Some(k.as_bytes()),
                value: b"v",
            })
            .unwrap();
        }
        c.append(rec(3, Some("b"), "w", 0)).unwrap();
        assert_eq!(c.compact().unwrap().records, 2);
        assert_eq!(offsets(&c, 0, 10), vec![2, 3]);
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
