//! Example `rate_limiter` (placeholder until its issue lands).
fn main() {}
