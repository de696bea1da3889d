//! Integration tests of ember-geo: Redis's documented behaviours, the beyond-Redis features, property
//! tests against brute-force scans, TTLs on a manual clock, geofences and concurrency.

mod antimeridian;
mod beyond;
mod concurrency;
mod fences;
mod props;
mod redis_compat;
mod redis_fixture;
mod rules;
mod ttl;

/// Proptest cases for a property: `default`, or `PROPTEST_CASES` when it is set, so a hunt for rare
/// inputs can run many more cases than CI does (an explicit `cases` in a config ignores the variable).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
