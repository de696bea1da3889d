//! Write policies over an ember-core [`Store`]: write-through, write-around and write-back.
//!
//! # Write-back and its durability window
//!
//! With [`WritePolicy::WriteBack`], [`Cache::put`](crate::Cache::put) returns as soon as the cache holds
//! the value; the entry is *dirty* until a flusher thread writes it to the store. Dirty writes live in a
//! pending buffer next to the cache (not inside cache entries), so evicting a dirty entry never loses
//! it, and a read-through miss sees the pending value rather than the stale one in the store. Writes to
//! one key coalesce: only the newest value is written, and a key is never written older-after-newer
//! because one flush runs at a time and an entry is only marked clean if it did not change while its
//! batch was in flight.
//!
//! The flusher writes with [`Store::put_many`] / [`Store::delete_many`] in batches of
//! [`WriteBack::batch_size`] when a batch fills, when the oldest dirty entry is
//! [`WriteBack::max_delay`] old (by the cache's clock), when a dirty entry is evicted, on
//! [`Cache::flush`](crate::Cache::flush), and on [`Cache::close`](crate::Cache::close) or when the last
//! handle is dropped. A failing store keeps the entries dirty and is retried with exponential backoff
//! (from [`WriteBack::retry_backoff`]) for as long as the process lives, even after the cache is dropped.
//!
//! **Durability window**: a write acknowledged by `put` is in memory only until it is flushed, i.e. for
//! up to `max_delay` plus the flush time in normal operation, and for as long as the store stays down
//! otherwise. A crash (or `process::exit`) in that window loses it: the classic write-back trade-off.
//! Use write-through when every acknowledged write must be in the store.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::{SharedClock, Signal};
use ember_core::store::{Store, StoreOp};
use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::error::{Error, Result, StoreError};

/// How [`Cache::put`](crate::Cache::put) and [`Cache::delete`](crate::Cache::delete) reach the store.
///
/// ```
/// use std::time::Duration;
/// use ember_cache::{WriteBack, WritePolicy};
/// let p = WritePolicy::WriteBack(WriteBack::new().batch_size(100).max_delay(Duration::from_millis(50)));
/// assert!(matches!(p, WritePolicy::WriteBack(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WritePolicy {
    /// Write the store first, then the cache. A store failure leaves the cache unchanged and is returned.
    WriteThrough,
    /// Write only the store and invalidate the cached entry; the next read loads it.
    WriteAround,
    /// Write the cache, mark the entry dirty, write the store later in batches (see the
    /// [module docs](self) for the durability window).
    WriteBack(WriteBack),
}

/// Settings of [`WritePolicy::WriteBack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBack {
    pub(crate) batch_size: usize,
    pub(crate) max_delay: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

impl Default for WriteBack {
    fn default() -> Self {
        WriteBack {
            batch_size: 128,
            max_delay: Duration::from_millis(100),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl WriteBack {
    /// Defaults: batches of 128, flush within 100 ms, retry from 50 ms up to 5 s.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Flush as soon as this many entries are dirty, and write at most this many per store call.
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// The longest a dirty entry waits before the flusher writes it (while the store is healthy).
    #[must_use]
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// After a failed flush, wait `min`, then double up to `max`, between attempts.
    #[must_use]
    pub fn retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::Config(
                "write-back batch_size must be at least 1".into(),
            ));
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return Err(Error::Config(
                "write-back retry_backoff needs 0 < min <= max".into(),
            ));
        }
        Ok(())
    }
}

/// A store with its error type erased, so the cache type does not carry it.
pub(crate) trait DynStore<K, V>: Send + Sync {
    fn get(&self, key: &K) -> Result<Option<V>>;
    fn put(&self, key: &K, value: &V) -> Result<()>;
    fn delete(&self, key: &K) -> Result<()>;
    fn put_many(&self, entries: &[(K, V)]) -> Result<()>;
    fn delete_many(&self, keys: &[K]) -> Result<()>;
}

pub(crate) struct Erased<S>(pub(crate) S);

fn store_err<E: std::error::Error + Send + Sync + 'static>(op: StoreOp) -> impl FnOnce(E) -> Error {
    move |e| Error::Store {
        op,
        source: Arc::new(e),
    }
}

impl<K, V, S: Store<K, V>> DynStore<K, V> for Erased<S> {
    fn get(&self, key: &K) -> Result<Option<V>> {
        self.0.get(key).map_err(store_err(StoreOp::Get))
    }
    fn put(&self, key: &K, value: &V) -> Result<()> {
        self.0.put(key, value).map_err(store_err(StoreOp::Put))
    }
    fn delete(&self, key: &K) -> Result<()> {
        self.0.delete(key).map_err(store_err(StoreOp::Delete))
    }
    fn put_many(&self, entries: &[(K, V)]) -> Result<()> {
        self.0
            .put_many(entries)
            .map_err(store_err(StoreOp::PutMany))
    }
    fn delete_many(&self, keys: &[K]) -> Result<()> {
        self.0
            .delete_many(keys)
            .map_err(store_err(StoreOp::DeleteMany))
    }
}

/// A pending write: the newest value (or a delete) and its version.
struct Dirty<V> {
    value: Option<V>,
    version: u64,
}

struct Pending<K, V> {
    map: HashMap<K, Dirty<V>>,
    version: u64,
    /// When the oldest still-dirty write happened (approximately: reset at each successful flush).
    oldest: Option<Instant>,
    /// A flush is wanted now (batch full, dirty entry evicted, explicit request).
    urgent: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    closing: bool,
    closed: bool,
    last_error: Option<StoreError>,
}

/// The write-back machinery shared by the cache and its flusher thread.
pub(crate) struct Engine<K, V> {
    store: Arc<dyn DynStore<K, V>>,
    clock: SharedClock,
    cfg: WriteBack,
    pending: Mutex<Pending<K, V>>,
    /// One flush at a time, so the store sees one key's writes in order.
    flushing: Mutex<()>,
    signal: Signal,
    pub(crate) flushes: AtomicU64,
    pub(crate) flushed_entries: AtomicU64,
    pub(crate) flush_failures: AtomicU64,
}

impl<K, V> Engine<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn start(
        store: Arc<dyn DynStore<K, V>>,
        clock: SharedClock,
        cfg: WriteBack,
    ) -> Arc<Self> {
        let engine = Arc::new(Engine {
            store,
            clock,
            pending: Mutex::new(Pending {
                map: HashMap::new(),
                version: 0,
                oldest: None,
                urgent: false,
                retry_at: None,
                backoff: cfg.backoff_min,
                closing: false,
                closed: false,
                last_error: None,
            }),
            cfg,
            flushing: Mutex::new(()),
            signal: Signal::new(),
            flushes: AtomicU64::new(0),
            flushed_entries: AtomicU64::new(0),
            flush_failures: AtomicU64::new(0),
        });
        let e = Arc::clone(&engine);
        std::thread::Builder::new()
            .name("ember-cache-flusher".into())
            .spawn(move || e.run())
            .ok();
        engine
    }

    /// Records a dirty write (`None` = delete).
    pub(crate) fn mark(&self, key: K, value: Option<V>) -> Result<()> {
        let wake = {
            let mut p = self.pending.lock();
            if p.closed {
                return Err(Error::Closed);
            }
            p.version += 1;
            let version = p.version;
            if p.map.is_empty() {
                p.oldest = Some(self.clock.now());
            }
            p.map.insert(key, Dirty { value, version });
            let full = p.map.len() >= self.cfg.batch_size;
            if full {
                p.urgent = true;
            }
            full || p.map.len() == 1
        };
        if wake {
            self.signal.notify_all();
        }
        Ok(())
    }

    /// The pending write for `key`: `Some(Some(v))` a dirty value, `Some(None)` a pending delete.
    pub(crate) fn pending_value(&self, key: &K) -> Option<Option<V>> {
        self.pending.lock().map.get(key).map(|d| d.value.clone())
    }

    /// Dirty keys were evicted from the cache: flush them soon.
    pub(crate) fn evicted<'a>(&self, keys: impl Iterator<Item = &'a K>) {
        let mut p = self.pending.lock();
        if keys.into_iter().any(|k| p.map.contains_key(k)) {
            p.urgent = true;
            drop(p);
            self.signal.notify_all();
        }
    }

    pub(crate) fn dirty(&self) -> usize {
        self.pending.lock().map.len()
    }

    /// Writes every dirty entry now, ignoring backoff.
    ///
    /// # Errors
    /// [`Error::Flush`] when some entries could not be written (they stay dirty).
    pub(crate) fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock();
        let mut last_err: Option<StoreError> = None;
        // Bounded: entries re-dirtied while this flush runs are left for the next one.
        let mut rounds = self.dirty().div_ceil(self.cfg.batch_size) + 1;
        loop {
            if rounds == 0 {
                break;
            }
            rounds -= 1;
            let (puts, deletes) = self.take_batch();
            if puts.is_empty() && deletes.is_empty() {
                break;
            }
            let mut ok_keys: Vec<(K, u64)> = Vec::with_capacity(puts.len() + deletes.len());
            let mut failed = false;
            if !puts.is_empty() {
                let entries: Vec<(K, V)> = puts
                    .iter()
                    .map(|(k, v, _)| (k.clone(), v.clone()))
                    .collect();
                match self.store.put_many(&entries) {
                    Ok(()) => {
                        self.flushes.fetch_add(1, Ordering::Relaxed);
                        self.flushed_entries
                            .fetch_add(entries.len() as u64, Ordering::Relaxed);
                        ok_keys.extend(puts.into_iter().map(|(k, _, ver)| (k, ver)));
                    }
                    Err(e) => {
                        failed = true;
                        last_err = Some(source(e));
                    }
                }
            }
            if !deletes.is_empty() && !failed {
                let keys: Vec<K> = deletes.iter().map(|(k, _)| k.clone()).collect();
                match self.store.delete_many(&keys) {
                    Ok(()) => {
                        self.flushes.fetch_add(1, Ordering::Relaxed);
                        self.flushed_entries
                            .fetch_add(keys.len() as u64, Ordering::Relaxed);
                        ok_keys.extend(deletes);
                    }
                    Err(e) => {
                        failed = true;
                        last_err = Some(source(e));
                    }
                }
            }
            let mut p = self.pending.lock();
            for (k, ver) in ok_keys {
                if p.map.get(&k).is_some_and(|d| d.version == ver) {
                    p.map.remove(&k);
                }
            }
            if failed {
                self.flush_failures.fetch_add(1, Ordering::Relaxed);
                let now = self.clock.now();
                p.retry_at = Some(now + p.backoff);
                p.backoff = (p.backoff * 2).min(self.cfg.backoff_max);
                p.last_error.clone_from(&last_err);
                let pending = p.map.len();
                drop(p);
                self.signal.notify_all();
                return Err(Error::Flush {
                    pending,
                    source: last_err.unwrap_or_else(|| Arc::new(Error::Closed)),
                });
            }
            p.retry_at = None;
            p.backoff = self.cfg.backoff_min;
            p.last_error = None;
            p.oldest = if p.map.is_empty() {
                None
            } else {
                Some(self.clock.now())
            };
        }
        let mut p = self.pending.lock();
        p.urgent = false;
        Ok(())
    }

    /// Up to one batch of dirty entries, cloned, with their versions, excluding entries already taken
    /// in this flush round (they are removed from the map on success).
    #[allow(clippy::type_complexity)]
    fn take_batch(&self) -> (Vec<(K, V, u64)>, Vec<(K, u64)>) {
        let p = self.pending.lock();
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (k, d) in p.map.iter().take(self.cfg.batch_size) {
            match &d.value {
                Some(v) => puts.push((k.clone(), v.clone(), d.version)),
                None => deletes.push((k.clone(), d.version)),
            }
        }
        (puts, deletes)
    }

    /// Marks the cache closed and flushes. The flusher keeps retrying what is left.
    pub(crate) fn close(&self) -> Result<()> {
        self.pending.lock().closed = true;
        let r = self.flush();
        self.shutdown();
        r
    }

    /// Asks the flusher to exit once everything is written.
    pub(crate) fn shutdown(&self) {
        self.pending.lock().closing = true;
        self.signal.notify_all();
    }

    fn run(&self) {
        loop {
            let seen = self.signal.epoch();
            let deadline = {
                let p = self.pending.lock();
                let now = self.clock.now();
                if p.map.is_empty() {
                    if p.closing {
                        return;
                    }
                    None
                } else if let Some(retry) = p.retry_at.filter(|&r| r > now) {
                    Some(retry)
                } else {
                    let due_at = p.oldest.map(|o| o + self.cfg.max_delay);
                    let due = p.urgent
                        || p.closing
                        || p.retry_at.is_some()
                        || due_at.is_none_or(|d| d <= now);
                    if due {
                        drop(p);
                        // Errors are recorded in the pending state and retried with backoff.
                        let _ = self.flush();
                        continue;
                    }
                    due_at
                }
            };
            self.signal.wait(&*self.clock, seen, deadline);
        }
    }
}

fn source(e: Error) -> StoreError {
    match e {
        Error::Store { source, .. } => source,
        other => Arc::new(other),
    }
}
