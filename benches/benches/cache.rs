//! Benchmarks of ember-cache (placeholder until its issue lands).
fn main() {}
