//! # ember-queue
//!
//! An in-process work queue with Amazon SQS's delivery semantics: what SQS, RabbitMQ work queues and
//! Redis lists are used for (absorbing bursts, spreading expensive jobs such as image processing over
//! workers), as a library, with every timeout driven by an injectable [`Clock`](ember_core::Clock).
//!
//! ```
//! use std::time::Duration;
//! use ember_core::ManualClock;
//! use ember_queue::{NackOutcome, Queue, RetryPolicy};
//!
//! let clock = ManualClock::new();
//! let queue: Queue<String> = Queue::builder()
//!     .capacity(1000)
//!     .visibility_timeout(Duration::from_secs(30))
//!     .retry(RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60)))
//!     .max_receives(3)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! queue.send("resize photo-17.jpg".to_string())?;
//! let job = queue.try_receive()?;
//! assert_eq!(job.body(), "resize photo-17.jpg");
//!
//! // The worker fails: the message comes back after the retry delay, with the error recorded.
//! let outcome = queue.nack_with_error(job.receipt(), "storage timed out")?;
//! assert_eq!(outcome, NackOutcome::Retry { delay: Duration::from_secs(1) });
//! assert!(queue.try_receive().is_err());
//! clock.advance(Duration::from_secs(1));
//!
//! let again = queue.try_receive()?;
//! assert_eq!(again.receive_count(), 2);
//! assert_eq!(again.last_error(), Some("storage timed out"));
//! queue.ack(again.receipt())?;
//! assert_eq!(queue.stats().acks, 1);
//! # Ok::<(), ember_queue::Error>(())
//! ```
//!
//! ## Semantics
//!
//! - **At least once.** [`receive`](Queue::receive) *leases* a message for the visibility timeout
//!   (default 30 s): it stays in the queue, invisible to other consumers. [`ack`](Queue::ack) deletes
//!   it. If the lease ends without an ack (the consumer crashed, hung, or was slow), the message becomes
//!   visible again at the deadline and is redelivered with a higher receive count. A consumer that
//!   needs longer calls [`extend`](Queue::extend). [`nack`](Queue::nack) gives a message back at once;
//!   it is visible again after the [`RetryPolicy`]'s delay (fixed, exponential with a cap, with or
//!   without jitter). Once a message is delivered again, the receipt of the earlier delivery is
//!   stale: acking, nacking or extending with it fails with [`Error::StaleReceipt`], so a slow consumer
//!   can never delete a message that was meanwhile redelivered to someone else. As in SQS, a lease
//!   whose deadline passed is ended when the queue next looks (at the next receive, or `stats()`);
//!   until then its receipt still works, and an ack deletes the message exactly once.
//! - **Dead letters.** With [`max_receives`](QueueBuilder::max_receives) set, a message whose
//!   `max_receives`-th lease ends without an ack moves to the [dead-letter queue](DeadLetters), with
//!   its attempt count, the last error text and the reason. The DLQ can be inspected and redriven back
//!   (all, by id, or by predicate). Nothing is ever dropped silently: every message sent is in the queue
//!   (visible, delayed, in flight, or waiting in its group), in the DLQ, acked, or was handed back to
//!   the caller (a failed send returns the message; a DLQ `take` returns it).
//! - **Order.** Visible messages are delivered in send order (a retried message keeps its place).
//!   [Message groups](Message::group) are SQS FIFO's `MessageGroupId`: within a group, strict order and
//!   at most one message in flight; different groups proceed in parallel.
//! - **Deduplication.** A message whose [dedup id](Message::dedup_id) was seen within the
//!   [dedup window](QueueBuilder::dedup_window) (default 5 minutes, from the first send) is accepted
//!   and not enqueued again; the send returns the original's id.
//! - **Delays.** Per queue ([`delay`](QueueBuilder::delay)) or per message ([`Message::delay`]): the
//!   message is not delivered before the delay has passed.
//! - **Backpressure.** The queue holds at most [`capacity`](QueueBuilder::capacity) messages (visible,
//!   delayed, in flight, waiting in a group). [`send`](Queue::send) waits for room,
//!   [`send_timeout`](Queue::send_timeout) gives up, [`try_send`](Queue::try_send) refuses at once and
//!   hands the message back; under [`FullPolicy::Reject`] `send` refuses too.
//! - **Shutdown.** [`close`](Queue::close) stops sends; consumers drain what is left, then receive
//!   [`Error::Closed`].
//! - **Partitions.** A [`PartitionedQueue`] spreads messages over N queues by key with ember-core's
//!   partitioner; per-key order holds.
//! - **Time.** Blocking calls wait on an [`ember_core::Signal`], so advancing a
//!   [`ManualClock`](ember_core::ManualClock) wakes a receiver whose timeout, or whose delayed or leased
//!   message, is due: tests never sleep.
//! - **`no_ack` mode.** [`no_ack`](QueueBuilder::no_ack) deletes a message as it is received
//!   (at most once), for fire-and-forget work where a lease is not worth its cost.
//!
//! ## Performance
//!
//! Plain messages (no delay, no group, no dedup id) are sent without a lock: a send reserves its id
//! and its place in the capacity with one compare-and-swap and pushes the message into a bounded
//! lock-free queue (crossbeam's `ArrayQueue`); consumers, under their lock, merge it with the
//! other messages by send order. Other messages go through the producers' lock (consumers take that
//! inbox in one swap); the wake-up path writes no shared cache line unless someone sleeps. A send reads the clock's
//! coarse wall time (the message's sent time: exact with a `ManualClock`, within about one kernel
//! tick with the system clock, see [`Clock::coarse_unix_millis`](ember_core::Clock::coarse_unix_millis)),
//! a leasing receive reads the exact monotonic time (so a lease never ends early), an ack reads no
//! clock. Batches ([`send_batch`](Queue::send_batch), [`receive_batch`](Queue::receive_batch),
//! [`ack_batch`](Queue::ack_batch)) amortize locks and clock reads. See `BENCHMARKS.md` for the
//! figures against `crossbeam-channel`.
//!
//! Unlike SQS, nothing expires by age (there is no retention period): a message stays until it is
//! acked, dead-lettered or taken. Content-based deduplication is not built in: derive the dedup id from
//! the body yourself.
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod dlq;
#[cfg(feature = "durable")]
mod durable;
mod error;
mod group;
mod message;
mod partitioned;
mod queue;
mod retry;
mod state;
mod stats;
mod visibility;

pub use dlq::{DeadLetter, DeadLetterReason, DeadLetters};
#[cfg(feature = "durable")]
pub use durable::DurableQueue;
/// The fsync policy of a [`DurableQueue`]'s log (re-exported from `ember-log`).
#[cfg(feature = "durable")]
pub use ember_log::FsyncPolicy;
pub use error::{Error, Result, SendBatchError, SendError};
pub use message::{Delivery, GroupId, Message, MessageId, Receipt};
pub use partitioned::{PartitionedQueue, PartitionedQueueBuilder};
pub use queue::{FullPolicy, MAX_VISIBILITY_TIMEOUT, Queue, QueueBuilder};
pub use retry::{Jitter, RetryPolicy};
pub use state::NackOutcome;
pub use stats::QueueStats;
