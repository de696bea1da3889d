//! Integration tests of ember-lock.

mod basic;
mod deadlock;
mod expiry;
mod fairness;
mod fence;
mod model;
mod multi;
mod redlock;
mod stress;

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
use ember_lock::LockManager;

/// The usual lease TTL.
pub const TTL: Duration = Duration::from_secs(10);
/// Long enough never to pass in a test.
pub const LONG: Duration = Duration::from_secs(3600);

/// A manager on a manual clock.
pub fn manual() -> (ManualClock, LockManager) {
    let clock = ManualClock::new();
    let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
    (clock, locks)
}

/// A hierarchical manager ('/') on a manual clock.
pub fn manual_tree() -> (ManualClock, LockManager) {
    let clock = ManualClock::new();
    let locks = LockManager::builder()
        .clock(clock.clone())
        .hierarchical('/')
        .build()
        .unwrap();
    (clock, locks)
}

/// Spins (yielding) until `cond` holds; panics after a very generous number of rounds instead of
/// hanging the suite.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..20_000_000u64 {
        if cond() {
            return;
        }
        thread::yield_now();
    }
    panic!("condition never held: {what}");
}
