//! The window module's error type.

use std::fmt;

use super::event::Event;

/// Why a window operator could not be built or refused an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A window or operator parameter is out of range (a zero size, an advance larger than the size…).
    #[error("invalid window configuration: {0}")]
    InvalidConfig(String),
    /// Session windows merge accumulators when a record bridges two sessions; the aggregator given
    /// cannot merge (a plain `aggregate(init, fold)` without a merge function).
    #[error(
        "session windows need an aggregator that can merge accumulators (use aggregate_with_merge)"
    )]
    MergeRequired,
    /// The event names a partition outside the declared range.
    #[error("partition {partition} out of range: {partitions} partitions")]
    PartitionOutOfRange {
        /// The partition the event named.
        partition: u32,
        /// How many partitions the operator accepts.
        partitions: u32,
    },
}

/// The module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An event the operator refused, handed back with the reason: nothing the caller gave is lost.
///
/// ```
/// use ember_stream::window::{Error, Event, Windower, Windows};
/// use std::time::Duration;
///
/// let mut w = Windower::<&str, u32>::builder(Windows::tumbling(Duration::from_secs(1)))
///     .partitions(2)
///     .build()
///     .unwrap();
/// let rejected = w.push(Event::new("k", 10, 1).with_partition(7)).unwrap_err();
/// assert_eq!(rejected.event.value, 1);
/// assert!(matches!(rejected.error, Error::PartitionOutOfRange { partition: 7, partitions: 2 }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected<K, V> {
    /// The event, unchanged.
    pub event: Event<K, V>,
    /// Why it was refused.
    pub error: Error,
}

impl<K, V> fmt::Display for Rejected<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event at {} ms rejected: {}",
            self.event.timestamp, self.error
        )
    }
}

impl<K: fmt::Debug, V: fmt::Debug> std::error::Error for Rejected<K, V> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
