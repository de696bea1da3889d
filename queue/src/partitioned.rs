//! [`PartitionedQueue`]: N queues, messages placed by key, so consumers scale out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ember_core::partition::{HashPartitioner, Partitioner};

use crate::error::{Error, Result, SendError};
use crate::message::{Delivery, GroupId, Message, MessageId, Receipt};
use crate::queue::{Queue, QueueBuilder};
use crate::state::NackOutcome;
use crate::stats::QueueStats;

/// Builds a [`PartitionedQueue`].
#[must_use]
pub struct PartitionedQueueBuilder<T> {
    partitions: u32,
    queue: QueueBuilder<T>,
    partitioner: Option<Box<dyn Partitioner>>,
    group_by_key: bool,
}

impl<T> fmt::Debug for PartitionedQueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedQueueBuilder")
            .field("partitions", &self.partitions)
            .field("queue", &self.queue)
            .field("partitioner", &self.partitioner)
            .field("group_by_key", &self.group_by_key)
            .finish()
    }
}

impl<T> PartitionedQueueBuilder<T> {
    /// The number of partitions. Default 4; at least 1.
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = n;
        self
    }

    /// The configuration of every partition (capacity is per partition). A seed, if set, is varied
    /// per partition.
    pub fn queue(mut self, queue: QueueBuilder<T>) -> Self {
        self.queue = queue;
        self
    }

    /// How keys map to partitions. Default [`HashPartitioner::kafka`] (Kafka's murmur2 placement).
    pub fn partitioner(mut self, partitioner: impl Partitioner + 'static) -> Self {
        self.partitioner = Some(Box::new(partitioner));
        self
    }

    /// Whether a message without its own group is put in a group named after its key (default true).
    /// That is what makes per-key order strict even across retries; without it, per-key order is the
    /// partition's send order for first deliveries only.
    pub fn group_by_key(mut self, on: bool) -> Self {
        self.group_by_key = on;
        self
    }

    /// Builds the partitions.
    ///
    /// # Errors
    /// [`Error::Config`] for zero partitions, or the queue builder's errors.
    pub fn build(self) -> Result<PartitionedQueue<T>> {
        if self.partitions == 0 {
            return Err(Error::Config("partitions must be at least 1".into()));
        }
        let mut queues = Vec::with_capacity(self.partitions as usize);
        for i in 0..self.partitions {
            let mut b = self.queue.clone();
            if let Some(seed) = b.seed_value() {
                b = b.seed(seed.wrapping_add(u64::from(i)));
            }
            queues.push(b.build()?);
        }
        Ok(PartitionedQueue {
            inner: Arc::new(PartitionedInner {
                queues,
                partitioner: self
                    .partitioner
                    .unwrap_or_else(|| Box::new(HashPartitioner::kafka())),
                group_by_key: self.group_by_key,
            }),
        })
    }
}

struct PartitionedInner<T> {
    queues: Vec<Queue<T>>,
    partitioner: Box<dyn Partitioner>,
    group_by_key: bool,
}

/// A queue split in N partitions ([`Queue`]s with the same configuration); each message goes to the
/// partition of its key, chosen by ember-core's partitioner, so all messages of a key are in one
/// partition and, grouped by key (the default), delivered strictly in order, one at a time. Consumers
/// scale out by partition, or take from any with [`try_receive_any`](PartitionedQueue::try_receive_any).
///
/// ```
/// use ember_queue::{PartitionedQueue, Queue};
/// let queue: PartitionedQueue<String> = PartitionedQueue::builder()
///     .partitions(4)
///     .queue(Queue::builder().capacity(1000))
///     .build()
///     .unwrap();
/// queue.send("user-1", "login".to_string()).unwrap();
/// queue.send("user-1", "checkout".to_string()).unwrap();
/// let p = queue.partition_for("user-1");
/// let first = queue.partition(p).unwrap().try_receive().unwrap();
/// assert_eq!(first.body(), "login");
/// // Per-key order is strict: "checkout" waits until "login" is acked.
/// assert!(queue.partition(p).unwrap().try_receive().is_err());
/// queue.ack(first.receipt()).unwrap();
/// assert_eq!(queue.partition(p).unwrap().try_receive().unwrap().body(), "checkout");
/// ```
pub struct PartitionedQueue<T> {
    inner: Arc<PartitionedInner<T>>,
}

impl<T> Clone for PartitionedQueue<T> {
    fn clone(&self) -> Self {
        PartitionedQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for PartitionedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedQueue")
            .field("partitions", &self.inner.queues.len())
            .field("partitioner", &self.inner.partitioner)
            .field("group_by_key", &self.inner.group_by_key)
            .finish()
    }
}

impl<T> PartitionedQueue<T> {
    /// A builder: 4 partitions, default queues, Kafka's partitioner, grouped by key.
    pub fn builder() -> PartitionedQueueBuilder<T> {
        PartitionedQueueBuilder {
            partitions: 4,
            queue: Queue::builder(),
            partitioner: None,
            group_by_key: true,
        }
    }

    /// The number of partitions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.queues.len()
    }

    /// Always false: there is at least one partition.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.queues.is_empty()
    }

    /// The partition of `key`.
    #[must_use]
    pub fn partition_for(&self, key: impl AsRef<[u8]>) -> usize {
        self.inner
            .partitioner
            .partition(key.as_ref(), self.inner.queues.len() as u32) as usize
    }

    /// Partition `index`, a plain [`Queue`]: a consumer dedicated to it receives, acks and nacks there.
    #[must_use]
    pub fn partition(&self, index: usize) -> Option<&Queue<T>> {
        self.inner.queues.get(index)
    }

    /// Every partition.
    #[must_use]
    pub fn partitions(&self) -> &[Queue<T>] {
        &self.inner.queues
    }

    fn keyed(&self, key: &[u8], mut msg: Message<T>) -> (usize, Message<T>) {
        if self.inner.group_by_key && msg.group.is_none() {
            msg.group = Some(GroupId::from(String::from_utf8_lossy(key)));
        }
        (self.partition_for(key), msg)
    }

    /// Sends `body` to the partition of `key`, waiting for room as [`Queue::send`] does.
    ///
    /// # Errors
    /// As [`Queue::send`]; the body is handed back.
    pub fn send(&self, key: impl AsRef<[u8]>, body: T) -> Result<MessageId, SendError<T>> {
        let (p, msg) = self.keyed(key.as_ref(), Message::new(body));
        self.inner.queues[p].send_message(msg).map_err(|e| {
            let (error, msg) = e.into_parts();
            SendError::new(error, msg.into_body())
        })
    }

    /// Sends `body` to the partition of `key` if it has room now.
    ///
    /// # Errors
    /// As [`Queue::try_send`]; the body is handed back.
    pub fn try_send(&self, key: impl AsRef<[u8]>, body: T) -> Result<MessageId, SendError<T>> {
        let (p, msg) = self.keyed(key.as_ref(), Message::new(body));
        self.inner.queues[p].try_send_message(msg).map_err(|e| {
            let (error, msg) = e.into_parts();
            SendError::new(error, msg.into_body())
        })
    }

    /// Sends a [`Message`] to the partition of `key`.
    ///
    /// # Errors
    /// As [`Queue::send_message`].
    pub fn send_message(
        &self,
        key: impl AsRef<[u8]>,
        msg: Message<T>,
    ) -> Result<MessageId, SendError<Message<T>>> {
        let (p, msg) = self.keyed(key.as_ref(), msg);
        self.inner.queues[p].send_message(msg)
    }

    /// Receives from the first partition with a visible message, trying them in turn from partition
    /// `start % len` (give each consumer a different start to spread the load).
    ///
    /// # Errors
    /// [`Error::Empty`] if no partition has a visible message; [`Error::Closed`] if every partition is
    /// closed and drained.
    pub fn try_receive_any(&self, start: usize) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        let n = self.inner.queues.len();
        let mut closed = 0;
        for i in 0..n {
            match self.inner.queues[(start + i) % n].try_receive() {
                Ok(d) => return Ok(d),
                Err(Error::Closed) => closed += 1,
                Err(_) => {}
            }
        }
        Err(if closed == n {
            Error::Closed
        } else {
            Error::Empty
        })
    }

    /// Receives from any partition, waiting at most `timeout` on partition `start % len` after trying
    /// every partition once.
    ///
    /// # Errors
    /// As [`try_receive_any`](PartitionedQueue::try_receive_any), and [`Error::Timeout`].
    pub fn receive_any_timeout(&self, start: usize, timeout: Duration) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        match self.try_receive_any(start) {
            Err(Error::Empty) => {}
            other => return other,
        }
        let n = self.inner.queues.len();
        self.inner.queues[start % n].receive_timeout(timeout)
    }

    fn owner(&self, receipt: &Receipt) -> Result<&Queue<T>> {
        self.inner
            .queues
            .iter()
            .find(|q| q.uid() == receipt.queue)
            .ok_or(Error::StaleReceipt(receipt.id))
    }

    /// Acks a delivery from any partition.
    ///
    /// # Errors
    /// As [`Queue::ack`].
    pub fn ack(&self, receipt: Receipt) -> Result<()> {
        self.owner(&receipt)?.ack(receipt)
    }

    /// Nacks a delivery from any partition.
    ///
    /// # Errors
    /// As [`Queue::nack`].
    pub fn nack(&self, receipt: Receipt) -> Result<NackOutcome> {
        self.owner(&receipt)?.nack(receipt)
    }

    /// Nacks a delivery from any partition, recording an error text.
    ///
    /// # Errors
    /// As [`Queue::nack_with_error`].
    pub fn nack_with_error(
        &self,
        receipt: Receipt,
        error: impl Into<String>,
    ) -> Result<NackOutcome> {
        self.owner(&receipt)?.nack_with_error(receipt, error)
    }

    /// Changes the visibility of a delivery from any partition.
    ///
    /// # Errors
    /// As [`Queue::extend`].
    pub fn extend(&self, receipt: Receipt, timeout: Duration) -> Result<()> {
        self.owner(&receipt)?.extend(receipt, timeout)
    }

    /// Closes every partition.
    pub fn close(&self) {
        for q in &self.inner.queues {
            q.close();
        }
    }

    /// The partitions' stats added up.
    #[must_use]
    pub fn stats(&self) -> QueueStats {
        let mut total = QueueStats::default();
        for q in &self.inner.queues {
            total.merge(&q.stats());
        }
        total
    }

    /// Each partition's stats.
    #[must_use]
    pub fn partition_stats(&self) -> Vec<QueueStats> {
        self.inner.queues.iter().map(Queue::stats).collect()
    }
}
