//! ember-log: placeholder until its issue lands.
#![deny(missing_docs)]
