//! Retry policies: how long a nacked message stays invisible before its next attempt.

use std::time::Duration;

use rand::RngCore;

/// How the delay is randomized, to keep retries of many messages that failed together from hitting the
/// failing dependency together again (AWS's "exponential backoff and jitter").
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The computed delay, exactly.
    #[default]
    None,
    /// Uniform in `0..=delay`.
    Full,
    /// `delay / 2` plus uniform in `0..=delay / 2`.
    Equal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backoff {
    Immediate,
    Fixed(Duration),
    Exponential {
        initial: Duration,
        factor: f64,
        max: Duration,
    },
}

/// The delay before a nacked message becomes visible again, by attempt.
///
/// A [`nack`](crate::Queue::nack) after the message's `n`-th receive makes it invisible for
/// `delay(n)`. (A visibility *timeout* is not a nack: the message is visible again right at the end of
/// its timeout, as in SQS.) Jitter draws from the queue's random number generator, which the builder's
/// [`seed`](crate::QueueBuilder::seed) makes deterministic.
///
/// ```
/// use std::time::Duration;
/// use rand::{SeedableRng, rngs::SmallRng};
/// use ember_queue::{Jitter, RetryPolicy};
///
/// let p = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60));
/// let mut rng = SmallRng::seed_from_u64(7);
/// assert_eq!(p.delay(1, &mut rng), Duration::from_secs(1));
/// assert_eq!(p.delay(3, &mut rng), Duration::from_secs(4));
/// assert_eq!(p.delay(30, &mut rng), Duration::from_secs(60)); // capped
///
/// let jittered = p.with_jitter(Jitter::Full);
/// assert!(jittered.delay(3, &mut rng) <= Duration::from_secs(4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    backoff: Backoff,
    jitter: Jitter,
}

impl Default for RetryPolicy {
    /// [`RetryPolicy::immediate`].
    fn default() -> Self {
        Self::immediate()
    }
}

impl RetryPolicy {
    /// Visible again at once (SQS `ChangeMessageVisibility` to 0). The default.
    #[must_use]
    pub fn immediate() -> Self {
        RetryPolicy {
            backoff: Backoff::Immediate,
            jitter: Jitter::None,
        }
    }

    /// The same delay before every retry.
    #[must_use]
    pub fn fixed(delay: Duration) -> Self {
        RetryPolicy {
            backoff: Backoff::Fixed(delay),
            jitter: Jitter::None,
        }
    }

    /// `initial`, then doubling (see [`factor`](RetryPolicy::factor)) with each attempt, never above
    /// `max`.
    #[must_use]
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        RetryPolicy {
            backoff: Backoff::Exponential {
                initial,
                factor: 2.0,
                max,
            },
            jitter: Jitter::None,
        }
    }

    /// Sets the growth factor of an exponential policy (2 by default; must be at least 1, checked by the
    /// queue builder). No effect on other policies.
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        if let Backoff::Exponential { factor: f, .. } = &mut self.backoff {
            *f = factor;
        }
        self
    }

    /// Adds jitter.
    #[must_use]
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before the retry that follows the `attempt`-th receive (1 for the first).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_queue::RetryPolicy;
    /// let mut rng = rand::rng();
    /// let p = RetryPolicy::fixed(Duration::from_millis(250));
    /// assert_eq!(p.delay(5, &mut rng), Duration::from_millis(250));
    /// ```
    pub fn delay(&self, attempt: u32, rng: &mut dyn RngCore) -> Duration {
        let base = match self.backoff {
            Backoff::Immediate => return Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
                let secs = initial.as_secs_f64() * factor.powi(exp);
                if secs.is_finite() && secs < max.as_secs_f64() {
                    Duration::from_secs_f64(secs.max(0.0))
                } else {
                    max
                }
            }
        };
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => scale(base, unit(rng)),
            Jitter::Equal => base / 2 + scale(base / 2, unit(rng)),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Backoff::Exponential { factor, .. } = self.backoff {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(format!(
                    "exponential retry factor must be at least 1, got {factor}"
                ));
            }
        }
        Ok(())
    }
}

/// Uniform in `[0, 1]`.
fn unit(rng: &mut dyn RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
}

fn scale(d: Duration, by: f64) -> Duration {
    let nanos = d.as_nanos() as f64 * by;
    Duration::from_nanos(nanos.min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::SmallRng};

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn immediate_and_fixed() {
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(RetryPolicy::immediate().delay(9, &mut rng), Duration::ZERO);
        assert_eq!(RetryPolicy::fixed(3 * S).delay(1, &mut rng), 3 * S);
        assert_eq!(RetryPolicy::fixed(3 * S).delay(100, &mut rng), 3 * S);
    }

    #[test]
    fn exponential_grows_then_caps() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = RetryPolicy::exponential(S, 10 * S);
        let got: Vec<_> = (1..=6).map(|a| p.delay(a, &mut rng)).collect();
        assert_eq!(got, vec![S, 2 * S, 4 * S, 8 * S, 10 * S, 10 * S]);
        assert_eq!(p.delay(u32::MAX, &mut rng), 10 * S);
        assert_eq!(p.delay(0, &mut rng), S);
        let p3 = RetryPolicy::exponential(S, 100 * S).factor(3.0);
        assert_eq!(p3.delay(3, &mut rng), 9 * S);
    }

    #[test]
    fn jitter_stays_in_range_and_is_seeded() {
        let p = RetryPolicy::exponential(S, 60 * S);
        let full = p.with_jitter(Jitter::Full);
        let equal = p.with_jitter(Jitter::Equal);
        let mut a = SmallRng::seed_from_u64(42);
        let mut b = SmallRng::seed_from_u64(42);
        let mut distinct = std::collections::HashSet::new();
        for attempt in 1..200 {
            let cap = p.delay(attempt, &mut a);
            let _ = p.delay(attempt, &mut b);
            let f = full.delay(attempt, &mut a);
            assert_eq!(f, full.delay(attempt, &mut b), "same seed, same draws");
            assert!(f <= cap);
            distinct.insert(f);
            let e = equal.delay(attempt, &mut a);
            assert_eq!(e, equal.delay(attempt, &mut b));
            assert!(e >= cap / 2 && e <= cap, "{e:?} vs {cap:?}");
        }
        assert!(distinct.len() > 100, "jitter should spread the delays");
    }

    #[test]
    fn bad_factor_is_rejected() {
        assert!(
            RetryPolicy::exponential(S, S)
                .factor(0.5)
                .validate()
                .is_err()
        );
        assert!(
            RetryPolicy::exponential(S, S)
                .factor(f64::NAN)
                .validate()
                .is_err()
        );
        assert!(
            RetryPolicy::exponential(S, S)
                .factor(1.0)
                .validate()
                .is_ok()
        );
    }
}
