//! Integration tests of ember-log.
