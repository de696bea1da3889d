//! Example `work_queue` (placeholder until its issue lands).
fn main() {}
