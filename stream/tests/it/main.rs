//! Integration tests of ember-stream.

mod window;
