//! Benchmarks of ember-stream (placeholder until its issue lands).
fn main() {}
