//! [`KeepAlive`]: renewing a lease without a background runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ember_core::clock::Signal;
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::manager::LockManager;

/// Keeps a lease alive by renewing it for `ttl` every `ttl / 3` (configurable), with no thread of its
/// own: the holder calls [`poll`](KeepAlive::poll) from its work loop, or opts into a renewal thread
/// with [`spawn`](KeepAlive::spawn).
///
/// Renewal stops being possible once the lease has expired (a pause longer than the remaining TTL): the
/// next poll then returns [`Error::Expired`] and the holder must stop acting on the resource.
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_lock::{KeepAlive, LockManager};
///
/// let clock = ManualClock::new();
/// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
/// let ttl = Duration::from_secs(30);
/// let lease = locks.try_acquire("leader", "node-1", ttl).unwrap();
/// let mut keep = KeepAlive::new(&locks, lease, ttl);
/// for _ in 0..10 {
///     clock.advance(Duration::from_secs(10));
///     assert!(keep.poll().unwrap()); // renewed
/// }
/// // 100 s later, still the leader.
/// assert!(locks.is_valid(keep.lease()));
/// keep.release().unwrap();
/// ```
#[derive(Debug)]
pub struct KeepAlive {
    manager: LockManager,
    lease: Lease,
    ttl: Duration,
    every: Duration,
    next: Instant,
    renewals: u64,
}

impl KeepAlive {
    /// Starts keeping `lease` (granted by `manager`) alive, renewing for `ttl` every `ttl / 3`.
    pub fn new(manager: &LockManager, lease: Lease, ttl: Duration) -> Self {
        let every = ttl / 3;
        let next = manager.clock().now() + every;
        KeepAlive {
            manager: manager.clone(),
            lease,
            ttl,
            every,
            next,
            renewals: 0,
        }
    }

    /// Renews every `every` instead (clamped to `ttl`); the next renewal is `every` from now.
    #[must_use]
    pub fn renew_every(mut self, every: Duration) -> Self {
        self.every = every.min(self.ttl);
        self.next = self.manager.clock().now() + self.every;
        self
    }

    /// The current lease (its deadline moves with every renewal; the token does not).
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// When the next renewal is due.
    #[must_use]
    pub fn next_renewal(&self) -> Instant {
        self.next
    }

    /// How many renewals succeeded.
    #[must_use]
    pub fn renewals(&self) -> u64 {
        self.renewals
    }

    /// Renews the lease if a renewal is due; returns whether it renewed.
    ///
    /// # Errors
    /// [`Error::Expired`] or [`Error::NotHeld`] when the lease is lost: stop using the resource.
    pub fn poll(&mut self) -> Result<bool> {
        if self.manager.clock().now() < self.next {
            return Ok(false);
        }
        self.renew()?;
        Ok(true)
    }

    /// Renews the lease now.
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn renew(&mut self) -> Result<()> {
        self.lease = self.manager.extend(&self.lease, self.ttl)?;
        self.next = self.manager.clock().now() + self.every;
        self.renewals += 1;
        Ok(())
    }

    /// Stops renewing and releases the lease.
    ///
    /// # Errors
    /// As [`LockManager::release`].
    pub fn release(self) -> Result<()> {
        self.manager.release(&self.lease)
    }

    /// Stops renewing and hands back the lease (it lives on until its deadline).
    pub fn into_lease(self) -> Lease {
        self.lease
    }

    /// Renews from a thread of its own until stopped or the lease is lost. The thread sleeps on the
    /// manager's clock, so a `ManualClock` drives it in tests.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::ManualClock;
    /// use ember_lock::{KeepAlive, LockManager};
    ///
    /// let clock = ManualClock::new();
    /// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
    /// let ttl = Duration::from_secs(3);
    /// let lease = locks.try_acquire("leader", "node-1", ttl).unwrap();
    /// let handle = KeepAlive::new(&locks, lease, ttl).spawn();
    /// for round in 1..=5 {
    ///     while clock.waiters() == 0 {
    ///         std::thread::yield_now(); // the thread is asleep until its next renewal
    ///     }
    ///     clock.advance(Duration::from_secs(1));
    ///     while handle.renewals() < round {
    ///         std::thread::yield_now();
    ///     }
    /// }
    /// let lease = handle.stop().unwrap();
    /// assert!(locks.is_valid(&lease));
    /// ```
    pub fn spawn(self) -> KeepAliveHandle {
        let shared = Arc::new(Shared {
            lease: Mutex::new(self.lease.clone()),
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
            renewals: AtomicU64::new(0),
            signal: Signal::new(),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ember-lock-keepalive".into())
            .spawn(move || run(self, &theirs))
            .ok();
        if thread.is_none() {
            *shared.error.lock() = Some(Error::Config("could not spawn the keep-alive thread"));
        }
        KeepAliveHandle { shared, thread }
    }
}

struct Shared {
    lease: Mutex<Lease>,
    error: Mutex<Option<Error>>,
    stop: AtomicBool,
    renewals: AtomicU64,
    signal: Signal,
}

fn run(mut keep: KeepAlive, shared: &Shared) {
    let clock = keep.manager.clock().clone();
    loop {
        let seen = shared.signal.epoch();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match keep.poll() {
            Ok(true) => {
                *shared.lease.lock() = keep.lease.clone();
                shared.renewals.fetch_add(1, Ordering::SeqCst);
            }
            Ok(false) => {}
            Err(e) => {
                *shared.error.lock() = Some(e);
                return;
            }
        }
        shared.signal.wait(&*clock, seen, Some(keep.next));
    }
}

/// The renewal thread of a [`KeepAlive`]; from [`KeepAlive::spawn`]. Dropping it stops the thread
/// (without releasing the lease).
#[derive(Debug)]
pub struct KeepAliveHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAliveShared")
            .field("renewals", &self.renewals.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl KeepAliveHandle {
    /// The lease as last renewed.
    pub fn lease(&self) -> Lease {
        self.shared.lease.lock().clone()
    }

    /// How many renewals the thread made.
    #[must_use]
    pub fn renewals(&self) -> u64 {
        self.shared.renewals.load(Ordering::SeqCst)
    }

    /// Why the thread stopped renewing, if the lease was lost.
    #[must_use]
    pub fn error(&self) -> Option<Error> {
        self.shared.error.lock().clone()
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.signal.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the thread and returns the latest lease (still held until its deadline).
    ///
    /// # Errors
    /// The error that made the thread give up, if the lease was lost.
    pub fn stop(mut self) -> Result<Lease> {
        self.halt();
        match self.shared.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(self.lease()),
        }
    }
}

impl Drop for KeepAliveHandle {
    fn drop(&mut self) {
        self.halt();
    }
}
