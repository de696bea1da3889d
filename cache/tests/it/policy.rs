//! Policies against simple models.

use std::collections::VecDeque;

use ember_cache::{Cache, Policy};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Insert(u8),
    Remove(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u8..24).prop_map(Op::Get),
            4 => (0u8..24).prop_map(Op::Insert),
            1 => (0u8..24).prop_map(Op::Remove),
        ],
        1..300,
    )
}

fn cache(policy: Policy, cap: u64) -> Cache<u8, u32> {
    Cache::builder()
        .max_capacity(cap)
        .policy(policy)
        .shards(1)
        .build()
        .unwrap()
}

/// Textbook LRU over a VecDeque: front = most recent.
struct LruModel {
    cap: usize,
    q: VecDeque<(u8, u32)>,
}

impl LruModel {
    fn get(&mut self, k: u8) -> Option<u32> {
        let i = self.q.iter().position(|e| e.0 == k)?;
        let e = self.q.remove(i)?;
        self.q.push_front(e);
        Some(e.1)
    }
    fn insert(&mut self, k: u8, v: u32) {
        if let Some(i) = self.q.iter().position(|e| e.0 == k) {
            self.q.remove(i);
        }
        self.q.push_front((k, v));
        if self.q.len() > self.cap {
            self.q.pop_back();
        }
    }
    fn remove(&mut self, k: u8) -> Option<u32> {
        let i = self.q.iter().position(|e| e.0 == k)?;
        self.q.remove(i).map(|e| e.1)
    }
}

/// FIFO model: insertion order; re-insert keeps the position.
struct FifoModel {
    cap: usize,
    q: VecDeque<(u8, u32)>,
}

impl FifoModel {
    fn get(&self, k: u8) -> Option<u32> {
        self.q.iter().find(|e| e.0 == k).map(|e| e.1)
    }
    fn insert(&mut self, k: u8, v: u32) {
        if let Some(e) = self.q.iter_mut().find(|e| e.0 == k) {
            e.1 = v;
            return;
        }
        self.q.push_front((k, v));
        if self.q.len() > self.cap {
            self.q.pop_back();
        }
    }
    fn remove(&mut self, k: u8) -> Option<u32> {
        let i = self.q.iter().position(|e| e.0 == k)?;
        self.q.remove(i).map(|e| e.1)
    }
}

/// LFU model: evict the lowest count, ties by least recent use. (No aging: runs stay short of it.)
struct LfuModel {
    cap: usize,
    tick: u64,
    // key, value, count, last use
    e: Vec<(u8, u32, u64, u64)>,
}

impl LfuModel {
    fn get(&mut self, k: u8) -> Option<u32> {
        self.tick += 1;
        let t = self.tick;
        let e = self.e.iter_mut().find(|e| e.0 == k)?;
        e.2 += 1;
        e.3 = t;
        Some(e.1)
    }
    fn insert(&mut self, k: u8, v: u32) {
        self.tick += 1;
        let t = self.tick;
        if let Some(e) = self.e.iter_mut().find(|e| e.0 == k) {
            e.1 = v;
            e.2 += 1;
            e.3 = t;
            return;
        }
        self.e.push((k, v, 1, t));
        if self.e.len() > self.cap {
            let victim = self
                .e
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| (e.2, e.3))
                .map(|(i, _)| i)
                .unwrap();
            self.e.remove(victim);
        }
    }
    fn remove(&mut self, k: u8) -> Option<u32> {
        let i = self.e.iter().position(|e| e.0 == k)?;
        Some(self.e.remove(i).1)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lru_evicts_exactly_what_textbook_lru_evicts(ops in ops(), cap in 1u64..10) {
        let c = cache(Policy::Lru, cap);
        let mut m = LruModel { cap: cap as usize, q: VecDeque::new() };
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Get(k) => prop_assert_eq!(c.get(&k), m.get(k)),
                Op::Insert(k) => { c.insert(k, i as u32); m.insert(k, i as u32); }
                Op::Remove(k) => prop_assert_eq!(c.remove(&k), m.remove(k)),
            }
            let mut got: Vec<_> = c.iter().collect();
            let mut want: Vec<_> = m.q.iter().copied().collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn fifo_matches_model(ops in ops(), cap in 1u64..10) {
        let c = cache(Policy::Fifo, cap);
        let mut m = FifoModel { cap: cap as usize, q: VecDeque::new() };
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Get(k) => prop_assert_eq!(c.get(&k), m.get(k)),
                Op::Insert(k) => { c.insert(k, i as u32); m.insert(k, i as u32); }
                Op::Remove(k) => prop_assert_eq!(c.remove(&k), m.remove(k)),
            }
        }
        let mut got: Vec<_> = c.iter().collect();
        let mut want: Vec<_> = m.q.iter().copied().collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn lfu_matches_model_before_aging(ops in ops(), cap in 1u64..10) {
        let c = cache(Policy::Lfu, cap);
        let mut m = LfuModel { cap: cap as usize, tick: 0, e: Vec::new() };
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Get(k) => prop_assert_eq!(c.get(&k), m.get(k)),
                Op::Insert(k) => { c.insert(k, i as u32); m.insert(k, i as u32); }
                Op::Remove(k) => prop_assert_eq!(c.remove(&k), m.remove(k)),
            }
        }
        let mut got: Vec<_> = c.iter().collect();
        let mut want: Vec<_> = m.e.iter().map(|e| (e.0, e.1)).collect();
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn adaptive_respects_capacity_and_returns_last_written_values(ops in ops(), cap in 1u64..10) {
        let c = cache(Policy::Adaptive, cap);
        let mut last = std::collections::HashMap::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Get(k) => {
                    if let Some(v) = c.get(&k) {
                        prop_assert_eq!(Some(&v), last.get(&k));
                    }
                }
                Op::Insert(k) => { c.insert(k, i as u32); last.insert(k, i as u32); }
                Op::Remove(k) => { c.remove(&k); last.remove(&k); }
            }
            prop_assert!(c.len() as u64 <= cap);
        }
    }
}

#[test]
fn lfu_ages_old_popularity() {
    let c = cache(Policy::Lfu, 4);
    // Key 0 becomes very popular, then is never read again.
    c.insert(0, 0);
    for _ in 0..300 {
        c.get(&0);
    }
    // A long phase of a new working set, each key read a few times.
    for round in 0..400u32 {
        let k = 1 + (round % 3) as u8;
        if c.get(&k).is_none() {
            c.insert(k, round);
        }
        c.get(&k);
        // A stream of one-hit keys competing for the fourth place.
        c.insert(100 + (round % 50) as u8, round);
    }
    // Without aging, key 0 (count ~300) would still pin a slot; with halving it decays and the
    // working set (counts growing) keeps its places.
    for k in 1..=3u8 {
        assert!(c.contains(&k), "working-set key {k} evicted");
    }
}

fn replay(c: &Cache<u64, u32>, keys: impl IntoIterator<Item = u64>) -> u64 {
    let mut hits = 0;
    for k in keys {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.insert(k, 0);
        }
    }
    hits
}

fn cache64(policy: Policy, cap: u64) -> Cache<u64, u32> {
    Cache::builder()
        .max_capacity(cap)
        .policy(policy)
        .shards(1)
        .build()
        .unwrap()
}

#[test]
fn adaptive_resists_a_scan() {
    let hot: Vec<u64> = (0..500).collect();
    for (policy, min_kept, max_kept) in [(Policy::Adaptive, 450, 500), (Policy::Lru, 0, 0)] {
        let c = cache64(policy, 1000);
        for _ in 0..5 {
            replay(&c, hot.iter().copied());
        }
        replay(&c, 10_000..30_000);
        let kept = hot.iter().filter(|k| c.contains(k)).count();
        assert!(
            (min_kept..=max_kept).contains(&kept),
            "{policy}: {kept} of 500 hot keys kept after the scan"
        );
    }
}

#[test]
fn adaptive_behaves_like_lru_on_a_recency_workload() {
    // Each key is read twice, about 40 requests apart, then never again: only recency helps, and a
    // 100-entry LRU catches every second read.
    let trace: Vec<u64> = (0..40_000u64)
        .flat_map(|i| [i, i.saturating_sub(20)])
        .collect();
    let lru = replay(&cache64(Policy::Lru, 100), trace.iter().copied());
    let adaptive = replay(&cache64(Policy::Adaptive, 100), trace.iter().copied());
    assert!(lru > 39_000, "lru {lru}");
    // A static W-TinyLFU with a 1% window would hit almost never here; the adaptive window grows
    // until it catches nearly every re-read (97-100 % of LRU's hits over 1 000 hash seeds in session
    // 4; the warm-up while the window grows costs the rest). Before the small-cache window ghost was
    // widened, about 1 % of seeds stayed trapped for most of the trace (55-62 % of LRU).
    assert!(
        adaptive as f64 >= lru as f64 * 0.9,
        "adaptive {adaptive} vs lru {lru}"
    );
}
