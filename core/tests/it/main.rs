//! Integration tests of ember-core: the consistent-hash bounds, store fault injection, and the clock used
//! across threads.

mod clock;
mod partition;
mod store;
