//! Integration tests of ember-geo: Redis's documented behaviours, the beyond-Redis features, property
//! tests against brute-force scans, TTLs on a manual clock, geofences and concurrency.

mod beyond;
mod concurrency;
mod fences;
mod props;
mod redis_compat;
mod redis_fixture;
mod rules;
mod ttl;
