//! Integration tests of ember-queue. Time-dependent behaviour runs on a `ManualClock`.

mod backpressure;
mod basics;
mod dedup_delay;
mod dlq;
#[cfg(feature = "durable")]
mod durable;
mod fastpath;
mod groups;
mod model;
mod partitioned;
mod stress;
mod visibility;

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

use std::thread;
use std::time::Duration;

use ember_core::ManualClock;
use ember_queue::{Queue, QueueBuilder};

/// One second.
pub const SEC: Duration = Duration::from_secs(1);

/// A builder on a fresh manual clock.
pub fn manual<T>() -> (ManualClock, QueueBuilder<T>) {
    let clock = ManualClock::new();
    let builder = Queue::builder().clock(clock.clone()).seed(1);
    (clock, builder)
}

/// Waits until `n` threads are blocked on the clock (a receiver or sender gone to sleep).
pub fn parked(clock: &ManualClock, n: usize) {
    while clock.waiters() < n {
        thread::yield_now();
    }
}

/// Starts `producers` threads; producer `p` sends the bodies `p * per .. (p + 1) * per` in order, each
/// with a blocking `send` that must succeed. Returns their handles.
pub fn spawn_producers(q: &Queue<u64>, producers: u64, per: u64) -> Vec<thread::JoinHandle<()>> {
    (0..producers)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for i in 0..per {
                    q.send(p * per + i).unwrap();
                }
            })
        })
        .collect()
}
