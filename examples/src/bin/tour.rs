//! The tour: runs every Ember crate on an embedded default and prints what it did.
//!
//! `cargo run --release -p ember-examples --bin tour`

use ember_examples::tour;

fn main() {
    println!("Ember tour: in-process building blocks, each on an embedded default.");
    tour::core::run();
    #[cfg(feature = "cache")]
    tour::cache::run();
    #[cfg(feature = "lock")]
    tour::lock::run();
    #[cfg(feature = "queue")]
    tour::queue::run();
    #[cfg(feature = "stream")]
    tour::stream::run();
    #[cfg(feature = "stream")]
    tour::window::run();
    #[cfg(feature = "stream")]
    tour::durable::run();
    #[cfg(feature = "search")]
    tour::search::run();
    #[cfg(feature = "geo")]
    tour::geo::run();
    println!();
    println!("Tour finished.");
}
