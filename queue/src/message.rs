//! What goes in ([`Message`]) and what comes out ([`Delivery`], [`Receipt`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A message's id: unique within its queue, assigned at send, kept through retries, the dead-letter
/// queue and a redrive.
///
/// ```
/// use ember_queue::Queue;
/// let queue: Queue<&str> = Queue::builder().build().unwrap();
/// let id = queue.send("hello").unwrap();
/// assert_eq!(queue.try_receive().unwrap().id(), id);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MessageId(pub(crate) u64);

impl MessageId {
    /// The id as a number (ids grow in send order).
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// A message group id (SQS `MessageGroupId`): messages of one group are delivered one at a time, in
/// order.
pub type GroupId = Arc<str>;

/// A message with its send options: a per-message delay, a group, a deduplication id.
///
/// Plain [`send`](crate::Queue::send) takes just a body; [`send_message`](crate::Queue::send_message)
/// takes this.
///
/// ```
/// use std::time::Duration;
/// use ember_queue::{Message, Queue};
/// let queue: Queue<&str> = Queue::builder().build().unwrap();
/// queue
///     .send_message(
///         Message::new("charge order 7")
///             .group("customer-42")
///             .dedup_id("order-7")
///             .delay(Duration::ZERO),
///     )
///     .unwrap();
/// let d = queue.try_receive().unwrap();
/// assert_eq!(d.group().map(|g| &**g), Some("customer-42"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T> {
    pub(crate) body: T,
    pub(crate) delay: Option<Duration>,
    pub(crate) group: Option<GroupId>,
    pub(crate) dedup_id: Option<Arc<str>>,
}

impl<T> Message<T> {
    /// A message with the queue's default options.
    pub fn new(body: T) -> Self {
        Message {
            body,
            delay: None,
            group: None,
            dedup_id: None,
        }
    }

    /// Delivers the message no earlier than `delay` after it is sent, overriding the queue's delay.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Puts the message in a group: within a group, messages are delivered strictly in send order and
    /// only one at a time (the next waits until the one in flight is acked or dead-lettered).
    #[must_use]
    pub fn group(mut self, group: impl Into<GroupId>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Sets a deduplication id: another message with the same id sent within the queue's deduplication
    /// window is accepted but not enqueued again.
    #[must_use]
    pub fn dedup_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.dedup_id = Some(id.into());
        self
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &T {
        &self.body
    }

    /// Takes the body out.
    #[must_use]
    pub fn into_body(self) -> T {
        self.body
    }
}

/// Proof of a lease: the handle to [`ack`](crate::Queue::ack), [`nack`](crate::Queue::nack) or
/// [`extend`](crate::Queue::extend) one delivery.
///
/// Each delivery gets a new receipt. Once the lease ends (acked, nacked, timed out) the receipt is
/// stale, and using it is an [`Error::StaleReceipt`](crate::Error::StaleReceipt): a consumer that was too
/// slow cannot delete a message that was meanwhile redelivered to someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Receipt {
    pub(crate) queue: u32,
    pub(crate) slot: u32,
    pub(crate) lease: u64,
    pub(crate) id: MessageId,
}

impl Receipt {
    /// The id of the message this receipt leases.
    #[must_use]
    pub fn message_id(&self) -> MessageId {
        self.id
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@q{}.{}.{}",
            self.id, self.queue, self.slot, self.lease
        )
    }
}

/// A received message: its body and what SQS reports with it.
///
/// ```
/// use ember_queue::Queue;
/// let queue: Queue<String> = Queue::builder().build().unwrap();
/// queue.send("resize 17.jpg".to_string()).unwrap();
/// let d = queue.try_receive().unwrap();
/// assert_eq!(d.body(), "resize 17.jpg");
/// assert_eq!(d.receive_count(), 1);
/// queue.ack(d.receipt()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Delivery<T> {
    pub(crate) receipt: Receipt,
    pub(crate) body: T,
    pub(crate) receive_count: u32,
    pub(crate) sent_unix_ms: u64,
    pub(crate) group: Option<GroupId>,
    pub(crate) last_error: Option<Arc<str>>,
}

impl<T> Delivery<T> {
    /// The receipt for `ack`, `nack` and `extend`.
    #[must_use]
    pub fn receipt(&self) -> Receipt {
        self.receipt
    }

    /// The message id.
    #[must_use]
    pub fn id(&self) -> MessageId {
        self.receipt.id
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &T {
        &self.body
    }

    /// Takes the body out (keep the [`receipt`](Delivery::receipt) first if you still need to ack).
    #[must_use]
    pub fn into_body(self) -> T {
        self.body
    }

    /// How many times the message has been received, this delivery included (SQS
    /// `ApproximateReceiveCount`, exact here). Above 1 means it is a redelivery.
    #[must_use]
    pub fn receive_count(&self) -> u32 {
        self.receive_count
    }

    /// When the message was first sent, in milliseconds since the Unix epoch by the queue's clock (SQS
    /// `SentTimestamp`). Retries and redrives keep it. It is the clock's coarse wall time
    /// ([`Clock::coarse_unix_millis`](ember_core::Clock::coarse_unix_millis)): exact with a
    /// `ManualClock`; with the system clock it is never late and usually at most a kernel tick (a few
    /// ms) early (tens of ms when a loaded virtual machine delays the tick).
    #[must_use]
    pub fn sent_unix_ms(&self) -> u64 {
        self.sent_unix_ms
    }

    /// The message group, if it was sent with one.
    #[must_use]
    pub fn group(&self) -> Option<&GroupId> {
        self.group.as_ref()
    }

    /// The error text of the last [`nack_with_error`](crate::Queue::nack_with_error), on a redelivery.
    #[must_use]
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

/// A message as the queue holds it, wherever it is (inbox, ready, delayed, leased, waiting in a group).
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) id: u64,
    /// Position in send order (a redrive gives a new one): visible messages are delivered by it.
    pub(crate) seq: u64,
    pub(crate) body: T,
    /// Not visible before this instant; `None` means visible at once (no clock read needed).
    pub(crate) visible_at: Option<Instant>,
    pub(crate) sent_unix_ms: u64,
    pub(crate) receive_count: u32,
    pub(crate) group: Option<GroupId>,
    pub(crate) last_error: Option<Arc<str>>,
}
