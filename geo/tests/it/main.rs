//! Integration tests of ember-geo.
