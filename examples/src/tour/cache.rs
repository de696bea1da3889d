//! Tour section of ember-cache.

/// Runs this section.
pub fn run() {
    super::heading("ember-cache");
    println!("(not yet built)");
}
