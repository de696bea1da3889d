//! Helpers shared by the tests.

use std::thread;

use ember_core::ManualClock;
use ember_stream::Topic;

/// A topic on a manual clock.
pub fn manual_topic(name: &str, partitions: u32) -> (Topic, ManualClock) {
    let clock = ManualClock::new();
    let topic = Topic::builder(name)
        .partitions(partitions)
        .clock(clock.clone())
        .build()
        .unwrap();
    (topic, clock)
}

/// Waits (without sleeping) until `n` threads are parked on `clock`.
pub fn wait_parked(clock: &ManualClock, n: usize) {
    while clock.waiters() < n {
        thread::yield_now();
    }
}
