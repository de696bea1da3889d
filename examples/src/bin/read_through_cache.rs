//! Example `read_through_cache` (placeholder until its issue lands).
fn main() {}
