//! Tour section of ember-search.

/// Runs this section.
pub fn run() {
    super::heading("ember-search");
    println!("(not yet built)");
}
