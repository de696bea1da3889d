//! Throughput of ember-cache against its peers, side by side in one criterion group.
//!
//! Workload (the issue's): 100 000 keys, capacity 90 000, Zipf 0.99 key popularity, 90 % `get` / 10 %
//! `insert`, with 1 and 2 threads sharing one cache. Contestants: ember-cache with each policy,
//! quick_cache, moka, `lru` behind a `parking_lot::Mutex`, and a `hashbrown::HashMap` behind a
//! `parking_lot::RwLock` (no eviction at all: the limit). Every cache is pre-filled with every key.
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
const OPS_PER_THREAD: usize = 20_000;

/// One operation: a key, and whether it is an insert.
type Op = (u64, bool);

fn workload(seed: u64) -> Vec<Op> {
    let mut cdf = Vec::with_capacity(KEYS);
    let mut total = 0.0;
    for r in 1..=KEYS {
        total += 1.0 / (r as f64).powf(0.99);
        cdf.push(total);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..OPS_PER_THREAD)
        .map(|_| {
            let x = rng.random::<f64>() * total;
            // Scatter ranks over the key space so that hot keys do not share a shard by accident.
            let rank = cdf.partition_point(|&c| c < x).min(KEYS - 1) as u64;
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

/// The ember contestant with `policy`, at the bench's capacity.
fn ember_cache(policy: Policy) -> Cache<u64, u64> {
    Cache::builder()
        .max_capacity(CAPACITY as u64)
        .policy(policy)
        .build()
        .expect("valid cache")
}

fn prefill(c: &impl Contestant) {
    for rank in 0..KEYS as u64 {
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
) {
    prefill(c);
    for threads in [1usize, 2] {
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
    let loads = [workload(1), workload(2)];
    let mut group = crit.benchmark_group("cache_zipf0.99_90get");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench_one(
        &mut group,
        "rwlock_hashmap_limit",
        &Limit(RwLock::new(hashbrown::HashMap::new())),
        &loads,
    );
    for policy in [Policy::Adaptive, Policy::Lru, Policy::Lfu, Policy::Fifo] {
        let cache = ember_cache(policy);
        bench_one(
            &mut group,
            &format!("ember_{policy}"),
            &Ember(cache),
            &loads,
        );
    }
    bench_one(
        &mut group,
        "quick_cache",
        &Quick(quick_cache::sync::Cache::new(CAPACITY)),
        &loads,
    );
    bench_one(
        &mut group,
        "moka",
        &Moka(moka::sync::Cache::new(CAPACITY as u64)),
        &loads,
    );
    let lru = lru::LruCache::new(NonZeroUsize::new(CAPACITY).expect("non-zero"));
    bench_one(&mut group, "lru_mutex", &LruMutex(Mutex::new(lru)), &loads);
    group.finish();
}

/// Interleaved single-thread measurement (`EMBER_BENCH_INTERLEAVED=1`): on a machine shared with other
/// jobs, criterion's one-contestant-after-another runs see different loads. This runs every
/// contestant in turn for many short rounds and keeps each one's fastest and median round, so every
/// contestant sees the same load, and prints ratios to the limit.
type Runner = Box<dyn Fn(&[Op]) -> u64>;

fn interleaved() {
    let ops = workload(1);
    let mut contestants: Vec<(String, Runner)> = Vec::new();
    let limit = Limit(RwLock::new(hashbrown::HashMap::new()));
    prefill(&limit);
    contestants.push((
        "rwlock_hashmap_limit".into(),
        Box::new(move |o| run(&limit, o)),
    ));
    for policy in [Policy::Adaptive, Policy::Lru, Policy::Lfu, Policy::Fifo] {
        let cache = ember_cache(policy);
        let c = Ember(cache);
        prefill(&c);
        contestants.push((format!("ember_{policy}"), Box::new(move |o| run(&c, o))));
    }
    let q = Quick(quick_cache::sync::Cache::new(CAPACITY));
    prefill(&q);
    contestants.push(("quick_cache".into(), Box::new(move |o| run(&q, o))));
    let m = Moka(moka::sync::Cache::new(CAPACITY as u64));
    prefill(&m);
    contestants.push(("moka".into(), Box::new(move |o| run(&m, o))));
    let l = LruMutex(Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(CAPACITY).expect("non-zero"),
    )));
    prefill(&l);
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
