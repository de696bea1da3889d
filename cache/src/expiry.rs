//! [`Expiry`]: per-entry time-to-live and time-to-idle, decided by the user for each entry.

use std::time::{Duration, Instant};

/// Decides how long each entry lives, entry by entry (as moka's `Expiry` and Caffeine's `Expiry`).
/// Set it with [`CacheBuilder::expire_after`](crate::CacheBuilder::expire_after).
///
/// The cache asks it on every **create** (a write of an absent key), **read** (a hit of
/// [`get`](crate::Cache::get), [`get_with`](crate::Cache::get_with),
/// [`try_get_with`](crate::Cache::try_get_with) or [`fetch`](crate::Cache::fetch)) and **update**
/// (a write of a present key: [`insert`](crate::Cache::insert), [`put`](crate::Cache::put),
/// [`compute`](crate::Cache::compute), [`increment`](crate::Cache::increment)). Each method gets the
/// entry, the clock's `now` and — for reads and updates — the time left until the entry's current
/// per-entry deadline (`None` if it has none), and answers:
///
/// - `Some(d)`: the entry now expires at `now + d`. `Duration::ZERO` expires it at once (a read still
///   returns the value it found; later reads do not see it). A duration too long to represent
///   (e.g. `Duration::MAX`) means "never".
/// - `None`: keep the current per-entry deadline (for a create: the entry has none).
///
/// Every method defaults to `None`, so an implementation overrides only what it needs: a per-entry
/// time-to-live is `expire_after_create` (and `expire_after_update` to restart it on writes); a
/// per-entry time-to-idle answers the same duration from all three.
///
/// # How it combines with the other expiry settings
/// An entry expires at the **earliest** of its per-entry deadline (from this trait) and the
/// cache-wide [`time_to_live`](crate::CacheBuilder::time_to_live) and
/// [`time_to_idle`](crate::CacheBuilder::time_to_idle) deadlines. So cache-wide settings are a cap
/// that an `Expiry` can shorten but not extend; leave them unset to let the `Expiry` decide alone.
/// An explicit TTL wins over the `Expiry` for the write that gives it:
/// [`insert_with_ttl`](crate::Cache::insert_with_ttl) (and [`increment`](crate::Cache::increment)'s
/// `ttl_if_new` for a new counter) set the per-entry deadline to `now + ttl` without asking
/// `expire_after_create`/`expire_after_update` and without the cache-wide TTL (the cache-wide TTI
/// still applies); later reads and updates of that entry ask the `Expiry` as usual.
///
/// Not asked: [`contains`](crate::Cache::contains), [`iter`](crate::Cache::iter) and the
/// peeks done inside loaders are not reads, and expired entries are not asked again.
///
/// The methods run under the entry's shard lock: they must be quick and must not call the cache.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ember_cache::{Cache, Expiry};
/// use ember_core::ManualClock;
///
/// /// Sessions expire after 30 idle minutes; guest sessions after 1 idle minute.
/// struct SessionIdle;
/// impl Expiry<String, bool> for SessionIdle {
///     fn expire_after_create(&self, _: &String, guest: &bool, _: Instant) -> Option<Duration> {
///         Some(if *guest { Duration::from_secs(60) } else { Duration::from_secs(30 * 60) })
///     }
///     fn expire_after_read(&self, k: &String, guest: &bool, now: Instant, _: Option<Duration>) -> Option<Duration> {
///         self.expire_after_create(k, guest, now) // each read restarts the idle time
///     }
/// }
///
/// let clock = ManualClock::new();
/// let sessions: Cache<String, bool> = Cache::builder()
///     .max_capacity(10_000)
///     .expire_after(SessionIdle)
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// sessions.insert("ada".into(), false);
/// sessions.insert("guest-1".into(), true);
/// clock.advance(Duration::from_secs(50));
/// assert_eq!(sessions.get("guest-1"), Some(true)); // idle for 50 s: alive, and the read restarts it
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(sessions.get("guest-1"), None); // idle for 60 s: gone
/// assert_eq!(sessions.get("ada"), Some(false)); // idle for 110 s of 30 min: alive
/// ```
pub trait Expiry<K, V>: Send + Sync {
    /// The lifetime of a new entry from `now`, or `None` for no per-entry deadline.
    fn expire_after_create(&self, key: &K, value: &V, now: Instant) -> Option<Duration> {
        let _ = (key, value, now);
        None
    }

    /// After a read: the new lifetime from `now`, or `None` to keep the deadline `remaining` away.
    fn expire_after_read(
        &self,
        key: &K,
        value: &V,
        now: Instant,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (key, value, now, remaining);
        None
    }

    /// After an update (`value` is the new value): the new lifetime from `now`, or `None` to keep
    /// the deadline `remaining` away.
    fn expire_after_update(
        &self,
        key: &K,
        value: &V,
        now: Instant,
        remaining: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (key, value, now, remaining);
        None
    }
}

/// The deadline `d` after `now`; `None` (never) when it cannot be represented.
#[inline]
pub(crate) fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// The time left until `at`, as passed to the [`Expiry`] methods.
#[inline]
pub(crate) fn remaining(at: Option<Instant>, now: Instant) -> Option<Duration> {
    at.map(|t| t.saturating_duration_since(now))
}
