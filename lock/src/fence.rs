//! Fencing: the protected resource's side of a lease lock.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// Remembers the newest fencing token it has accepted and rejects older ones.
///
/// A lease can expire while its holder is paused (a GC pause, a swapped-out process, a slow network):
/// the holder wakes up believing it still holds the lock while someone else does. The only defence is
/// for the *protected resource* to check the lease's token: tokens grow with every grant, so a write
/// carrying a token older than one already seen comes from a holder that lost its lease.
///
/// `Fence` is the bare check, for resources that do their own atomicity (call it inside the same
/// transaction as the write). [`FencedResource`] bundles the check with the data so check and write are
/// one atomic step.
///
/// ```
/// use ember_lock::{Error, Fence};
///
/// let fence = Fence::new();
/// fence.check(7).unwrap();
/// fence.check(7).unwrap(); // the same holder may write again
/// fence.check(9).unwrap();
/// assert!(matches!(fence.check(7), Err(Error::StaleToken { token: 7, highest: 9 })));
/// assert_eq!(fence.highest(), 9);
/// ```
#[derive(Debug, Default)]
pub struct Fence {
    highest: AtomicU64,
}

impl Fence {
    /// A fence that has seen no token.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` if it is not older than the newest accepted so far, and remembers it.
    ///
    /// # Errors
    /// [`Error::StaleToken`] when a newer token has been accepted.
    pub fn check(&self, token: u64) -> Result<()> {
        let mut current = self.highest.load(Ordering::Acquire);
        loop {
            if token < current {
                return Err(Error::StaleToken {
                    token,
                    highest: current,
                });
            }
            if token == current {
                return Ok(());
            }
            match self.highest.compare_exchange_weak(
                current,
                token,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// The newest token accepted (0 before any).
    #[must_use]
    pub fn highest(&self) -> u64 {
        self.highest.load(Ordering::Acquire)
    }
}

/// A value protected by a fence: writes carry a fencing token and are applied only if it is not older
/// than every token seen, atomically with the check.
///
/// The classic failure it prevents: client A's lease expires during a pause, B acquires (larger token)
/// and writes, A wakes and writes with its stale token. A's write is rejected instead of overwriting B's.
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_lock::{Error, FencedResource, LockManager};
///
/// let clock = ManualClock::new();
/// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
/// let file = FencedResource::new(String::new());
/// let ttl = Duration::from_secs(10);
///
/// let a = locks.try_acquire("file", "client-a", ttl).unwrap();
/// clock.advance(Duration::from_secs(15)); // A pauses; its lease expires
/// let b = locks.try_acquire("file", "client-b", ttl).unwrap();
/// file.write(b.token(), |f| f.push_str("B")).unwrap();
/// // A wakes up and writes with its old token: rejected.
/// assert!(matches!(file.write(a.token(), |f| f.push_str("A")), Err(Error::StaleToken { .. })));
/// assert_eq!(file.read(|f| f.clone()), "B");
/// ```
#[derive(Debug, Default)]
pub struct FencedResource<T> {
    inner: Mutex<(u64, T)>,
}

impl<T> FencedResource<T> {
    /// Protects `value`; no token seen yet.
    pub fn new(value: T) -> Self {
        FencedResource {
            inner: Mutex::new((0, value)),
        }
    }

    /// Applies `write` if `token` is not older than the newest token seen, and records it.
    ///
    /// # Errors
    /// [`Error::StaleToken`]; `write` is then not called.
    pub fn write<R>(&self, token: u64, write: impl FnOnce(&mut T) -> R) -> Result<R> {
        let mut guard = self.inner.lock();
        let (highest, value) = &mut *guard;
        if token < *highest {
            return Err(Error::StaleToken {
                token,
                highest: *highest,
            });
        }
        *highest = token;
        Ok(write(value))
    }

    /// Reads the value (reads need no token).
    pub fn read<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.inner.lock().1)
    }

    /// The newest token a write has carried (0 before any).
    #[must_use]
    pub fn highest_token(&self) -> u64 {
        self.inner.lock().0
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.inner.into_inner().1
    }
}
