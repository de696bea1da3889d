//! [`Cache`]: the handle and its operations.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use ember_core::clock::SharedClock;
use hashbrown::DefaultHashBuilder;
use parking_lot::{Mutex, MutexGuard};

use crate::builder::{CacheBuilder, Listener, Weigher};
use crate::error::{Error, Result};
use crate::expiry::{Expiry, after};
use crate::loader::{AnyError, Flights, Join, Outcome};
use crate::policy::Policy;
use crate::shard::{Removed, SWEEP_BATCH, Shard, Times};
use crate::stats::CacheStats;
use crate::write::{DynStore, Engine, WritePolicy};

/// Write stripes: serialise a key's store write with its cache update.
const STRIPES: usize = 64;

pub(crate) struct Config<K, V> {
    pub(crate) capacity: u64,
    pub(crate) policy: Policy,
    pub(crate) shards: usize,
    pub(crate) ttl: Option<Duration>,
    pub(crate) tti: Option<Duration>,
    pub(crate) expiry: Option<Arc<dyn Expiry<K, V>>>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<Listener<K, V>>,
    pub(crate) clock: SharedClock,
    pub(crate) store: Option<(Arc<dyn DynStore<K, V>>, WritePolicy)>,
}

/// A concurrent, bounded, in-process cache.
///
/// A `Cache` is a cheap handle (`Clone` shares the same cache) that is `Send + Sync`. Keys are spread
/// over independently locked shards, so readers of different keys rarely contend; each shard runs the
/// chosen [`Policy`] over its share of the capacity (shares differ by at most one unit and sum to the
/// capacity, so the total weight **never exceeds** `max_capacity`: there is no slack).
///
/// Three families of operations:
/// - **cache only**: [`get`](Self::get), [`insert`](Self::insert), [`remove`](Self::remove),
///   [`get_with`](Self::get_with) / [`try_get_with`](Self::try_get_with) (single-flight loaders),
///   [`compute`](Self::compute), [`increment`](Cache::increment) (counters);
/// - **through the store** (when built with [`CacheBuilder::store`]): [`fetch`](Self::fetch)
///   (read-through), [`put`](Self::put) and [`delete`](Self::delete) (per the [`WritePolicy`]),
///   [`flush`](Self::flush), [`close`](Self::close);
/// - **housekeeping**: [`cleanup`](Self::cleanup), [`invalidate_all`](Self::invalidate_all),
///   [`invalidate_if`](Self::invalidate_if), [`iter`](Self::iter), [`stats`](Self::stats).
///
/// Expiry is judged by the clock at each access: an expired entry is never returned. Expired entries
/// are reclaimed by the writes to their shard (a few per write) and by [`cleanup`](Self::cleanup); no
/// background thread is involved.
///
/// ```
/// use std::time::Duration;
/// use ember_cache::Cache;
/// use ember_core::ManualClock;
///
/// let clock = ManualClock::new();
/// let cache: Cache<&str, u32> = Cache::builder()
///     .max_capacity(1_000)
///     .time_to_live(Duration::from_secs(60))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// cache.insert("a", 1);
/// assert_eq!(cache.get(&"a"), Some(1));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cache.get(&"a"), None);
/// ```
pub struct Cache<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

type ShardLock<K, V> = CachePadded<Mutex<Shard<K, V>>>;

struct Inner<K, V> {
    shards: Box<[ShardLock<K, V>]>,
    flights: Box<[Flights<K, V>]>,
    mask: usize,
    hasher: DefaultHashBuilder,
    clock: SharedClock,
    capacity: u64,
    policy: Policy,
    ttl: Option<Duration>,
    tti: Option<Duration>,
    expiry: Option<Arc<dyn Expiry<K, V>>>,
    /// Whether any expiry is configured (TTL, TTI or an [`Expiry`]): writes then read the clock.
    timed: bool,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    /// Whether operations must hand removed entries back (listener or write-back present).
    collect: bool,
    /// No weigher, no expiry configured, nothing to hand back: `insert` may replace a present entry
    /// in place without preparing any of that ([`Shard::replace_plain`]).
    plain_writes: bool,
    store: Option<Arc<dyn DynStore<K, V>>>,
    write: Option<WritePolicy>,
    engine: Option<Arc<Engine<K, V>>>,
    stripes: Box<[Mutex<u64>]>,
    closed: AtomicBool,
    loads: AtomicU64,
    load_failures: AtomicU64,
    /// Write-back: a last synchronous flush, then the flusher is told to finish and exit.
    on_drop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl<K, V> Drop for Inner<K, V> {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop();
        }
    }
}

/// Marker error shared with single-flight waiters of [`Cache::fetch`] when the store has no value.
struct Absent;

impl<K, V> fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("policy", &self.inner.policy)
            .field("capacity", &self.inner.capacity)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A builder with every setting at its default (capacity is required).
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::default()
    }

    /// A cache of at most `max_capacity` entries with the default (adaptive) policy and no expiry.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_capacity` is 0.
    ///
    /// ```
    /// let cache = ember_cache::Cache::new(10).unwrap();
    /// cache.insert(1, "one");
    /// assert_eq!(cache.get(&1), Some("one"));
    /// ```
    pub fn new(max_capacity: u64) -> Result<Self> {
        Self::builder().max_capacity(max_capacity).build()
    }

    pub(crate) fn from_config(cfg: Config<K, V>) -> Self {
        let n = cfg.shards;
        let base = cfg.capacity / n as u64;
        let extra = cfg.capacity % n as u64;
        let shards = (0..n as u64)
            .map(|i| {
                let cap = base + u64::from(i < extra);
                CachePadded::new(Mutex::new(Shard::new(cfg.policy, cap)))
            })
            .collect();
        let (store, write, engine) = match cfg.store {
            Some((store, policy)) => {
                let engine = match &policy {
                    WritePolicy::WriteBack(wb) => Some(Engine::start(
                        Arc::clone(&store),
                        Arc::clone(&cfg.clock),
                        wb.clone(),
                    )),
                    _ => None,
                };
                (Some(store), Some(policy), engine)
            }
            None => (None, None, None),
        };
        let plain_writes = cfg.listener.is_none()
            && engine.is_none()
            && cfg.weigher.is_none()
            && cfg.ttl.is_none()
            && cfg.tti.is_none()
            && cfg.expiry.is_none();
        let on_drop = engine.as_ref().map(|e| {
            let e = Arc::clone(e);
            Box::new(move || {
                // One synchronous attempt; whatever fails stays with the flusher, which retries until
                // it is written (see the write module's durability notes).
                let _ = e.flush();
                e.shutdown();
            }) as Box<dyn FnOnce() + Send + Sync>
        });
        Cache {
            inner: Arc::new(Inner {
                on_drop,
                shards,
                flights: (0..n).map(|_| Flights::default()).collect(),
                mask: n - 1,
                hasher: DefaultHashBuilder::default(),
                clock: cfg.clock,
                capacity: cfg.capacity,
                policy: cfg.policy,
                ttl: cfg.ttl,
                tti: cfg.tti,
                timed: cfg.ttl.is_some() || cfg.tti.is_some() || cfg.expiry.is_some(),
                expiry: cfg.expiry,
                collect: cfg.listener.is_some() || engine.is_some(),
                plain_writes,
                weigher: cfg.weigher,
                listener: cfg.listener,
                store,
                write,
                engine,
                stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
                closed: AtomicBool::new(false),
                loads: AtomicU64::new(0),
                load_failures: AtomicU64::new(0),
            }),
        }
    }

    #[inline]
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.inner.hasher.hash_one(key)
    }

    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        (hash >> 32) as usize & self.inner.mask
    }

    #[inline]
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<K, V>> {
        self.inner.shards[self.shard_index(hash)].lock()
    }

    fn stripe(&self, hash: u64) -> MutexGuard<'_, u64> {
        self.inner.stripes[hash as usize % STRIPES].lock()
    }

    #[inline]
    fn weight(&self, key: &K, value: &V) -> u32 {
        match &self.inner.weigher {
            Some(w) => w(key, value).max(1),
            None => 1,
        }
    }

    /// The expiry of a write; `ttl` is an explicit per-entry TTL (it replaces the cache-wide TTL and
    /// the [`Expiry`] for this write).
    #[inline]
    fn times(&self, ttl: Option<Duration>) -> Times {
        if !self.inner.timed && ttl.is_none() {
            return Times::NONE;
        }
        let now = self.inner.clock.now();
        Times {
            now: Some(now),
            expire_at: match ttl {
                Some(_) => None,
                None => self.inner.ttl.and_then(|t| after(now, t)),
            },
            idle: self.inner.tti,
            explicit: ttl.map(|t| after(now, t)),
            keep: false,
        }
    }

    /// A write that keeps the entry's expiry (counters, `compute`): only the [`Expiry`] may move it.
    fn times_keep(&self) -> Times {
        Times {
            now: self.inner.expiry.is_some().then(|| self.inner.clock.now()),
            ..Times::KEEP
        }
    }

    #[inline]
    fn expiry(&self) -> Option<&dyn Expiry<K, V>> {
        self.inner.expiry.as_deref()
    }

    /// Hands removed entries to write-back (evicted dirty entries trigger a flush) and the listener.
    #[inline]
    fn finish(&self, removed: Removed<K, V>) {
        if !removed.items.is_empty() {
            self.finish_removed(removed);
        }
    }

    #[inline(never)]
    fn finish_removed(&self, removed: Removed<K, V>) {
        if let Some(engine) = &self.inner.engine {
            engine.evicted(
                removed
                    .items
                    .iter()
                    .filter(|(_, _, c)| c.was_evicted())
                    .map(|(k, _, _)| k),
            );
        }
        if let Some(listener) = &self.inner.listener {
            for (k, v, cause) in &removed.items {
                listener(k, v, *cause);
            }
        }
    }

    /// The value of `key`, if cached and not expired. Counts a hit or a miss and tells the policy.
    ///
    /// ```
    /// let cache = ember_cache::Cache::new(10).unwrap();
    /// cache.insert("k".to_string(), 1);
    /// assert_eq!(cache.get("k"), Some(1)); // borrowed forms of the key work
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.get_hashed(hash, key)
    }

    #[inline(always)] // the read path: a call here costs more than the rest of a hit's bookkeeping
    fn get_hashed<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(hash);
        if shard.timed_reads(self.expiry()) {
            return self.get_timed(shard, hash, key);
        }
        shard.get_plain(hash, key).cloned()
    }

    /// A read when deadlines are involved (see [`Shard::timed_reads`]).
    #[inline(never)]
    fn get_timed<Q>(&self, mut shard: MutexGuard<'_, Shard<K, V>>, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut out = Removed::new(self.inner.collect);
        let clock = &self.inner.clock;
        let v = shard
            .get_timed(hash, key, || clock.now(), self.expiry(), &mut out)
            .cloned();
        drop(shard);
        self.finish(out);
        v
    }

    fn peek_hashed<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let clock = &self.inner.clock;
        self.shard(hash).peek(hash, key, || clock.now()).cloned()
    }

    /// Whether `key` is cached and not expired. Does not count as an access.
    #[must_use]
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let clock = &self.inner.clock;
        self.shard(hash).peek(hash, key, || clock.now()).is_some()
    }

    /// Inserts `key` (replacing any value, which the listener sees as [`Replaced`]), with the cache's
    /// TTL/TTI. Cache only: the store is not written (use [`put`](Self::put) for that). The policy may
    /// evict other entries, or decline this one (the adaptive policy admits a newcomer only if it is
    /// more popular than the entry it would displace).
    ///
    /// [`Replaced`]: crate::RemovalCause::Replaced
    #[inline]
    pub fn insert(&self, key: K, value: V) {
        let hash = self.hash(&key);
        if self.inner.plain_writes {
            // The common replace of a plain cache: one lookup, nothing prepared for what this cache
            // does not have (weights, deadlines, removal hand-back).
            let mut shard = self.shard(hash);
            match shard.replace_plain(hash, key, value) {
                Ok(replaced) => {
                    drop(shard);
                    drop(replaced);
                }
                Err((key, value)) => {
                    let out = self.insert_locked(&mut shard, hash, key, value, 1, None);
                    drop(shard);
                    self.finish(out);
                }
            }
            return;
        }
        let out = self.insert_raw(hash, key, value, None);
        self.finish(out);
    }

    /// Inserts `key` with its own time-to-live, overriding the cache's: the entry expires `ttl` from
    /// now (or earlier if the cache-wide time-to-idle runs out first). With an [`Expiry`] configured,
    /// this write does not ask it; later reads and updates of the entry do (see [`Expiry`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_cache::Cache;
    /// use ember_core::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let cache = Cache::builder().max_capacity(10).clock(clock.clone()).build().unwrap();
    /// cache.insert_with_ttl("session", 7, Duration::from_secs(30));
    /// cache.insert("forever", 8);
    /// clock.advance(Duration::from_secs(31));
    /// assert_eq!(cache.get("session"), None);
    /// assert_eq!(cache.get("forever"), Some(8));
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) {
        let hash = self.hash(&key);
        let out = self.insert_raw(hash, key, value, Some(ttl));
        self.finish(out);
    }

    #[inline]
    fn insert_raw(&self, hash: u64, key: K, value: V, ttl: Option<Duration>) -> Removed<K, V> {
        let weight = self.weight(&key, &value);
        let given;
        let times = if !self.inner.timed && ttl.is_none() {
            None
        } else {
            given = self.times(ttl);
            Some(&given)
        };
        let mut shard = self.shard(hash);
        self.insert_locked(&mut shard, hash, key, value, weight, times)
    }

    /// [`insert_raw`](Self::insert_raw) once the shard is locked.
    fn insert_locked(
        &self,
        shard: &mut Shard<K, V>,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        times: Option<&Times>,
    ) -> Removed<K, V> {
        let mut out = Removed::new(self.inner.collect);
        shard.insert(hash, key, value, weight, times, self.expiry(), &mut out);
        if shard.has_timers() {
            let now = times
                .and_then(|t| t.now)
                .unwrap_or_else(|| self.inner.clock.now());
            shard.sweep(now, SWEEP_BATCH, &mut out);
        }
        out
    }

    /// Removes `key` from the cache and returns its value if it was live. Cache only (see
    /// [`delete`](Self::delete) for the store).
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let mut out = Removed::new(self.inner.collect);
        let clock = &self.inner.clock;
        let v = self.shard(hash).remove(hash, key, || clock.now(), &mut out);
        self.finish(out);
        v
    }

    /// Removes every entry (cause [`Explicit`](crate::RemovalCause::Explicit)).
    pub fn invalidate_all(&self) {
        for shard in self.inner.shards.iter() {
            let mut out = Removed::new(self.inner.collect);
            shard.lock().remove_if(None, &mut out);
            self.finish(out);
        }
    }

    /// Removes every entry for which `pred` is true. `pred` runs under a shard lock: it must not call
    /// the cache.
    ///
    /// ```
    /// let cache = ember_cache::Cache::new(100).unwrap();
    /// for i in 0..10 { cache.insert(i, i * 10); }
    /// cache.invalidate_if(|k, _| k % 2 == 0);
    /// assert_eq!(cache.len(), 5);
    /// assert!(!cache.contains(&4));
    /// ```
    pub fn invalidate_if(&self, pred: impl Fn(&K, &V) -> bool) {
        for shard in self.inner.shards.iter() {
            let mut out = Removed::new(self.inner.collect);
            shard.lock().remove_if(Some(&pred), &mut out);
            self.finish(out);
        }
    }

    /// Reclaims every expired entry now (writes reclaim them a few at a time anyway).
    pub fn cleanup(&self) {
        let now = self.inner.clock.now();
        for shard in self.inner.shards.iter() {
            let mut out = Removed::new(self.inner.collect);
            shard.lock().sweep(now, usize::MAX, &mut out);
            self.finish(out);
        }
    }

    /// How many entries the cache holds, counting expired entries not yet reclaimed (call
    /// [`cleanup`](Self::cleanup) first for an exact count).
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether [`len`](Self::len) is 0.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The total weight held (the entry count without a weigher).
    #[must_use]
    pub fn weighted_size(&self) -> u64 {
        self.inner.shards.iter().map(|s| s.lock().weight()).sum()
    }

    /// The configured capacity.
    #[must_use]
    pub fn max_capacity(&self) -> u64 {
        self.inner.capacity
    }

    /// The eviction policy.
    #[must_use]
    pub fn policy(&self) -> Policy {
        self.inner.policy
    }

    /// How many shards the cache has.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// A snapshot of the live entries, taken shard by shard (each shard is consistent; the whole is not
    /// atomic). Reading it does not count as access.
    ///
    /// ```
    /// let cache = ember_cache::Cache::new(10).unwrap();
    /// cache.insert(1, 'a');
    /// cache.insert(2, 'b');
    /// let mut all: Vec<_> = cache.iter().collect();
    /// all.sort();
    /// assert_eq!(all, vec![(1, 'a'), (2, 'b')]);
    /// ```
    pub fn iter(&self) -> std::vec::IntoIter<(K, V)> {
        let mut all = Vec::new();
        for shard in self.inner.shards.iter() {
            let shard = shard.lock();
            let now = shard.has_timers().then(|| self.inner.clock.now());
            shard.for_each(now, |k, v| all.push((k.clone(), v.clone())));
        }
        all.into_iter()
    }

    /// Returns the cached value of `key`, or runs `init`, caches and returns its value.
    ///
    /// **Single-flight**: while one caller runs `init` for a key, other callers missing the same key
    /// wait and receive a clone of its value instead of running their own. If the running `init`
    /// panics, one waiter takes over.
    ///
    /// ```
    /// let cache = ember_cache::Cache::new(10).unwrap();
    /// assert_eq!(cache.get_with(1, || "computed"), "computed");
    /// assert_eq!(cache.get_with(1, || unreachable!()), "computed");
    /// ```
    pub fn get_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        let hash = self.hash(&key);
        if let Some(v) = self.get_hashed(hash, &key) {
            return v;
        }
        let mut init = Some(init);
        loop {
            match self.inner.flights[self.shard_index(hash)].join(&key) {
                Join::Lead(leader) => {
                    if let Some(v) = self.peek_hashed(hash, &key) {
                        leader.succeed(v.clone());
                        return v;
                    }
                    let Some(init) = init.take() else {
                        // Unreachable: a caller leads at most once, as leading returns.
                        continue;
                    };
                    self.inner.loads.fetch_add(1, Ordering::Relaxed);
                    let v = init();
                    let out = self.insert_raw(hash, key, v.clone(), None);
                    leader.succeed(v.clone());
                    self.finish(out);
                    return v;
                }
                Join::Wait(flight) => match flight.wait(&*self.inner.clock) {
                    Outcome::Value(v) => return v,
                    Outcome::Failed(_) | Outcome::Retry => continue,
                },
            }
        }
    }

    /// Like [`get_with`](Self::get_with) with a fallible loader. An error is not cached; it reaches
    /// the caller that ran the loader and every caller that was waiting for it, as the same `Arc`.
    ///
    /// # Errors
    /// The loader's error, shared.
    ///
    /// ```
    /// let cache: ember_cache::Cache<u32, String> = ember_cache::Cache::new(10).unwrap();
    /// let r = cache.try_get_with(1, || "nope".parse::<u8>().map(|n| n.to_string()));
    /// assert!(r.is_err());
    /// assert!(!cache.contains(&1));
    /// let r: Result<_, std::sync::Arc<std::num::ParseIntError>> =
    ///     cache.try_get_with(1, || Ok("one".to_string()));
    /// assert_eq!(r.unwrap(), "one");
    /// ```
    pub fn try_get_with<E>(&self, key: K, init: impl FnOnce() -> Result<V, E>) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
    {
        let hash = self.hash(&key);
        if let Some(v) = self.get_hashed(hash, &key) {
            return Ok(v);
        }
        let mut init = Some(init);
        loop {
            match self.inner.flights[self.shard_index(hash)].join(&key) {
                Join::Lead(leader) => {
                    if let Some(v) = self.peek_hashed(hash, &key) {
                        leader.succeed(v.clone());
                        return Ok(v);
                    }
                    let Some(init) = init.take() else {
                        continue;
                    };
                    self.inner.loads.fetch_add(1, Ordering::Relaxed);
                    match init() {
                        Ok(v) => {
                            let out = self.insert_raw(hash, key, v.clone(), None);
                            leader.succeed(v.clone());
                            self.finish(out);
                            return Ok(v);
                        }
                        Err(e) => {
                            self.inner.load_failures.fetch_add(1, Ordering::Relaxed);
                            let e = Arc::new(e);
                            leader.fail(Arc::clone(&e) as AnyError);
                            return Err(e);
                        }
                    }
                }
                Join::Wait(flight) => match flight.wait(&*self.inner.clock) {
                    Outcome::Value(v) => return Ok(v),
                    Outcome::Failed(any) => match any.downcast::<E>() {
                        Ok(e) => return Err(e),
                        Err(_) => continue,
                    },
                    Outcome::Retry => continue,
                },
            }
        }
    }

    /// Atomically reads and rewrites one entry: `f` gets the live value (if any) and returns the new
    /// one, or `None` to remove it. Returns the new value. An existing entry keeps its expiry (unless an
    /// [`Expiry`]'s `expire_after_update` moves it); a new one gets the cache's TTL/TTI and
    /// `expire_after_create`. `f` runs under the shard lock: it must not call the cache.
    ///
    /// ```
    /// let cache: ember_cache::Cache<&str, String> = ember_cache::Cache::new(10).unwrap();
    /// for _ in 0..2 {
    ///     cache.compute("log", |old| Some(format!("{}+", old.map_or("", |s| s.as_str()))));
    /// }
    /// assert_eq!(cache.get("log").as_deref(), Some("++"));
    /// assert_eq!(cache.compute("log", |_| None), None);
    /// assert!(!cache.contains("log"));
    /// ```
    pub fn compute(&self, key: K, f: impl FnOnce(Option<&V>) -> Option<V>) -> Option<V> {
        let hash = self.hash(&key);
        let mut out = Removed::new(self.inner.collect);
        let clock = &self.inner.clock;
        let result = {
            let mut shard = self.shard(hash);
            let current = shard.current(hash, &key, || clock.now(), &mut out);
            let existed = current.is_some();
            match f(current) {
                Some(v) => {
                    let weight = self.weight(&key, &v);
                    let times = if existed {
                        self.times_keep()
                    } else {
                        self.times(None)
                    };
                    let expiry = self.expiry();
                    shard.insert(hash, key, v.clone(), weight, Some(&times), expiry, &mut out);
                    Some(v)
                }
                None => {
                    if existed {
                        shard.remove(hash, &key, || clock.now(), &mut out);
                    }
                    None
                }
            }
        };
        self.finish(out);
        result
    }

    /// A snapshot of the counters. See [`CacheStats`].
    pub fn stats(&self) -> CacheStats {
        let mut s = CacheStats::default();
        for shard in self.inner.shards.iter() {
            let shard = shard.lock();
            let c = shard.counters;
            s.hits += c.hits;
            s.misses += c.misses;
            s.inserts += c.inserts;
            s.evicted_size += c.removed[0];
            s.evicted_expired += c.removed[1];
            s.removed_explicit += c.removed[2];
            s.replaced += c.removed[3];
            s.entries += shard.len() as u64;
            s.weight += shard.weight();
        }
        s.loads = self.inner.loads.load(Ordering::Relaxed);
        s.load_failures = self.inner.load_failures.load(Ordering::Relaxed);
        if let Some(e) = &self.inner.engine {
            s.dirty = e.dirty() as u64;
            s.flushes = e.flushes.load(Ordering::Relaxed);
            s.flushed_entries = e.flushed_entries.load(Ordering::Relaxed);
            s.flush_failures = e.flush_failures.load(Ordering::Relaxed);
        }
        s.finish()
    }

    fn store(&self) -> Result<&Arc<dyn DynStore<K, V>>> {
        self.inner.store.as_ref().ok_or(Error::NoStore)
    }

    /// Read-through: the cached value of `key`, or else the store's (which is then cached). With
    /// write-back, a dirty value not yet flushed is returned rather than the store's older one.
    /// Concurrent misses of one key make one store read (single-flight). An absent key is not cached.
    ///
    /// # Errors
    /// [`Error::NoStore`] without a store; [`Error::Store`] when the store read fails (nothing cached).
    ///
    /// ```
    /// use ember_cache::{Cache, WritePolicy};
    /// use ember_core::MemoryStore;
    ///
    /// let db = MemoryStore::new();
    /// db.seed(1, "one".to_string());
    /// let cache = Cache::builder().max_capacity(10).store(db.clone(), WritePolicy::WriteThrough).build().unwrap();
    /// assert_eq!(cache.fetch(&1).unwrap().as_deref(), Some("one"));
    /// assert_eq!(cache.fetch(&1).unwrap().as_deref(), Some("one"));
    /// assert_eq!(db.calls().gets, 1); // the second read was a hit
    /// assert_eq!(cache.fetch(&2).unwrap(), None);
    /// ```
    pub fn fetch(&self, key: &K) -> Result<Option<V>> {
        let store = self.store()?;
        let hash = self.hash(key);
        if let Some(v) = self.get_hashed(hash, key) {
            return Ok(Some(v));
        }
        loop {
            match self.inner.flights[self.shard_index(hash)].join(key) {
                Join::Lead(leader) => {
                    if let Some(v) = self.peek_hashed(hash, key) {
                        leader.succeed(v.clone());
                        return Ok(Some(v));
                    }
                    let version = *self.stripe(hash);
                    let loaded = match self
                        .inner
                        .engine
                        .as_ref()
                        .and_then(|e| e.pending_value(key))
                    {
                        Some(pending) => Ok(pending),
                        None => {
                            self.inner.loads.fetch_add(1, Ordering::Relaxed);
                            store.get(key)
                        }
                    };
                    match loaded {
                        Ok(Some(v)) => {
                            let out = {
                                let stripe = self.stripe(hash);
                                // A put/delete of this stripe since the read began may have made the
                                // loaded value stale: return it, but do not cache it.
                                (*stripe == version)
                                    .then(|| self.insert_raw(hash, key.clone(), v.clone(), None))
                            };
                            leader.succeed(v.clone());
                            if let Some(out) = out {
                                self.finish(out);
                            }
                            return Ok(Some(v));
                        }
                        Ok(None) => {
                            leader.fail(Arc::new(Absent));
                            return Ok(None);
                        }
                        Err(e) => {
                            self.inner.load_failures.fetch_add(1, Ordering::Relaxed);
                            leader.fail(Arc::new(e.clone()));
                            return Err(e);
                        }
                    }
                }
                Join::Wait(flight) => match flight.wait(&*self.inner.clock) {
                    Outcome::Value(v) => return Ok(Some(v)),
                    Outcome::Failed(any) => {
                        if any.is::<Absent>() {
                            return Ok(None);
                        }
                        if let Ok(e) = any.downcast::<Error>() {
                            return Err((*e).clone());
                        }
                    }
                    Outcome::Retry => {}
                },
            }
        }
    }

    /// Writes `key` according to the [`WritePolicy`]: write-through (store, then cache), write-around
    /// (store, then invalidate) or write-back (cache now, store later).
    ///
    /// # Errors
    /// [`Error::NoStore`]; [`Error::Closed`] after [`close`](Self::close); [`Error::Store`] when a
    /// write-through/around store write fails, in which case the cache is unchanged.
    ///
    /// ```
    /// use ember_cache::{Cache, WritePolicy};
    /// use ember_core::MemoryStore;
    ///
    /// let db = MemoryStore::new();
    /// let cache = Cache::builder().max_capacity(10).store(db.clone(), WritePolicy::WriteThrough).build().unwrap();
    /// cache.put(1, 10).unwrap();
    /// assert_eq!((db.peek(&1), cache.get(&1)), (Some(10), Some(10)));
    /// db.set_down(true);
    /// assert!(cache.put(1, 11).is_err());
    /// assert_eq!(cache.get(&1), Some(10)); // unchanged
    /// ```
    pub fn put(&self, key: K, value: V) -> Result<()> {
        let store = self.store()?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let hash = self.hash(&key);
        let out = {
            let mut stripe = self.stripe(hash);
            match &self.inner.write {
                Some(WritePolicy::WriteBack(_)) => {
                    let Some(engine) = &self.inner.engine else {
                        return Err(Error::NoStore);
                    };
                    engine.mark(key.clone(), Some(value.clone()))?;
                    *stripe += 1;
                    self.insert_raw(hash, key, value, None)
                }
                Some(WritePolicy::WriteAround) => {
                    store.put(&key, &value)?;
                    *stripe += 1;
                    let mut out = Removed::new(self.inner.collect);
                    let clock = &self.inner.clock;
                    self.shard(hash)
                        .remove(hash, &key, || clock.now(), &mut out);
                    out
                }
                _ => {
                    store.put(&key, &value)?;
                    *stripe += 1;
                    self.insert_raw(hash, key, value, None)
                }
            }
        };
        self.finish(out);
        Ok(())
    }

    /// Deletes `key` from the store (now, or with write-back at the next flush) and from the cache.
    ///
    /// # Errors
    /// As [`put`](Self::put); on a failed write-through/around delete the cache is unchanged.
    pub fn delete(&self, key: &K) -> Result<()> {
        let store = self.store()?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let hash = self.hash(key);
        let mut out = Removed::new(self.inner.collect);
        {
            let mut stripe = self.stripe(hash);
            match &self.inner.engine {
                Some(engine) => engine.mark(key.clone(), None)?,
                None => store.delete(key)?,
            }
            *stripe += 1;
            let clock = &self.inner.clock;
            self.shard(hash).remove(hash, key, || clock.now(), &mut out);
        }
        self.finish(out);
        Ok(())
    }

    /// Write-back: writes every dirty entry to the store now. A no-op for other policies.
    ///
    /// # Errors
    /// [`Error::Flush`] with how many entries are still dirty when the store failed; they are kept and
    /// retried by the flusher with backoff.
    pub fn flush(&self) -> Result<()> {
        match &self.inner.engine {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }

    /// Refuses further `put`/`delete` and flushes (write-back). Reads keep working.
    ///
    /// # Errors
    /// As [`flush`](Self::flush): what could not be written stays dirty and the flusher keeps retrying
    /// it in the background while the process lives.
    pub fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        match &self.inner.engine {
            Some(e) => e.close(),
            None => Ok(()),
        }
    }

    /// Write-back: how many entries are dirty (written to the cache, not yet to the store).
    #[must_use]
    pub fn dirty_count(&self) -> usize {
        self.inner.engine.as_ref().map_or(0, |e| e.dirty())
    }
}

impl<K> Cache<K, i64>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Atomically adds `delta` to the counter at `key` and returns the new value, as Redis `INCRBY`. A
    /// missing (or expired) counter starts from 0 and, if `ttl_if_new` is given, expires that long after
    /// this first increment (Redis users do `INCR` then `EXPIRE` on the first hit); an existing counter
    /// keeps its expiry (unless an [`Expiry`]'s `expire_after_update` moves it; without `ttl_if_new`
    /// a new counter gets the cache's TTL/TTI and `expire_after_create`). Counters live in the cache only: like any entry they can be evicted when the
    /// cache is full, so size the cache for them.
    ///
    /// # Errors
    /// [`Error::Overflow`] if the result does not fit in `i64` (the counter is unchanged).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_cache::Cache;
    /// use ember_core::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let hits: Cache<&str, i64> = Cache::builder().max_capacity(1000).clock(clock.clone()).build().unwrap();
    /// let window = Some(Duration::from_secs(1));
    /// assert_eq!(hits.increment("10.0.0.1", 1, window).unwrap(), 1);
    /// assert_eq!(hits.increment("10.0.0.1", 1, window).unwrap(), 2);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(hits.increment("10.0.0.1", 1, window).unwrap(), 1); // a new window
    /// ```
    pub fn increment(&self, key: K, delta: i64, ttl_if_new: Option<Duration>) -> Result<i64> {
        let hash = self.hash(&key);
        let mut out = Removed::new(self.inner.collect);
        let clock = &self.inner.clock;
        let result = {
            let mut shard = self.shard(hash);
            let current = shard.current(hash, &key, || clock.now(), &mut out).copied();
            match current {
                Some(c) => match c.checked_add(delta) {
                    Some(n) => {
                        let w = self.weight(&key, &n);
                        let times = self.times_keep();
                        shard.insert(hash, key, n, w, Some(&times), self.expiry(), &mut out);
                        Ok(n)
                    }
                    None => Err(Error::Overflow),
                },
                None => {
                    let w = self.weight(&key, &delta);
                    let times = self.times(ttl_if_new);
                    shard.insert(hash, key, delta, w, Some(&times), self.expiry(), &mut out);
                    Ok(delta)
                }
            }
        };
        self.finish(out);
        result
    }
}
