//! [`LeaseGuard`]: a lease released when dropped.

use std::time::Duration;

use crate::error::Result;
use crate::lease::Lease;
use crate::manager::LockManager;

/// A lease that is released when the guard is dropped (errors on drop, such as an already expired
/// lease, are ignored: call [`release`](LeaseGuard::release) to see them). From
/// [`LockManager::lock`].
///
/// Holding a guard does not mean the lease is still valid: a lease expires at its deadline whether or
/// not a guard exists. Re-check with [`is_valid`](LeaseGuard::is_valid), renew with
/// [`extend`](LeaseGuard::extend), and pass [`token`](LeaseGuard::token) to the protected resource.
///
/// ```
/// use std::time::Duration;
/// use ember_lock::LockManager;
///
/// let locks = LockManager::new();
/// let mut guard = locks.lock("invoice/9", "billing", Duration::from_secs(5), Duration::ZERO).unwrap();
/// guard.extend(Duration::from_secs(10)).unwrap();
/// assert!(guard.is_valid());
/// guard.release().unwrap();
/// assert!(locks.holders("invoice/9").is_empty());
/// ```
#[must_use = "dropping the guard releases the lease at once"]
#[derive(Debug)]
pub struct LeaseGuard {
    manager: LockManager,
    lease: Option<Lease>,
}

impl LeaseGuard {
    /// Wraps `lease`, which `manager` granted.
    pub fn new(manager: LockManager, lease: Lease) -> Self {
        LeaseGuard {
            manager,
            lease: Some(lease),
        }
    }

    /// The lease.
    ///
    /// # Panics
    /// Never: the lease is only taken out by consuming methods.
    pub fn lease(&self) -> &Lease {
        match &self.lease {
            Some(lease) => lease,
            None => unreachable!("lease taken out by a consuming method"),
        }
    }

    /// The fencing token to attach to writes.
    #[must_use]
    pub fn token(&self) -> u64 {
        self.lease().token()
    }

    /// Whether the lease is still held (not expired, not released).
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.manager.is_valid(self.lease())
    }

    /// Renews the lease for `ttl` from now.
    ///
    /// # Errors
    /// As [`LockManager::extend`].
    pub fn extend(&mut self, ttl: Duration) -> Result<()> {
        let renewed = self.manager.extend(self.lease(), ttl)?;
        self.lease = Some(renewed);
        Ok(())
    }

    /// Releases the lease now and reports the outcome.
    ///
    /// # Errors
    /// As [`LockManager::release`].
    pub fn release(mut self) -> Result<()> {
        match self.lease.take() {
            Some(lease) => self.manager.release(&lease),
            None => Ok(()),
        }
    }

    /// Gives up the guard without releasing: the lease lives until released or expired.
    pub fn into_lease(mut self) -> Lease {
        match self.lease.take() {
            Some(lease) => lease,
            None => unreachable!("lease taken out by a consuming method"),
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let _ = self.manager.release(&lease);
        }
    }
}
