//! Owners, modes and the leases a [`LockManager`](crate::LockManager) grants.

use std::borrow::Borrow;
use std::fmt;
use std::time::{Duration, Instant};

use ember_core::Clock;

use crate::name::Name;

/// Who holds or wants a lease: a cheap-to-clone name.
///
/// An owner is one thread of control (a client, a worker, a request). Locks are **not reentrant**:
/// an owner that holds a resource and asks for it again in a conflicting mode waits for itself, which
/// the deadlock detector reports at once. Give each concurrent worker its own owner name.
///
/// Build one once and pass `&owner` to avoid an allocation per call:
///
/// ```
/// use ember_lock::Owner;
/// let me = Owner::new("worker-7");
/// let again: Owner = (&me).into();
/// assert_eq!(again, me);
/// assert_eq!(me.to_string(), "worker-7");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(Name);

impl Owner {
    /// An owner with this name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Owner(Name::new(name.as_ref()))
    }

    /// The owner's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for Owner {
    fn from(s: &str) -> Self {
        Owner::new(s)
    }
}

impl From<String> for Owner {
    fn from(s: String) -> Self {
        Owner(Name::new(&s))
    }
}

impl From<&String> for Owner {
    fn from(s: &String) -> Self {
        Owner::new(s)
    }
}

impl From<&Owner> for Owner {
    fn from(o: &Owner) -> Self {
        o.clone()
    }
}

impl Borrow<str> for Owner {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

/// How a resource is held.
///
/// Many [`Shared`](Mode::Shared) leases (readers) may hold a resource together; an
/// [`Exclusive`](Mode::Exclusive) lease (a writer) holds it alone. Waiters are served in arrival
/// order, so a writer that is waiting is not overtaken by readers arriving after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Mode {
    /// Read lease: compatible with other shared leases.
    Shared,
    /// Write lease: compatible with nothing.
    Exclusive,
}

/// How a lease occupies one node of the resource tree. Hierarchical names take intention holds on
/// every ancestor (`IS` for a shared lease, `IX` for an exclusive one), as databases do, so that a
/// lease on `event/42` conflicts with leases on `event/42/seat/A7` and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    IntentShared,
    IntentExclusive,
    Shared,
    Exclusive,
}

impl Hold {
    pub(crate) fn primary(mode: Mode) -> Hold {
        match mode {
            Mode::Shared => Hold::Shared,
            Mode::Exclusive => Hold::Exclusive,
        }
    }

    pub(crate) fn intention(mode: Mode) -> Hold {
        match mode {
            Mode::Shared => Hold::IntentShared,
            Mode::Exclusive => Hold::IntentExclusive,
        }
    }

    pub(crate) fn is_primary(self) -> bool {
        matches!(self, Hold::Shared | Hold::Exclusive)
    }

    pub(crate) fn mode(self) -> Mode {
        match self {
            Hold::Shared | Hold::IntentShared => Mode::Shared,
            Hold::Exclusive | Hold::IntentExclusive => Mode::Exclusive,
        }
    }

    /// The classic multi-granularity compatibility matrix.
    pub(crate) fn compatible(self, other: Hold) -> bool {
        use Hold::*;
        match (self, other) {
            (Exclusive, _) | (_, Exclusive) => false,
            (IntentShared, _) | (_, IntentShared) => true,
            (IntentExclusive, IntentExclusive) | (Shared, Shared) => true,
            (IntentExclusive, Shared) | (Shared, IntentExclusive) => false,
        }
    }
}

/// A granted lease: the right to act on `resource` until `deadline`, proven by `token`.
///
/// - The **token** is a fencing token: every grant by a manager carries a token strictly greater than
///   every token it granted before, so the resource being protected can reject a write from a holder
///   whose lease has since expired and been granted to someone else (see [`Fence`](crate::Fence)).
/// - The **deadline** is judged by the manager's clock. After it the lease is dead even if nobody
///   released it; [`release`](crate::LockManager::release) and
///   [`extend`](crate::LockManager::extend) then fail with [`Error::Expired`](crate::Error::Expired).
///
/// A `Lease` is a plain value: dropping it does not release anything (use
/// [`LeaseGuard`](crate::LeaseGuard) for that).
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_lock::{LockManager, Mode};
///
/// let clock = ManualClock::new();
/// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
/// let lease = locks.try_acquire("auction/17", "bidder-a", Duration::from_secs(5)).unwrap();
/// assert_eq!(lease.resource(), "auction/17");
/// assert_eq!(lease.owner().as_str(), "bidder-a");
/// assert_eq!(lease.mode(), Mode::Exclusive);
/// assert_eq!(lease.remaining(&clock), Duration::from_secs(5));
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(lease.remaining(&clock), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a lease should be released (or kept alive) by its holder"]
pub struct Lease {
    pub(crate) resource: Name,
    pub(crate) owner: Owner,
    pub(crate) token: u64,
    pub(crate) deadline: Instant,
    pub(crate) mode: Mode,
    pub(crate) manager: u64,
}

impl Lease {
    /// The resource this lease is on.
    #[must_use]
    pub fn resource(&self) -> &str {
        self.resource.as_str()
    }

    /// Who holds it.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The fencing token: strictly greater than that of every earlier grant by the same manager.
    #[must_use]
    pub fn token(&self) -> u64 {
        self.token
    }

    /// When the lease expires unless extended, on the manager's clock.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Shared or exclusive.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Time left before the deadline on `clock` (zero once expired).
    #[must_use]
    pub fn remaining(&self, clock: &dyn Clock) -> Duration {
        self.deadline.saturating_duration_since(clock.now())
    }

    /// Whether the deadline has passed on `clock`. A lease that has not expired may still have been
    /// released; [`LockManager::is_valid`](crate::LockManager::is_valid) asks the manager.
    #[must_use]
    pub fn is_expired(&self, clock: &dyn Clock) -> bool {
        clock.now() >= self.deadline
    }
}
