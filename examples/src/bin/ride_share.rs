//! Example `ride_share` (placeholder until its issue lands).
fn main() {}
