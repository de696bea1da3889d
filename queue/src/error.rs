//! The crate's error type and the send errors that hand the message back.

use std::fmt;
use std::time::Duration;

use crate::message::MessageId;

/// Everything that can go wrong in ember-queue.
///
/// Sending has its own wrappers, [`SendError`] and [`SendBatchError`], which carry this error *and* the
/// message(s) that were not enqueued, so nothing the caller gave is lost. Convert them with `?` (or
/// [`From`]) when you do not need the message back.
///
/// ```
/// use ember_queue::{Error, Queue};
/// let queue: Queue<u32> = Queue::builder().build().unwrap();
/// assert_eq!(queue.try_receive().unwrap_err(), Error::Empty);
/// queue.close();
/// assert_eq!(queue.try_receive().unwrap_err(), Error::Closed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The queue holds `capacity` messages and the call could not wait (`try_send`, or the
    /// [`FullPolicy::Reject`](crate::FullPolicy::Reject) policy).
    #[error("queue is full")]
    Full,
    /// The call's timeout passed before it could complete.
    #[error("timed out")]
    Timeout,
    /// `try_receive` found no visible message (the queue may still hold delayed or in-flight ones).
    #[error("no visible message")]
    Empty,
    /// The queue was closed: no more sends; for receives, the queue is also drained (nothing visible,
    /// delayed or in flight is left).
    #[error("queue is closed")]
    Closed,
    /// The receipt does not name a current lease of this queue: the lease ended at its visibility
    /// timeout (the message is visible again, or was redelivered to someone else), it was already
    /// acked, nacked or dead-lettered, or the receipt belongs to another queue.
    #[error("stale receipt for message {0}: the lease expired, was settled, or is another queue's")]
    StaleReceipt(MessageId),
    /// The queue was built with [`no_ack`](crate::QueueBuilder::no_ack): messages are deleted when they
    /// are received, so there is nothing to ack, nack or extend.
    #[error("the queue is in no_ack mode: messages are deleted when received")]
    NoAck,
    /// A visibility timeout above [`MAX_VISIBILITY_TIMEOUT`](crate::MAX_VISIBILITY_TIMEOUT) (12 hours, as
    /// in SQS).
    #[error("visibility timeout {0:?} is above the 12 hour maximum")]
    InvalidVisibility(Duration),
    /// A builder setting is out of range; the text says which.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The durable mode's on-disk log failed (I/O, or corruption: the text names file and byte
    /// position). See [`DurableQueue`](crate::DurableQueue).
    #[error("durable storage failed: {0}")]
    Storage(String),
}

/// The result type of ember-queue.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A send that did not enqueue its message: the [`Error`] and the message, handed back.
///
/// `M` is what was passed: the body `T` for [`send`](crate::Queue::send) and friends, a
/// [`Message<T>`](crate::Message) for [`send_message`](crate::Queue::send_message).
///
/// ```
/// use ember_queue::{Error, Queue};
/// let queue: Queue<&str> = Queue::builder().capacity(1).build().unwrap();
/// queue.try_send("first").unwrap();
/// let err = queue.try_send("second").unwrap_err();
/// assert_eq!(*err.error(), Error::Full);
/// assert_eq!(err.into_message(), "second"); // nothing lost
/// ```
pub struct SendError<M> {
    error: Error,
    message: M,
}

impl<M> SendError<M> {
    pub(crate) fn new(error: Error, message: M) -> Self {
        SendError { error, message }
    }

    /// Why the message was not enqueued: [`Error::Full`], [`Error::Timeout`] or [`Error::Closed`].
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The message that was not enqueued.
    #[must_use]
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Takes the message back.
    #[must_use]
    pub fn into_message(self) -> M {
        self.message
    }

    /// Splits into the error and the message.
    #[must_use]
    pub fn into_parts(self) -> (Error, M) {
        (self.error, self.message)
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message not sent: {}", self.error)
    }
}

impl<M> std::error::Error for SendError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<M> From<SendError<M>> for Error {
    fn from(e: SendError<M>) -> Self {
        e.error
    }
}

/// A [`send_batch`](crate::Queue::send_batch) that stopped part way: the ids of the messages that were
/// enqueued (in order), the error, and every message that was not, in order.
///
/// ```
/// use ember_queue::{Error, FullPolicy, Queue};
/// let queue: Queue<u8> = Queue::builder().capacity(2).when_full(FullPolicy::Reject).build().unwrap();
/// let err = queue.send_batch([1, 2, 3, 4]).unwrap_err();
/// assert_eq!(err.sent().len(), 2);
/// assert_eq!(*err.error(), Error::Full);
/// assert_eq!(err.into_unsent(), vec![3, 4]);
/// ```
pub struct SendBatchError<M> {
    error: Error,
    sent: Vec<MessageId>,
    unsent: Vec<M>,
}

impl<M> SendBatchError<M> {
    pub(crate) fn new(error: Error, sent: Vec<MessageId>, unsent: Vec<M>) -> Self {
        SendBatchError {
            error,
            sent,
            unsent,
        }
    }

    pub(crate) fn into_fields(self) -> (Error, Vec<MessageId>, Vec<M>) {
        (self.error, self.sent, self.unsent)
    }

    /// Why the batch stopped.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Ids of the messages that were enqueued before the batch stopped.
    #[must_use]
    pub fn sent(&self) -> &[MessageId] {
        &self.sent
    }

    /// The messages that were not enqueued, in the order given.
    #[must_use]
    pub fn into_unsent(self) -> Vec<M> {
        self.unsent
    }
}

impl<M> fmt::Debug for SendBatchError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBatchError")
            .field("error", &self.error)
            .field("sent", &self.sent.len())
            .field("unsent", &self.unsent.len())
            .finish()
    }
}

impl<M> fmt::Display for SendBatchError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch stopped after {} message(s), {} not sent: {}",
            self.sent.len(),
            self.unsent.len(),
            self.error
        )
    }
}

impl<M> std::error::Error for SendBatchError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<M> From<SendBatchError<M>> for Error {
    fn from(e: SendBatchError<M>) -> Self {
        e.error
    }
}
