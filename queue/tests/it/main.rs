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
