//! Integration tests of ember-stream.

mod groups;
mod model;
mod pending;
mod pubsub;
mod retention;
mod support;
mod topic;
mod window;
