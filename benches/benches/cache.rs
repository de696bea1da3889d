//! Throughput of ember-cache against its peers, side by side in one criterion group.
//!
//! Workload (the issue's): 100 000 keys, capacity 90 000, Zipf 0.99 key popularity, 90 % `get` / 10 %
//! `insert`, with 1 and 2 threads sharing one cache. Contestants: ember-cache with each policy,
//! quick_cache, moka, `lru` behind a `parking_lot::Mutex`, and a `hashbrown::HashMap` behind a
//! `parking_lot::RwLock` (no eviction at all: the limit). Every cache is pre-filled with every key.
//! A second group, `cache_small1024_zipf0.99_90get`, runs the same mix single-threaded at capacity
//! 1 024 over 10 000 keys: a cache small enough for the adaptive policy's exact (non-CLOCK) path.
//!
//! Run: `cargo bench -p ember-benches --no-default-features --features cache --bench cache`
//!
//! With `EMBER_BENCH_INTERLEAVED=1` it instead runs every contestant single-threaded in turn for 60
//! short rounds and prints min/median ns per operation and ratios to the limit: on a machine shared
//! with other jobs this is the fair comparison (every contestant sees the same load).

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use ember_cache::{Cache, Policy};
use ember_core::{Clock, SystemClock};
use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const KEYS: usize = 100_000;
const CAPACITY: usize = 90_000;
/// The small-cache group: one shard of 1 024 entries (the adaptive policy's exact path) over 10 000 keys.
const SMALL_KEYS: usize = 10_000;
const SMALL_CAPACITY: usize = 1_024;
const OPS_PER_THREAD: usize = 20_000;

/// One operation: a key, and whether it is an insert.
type Op = (u64, bool);

fn workload(seed: u64, keys: usize) -> Vec<Op> {
    let mut cdf = Vec::with_capacity(keys);
    let mut total = 0.0;
    for r in 1..=keys {
        total += 1.0 / (r as f64).powf(0.99);
        cdf.push(total);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..OPS_PER_THREAD)
        .map(|_| {
            let x = rng.random::<f64>() * total;
            // Scatter ranks over the key space so that hot keys do not share a shard by accident.
            let rank = cdf.partition_point(|&c| c < x).min(keys - 1) as u64;
            let key = rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
            (key, rng.random_range(0..10) == 0)
        })
        .collect()
}

trait Contestant: Sync {
    fn get(&self, k: u64) -> bool;
    fn insert(&self, k: u64, v: u64);
}

struct Ember(Cache<u64, u64>);
impl Contestant for Ember {
    #[inline]
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
}

struct Quick(quick_cache::sync::Cache<u64, u64>);
impl Contestant for Quick {
    #[inline]
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
}

struct Moka(moka::sync::Cache<u64, u64>);
impl Contestant for Moka {
    #[inline]
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
}

struct LruMutex(Mutex<lru::LruCache<u64, u64>>);
impl Contestant for LruMutex {
    #[inline]
    fn get(&self, k: u64) -> bool {
        self.0.lock().get(&k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().put(k, v);
    }
}

struct Limit(RwLock<hashbrown::HashMap<u64, u64>>);
impl Contestant for Limit {
    #[inline]
    fn get(&self, k: u64) -> bool {
        self.0.read().get(&k).is_some()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.write().insert(k, v);
    }
}

/// The ember contestant with `policy` and `capacity`.
fn ember_cache(policy: Policy, capacity: usize) -> Cache<u64, u64> {
    Cache::builder()
        .max_capacity(capacity as u64)
        .policy(policy)
        .build()
        .expect("valid cache")
}

fn prefill(c: &impl Contestant, keys: usize) {
    for rank in 0..keys as u64 {
        c.insert(rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16, rank);
    }
}

#[inline(never)]
fn run(c: &impl Contestant, ops: &[Op]) -> u64 {
    let mut hits = 0;
    for &(k, insert) in ops {
        if insert {
            c.insert(k, k);
        } else if c.get(k) {
            hits += 1;
        }
    }
    hits
}

fn bench_one(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    c: &impl Contestant,
    loads: &[Vec<Op>],
    keys: usize,
    threads: &[usize],
) {
    prefill(c, keys);
    for &threads in threads {
        group.throughput(Throughput::Elements((OPS_PER_THREAD * threads) as u64));
        group.bench_function(format!("{name}/{threads}t"), |b| {
            b.iter_custom(|iters| {
                let start = SystemClock.now();
                std::thread::scope(|s| {
                    for ops in loads.iter().take(threads) {
                        s.spawn(move || {
                            for _ in 0..iters {
                                black_box(run(c, ops));
                            }
                        });
                    }
                });
                SystemClock.now() - start
            });
        });
    }
}

fn throughput(crit: &mut Criterion) {
    group(crit, "cache_zipf0.99_90get", KEYS, CAPACITY, &[1, 2]);
    group(
        crit,
        "cache_small1024_zipf0.99_90get",
        SMALL_KEYS,
        SMALL_CAPACITY,
        &[1],
    );
}

/// One criterion group: every contestant at `capacity` over `keys` keys, on `threads` threads.
fn group(crit: &mut Criterion, name: &str, keys: usize, capacity: usize, threads: &[usize]) {
    let loads = [workload(1, keys), workload(2, keys)];
    let mut group = crit.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench_one(
        &mut group,
        "rwlock_hashmap_limit",
        &Limit(RwLock::new(hashbrown::HashMap::new())),
        &loads,
        keys,
        threads,
    );
    for policy in [Policy::Adaptive, Policy::Lru, Policy::Lfu, Policy::Fifo] {
        let cache = ember_cache(policy, capacity);
        bench_one(
            &mut group,
            &format!("ember_{policy}"),
            &Ember(cache),
            &loads,
            keys,
            threads,
        );
    }
    bench_one(
        &mut group,
        "quick_cache",
        &Quick(quick_cache::sync::Cache::new(capacity)),
        &loads,
        keys,
        threads,
    );
    bench_one(
        &mut group,
        "moka",
        &Moka(moka::sync::Cache::new(capacity as u64)),
        &loads,
        keys,
        threads,
    );
    let lru = lru::LruCache::new(NonZeroUsize::new(capacity).expect("non-zero"));
    bench_one(
        &mut group,
        "lru_mutex",
        &LruMutex(Mutex::new(lru)),
        &loads,
        keys,
        threads,
    );
    group.finish();
}

/// Interleaved single-thread measurement (`EMBER_BENCH_INTERLEAVED=1`): on a machine shared with other
/// jobs, criterion's one-contestant-after-another runs see different loads. This runs every
/// contestant in turn for many short rounds and keeps each one's fastest and median round, so every
/// contestant sees the same load, and prints ratios to the limit.
type Runner = Box<dyn Fn(&[Op]) -> u64>;

fn interleaved() {
    let ops = workload(1, KEYS);
    let mut contestants: Vec<(String, Runner)> = Vec::new();
    let limit = Limit(RwLock::new(hashbrown::HashMap::new()));
    prefill(&limit, KEYS);
    contestants.push((
        "rwlock_hashmap_limit".into(),
        Box::new(move |o| run(&limit, o)),
    ));
    for policy in [Policy::Adaptive, Policy::Lru, Policy::Lfu, Policy::Fifo] {
        let cache = ember_cache(policy, CAPACITY);
        let c = Ember(cache);
        prefill(&c, KEYS);
        contestants.push((format!("ember_{policy}"), Box::new(move |o| run(&c, o))));
    }
    let q = Quick(quick_cache::sync::Cache::new(CAPACITY));
    prefill(&q, KEYS);
    contestants.push(("quick_cache".into(), Box::new(move |o| run(&q, o))));
    let m = Moka(moka::sync::Cache::new(CAPACITY as u64));
    prefill(&m, KEYS);
    contestants.push(("moka".into(), Box::new(move |o| run(&m, o))));
    let l = LruMutex(Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(CAPACITY).expect("non-zero"),
    )));
    prefill(&l, KEYS);
    contestants.push(("lru_mutex".into(), Box::new(move |o| run(&l, o))));
    let rounds = 60;
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); contestants.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in contestants.iter().enumerate() {
            let start = SystemClock.now();
            black_box(f(&ops));
            let ns = (SystemClock.now() - start).as_nanos() as f64 / ops.len() as f64;
            times[i].push(ns);
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let (limit_min, limit_med) = (times[0][0], times[0][rounds / 2]);
    println!(
        "interleaved, 1 thread, {rounds} rounds of {} ops each",
        ops.len()
    );
    println!("contestant\tmin ns/op\tmedian ns/op\tx limit (min)\tx limit (median)");
    for ((name, _), t) in contestants.iter().zip(&times) {
        let (min, med) = (t[0], t[rounds / 2]);
        println!(
            "{name}\t{min:.1}\t{med:.1}\t{:.2}\t{:.2}",
            limit_min / min,
            limit_med / med
        );
    }
}

criterion_group!(benches, throughput);

fn main() {
    if std::env::var("EMBER_BENCH_INTERLEAVED").is_ok_and(|v| v == "1") {
        interleaved();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
