//! `rate_limiter`: request rate limiting on ember-cache counters, as Redis users build it.
//!
//! - **Fixed window**: on each request `INCR` the client's counter; the first hit of a window sets its
//!   expiry (`increment(key, 1, Some(window))` does both atomically); reject above `LIMIT`.
//! - **Sliding window** (the two-window estimate used by Cloudflare and many Redis recipes): keep one
//!   counter per client per fixed window and estimate the last `W` seconds as
//!   `previous × (1 − elapsed fraction) + current`; reject when the estimate reaches `LIMIT`.
//!
//! Eight threads send requests for four clients. Time is a [`ManualClock`] advanced by the main thread
//! so the run is deterministic; a real service would keep the default system clock.
//!
//! Run: `cargo run --release -p ember-examples --bin rate_limiter`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use ember_cache::Cache;
use ember_core::{Clock, ManualClock};

const LIMIT: i64 = 100;
const WINDOW: Duration = Duration::from_secs(1);
const CLIENTS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const THREADS: usize = 8;

/// Fixed window: one counter per client that expires one window after its first request.
struct FixedWindow {
    counters: Cache<String, i64>,
}

impl FixedWindow {
    fn allow(&self, client: &str) -> bool {
        match self.counters.increment(client.to_string(), 1, Some(WINDOW)) {
            Ok(n) => n <= LIMIT,
            Err(_) => false, // overflow: certainly above the limit
        }
    }
}

/// Sliding window estimate over two fixed windows aligned on the clock.
struct SlidingWindow {
    /// Counters per (client, window number), kept two windows (the cache's TTL).
    counters: Cache<(String, u64), i64>,
    clock: ManualClock,
    origin: std::time::Instant,
}

impl SlidingWindow {
    fn allow(&self, client: &str) -> bool {
        let elapsed = (self.clock.now() - self.origin).as_millis() as u64;
        let width = WINDOW.as_millis() as u64;
        let (window, into) = (elapsed / width, (elapsed % width) as f64 / width as f64);
        let previous = match window {
            0 => 0,
            w => self.counters.get(&(client.to_string(), w - 1)).unwrap_or(0),
        };
        let weighted = previous as f64 * (1.0 - into);
        // Check and count atomically, so concurrent requests cannot overshoot the limit.
        let mut allowed = false;
        self.counters
            .compute((client.to_string(), window), |current| {
                let current = current.copied().unwrap_or(0);
                allowed = weighted + (current as f64) < LIMIT as f64;
                Some(current + i64::from(allowed))
            });
        allowed
    }
}

#[derive(Default)]
struct Tally {
    allowed: [AtomicU64; 4],
    rejected: [AtomicU64; 4],
}

impl Tally {
    fn take(&self) -> Vec<(u64, u64)> {
        (0..4)
            .map(|i| {
                (
                    self.allowed[i].swap(0, Ordering::Relaxed),
                    self.rejected[i].swap(0, Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// Sends `per_thread` requests from each of `THREADS` threads; thread `t` speaks for client `t % 4`,
/// and each client sends in proportion to its index + 1.
fn burst(per_thread: usize, allow: &(dyn Fn(&str) -> bool + Sync), tally: &Tally) {
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let c = t % CLIENTS.len();
                for _ in 0..per_thread * (c + 1) / 2 {
                    if allow(CLIENTS[c]) {
                        tally.allowed[c].fetch_add(1, Ordering::Relaxed);
                    } else {
                        tally.rejected[c].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
}

fn print_window(label: &str, counts: &[(u64, u64)]) {
    let cells: Vec<String> = counts
        .iter()
        .zip(CLIENTS)
        .map(|((a, r), c)| format!("{c:>5} {a:>3} ok {r:>3} no"))
        .collect();
    println!("  {label:<18} {}", cells.join(" | "));
}

fn main() {
    let clock = ManualClock::new();
    let fixed = Arc::new(FixedWindow {
        counters: Cache::builder()
            .max_capacity(10_000)
            .clock(clock.clone())
            .build()
            .expect("valid cache"),
    });
    let tally = Tally::default();

    println!(
        "fixed window: at most {LIMIT} requests per client per {WINDOW:?} (INCR + EXPIRE on first hit)"
    );
    println!("  (alice sends 100/window, bob 200, carol 300, dave 400, over {THREADS} threads)");
    for w in 0..4 {
        let f = Arc::clone(&fixed);
        burst(100, &move |c| f.allow(c), &tally);
        print_window(&format!("window {w}"), &tally.take());
        clock.advance(WINDOW);
    }

    let s = fixed.counters.stats();
    println!(
        "  counter cache: {} live counters, {} expired windows reclaimed",
        s.entries, s.evicted_expired
    );

    // The weakness of fixed windows: a burst just before a window ends and another just after pass
    // 2 x LIMIT within a few milliseconds. The sliding estimate still remembers the first burst.
    println!(
        "boundary burst: every thread sends at t=0.99 s and again at t=1.01 s (first request at t=0)"
    );
    let clock = ManualClock::new();
    let fixed = FixedWindow {
        counters: Cache::builder()
            .max_capacity(10_000)
            .clock(clock.clone())
            .build()
            .expect("valid cache"),
    };
    let sliding = SlidingWindow {
        counters: Cache::builder()
            .max_capacity(10_000)
            .time_to_live(2 * WINDOW)
            .clock(clock.clone())
            .build()
            .expect("valid cache"),
        clock: clock.clone(),
        origin: clock.now(),
    };
    let fixed_tally = Tally::default();
    let sliding_tally = Tally::default();
    for c in CLIENTS {
        fixed.allow(c);
        sliding.allow(c);
    }
    clock.advance(Duration::from_millis(990));
    burst(100, &|c| fixed.allow(c), &fixed_tally);
    burst(100, &|c| sliding.allow(c), &sliding_tally);
    clock.advance(Duration::from_millis(20));
    burst(100, &|c| fixed.allow(c), &fixed_tally);
    burst(100, &|c| sliding.allow(c), &sliding_tally);
    print_window("fixed, 20 ms", &fixed_tally.take());
    print_window("sliding, 20 ms", &sliding_tally.take());
    println!(
        "  in those 20 ms fixed windows let up to {} through per client; the sliding estimate about {LIMIT}",
        2 * LIMIT - 1
    );
}
