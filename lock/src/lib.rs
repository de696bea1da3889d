//! # ember-lock
//!
//! Lease locks for one process, with the semantics people reach for Redis `SET key value NX PX ttl`
//! and Redlock to get — concert tickets, the checkout of a hot item, matching one driver to one rider,
//! the cron job that must run once, the last second of an auction — built to survive the well-known
//! critiques of those locks: every grant carries a **fencing token**, and the protected resource can
//! reject writes from a holder whose lease has expired.
//!
//! ```
//! use std::time::Duration;
//! use ember_core::ManualClock;
//! use ember_lock::{Error, FencedResource, LockManager};
//!
//! let clock = ManualClock::new();
//! let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
//! let seat = FencedResource::new(None::<&str>);
//! let ttl = Duration::from_secs(30);
//!
//! // Alice holds seat A7 and pays…
//! let alice = locks.try_acquire("event/42/seat/A7", "alice", ttl).unwrap();
//! assert!(matches!(locks.try_acquire("event/42/seat/A7", "bob", ttl), Err(Error::Held { .. })));
//! // …but stalls for longer than her hold: it expires and Bob gets the seat, with a larger token.
//! clock.advance(Duration::from_secs(31));
//! let bob = locks.try_acquire("event/42/seat/A7", "bob", ttl).unwrap();
//! assert!(bob.token() > alice.token());
//! seat.write(bob.token(), |s| *s = Some("bob")).unwrap();
//! // Alice's late write is fenced off, and her release is refused.
//! assert!(seat.write(alice.token(), |s| *s = Some("alice")).is_err());
//! assert!(matches!(locks.release(&alice), Err(Error::Expired { .. })));
//! assert_eq!(seat.read(|s| *s), Some("bob"));
//! locks.release(&bob).unwrap();
//! ```
//!
//! ## What you get
//! - [`LockManager`]: leases ([`Lease`] = resource, owner, token, deadline) from
//!   [`try_acquire`](LockManager::try_acquire) and [`acquire`](LockManager::acquire) (with a wait
//!   timeout), [`release`](LockManager::release) and [`extend`](LockManager::extend) by the holder only,
//!   [`stats`](LockManager::stats).
//! - **Expiry** on the manager's [`Clock`](ember_core::Clock): a lease past its deadline is dead and the
//!   resource is free, with nobody calling release. Tests drive it with a
//!   [`ManualClock`](ember_core::ManualClock).
//! - **Fencing tokens**: strictly increasing with every grant; [`Fence`] and [`FencedResource`] reject
//!   stale ones.
//! - **Renewal**: [`KeepAlive`] renews when polled, or from a thread you opt into.
//! - **Fair waiting**: blocked acquirers are served in FIFO order and wake on release, on the holder's
//!   expiry and on their own timeout.
//! - **Shared and exclusive** leases; a waiting writer is not starved by later readers.
//! - **Several resources at once**: [`acquire_all`](LockManager::acquire_all) is all-or-nothing in a
//!   canonical order; with [`hierarchical`](LockManagerBuilder::hierarchical) names a lease on
//!   `event/42` conflicts with leases on `event/42/seat/*` (intention holds, as in databases).
//! - **Deadlock detection**: a wait that would close a cycle in the waits-for graph fails at once with
//!   [`Error::Deadlock`].
//! - **Redlock**: [`LockBackend`] (implemented by `LockManager`, the seam for a Redis client) and
//!   [`Redlock`] over N backends; [`FaultyBackend`] injects faults for tests.
//!
//! ## Semantics worth knowing
//! - Time is the manager's clock; a deadline is an [`Instant`](std::time::Instant) on it. A lease
//!   whose deadline has passed is expired even if no one has taken the resource since: releasing or
//!   extending it is an error ([`Error::Expired`]), never a silent success.
//! - Locks are not reentrant. An owner is one thread of control: an owner that asks again for a
//!   resource it holds in a conflicting mode would wait for itself and gets [`Error::Deadlock`].
//! - A non-blocking acquire never overtakes waiters ([`Error::Queued`]).
//! - Tokens come from one counter per manager, so they are comparable across resources too.
//! - A lease does not protect anything by itself once its holder may have paused past the deadline:
//!   pass the token to the resource and let it check ([`Fence`]).
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod backend;
mod error;
mod fence;
mod guard;
mod keepalive;
mod lease;
mod manager;
mod name;
mod redlock;
mod stats;

pub use backend::{FaultyBackend, LockBackend};
pub use error::{Error, Result};
pub use fence::{Fence, FencedResource};
pub use guard::LeaseGuard;
pub use keepalive::{KeepAlive, KeepAliveHandle};
pub use lease::{Lease, Mode, Owner};
pub use manager::{LockManager, LockManagerBuilder};
pub use redlock::{Redlock, RedlockBuilder, RedlockLease};
pub use stats::LockStats;
