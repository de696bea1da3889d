//! Tour section of ember-queue.

/// Runs this section.
pub fn run() {
    super::heading("ember-queue");
    println!("(not yet built)");
}
