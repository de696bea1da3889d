//! [`LockBackend`]: the seam between Redlock and a lock server, and [`FaultyBackend`] for testing it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ember_core::clock::{Clock, SharedClock, SystemClock};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::lease::Owner;
use crate::manager::LockManager;

/// One independent lock server, as [`Redlock`](crate::Redlock) sees it: the three operations Redis
/// offers as `SET key value NX PX ttl` and the compare-then-`DEL` / compare-then-`PEXPIRE` scripts.
///
/// [`LockManager`] implements it in process; a Redis (or etcd, ZooKeeper) client can implement it to
/// plug a real server in.
///
/// ```
/// use std::time::Duration;
/// use ember_lock::{LockBackend, LockManager, Owner};
///
/// let backend = LockManager::new();
/// let me = Owner::new("client-1");
/// let token = backend.try_acquire_ttl("key", &me, Duration::from_secs(5)).unwrap();
/// backend.extend_if_token("key", &me, token, Duration::from_secs(5)).unwrap();
/// backend.release_if_token("key", &me, token).unwrap();
/// assert!(backend.release_if_token("key", &me, token).is_err());
/// ```
pub trait LockBackend: Send + Sync + fmt::Debug {
    /// A name for messages (`"redis-3"`).
    fn name(&self) -> String {
        "backend".to_string()
    }

    /// Grants an exclusive lease on `resource` to `owner` for `ttl` if it is free, without waiting;
    /// returns the backend's token for the grant.
    ///
    /// # Errors
    /// [`Error::Held`] / [`Error::Queued`] when taken, [`Error::Unavailable`] when unreachable.
    fn try_acquire_ttl(&self, resource: &str, owner: &Owner, ttl: Duration) -> Result<u64>;

    /// Releases the lease only if `owner` holds it with `token`.
    ///
    /// # Errors
    /// [`Error::NotHeld`] / [`Error::Expired`] otherwise, [`Error::Unavailable`].
    fn release_if_token(&self, resource: &str, owner: &Owner, token: u64) -> Result<()>;

    /// Extends the lease to `ttl` from now only if `owner` still holds it with `token`.
    ///
    /// # Errors
    /// [`Error::NotHeld`] / [`Error::Expired`] otherwise, [`Error::Unavailable`].
    fn extend_if_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        ttl: Duration,
    ) -> Result<()>;
}

impl LockBackend for LockManager {
    fn name(&self) -> String {
        "in-process".to_string()
    }

    fn try_acquire_ttl(&self, resource: &str, owner: &Owner, ttl: Duration) -> Result<u64> {
        self.try_acquire(resource, owner, ttl).map(|l| l.token())
    }

    fn release_if_token(&self, resource: &str, owner: &Owner, token: u64) -> Result<()> {
        self.release_token(resource, owner, token, None)
    }

    fn extend_if_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        ttl: Duration,
    ) -> Result<()> {
        self.extend_token(resource, owner, token, ttl, None)
            .map(|_| ())
    }
}

impl<B: LockBackend + ?Sized> LockBackend for Arc<B> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn try_acquire_ttl(&self, resource: &str, owner: &Owner, ttl: Duration) -> Result<u64> {
        (**self).try_acquire_ttl(resource, owner, ttl)
    }
    fn release_if_token(&self, resource: &str, owner: &Owner, token: u64) -> Result<()> {
        (**self).release_if_token(resource, owner, token)
    }
    fn extend_if_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        ttl: Duration,
    ) -> Result<()> {
        (**self).extend_if_token(resource, owner, token, ttl)
    }
}

/// Wraps a backend with fault injection, to test what runs on top of it (Redlock): take it down, fail
/// the next calls, lose replies (the operation happens but the caller sees an error), add latency on a
/// clock (a `ManualClock` moves forward by it, so elapsed-time rules are testable).
///
/// ```
/// use std::time::Duration;
/// use ember_lock::{Error, FaultyBackend, LockBackend, LockManager, Owner};
///
/// let backend = FaultyBackend::new("node-1", LockManager::new());
/// let me = Owner::new("me");
/// backend.set_down(true);
/// assert!(matches!(backend.try_acquire_ttl("k", &me, Duration::from_secs(1)), Err(Error::Unavailable { .. })));
/// backend.set_down(false);
/// assert!(backend.try_acquire_ttl("k", &me, Duration::from_secs(1)).is_ok());
/// assert_eq!(backend.calls(), 2);
/// ```
pub struct FaultyBackend<B> {
    name: String,
    inner: B,
    clock: SharedClock,
    down: AtomicBool,
    lose_replies: AtomicBool,
    fail_next: AtomicU64,
    latency: Mutex<Duration>,
    calls: AtomicU64,
}

impl<B: LockBackend> FaultyBackend<B> {
    /// Wraps `inner` under `name`, healthy, with no latency, on the system clock.
    pub fn new(name: impl Into<String>, inner: B) -> Self {
        FaultyBackend {
            name: name.into(),
            inner,
            clock: Arc::new(SystemClock),
            down: AtomicBool::new(false),
            lose_replies: AtomicBool::new(false),
            fail_next: AtomicU64::new(0),
            latency: Mutex::new(Duration::ZERO),
            calls: AtomicU64::new(0),
        }
    }

    /// The clock latency is spent on (`Clock::sleep`: a `ManualClock` advances).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Takes the backend down (every call fails with [`Error::Unavailable`]) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes the next `n` calls fail with [`Error::Unavailable`].
    pub fn fail_next(&self, n: u64) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Performs operations but reports [`Error::Unavailable`] (a reply lost on the network).
    pub fn set_lose_replies(&self, lose: bool) {
        self.lose_replies.store(lose, Ordering::SeqCst);
    }

    /// Spends `latency` on the clock in every call.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock() = latency;
    }

    /// How many calls were made (including failed ones).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn call<T>(&self, op: impl FnOnce(&B) -> Result<T>) -> Result<T> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let latency = *self.latency.lock();
        if !latency.is_zero() {
            self.clock.sleep(latency);
        }
        let unavailable = || Error::Unavailable {
            backend: self.name.clone(),
        };
        if self.down.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        let injected = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if injected {
            return Err(unavailable());
        }
        let outcome = op(&self.inner);
        if self.lose_replies.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        outcome
    }
}

impl<B> fmt::Debug for FaultyBackend<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("name", &self.name)
            .field("down", &self.down.load(Ordering::SeqCst))
            .field("calls", &self.calls.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<B: LockBackend> LockBackend for FaultyBackend<B> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn try_acquire_ttl(&self, resource: &str, owner: &Owner, ttl: Duration) -> Result<u64> {
        self.call(|b| b.try_acquire_ttl(resource, owner, ttl))
    }

    fn release_if_token(&self, resource: &str, owner: &Owner, token: u64) -> Result<()> {
        self.call(|b| b.release_if_token(resource, owner, token))
    }

    fn extend_if_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        ttl: Duration,
    ) -> Result<()> {
        self.call(|b| b.extend_if_token(resource, owner, token, ttl))
    }
}
