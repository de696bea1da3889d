//! The lease table: grants, expiry, fair queues, shared/exclusive and hierarchical holds, and the
//! waits-for graph.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, Signal, SystemClock};
use hashbrown::{HashMap, HashSet};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::guard::LeaseGuard;
use crate::lease::{Hold, Lease, Mode, Owner};
use crate::name::Name;
use crate::stats::LockStats;

static NEXT_MANAGER_ID: AtomicU64 = AtomicU64::new(1);

/// Idle table entries (no holder, no waiter) are kept for reuse until the table reaches this size.
const SWEEP_MIN: usize = 1024;

/// Rounds of spinning (then yielding) a waiter does before it sleeps on its signal.
const SPIN_ROUNDS: u32 = 16;

/// One hold of one lease on one node: the lease's own resource, or an ancestor (intention hold).
struct Holder {
    owner: Owner,
    token: u64,
    deadline: Instant,
    hold: Hold,
}

/// One blocked request in one resource's queue. A multi-resource request has one `Waiter` (same id,
/// same signal) in the queue of every resource it asks for.
struct Waiter {
    id: u64,
    owner: Owner,
    hold: Hold,
    signal: Signal,
}

struct Entry {
    /// The name for errors and wait registrations.
    name: Arc<str>,
    /// The same name, cheap to copy into leases.
    short: Name,
    holders: Vec<Holder>,
    queue: VecDeque<Waiter>,
}

impl Entry {
    fn new(name: &str) -> Entry {
        Entry {
            name: Arc::from(name),
            short: Name::new(name),
            holders: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    fn is_idle(&self) -> bool {
        self.holders.is_empty() && self.queue.is_empty()
    }

    /// Drops holds whose deadline has passed, counting expired leases (not their intention holds).
    fn purge(&mut self, now: Instant, expiries: &mut u64) {
        if self.holders.iter().any(|h| h.deadline <= now) {
            self.holders.retain(|h| {
                let live = h.deadline > now;
                if !live && h.hold.is_primary() {
                    *expiries += 1;
                }
                live
            });
        }
    }

    fn blocking_holder(&self, hold: Hold) -> Option<&Holder> {
        self.holders.iter().find(|h| !h.hold.compatible(hold))
    }

    /// Whether a conflicting waiter is queued ahead of waiter `me` (of everybody when `me` is `None`).
    fn blocked_by_queue(&self, hold: Hold, me: Option<u64>) -> bool {
        for w in &self.queue {
            if Some(w.id) == me {
                return false;
            }
            if !w.hold.compatible(hold) {
                return true;
            }
        }
        false
    }

    /// Wakes the waiters at the front of the queue that could be served together.
    fn notify_front(&self) {
        for (i, w) in self.queue.iter().enumerate() {
            if self.queue.iter().take(i).all(|p| p.hold.compatible(w.hold)) {
                w.signal.notify_all();
            } else {
                break;
            }
        }
    }

    fn conflict_error(&self, hold: Hold) -> Error {
        match self.blocking_holder(hold) {
            Some(h) => Error::Held {
                resource: self.name.clone(),
                by: h.owner.clone(),
                until: h.deadline,
            },
            None => Error::Queued {
                resource: self.name.clone(),
                waiters: self.queue.len(),
            },
        }
    }
}

struct WaitReg {
    owner: Owner,
    items: Vec<(Arc<str>, Hold)>,
}

#[derive(Default)]
struct Counters {
    grants: u64,
    releases: u64,
    extends: u64,
    rejected: u64,
    contended: u64,
    timeouts: u64,
    expiries: u64,
    deadlocks: u64,
    refused: u64,
}

struct State {
    entries: HashMap<Arc<str>, Entry>,
    regs: HashMap<u64, WaitReg>,
    next_token: u64,
    next_waiter: u64,
    sweep_at: usize,
    c: Counters,
}

impl State {
    fn maybe_sweep(&mut self, now: Instant) {
        if self.entries.len() >= self.sweep_at {
            let expiries = &mut self.c.expiries;
            self.entries.retain(|_, e| {
                e.purge(now, expiries);
                !e.is_idle()
            });
            self.sweep_at = SWEEP_MIN.max(2 * self.entries.len());
        }
    }

    /// Removes waiter `id` from every queue it is in and wakes whoever is now at the front.
    fn leave(&mut self, id: u64) {
        if let Some(reg) = self.regs.remove(&id) {
            for (name, _) in &reg.items {
                if let Some(entry) = self.entries.get_mut(&**name) {
                    entry.queue.retain(|w| w.id != id);
                    entry.notify_front();
                }
            }
        }
    }

    /// The owners a request (queued as `id`, or not yet queued) would wait for.
    fn blockers<'a>(
        &self,
        items: impl Iterator<Item = (&'a str, Hold)>,
        id: Option<u64>,
        owner: &Owner,
        now: Instant,
        out: &mut Vec<Owner>,
    ) {
        for (name, hold) in items {
            let Some(entry) = self.entries.get(name) else {
                continue;
            };
            for h in &entry.holders {
                if h.deadline > now && !h.hold.compatible(hold) && !out.contains(&h.owner) {
                    out.push(h.owner.clone());
                }
            }
            for w in &entry.queue {
                if Some(w.id) == id {
                    break;
                }
                if w.owner != *owner && !w.hold.compatible(hold) && !out.contains(&w.owner) {
                    out.push(w.owner.clone());
                }
            }
        }
    }

    /// Whether `me` waiting for `items` would close a cycle in the waits-for graph; the cycle if so.
    fn find_cycle(
        &self,
        me: &Owner,
        id: Option<u64>,
        items: &[(&str, Hold, usize)],
        now: Instant,
    ) -> Option<Vec<Owner>> {
        let mut first = Vec::new();
        self.blockers(
            items.iter().map(|&(n, h, _)| (n, h)),
            id,
            me,
            now,
            &mut first,
        );
        let mut visited = HashSet::new();
        let mut path = Vec::new();
        for b in &first {
            if self.dfs(me, b, &mut path, &mut visited, now) {
                let mut cycle = vec![me.clone()];
                cycle.extend(path);
                return Some(cycle);
            }
        }
        None
    }

    fn dfs(
        &self,
        me: &Owner,
        node: &Owner,
        path: &mut Vec<Owner>,
        visited: &mut HashSet<Owner>,
        now: Instant,
    ) -> bool {
        if node == me {
            return true;
        }
        if !visited.insert(node.clone()) {
            return false;
        }
        path.push(node.clone());
        let mut next = Vec::new();
        for (id, reg) in self.regs.iter().filter(|(_, r)| r.owner == *node) {
            let items = reg.items.iter().map(|(n, h)| (&**n, *h));
            self.blockers(items, Some(*id), &reg.owner, now, &mut next);
        }
        for b in &next {
            if self.dfs(me, b, path, visited, now) {
                return true;
            }
        }
        path.pop();
        false
    }

    /// Removes (or re-dates) the intention holds lease `token` has on the ancestors of `resource`.
    fn ancestor_holds(
        &mut self,
        separator: Option<char>,
        resource: &str,
        token: u64,
        new_deadline: Option<Instant>,
    ) {
        let Some(sep) = separator else { return };
        for (pos, _) in resource.match_indices(sep) {
            let Some(entry) = self.entries.get_mut(&resource[..pos]) else {
                continue;
            };
            if let Some(i) = entry.holders.iter().position(|h| h.token == token) {
                match new_deadline {
                    Some(d) => entry.holders[i].deadline = d,
                    None => {
                        entry.holders.swap_remove(i);
                        if !entry.queue.is_empty() {
                            entry.notify_front();
                        }
                    }
                }
            }
        }
    }
}

struct Inner {
    id: u64,
    clock: SharedClock,
    separator: Option<char>,
    max_ttl: Option<Duration>,
    state: Mutex<State>,
}

/// Grants leases on named resources: the in-process equivalent of Redis `SET key value NX PX ttl`
/// locks, with fencing tokens, fair waiting, shared/exclusive modes, multi-resource and hierarchical
/// locking, and deadlock detection.
///
/// A `LockManager` is a cheap handle (`Clone` shares the same table) and is `Send + Sync`. Time comes
/// from the [`Clock`] it was built with, so expiry is tested with a
/// [`ManualClock`](ember_core::ManualClock).
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_lock::{Error, LockManager};
///
/// let clock = ManualClock::new();
/// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
/// let ttl = Duration::from_secs(10);
///
/// let a = locks.try_acquire("checkout/sku-1", "alice", ttl).unwrap();
/// assert!(matches!(locks.try_acquire("checkout/sku-1", "bob", ttl), Err(Error::Held { .. })));
///
/// // Alice never releases: after the TTL the resource is free again, with a larger token.
/// clock.advance(ttl);
/// let b = locks.try_acquire("checkout/sku-1", "bob", ttl).unwrap();
/// assert!(b.token() > a.token());
/// assert!(matches!(locks.release(&a), Err(Error::Expired { .. })));
/// locks.release(&b).unwrap();
/// ```
#[derive(Clone)]
pub struct LockManager {
    inner: Arc<Inner>,
}

/// Configures a [`LockManager`]; from [`LockManager::builder`].
#[must_use]
#[derive(Debug, Default)]
pub struct LockManagerBuilder {
    clock: Option<SharedClock>,
    separator: Option<char>,
    max_ttl: Option<Duration>,
}

impl LockManagerBuilder {
    /// The clock that judges deadlines and wait timeouts. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Like [`clock`](Self::clock), for a clock already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Treats resource names as paths split by `separator` (for example `'/'`): a lease on
    /// `event/42/seat/A7` takes intention holds on `event/42/seat`, `event/42` and `event`, so it
    /// conflicts with an exclusive lease on `event/42` (and a shared lease on `event/42` conflicts with
    /// exclusive leases below it), while leases on different seats do not conflict. Off by default:
    /// names are then opaque.
    pub fn hierarchical(mut self, separator: char) -> Self {
        self.separator = Some(separator);
        self
    }

    /// Refuses TTLs longer than `max`, so that a crashed holder never keeps a resource for long.
    pub fn max_ttl(mut self, max: Duration) -> Self {
        self.max_ttl = Some(max);
        self
    }

    /// Builds the manager.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_ttl` is zero.
    pub fn build(self) -> Result<LockManager> {
        if self.max_ttl == Some(Duration::ZERO) {
            return Err(Error::Config("max_ttl must be positive"));
        }
        Ok(LockManager {
            inner: Arc::new(Inner {
                id: NEXT_MANAGER_ID.fetch_add(1, Ordering::Relaxed),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                separator: self.separator,
                max_ttl: self.max_ttl,
                state: Mutex::new(State {
                    entries: HashMap::new(),
                    regs: HashMap::new(),
                    next_token: 1,
                    next_waiter: 1,
                    sweep_at: SWEEP_MIN,
                    c: Counters::default(),
                }),
            }),
        })
    }
}

impl Default for LockManager {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockManager")
            .field("id", &self.inner.id)
            .field("clock", &self.inner.clock)
            .field("separator", &self.inner.separator)
            .finish_non_exhaustive()
    }
}

/// Spins briefly before sleeping (as `parking_lot` does): a hand-off that comes within a few
/// microseconds then costs no futex sleep and wake-up. Returns whether the signal was notified.
fn spin_until_notified(signal: &Signal, seen: u64) -> bool {
    for round in 0..SPIN_ROUNDS {
        if signal.epoch() != seen {
            return true;
        }
        if round < 6 {
            for _ in 0..(4 << round) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    signal.epoch() != seen
}

fn first(leases: Vec<Lease>, resource: &str) -> Result<Lease> {
    leases.into_iter().next().ok_or_else(|| Error::InvalidName {
        name: resource.to_string(),
        reason: "no resource",
    })
}

fn blocked_resource(err: &Error) -> Arc<str> {
    match err {
        Error::Held { resource, .. } | Error::Queued { resource, .. } => resource.clone(),
        _ => Arc::from(""),
    }
}

impl LockManager {
    /// A builder: clock, hierarchical names, maximum TTL.
    pub fn builder() -> LockManagerBuilder {
        LockManagerBuilder::default()
    }

    /// A manager on the system clock with opaque (non-hierarchical) names.
    #[must_use]
    pub fn new() -> Self {
        // The default configuration is always valid.
        match Self::builder().build() {
            Ok(m) => m,
            Err(_) => unreachable!("default configuration is valid"),
        }
    }

    /// The clock this manager judges deadlines by.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    fn deadline(&self, now: Instant, ttl: Duration) -> Result<Instant> {
        if ttl.is_zero() {
            return Err(Error::InvalidTtl {
                ttl,
                reason: "must be positive",
            });
        }
        if self.inner.max_ttl.is_some_and(|m| ttl > m) {
            return Err(Error::InvalidTtl {
                ttl,
                reason: "above the manager's max_ttl",
            });
        }
        now.checked_add(ttl).ok_or(Error::InvalidTtl {
            ttl,
            reason: "too large",
        })
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidName {
                name: String::new(),
                reason: "empty",
            });
        }
        if let Some(sep) = self.inner.separator {
            if name.split(sep).any(str::is_empty) {
                return Err(Error::InvalidName {
                    name: name.to_string(),
                    reason: "empty path segment",
                });
            }
        }
        Ok(())
    }

    /// Takes an exclusive lease on `resource` for `ttl` if it can be granted now, without waiting.
    ///
    /// It is granted when no live lease conflicts and nobody is queued ahead (a non-blocking acquire
    /// never overtakes waiters). The lease's token is larger than every token granted before.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let lease = locks.try_acquire("cron/report", "node-1", Duration::from_secs(60)).unwrap();
    /// assert!(locks.try_acquire("cron/report", "node-2", Duration::from_secs(60)).is_err());
    /// locks.release(&lease).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Held`] (a live conflicting lease), [`Error::Queued`] (waiters first),
    /// [`Error::InvalidTtl`], [`Error::InvalidName`].
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
    ) -> Result<Lease> {
        self.try_one(resource, owner.into(), Mode::Exclusive, ttl, true)
    }

    /// Takes a shared (read) lease without waiting: granted alongside other shared leases, unless a
    /// writer holds the resource or is queued for it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let ttl = Duration::from_secs(5);
    /// let r1 = locks.try_acquire_shared("config", "reader-1", ttl).unwrap();
    /// let r2 = locks.try_acquire_shared("config", "reader-2", ttl).unwrap();
    /// assert!(locks.try_acquire("config", "writer", ttl).is_err());
    /// locks.release(&r1).unwrap();
    /// locks.release(&r2).unwrap();
    /// assert!(locks.try_acquire("config", "writer", ttl).is_ok());
    /// ```
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_shared(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
    ) -> Result<Lease> {
        self.try_one(resource, owner.into(), Mode::Shared, ttl, true)
    }

    /// Takes an exclusive lease, waiting up to `wait` in a fair FIFO queue.
    ///
    /// The waiter wakes when the holder releases, when the holder's lease expires on the manager's clock
    /// (also when a `ManualClock` is advanced past it), and at its own timeout. If waiting would close a
    /// cycle of owners waiting for each other it fails at once with [`Error::Deadlock`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let lease = locks.acquire("job/42", "worker", Duration::from_secs(30), Duration::from_secs(1)).unwrap();
    /// locks.release(&lease).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Deadlock`], [`Error::InvalidTtl`], [`Error::InvalidName`].
    pub fn acquire(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease> {
        self.acquire_mode(resource, owner.into(), Mode::Exclusive, ttl, wait)
    }

    /// Takes a shared lease, waiting up to `wait`. Readers queue behind a waiting writer, so a stream of
    /// readers cannot starve it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::{LockManager, Mode};
    ///
    /// let locks = LockManager::new();
    /// let ttl = Duration::from_secs(5);
    /// let a = locks.acquire_shared("catalog", "reader-a", ttl, Duration::ZERO).unwrap();
    /// let b = locks.acquire_shared("catalog", "reader-b", ttl, Duration::ZERO).unwrap();
    /// assert_eq!((a.mode(), b.mode()), (Mode::Shared, Mode::Shared));
    /// assert_eq!(locks.holders("catalog").len(), 2);
    /// ```
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_shared(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease> {
        self.acquire_mode(resource, owner.into(), Mode::Shared, ttl, wait)
    }

    /// Takes an exclusive lease on every resource in `resources` atomically, without waiting: all of
    /// them or none. Names are sorted and deduplicated (the canonical order); the leases come back in
    /// that order, each with its own token.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let ttl = Duration::from_secs(5);
    /// let held = locks.try_acquire("seat/B", "bob", ttl).unwrap();
    /// assert!(locks.try_acquire_all(&["seat/C", "seat/A", "seat/B"], "alice", ttl).is_err());
    /// // All or nothing: A and C were not taken.
    /// assert!(locks.holders("seat/A").is_empty());
    /// locks.release(&held).unwrap();
    /// let all = locks.try_acquire_all(&["seat/C", "seat/A", "seat/B"], "alice", ttl).unwrap();
    /// let names: Vec<&str> = all.iter().map(|l| l.resource()).collect();
    /// assert_eq!(names, ["seat/A", "seat/B", "seat/C"]);
    /// ```
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire), for the first resource that blocks.
    pub fn try_acquire_all(
        &self,
        resources: &[&str],
        owner: impl Into<Owner>,
        ttl: Duration,
    ) -> Result<Vec<Lease>> {
        let targets: Vec<(&str, Mode)> = resources.iter().map(|r| (*r, Mode::Exclusive)).collect();
        self.acquire_general(&targets, owner.into(), ttl, None)
    }

    /// Takes exclusive leases on all `resources` atomically, waiting up to `wait` until all of them can
    /// be granted together. The request waits in the queue of every resource at once, so two callers
    /// locking overlapping sets are served in arrival order and cannot deadlock each other.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let leases = locks
    ///     .acquire_all(&["account/1", "account/2"], "transfer-9", Duration::from_secs(5), Duration::from_secs(1))
    ///     .unwrap();
    /// locks.release_all(&leases).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_all(
        &self,
        resources: &[&str],
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Vec<Lease>> {
        let targets: Vec<(&str, Mode)> = resources.iter().map(|r| (*r, Mode::Exclusive)).collect();
        self.acquire_general(&targets, owner.into(), ttl, Some(wait))
    }

    /// Like [`acquire_all`](Self::acquire_all) with a mode per resource (a resource named twice gets the
    /// stronger mode). `wait: None` does not wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::{LockManager, Mode};
    ///
    /// let locks = LockManager::new();
    /// let ttl = Duration::from_secs(5);
    /// let leases = locks
    ///     .acquire_all_modes(&[("catalog", Mode::Shared), ("cart/7", Mode::Exclusive)], "checkout-7", ttl, None)
    ///     .unwrap();
    /// assert_eq!(leases[0].mode(), Mode::Exclusive); // "cart/7" sorts first
    /// assert_eq!(leases[1].mode(), Mode::Shared);
    /// ```
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire) (or [`try_acquire`](Self::try_acquire) when `wait` is `None`).
    pub fn acquire_all_modes(
        &self,
        resources: &[(&str, Mode)],
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Vec<Lease>> {
        self.acquire_general(resources, owner.into(), ttl, wait)
    }

    /// Like [`acquire`](Self::acquire), returning a [`LeaseGuard`] that releases the lease when dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// {
    ///     let guard = locks.lock("report", "me", Duration::from_secs(5), Duration::ZERO).unwrap();
    ///     assert!(guard.is_valid());
    /// }
    /// assert!(locks.holders("report").is_empty());
    /// ```
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn lock(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<LeaseGuard> {
        let lease = self.acquire(resource, owner, ttl, wait)?;
        Ok(LeaseGuard::new(self.clone(), lease))
    }

    fn try_one(
        &self,
        resource: &str,
        owner: Owner,
        mode: Mode,
        ttl: Duration,
        count_reject: bool,
    ) -> Result<Lease> {
        if self.inner.separator.is_some_and(|s| resource.contains(s)) {
            // Ancestors need intention holds: the general path (blocking callers never come here).
            return self
                .acquire_general(&[(resource, mode)], owner, ttl, None)
                .and_then(|v| first(v, resource));
        }
        self.check_name(resource)?;
        let now = self.inner.clock.now();
        let deadline = self.deadline(now, ttl)?;
        let hold = Hold::primary(mode);
        let mut guard = self.inner.state.lock();
        let st = &mut *guard;
        st.maybe_sweep(now);
        let entry = st
            .entries
            .entry_ref(resource)
            .or_insert_with(|| Entry::new(resource));
        entry.purge(now, &mut st.c.expiries);
        if entry.blocking_holder(hold).is_some() || entry.blocked_by_queue(hold, None) {
            if count_reject {
                st.c.rejected += 1;
            }
            return Err(entry.conflict_error(hold));
        }
        let token = st.next_token;
        st.next_token += 1;
        entry.holders.push(Holder {
            owner: owner.clone(),
            token,
            deadline,
            hold,
        });
        st.c.grants += 1;
        Ok(Lease {
            resource: entry.short.clone(),
            owner,
            token,
            deadline,
            mode,
            manager: self.inner.id,
        })
    }

    fn acquire_mode(
        &self,
        resource: &str,
        owner: Owner,
        mode: Mode,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lease> {
        if self.inner.separator.is_none() {
            match self.try_one(resource, owner.clone(), mode, ttl, false) {
                Err(Error::Held { .. } | Error::Queued { .. }) => {}
                done => return done,
            }
        }
        self.acquire_general(&[(resource, mode)], owner, ttl, Some(wait))
            .and_then(|v| first(v, resource))
    }

    /// The general path: any number of resources, hierarchical names, optional waiting.
    fn acquire_general(
        &self,
        targets: &[(&str, Mode)],
        owner: Owner,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Vec<Lease>> {
        let mut ts: Vec<(&str, Mode)> = Vec::with_capacity(targets.len());
        for &(name, mode) in targets {
            self.check_name(name)?;
            ts.push((name, mode));
        }
        ts.sort_by(|a, b| a.0.cmp(b.0));
        ts.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                kept.1 = kept.1.max(later.1);
                true
            } else {
                false
            }
        });
        if ts.is_empty() {
            return Ok(Vec::new());
        }
        let mut items: Vec<(&str, Hold, usize)> = Vec::new();
        for (i, &(name, mode)) in ts.iter().enumerate() {
            if let Some(sep) = self.inner.separator {
                for (pos, _) in name.match_indices(sep) {
                    items.push((&name[..pos], Hold::intention(mode), i));
                }
            }
            items.push((name, Hold::primary(mode), i));
        }
        let clock = &self.inner.clock;
        let start = clock.now();
        self.deadline(start, ttl)?;
        let timeout_at = wait.and_then(|w| start.checked_add(w));
        // Our place in the queues once we wait: waiter id and the signal we sleep on.
        let mut me: Option<(u64, Signal)> = None;
        loop {
            let seen = me.as_ref().map_or(0, |(_, s)| s.epoch());
            let now = clock.now();
            let mut guard = self.inner.state.lock();
            let st = &mut *guard;
            if me.is_none() {
                st.maybe_sweep(now);
            }
            let my_id = me.as_ref().map(|(id, _)| *id);
            let mut blocked: Option<Error> = None;
            let mut wake = timeout_at;
            for &(name, hold, _) in &items {
                let entry = st
                    .entries
                    .entry_ref(name)
                    .or_insert_with(|| Entry::new(name));
                entry.purge(now, &mut st.c.expiries);
                let mut held = false;
                for h in entry.holders.iter().filter(|h| !h.hold.compatible(hold)) {
                    held = true;
                    wake = Some(wake.map_or(h.deadline, |w| w.min(h.deadline)));
                }
                if blocked.is_none() && (held || entry.blocked_by_queue(hold, my_id)) {
                    blocked = Some(entry.conflict_error(hold));
                }
            }
            let Some(err) = blocked else {
                let Some(deadline) = now.checked_add(ttl) else {
                    if let Some(id) = my_id {
                        st.leave(id);
                    }
                    return Err(Error::InvalidTtl {
                        ttl,
                        reason: "too large",
                    });
                };
                let first_token = st.next_token;
                st.next_token += ts.len() as u64;
                let mut names: Vec<Option<Name>> = vec![None; ts.len()];
                for &(name, hold, i) in &items {
                    if let Some(entry) = st.entries.get_mut(name) {
                        entry.holders.push(Holder {
                            owner: owner.clone(),
                            token: first_token + i as u64,
                            deadline,
                            hold,
                        });
                        if hold.is_primary() {
                            names[i] = Some(entry.short.clone());
                        }
                    }
                }
                if let Some(id) = my_id {
                    st.leave(id);
                }
                st.c.grants += ts.len() as u64;
                let leases = ts
                    .iter()
                    .zip(names)
                    .enumerate()
                    .map(|(i, (&(name, mode), arc))| Lease {
                        resource: arc.unwrap_or_else(|| Name::new(name)),
                        owner: owner.clone(),
                        token: first_token + i as u64,
                        deadline,
                        mode,
                        manager: self.inner.id,
                    })
                    .collect();
                return Ok(leases);
            };
            let Some(waited) = wait else {
                st.c.rejected += 1;
                return Err(err);
            };
            if let Some(cycle) = st.find_cycle(&owner, my_id, &items, now) {
                if let Some(id) = my_id {
                    st.leave(id);
                }
                st.c.deadlocks += 1;
                return Err(Error::Deadlock { cycle });
            }
            if timeout_at.is_some_and(|t| now >= t) {
                if let Some(id) = my_id {
                    st.leave(id);
                }
                st.c.timeouts += 1;
                return Err(Error::Timeout {
                    resource: blocked_resource(&err),
                    waited,
                });
            }
            if me.is_none() {
                let id = st.next_waiter;
                st.next_waiter += 1;
                let signal = Signal::new();
                let mut reg_items = Vec::with_capacity(items.len());
                for &(name, hold, _) in &items {
                    if let Some(entry) = st.entries.get_mut(name) {
                        entry.queue.push_back(Waiter {
                            id,
                            owner: owner.clone(),
                            hold,
                            signal: signal.clone(),
                        });
                        reg_items.push((entry.name.clone(), hold));
                    }
                }
                st.regs.insert(
                    id,
                    WaitReg {
                        owner: owner.clone(),
                        items: reg_items,
                    },
                );
                st.c.contended += 1;
                me = Some((id, signal));
            }
            drop(guard);
            if let Some((_, signal)) = &me {
                if !spin_until_notified(signal, seen) {
                    signal.wait(&**clock, seen, wake);
                }
            }
        }
    }

    /// Releases a lease. Only the holder's own, live lease is released: the token, owner and manager
    /// must match, and a lease past its deadline is refused even if nobody has taken the resource since.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::{Error, LockManager};
    ///
    /// let locks = LockManager::new();
    /// let lease = locks.try_acquire("r", "me", Duration::from_secs(5)).unwrap();
    /// locks.release(&lease).unwrap();
    /// assert!(matches!(locks.release(&lease), Err(Error::NotHeld { .. })));
    /// ```
    ///
    /// # Errors
    /// [`Error::Expired`] when the lease passed its deadline, [`Error::NotHeld`] when it was already
    /// released or is not this manager's.
    pub fn release(&self, lease: &Lease) -> Result<()> {
        if lease.manager != self.inner.id {
            return Err(self.refuse_foreign(lease));
        }
        self.release_token(
            lease.resource.as_str(),
            &lease.owner,
            lease.token,
            Some(lease.deadline),
        )
    }

    /// Releases several leases (for example those of [`acquire_all`](Self::acquire_all)). Every lease
    /// is attempted; the first error is returned.
    ///
    /// # Errors
    /// As [`release`](Self::release).
    pub fn release_all(&self, leases: &[Lease]) -> Result<()> {
        let mut outcome = Ok(());
        for lease in leases {
            if let Err(e) = self.release(lease) {
                if outcome.is_ok() {
                    outcome = Err(e);
                }
            }
        }
        outcome
    }

    fn refuse_foreign(&self, lease: &Lease) -> Error {
        self.inner.state.lock().c.refused += 1;
        Error::NotHeld {
            resource: lease.resource.to_arc(),
            token: lease.token,
        }
    }

    pub(crate) fn release_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        lease_deadline: Option<Instant>,
    ) -> Result<()> {
        let now = self.inner.clock.now();
        let mut guard = self.inner.state.lock();
        let st = &mut *guard;
        let found = st.entries.get_mut(resource).and_then(|entry| {
            let pos = entry
                .holders
                .iter()
                .position(|h| h.token == token && h.hold.is_primary() && h.owner == *owner)?;
            let h = entry.holders.swap_remove(pos);
            if !entry.queue.is_empty() {
                entry.notify_front();
            }
            Some(h.deadline)
        });
        let Some(deadline) = found else {
            st.c.refused += 1;
            let resource = Arc::from(resource);
            return Err(match lease_deadline {
                Some(deadline) if deadline <= now => Error::Expired {
                    resource,
                    token,
                    deadline,
                },
                _ => Error::NotHeld { resource, token },
            });
        };
        st.ancestor_holds(self.inner.separator, resource, token, None);
        let outcome = if deadline <= now {
            st.c.expiries += 1;
            st.c.refused += 1;
            Err(Error::Expired {
                resource: Arc::from(resource),
                token,
                deadline,
            })
        } else {
            st.c.releases += 1;
            Ok(())
        };
        st.maybe_sweep(now);
        outcome
    }

    /// Renews a live lease: its deadline becomes now + `ttl` (it may also shorten it). Returns the
    /// renewed lease; the token stays the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::ManualClock;
    /// use ember_lock::{Error, LockManager};
    ///
    /// let clock = ManualClock::new();
    /// let locks = LockManager::builder().clock(clock.clone()).build().unwrap();
    /// let ttl = Duration::from_secs(10);
    /// let lease = locks.try_acquire("r", "me", ttl).unwrap();
    /// clock.advance(Duration::from_secs(8));
    /// let lease = locks.extend(&lease, ttl).unwrap();
    /// clock.advance(Duration::from_secs(8)); // 16 s after the grant, still held
    /// assert!(locks.is_valid(&lease));
    /// clock.advance(Duration::from_secs(2));
    /// assert!(matches!(locks.extend(&lease, ttl), Err(Error::Expired { .. })));
    /// ```
    ///
    /// # Errors
    /// [`Error::Expired`], [`Error::NotHeld`], [`Error::InvalidTtl`].
    pub fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        if lease.manager != self.inner.id {
            return Err(self.refuse_foreign(lease));
        }
        let deadline = self.extend_token(
            lease.resource.as_str(),
            &lease.owner,
            lease.token,
            ttl,
            Some(lease.deadline),
        )?;
        Ok(Lease {
            deadline,
            ..lease.clone()
        })
    }

    pub(crate) fn extend_token(
        &self,
        resource: &str,
        owner: &Owner,
        token: u64,
        ttl: Duration,
        lease_deadline: Option<Instant>,
    ) -> Result<Instant> {
        let now = self.inner.clock.now();
        let new_deadline = self.deadline(now, ttl)?;
        let mut guard = self.inner.state.lock();
        let st = &mut *guard;
        let found = st.entries.get_mut(resource).and_then(|entry| {
            let pos = entry
                .holders
                .iter()
                .position(|h| h.token == token && h.hold.is_primary() && h.owner == *owner)?;
            let h = &mut entry.holders[pos];
            let old = h.deadline;
            if old <= now {
                entry.holders.swap_remove(pos);
            } else {
                h.deadline = new_deadline;
                if new_deadline < old && !entry.queue.is_empty() {
                    entry.notify_front();
                }
            }
            Some((entry.name.clone(), old))
        });
        let Some((name, old)) = found else {
            st.c.refused += 1;
            let resource = Arc::from(resource);
            return Err(match lease_deadline {
                Some(deadline) if deadline <= now => Error::Expired {
                    resource,
                    token,
                    deadline,
                },
                _ => Error::NotHeld { resource, token },
            });
        };
        if old <= now {
            st.ancestor_holds(self.inner.separator, resource, token, None);
            st.c.expiries += 1;
            st.c.refused += 1;
            return Err(Error::Expired {
                resource: name,
                token,
                deadline: old,
            });
        }
        st.ancestor_holds(self.inner.separator, resource, token, Some(new_deadline));
        st.c.extends += 1;
        Ok(new_deadline)
    }

    /// Whether `lease` is still held: granted by this manager, not released, not expired.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_lock::LockManager;
    ///
    /// let locks = LockManager::new();
    /// let lease = locks.try_acquire("r", "me", Duration::from_secs(5)).unwrap();
    /// assert!(locks.is_valid(&lease));
    /// locks.release(&lease).unwrap();
    /// assert!(!locks.is_valid(&lease));
    /// ```
    #[must_use]
    pub fn is_valid(&self, lease: &Lease) -> bool {
        if lease.manager != self.inner.id {
            return false;
        }
        let now = self.inner.clock.now();
        let st = self.inner.state.lock();
        st.entries.get(lease.resource.as_str()).is_some_and(|e| {
            e.holders.iter().any(|h| {
                h.token == lease.token
                    && h.hold.is_primary()
                    && h.owner == lease.owner
                    && h.deadline > now
            })
        })
    }

    /// The live leases on exactly `resource` (not its descendants), oldest grant first.
    ///
    /// These are the holders' credentials (an administrator can release or extend them, like
    /// `redis-cli DEL` on a stuck lock); hand them out with care.
    ///
    /// # Examples
    /// See [`try_acquire_all`](Self::try_acquire_all).
    #[must_use]
    pub fn holders(&self, resource: &str) -> Vec<Lease> {
        let now = self.inner.clock.now();
        let st = self.inner.state.lock();
        let mut out: Vec<Lease> = st
            .entries
            .get(resource)
            .map(|e| {
                e.holders
                    .iter()
                    .filter(|h| h.hold.is_primary() && h.deadline > now)
                    .map(|h| Lease {
                        resource: e.short.clone(),
                        owner: h.owner.clone(),
                        token: h.token,
                        deadline: h.deadline,
                        mode: h.hold.mode(),
                        manager: self.inner.id,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|l| l.token);
        out
    }

    /// How many acquires are waiting for `resource` now.
    #[must_use]
    pub fn queue_len(&self, resource: &str) -> usize {
        let st = self.inner.state.lock();
        st.entries.get(resource).map_or(0, |e| {
            let mut ids: Vec<u64> = e.queue.iter().map(|w| w.id).collect();
            ids.dedup();
            ids.len()
        })
    }

    /// A snapshot of the counters and gauges (sweeping expired leases first, so `expiries` and
    /// `holders` are current).
    ///
    /// # Examples
    /// See [`LockStats`].
    #[must_use]
    pub fn stats(&self) -> LockStats {
        let now = self.inner.clock.now();
        let mut guard = self.inner.state.lock();
        let st = &mut *guard;
        let mut holders = 0;
        for entry in st.entries.values_mut() {
            entry.purge(now, &mut st.c.expiries);
            holders += entry.holders.iter().filter(|h| h.hold.is_primary()).count() as u64;
        }
        LockStats {
            grants: st.c.grants,
            releases: st.c.releases,
            extends: st.c.extends,
            rejected: st.c.rejected,
            contended_waits: st.c.contended,
            timeouts: st.c.timeouts,
            expiries: st.c.expiries,
            deadlocks: st.c.deadlocks,
            refused: st.c.refused,
            holders,
            waiters: st.regs.len() as u64,
            resources: st.entries.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_matrix() {
        use Hold::*;
        let all = [IntentShared, IntentExclusive, Shared, Exclusive];
        let expected = [
            [true, true, true, false],
            [true, true, false, false],
            [true, false, true, false],
            [false, false, false, false],
        ];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                assert_eq!(a.compatible(*b), expected[i][j], "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn idle_entries_are_swept() {
        let locks = LockManager::new();
        let ttl = Duration::from_secs(60);
        for i in 0..3 * SWEEP_MIN {
            let lease = locks.try_acquire(&format!("r{i}"), "me", ttl).unwrap();
            locks.release(&lease).unwrap();
        }
        assert!(locks.stats().resources <= 2 * SWEEP_MIN as u64);
    }
}
