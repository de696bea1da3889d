//! A priority queue for event-time timers: a calendar of time buckets sorted on demand.
//!
//! Timers are only ever set at or after the current watermark and popped when the watermark passes
//! them. Entries go unsorted into the bucket of their time (`key >> shift`): buckets close ahead live
//! in a ring of reused vectors (one index computation per push), further ones in an ordered map until
//! the ring reaches them. A bucket is sorted once, when the watermark reaches it — by counting over
//! the low bits of its keys — and then drained from the end. Entries that arrive for a bucket already
//! sorted go to a small binary heap beside it. Each entry is pushed with a `Vec::push` and sorted
//! once in linear time: far fewer instructions than a binary or radix heap for the session engine,
//! where every key re-arms its timer often.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Buckets held in the ring; timers further ahead wait in an ordered map.
const RING: u64 = 64;

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
    /// Bucket `n` (`key >> shift`) for `base <= n < base + RING` lives at `ring[n % RING]`; a
    /// timer lands there with one index computation, and vectors are reused as the ring turns.
    ring: Vec<Bucket<T>>,
    base: u64,
    /// Entries in the ring.
    in_ring: usize,
    /// Buckets at or beyond `base + RING`.
    far: BTreeMap<u64, Vec<(u64, T)>>,
    /// Entries for a bucket already sorted (or already passed).
    late: BinaryHeap<Reverse<(u64, T)>>,
    /// Scratch space of the radix sort.
    scratch: Vec<(u64, T)>,
    count: Vec<usize>,
    len: usize,
}

impl<T: Ord + Copy> TimerQueue<T> {
    /// A queue with buckets `2^shift` ms wide.
    pub(crate) fn new(shift: u32) -> Self {
        TimerQueue {
            shift: shift.min(40),
            ring: (0..RING)
                .map(|_| Bucket {
                    items: Vec::new(),
                    sorted: false,
                })
                .collect(),
            base: 0,
            in_ring: 0,
            far: BTreeMap::new(),
            late: BinaryHeap::new(),
            scratch: Vec::new(),
            count: Vec::new(),
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
        let number = key >> self.shift;
        if number < self.base {
            self.late.push(Reverse((key, value)));
        } else if number - self.base < RING {
            let bucket = &mut self.ring[(number % RING) as usize];
            if bucket.sorted {
                self.late.push(Reverse((key, value)));
            } else {
                bucket.items.push((key, value));
                self.in_ring += 1;
            }
        } else {
            self.far.entry(number).or_default().push((key, value));
        }
    }

    /// Removes and returns a timer whose key is below `limit`, smallest first; `None` if there is none.
    #[inline]
    pub(crate) fn pop_below(&mut self, limit: u64) -> Option<(u64, T)> {
        loop {
            if self.in_ring == 0 {
                // Jump over empty buckets: to the first far bucket (or to `limit`'s bucket).
                let next = match self.far.first_key_value() {
                    Some((&n, _)) => n,
                    None => return self.pop_late(limit),
                };
                if next << self.shift >= limit {
                    return self.pop_late(limit);
                }
                self.ring[(self.base % RING) as usize].sorted = false;
                self.base = next;
                self.pull_far();
                continue;
            }
            let at = (self.base % RING) as usize;
            let bucket = &mut self.ring[at];
            if !bucket.sorted {
                if self.base << self.shift >= limit {
                    return self.pop_late(limit);
                }
                sort_desc(
                    &mut bucket.items,
                    self.shift,
                    &mut self.scratch,
                    &mut self.count,
                );
                bucket.sorted = true;
            }
            let Some(&(min, _)) = bucket.items.last() else {
                // Drained: the ring turns by one bucket.
                bucket.sorted = false;
                self.base += 1;
                self.pull_far();
                continue;
            };
            if self.late.peek().is_some_and(|Reverse((l, _))| *l < min) {
                return self.pop_late(limit);
            }
            if min < limit {
                self.len -= 1;
                self.in_ring -= 1;
                return bucket.items.pop();
            }
            return None;
        }
    }

    /// Moves far buckets that now fall within the ring into it.
    fn pull_far(&mut self) {
        while let Some(entry) = self.far.first_entry() {
            let number = *entry.key();
            if number - self.base >= RING {
                break;
            }
            let items = entry.remove();
            self.in_ring += items.len();
            let bucket = &mut self.ring[(number % RING) as usize];
            if bucket.items.is_empty() {
                bucket.items = items;
            } else {
                bucket.items.extend(items);
            }
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
        for b in &mut self.ring {
            b.items.clear();
            b.sorted = false;
        }
        self.in_ring = 0;
        self.far.clear();
        self.late.clear();
        self.len = 0;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Sorts one bucket's entries by key, descending. All keys agree above bit `shift`, so a large
/// bucket is sorted by counting (one pass over up to 11 low bits, else least-significant-digit radix
/// passes of 8 bits); small buckets, or very wide ones, by comparison. Entries with equal keys may
/// come in any order.
fn sort_desc<T: Copy>(
    items: &mut [(u64, T)],
    shift: u32,
    scratch: &mut Vec<(u64, T)>,
    count: &mut Vec<usize>,
) {
    if items.len() < 96 || shift > 16 {
        items.sort_unstable_by_key(|e| Reverse(e.0));
        return;
    }
    let mask = (1u64 << shift) - 1;
    let digit_bits = if shift <= 11 { shift } else { 8 };
    let digits = 1usize << digit_bits;
    count.resize(digits, 0);
    let mut bit = 0;
    while bit < shift {
        let digit = |k: u64| ((k & mask) >> bit) as usize & (digits - 1);
        count.fill(0);
        for e in items.iter() {
            count[digit(e.0)] += 1;
        }
        // Descending: the largest digit first; `count` becomes each digit's next position.
        let mut at = 0;
        for c in count.iter_mut().rev() {
            let n = *c;
            *c = at;
            at += n;
        }
        scratch.clear();
        scratch.extend_from_slice(items);
        for e in scratch.iter() {
            let d = digit(e.0);
            items[count[d]] = *e;
            count[d] += 1;
        }
        bit += digit_bits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// Against a sorted multiset, with the watermark discipline: pushes at or above the limit,
        /// pops below it. The keys start at 0, anywhere, or just below `u64::MAX` (timers of windows
        /// at the end of time: the ops below add at most 41 000 to the start).
        #[test]
        fn behaves_like_a_sorted_multiset(
            shift in 0u32..12,
            start in prop_oneof![Just(0u64), 0u64..u64::MAX / 2, Just(u64::MAX - 41_000)],
            ops in prop::collection::vec((0u64..6, 0u64..1_000, 0u64..50), 1..800),
        ) {
            let mut q = TimerQueue::new(shift);
            let mut model: BTreeMap<u64, usize> = BTreeMap::new();
            let mut limit = start;
            for (op, a, b) in ops {
                match op {
                    0..=4 => {
                        let key = limit + a;
                        q.push(key, key as u32 ^ 0x5a5a);
                        *model.entry(key).or_default() += 1;
                    }
                    _ => {
                        limit += b;
                        loop {
                            let got = q.pop_below(limit).map(|(k, v)| {
                                assert_eq!(v, k as u32 ^ 0x5a5a, "the value travels with its key");
                                k
                            });
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

    #[test]
    fn radix_sort_orders_large_buckets_descending() {
        let (mut scratch, mut count) = (Vec::new(), Vec::new());
        for shift in [4u32, 8, 9, 16] {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let base = 77u64 << shift;
            let mut items: Vec<(u64, u32)> = (0..1_000u32)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (base + (seed & ((1 << shift) - 1)), i)
                })
                .collect();
            let mut want = items.clone();
            want.sort_unstable_by(|a, b| b.cmp(a));
            sort_desc(&mut items, shift, &mut scratch, &mut count);
            let mut got = items.clone();
            assert!(
                got.windows(2).all(|w| w[0].0 >= w[1].0),
                "descending by key"
            );
            got.sort_unstable_by(|a, b| b.cmp(a));
            assert_eq!(got, want, "same entries");
        }
    }
}
