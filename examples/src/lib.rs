//! Programs built from Ember's crates. Each binary in `src/bin` is one use case; [`tour`] runs a short
//! section per crate.
#![deny(missing_docs)]

pub mod tour;

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
