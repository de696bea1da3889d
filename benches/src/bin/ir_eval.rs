//! `ir_eval` (placeholder until its issue lands).
fn main() {}
