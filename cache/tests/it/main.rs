//! Integration tests of ember-cache.

mod basics;
mod counters;
mod expiry;
mod loader;
mod policy;
mod stress;
mod traces;
mod write;

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

use std::time::Duration;

/// Spins (yielding) until `cond` holds; panics after a generous bound. Used only to wait for the
/// write-back flusher thread to act after a clock advance, never to let time pass.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000_000u64 {
        if cond() {
            return;
        }
        std::thread::yield_now();
    }
    panic!("timed out waiting for: {what}");
}

/// One second.
pub const SEC: Duration = Duration::from_secs(1);
