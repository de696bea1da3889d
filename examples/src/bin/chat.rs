//! Example `chat` (placeholder until its issue lands).
fn main() {}
