//! The crate's error type.

use std::sync::Arc;

use ember_core::store::StoreOp;

/// An error from a store behind the cache, shared so that every waiter of a single-flight load can
/// receive it.
pub type StoreError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in ember-cache.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The builder was given an invalid setting.
    #[error("invalid cache configuration: {0}")]
    Config(String),
    /// A call to the backing store failed. With write-through the cache was left unchanged.
    #[error("store {op} failed: {source}")]
    Store {
        /// Which store call failed.
        op: StoreOp,
        /// The store's error.
        source: StoreError,
    },
    /// [`flush`](crate::Cache::flush) or [`close`](crate::Cache::close) could not write every dirty
    /// entry. The entries stay dirty (nothing is dropped) and the flusher keeps retrying with backoff.
    #[error("write-back flush left {pending} dirty entries unwritten: {source}")]
    Flush {
        /// How many entries are still dirty.
        pending: usize,
        /// The last store error.
        source: StoreError,
    },
    /// The operation needs a store and none was configured.
    #[error("no store configured for this cache")]
    NoStore,
    /// The cache was closed with [`close`](crate::Cache::close); writes are refused.
    #[error("cache is closed")]
    Closed,
    /// A counter would overflow `i64`.
    #[error("counter overflow")]
    Overflow,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
