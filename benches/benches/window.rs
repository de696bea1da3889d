//! Benchmarks of ember-window (placeholder until its issue lands).
fn main() {}
