//! [`Redlock`]: one lock over N independent [`LockBackend`]s.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, Signal, SystemClock};

use crate::backend::LockBackend;
use crate::error::{Error, Result};
use crate::lease::Owner;

/// The Redlock algorithm over N independent backends (typically 5).
///
/// To acquire, Redlock records the start time, asks every backend for the lease with the full TTL,
/// and succeeds only if a **majority** (N/2 + 1) granted it and time is left: the lease is valid for
/// `ttl - elapsed - drift`, where `drift = ttl * drift_factor + drift_min` allows for the backends'
/// clocks running at slightly different rates. On failure it releases the lease on every backend that
/// granted it, so a failed attempt does not block the next one for a whole TTL.
///
/// What it does not give you (Kleppmann's critique, which applies here as to Redis): the per-backend
/// tokens are not one monotonic fencing token, and safety rests on timing assumptions (bounded pauses,
/// bounded clock drift). Use it for efficiency locks or with a fenced resource that tolerates it; use a
/// single [`LockManager`](crate::LockManager) with [`Fence`](crate::Fence) where one process suffices.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_lock::{Error, FaultyBackend, LockManager, Redlock};
///
/// let clock = ManualClock::new();
/// let nodes: Vec<Arc<FaultyBackend<LockManager>>> = (0..5)
///     .map(|i| {
///         let m = LockManager::builder().clock(clock.clone()).build().unwrap();
///         Arc::new(FaultyBackend::new(format!("node-{i}"), m))
///     })
///     .collect();
/// let redlock = Redlock::builder()
///     .backends(nodes.iter().map(|n| n.clone() as _))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// nodes[0].set_down(true);
/// nodes[1].set_down(true);
/// let lease = redlock.try_acquire("payment/77", "client-1", Duration::from_secs(10)).unwrap();
/// assert_eq!(lease.acquired(), 3);
/// // 10 s minus the 1% + 2 ms drift allowance.
/// assert_eq!(lease.validity(&clock), Duration::from_millis(9_898));
/// nodes[2].set_down(true);
/// assert!(matches!(
///     redlock.try_acquire("payment/78", "client-1", Duration::from_secs(10)),
///     Err(Error::NoQuorum { acquired: 2, needed: 3, .. })
/// ));
/// ```
pub struct Redlock {
    backends: Vec<Arc<dyn LockBackend>>,
    clock: SharedClock,
    drift_factor: f64,
    drift_min: Duration,
    retry_delay: Duration,
    backend_timeout: Option<Duration>,
    quorum: usize,
    rng: AtomicU64,
}

/// Configures a [`Redlock`]; from [`Redlock::builder`].
#[must_use]
#[derive(Default)]
pub struct RedlockBuilder {
    backends: Vec<Arc<dyn LockBackend>>,
    clock: Option<SharedClock>,
    drift_factor: Option<f64>,
    drift_min: Option<Duration>,
    retry_delay: Option<Duration>,
    backend_timeout: Option<Duration>,
}

impl fmt::Debug for RedlockBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedlockBuilder")
            .field("backends", &self.backends.len())
            .finish_non_exhaustive()
    }
}

impl RedlockBuilder {
    /// Adds one backend.
    pub fn backend(mut self, backend: impl LockBackend + 'static) -> Self {
        self.backends.push(Arc::new(backend));
        self
    }

    /// Adds backends already shared.
    pub fn backends(mut self, backends: impl IntoIterator<Item = Arc<dyn LockBackend>>) -> Self {
        self.backends.extend(backends);
        self
    }

    /// The clock that measures elapsed time and validity. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The share of the TTL reserved for clock drift between backends. Default 0.01 (Redis's choice).
    pub fn drift_factor(mut self, factor: f64) -> Self {
        self.drift_factor = Some(factor);
        self
    }

    /// The constant part of the drift allowance. Default 2 ms.
    pub fn drift_min(mut self, min: Duration) -> Self {
        self.drift_min = Some(min);
        self
    }

    /// The average pause between attempts of [`Redlock::acquire`] (randomised ±50 % so that competing
    /// clients desynchronise). Default 200 ms.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = Some(delay);
        self
    }

    /// Treats a backend whose answer took longer than `timeout` (on the clock) as having failed: a
    /// grant that arrives that late is released again instead of counted. Redis clients use a per-node
    /// timeout far below the TTL (milliseconds for a 10 s lock) so that one slow node cannot eat the
    /// validity time. Default: no per-backend limit (only the overall validity rule).
    pub fn backend_timeout(mut self, timeout: Duration) -> Self {
        self.backend_timeout = Some(timeout);
        self
    }

    /// Builds it.
    ///
    /// # Errors
    /// [`Error::Config`] without backends, or with a drift factor outside `0.0..1.0`.
    pub fn build(self) -> Result<Redlock> {
        if self.backends.is_empty() {
            return Err(Error::Config("redlock needs at least one backend"));
        }
        let drift_factor = self.drift_factor.unwrap_or(0.01);
        if !(0.0..1.0).contains(&drift_factor) {
            return Err(Error::Config("drift factor must be in 0.0..1.0"));
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let seed = clock.unix_millis() ^ 0x9E37_79B9_7F4A_7C15 ^ (self.backends.len() as u64) << 32;
        Ok(Redlock {
            quorum: self.backends.len() / 2 + 1,
            backends: self.backends,
            clock,
            drift_factor,
            drift_min: self.drift_min.unwrap_or(Duration::from_millis(2)),
            retry_delay: self.retry_delay.unwrap_or(Duration::from_millis(200)),
            backend_timeout: self.backend_timeout,
            rng: AtomicU64::new(seed | 1),
        })
    }
}

/// A lease granted by a majority of Redlock's backends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a redlock lease should be released by its holder"]
pub struct RedlockLease {
    resource: Arc<str>,
    owner: Owner,
    tokens: Vec<Option<u64>>,
    valid_until: Instant,
}

impl RedlockLease {
    /// The resource.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The owner.
    #[must_use]
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Per backend (in the order they were added): the token it granted, or `None`.
    #[must_use]
    pub fn tokens(&self) -> &[Option<u64>] {
        &self.tokens
    }

    /// On how many backends the lease is held.
    #[must_use]
    pub fn acquired(&self) -> usize {
        self.tokens.iter().flatten().count()
    }

    /// The end of the validity time: start + TTL − drift allowance.
    #[must_use]
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// Validity time left on `clock`.
    #[must_use]
    pub fn validity(&self, clock: &dyn Clock) -> Duration {
        self.valid_until.saturating_duration_since(clock.now())
    }

    /// Whether validity time is left on `clock`.
    #[must_use]
    pub fn is_valid(&self, clock: &dyn Clock) -> bool {
        clock.now() < self.valid_until
    }
}

impl fmt::Debug for Redlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redlock")
            .field("backends", &self.backends)
            .field("quorum", &self.quorum)
            .field("drift_factor", &self.drift_factor)
            .finish_non_exhaustive()
    }
}

impl Redlock {
    /// A builder: backends, clock, drift, retry delay.
    pub fn builder() -> RedlockBuilder {
        RedlockBuilder::default()
    }

    /// How many backends must grant: N/2 + 1.
    #[must_use]
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The backends, in order.
    #[must_use]
    pub fn backends(&self) -> &[Arc<dyn LockBackend>] {
        &self.backends
    }

    /// The clock measuring elapsed time and validity.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn validity(&self, start: Instant, ttl: Duration) -> (Duration, Option<Instant>) {
        let elapsed = self.clock.now().saturating_duration_since(start);
        let drift = ttl.mul_f64(self.drift_factor) + self.drift_min;
        let left = ttl
            .checked_sub(elapsed)
            .and_then(|v| v.checked_sub(drift))
            .filter(|v| !v.is_zero());
        let until = left.and_then(|_| start.checked_add(ttl - drift));
        (elapsed, until)
    }

    fn release_tokens(&self, resource: &str, owner: &Owner, tokens: &[Option<u64>]) -> usize {
        self.backends
            .iter()
            .zip(tokens)
            .filter_map(|(b, t)| t.map(|t| b.release_if_token(resource, owner, t)))
            .filter(Result::is_ok)
            .count()
    }

    /// One round of the algorithm: ask every backend, keep the lease if a majority granted it with
    /// validity time left, release it everywhere otherwise. `owner` must be unique to this client (it
    /// plays the part of Redis's random value).
    ///
    /// # Errors
    /// [`Error::NoQuorum`], [`Error::ValidityExpired`], [`Error::InvalidTtl`], [`Error::InvalidName`].
    pub fn try_acquire(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
    ) -> Result<RedlockLease> {
        if ttl.is_zero() {
            return Err(Error::InvalidTtl {
                ttl,
                reason: "must be positive",
            });
        }
        if resource.is_empty() {
            return Err(Error::InvalidName {
                name: String::new(),
                reason: "empty",
            });
        }
        let owner = owner.into();
        let resource: Arc<str> = Arc::from(resource);
        let start = self.clock.now();
        let tokens: Vec<Option<u64>> = self
            .backends
            .iter()
            .map(|b| {
                let asked = self.clock.now();
                let token = b.try_acquire_ttl(&resource, &owner, ttl).ok()?;
                let took = self.clock.now().saturating_duration_since(asked);
                if self.backend_timeout.is_some_and(|limit| took > limit) {
                    // Too late to count: give it back.
                    let _ = b.release_if_token(&resource, &owner, token);
                    return None;
                }
                Some(token)
            })
            .collect();
        let acquired = tokens.iter().flatten().count();
        let (elapsed, until) = self.validity(start, ttl);
        match until {
            Some(valid_until) if acquired >= self.quorum => Ok(RedlockLease {
                resource,
                owner,
                tokens,
                valid_until,
            }),
            _ => {
                self.release_tokens(&resource, &owner, &tokens);
                Err(if acquired < self.quorum {
                    Error::NoQuorum {
                        resource,
                        acquired,
                        needed: self.quorum,
                    }
                } else {
                    Error::ValidityExpired {
                        resource,
                        elapsed,
                        ttl,
                    }
                })
            }
        }
    }

    fn next_delay(&self) -> Duration {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        let base = u64::try_from(self.retry_delay.as_nanos())
            .unwrap_or(u64::MAX)
            .max(2);
        Duration::from_nanos(base / 2 + x % base)
    }

    /// Retries [`try_acquire`](Self::try_acquire) after a randomised delay until it succeeds or `wait`
    /// has passed on the clock.
    ///
    /// # Errors
    /// [`Error::Timeout`] when `wait` passes; the errors of `try_acquire` other than `NoQuorum` and
    /// `ValidityExpired` at once.
    pub fn acquire(
        &self,
        resource: &str,
        owner: impl Into<Owner>,
        ttl: Duration,
        wait: Duration,
    ) -> Result<RedlockLease> {
        let owner = owner.into();
        let deadline = self.clock.now().checked_add(wait);
        let pause = Signal::new();
        loop {
            match self.try_acquire(resource, &owner, ttl) {
                Ok(lease) => return Ok(lease),
                Err(Error::NoQuorum { .. } | Error::ValidityExpired { .. }) => {}
                Err(e) => return Err(e),
            }
            let now = self.clock.now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Error::Timeout {
                    resource: Arc::from(resource),
                    waited: wait,
                });
            }
            let mut wake = now + self.next_delay();
            if let Some(d) = deadline {
                wake = wake.min(d);
            }
            // Nobody notifies this signal: it is a pause that a ManualClock can end.
            pause.wait(&*self.clock, pause.epoch(), Some(wake));
        }
    }

    /// Extends the lease on the backends that hold it; succeeds if a majority extended it with validity
    /// time left. On failure the lease is released everywhere.
    ///
    /// # Errors
    /// [`Error::NoQuorum`], [`Error::ValidityExpired`], [`Error::InvalidTtl`].
    pub fn extend(&self, lease: &RedlockLease, ttl: Duration) -> Result<RedlockLease> {
        if ttl.is_zero() {
            return Err(Error::InvalidTtl {
                ttl,
                reason: "must be positive",
            });
        }
        let start = self.clock.now();
        let tokens: Vec<Option<u64>> = self
            .backends
            .iter()
            .zip(&lease.tokens)
            .map(|(b, t)| {
                t.filter(|&t| {
                    b.extend_if_token(&lease.resource, &lease.owner, t, ttl)
                        .is_ok()
                })
            })
            .collect();
        let acquired = tokens.iter().flatten().count();
        let (elapsed, until) = self.validity(start, ttl);
        match until {
            Some(valid_until) if acquired >= self.quorum => Ok(RedlockLease {
                tokens,
                valid_until,
                ..lease.clone()
            }),
            _ => {
                self.release_tokens(&lease.resource, &lease.owner, &lease.tokens);
                Err(if acquired < self.quorum {
                    Error::NoQuorum {
                        resource: lease.resource.clone(),
                        acquired,
                        needed: self.quorum,
                    }
                } else {
                    Error::ValidityExpired {
                        resource: lease.resource.clone(),
                        elapsed,
                        ttl,
                    }
                })
            }
        }
    }

    /// Releases the lease on every backend that granted it; returns on how many the release was
    /// confirmed.
    ///
    /// # Errors
    /// [`Error::NotHeld`] when no backend confirmed (all expired, released or unreachable).
    pub fn release(&self, lease: &RedlockLease) -> Result<usize> {
        match self.release_tokens(&lease.resource, &lease.owner, &lease.tokens) {
            0 => Err(Error::NotHeld {
                resource: lease.resource.clone(),
                token: lease.tokens.iter().flatten().next().copied().unwrap_or(0),
            }),
            n => Ok(n),
        }
    }
}
