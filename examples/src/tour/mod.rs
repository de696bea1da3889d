//! The tour: one short section per crate, each running on an embedded default and printing what it did.

#[cfg(feature = "cache")]
pub mod cache;
pub mod core;
#[cfg(feature = "stream")]
pub mod durable;
#[cfg(feature = "geo")]
pub mod geo;
#[cfg(feature = "lock")]
pub mod lock;
#[cfg(feature = "queue")]
pub mod queue;
#[cfg(feature = "search")]
pub mod search;
#[cfg(feature = "stream")]
pub mod stream;
#[cfg(feature = "stream")]
pub mod window;

/// Prints a section heading.
pub fn heading(title: &str) {
    println!();
    println!("== {title} ==");
}
