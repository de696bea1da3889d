//! The one error type of ember-lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::lease::Owner;

/// Everything that can go wrong when taking, renewing or releasing a lease, checking a fencing token,
/// or running Redlock over several backends.
///
/// Errors carry what a caller needs to decide what to do next: who holds the resource and until when,
/// which owners form a deadlock cycle, how many backends answered.
///
/// ```
/// use std::time::Duration;
/// use ember_lock::{Error, LockManager};
///
/// let locks = LockManager::new();
/// let _lease = locks.try_acquire("cron/nightly", "worker-1", Duration::from_secs(30)).unwrap();
/// match locks.try_acquire("cron/nightly", "worker-2", Duration::from_secs(30)) {
///     Err(Error::Held { by, .. }) => assert_eq!(by.as_str(), "worker-1"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource (or an ancestor / descendant in a hierarchical name) is held by a lease that
    /// conflicts with the request.
    #[error("{resource} is held by {by}")]
    Held {
        /// The resource whose holder blocks the request.
        resource: Arc<str>,
        /// The owner of the blocking lease.
        by: Owner,
        /// When that lease expires unless renewed.
        until: Instant,
    },
    /// No lease conflicts, but earlier waiters whose requests conflict are queued first (fair FIFO
    /// order: a non-blocking acquire never jumps the queue).
    #[error("{resource} has {waiters} earlier waiter(s) in line")]
    Queued {
        /// The resource with the queue.
        resource: Arc<str>,
        /// How many waiters are queued on it.
        waiters: usize,
    },
    /// A blocking acquire gave up when its wait timeout passed.
    #[error("timed out after {waited:?} waiting for {resource}")]
    Timeout {
        /// The (first) resource that was still unavailable.
        resource: Arc<str>,
        /// The wait timeout that passed.
        waited: Duration,
    },
    /// Waiting would close a cycle in the waits-for graph: `cycle[0]` (the caller) would wait for
    /// `cycle[1]`, which waits for `cycle[2]`, …, which waits for `cycle[0]`.
    #[error("deadlock: {}", display_cycle(cycle))]
    Deadlock {
        /// The owners in the cycle, starting with the caller.
        cycle: Vec<Owner>,
    },
    /// The lease passed its deadline before it was released or extended; the resource may already
    /// belong to someone else.
    #[error("lease {token} on {resource} has expired")]
    Expired {
        /// The lease's resource.
        resource: Arc<str>,
        /// The lease's fencing token.
        token: u64,
        /// When it expired.
        deadline: Instant,
    },
    /// The lease is not (or no longer) held: it was released already, or it was never granted to this
    /// owner by this manager.
    #[error("lease {token} on {resource} is not held")]
    NotHeld {
        /// The lease's resource.
        resource: Arc<str>,
        /// The lease's fencing token.
        token: u64,
    },
    /// A [`Fence`](crate::Fence) rejected a write carrying a token older than one it has already seen.
    #[error("stale fencing token {token}: a write with token {highest} was already accepted")]
    StaleToken {
        /// The rejected token.
        token: u64,
        /// The newest token the fence has accepted.
        highest: u64,
    },
    /// A TTL of zero, above the manager's `max_ttl`, or too large to add to the clock.
    #[error("invalid ttl {ttl:?}: {reason}")]
    InvalidTtl {
        /// The rejected TTL.
        ttl: Duration,
        /// Why.
        reason: &'static str,
    },
    /// An empty resource name, or (with hierarchical names) an empty path segment.
    #[error("invalid resource name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A builder was given an inconsistent configuration.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A lock backend did not answer (down, or an injected fault).
    #[error("lock backend {backend} unavailable")]
    Unavailable {
        /// The backend's name.
        backend: String,
    },
    /// Redlock: fewer than a majority of the backends granted the lease. Every backend that did grant
    /// it has been released again.
    #[error("redlock on {resource}: {acquired} of {needed} needed backends granted")]
    NoQuorum {
        /// The resource.
        resource: Arc<str>,
        /// How many backends granted.
        acquired: usize,
        /// The majority needed.
        needed: usize,
    },
    /// Redlock: a majority granted, but acquiring took so long that no validity time was left after
    /// subtracting the elapsed time and the clock-drift allowance. Every grant has been released.
    #[error("redlock on {resource}: took {elapsed:?} of a {ttl:?} ttl, no validity left")]
    ValidityExpired {
        /// The resource.
        resource: Arc<str>,
        /// Time spent acquiring.
        elapsed: Duration,
        /// The requested TTL.
        ttl: Duration,
    },
}

fn display_cycle(cycle: &[Owner]) -> String {
    let mut out = String::new();
    for owner in cycle {
        out.push_str(owner.as_str());
        out.push_str(" -> ");
    }
    if let Some(first) = cycle.first() {
        out.push_str(first.as_str());
    }
    out
}

/// `Result` with ember-lock's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
