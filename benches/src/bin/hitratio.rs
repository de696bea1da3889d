//! `hitratio`: replays a cache trace through ember-cache's policies and its peers, and prints hit ratios.
//!
//! ```text
//! cargo run --release -p ember-benches --bin hitratio -- --trace FILE [--format arc|lirs|u32be|i64be|text] [--sizes 1,5,10]
//! ```
//!
//! Replay: for each key, `get`; on a miss, `insert`. Sizes are percentages of the trace's distinct keys.
//! Output: TSV with the header `trace size_pct capacity ember-lru ember-lfu ember-fifo ember-adaptive
//! moka quick_cache lru foyer opt`, hit ratios in percent. `opt` is Belady's optimum (evict the key used
//! farthest in the future, and do not admit a key used later than everything cached): the ceiling.
//!
//! `--trace zipf:S[:REQUESTS[:RANKS]]` generates a synthetic Zipf trace (default 1,000,000 requests
//! over 100,000 ranks, fixed seed). `--only a,b` runs a subset of the columns.
//!
//! One extra column is available only by name through `--only`: `moka-synced` is moka with
//! `run_pending_tasks()` after every insert, so that its policy decides each admission before the next
//! request. Plain `moka` applies its policy in batches; until a batch is applied, freshly inserted entries
//! are readable even if the policy will reject them, so at very small capacities it holds more entries
//! than its capacity for a while (on LIRS `sprite` at 71 entries: 28.8 % plain, 24.1 % synced).

#[path = "hitratio/trace.rs"]
mod trace;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::process::ExitCode;

use ember_cache::{Cache, Policy};

const COLUMNS: [&str; 9] = [
    "ember-lru",
    "ember-lfu",
    "ember-fifo",
    "ember-adaptive",
    "moka",
    "quick_cache",
    "lru",
    "foyer",
    "opt",
];

/// Columns printed only when named with `--only`.
const EXTRA_COLUMNS: [&str; 1] = ["moka-synced"];

fn usage() -> ExitCode {
    eprintln!(
        "usage: hitratio --trace FILE|zipf:S[:REQUESTS[:RANKS]] [--format arc|lirs|u32be|i64be|text] \
         [--sizes 1,5,10] [--only COL,COL]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut trace_arg = None;
    let mut format = None;
    let mut sizes = vec![1.0, 5.0, 10.0];
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next();
        match a.as_str() {
            "--trace" => trace_arg = val(),
            "--format" => match val().as_deref().and_then(trace::Format::parse) {
                Some(f) => format = Some(f),
                None => return usage(),
            },
            "--sizes" => {
                let Some(v) = val() else { return usage() };
                let parsed: Result<Vec<f64>, _> = v.split(',').map(str::parse).collect();
                match parsed {
                    Ok(s) if !s.is_empty() && s.iter().all(|&p| p > 0.0) => sizes = s,
                    _ => return usage(),
                }
            }
            "--only" => only = val().map(|v| v.split(',').map(String::from).collect()),
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let Some(trace_arg) = trace_arg else {
        return usage();
    };
    let (name, keys) = if let Some(spec) = trace_arg.strip_prefix("zipf:") {
        let parts: Vec<&str> = spec.split(':').collect();
        let s: f64 = match parts[0].parse() {
            Ok(s) => s,
            Err(_) => return usage(),
        };
        let requests = parts
            .get(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(1_000_000);
        let ranks = parts.get(2).and_then(|p| p.parse().ok()).unwrap_or(100_000);
        (format!("zipf-{s}"), trace::zipf(s, requests, ranks, 42))
    } else {
        let format = format.unwrap_or_else(|| trace::Format::guess(&trace_arg));
        match trace::read(Path::new(&trace_arg), format) {
            Ok(k) => {
                let name = Path::new(&trace_arg)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| trace_arg.clone());
                let name = name.split('.').next().unwrap_or(&name).to_string();
                (name, k)
            }
            Err(e) => {
                eprintln!("hitratio: cannot read {trace_arg}: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    if keys.is_empty() {
        eprintln!("hitratio: empty trace");
        return ExitCode::FAILURE;
    }
    let distinct = keys.iter().collect::<HashSet<_>>().len();
    let columns: Vec<&str> = COLUMNS
        .iter()
        .chain(EXTRA_COLUMNS.iter())
        .copied()
        .filter(|c| match &only {
            None => COLUMNS.contains(c),
            Some(o) => o.iter().any(|x| x == c),
        })
        .collect();
    println!("trace\tsize_pct\tcapacity\t{}", columns.join("\t"));
    let next_use = columns.contains(&"opt").then(|| next_uses(&keys));
    for pct in sizes {
        let capacity = ((distinct as f64 * pct / 100.0).round() as usize).max(1);
        let mut row = format!("{name}\t{pct}\t{capacity}");
        for col in &columns {
            let hits = match *col {
                "ember-lru" => ember(&keys, capacity, Policy::Lru),
                "ember-lfu" => ember(&keys, capacity, Policy::Lfu),
                "ember-fifo" => ember(&keys, capacity, Policy::Fifo),
                "ember-adaptive" => ember(&keys, capacity, Policy::Adaptive),
                "moka" => moka_run(&keys, capacity, false),
                "moka-synced" => moka_run(&keys, capacity, true),
                "quick_cache" => quick(&keys, capacity),
                "lru" => lru_run(&keys, capacity),
                "foyer" => foyer_run(&keys, capacity),
                _ => opt(&keys, next_use.as_deref().unwrap_or(&[]), capacity),
            };
            row.push_str(&format!("\t{:.2}", 100.0 * hits as f64 / keys.len() as f64));
        }
        println!("{row}");
    }
    ExitCode::SUCCESS
}

fn ember(keys: &[u64], capacity: usize, policy: Policy) -> u64 {
    let cache: Cache<u64, u64> = match Cache::builder()
        .max_capacity(capacity as u64)
        .policy(policy)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hitratio: {e}");
            return 0;
        }
    };
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.insert(k, k);
        }
    }
    hits
}

fn moka_run(keys: &[u64], capacity: usize, synced: bool) -> u64 {
    let cache: moka::sync::Cache<u64, u64> = moka::sync::Cache::new(capacity as u64);
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.insert(k, k);
            if synced {
                cache.run_pending_tasks();
            }
        }
    }
    hits
}

fn quick(keys: &[u64], capacity: usize) -> u64 {
    let cache: quick_cache::sync::Cache<u64, u64> = quick_cache::sync::Cache::new(capacity);
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.insert(k, k);
        }
    }
    hits
}

fn lru_run(keys: &[u64], capacity: usize) -> u64 {
    let Some(cap) = NonZeroUsize::new(capacity) else {
        return 0;
    };
    let mut cache: lru::LruCache<u64, u64> = lru::LruCache::new(cap);
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.put(k, k);
        }
    }
    hits
}

fn foyer_run(keys: &[u64], capacity: usize) -> u64 {
    // Library defaults, with S3-FIFO eviction; shards reduced so that each shard holds at least a few
    // entries at the smallest sizes.
    let shards = (capacity / 64).clamp(1, 8);
    let cache: foyer_memory::Cache<u64, u64> = foyer_memory::CacheBuilder::new(capacity)
        .with_shards(shards)
        .with_eviction_config(foyer_memory::S3FifoConfig::default())
        .build();
    let mut hits = 0;
    for &k in keys {
        if cache.get(&k).is_some() {
            hits += 1;
        } else {
            cache.insert(k, k);
        }
    }
    hits
}

/// For each request, the index of the next request of the same key (`usize::MAX` if none).
fn next_uses(keys: &[u64]) -> Vec<usize> {
    let mut next = vec![usize::MAX; keys.len()];
    let mut last: HashMap<u64, usize> = HashMap::new();
    for i in (0..keys.len()).rev() {
        if let Some(j) = last.insert(keys[i], i) {
            next[i] = j;
        }
    }
    next
}

/// Belady's optimum with bypass.
fn opt(keys: &[u64], next: &[usize], capacity: usize) -> u64 {
    let mut cached: HashMap<u64, usize> = HashMap::with_capacity(capacity * 2);
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0;
    for (i, &k) in keys.iter().enumerate() {
        let nu = next[i];
        if let Some(old) = cached.get_mut(&k) {
            hits += 1;
            by_next.remove(&(*old, k));
            *old = nu;
            by_next.insert((nu, k));
            continue;
        }
        if nu == usize::MAX {
            continue; // never used again: do not admit
        }
        if cached.len() >= capacity {
            let Some(&(far, victim)) = by_next.last() else {
                continue;
            };
            if far <= nu {
                continue; // everything cached is needed sooner than this key
            }
            by_next.pop_last();
            cached.remove(&victim);
        }
        cached.insert(k, nu);
        by_next.insert((nu, k));
    }
    hits
}
