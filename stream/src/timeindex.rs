//! Looking records up by timestamp (Kafka's `offsetsForTimes`): [`OffsetAndTimestamp`], and the time
//! index each built-in partition storage keeps to answer it without scanning the partition.
//!
//! **The rule.** A lookup for target `t` (Unix milliseconds) answers with the *first retained record in
//! offset order whose timestamp is `>= t`*, and that record's timestamp; `None` if no retained record
//! has such a timestamp. It is Kafka's answer (`ListOffsets` by timestamp), also when producers set
//! timestamps that are not monotonic within a partition ([`Message::timestamp`](crate::Message::timestamp)):
//! the result is the earliest *offset*, not the record whose timestamp is closest to `t`. With
//! timestamps `[10, 30, 20, 40]` at offsets 0..4, target 15 and target 25 both give offset 1
//! (timestamp 30), target 35 gives offset 3, target 45 gives `None`. Consuming from the answer never
//! skips a record whose timestamp is `>= t`; records with older timestamps may still follow it when
//! timestamps go backwards. Records removed by retention or compaction are never returned; a target
//! older than every retained record gives the first retained record.
//!
//! **The index.** Offsets are grouped into leaves of 64, and leaves into nodes of 64, 4 096 and 262 144
//! leaves; each keeps the largest timestamp below it (an upper bound, since trimmed records are not
//! subtracted). A lookup walks down the leftmost nodes whose maximum reaches the target and checks the
//! timestamps of at most one leaf's records per step it cannot rule out — a few hundred comparisons
//! however long the partition is. Appending costs two comparisons (is the offset inside the open leaf,
//! is its timestamp a new maximum); the upper levels are updated once per 64 records. The index costs
//! about 0.13 byte per record.

use std::collections::VecDeque;

use crate::error::Result;

/// The answer to a lookup by time: the offset of the first record whose timestamp is at or after the
/// target, and that record's timestamp (Kafka's `OffsetAndTimestamp`). See
/// [`Topic::offset_for_time`](crate::Topic::offset_for_time).
///
/// ```
/// use ember_stream::{Message, OffsetAndTimestamp, Topic};
/// let topic = Topic::builder("t").build().unwrap();
/// topic.send(Message::new("a").timestamp(1_000)).unwrap();
/// topic.send(Message::new("b").timestamp(2_000)).unwrap();
/// assert_eq!(
///     topic.offset_for_time(0, 1_500).unwrap(),
///     Some(OffsetAndTimestamp { offset: 1, timestamp: 2_000 })
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OffsetAndTimestamp {
    /// The record's offset.
    pub offset: u64,
    /// The record's timestamp (Unix milliseconds), at or after the target.
    pub timestamp: u64,
}

/// No open leaf.
const NONE: u64 = u64::MAX;

/// One level of the index: the largest timestamp of each node, the front node being `first`.
#[derive(Debug, Default, Clone)]
struct Level {
    first: u64,
    max: VecDeque<u64>,
}

impl Level {
    /// Raises node `node`'s maximum to at least `ts`, appending nodes as needed (skipped nodes hold 0).
    fn raise(&mut self, node: u64, ts: u64) {
        if self.max.is_empty() {
            self.first = node;
            self.max.push_back(ts);
            return;
        }
        if node < self.first {
            return; // below the trimmed head: nothing retained there
        }
        let i = node - self.first;
        let len = self.max.len() as u64;
        if i < len {
            let m = &mut self.max[i as usize];
            *m = (*m).max(ts);
        } else {
            for _ in len..i {
                self.max.push_back(0);
            }
            self.max.push_back(ts);
        }
    }

    fn get(&self, node: u64) -> Option<u64> {
        let i = node.checked_sub(self.first)?;
        self.max.get(usize::try_from(i).ok()?).copied()
    }
}

/// The first offset after node `node` of a level whose nodes span `2^shift` offsets.
fn node_end(node: u64, shift: u32) -> u64 {
    u64::try_from((u128::from(node) + 1) << shift).unwrap_or(u64::MAX)
}

/// A sparse max-timestamp index over a partition's offsets. See the [module docs](self).
///
/// The owner pushes every record's `(offset, timestamp)` in offset order, calls
/// [`trim_before`](TimeIndex::trim_before) when the head is trimmed, rebuilds it after compaction, and
/// answers lookups with [`find`](TimeIndex::find), giving it a function that scans a range of its
/// records.
#[derive(Debug, Clone)]
pub(crate) struct TimeIndex {
    leaf_bits: u32,
    fan_bits: u32,
    /// `levels[k]`: nodes of `2^(leaf_bits + k * fan_bits)` offsets, over the committed leaves.
    levels: Vec<Level>,
    /// The leaf records are being appended to (not yet in `levels`), the offset its successor starts
    /// at, and its largest timestamp.
    open_leaf: u64,
    open_end: u64,
    open_max: u64,
    /// No node of `levels` ends at or below this offset: trimming below it has nothing to drop (lets
    /// the steady state, one record trimmed per append, skip the levels).
    trim_floor: u64,
}

impl Default for TimeIndex {
    fn default() -> Self {
        Self::with_shape(6, 6, 4)
    }
}

impl TimeIndex {
    /// An index with leaves of `2^leaf_bits` offsets, `2^fan_bits` children per node and `levels`
    /// levels (the top one is scanned linearly).
    pub(crate) fn with_shape(leaf_bits: u32, fan_bits: u32, levels: usize) -> Self {
        debug_assert!(levels >= 1 && leaf_bits + fan_bits * levels as u32 <= 60);
        TimeIndex {
            leaf_bits,
            fan_bits,
            levels: vec![Level::default(); levels],
            open_leaf: NONE,
            open_end: 0,
            open_max: 0,
            trim_floor: 0,
        }
    }

    fn shift(&self, level: usize) -> u32 {
        self.leaf_bits + self.fan_bits * level as u32
    }

    /// Records the timestamp of the record at `offset` (offsets pushed in increasing order).
    #[inline(always)]
    pub(crate) fn push(&mut self, offset: u64, timestamp: u64) {
        // Offsets only grow, so below `open_end` means inside the open leaf.
        if offset < self.open_end {
            if timestamp > self.open_max {
                self.open_max = timestamp;
            }
        } else {
            self.open(offset, timestamp);
        }
    }

    /// Commits the open leaf to the levels and opens the leaf of `offset`.
    #[cold]
    #[inline(never)]
    fn open(&mut self, offset: u64, timestamp: u64) {
        self.commit_open();
        let leaf = offset >> self.leaf_bits;
        self.open_leaf = leaf;
        self.open_end = node_end(leaf, self.leaf_bits);
        self.open_max = timestamp;
    }

    fn commit_open(&mut self) {
        if self.open_leaf == NONE {
            return;
        }
        let (leaf, max) = (self.open_leaf, self.open_max);
        for (k, level) in self.levels.iter_mut().enumerate() {
            level.raise(leaf >> (self.fan_bits * k as u32), max);
        }
        self.open_leaf = NONE;
        self.open_end = 0;
        // A level may have gained its first node: the next trim looks again.
        self.trim_floor = 0;
    }

    /// Forgets everything (the owner pushes its records again, after compaction).
    pub(crate) fn clear(&mut self) {
        for level in &mut self.levels {
            level.max.clear();
        }
        self.open_leaf = NONE;
        self.open_end = 0;
        self.open_max = 0;
        self.trim_floor = 0;
    }

    /// Drops the nodes that hold only offsets below `start` (the new log start after a trim).
    #[inline]
    pub(crate) fn trim_before(&mut self, start: u64) {
        if start >= self.trim_floor {
            self.drop_nodes_before(start);
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_nodes_before(&mut self, start: u64) {
        let mut floor = u64::MAX;
        for k in 0..self.levels.len() {
            let shift = self.shift(k);
            let level = &mut self.levels[k];
            while !level.max.is_empty() && node_end(level.first, shift) <= start {
                level.max.pop_front();
                level.first += 1;
            }
            if !level.max.is_empty() {
                floor = floor.min(node_end(level.first, shift));
            }
        }
        self.trim_floor = floor;
    }

    /// Index entries held (for tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.levels.iter().map(|l| l.max.len()).sum()
    }

    /// The first record at or after offset `start`, in offset order, whose timestamp is `>= target`.
    ///
    /// `scan(lo, hi)` must return the first stored record with an offset in `lo..hi` and a timestamp
    /// `>= target` (it is called with `lo >= start`, on at most one leaf's worth of offsets except for
    /// the open leaf and target 0, where `hi` is `u64::MAX`).
    pub(crate) fn find(
        &self,
        target: u64,
        start: u64,
        scan: &mut dyn FnMut(u64, u64) -> Result<Option<OffsetAndTimestamp>>,
    ) -> Result<Option<OffsetAndTimestamp>> {
        if target == 0 {
            // Every record qualifies (and nodes that hold no record hold 0).
            return scan(start, u64::MAX);
        }
        let top = self.levels.len() - 1;
        let level = &self.levels[top];
        for (i, &max) in level.max.iter().enumerate() {
            if max >= target {
                if let Some(hit) = self.descend(top, level.first + i as u64, target, start, scan)? {
                    return Ok(Some(hit));
                }
            }
        }
        if self.open_leaf != NONE && self.open_max >= target {
            let lo = self.open_leaf << self.leaf_bits;
            return scan(lo.max(start), u64::MAX);
        }
        Ok(None)
    }

    fn descend(
        &self,
        k: usize,
        node: u64,
        target: u64,
        start: u64,
        scan: &mut dyn FnMut(u64, u64) -> Result<Option<OffsetAndTimestamp>>,
    ) -> Result<Option<OffsetAndTimestamp>> {
        let end = node_end(node, self.shift(k));
        if end <= start {
            return Ok(None);
        }
        if k == 0 {
            let lo = node << self.leaf_bits;
            return scan(lo.max(start), end);
        }
        let first_child = node << self.fan_bits;
        for child in first_child..first_child + (1 << self.fan_bits) {
            match self.levels[k - 1].get(child) {
                Some(max) if max >= target => {
                    if let Some(hit) = self.descend(k - 1, child, target, start, scan)? {
                        return Ok(Some(hit));
                    }
                }
                Some(_) => {}
                None if child > self.levels[k - 1].first => break,
                None => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A partition model: `(offset, timestamp)` of the retained records, in offset order.
    fn lookup(index: &TimeIndex, records: &[(u64, u64)], start: u64, target: u64) -> Option<u64> {
        let hit = index
            .find(target, start, &mut |lo, hi| {
                let from = records.partition_point(|&(o, _)| o < lo);
                for &(o, ts) in &records[from..] {
                    if o >= hi {
                        break;
                    }
                    if ts >= target {
                        return Ok(Some(OffsetAndTimestamp {
                            offset: o,
                            timestamp: ts,
                        }));
                    }
                }
                Ok(None)
            })
            .unwrap();
        if let Some(h) = hit {
            assert_eq!(
                records.iter().find(|r| r.0 == h.offset).unwrap().1,
                h.timestamp
            );
        }
        hit.map(|h| h.offset)
    }

    fn brute(records: &[(u64, u64)], target: u64) -> Option<u64> {
        records.iter().find(|r| r.1 >= target).map(|r| r.0)
    }

    #[test]
    fn monotonic_and_non_monotonic() {
        let mut index = TimeIndex::with_shape(1, 1, 3);
        let records: Vec<(u64, u64)> = [10, 30, 20, 40, 40, 5, 50]
            .iter()
            .enumerate()
            .map(|(o, &t)| (o as u64, t))
            .collect();
        for &(o, t) in &records {
            index.push(o, t);
        }
        for (target, want) in [
            (0, Some(0)),
            (10, Some(0)),
            (15, Some(1)),
            (25, Some(1)),
            (30, Some(1)),
            (31, Some(3)),
            (40, Some(3)),
            (45, Some(6)),
            (50, Some(6)),
            (51, None),
        ] {
            assert_eq!(lookup(&index, &records, 0, target), want, "target {target}");
        }
    }

    #[test]
    fn memory_is_about_one_entry_per_leaf() {
        let mut index = TimeIndex::default();
        for o in 0..100_000u64 {
            index.push(o, o);
        }
        let leaves = 100_000 / 64;
        assert!(
            index.entries() <= leaves + leaves / 64 + 8,
            "{}",
            index.entries()
        );
        index.trim_before(90_000);
        assert!(index.entries() <= 10_000 / 64 + 8, "{}", index.entries());
    }

    #[test]
    fn a_lookup_scans_little_even_when_the_head_maximum_was_trimmed() {
        // The first record carries a huge timestamp and is trimmed; the rest are small and increasing.
        let mut index = TimeIndex::default();
        let mut records = vec![(0u64, u64::MAX)];
        index.push(0, u64::MAX);
        for o in 1..300_000u64 {
            index.push(o, o);
            records.push((o, o));
        }
        records.remove(0);
        index.trim_before(1);
        let mut scanned = 0usize;
        let hit = index
            .find(250_000, 1, &mut |lo, hi| {
                let from = records.partition_point(|&(o, _)| o < lo);
                for &(o, ts) in &records[from..] {
                    if o >= hi {
                        break;
                    }
                    scanned += 1;
                    if ts >= 250_000 {
                        return Ok(Some(OffsetAndTimestamp {
                            offset: o,
                            timestamp: ts,
                        }));
                    }
                }
                Ok(None)
            })
            .unwrap();
        assert_eq!(hit.map(|h| h.offset), Some(250_000));
        assert!(scanned < 300, "scanned {scanned} records");
    }

    /// 64 cases, or `PROPTEST_CASES` when set (as the integration tests do).
    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]
        #[test]
        fn matches_brute_force(
            steps in prop::collection::vec((0u64..60, 0u8..10), 1..300),
            targets in prop::collection::vec(0u64..70, 1..20),
            shape in (1u32..3, 1u32..3, 1usize..4),
        ) {
            let mut index = TimeIndex::with_shape(shape.0, shape.1, shape.2);
            let mut records: Vec<(u64, u64)> = Vec::new();
            let mut next = 0u64;
            let mut start = 0u64;
            for (ts, action) in steps {
                match action {
                    // Trim the head (retention) by a few records.
                    0 => {
                        let n = (ts % 5) as usize;
                        let n = n.min(records.len());
                        records.drain(..n);
                        start = records.first().map_or(next, |r| r.0);
                        index.trim_before(start);
                    }
                    // Compaction-like gaps: drop every other record and rebuild.
                    1 if ts % 7 == 0 => {
                        let mut i = 0;
                        records.retain(|_| { i += 1; i % 2 == 0 });
                        index.clear();
                        for &(o, t) in &records {
                            index.push(o, t);
                        }
                    }
                    _ => {
                        index.push(next, ts);
                        records.push((next, ts));
                        next += 1;
                    }
                }
                for &t in &targets {
                    prop_assert_eq!(lookup(&index, &records, start, t), brute(&records, t));
                }
            }
        }
    }
}
