//! O(1) LFU with LRU tie-break and aging.
//!
//! The classic constant-time layout: a doubly linked list of frequency buckets in increasing frequency,
//! each holding its entries in an LRU list. A hit moves the entry to the bucket of the next frequency
//! (created next to its bucket if missing); the victim is the least recent entry of the lowest bucket.
//!
//! Aging: after `AGE_FACTOR` × (entries) hits and inserts, every frequency is halved (at least 1) and the
//! buckets are rebuilt keeping recency order inside each new bucket. The rebuild costs O(n log n) once
//! every O(n) operations, so an amortised O(log n / AGE_FACTOR) per operation; between rebuilds every
//! operation is O(1). Without aging an entry that was hot long ago would never leave.

use super::Eviction;
use super::list::{Links, List, NIL};

/// Operations between two halvings, per entry.
const AGE_FACTOR: u64 = 8;

struct Bucket {
    freq: u32,
    list: List,
    prev: u32,
    next: u32,
}

pub(crate) struct Lfu {
    links: Links,
    /// Bucket of each slot.
    bucket_of: Vec<u32>,
    /// Last access tick of each slot (used to keep recency order through aging).
    tick_of: Vec<u64>,
    buckets: Vec<Bucket>,
    free_buckets: Vec<u32>,
    /// Lowest-frequency bucket.
    first: u32,
    len: usize,
    tick: u64,
    ops_since_aging: u64,
}

impl Lfu {
    pub(crate) fn new() -> Self {
        Lfu {
            links: Links::default(),
            bucket_of: Vec::new(),
            tick_of: Vec::new(),
            buckets: Vec::new(),
            free_buckets: Vec::new(),
            first: NIL,
            len: 0,
            tick: 0,
            ops_since_aging: 0,
        }
    }

    /// The frequency recorded for slot `idx` (tests).
    #[cfg(test)]
    fn freq(&self, idx: u32) -> u32 {
        self.buckets[self.bucket_of[idx as usize] as usize].freq
    }

    fn new_bucket(&mut self, freq: u32, prev: u32, next: u32) -> u32 {
        let b = Bucket {
            freq,
            list: List::default(),
            prev,
            next,
        };
        let id = match self.free_buckets.pop() {
            Some(id) => {
                self.buckets[id as usize] = b;
                id
            }
            None => {
                self.buckets.push(b);
                (self.buckets.len() - 1) as u32
            }
        };
        if prev != NIL {
            self.buckets[prev as usize].next = id;
        } else {
            self.first = id;
        }
        if next != NIL {
            self.buckets[next as usize].prev = id;
        }
        id
    }

    fn drop_bucket_if_empty(&mut self, id: u32) {
        let b = &self.buckets[id as usize];
        if b.list.len > 0 {
            return;
        }
        let (p, n) = (b.prev, b.next);
        if p != NIL {
            self.buckets[p as usize].next = n;
        } else {
            self.first = n;
        }
        if n != NIL {
            self.buckets[n as usize].prev = p;
        }
        self.free_buckets.push(id);
    }

    fn link(&mut self, idx: u32, bucket: u32) {
        self.buckets[bucket as usize]
            .list
            .push_front(&mut self.links, idx, 0);
        self.bucket_of[idx as usize] = bucket;
        self.tick += 1;
        self.tick_of[idx as usize] = self.tick;
    }

    fn unlink(&mut self, idx: u32) -> u32 {
        let b = self.bucket_of[idx as usize];
        self.buckets[b as usize]
            .list
            .unlink(&mut self.links, idx, 0);
        b
    }

    fn count_op(&mut self) {
        self.ops_since_aging += 1;
        if self.ops_since_aging >= AGE_FACTOR * (self.len as u64).max(64) {
            self.age();
        }
    }

    /// Halves every frequency, keeping recency order among entries that land in the same bucket.
    fn age(&mut self) {
        self.ops_since_aging = 0;
        let mut all: Vec<(u32, u64, u32)> = Vec::with_capacity(self.len);
        let mut b = self.first;
        while b != NIL {
            let bucket = &self.buckets[b as usize];
            let freq = (bucket.freq / 2).max(1);
            all.extend(
                bucket
                    .list
                    .iter_from_back(&self.links)
                    .map(|idx| (freq, self.tick_of[idx as usize], idx)),
            );
            b = bucket.next;
        }
        all.sort_unstable_by_key(|&(f, t, _)| (f, t));
        self.buckets.clear();
        self.free_buckets.clear();
        self.first = NIL;
        let mut last = NIL;
        for (freq, tick, idx) in all {
            if last == NIL || self.buckets[last as usize].freq != freq {
                last = self.new_bucket(freq, last, NIL);
            }
            self.buckets[last as usize]
                .list
                .push_front(&mut self.links, idx, 0);
            self.bucket_of[idx as usize] = last;
            self.tick_of[idx as usize] = tick;
        }
    }

    fn touch(&mut self, idx: u32) {
        let b = self.bucket_of[idx as usize];
        let freq = self.buckets[b as usize].freq;
        if freq == u32::MAX {
            self.buckets[b as usize]
                .list
                .move_front(&mut self.links, idx);
            self.tick += 1;
            self.tick_of[idx as usize] = self.tick;
            return;
        }
        self.unlink(idx);
        let next = self.buckets[b as usize].next;
        let target = if next != NIL && self.buckets[next as usize].freq == freq + 1 {
            next
        } else {
            self.new_bucket(freq + 1, b, next)
        };
        self.link(idx, target);
        self.drop_bucket_if_empty(b);
        self.count_op();
    }
}

impl Eviction for Lfu {
    fn on_insert(&mut self, idx: u32, _hash: u64, _weight: u32) {
        self.links.ensure(idx);
        let need = idx as usize + 1;
        if self.bucket_of.len() < need {
            let len = need.max(self.bucket_of.len() * 2).max(16);
            self.bucket_of.resize(len, NIL);
            self.tick_of.resize(len, 0);
        }
        let first = self.first;
        let target = if first != NIL && self.buckets[first as usize].freq == 1 {
            first
        } else {
            self.new_bucket(1, NIL, first)
        };
        self.link(idx, target);
        self.len += 1;
        self.count_op();
    }

    fn on_hit(&mut self, idx: u32, _hash: u64) {
        self.touch(idx);
    }

    fn on_update(&mut self, idx: u32, _hash: u64, _old: u32, _new: u32) {
        self.touch(idx);
    }

    fn on_remove(&mut self, idx: u32) {
        let b = self.unlink(idx);
        self.drop_bucket_if_empty(b);
        self.len -= 1;
    }

    fn victim(&mut self) -> Option<u32> {
        if self.first == NIL {
            return None;
        }
        let v = self.buckets[self.first as usize].list.back()?;
        self.on_remove(v);
        Some(v)
    }

    fn clear(&mut self) {
        *self = Lfu::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_frequent_then_least_recent() {
        let mut p = Lfu::new();
        for i in 0..4 {
            p.on_insert(i, 0, 1);
        }
        p.on_hit(0, 0);
        p.on_hit(0, 0);
        p.on_hit(2, 0);
        // freq: 0 -> 3, 1 -> 1, 2 -> 2, 3 -> 1; among 1 and 3 the least recent is 1.
        assert_eq!(p.victim(), Some(1));
        assert_eq!(p.victim(), Some(3));
        assert_eq!(p.victim(), Some(2));
        assert_eq!(p.victim(), Some(0));
        assert_eq!(p.victim(), None);
    }

    #[test]
    fn aging_halves_frequencies_and_keeps_recency() {
        let mut p = Lfu::new();
        p.on_insert(0, 0, 1);
        p.on_insert(1, 0, 1);
        for _ in 0..9 {
            p.on_hit(0, 0);
        }
        assert_eq!(p.freq(0), 10);
        p.age();
        assert_eq!(p.freq(0), 5);
        assert_eq!(p.freq(1), 1);
        p.on_insert(2, 0, 1);
        // 1 and 2 both have frequency 1; 1 is older.
        assert_eq!(p.victim(), Some(1));
        assert_eq!(p.victim(), Some(2));
    }

    #[test]
    fn aging_happens_by_itself() {
        let mut p = Lfu::new();
        p.on_insert(0, 0, 1);
        for _ in 0..200 {
            p.on_hit(0, 0);
        }
        // 64 * 8 = 512 ops would be needed for the first halving with so few entries.
        assert_eq!(p.freq(0), 201);
        for _ in 0..400 {
            p.on_hit(0, 0);
        }
        assert!(p.freq(0) < 601, "aged: {}", p.freq(0));
    }
}
