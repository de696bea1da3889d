//! [`CacheBuilder`]: every setting of a [`Cache`].

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use ember_core::clock::{Clock, SharedClock, SystemClock};
use ember_core::store::Store;

use crate::cache::{Cache, Config};
use crate::error::{Error, Result};
use crate::expiry::Expiry;
use crate::policy::Policy;
use crate::stats::RemovalCause;
use crate::write::{DynStore, Erased, WritePolicy};

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync>;
pub(crate) type Listener<K, V> = Arc<dyn Fn(&K, &V, RemovalCause) + Send + Sync>;

/// Configures and builds a [`Cache`]. Get one from [`Cache::builder`].
///
/// ```
/// use std::time::Duration;
/// use ember_cache::{Cache, Policy};
///
/// let cache: Cache<String, Vec<u8>> = Cache::builder()
///     .max_capacity(64 * 1024 * 1024) // bytes, because of the weigher
///     .weigher(|k: &String, v: &Vec<u8>| (k.len() + v.len()) as u32)
///     .time_to_live(Duration::from_secs(300))
///     .policy(Policy::Adaptive)
///     .build()
///     .unwrap();
/// cache.insert("k".to_string(), vec![1, 2, 3]);
/// assert_eq!(cache.weighted_size(), 4);
/// ```
#[must_use]
pub struct CacheBuilder<K, V> {
    max_capacity: Option<u64>,
    policy: Policy,
    shards: Option<usize>,
    ttl: Option<Duration>,
    tti: Option<Duration>,
    expiry: Option<Arc<dyn Expiry<K, V>>>,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    clock: SharedClock,
    store: Option<(Arc<dyn DynStore<K, V>>, WritePolicy)>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("policy", &self.policy)
            .field("shards", &self.shards)
            .field("ttl", &self.ttl)
            .field("tti", &self.tti)
            .field("expire_after", &self.expiry.is_some())
            .field("weigher", &self.weigher.is_some())
            .field("store", &self.store.as_ref().map(|(_, p)| p))
            .finish_non_exhaustive()
    }
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        CacheBuilder {
            max_capacity: None,
            policy: Policy::default(),
            shards: None,
            ttl: None,
            tti: None,
            expiry: None,
            weigher: None,
            listener: None,
            clock: Arc::new(SystemClock),
            store: None,
        }
    }
}

impl<K, V> CacheBuilder<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The capacity: a number of entries, or a total weight when a [`weigher`](Self::weigher) is set.
    /// Required. The cache never holds more (see [`Cache`] for how it is split between shards).
    pub fn max_capacity(mut self, capacity: u64) -> Self {
        self.max_capacity = Some(capacity);
        self
    }

    /// The eviction policy; [`Policy::Adaptive`] by default.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How many independently locked shards (a power of two, at most the capacity). By default: enough
    /// for the machine's parallelism, but no fewer than 4096 of capacity per shard, so small caches are
    /// one shard and keep their policy exact. Each shard runs its own policy over its share of capacity.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Every entry expires this long after it was written (a later write restarts it).
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Every entry expires when it has not been read or written for this long.
    pub fn time_to_idle(mut self, tti: Duration) -> Self {
        self.tti = Some(tti);
        self
    }

    /// Per-entry expiry: `expiry` decides each entry's lifetime on create, read and update (see
    /// [`Expiry`] for the rules, and how it combines with [`time_to_live`](Self::time_to_live),
    /// [`time_to_idle`](Self::time_to_idle) and [`Cache::insert_with_ttl`]: the earliest deadline
    /// wins). Without it, reads do not look at the clock unless some entry has a deadline.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ember_cache::{Cache, Expiry};
    /// use ember_core::ManualClock;
    ///
    /// /// Negative results ("not found", stored as `None`) live 5 s; found ones 5 min.
    /// struct Negative;
    /// impl Expiry<u64, Option<String>> for Negative {
    ///     fn expire_after_create(&self, _: &u64, v: &Option<String>, _: Instant) -> Option<Duration> {
    ///         Some(Duration::from_secs(if v.is_some() { 300 } else { 5 }))
    ///     }
    ///     fn expire_after_update(&self, k: &u64, v: &Option<String>, now: Instant, _: Option<Duration>) -> Option<Duration> {
    ///         self.expire_after_create(k, v, now)
    ///     }
    /// }
    ///
    /// let clock = ManualClock::new();
    /// let users: Cache<u64, Option<String>> = Cache::builder()
    ///     .max_capacity(1_000)
    ///     .expire_after(Negative)
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// users.insert(1, Some("ada".into()));
    /// users.insert(2, None);
    /// clock.advance(Duration::from_secs(5));
    /// assert!(users.get(&1).is_some());
    /// assert!(users.get(&2).is_none());
    /// ```
    pub fn expire_after(mut self, expiry: impl Expiry<K, V> + 'static) -> Self {
        self.expiry = Some(Arc::new(expiry));
        self
    }

    /// Weighs entries; the capacity then bounds the total weight. A weight of 0 counts as 1; an entry
    /// heavier than its shard's capacity is not cached (the listener sees it with [`RemovalCause::Size`]).
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(weigher));
        self
    }

    /// Called for every entry that leaves the cache, with the cause, after the shard lock is released
    /// (it may read the cache; it runs on the thread whose operation removed the entry).
    pub fn removal_listener(
        mut self,
        listener: impl Fn(&K, &V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// The clock expiry and write-back delays are judged by; [`SystemClock`] by default.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A backing store: misses of [`Cache::fetch`] read it (read-through) and [`Cache::put`] /
    /// [`Cache::delete`] write it according to `policy`.
    pub fn store<S>(mut self, store: S, policy: WritePolicy) -> Self
    where
        S: Store<K, V> + 'static,
    {
        self.store = Some((Arc::new(Erased(store)), policy));
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    /// [`Error::Config`] when the capacity is missing or zero, the shard count is not a power of two or
    /// exceeds the capacity, a TTL/TTI is zero, or write-back settings are invalid.
    pub fn build(self) -> Result<Cache<K, V>> {
        let capacity = self
            .max_capacity
            .ok_or_else(|| Error::Config("max_capacity is required".into()))?;
        if capacity == 0 {
            return Err(Error::Config("max_capacity must be at least 1".into()));
        }
        let shards = match self.shards {
            Some(n) => {
                if n == 0 || !n.is_power_of_two() {
                    return Err(Error::Config(format!(
                        "shards must be a power of two, got {n}"
                    )));
                }
                if n as u64 > capacity {
                    return Err(Error::Config(format!(
                        "shards ({n}) must not exceed max_capacity ({capacity})"
                    )));
                }
                n
            }
            None => default_shards(capacity),
        };
        if self.ttl.is_some_and(|d| d.is_zero()) || self.tti.is_some_and(|d| d.is_zero()) {
            return Err(Error::Config(
                "time_to_live / time_to_idle must be positive".into(),
            ));
        }
        if let Some((_, WritePolicy::WriteBack(wb))) = &self.store {
            wb.validate()?;
        }
        Ok(Cache::from_config(Config {
            capacity,
            policy: self.policy,
            shards,
            ttl: self.ttl,
            tti: self.tti,
            expiry: self.expiry,
            weigher: self.weigher,
            listener: self.listener,
            clock: self.clock,
            store: self.store,
        }))
    }
}

fn default_shards(capacity: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max = (cores * 4).next_power_of_two().min(64);
    let mut n = 1;
    while n * 2 <= max && capacity / (n as u64 * 2) >= 4096 {
        n *= 2;
    }
    n
}
