//! The stats convention every Ember component follows.
//!
//! A component has a `stats(&self) -> XxxStats` method returning a plain snapshot struct: public fields,
//! `Clone + Debug`, [`Display`](std::fmt::Display) as one line of `name=value` pairs (easy to log), and
//! `serde::Serialize` when the `serde` feature is on (the default), so it can be exported as JSON or
//! to a metrics system. Counters only grow; gauges (current depth, holders) are read at snapshot time.
//! [`Snapshot`] names that contract; [`write_fields`] and [`ratio`] keep the formatting uniform.
//!
//! ```
//! use std::fmt;
//! use ember_core::stats::{ratio, write_fields, Snapshot};
//!
//! #[derive(Debug, Clone, Default)]
//! #[cfg_attr(feature = "serde", derive(serde::Serialize))]
//! struct HitStats { hits: u64, misses: u64 }
//!
//! impl fmt::Display for HitStats {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
//!         let hit_ratio = ratio(self.hits, self.hits + self.misses);
//!         write_fields(f, &[("hits", &self.hits), ("misses", &self.misses), ("hit_ratio", &hit_ratio)])
//!     }
//! }
//! impl Snapshot for HitStats {}
//!
//! let s = HitStats { hits: 3, misses: 1 };
//! assert_eq!(s.to_string(), "hits=3 misses=1 hit_ratio=0.7500");
//! ```

use std::fmt;

/// The bound every stats snapshot meets: see the [module docs](self).
///
/// `serde::Serialize` is not part of the bound (cargo unifies features across a build, so a bound that
/// changed with ember-core's `serde` feature would break a crate built without its own `serde` feature);
/// every Ember snapshot implements it when its crate's `serde` feature is on, which is the default.
pub trait Snapshot: Clone + fmt::Debug + fmt::Display {}

/// Writes `name=value` pairs separated by single spaces.
///
/// # Errors
/// Only the formatter's.
pub fn write_fields(
    f: &mut fmt::Formatter<'_>,
    fields: &[(&str, &dyn fmt::Display)],
) -> fmt::Result {
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{name}={value}")?;
    }
    Ok(())
}

/// A ratio shown with four decimals; 0 when the denominator is 0.
///
/// ```
/// assert_eq!(ember_core::stats::ratio(1, 3).to_string(), "0.3333");
/// assert_eq!(ember_core::stats::ratio(1, 0).value(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Ratio(f64);

impl Ratio {
    /// The ratio as a float in `0.0..=1.0` (for a share) or beyond.
    pub fn value(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.4}", self.0)
    }
}

/// `num / den` as a [`Ratio`], 0 when `den` is 0.
pub fn ratio(num: u64, den: u64) -> Ratio {
    if den == 0 {
        Ratio(0.0)
    } else {
        Ratio(num as f64 / den as f64)
    }
}
