//! Time as every Ember component sees it.
//!
//! Components never call `Instant::now()` themselves: they ask the [`Clock`] they were built with. In
//! production that is [`SystemClock`]; in tests it is a [`ManualClock`] that only moves when told to, so
//! TTLs, leases, visibility timeouts, retention and windows are tested without sleeping.
//!
//! Blocking waits ("receive with a timeout", "acquire or give up at the deadline") go through a
//! [`Signal`]: a condition variable that wakes when it is notified *or* when the clock reaches the
//! waiter's deadline, which for a [`ManualClock`] means when another thread advances it.
//!
//! ```
//! use std::time::Duration;
//! use ember_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(clock.now() - start, Duration::from_secs(30));
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, MutexGuard};

/// A source of time.
///
/// Two readings are offered: a monotonic [`Instant`] for durations and deadlines (TTLs, leases,
/// visibility timeouts, retention by age) and wall-clock milliseconds since the Unix epoch for record
/// timestamps and event time.
///
/// Implementations must be cheap to call and safe to share between threads. Most users never implement
/// this trait: they pass [`SystemClock`] (the default everywhere) or a [`ManualClock`].
///
/// ```
/// use std::sync::Arc;
/// use ember_core::clock::{Clock, SystemClock};
///
/// let clock: Arc<dyn Clock> = Arc::new(SystemClock);
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// assert!(clock.unix_millis() > 1_600_000_000_000);
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current monotonic time. Never goes backwards.
    fn now(&self) -> Instant;

    /// The current wall-clock time, in milliseconds since the Unix epoch.
    fn unix_millis(&self) -> u64;

    /// A cheaper, coarser reading of [`now`](Clock::now), for hot paths.
    ///
    /// The contract: the reading is never later than a [`now`](Clock::now) taken after it returns, and
    /// it never goes backwards. It is usually no more than
    /// [`coarse_resolution`](Clock::coarse_resolution) behind the true time, but that is not a bound:
    /// an operating-system tick that comes late (on a loaded virtual machine, by tens of milliseconds)
    /// makes it lag further. So use it only where a late reading is harmless: to *check* whether a
    /// deadline has passed (the check may then come a little late, never early), or for an
    /// approximate timestamp. Never compute a deadline that must not come early from it.
    ///
    /// The default returns [`now`](Clock::now) (resolution zero), which is what
    /// [`ManualClock`] does: tests see exact times.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::clock::{Clock, ManualClock, SystemClock};
    ///
    /// let coarse = SystemClock.coarse_now();
    /// assert!(coarse <= SystemClock.now());
    /// assert!(SystemClock.coarse_resolution() < Duration::from_secs(1));
    ///
    /// let manual = ManualClock::new();
    /// assert_eq!(manual.coarse_now(), manual.now());
    /// assert_eq!(manual.coarse_resolution(), Duration::ZERO);
    /// ```
    fn coarse_now(&self) -> Instant {
        self.now()
    }

    /// A cheaper, coarser reading of [`unix_millis`](Clock::unix_millis): never later than a
    /// `unix_millis()` taken after it (barring wall-clock steps), usually no more than
    /// [`coarse_resolution`](Clock::coarse_resolution) behind, with the same caveat as
    /// [`coarse_now`](Clock::coarse_now). The default returns [`unix_millis`](Clock::unix_millis).
    ///
    /// ```
    /// use ember_core::clock::{Clock, SystemClock};
    /// let coarse = SystemClock.coarse_unix_millis();
    /// assert!(coarse <= SystemClock.unix_millis());
    /// ```
    fn coarse_unix_millis(&self) -> u64 {
        self.unix_millis()
    }

    /// The nominal resolution of [`coarse_now`](Clock::coarse_now) and
    /// [`coarse_unix_millis`](Clock::coarse_unix_millis): how often they are updated. The default is
    /// zero (the coarse readings are exact).
    fn coarse_resolution(&self) -> Duration {
        Duration::ZERO
    }

    /// Lets `duration` pass: the system clock sleeps the thread, a manual clock advances itself.
    ///
    /// Used to *simulate* latency (for example by [`MemoryStore`](crate::store::MemoryStore)), never to
    /// wait for a condition: use a [`Signal`] for that.
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// Blocks on `signal`'s condition variable (whose lock `guard` holds) until it is notified or this
    /// clock reaches `deadline`.
    ///
    /// Called by [`Signal::wait`]; components do not call it directly. The default waits in real time,
    /// which is right for any clock that follows the system's. A clock that moves by itself in some other
    /// way overrides it, as [`ManualClock`] does. Spurious returns are allowed: the caller re-checks.
    fn block(&self, signal: &Signal, guard: &mut MutexGuard<'_, ()>, deadline: Option<Instant>) {
        match deadline {
            Some(deadline) => {
                signal.inner.cv.wait_until(guard, deadline);
            }
            None => signal.inner.cv.wait(guard),
        }
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn unix_millis(&self) -> u64 {
        (**self).unix_millis()
    }
    fn coarse_now(&self) -> Instant {
        (**self).coarse_now()
    }
    fn coarse_unix_millis(&self) -> u64 {
        (**self).coarse_unix_millis()
    }
    fn coarse_resolution(&self) -> Duration {
        (**self).coarse_resolution()
    }
    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration)
    }
    fn block(&self, signal: &Signal, guard: &mut MutexGuard<'_, ()>, deadline: Option<Instant>) {
        (**self).block(signal, guard, deadline)
    }
}

/// A clock shared between components: what builders store.
pub type SharedClock = Arc<dyn Clock>;

/// Wraps any clock into a [`SharedClock`].
///
/// ```
/// use ember_core::clock::{shared, ManualClock, SystemClock};
/// let a = shared(SystemClock);
/// let b = shared(ManualClock::new());
/// assert!(a.unix_millis() > b.unix_millis());
/// ```
pub fn shared(clock: impl Clock + 'static) -> SharedClock {
    Arc::new(clock)
}

/// The real clock: [`Instant::now`] and [`SystemTime::now`]. The default of every builder.
///
/// On Linux the coarse readings ([`Clock::coarse_now`], [`Clock::coarse_unix_millis`]) come from
/// `CLOCK_MONOTONIC_COARSE` and `CLOCK_REALTIME_COARSE`: the time of the kernel's last timer tick, read
/// without touching the clock source (a few nanoseconds instead of tens). Their nominal resolution is
/// what `clock_getres` reports for `CLOCK_MONOTONIC_COARSE` (typically 1 to 4 ms, the tick length);
/// on a loaded virtual machine they have been seen to lag by up to 23 ms. The monotonic coarse reading
/// is turned into an [`Instant`] through an offset measured once per process, rounded so that it never
/// runs ahead of [`Instant::now`]. Elsewhere the coarse readings are the exact ones (resolution zero).
///
/// ```
/// use ember_core::clock::{Clock, SystemClock};
/// let t = SystemClock.now();
/// assert!(SystemClock.now() >= t);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    #[cfg(target_os = "linux")]
    fn coarse_now(&self) -> Instant {
        coarse::now()
    }

    #[cfg(target_os = "linux")]
    fn coarse_unix_millis(&self) -> u64 {
        coarse::unix_millis()
    }

    #[cfg(target_os = "linux")]
    fn coarse_resolution(&self) -> Duration {
        coarse::resolution()
    }
}

/// The coarse clocks of Linux, read through the vDSO.
#[cfg(target_os = "linux")]
mod coarse {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    fn read(clock: libc::clockid_t) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock ids used are supported by every Linux
        // since 2.6.32. On failure `ts` stays zero, which callers treat as "no reading".
        unsafe { libc::clock_gettime(clock, &mut ts) };
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    }

    /// An `Instant` and the `CLOCK_MONOTONIC` reading it is known not to precede: of a few tries of
    /// (read, `Instant::now()`, read), the tightest, paired with its second read. Mapping a coarse
    /// reading `c` to `instant + (c - mono)` therefore never gives a time after the true one.
    fn anchor() -> (Instant, Duration) {
        static ANCHOR: OnceLock<(Instant, Duration)> = OnceLock::new();
        *ANCHOR.get_or_init(|| {
            let mut best: Option<(Duration, Instant, Duration)> = None;
            for _ in 0..8 {
                let before = read(libc::CLOCK_MONOTONIC);
                let instant = Instant::now();
                let after = read(libc::CLOCK_MONOTONIC);
                let gap = after.saturating_sub(before);
                if best.is_none_or(|(g, _, _)| gap < g) {
                    best = Some((gap, instant, after));
                }
            }
            let (_, instant, mono) = best.expect("at least one try");
            (instant, mono)
        })
    }

    pub(super) fn now() -> Instant {
        let (instant, mono) = anchor();
        let coarse = read(libc::CLOCK_MONOTONIC_COARSE);
        if coarse >= mono {
            instant + (coarse - mono)
        } else {
            instant.checked_sub(mono - coarse).unwrap_or(instant)
        }
    }

    pub(super) fn unix_millis() -> u64 {
        u64::try_from(read(libc::CLOCK_REALTIME_COARSE).as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn resolution() -> Duration {
        static RESOLUTION: OnceLock<Duration> = OnceLock::new();
        *RESOLUTION.get_or_init(|| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: as in `read`.
            let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
            let res = Duration::new(
                u64::try_from(ts.tv_sec).unwrap_or(0),
                u32::try_from(ts.tv_nsec).unwrap_or(0),
            );
            // Should the kernel not say, assume a slow 100 Hz tick.
            if rc != 0 || res.is_zero() {
                Duration::from_millis(10)
            } else {
                res
            }
        })
    }
}

/// A clock that only moves when told to: [`advance`](ManualClock::advance) and the `set_*` methods.
///
/// Cloning gives another handle to the *same* clock, so a test keeps one handle and gives the other to
/// the component under test. Threads blocked in a [`Signal::wait`] with a deadline wake up when the clock
/// is advanced past it: no polling, no sleeping.
///
/// The wall clock starts at 2024-01-01T00:00:00Z (1 704 067 200 000 ms) unless set otherwise, and moves
/// with [`advance`](ManualClock::advance).
///
/// ```
/// use std::thread;
/// use std::time::Duration;
/// use ember_core::clock::{Clock, ManualClock, Signal, WaitOutcome};
///
/// let clock = ManualClock::new();
/// let signal = Signal::new();
/// let deadline = clock.now() + Duration::from_secs(5);
/// let (c, s) = (clock.clone(), signal.clone());
/// let waiter = thread::spawn(move || {
///     let seen = s.epoch();
///     s.wait(&c, seen, Some(deadline))
/// });
/// // The waiter is blocked until the clock reaches its deadline.
/// while clock.waiters() == 0 {
///     thread::yield_now();
/// }
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(waiter.join().unwrap(), WaitOutcome::TimedOut);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    base: Instant,
    /// Nanoseconds since `base`.
    elapsed_nanos: AtomicU64,
    unix_millis: AtomicU64,
    /// Signals blocked on this clock, woken (and forgotten) whenever time moves.
    parked: Mutex<Vec<Weak<SignalInner>>>,
}

/// Where a [`ManualClock`]'s wall clock starts: 2024-01-01T00:00:00Z.
pub const MANUAL_CLOCK_EPOCH_MILLIS: u64 = 1_704_067_200_000;

impl ManualClock {
    /// A new clock at an arbitrary monotonic origin, wall time [`MANUAL_CLOCK_EPOCH_MILLIS`].
    pub fn new() -> Self {
        Self::with_unix_millis(MANUAL_CLOCK_EPOCH_MILLIS)
    }

    /// A new clock whose wall time starts at `unix_millis`.
    ///
    /// ```
    /// use ember_core::clock::{Clock, ManualClock};
    /// let clock = ManualClock::with_unix_millis(1_000);
    /// assert_eq!(clock.unix_millis(), 1_000);
    /// ```
    pub fn with_unix_millis(unix_millis: u64) -> Self {
        ManualClock {
            inner: Arc::new(ManualInner {
                base: Instant::now(),
                elapsed_nanos: AtomicU64::new(0),
                unix_millis: AtomicU64::new(unix_millis),
                parked: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Moves both the monotonic and the wall clock forward by `by`, and wakes every thread waiting on
    /// this clock so it can check its deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::clock::{Clock, ManualClock};
    /// let clock = ManualClock::with_unix_millis(0);
    /// clock.advance(Duration::from_millis(1500));
    /// assert_eq!(clock.unix_millis(), 1500);
    /// ```
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner
            .elapsed_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(nanos))
            })
            .ok();
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .unix_millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(millis))
            })
            .ok();
        self.wake_all();
    }

    /// Sets the monotonic clock to `elapsed` after its origin. Monotonic time never goes backwards: a
    /// value earlier than the current reading leaves it unchanged. The wall clock is not touched.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::clock::{Clock, ManualClock};
    /// let clock = ManualClock::new();
    /// let origin = clock.now();
    /// clock.set_elapsed(Duration::from_secs(10));
    /// clock.set_elapsed(Duration::from_secs(3)); // ignored: would go backwards
    /// assert_eq!(clock.now() - origin, Duration::from_secs(10));
    /// ```
    pub fn set_elapsed(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.inner.elapsed_nanos.fetch_max(nanos, Ordering::SeqCst);
        self.wake_all();
    }

    /// Sets the wall clock. Unlike monotonic time it may jump backwards, as a real wall clock can.
    ///
    /// ```
    /// use ember_core::clock::{Clock, ManualClock};
    /// let clock = ManualClock::new();
    /// clock.set_unix_millis(42);
    /// assert_eq!(clock.unix_millis(), 42);
    /// ```
    pub fn set_unix_millis(&self, unix_millis: u64) {
        self.inner.unix_millis.store(unix_millis, Ordering::SeqCst);
        self.wake_all();
    }

    /// How far the monotonic clock has moved since this clock was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.elapsed_nanos.load(Ordering::SeqCst))
    }

    /// How many threads are blocked waiting on this clock right now. Tests use it to know that a waiter
    /// has gone to sleep before they advance the clock.
    pub fn waiters(&self) -> usize {
        self.inner
            .parked
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.waiters.load(Ordering::SeqCst))
            .sum()
    }

    fn wake_all(&self) {
        let parked = std::mem::take(&mut *self.inner.parked.lock());
        for signal in parked.iter().filter_map(Weak::upgrade) {
            signal.wake();
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .field("unix_millis", &self.unix_millis())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.base + self.elapsed()
    }

    fn unix_millis(&self) -> u64 {
        self.inner.unix_millis.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }

    fn block(&self, signal: &Signal, guard: &mut MutexGuard<'_, ()>, deadline: Option<Instant>) {
        {
            let mut parked = self.inner.parked.lock();
            parked.retain(|w| w.strong_count() > 0);
            if !parked
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&signal.inner)))
            {
                parked.push(Arc::downgrade(&signal.inner));
            }
        }
        // The clock may have moved between the caller's deadline check and the registration above; it
        // then drained the list without seeing us, so look again before sleeping.
        if let Some(deadline) = deadline {
            if self.now() >= deadline {
                return;
            }
        }
        signal.inner.cv.wait(guard);
    }
}

/// Why [`Signal::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The signal was notified after the epoch the waiter had seen: re-check the condition.
    Notified,
    /// The clock reached the deadline.
    TimedOut,
}

/// A condition variable that also wakes on a clock's deadline.
///
/// The protocol, lost-wakeup free:
/// 1. read [`epoch`](Signal::epoch) *before* looking at the shared state;
/// 2. look at the state; if there is nothing to do, call [`wait`](Signal::wait) with that epoch;
/// 3. whoever changes the state calls [`notify_all`](Signal::notify_all) afterwards.
///
/// A notification between steps 1 and 3 changes the epoch, so the wait returns at once. Notifying
/// costs one atomic increment when nobody waits.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::thread;
/// use ember_core::clock::{Signal, SystemClock};
///
/// let ready = Arc::new(AtomicBool::new(false));
/// let signal = Signal::new();
/// let (r, s) = (ready.clone(), signal.clone());
/// let consumer = thread::spawn(move || loop {
///     let seen = s.epoch();
///     if r.load(Ordering::SeqCst) {
///         return true;
///     }
///     s.wait(&SystemClock, seen, None);
/// });
/// ready.store(true, Ordering::SeqCst);
/// signal.notify_all();
/// assert!(consumer.join().unwrap());
/// ```
#[derive(Clone, Default)]
pub struct Signal {
    inner: Arc<SignalInner>,
}

#[derive(Default)]
struct SignalInner {
    epoch: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl SignalInner {
    fn wake(&self) {
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }
}

impl Signal {
    /// A new signal with no waiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current epoch: how many times the signal has been notified.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// Wakes every waiter. Call it after changing the state they wait on.
    pub fn notify_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        if self.inner.waiters.load(Ordering::SeqCst) > 0 {
            self.inner.wake();
        }
    }

    /// How many threads wait on this signal now.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.load(Ordering::SeqCst)
    }

    /// Blocks until the epoch differs from `seen` or `clock` reaches `deadline` (if any).
    ///
    /// Returns at once if either already holds. A [`ManualClock`] wakes the waiter when advanced.
    pub fn wait(&self, clock: &dyn Clock, seen: u64, deadline: Option<Instant>) -> WaitOutcome {
        self.inner.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.inner.lock.lock();
        let outcome = loop {
            if self.inner.epoch.load(Ordering::SeqCst) != seen {
                break WaitOutcome::Notified;
            }
            if let Some(deadline) = deadline {
                if clock.now() >= deadline {
                    break WaitOutcome::TimedOut;
                }
            }
            clock.block(self, &mut guard, deadline);
        };
        drop(guard);
        self.inner.waiters.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("epoch", &self.epoch())
            .field("waiters", &self.waiters())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn wait_until_parked(clock: &ManualClock, n: usize) {
        while clock.waiters() < n {
            thread::yield_now();
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::with_unix_millis(10);
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_millis(250));
        assert_eq!(clock.now() - t0, Duration::from_millis(250));
        assert_eq!(clock.unix_millis(), 260);
        let other = clock.clone();
        other.advance(Duration::from_secs(1));
        assert_eq!(clock.now() - t0, Duration::from_millis(1250));
    }

    #[test]
    fn set_elapsed_never_goes_backwards() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        clock.set_elapsed(Duration::from_secs(5));
        clock.set_elapsed(Duration::from_secs(1));
        assert_eq!(clock.now() - t0, Duration::from_secs(5));
    }

    #[test]
    fn waiter_released_by_advance_only_at_its_deadline() {
        let clock = ManualClock::new();
        let signal = Signal::new();
        let deadline = clock.now() + Duration::from_secs(10);
        let (c, s) = (clock.clone(), signal.clone());
        let waiter = thread::spawn(move || {
            let seen = s.epoch();
            let outcome = s.wait(&c, seen, Some(deadline));
            (outcome, c.now())
        });
        wait_until_parked(&clock, 1);
        // Not far enough: the waiter wakes, sees it is early, and sleeps again.
        clock.advance(Duration::from_secs(4));
        wait_until_parked(&clock, 1);
        assert!(!waiter.is_finished());
        clock.advance(Duration::from_secs(6));
        let (outcome, woke_at) = waiter.join().unwrap();
        assert_eq!(outcome, WaitOutcome::TimedOut);
        assert!(woke_at >= deadline);
    }

    #[test]
    fn waiter_released_by_notify_before_deadline() {
        let clock = ManualClock::new();
        let signal = Signal::new();
        let deadline = clock.now() + Duration::from_secs(10);
        let (c, s) = (clock.clone(), signal.clone());
        let waiter = thread::spawn(move || {
            let seen = s.epoch();
            s.wait(&c, seen, Some(deadline))
        });
        wait_until_parked(&clock, 1);
        signal.notify_all();
        assert_eq!(waiter.join().unwrap(), WaitOutcome::Notified);
    }

    #[test]
    fn stale_epoch_returns_immediately() {
        let signal = Signal::new();
        let seen = signal.epoch();
        signal.notify_all();
        assert_eq!(
            signal.wait(&ManualClock::new(), seen, None),
            WaitOutcome::Notified
        );
    }

    #[test]
    fn past_deadline_returns_immediately() {
        let clock = ManualClock::new();
        let signal = Signal::new();
        let seen = signal.epoch();
        assert_eq!(
            signal.wait(&clock, seen, Some(clock.now())),
            WaitOutcome::TimedOut
        );
    }

    #[test]
    fn many_waiters_with_staggered_deadlines() {
        let clock = ManualClock::new();
        let signal = Signal::new();
        let start = clock.now();
        let handles: Vec<_> = (1..=8u64)
            .map(|i| {
                let (c, s) = (clock.clone(), signal.clone());
                thread::spawn(move || {
                    let seen = s.epoch();
                    let deadline = start + Duration::from_secs(i);
                    let outcome = s.wait(&c, seen, Some(deadline));
                    assert!(c.now() >= deadline);
                    outcome
                })
            })
            .collect();
        wait_until_parked(&clock, 8);
        for _ in 0..8 {
            clock.advance(Duration::from_secs(1));
        }
        for h in handles {
            assert_eq!(h.join().unwrap(), WaitOutcome::TimedOut);
        }
    }

    #[test]
    fn system_clock_timed_wait_returns() {
        let signal = Signal::new();
        let seen = signal.epoch();
        let deadline = SystemClock.now() + Duration::from_millis(1);
        assert_eq!(
            signal.wait(&SystemClock, seen, Some(deadline)),
            WaitOutcome::TimedOut
        );
    }

    #[test]
    fn manual_sleep_advances() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        clock.sleep(Duration::from_millis(7));
        assert_eq!(clock.now() - t0, Duration::from_millis(7));
    }
}
