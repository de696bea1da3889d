//! A standalone consumer: reads partitions from positions it keeps itself (Kafka's `assign` + `seek`,
//! without a group), as an iterator for replay or with blocking polls for tailing.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::{Start, Topic};
//!
//! let topic = Topic::builder("events").partitions(2).build().unwrap();
//! for i in 0..10 {
//!     topic.append_unkeyed(format!("e{i}")).unwrap();
//! }
//! // Replay everything retained: the iterator ends at the current end of the log.
//! let replayed: Vec<_> = topic.consumer(Start::Earliest).map(|r| r.unwrap()).collect();
//! assert_eq!(replayed.len(), 10);
//!
//! // Tail: wait (by the topic's clock) for what comes next.
//! let mut tail = topic.consumer(Start::Latest);
//! topic.append_unkeyed("e10").unwrap();
//! let next = tail.next_timeout(Duration::from_secs(1)).unwrap().unwrap();
//! assert_eq!(next.value_str(), Some("e10"));
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use ember_core::clock::WaitOutcome;

use crate::error::{Error, Result};
use crate::record::Record;
use crate::topic::Topic;

/// Where a reader starts in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Start {
    /// At the oldest retained record.
    Earliest,
    /// At the end: only records appended from now on.
    #[default]
    Latest,
    /// At this offset (clamped into the retained range).
    Offset(u64),
    /// At the first record whose timestamp is at or after this time (Unix milliseconds), or at the end
    /// if there is none yet: [`Topic::offset_for_time`] (Kafka's `offsetsForTimes` + `seek`).
    ///
    /// ```
    /// use ember_stream::{Message, Start, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// for ts in [1_000, 2_000, 3_000] {
    ///     topic.send(Message::new(format!("at {ts}")).timestamp(ts)).unwrap();
    /// }
    /// let mut c = topic.consumer(Start::Time(1_500));
    /// assert_eq!(c.next().unwrap().unwrap().value_str(), Some("at 2000"));
    /// ```
    Time(u64),
}

impl Start {
    pub(crate) fn resolve(self, topic: &Topic, partition: u32) -> Result<u64> {
        if let Start::Time(ts) = self {
            return topic.position_for_time(partition, ts);
        }
        let (earliest, latest) = topic.offsets(partition)?;
        Ok(match self {
            Start::Earliest => earliest,
            Start::Latest | Start::Time(_) => latest,
            Start::Offset(o) => o.clamp(earliest, latest),
        })
    }
}

/// Reads a set of partitions of a topic from its own positions. See the [module docs](self).
///
/// As an [`Iterator`] it yields every record from its positions to the current end of the log, then
/// ends (it can be iterated again later to pick up what came since). [`poll`](Consumer::poll) and
/// [`next_timeout`](Consumer::next_timeout) wait for new records. If retention trims records before they
/// are read, the consumer skips to the earliest retained offset and counts what it
/// [`skipped`](Consumer::skipped).
#[derive(Debug)]
pub struct Consumer {
    topic: Topic,
    partitions: Vec<u32>,
    positions: Vec<u64>,
    buffer: VecDeque<Record>,
    batch: usize,
    rotate: usize,
    skipped: u64,
}

impl Topic {
    /// A consumer of every partition, starting at `start`.
    #[must_use]
    pub fn consumer(&self, start: Start) -> Consumer {
        let partitions: Vec<u32> = (0..self.partitions()).collect();
        let positions = partitions
            .iter()
            .map(|&p| start.resolve(self, p).unwrap_or(0))
            .collect();
        Consumer {
            topic: self.clone(),
            partitions,
            positions,
            buffer: VecDeque::new(),
            batch: 256,
            rotate: 0,
            skipped: 0,
        }
    }

    /// A consumer of one partition, starting at `start`.
    ///
    /// # Errors
    /// [`Error::UnknownPartition`].
    pub fn partition_consumer(&self, partition: u32, start: Start) -> Result<Consumer> {
        let position = start.resolve(self, partition)?;
        Ok(Consumer {
            topic: self.clone(),
            partitions: vec![partition],
            positions: vec![position],
            buffer: VecDeque::new(),
            batch: 256,
            rotate: 0,
            skipped: 0,
        })
    }
}

impl Consumer {
    /// The partitions this consumer reads.
    #[must_use]
    pub fn partitions(&self) -> &[u32] {
        &self.partitions
    }

    /// The next offset this consumer will return from `partition` (counting records it has fetched but
    /// not yet returned as not returned).
    #[must_use]
    pub fn position(&self, partition: u32) -> Option<u64> {
        let i = self.partitions.iter().position(|&p| p == partition)?;
        Some(
            self.buffer
                .iter()
                .find(|r| r.partition == partition)
                .map_or(self.positions[i], |r| r.offset),
        )
    }

    /// Moves to `offset` in `partition` (replay from there).
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] if this consumer does not read `partition`; [`Error::OffsetOutOfRange`]
    /// if `offset` is not retained.
    pub fn seek(&mut self, partition: u32, offset: u64) -> Result<()> {
        let Some(i) = self.partitions.iter().position(|&p| p == partition) else {
            return Err(Error::UnknownPartition {
                partition,
                partitions: self.topic.partitions(),
            });
        };
        self.topic.check_position(partition, offset, true)?;
        self.buffer.retain(|r| r.partition != partition);
        self.positions[i] = offset;
        Ok(())
    }

    /// Moves to the first record of `partition` whose timestamp is at or after `timestamp` (Unix
    /// milliseconds), or to the end of the partition if no retained record is that late (Kafka's
    /// `offsetsForTimes` followed by `seek`). Returns the new position. The rule for timestamps that go
    /// backwards is [`Topic::offset_for_time`]'s: the earliest offset at or after the time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::{Clock, ManualClock};
    /// use ember_stream::{Start, Topic};
    ///
    /// let clock = ManualClock::new();
    /// let topic = Topic::builder("audit").clock(clock.clone()).build().unwrap();
    /// topic.append_unkeyed("old").unwrap();
    /// clock.advance(Duration::from_secs(3600));
    /// let an_hour_later = clock.unix_millis();
    /// topic.append_unkeyed("new").unwrap();
    ///
    /// let mut c = topic.consumer(Start::Earliest);
    /// assert_eq!(c.seek_to_time(0, an_hour_later).unwrap(), 1);
    /// assert_eq!(c.next().unwrap().unwrap().value_str(), Some("new"));
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownPartition`] if this consumer does not read `partition`; [`Error::Storage`].
    pub fn seek_to_time(&mut self, partition: u32, timestamp: u64) -> Result<u64> {
        let Some(i) = self.partitions.iter().position(|&p| p == partition) else {
            return Err(Error::UnknownPartition {
                partition,
                partitions: self.topic.partitions(),
            });
        };
        let offset = self.topic.position_for_time(partition, timestamp)?;
        self.buffer.retain(|r| r.partition != partition);
        self.positions[i] = offset;
        Ok(offset)
    }

    /// How many records this consumer skipped because retention trimmed them before it read them.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// How many records the consumer fetches per partition read (default 256).
    pub fn set_batch(&mut self, records: usize) {
        self.batch = records.max(1);
    }

    /// Fetches into the buffer from each partition in turn; returns how many records were fetched.
    fn fill(&mut self, max: usize) -> Result<usize> {
        let n = self.partitions.len();
        let mut fetched = Vec::new();
        for i in 0..n {
            if fetched.len() >= max {
                break;
            }
            let k = (self.rotate + i) % n;
            let p = self.partitions[k];
            let before = fetched.len();
            match self
                .topic
                .read_into(p, self.positions[k], max - fetched.len(), &mut fetched)
            {
                Ok(_) => {}
                Err(Error::OffsetOutOfRange { earliest, .. }) if self.positions[k] < earliest => {
                    self.skipped += earliest - self.positions[k];
                    self.positions[k] = earliest;
                    self.topic
                        .read_into(p, earliest, max - fetched.len(), &mut fetched)?;
                }
                Err(e) => return Err(e),
            }
            if let Some(last) = fetched[before..].last() {
                self.positions[k] = last.offset + 1;
            }
        }
        if n > 0 {
            self.rotate = (self.rotate + 1) % n;
        }
        let got = fetched.len();
        self.buffer.extend(fetched);
        Ok(got)
    }

    /// Returns up to `max` records, waiting up to `timeout` (by the topic's clock) when there are none.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        let clock = self.topic.clock().clone();
        let deadline = clock.now() + timeout;
        loop {
            let seen = self.topic.inner.signal.epoch();
            if self.buffer.is_empty() {
                self.fill(max.max(self.batch))?;
            }
            if !self.buffer.is_empty() || max == 0 {
                let n = max.min(self.buffer.len());
                return Ok(self.buffer.drain(..n).collect());
            }
            if self.topic.wait(seen, deadline) == WaitOutcome::TimedOut {
                self.fill(max)?;
                let n = max.min(self.buffer.len());
                return Ok(self.buffer.drain(..n).collect());
            }
        }
    }

    /// The next record, waiting up to `timeout` for one. `Ok(None)` on timeout.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>> {
        Ok(self.poll(1, timeout)?.pop())
    }
}

impl Iterator for Consumer {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() {
            let batch = self.batch;
            if let Err(e) = self.fill(batch) {
                return Some(Err(e));
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}
