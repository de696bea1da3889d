//! Shared helpers of Ember's benchmarks and measurement binaries.
#![deny(missing_docs)]
