//! Benchmarks of ember-durable (placeholder until its issue lands).
fn main() {}
