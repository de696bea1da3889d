//! The `stats()` snapshot of a [`LockManager`](crate::LockManager).

use std::fmt;

use ember_core::stats::{Snapshot, write_fields};

/// Counters and gauges of a [`LockManager`](crate::LockManager), read by
/// [`stats`](crate::LockManager::stats).
///
/// Counters only grow; `holders`, `waiters` and `resources` are gauges read at snapshot time (expired
/// leases are swept, and counted in `expiries`, when the snapshot is taken).
///
/// ```
/// use std::time::Duration;
/// use ember_lock::LockManager;
///
/// let locks = LockManager::new();
/// let lease = locks.try_acquire("r", "a", Duration::from_secs(10)).unwrap();
/// assert!(locks.try_acquire("r", "b", Duration::from_secs(10)).is_err());
/// let s = locks.stats();
/// assert_eq!((s.grants, s.rejected, s.holders), (1, 1, 1));
/// locks.release(&lease).unwrap();
/// assert_eq!(locks.stats().holders, 0);
/// println!("{s}"); // grants=1 releases=0 ...
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct LockStats {
    /// Leases granted (each resource of an `acquire_all` counts once).
    pub grants: u64,
    /// Leases released by their holder.
    pub releases: u64,
    /// Successful extensions (renewals).
    pub extends: u64,
    /// Non-blocking acquires refused because the resource was held or queued.
    pub rejected: u64,
    /// Acquires that had to wait in a queue.
    pub contended_waits: u64,
    /// Blocking acquires that gave up at their wait timeout.
    pub timeouts: u64,
    /// Leases that died by passing their deadline.
    pub expiries: u64,
    /// Waits refused because they would have closed a deadlock cycle.
    pub deadlocks: u64,
    /// Release or extend calls refused (expired, foreign or already released lease).
    pub refused: u64,
    /// Gauge: live leases now.
    pub holders: u64,
    /// Gauge: acquires waiting now.
    pub waiters: u64,
    /// Gauge: resources the table tracks now (held, queued or cached idle).
    pub resources: u64,
}

impl fmt::Display for LockStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("grants", &self.grants),
                ("releases", &self.releases),
                ("extends", &self.extends),
                ("rejected", &self.rejected),
                ("contended_waits", &self.contended_waits),
                ("timeouts", &self.timeouts),
                ("expiries", &self.expiries),
                ("deadlocks", &self.deadlocks),
                ("refused", &self.refused),
                ("holders", &self.holders),
                ("waiters", &self.waiters),
                ("resources", &self.resources),
            ],
        )
    }
}

impl Snapshot for LockStats {}
