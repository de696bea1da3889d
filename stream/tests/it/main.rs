//! Integration tests of ember-stream.

#[cfg(feature = "durable")]
mod durable;
mod groups;
mod model;
mod pending;
mod pubsub;
mod retention;
mod support;
mod time_index;
mod topic;
mod window;
