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
