//! Statistics snapshots and removal causes.

use std::fmt;

use ember_core::stats::{Ratio, Snapshot, ratio, write_fields};

/// Why an entry left the cache, as told to the [removal listener](crate::CacheBuilder::removal_listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RemovalCause {
    /// Evicted by the policy to keep within capacity (or too heavy to be cached at all).
    Size,
    /// Its time-to-live or time-to-idle ran out.
    Expired,
    /// Removed by the user: `remove`, `invalidate*`, a write-around `put`, a `compute` returning `None`.
    Explicit,
    /// Its value was replaced by a new insert for the same key.
    Replaced,
}

impl RemovalCause {
    /// Whether the cache removed the entry on its own (size or expiry), rather than the user.
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Size | RemovalCause::Expired)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            RemovalCause::Size => 0,
            RemovalCause::Expired => 1,
            RemovalCause::Explicit => 2,
            RemovalCause::Replaced => 3,
        }
    }
}

impl fmt::Display for RemovalCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovalCause::Size => "size",
            RemovalCause::Expired => "expired",
            RemovalCause::Explicit => "explicit",
            RemovalCause::Replaced => "replaced",
        })
    }
}

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Counters only grow; `entries`, `weight` and `dirty` are read at snapshot time.
///
/// ```
/// use ember_cache::Cache;
/// let cache: Cache<u32, u32> = Cache::builder().max_capacity(10).build().unwrap();
/// cache.insert(1, 1);
/// assert_eq!(cache.get(&1), Some(1));
/// assert_eq!(cache.get(&2), None);
/// let s = cache.stats();
/// assert_eq!((s.hits, s.misses), (1, 1));
/// assert_eq!(s.hit_ratio.value(), 0.5);
/// assert!(s.to_string().starts_with("hits=1 misses=1 hit_ratio=0.5000"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found nothing (or an expired entry).
    pub misses: u64,
    /// `hits / (hits + misses)`.
    pub hit_ratio: Ratio,
    /// Entries inserted (new keys, not replacements).
    pub inserts: u64,
    /// Loader or store-read calls made on a miss (one per single-flight group).
    pub loads: u64,
    /// Loads that failed.
    pub load_failures: u64,
    /// Entries evicted to respect capacity.
    pub evicted_size: u64,
    /// Entries removed because they expired.
    pub evicted_expired: u64,
    /// Entries removed explicitly.
    pub removed_explicit: u64,
    /// Values replaced by a newer insert.
    pub replaced: u64,
    /// Entries now in the cache (expired ones not yet reclaimed included).
    pub entries: u64,
    /// Total weight now in the cache.
    pub weight: u64,
    /// Write-back: entries written to the cache but not yet to the store.
    pub dirty: u64,
    /// Write-back: successful store batch writes (`put_many`/`delete_many` calls).
    pub flushes: u64,
    /// Write-back: entries written to the store.
    pub flushed_entries: u64,
    /// Write-back: failed store batch writes (each is retried).
    pub flush_failures: u64,
}

impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("hits", &self.hits),
                ("misses", &self.misses),
                ("hit_ratio", &self.hit_ratio),
                ("inserts", &self.inserts),
                ("loads", &self.loads),
                ("load_failures", &self.load_failures),
                ("evicted_size", &self.evicted_size),
                ("evicted_expired", &self.evicted_expired),
                ("removed_explicit", &self.removed_explicit),
                ("replaced", &self.replaced),
                ("entries", &self.entries),
                ("weight", &self.weight),
                ("dirty", &self.dirty),
                ("flushes", &self.flushes),
                ("flushed_entries", &self.flushed_entries),
                ("flush_failures", &self.flush_failures),
            ],
        )
    }
}

impl Snapshot for CacheStats {}

impl CacheStats {
    pub(crate) fn finish(mut self) -> Self {
        self.hit_ratio = ratio(self.hits, self.hits + self.misses);
        self
    }
}
