//! The backing data store behind a cache: the database a cache saves reads from and writes through to.
//!
//! [`Store`] is the seam: a real application implements it over its database client; tests and examples
//! use [`MemoryStore`], which can be told to fail, to be slow, or to count what it was asked.
//!
//! ```
//! use ember_core::store::{MemoryStore, Store};
//!
//! let store = MemoryStore::new();
//! store.put(&"user:1".to_string(), &"Ada".to_string()).unwrap();
//! assert_eq!(store.get(&"user:1".to_string()).unwrap(), Some("Ada".to_string()));
//!
//! store.fail_next(1);
//! assert!(store.get(&"user:1".to_string()).is_err()); // the injected fault
//! assert!(store.get(&"user:1".to_string()).is_ok()); // and it recovers
//! ```

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock};

use crate::clock::{SharedClock, SystemClock};

/// A key-value data store that a cache sits in front of.
///
/// Every call is fallible: stores live across a network and fail. Implementations must be safe to call
/// from many threads at once. The batched calls default to one call per item; override them when the
/// store has a real batch API (a write-back cache flushes through [`put_many`](Store::put_many)).
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use parking_lot::Mutex;
/// use ember_core::store::Store;
///
/// /// A toy store over a map.
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<u32, String>>);
///
/// impl Store<u32, String> for MapStore {
///     type Error = Infallible;
///     fn get(&self, key: &u32) -> Result<Option<String>, Infallible> {
///         Ok(self.0.lock().get(key).cloned())
///     }
///     fn put(&self, key: &u32, value: &String) -> Result<(), Infallible> {
///         self.0.lock().insert(*key, value.clone());
///         Ok(())
///     }
///     fn delete(&self, key: &u32) -> Result<(), Infallible> {
///         self.0.lock().remove(key);
///         Ok(())
///     }
/// }
///
/// let s = MapStore::default();
/// s.put_many(&[(1, "a".into()), (2, "b".into())]).unwrap();
/// assert_eq!(s.get(&2).unwrap().as_deref(), Some("b"));
/// ```
pub trait Store<K, V>: Send + Sync {
    /// The store's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads `key`; `Ok(None)` when it is absent.
    ///
    /// # Errors
    /// When the store cannot answer.
    fn get(&self, key: &K) -> Result<Option<V>, Self::Error>;

    /// Writes `value` under `key`, replacing what was there.
    ///
    /// # Errors
    /// When the write did not happen (the caller must assume nothing was written).
    fn put(&self, key: &K, value: &V) -> Result<(), Self::Error>;

    /// Deletes `key`. Deleting an absent key succeeds.
    ///
    /// # Errors
    /// When the store cannot answer.
    fn delete(&self, key: &K) -> Result<(), Self::Error>;

    /// Writes every entry, in order. The default calls [`put`](Store::put) for each and stops at the
    /// first failure; the caller must then assume none of the batch is durable and retry it whole
    /// (writes are idempotent).
    ///
    /// # Errors
    /// The first failure.
    fn put_many(&self, entries: &[(K, V)]) -> Result<(), Self::Error> {
        entries.iter().try_for_each(|(k, v)| self.put(k, v))
    }

    /// Deletes every key. The default calls [`delete`](Store::delete) for each.
    ///
    /// # Errors
    /// The first failure.
    fn delete_many(&self, keys: &[K]) -> Result<(), Self::Error> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
}

impl<K, V, S: Store<K, V> + ?Sized> Store<K, V> for Arc<S> {
    type Error = S::Error;
    fn get(&self, key: &K) -> Result<Option<V>, Self::Error> {
        (**self).get(key)
    }
    fn put(&self, key: &K, value: &V) -> Result<(), Self::Error> {
        (**self).put(key, value)
    }
    fn delete(&self, key: &K) -> Result<(), Self::Error> {
        (**self).delete(key)
    }
    fn put_many(&self, entries: &[(K, V)]) -> Result<(), Self::Error> {
        (**self).put_many(entries)
    }
    fn delete_many(&self, keys: &[K]) -> Result<(), Self::Error> {
        (**self).delete_many(keys)
    }
}

/// Which [`Store`] call an operation was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum StoreOp {
    /// [`Store::get`].
    Get,
    /// [`Store::put`].
    Put,
    /// [`Store::delete`].
    Delete,
    /// [`Store::put_many`].
    PutMany,
    /// [`Store::delete_many`].
    DeleteMany,
}

impl fmt::Display for StoreOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreOp::Get => "get",
            StoreOp::Put => "put",
            StoreOp::Delete => "delete",
            StoreOp::PutMany => "put_many",
            StoreOp::DeleteMany => "delete_many",
        })
    }
}

/// The error of a [`MemoryStore`]: always an injected fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStoreError {
    /// The store was set down with [`MemoryStore::set_down`].
    #[error("store unavailable ({op})")]
    Unavailable {
        /// The call that failed.
        op: StoreOp,
    },
    /// A fault injected with [`MemoryStore::fail_next`] or [`MemoryStore::fail_keys`].
    #[error("injected fault ({op})")]
    Injected {
        /// The call that failed.
        op: StoreOp,
    },
}

/// One write as the store applied it, in order (see [`MemoryStore::writes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<K, V> {
    /// A key was written with a value.
    Put(K, V),
    /// A key was deleted.
    Delete(K),
}

/// How many calls of each kind a [`MemoryStore`] has answered or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StoreCalls {
    /// `get` calls.
    pub gets: u64,
    /// `put` calls.
    pub puts: u64,
    /// `delete` calls.
    pub deletes: u64,
    /// `put_many` calls.
    pub put_many: u64,
    /// `delete_many` calls.
    pub delete_many: u64,
    /// Calls that failed by injection.
    pub failures: u64,
}

impl fmt::Display for StoreCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::stats::write_fields(
            f,
            &[
                ("gets", &self.gets),
                ("puts", &self.puts),
                ("deletes", &self.deletes),
                ("put_many", &self.put_many),
                ("delete_many", &self.delete_many),
                ("failures", &self.failures),
            ],
        )
    }
}

type KeyPredicate<K> = Box<dyn Fn(&K) -> bool + Send + Sync>;

/// An in-memory [`Store`] with fault injection, for tests and examples.
///
/// - [`fail_next(n)`](MemoryStore::fail_next): the next `n` calls fail.
/// - [`fail_keys(pred)`](MemoryStore::fail_keys): every call touching a matching key fails (a batch
///   fails whole if any of its keys matches), until [`clear_faults`](MemoryStore::clear_faults).
/// - [`set_down(true)`](MemoryStore::set_down): every call fails until set back up.
/// - [`latency(d)`](MemoryStore::latency): every call lets `d` pass on the store's clock (a
///   [`ManualClock`](crate::clock::ManualClock) is advanced, the system clock sleeps).
/// - [`calls`](MemoryStore::calls) and [`writes`](MemoryStore::writes) tell what it was asked and what
///   it applied, in order.
///
/// A failed call changes nothing. Cloning gives another handle to the same store.
///
/// ```
/// use ember_core::store::{MemoryStore, MemoryStoreError, Store, StoreOp};
///
/// let store: MemoryStore<u32, u32> = MemoryStore::new();
/// store.fail_keys(|k| *k == 13);
/// assert_eq!(store.put(&13, &1), Err(MemoryStoreError::Injected { op: StoreOp::Put }));
/// assert!(store.put(&12, &1).is_ok());
/// assert_eq!(store.len(), 1);
/// assert_eq!(store.calls().puts, 2);
/// ```
pub struct MemoryStore<K, V> {
    inner: Arc<MemInner<K, V>>,
}

struct MemInner<K, V> {
    data: RwLock<HashMap<K, V>>,
    writes: Mutex<Vec<Write<K, V>>>,
    faults: Mutex<Faults<K>>,
    clock: RwLock<SharedClock>,
    latency_nanos: AtomicU64,
    counters: [AtomicU64; 6],
}

struct Faults<K> {
    down: bool,
    fail_next: u64,
    keys: Option<KeyPredicate<K>>,
}

impl<K, V> Clone for MemoryStore<K, V> {
    fn clone(&self) -> Self {
        MemoryStore {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for MemoryStore<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for MemoryStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.inner.data.read().len())
            .finish_non_exhaustive()
    }
}

const GETS: usize = 0;
const PUTS: usize = 1;
const DELETES: usize = 2;
const PUT_MANY: usize = 3;
const DELETE_MANY: usize = 4;
const FAILURES: usize = 5;

impl<K: Hash + Eq + Clone, V: Clone> MemoryStore<K, V> {
    /// An empty store on the system clock, with no faults.
    pub fn new() -> Self {
        MemoryStore {
            inner: Arc::new(MemInner {
                data: RwLock::new(HashMap::new()),
                writes: Mutex::new(Vec::new()),
                faults: Mutex::new(Faults {
                    down: false,
                    fail_next: 0,
                    keys: None,
                }),
                clock: RwLock::new(Arc::new(SystemClock)),
                latency_nanos: AtomicU64::new(0),
                counters: Default::default(),
            }),
        }
    }

    /// Sets the clock that simulated latency is spent on.
    #[must_use]
    pub fn with_clock(self, clock: SharedClock) -> Self {
        *self.inner.clock.write() = clock;
        self
    }

    /// Every call from now on lets `latency` pass on the store's clock before it answers.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use ember_core::clock::{Clock, ManualClock};
    /// use ember_core::store::{MemoryStore, Store};
    ///
    /// let clock = ManualClock::new();
    /// let store: MemoryStore<u8, u8> = MemoryStore::new().with_clock(Arc::new(clock.clone()));
    /// store.latency(Duration::from_millis(20));
    /// let t0 = clock.now();
    /// store.get(&1).unwrap();
    /// assert_eq!(clock.now() - t0, Duration::from_millis(20));
    /// ```
    pub fn latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.inner.latency_nanos.store(nanos, Ordering::SeqCst);
    }

    /// The next `n` calls fail with [`MemoryStoreError::Injected`].
    pub fn fail_next(&self, n: u64) {
        self.inner.faults.lock().fail_next = n;
    }

    /// Every call that touches a key matching `pred` fails, until [`clear_faults`](Self::clear_faults).
    pub fn fail_keys(&self, pred: impl Fn(&K) -> bool + Send + Sync + 'static) {
        self.inner.faults.lock().keys = Some(Box::new(pred));
    }

    /// Sets the store down (every call fails with [`MemoryStoreError::Unavailable`]) or back up.
    pub fn set_down(&self, down: bool) {
        self.inner.faults.lock().down = down;
    }

    /// Removes every injected fault and the latency.
    pub fn clear_faults(&self) {
        let mut faults = self.inner.faults.lock();
        faults.down = false;
        faults.fail_next = 0;
        faults.keys = None;
        self.inner.latency_nanos.store(0, Ordering::SeqCst);
    }

    /// How many calls of each kind were made.
    pub fn calls(&self) -> StoreCalls {
        let c = |i: usize| self.inner.counters[i].load(Ordering::Relaxed);
        StoreCalls {
            gets: c(GETS),
            puts: c(PUTS),
            deletes: c(DELETES),
            put_many: c(PUT_MANY),
            delete_many: c(DELETE_MANY),
            failures: c(FAILURES),
        }
    }

    /// Every write the store applied, in the order it applied them (batches item by item).
    pub fn writes(&self) -> Vec<Write<K, V>> {
        self.inner.writes.lock().clone()
    }

    /// Reads a key directly, bypassing faults, latency and counters (for assertions).
    pub fn peek(&self, key: &K) -> Option<V> {
        self.inner.data.read().get(key).cloned()
    }

    /// Writes a key directly, bypassing faults, latency and counters (to seed data).
    pub fn seed(&self, key: K, value: V) {
        self.inner.data.write().insert(key, value);
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.inner.data.read().len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the whole contents.
    pub fn snapshot(&self) -> Vec<(K, V)> {
        self.inner
            .data
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Counts the call, spends the latency, and decides whether it fails.
    fn enter<'a>(
        &self,
        op: StoreOp,
        counter: usize,
        mut keys: impl Iterator<Item = &'a K>,
    ) -> Result<(), MemoryStoreError>
    where
        K: 'a,
    {
        self.inner.counters[counter].fetch_add(1, Ordering::Relaxed);
        let latency = self.inner.latency_nanos.load(Ordering::SeqCst);
        if latency > 0 {
            let clock = self.inner.clock.read().clone();
            clock.sleep(Duration::from_nanos(latency));
        }
        let mut faults = self.inner.faults.lock();
        let error = if faults.down {
            Some(MemoryStoreError::Unavailable { op })
        } else if faults.fail_next > 0 {
            faults.fail_next -= 1;
            Some(MemoryStoreError::Injected { op })
        } else if let Some(pred) = &faults.keys {
            keys.any(pred).then_some(MemoryStoreError::Injected { op })
        } else {
            None
        };
        match error {
            Some(e) => {
                self.inner.counters[FAILURES].fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
            None => Ok(()),
        }
    }
}

impl<K, V> Store<K, V> for MemoryStore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    type Error = MemoryStoreError;

    fn get(&self, key: &K) -> Result<Option<V>, MemoryStoreError> {
        self.enter(StoreOp::Get, GETS, std::iter::once(key))?;
        Ok(self.inner.data.read().get(key).cloned())
    }

    fn put(&self, key: &K, value: &V) -> Result<(), MemoryStoreError> {
        self.enter(StoreOp::Put, PUTS, std::iter::once(key))?;
        let mut writes = self.inner.writes.lock();
        self.inner.data.write().insert(key.clone(), value.clone());
        writes.push(Write::Put(key.clone(), value.clone()));
        Ok(())
    }

    fn delete(&self, key: &K) -> Result<(), MemoryStoreError> {
        self.enter(StoreOp::Delete, DELETES, std::iter::once(key))?;
        let mut writes = self.inner.writes.lock();
        self.inner.data.write().remove(key);
        writes.push(Write::Delete(key.clone()));
        Ok(())
    }

    fn put_many(&self, entries: &[(K, V)]) -> Result<(), MemoryStoreError> {
        self.enter(StoreOp::PutMany, PUT_MANY, entries.iter().map(|(k, _)| k))?;
        let mut writes = self.inner.writes.lock();
        let mut data = self.inner.data.write();
        for (k, v) in entries {
            data.insert(k.clone(), v.clone());
            writes.push(Write::Put(k.clone(), v.clone()));
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[K]) -> Result<(), MemoryStoreError> {
        self.enter(StoreOp::DeleteMany, DELETE_MANY, keys.iter())?;
        let mut writes = self.inner.writes.lock();
        let mut data = self.inner.data.write();
        for k in keys {
            data.remove(k);
            writes.push(Write::Delete(k.clone()));
        }
        Ok(())
    }
}
