//! Tour section of ember-cache: replay a cache trace through every policy and print hit ratios.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};

use std::time::{Duration, Instant};

use ember_cache::{Cache, Expiry, Policy};
use ember_core::ManualClock;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The LIRS `sprite` trace when the shared data is present, else a synthetic Zipf workload.
fn trace() -> (String, Vec<u64>) {
    if let Some(path) = ember_core::data::find("cache-traces/lirs/sprite.trace.gz") {
        if let Ok(file) = std::fs::File::open(&path) {
            let reader = BufReader::new(flate2::read::MultiGzDecoder::new(file));
            let keys: Vec<u64> = reader
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            if !keys.is_empty() {
                return ("LIRS sprite trace".into(), keys);
            }
        }
    }
    let ranks = 20_000;
    let mut cdf = Vec::with_capacity(ranks);
    let mut total = 0.0;
    for r in 1..=ranks {
        total += 1.0 / (r as f64).powf(0.9);
        cdf.push(total);
    }
    let mut rng = SmallRng::seed_from_u64(1);
    let mut keys = Vec::with_capacity(200_000);
    for i in 0..200_000u64 {
        // A Zipf workload with a one-off scan every 20 000 requests.
        if i % 20_000 < 2_000 {
            keys.push(1_000_000 + i);
        } else {
            let x = rng.random::<f64>() * total;
            keys.push(cdf.partition_point(|&c| c < x) as u64);
        }
    }
    ("synthetic Zipf(0.9) with scans".into(), keys)
}

/// Runs this section.
pub fn run() {
    super::heading("ember-cache");
    let (name, keys) = trace();
    let distinct = keys.iter().collect::<HashSet<_>>().len() as u64;
    println!(
        "replaying {name}: {} requests, {distinct} distinct keys (get, insert on miss)",
        keys.len()
    );
    println!("  {:<10} {:>8} {:>8}", "policy", "1% size", "5% size");
    for policy in [Policy::Lru, Policy::Lfu, Policy::Fifo, Policy::Adaptive] {
        let ratios: Vec<String> = [1, 5]
            .iter()
            .map(|pct| {
                let cap = (distinct * pct / 100).max(1);
                let cache: Cache<u64, ()> = Cache::builder()
                    .max_capacity(cap)
                    .policy(policy)
                    .build()
                    .expect("valid cache");
                for &k in &keys {
                    if cache.get(&k).is_none() {
                        cache.insert(k, ());
                    }
                }
                format!("{:>7.2}%", 100.0 * cache.stats().hit_ratio.value())
            })
            .collect();
        println!("  {:<10} {}", policy.to_string(), ratios.join(" "));
    }
    let counters: Cache<&str, i64> = Cache::new(100).expect("valid cache");
    for _ in 0..5 {
        let _ = counters.increment("page:/home", 1, None);
    }
    println!(
        "counters: page:/home = {:?} after 5 increments",
        counters.get("page:/home")
    );
    per_entry_idle();
}

/// Per-entry time-to-idle through an `Expiry`: guests idle out after 60 s, members after 30 min.
struct SessionIdle;

impl Expiry<&'static str, bool> for SessionIdle {
    fn expire_after_create(&self, _: &&'static str, guest: &bool, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(if *guest { 60 } else { 30 * 60 }))
    }
    fn expire_after_read(
        &self,
        key: &&'static str,
        guest: &bool,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, guest, now) // each read restarts the idle time
    }
}

fn per_entry_idle() {
    let clock = ManualClock::new();
    let sessions: Cache<&'static str, bool> = Cache::builder()
        .max_capacity(100)
        .expire_after(SessionIdle)
        .clock(clock.clone())
        .build()
        .expect("valid cache");
    sessions.insert("ada", false);
    sessions.insert("guest-1", true);
    sessions.insert("guest-2", true);
    clock.advance(Duration::from_secs(45));
    let _ = sessions.get("guest-1"); // active: its 60 s restart
    clock.advance(Duration::from_secs(45));
    let alive: Vec<&str> = ["ada", "guest-1", "guest-2"]
        .into_iter()
        .filter(|k| sessions.contains(k))
        .collect();
    println!("per-entry idle expiry after 90 s (guest-1 read at 45 s): alive {alive:?}");
}
