//! Benchmarks of ember-search (placeholder until its issue lands).
fn main() {}
