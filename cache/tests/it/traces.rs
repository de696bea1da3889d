//! Real traces (when the shared data is present): the adaptive policy is never worse than LRU by more
//! than a point, and beats it where frequency matters.

use std::io::{BufRead, BufReader};
use std::path::Path;

use ember_cache::{Cache, Policy};

fn read_lirs(path: &Path) -> Vec<u64> {
    let f = std::fs::File::open(path).unwrap();
    let r = BufReader::new(flate2::read::MultiGzDecoder::new(f));
    r.lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.trim().is_empty() && l.trim() != "*")
        .map(|l| l.trim().parse::<u64>().unwrap())
        .collect()
}

fn hit_ratio(keys: &[u64], cap: u64, policy: Policy) -> f64 {
    let c: Cache<u64, ()> = Cache::builder()
        .max_capacity(cap)
        .policy(policy)
        .build()
        .unwrap();
    let mut hits = 0u64;
    for &k in keys {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.insert(k, ());
        }
    }
    100.0 * hits as f64 / keys.len() as f64
}

#[test]
fn adaptive_is_not_worse_than_lru_on_lirs_traces() {
    for name in ["multi2", "sprite", "cs", "ps"] {
        let Some(path) = ember_core::data::require(&format!("cache-traces/lirs/{name}.trace.gz"))
        else {
            return;
        };
        let mut keys = read_lirs(&path);
        keys.truncate(40_000);
        let distinct = keys.iter().collect::<std::collections::HashSet<_>>().len() as u64;
        for pct in [5, 10] {
            let cap = (distinct * pct / 100).max(1);
            let lru = hit_ratio(&keys, cap, Policy::Lru);
            let adaptive = hit_ratio(&keys, cap, Policy::Adaptive);
            assert!(
                adaptive >= lru - 1.0,
                "{name} at {pct}%: adaptive {adaptive:.2} vs lru {lru:.2}"
            );
        }
    }
}
