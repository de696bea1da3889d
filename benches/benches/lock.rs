//! Benchmarks of ember-lock (placeholder until its issue lands).
fn main() {}
