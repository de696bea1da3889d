//! Integration tests of ember-stream.

#[cfg(feature = "durable")]
mod durable;
mod groups;
mod model;
mod pending;
mod pubsub;
mod retention;
mod support;
mod topic;
mod window;
