//! Integration tests of ember-cache.

mod basics;
mod counters;
mod expiry;
mod loader;
mod policy;
mod stress;
mod traces;
mod write;

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
