//! Window definitions and the assignment of an event time to windows.

use std::time::Duration;

use super::error::{Error, Result};

/// Which windows an event belongs to. Sizes are kept in milliseconds.
///
/// | constructor | Flink / Kafka Streams | windows of an event at `t` |
/// |---|---|---|
/// | [`tumbling(size)`](Windows::tumbling) | tumbling / `TimeWindows` without advance | the one `[start, start+size)` with `start` a multiple of `size` (plus offset) |
/// | [`hopping(size, advance)`](Windows::hopping) | sliding(size, slide) / `TimeWindows.advanceBy` | every `[start, start+size)` containing `t`, starts multiples of `advance` (≈ size/advance windows) |
/// | [`sliding(size)`](Windows::sliding) | `SlidingWindows.ofTimeDifference` | one window per distinct record time `r`: `[r-size, r]`, both inclusive; `t` counts in every such window with `r` in `[t, t+size]` |
/// | [`session(gap)`](Windows::session) | session windows | per key, events no more than `gap` apart form one session `[first, last]`; a record within `gap` of two sessions merges them |
/// | [`count(n)`](Windows::count) | `countWindow(n)` | every `n` events of a key, in arrival order; no time semantics |
/// | [`count_sliding(size, slide)`](Windows::count_sliding) | `countWindow(size, slide)` | every `slide` events of a key, a window over its last `size` events (arrival order) |
///
/// Time windows are epoch-aligned; [`with_offset`](Windows::with_offset) shifts the alignment (for
/// time zones). A window whose aligned start would be negative is reported as starting at 0.
///
/// ```
/// use std::time::Duration;
/// use ember_stream::window::Windows;
///
/// let minute = Windows::tumbling(Duration::from_secs(60));
/// assert_eq!(minute.windows_of(125_000), vec![(120_000, 180_000)]);
/// let hop = Windows::hopping(Duration::from_secs(60), Duration::from_secs(30));
/// assert_eq!(hop.windows_of(125_000), vec![(120_000, 180_000), (90_000, 150_000)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Windows {
    /// Fixed-size, non-overlapping windows.
    Tumbling {
        /// Window length, ms.
        size: u64,
        /// Alignment offset, ms.
        offset: u64,
    },
    /// Fixed-size windows starting every `advance` ms.
    Hopping {
        /// Window length, ms.
        size: u64,
        /// Distance between window starts, ms (`<= size`).
        advance: u64,
        /// Alignment offset, ms.
        offset: u64,
    },
    /// Record-defined windows `[t - size, t]`.
    Sliding {
        /// Maximum time difference between two records of a window, ms.
        size: u64,
    },
    /// Per-key activity sessions.
    Session {
        /// Inactivity gap, ms.
        gap: u64,
    },
    /// Every `size` events of a key.
    Count {
        /// Events per window.
        size: u64,
    },
    /// Every `slide` events of a key, a window over its last `size` events.
    CountSliding {
        /// Most events per window.
        size: u64,
        /// Events between two firings.
        slide: u64,
    },
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Windows {
    /// Tumbling windows of `size` (millisecond resolution).
    #[must_use]
    pub fn tumbling(size: Duration) -> Self {
        Windows::Tumbling {
            size: ms(size),
            offset: 0,
        }
    }

    /// Hopping windows of `size` starting every `advance` (Kafka `TimeWindows.advanceBy`, Flink's
    /// sliding event-time windows).
    #[must_use]
    pub fn hopping(size: Duration, advance: Duration) -> Self {
        Windows::Hopping {
            size: ms(size),
            advance: ms(advance),
            offset: 0,
        }
    }

    /// Kafka Streams sliding windows: a window `[t - max_difference, t]` for each record time `t`.
    #[must_use]
    pub fn sliding(max_difference: Duration) -> Self {
        Windows::Sliding {
            size: ms(max_difference),
        }
    }

    /// Session windows closing after `gap` of inactivity.
    #[must_use]
    pub fn session(gap: Duration) -> Self {
        Windows::Session { gap: ms(gap) }
    }

    /// Count windows of `n` events per key.
    #[must_use]
    pub fn count(n: u64) -> Self {
        Windows::Count { size: n }
    }

    /// Sliding count windows, as Flink's `countWindow(size, slide)`: every `slide` events of a key
    /// fire a window over that key's last `size` events (arrival order, no time semantics). As in
    /// Flink the first windows of a key hold fewer than `size` events (those it has seen so far
    /// when `slide < size`); with `slide > size` the events in between are skipped; with
    /// `slide == size` they are the tumbling [`count`](Windows::count) windows.
    ///
    /// A window's `start` and `end` are the smallest and largest timestamp of its events.
    ///
    /// ```
    /// use ember_stream::window::{Windower, Windows};
    /// // Moving sum of the last 3 readings of each sensor, every 2 readings.
    /// let mut w = Windower::builder(Windows::count_sliding(3, 2))
    ///     .sum(|v: &u32| *v)
    ///     .build()
    ///     .unwrap();
    /// w.push_all([("s1", 1, 10), ("s1", 2, 20), ("s1", 3, 30), ("s1", 4, 40), ("s1", 5, 50)]).unwrap();
    /// let sums: Vec<_> = w.take_results().iter().map(|r| (r.start, r.end, r.value)).collect();
    /// assert_eq!(sums, vec![(1, 2, 30), (2, 4, 90)]);
    /// ```
    #[must_use]
    pub fn count_sliding(size: u64, slide: u64) -> Self {
        Windows::CountSliding { size, slide }
    }

    /// Shifts the alignment of tumbling and hopping windows (ignored by the others).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::Windows;
    /// let w = Windows::tumbling(Duration::from_secs(10)).with_offset(Duration::from_secs(3));
    /// assert_eq!(w.windows_of(14_000), vec![(13_000, 23_000)]);
    /// ```
    #[must_use]
    pub fn with_offset(self, offset: Duration) -> Self {
        match self {
            Windows::Tumbling { size, .. } => Windows::Tumbling {
                size,
                offset: ms(offset),
            },
            Windows::Hopping { size, advance, .. } => Windows::Hopping {
                size,
                advance,
                offset: ms(offset),
            },
            other => other,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidConfig(m.to_string()));
        match *self {
            Windows::Tumbling { size: 0, .. } => bad("tumbling window size must be at least 1 ms"),
            Windows::Hopping { size: 0, .. } => bad("hopping window size must be at least 1 ms"),
            Windows::Hopping { advance: 0, .. } => bad("hopping advance must be at least 1 ms"),
            Windows::Hopping { size, advance, .. } if advance > size => {
                bad("hopping advance must not exceed the window size")
            }
            Windows::Session { gap: 0 } => bad("session gap must be at least 1 ms"),
            Windows::Count { size: 0 } | Windows::CountSliding { size: 0, .. } => {
                bad("count windows need at least 1 event")
            }
            Windows::CountSliding { slide: 0, .. } => {
                bad("count windows must slide by at least 1 event")
            }
            _ => Ok(()),
        }
    }

    /// The fixed-grid windows `(start, end)` (end exclusive) an event at `t` belongs to, latest first;
    /// empty for sliding, session and count windows, whose bounds depend on the other events.
    #[must_use]
    pub fn windows_of(&self, t: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        match *self {
            Windows::Tumbling { size, offset } => {
                aligned_windows(t, size, size, offset, |s, e| out.push((s, e)))
            }
            Windows::Hopping {
                size,
                advance,
                offset,
            } => aligned_windows(t, size, advance, offset, |s, e| out.push((s, e))),
            _ => {}
        }
        out
    }
}

/// Calls `f(start, end)` for every grid window containing `t`, latest start first. Starts are clamped
/// at 0 and ends at `u64::MAX`.
#[inline]
pub(crate) fn aligned_windows(
    t: u64,
    size: u64,
    advance: u64,
    offset: u64,
    mut f: impl FnMut(u64, u64),
) {
    if size == 0 || advance == 0 {
        return;
    }
    let (t, size, adv, off) = (
        i128::from(t),
        i128::from(size),
        i128::from(advance),
        i128::from(offset),
    );
    let mut s = t - (t - off).rem_euclid(adv);
    while s + size > t {
        let start = s.max(0) as u64;
        let end = (s + size).min(i128::from(u64::MAX)) as u64;
        f(start, end);
        s -= adv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_alignment_and_edges() {
        let w = Windows::Tumbling {
            size: 10,
            offset: 0,
        };
        assert_eq!(w.windows_of(0), vec![(0, 10)]);
        assert_eq!(w.windows_of(9), vec![(0, 10)]);
        assert_eq!(w.windows_of(10), vec![(10, 20)]);
        let off = Windows::Tumbling {
            size: 10,
            offset: 3,
        };
        assert_eq!(off.windows_of(2), vec![(0, 3)], "negative start clamped");
        assert_eq!(off.windows_of(3), vec![(3, 13)]);
        assert_eq!(
            w.windows_of(u64::MAX),
            vec![(u64::MAX - u64::MAX % 10, u64::MAX)]
        );
    }

    #[test]
    fn hopping_counts() {
        let w = Windows::Hopping {
            size: 10,
            advance: 3,
            offset: 0,
        };
        assert_eq!(w.windows_of(10), vec![(9, 19), (6, 16), (3, 13)]);
        assert_eq!(w.windows_of(1), vec![(0, 10), (0, 7), (0, 4)]);
    }

    #[test]
    fn validation() {
        assert!(Windows::tumbling(Duration::ZERO).validate().is_err());
        assert!(
            Windows::hopping(Duration::from_secs(1), Duration::from_secs(2))
                .validate()
                .is_err()
        );
        assert!(Windows::session(Duration::ZERO).validate().is_err());
        assert!(Windows::count(0).validate().is_err());
        assert!(Windows::sliding(Duration::ZERO).validate().is_ok());
    }
}
