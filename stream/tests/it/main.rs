//! Integration tests of ember-stream.
