//! Integration tests of ember-cache.
