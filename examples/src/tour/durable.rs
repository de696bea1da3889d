//! Tour section: ember-stream durable.

/// Runs this section.
pub fn run() {
    super::heading("ember-stream durable");
    println!("(not yet built)");
}
