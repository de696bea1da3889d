//! Integration tests of ember-queue.
