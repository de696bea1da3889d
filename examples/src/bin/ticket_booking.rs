//! Example `ticket_booking` (placeholder until its issue lands).
fn main() {}
