//! ember-stream: placeholder until its issue lands.
#![deny(missing_docs)]

pub mod window;
