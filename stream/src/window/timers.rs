//! A priority queue for event-time timers: a calendar of time buckets sorted on demand.
//!
//! Timers are only ever set at or after the current watermark and popped when the watermark passes
//! them. Entries go unsorted into the bucket of their time (`key >> shift`, buckets in a small
//! ordered map); a bucket is sorted once, when the watermark reaches it, and then drained from the
//! end. Entries that arrive for a bucket already sorted go to a small binary heap beside it. A push
//! is one map lookup and a `Vec::push`; each entry is sorted once: far fewer instructions than a
//! binary or radix heap for the session engine, where every key re-arms its timer often.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

#[derive(Debug, Clone)]
struct Bucket<T> {
    items: Vec<(u64, T)>,
    /// Sorted by key, descending (the smallest last).
    sorted: bool,
}

/// The queue. `T` is carried along with each key.
#[derive(Debug, Clone)]
pub(crate) struct TimerQueue<T> {
    shift: u32,
    buckets: BTreeMap<u64, Bucket<T>>,
    /// Entries pushed into a bucket after it was sorted.
    late: BinaryHeap<Reverse<(u64, T)>>,
    len: usize,
}

impl<T: Ord> TimerQueue<T> {
    /// A queue with buckets `2^shift` ms wide.
    pub(crate) fn new(shift: u32) -> Self {
        TimerQueue {
            shift: shift.min(40),
            buckets: BTreeMap::new(),
            late: BinaryHeap::new(),
            len: 0,
        }
    }

    /// A bucket width for timers that are usually about `horizon` ms ahead: a quarter of it, as a
    /// power of two (at least 1 ms).
    pub(crate) fn shift_for(horizon: u64) -> u32 {
        (horizon / 4).max(1).ilog2()
    }

    /// Adds a timer.
    #[inline]
    pub(crate) fn push(&mut self, key: u64, value: T) {
        self.len += 1;
        let bucket = self
            .buckets
            .entry(key >> self.shift)
            .or_insert_with(|| Bucket {
                items: Vec::new(),
                sorted: false,
            });
        if bucket.sorted {
            self.late.push(Reverse((key, value)));
        } else {
            bucket.items.push((key, value));
        }
    }

    /// Removes and returns a timer whose key is below `limit`, smallest first; `None` if there is none.
    #[inline]
    pub(crate) fn pop_below(&mut self, limit: u64) -> Option<(u64, T)> {
        loop {
            let late_min = self.late.peek().map(|Reverse((k, _))| *k);
            let Some(mut first) = self.buckets.first_entry() else {
                return self.pop_late(limit);
            };
            let start = *first.key() << self.shift;
            let bucket = first.get_mut();
            if !bucket.sorted {
                if start >= limit {
                    // Everything in the buckets is at or after `limit`.
                    return self.pop_late(limit);
                }
                bucket.items.sort_unstable_by(|a, b| b.cmp(a));
                bucket.sorted = true;
            }
            let Some(&(min, _)) = bucket.items.last() else {
                first.remove();
                continue;
            };
            if late_min.is_some_and(|l| l < min) {
                return self.pop_late(limit);
            }
            if min < limit {
                self.len -= 1;
                return bucket.items.pop();
            }
            return None;
        }
    }

    fn pop_late(&mut self, limit: u64) -> Option<(u64, T)> {
        if self.late.peek().is_some_and(|Reverse((k, _))| *k < limit) {
            self.len -= 1;
            self.late.pop().map(|Reverse(e)| e)
        } else {
            None
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buckets.clear();
        self.late.clear();
        self.len = 0;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Against a sorted multiset, with the watermark discipline: pushes at or above the limit,
        /// pops below it.
        #[test]
        fn behaves_like_a_sorted_multiset(shift in 0u32..8, ops in prop::collection::vec((0u64..3, 0u64..1_000, 0u64..50), 1..300)) {
            let mut q = TimerQueue::new(shift);
            let mut model: BTreeMap<u64, usize> = BTreeMap::new();
            let mut limit = 0u64;
            for (op, a, b) in ops {
                match op {
                    0 | 1 => {
                        let key = limit + a;
                        q.push(key, ());
                        *model.entry(key).or_default() += 1;
                    }
                    _ => {
                        limit += b;
                        loop {
                            let got = q.pop_below(limit).map(|(k, _)| k);
                            let want = model.first_key_value().map(|(&k, _)| k).filter(|&k| k < limit);
                            prop_assert_eq!(got, want);
                            let Some(k) = want else { break };
                            let n = model.get_mut(&k).unwrap();
                            *n -= 1;
                            if *n == 0 {
                                model.remove(&k);
                            }
                        }
                    }
                }
                prop_assert_eq!(q.len(), model.values().sum::<usize>());
            }
        }
    }
}
