//! Example `clickstream_dashboard` (placeholder until its issue lands).
fn main() {}
