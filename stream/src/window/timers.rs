//! A monotone priority queue for event-time timers (a radix heap).
//!
//! Timers are only ever set at or after the current watermark and popped when the watermark passes
//! them, so the keys popped never decrease and every key pushed is at least the last one popped. A
//! radix heap exploits that: 65 buckets by the highest bit in which a key differs from the last key
//! popped; a push is O(1), and each entry is redistributed at most 64 times in its life. It is much
//! cheaper than a binary heap for the session engine, where every key re-arms its timer often.

/// The queue. `T` is carried along with each key.
#[derive(Debug, Clone)]
pub(crate) struct RadixQueue<T> {
    last: u64,
    buckets: Vec<Vec<(u64, T)>>,
    mins: Box<[u64; 65]>,
    /// Bit `i` set when bucket `i` is not empty.
    mask: u128,
    len: usize,
}

impl<T> RadixQueue<T> {
    pub(crate) fn new() -> Self {
        RadixQueue {
            last: 0,
            buckets: (0..65).map(|_| Vec::new()).collect(),
            mins: Box::new([u64::MAX; 65]),
            mask: 0,
            len: 0,
        }
    }

    #[inline]
    fn bucket(&self, key: u64) -> usize {
        let x = key.max(self.last) ^ self.last;
        if x == 0 {
            0
        } else {
            64 - x.leading_zeros() as usize
        }
    }

    /// Adds a timer. Keys below the last popped one are served first (they should not happen).
    #[inline]
    pub(crate) fn push(&mut self, key: u64, value: T) {
        let b = self.bucket(key);
        self.buckets[b].push((key, value));
        self.mins[b] = self.mins[b].min(key);
        self.mask |= 1 << b;
        self.len += 1;
    }

    /// Removes and returns a timer whose key is below `limit`, smallest first; `None` if there is none.
    #[inline]
    pub(crate) fn pop_below(&mut self, limit: u64) -> Option<(u64, T)> {
        if self.mask & 1 == 0 {
            if self.mask == 0 {
                return None;
            }
            let i = self.mask.trailing_zeros() as usize;
            let m = self.mins[i];
            if m >= limit {
                return None;
            }
            // Everything in bucket i is smaller than anything in higher buckets, and `m` is below
            // the watermark, so no later push can be smaller: make it the new origin.
            self.last = m;
            let mut items = std::mem::take(&mut self.buckets[i]);
            self.mins[i] = u64::MAX;
            self.mask &= !(1 << i);
            self.len -= items.len();
            for (k, v) in items.drain(..) {
                self.push(k, v);
            }
            self.buckets[i] = items;
        }
        if self.mins[0] >= limit {
            return None;
        }
        let item = self.buckets[0].pop();
        if item.is_some() {
            self.len -= 1;
        }
        if self.buckets[0].is_empty() {
            self.mask &= !1;
            self.mins[0] = u64::MAX;
        }
        item
    }

    pub(crate) fn clear(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        *self.mins = [u64::MAX; 65];
        self.mask = 0;
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
        fn behaves_like_a_sorted_multiset(ops in prop::collection::vec((0u64..3, 0u64..1_000, 0u64..50), 1..300)) {
            let mut q = RadixQueue::new();
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
