//! Tour section: ember-stream window.

/// Runs this section.
pub fn run() {
    super::heading("ember-stream window");
    println!("(not yet built)");
}
