//! Benchmarks of ember-queue (placeholder until its issue lands).
fn main() {}
