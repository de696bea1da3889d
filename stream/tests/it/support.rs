//! Helpers shared by the tests.

use std::thread;

use ember_core::ManualClock;
use ember_stream::Topic;
use ember_stream::storage::{TrimLimits, Trimmed};

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

/// Trims `partition` of `topic` to the records at `offset` and after (Redis `XTRIM MINID`).
pub fn trim_before(topic: &Topic, partition: u32, offset: u64) -> Trimmed {
    topic
        .trim(
            partition,
            &TrimLimits {
                min_offset: Some(offset),
                ..TrimLimits::default()
            },
        )
        .unwrap()
}

/// Waits (without sleeping) until `n` threads are parked on `clock`.
pub fn wait_parked(clock: &ManualClock, n: usize) {
    while clock.waiters() < n {
        thread::yield_now();
    }
}

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
