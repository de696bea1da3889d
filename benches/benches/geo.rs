//! Benchmarks of ember-geo (placeholder until its issue lands).
fn main() {}
