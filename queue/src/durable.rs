//! The durable mode: [`DurableQueue`], a [`Queue`] whose operations are logged to an `ember-log`
//! directory and restored on restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use ember_log::{FsyncPolicy, Log};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, SendError};
use crate::message::{Delivery, MessageId, Receipt};
use crate::queue::{Queue, QueueBuilder};
use crate::state::NackOutcome;

/// One logged operation. `did` is the durable id: stable across restarts (message ids are not).
#[derive(serde::Serialize, serde::Deserialize)]
enum Op<T> {
    /// A message was sent (or, in a snapshot, is live; `dead` says it is in the dead-letter queue).
    Sent { did: u64, body: T, dead: bool },
    /// It was acked: it never comes back.
    Acked { did: u64 },
    /// It was nacked (it stays in the queue).
    Nacked { did: u64 },
    /// It moved to the dead-letter queue.
    DeadLettered { did: u64 },
}

fn storage(e: ember_log::Error) -> Error {
    Error::Storage(e.to_string())
}

struct Book<T> {
    next_did: u64,
    /// Live messages: durable id -> (current message id, body).
    live: BTreeMap<u64, (MessageId, T)>,
    by_id: HashMap<MessageId, u64>,
    /// Operations logged since the last snapshot.
    since_snapshot: u64,
}

/// A [`Queue`] whose sends, acks, nacks and dead-letter moves are appended to an `ember-log` log in a
/// directory, so that after a restart (or a crash) every message that was sent and not acked is back
/// — in-flight ones visible again — and no acked message returns.
///
/// ```
/// use ember_queue::{DurableQueue, FsyncPolicy, Queue};
///
/// let dir = tempfile::tempdir().unwrap();
/// let q = DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Always).unwrap();
/// q.send("a".to_string()).unwrap();
/// q.send("b".to_string()).unwrap();
/// let d = q.try_receive().unwrap();
/// q.ack(d.receipt()).unwrap(); // "a" is done
/// let _in_flight = q.try_receive().unwrap(); // "b" is leased when the process stops
/// drop(q);
///
/// let q = DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Always).unwrap();
/// assert_eq!(q.try_receive().unwrap().body(), "b"); // visible again; "a" never returns
/// ```
///
/// Semantics and limits:
/// - **When a send is durable**: the `Sent` record is appended (with the chosen [`FsyncPolicy`]; with
///   `Always` it is on disk) *before* the message enters the queue, and an ack's record before `ack`
///   returns. A crash between logging a send and returning may leave a message the sender saw fail:
///   delivery is at least once, as with SQS.
/// - **Restart** replays the log: live messages are sent again in their original order (visible at once:
///   delays, groups and dedup ids are not kept; receive counts restart at 0), dead-lettered ones go
///   straight back into the dead-letter queue. Message ids change; the durable log keys messages by
///   its own ids.
/// - **Dead-letter moves** made by `nack` are logged at once; moves made by a visibility timeout, and
///   redrives done through [`queue`](Self::queue), are recorded at the next snapshot (until then a
///   restart puts such a message in the main queue: it is not lost). Dead letters *taken* out through
///   [`queue`](Self::queue) are not seen by the log and come back into the dead-letter queue on restart.
/// - **Snapshots** bound the log: once more operations than `max(1000, 2 × live messages)` were logged
///   since the last one (and on open, and on [`compact`](Self::compact)), the live messages are written
///   to a new segment and every older segment is deleted. The live bodies are also kept in memory for
///   that (a copy of each unacked message).
/// - The queue's capacity must hold the restored messages.
pub struct DurableQueue<T> {
    queue: Queue<T>,
    log: Log,
    book: Mutex<Book<T>>,
}

impl<T> fmt::Debug for DurableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableQueue")
            .field("queue", &self.queue)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl<T> DurableQueue<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
{
    /// Opens the durable queue in `dir` (created if missing): builds the queue from `builder`, replays
    /// the log into it, and writes a snapshot.
    ///
    /// # Errors
    /// [`Error::Storage`] if the log cannot be opened or read (corruption names file and position),
    /// the builder's errors, and [`Error::Full`] if the capacity cannot hold the restored messages.
    pub fn open(
        dir: impl AsRef<Path>,
        builder: QueueBuilder<T>,
        fsync: FsyncPolicy,
    ) -> Result<Self> {
        let log = Log::builder(dir.as_ref())
            .fsync(fsync)
            .segment_bytes(4 << 20)
            .open()
            .map_err(storage)?;
        let mut replay: BTreeMap<u64, (T, bool)> = BTreeMap::new();
        let mut next_did = 0;
        for rec in log.iter(log.start_offset()) {
            let rec = rec.map_err(storage)?;
            let op: Op<T> = rec
                .meta_value()
                .map_err(storage)?
                .ok_or_else(|| Error::Storage(format!("log record {} is empty", rec.offset)))?;
            match op {
                Op::Sent { did, body, dead } => {
                    next_did = next_did.max(did + 1);
                    replay.insert(did, (body, dead));
                }
                Op::Acked { did } => {
                    replay.remove(&did);
                }
                Op::Nacked { .. } => {}
                Op::DeadLettered { did } => {
                    if let Some(entry) = replay.get_mut(&did) {
                        entry.1 = true;
                    }
                }
            }
        }
        let queue = builder.build()?;
        let mut book = Book {
            next_did,
            live: BTreeMap::new(),
            by_id: HashMap::new(),
            since_snapshot: 0,
        };
        for (did, (body, dead)) in replay {
            let id = if dead {
                crate::state::restore_dead_letter(&queue.inner, body.clone(), 0)
            } else {
                queue
                    .try_send(body.clone())
                    .map_err(|e| e.error().clone())?
            };
            book.live.insert(did, (id, body));
            book.by_id.insert(id, did);
        }
        let me = DurableQueue {
            queue,
            log,
            book: Mutex::new(book),
        };
        me.compact()?;
        Ok(me)
    }

    fn append(&self, op: &Op<T>) -> Result<()> {
        self.log.append_meta(op, &[]).map_err(storage)?;
        Ok(())
    }

    /// Sends `body`: logs it (durable per the fsync policy), then enqueues it.
    ///
    /// # Errors
    /// [`Error::Storage`] if it could not be logged (it is then not enqueued); the queue's send errors
    /// ([`Error::Full`] under `FullPolicy::Reject`, [`Error::Closed`]).
    pub fn send(&self, body: T) -> Result<MessageId> {
        let mut book = self.book.lock();
        let did = book.next_did;
        book.next_did += 1;
        self.append(&Op::Sent {
            did,
            body: body.clone(),
            dead: false,
        })?;
        match self.queue.send(body.clone()) {
            Ok(id) => {
                book.live.insert(did, (id, body));
                book.by_id.insert(id, did);
                book.since_snapshot += 1;
                Ok(id)
            }
            Err(e) => {
                let err: SendError<T> = e;
                // Not enqueued: cancel the logged send so a restart does not resurrect it.
                self.append(&Op::Acked { did })?;
                Err(err.error().clone())
            }
        }
    }

    /// Receives a message, waiting up to `timeout` (see [`Queue::receive_timeout`]). Leases are not
    /// logged: after a restart every unacked message is visible again.
    ///
    /// # Errors
    /// As [`Queue::receive_timeout`].
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Delivery<T>> {
        self.queue.receive_timeout(timeout)
    }

    /// Receives a visible message without waiting (see [`Queue::try_receive`]).
    ///
    /// # Errors
    /// As [`Queue::try_receive`].
    pub fn try_receive(&self) -> Result<Delivery<T>> {
        self.queue.try_receive()
    }

    /// Acks: the message is deleted, and the ack is logged before this returns, so it never comes back.
    ///
    /// # Errors
    /// As [`Queue::ack`]; [`Error::Storage`] if the ack could not be logged.
    pub fn ack(&self, receipt: Receipt) -> Result<()> {
        self.queue.ack(receipt)?;
        let mut book = self.book.lock();
        if let Some(did) = book.by_id.remove(&receipt.id) {
            book.live.remove(&did);
            self.append(&Op::Acked { did })?;
            book.since_snapshot += 1;
        }
        let due = book.since_snapshot > 1000.max(2 * book.live.len() as u64);
        drop(book);
        if due {
            self.compact()?;
        }
        Ok(())
    }

    /// Nacks (see [`Queue::nack`]); the nack, or the move to the dead-letter queue, is logged.
    ///
    /// # Errors
    /// As [`Queue::nack`]; [`Error::Storage`].
    pub fn nack(&self, receipt: Receipt) -> Result<NackOutcome> {
        let outcome = self.queue.nack(receipt)?;
        let mut book = self.book.lock();
        if let Some(&did) = book.by_id.get(&receipt.id) {
            match outcome {
                NackOutcome::DeadLettered => self.append(&Op::DeadLettered { did })?,
                _ => self.append(&Op::Nacked { did })?,
            }
            book.since_snapshot += 1;
        }
        Ok(outcome)
    }

    /// Writes a snapshot of the live messages (and where each one is: queue or dead-letter queue) to a
    /// new segment, then deletes every older segment: the log's size stays proportional to the live
    /// messages.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn compact(&self) -> Result<()> {
        let mut book = self.book.lock();
        let dead: HashSet<MessageId> = self
            .queue
            .dead_letters()
            .list()
            .into_iter()
            .map(|l| l.id)
            .collect();
        self.log.roll().map_err(storage)?;
        let from = self.log.next_offset();
        for (&did, (id, body)) in &book.live {
            self.log
                .append_meta(
                    &Op::Sent {
                        did,
                        body: body.clone(),
                        dead: dead.contains(id),
                    },
                    &[],
                )
                .map_err(storage)?;
        }
        self.log.sync().map_err(storage)?;
        self.log.delete_before(from).map_err(storage)?;
        book.since_snapshot = 0;
        Ok(())
    }

    /// The queue itself, for everything else (stats, `extend`, dead letters, batches). Operations made
    /// through it directly are not logged (see the type's docs for what the next snapshot reconciles).
    #[must_use]
    pub fn queue(&self) -> &Queue<T> {
        &self.queue
    }

    /// The operation log (stats, segments, verify).
    #[must_use]
    pub fn log(&self) -> &Log {
        &self.log
    }
}
