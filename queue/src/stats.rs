//! The `stats()` snapshot of a queue.

use std::fmt;

use ember_core::stats::{Snapshot, write_fields};

/// A snapshot of a queue: gauges (what it holds now) and counters (since it was built).
///
/// The gauges partition the messages the queue holds: `visible + delayed + in_flight +
/// waiting_in_groups` messages count against the capacity; `dead_letters` are held apart.
///
/// ```
/// use ember_queue::Queue;
/// let queue: Queue<u8> = Queue::builder().build().unwrap();
/// queue.send(1).unwrap();
/// queue.send(2).unwrap();
/// let d = queue.try_receive().unwrap();
/// let s = queue.stats();
/// assert_eq!((s.visible, s.in_flight, s.sends, s.receives), (1, 1, 2, 1));
/// assert!(s.to_string().starts_with("visible=1 delayed=0 in_flight=1"));
/// # let _ = d;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct QueueStats {
    /// Messages that can be received now.
    pub visible: u64,
    /// Messages not visible yet: a send delay or a retry backoff.
    pub delayed: u64,
    /// Messages leased to a consumer (received, not yet acked, nacked or timed out).
    pub in_flight: u64,
    /// Messages waiting behind the head of their message group.
    pub waiting_in_groups: u64,
    /// Message groups with a message in the queue.
    pub active_groups: u64,
    /// Messages in the dead-letter queue.
    pub dead_letters: u64,
    /// The capacity (messages held, dead letters excluded).
    pub capacity: u64,
    /// Messages enqueued by a send (duplicates excluded).
    pub sends: u64,
    /// Sends accepted as duplicates of a message sent within the deduplication window.
    pub deduplicated: u64,
    /// Deliveries (first deliveries and redeliveries).
    pub receives: u64,
    /// Deliveries of a message that had been delivered before.
    pub redeliveries: u64,
    /// Messages acked (deleted).
    pub acks: u64,
    /// Nacks.
    pub nacks: u64,
    /// Leases that reached their visibility timeout.
    pub expired: u64,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: u64,
    /// Messages moved back from the dead-letter queue.
    pub redriven: u64,
    /// Age of the oldest message held (by first send time), in milliseconds; 0 when empty.
    pub oldest_age_ms: u64,
    /// Whether the queue was closed.
    pub closed: bool,
}

impl QueueStats {
    /// Messages held against the capacity: visible, delayed, in flight, and waiting in groups.
    #[must_use]
    pub fn depth(&self) -> u64 {
        self.visible + self.delayed + self.in_flight + self.waiting_in_groups
    }

    /// Adds another snapshot's figures to this one (used for partitioned queues; `oldest_age_ms` is the
    /// maximum, `closed` true if any is).
    pub fn merge(&mut self, other: &QueueStats) {
        self.visible += other.visible;
        self.delayed += other.delayed;
        self.in_flight += other.in_flight;
        self.waiting_in_groups += other.waiting_in_groups;
        self.active_groups += other.active_groups;
        self.dead_letters += other.dead_letters;
        self.capacity += other.capacity;
        self.sends += other.sends;
        self.deduplicated += other.deduplicated;
        self.receives += other.receives;
        self.redeliveries += other.redeliveries;
        self.acks += other.acks;
        self.nacks += other.nacks;
        self.expired += other.expired;
        self.dead_lettered += other.dead_lettered;
        self.redriven += other.redriven;
        self.oldest_age_ms = self.oldest_age_ms.max(other.oldest_age_ms);
        self.closed |= other.closed;
    }
}

impl fmt::Display for QueueStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_fields(
            f,
            &[
                ("visible", &self.visible),
                ("delayed", &self.delayed),
                ("in_flight", &self.in_flight),
                ("waiting_in_groups", &self.waiting_in_groups),
                ("active_groups", &self.active_groups),
                ("dead_letters", &self.dead_letters),
                ("capacity", &self.capacity),
                ("sends", &self.sends),
                ("deduplicated", &self.deduplicated),
                ("receives", &self.receives),
                ("redeliveries", &self.redeliveries),
                ("acks", &self.acks),
                ("nacks", &self.nacks),
                ("expired", &self.expired),
                ("dead_lettered", &self.dead_lettered),
                ("redriven", &self.redriven),
                ("oldest_age_ms", &self.oldest_age_ms),
                ("closed", &self.closed),
            ],
        )
    }
}

impl Snapshot for QueueStats {}
