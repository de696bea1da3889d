//! `hitratio` (placeholder until its issue lands).
fn main() {}
