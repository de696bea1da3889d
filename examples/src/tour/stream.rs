//! Tour section of ember-stream.

/// Runs this section.
pub fn run() {
    super::heading("ember-stream");
    println!("(not yet built)");
}
