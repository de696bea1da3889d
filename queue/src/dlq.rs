//! The dead-letter queue: where messages go when they used up their receives, and how they come back.

use std::fmt;

use crate::error::Result;
use crate::message::{GroupId, MessageId};
use crate::queue::Queue;
use crate::state;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// Its last receive was nacked.
    Nacked,
    /// Its last receive was neither acked nor nacked before the visibility timeout.
    VisibilityTimeout,
    /// Its last receive was given up with `extend(receipt, 0)`.
    Released,
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterReason::Nacked => "nacked",
            DeadLetterReason::VisibilityTimeout => "visibility timeout",
            DeadLetterReason::Released => "released",
        })
    }
}

/// A message in the dead-letter queue, with the record of how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter<T> {
    /// The message id (kept if it is redriven).
    pub id: MessageId,
    /// The body.
    pub body: T,
    /// How many times it was received.
    pub attempts: u32,
    /// The error text of the last `nack_with_error`, if any.
    pub last_error: Option<String>,
    /// What ended its last attempt.
    pub reason: DeadLetterReason,
    /// Its message group, if any.
    pub group: Option<GroupId>,
    /// When it was first sent (Unix milliseconds, queue clock).
    pub sent_unix_ms: u64,
    /// When it was dead-lettered (Unix milliseconds, queue clock).
    pub dead_lettered_unix_ms: u64,
}

/// A handle to a queue's dead-letter queue: inspect, redrive, or take messages out.
///
/// A message moves here when a lease ends without an ack (nack, visibility timeout) after its
/// [`max_receives`](crate::QueueBuilder::max_receives)-th receive. Nothing leaves it by itself: a dead
/// letter stays until it is redriven to the queue ([`redrive_all`](DeadLetters::redrive_all),
/// [`redrive`](DeadLetters::redrive), [`redrive_if`](DeadLetters::redrive_if), like SQS's
/// dead-letter queue redrive) or taken out by the caller ([`take`](DeadLetters::take),
/// [`take_all`](DeadLetters::take_all)).
///
/// A redriven message goes to the tail of the queue with the same id, its original send time, and
/// its receive count reset to 0 (it gets `max_receives` new attempts). Redrive ignores the capacity,
/// so messages that were already accepted once are never refused.
///
/// ```
/// use ember_queue::Queue;
/// let queue: Queue<&str> = Queue::builder().max_receives(1).build().unwrap();
/// let id = queue.send("thumbnail corrupt.png").unwrap();
/// let d = queue.try_receive().unwrap();
/// queue.nack_with_error(d.receipt(), "unsupported format").unwrap();
///
/// let dlq = queue.dead_letters();
/// let letter = dlq.peek().unwrap();
/// assert_eq!((letter.id, letter.attempts), (id, 1));
/// assert_eq!(letter.last_error.as_deref(), Some("unsupported format"));
///
/// // After deploying a fix: move it back.
/// assert_eq!(dlq.redrive_all().unwrap(), 1);
/// assert!(dlq.is_empty());
/// assert_eq!(queue.try_receive().unwrap().receive_count(), 1);
/// ```
#[derive(Debug)]
pub struct DeadLetters<T> {
    queue: Queue<T>,
}

impl<T> Clone for DeadLetters<T> {
    fn clone(&self) -> Self {
        DeadLetters {
            queue: self.queue.clone(),
        }
    }
}

impl<T> DeadLetters<T> {
    pub(crate) fn new(queue: Queue<T>) -> Self {
        DeadLetters { queue }
    }

    /// How many messages are dead-lettered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.inner.dead.lock().len()
    }

    /// Whether the dead-letter queue is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the oldest dead letter.
    #[must_use]
    pub fn peek(&self) -> Option<DeadLetter<T>>
    where
        T: Clone,
    {
        self.queue.inner.dead.lock().front().cloned()
    }

    /// A copy of the dead letter with this id.
    #[must_use]
    pub fn get(&self, id: MessageId) -> Option<DeadLetter<T>>
    where
        T: Clone,
    {
        self.queue
            .inner
            .dead
            .lock()
            .iter()
            .find(|l| l.id == id)
            .cloned()
    }

    /// Copies of every dead letter, oldest first.
    #[must_use]
    pub fn list(&self) -> Vec<DeadLetter<T>>
    where
        T: Clone,
    {
        self.queue.inner.dead.lock().iter().cloned().collect()
    }

    /// Moves every dead letter back to the queue; returns how many moved.
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) if the queue is closed (nothing moves).
    pub fn redrive_all(&self) -> Result<usize> {
        state::redrive(&self.queue.inner, |_| true)
    }

    /// Moves the dead letters with these ids back to the queue; returns how many moved (ids not in the
    /// dead-letter queue are ignored).
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) if the queue is closed (nothing moves).
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize> {
        state::redrive(&self.queue.inner, |l| ids.contains(&l.id))
    }

    /// Moves the dead letters `select` picks back to the queue; returns how many moved.
    ///
    /// ```
    /// use ember_queue::Queue;
    /// let queue: Queue<u32> = Queue::builder().max_receives(1).build().unwrap();
    /// for n in 0..4 {
    ///     queue.send(n).unwrap();
    ///     let d = queue.try_receive().unwrap();
    ///     queue.nack(d.receipt()).unwrap();
    /// }
    /// assert_eq!(queue.dead_letters().redrive_if(|l| l.body % 2 == 0).unwrap(), 2);
    /// assert_eq!(queue.dead_letters().len(), 2);
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`](crate::Error::Closed) if the queue is closed (nothing moves).
    pub fn redrive_if(&self, select: impl FnMut(&DeadLetter<T>) -> bool) -> Result<usize> {
        state::redrive(&self.queue.inner, select)
    }

    /// Takes the dead letter with this id out, for good (to archive it, or to handle it by hand).
    pub fn take(&self, id: MessageId) -> Option<DeadLetter<T>> {
        state::take_dead_letters(&self.queue.inner, |l| l.id == id)
            .into_iter()
            .next()
    }

    /// Takes every dead letter out, for good, oldest first.
    pub fn take_all(&self) -> Vec<DeadLetter<T>> {
        state::take_dead_letters(&self.queue.inner, |_| true)
    }
}
