//! Integration tests of ember-lock.
