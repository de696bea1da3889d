//! # ember-core
//!
//! The small foundation every Ember crate builds on, and nothing else:
//!
//! - [`clock`]: [`Clock`] with [`SystemClock`] and [`ManualClock`], and [`Signal`] for blocking waits that
//!   wake when a manual clock is advanced. Every TTL, lease, visibility timeout, retention and window in
//!   Ember is judged by a `Clock`, so it can be tested without sleeping.
//! - [`store`]: the [`Store`] trait for the database behind a cache, and [`MemoryStore`] with fault
//!   injection.
//! - [`partition`]: stable [`Partitioner`]s: `hash(key) % n` ([`HashPartitioner`], Kafka-compatible
//!   murmur2 by default) and [`ConsistentHash`].
//! - [`stats`]: the convention for `stats()` snapshots.
//!
//! ```
//! use std::time::Duration;
//! use ember_core::{Clock, HashPartitioner, ManualClock, MemoryStore, Partitioner, Store};
//!
//! let clock = ManualClock::new();
//! let t0 = clock.now();
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(clock.now() - t0, Duration::from_secs(60));
//!
//! let store = MemoryStore::new();
//! store.put(&1u32, &"one").unwrap();
//! assert_eq!(store.get(&1).unwrap(), Some("one"));
//!
//! assert!(HashPartitioner::kafka().partition(b"key", 6) < 6);
//! ```
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod clock;
#[cfg(feature = "test-data")]
pub mod data;
pub mod partition;
pub mod stats;
pub mod store;

pub use clock::{Clock, ManualClock, SharedClock, Signal, SystemClock, WaitOutcome};
pub use partition::{ConsistentHash, HashAlgorithm, HashPartitioner, Partitioner};
pub use stats::Snapshot;
pub use store::{MemoryStore, MemoryStoreError, Store};
