//! Bounded-out-of-orderness watermarks per input partition, combined by minimum, with idleness,
//! and explicit (pushed or punctuated) watermarks.
//!
//! Internally the watermark is kept as `low`, the first event time that is *not* late: Flink's
//! watermark plus one. Partition `p` contributes `max_ts(p) - max_delay` (unless the generator is
//! off) or its explicit watermark plus one, whichever is larger; the operator's `low` is the minimum
//! over partitions that are not idle, and never goes backwards.

use std::time::{Duration, Instant};

use super::error::{Error, Result};

/// Most partitions an operator tracks when none were declared.
pub const MAX_PARTITIONS: u32 = 65_536;

#[derive(Debug, Clone)]
struct Part {
    max_ts: Option<u64>,
    /// The explicit watermark plus one (0: none).
    explicit: u64,
    last_active: Option<Instant>,
    idle: bool,
}

/// The watermark state of one operator.
#[derive(Debug, Clone)]
pub(crate) struct Watermarks {
    delay: u64,
    /// Whether event times move the watermark (the bounded-out-of-orderness generator).
    generate: bool,
    declared: Option<u32>,
    idle_timeout: Option<Duration>,
    parts: Vec<Part>,
    low: u64,
}

impl Watermarks {
    pub(crate) fn new(
        delay: u64,
        generate: bool,
        declared: Option<u32>,
        idle_timeout: Option<Duration>,
        now: Option<Instant>,
    ) -> Self {
        let n = declared.unwrap_or(0) as usize;
        Watermarks {
            delay,
            generate,
            declared,
            idle_timeout,
            parts: vec![
                Part {
                    max_ts: None,
                    explicit: 0,
                    last_active: now,
                    idle: false,
                };
                n
            ],
            low: 0,
        }
    }

    pub(crate) fn low(&self) -> u64 {
        self.low
    }

    /// Checks a partition id before anything else happens to the event.
    pub(crate) fn check(&self, partition: u32) -> Result<()> {
        let limit = self.declared.unwrap_or(MAX_PARTITIONS);
        if partition >= limit {
            return Err(Error::PartitionOutOfRange {
                partition,
                partitions: limit,
            });
        }
        Ok(())
    }

    /// Records an event time seen on `partition` (already checked). Returns the new `low`.
    #[inline]
    pub(crate) fn observe(&mut self, partition: u32, ts: u64, now: Option<Instant>) -> u64 {
        let part = self.part(partition, now);
        part.last_active = now;
        let was_idle = std::mem::replace(&mut part.idle, false);
        let raised = part.max_ts.is_none_or(|m| ts > m);
        if raised {
            part.max_ts = Some(ts);
        }
        if raised || was_idle {
            if self.parts.len() == 1 && self.generate {
                self.low = self.low.max(ts.saturating_sub(self.delay));
            } else {
                self.recompute();
            }
        }
        self.low
    }

    /// An explicit watermark `w` for `partition` (already checked): no more events at or before `w`
    /// are expected from it. Returns the new `low`.
    pub(crate) fn explicit(&mut self, partition: u32, w: u64, now: Option<Instant>) -> u64 {
        let part = self.part(partition, now);
        part.last_active = now;
        part.idle = false;
        part.explicit = part.explicit.max(w.saturating_add(1));
        self.recompute();
        self.low
    }

    /// The partition's state, created (with earlier ones) on first sight.
    #[inline]
    fn part(&mut self, partition: u32, now: Option<Instant>) -> &mut Part {
        let p = partition as usize;
        if p >= self.parts.len() {
            self.parts.resize(
                p + 1,
                Part {
                    max_ts: None,
                    explicit: 0,
                    last_active: now,
                    idle: false,
                },
            );
        }
        &mut self.parts[p]
    }

    /// Marks partitions silent for the idle timeout as idle. Returns the new `low`.
    pub(crate) fn check_idle(&mut self, now: Instant) -> u64 {
        let Some(timeout) = self.idle_timeout else {
            return self.low;
        };
        let mut changed = false;
        for p in &mut self.parts {
            if !p.idle
                && p.last_active
                    .is_some_and(|t| now.saturating_duration_since(t) >= timeout)
            {
                p.idle = true;
                changed = true;
            }
        }
        if changed {
            self.recompute();
        }
        self.low
    }

    fn recompute(&mut self) {
        let (delay, generate) = (self.delay, self.generate);
        let active = self
            .parts
            .iter()
            .filter(|p| !p.idle)
            .map(|p| {
                let generated = match p.max_ts {
                    Some(m) if generate => m.saturating_sub(delay),
                    _ => 0,
                };
                generated.max(p.explicit)
            })
            .min();
        if let Some(m) = active {
            self.low = self.low.max(m);
        }
    }

    /// Forces `low` forward (processing time, finish).
    pub(crate) fn raise(&mut self, low: u64) {
        self.low = self.low.max(low);
    }

    pub(crate) fn idle_partitions(&self) -> usize {
        self.parts.iter().filter(|p| p.idle).count()
    }

    pub(crate) fn partitions(&self) -> usize {
        self.parts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_across_partitions_and_idleness() {
        let t0 = Instant::now();
        let mut w = Watermarks::new(5, true, Some(2), Some(Duration::from_secs(10)), Some(t0));
        assert_eq!(w.observe(0, 100, Some(t0)), 0, "partition 1 holds it");
        assert_eq!(w.observe(1, 50, Some(t0)), 45);
        assert_eq!(w.observe(1, 200, Some(t0)), 95);
        // Partition 0 goes silent; after the timeout partition 1 alone drives it.
        assert_eq!(w.check_idle(t0 + Duration::from_secs(9)), 95);
        w.observe(1, 300, Some(t0 + Duration::from_secs(9)));
        assert_eq!(w.check_idle(t0 + Duration::from_secs(10)), 295);
        assert_eq!(w.idle_partitions(), 1);
        // It comes back behind: the watermark never goes backwards.
        assert_eq!(w.observe(0, 120, Some(t0 + Duration::from_secs(11))), 295);
        assert_eq!(w.idle_partitions(), 0);
        assert!(w.check(2).is_err());
    }
}
