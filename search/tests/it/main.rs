//! Integration tests of ember-search.
