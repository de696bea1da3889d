//! Tour section of ember-lock.

/// Runs this section.
pub fn run() {
    super::heading("ember-lock");
    println!("(not yet built)");
}
