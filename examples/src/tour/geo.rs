//! Tour section of ember-geo.

/// Runs this section.
pub fn run() {
    super::heading("ember-geo");
    println!("(not yet built)");
}
