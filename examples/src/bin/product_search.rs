//! Example `product_search` (placeholder until its issue lands).
fn main() {}
