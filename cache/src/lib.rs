//! # ember-cache
//!
//! An in-process cache for what Redis-as-a-cache, Memcached, DAX, moka and Caffeine are used for:
//! cutting database reads, keeping expensive results, rate-limit counters. Concurrent (sharded,
//! `Send + Sync`, cheap `Clone` handle), bounded by entry count or weight, with a choice of eviction
//! policies including a scan-resistant adaptive default, TTL / time-to-idle judged by an injectable
//! [`Clock`](ember_core::Clock), single-flight loaders, atomic counters, and — unlike other Rust
//! caches — write-through, write-around and write-back over an ember-core [`Store`](ember_core::Store).
//!
//! ```
//! use std::time::Duration;
//! use ember_cache::{Cache, WriteBack, WritePolicy};
//! use ember_core::MemoryStore;
//!
//! // A plain cache.
//! let cache: Cache<u64, String> = Cache::builder()
//!     .max_capacity(10_000)
//!     .time_to_live(Duration::from_secs(300))
//!     .build()
//!     .unwrap();
//! cache.insert(1, "one".into());
//! assert_eq!(cache.get(&1).as_deref(), Some("one"));
//! // Single-flight loading.
//! let v = cache.get_with(2, || "two (computed once)".into());
//! assert_eq!(v, "two (computed once)");
//!
//! // A write-back cache in front of a database.
//! let db = MemoryStore::new();
//! let users: Cache<u64, String> = Cache::builder()
//!     .max_capacity(10_000)
//!     .store(db.clone(), WritePolicy::WriteBack(WriteBack::new().batch_size(64)))
//!     .build()
//!     .unwrap();
//! users.put(7, "ada".into()).unwrap(); // in the cache now, in the store soon
//! users.flush().unwrap();
//! assert_eq!(db.peek(&7).as_deref(), Some("ada"));
//!
//! // Counters.
//! let hits: Cache<&str, i64> = Cache::new(1_000).unwrap();
//! assert_eq!(hits.increment("/home", 1, Some(Duration::from_secs(60))).unwrap(), 1);
//! ```
//!
//! ## Eviction
//! [`Policy::Adaptive`] (default) is W-TinyLFU with a hill-climbed window: it behaves like LRU on
//! recency-heavy traces and resists scans and loops; [`Policy::Lru`] is an exact LRU,
//! [`Policy::Lfu`] an O(1) LFU with aging, [`Policy::Fifo`] plain FIFO. Each shard runs the policy over
//! its share of the capacity; the weight held never exceeds `max_capacity`.
//!
//! ## Expiry
//! Whole-cache [`time_to_live`](CacheBuilder::time_to_live) and
//! [`time_to_idle`](CacheBuilder::time_to_idle); per entry, a time-to-live and time-to-idle decided by
//! an [`Expiry`] ([`CacheBuilder::expire_after`]) on each create, read and update, or an explicit TTL
//! with [`insert_with_ttl`](Cache::insert_with_ttl). An entry expires at the earliest of its
//! deadlines. An expired entry is never returned; it is reclaimed by writes to its shard or by
//! [`Cache::cleanup`] — no background thread.
//!
//! ## Stores and write policies
//! See [`WritePolicy`] and the [`write`](mod@write) module for the semantics, including write-back's durability
//! window: writes acknowledged but not yet flushed are lost if the process crashes.
//!
//! ## Listener and stats
//! [`CacheBuilder::removal_listener`] sees every removal with its [`RemovalCause`];
//! [`Cache::stats`] returns a [`CacheStats`] snapshot.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod builder;
mod cache;
mod error;
mod expiry;
mod loader;
mod policy;
mod shard;
mod stats;
pub mod write;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use error::{Error, Result, StoreError};
pub use expiry::Expiry;
pub use policy::Policy;
pub use stats::{CacheStats, RemovalCause};
pub use write::{WriteBack, WritePolicy};
