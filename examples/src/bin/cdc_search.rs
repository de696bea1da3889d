//! Example `cdc_search` (placeholder until its issue lands).
fn main() {}
