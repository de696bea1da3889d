//! The durable mode: [`DurableQueue`], a [`Queue`] whose operations are logged to an `ember-log`
//! directory and restored on restart.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Duration;

use ember_log::{Deferred, FsyncPolicy, Log};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dlq::{DeadLetter, DeadLetterReason};
use crate::error::{Error, Result};
use crate::message::{Delivery, Message, MessageId, Receipt};
use crate::queue::{Queue, QueueBuilder};
use crate::state::{NackOutcome, Restored, after};

/// A message's durable state, as logged by a send and written by a snapshot.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Msg<T> {
    body: T,
    group: Option<String>,
    /// First sent (unix ms, queue clock).
    sent_ms: u64,
    /// Not visible before this time (unix ms): a delay or a retry backoff.
    due_ms: Option<u64>,
    /// How many times it was received (leased).
    receives: u32,
    /// Its last receive was neither acked nor nacked (yet).
    in_flight: bool,
    /// In the dead-letter queue: why (see `reason_code`) and since when (unix ms).
    dead: Option<(u8, u64)>,
    last_error: Option<String>,
    /// Delivery order: the log offset of its send, snapshot entry or redrive (not stored: the offset
    /// of the record that carries it).
    #[serde(skip)]
    order: u64,
}

/// One logged operation. `did` is the durable id: stable across restarts (message ids are not).
///
/// The first four variants are the format of the first version (kept so that its logs replay).
#[derive(serde::Serialize, serde::Deserialize)]
enum Op<T> {
    /// v1: a message was sent (or, in a snapshot, is live; `dead`: it is in the dead-letter queue).
    Sent { did: u64, body: T, dead: bool },
    /// It was acked (or taken out of the dead-letter queue, or its send was cancelled): it never
    /// comes back.
    Acked { did: u64 },
    /// v1: it was nacked.
    Nacked { did: u64 },
    /// v1: it moved to the dead-letter queue.
    DeadLettered { did: u64 },
    /// A message was sent with this state (or, in a snapshot, is live with it), with its dedup id and
    /// the end of that id's window (unix ms).
    Put {
        did: u64,
        msg: Msg<T>,
        dedup: Option<(String, u64)>,
    },
    /// It was received (leased); `count` is its receive count after this receive.
    Received { did: u64, count: u32 },
    /// It was nacked and is visible again at `due_ms` (`None`: at once).
    Retried {
        did: u64,
        due_ms: Option<u64>,
        error: Option<String>,
    },
    /// It moved to the dead-letter queue.
    Dead {
        did: u64,
        reason: u8,
        at_ms: u64,
        error: Option<String>,
    },
    /// It was redriven from the dead-letter queue to the tail of the queue (receive count reset).
    Redriven { did: u64 },
    /// Snapshot: a dedup id still within its window, and the message it names.
    Dedup {
        key: String,
        did: u64,
        until_ms: u64,
    },
    /// A logged send did not enter the queue: it never happened (its dedup id is forgotten too).
    Cancelled { did: u64 },
}

fn storage(e: ember_log::Error) -> Error {
    Error::Storage(e.to_string())
}

fn reason_code(r: DeadLetterReason) -> u8 {
    match r {
        DeadLetterReason::Nacked => 0,
        DeadLetterReason::VisibilityTimeout => 1,
        DeadLetterReason::Released => 2,
    }
}

fn reason_of(code: u8) -> DeadLetterReason {
    match code {
        1 => DeadLetterReason::VisibilityTimeout,
        2 => DeadLetterReason::Released,
        _ => DeadLetterReason::Nacked,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A dedup id within its window.
struct DedupEntry {
    did: u64,
    until_ms: u64,
    /// The id a duplicate send returns if the message is no longer live.
    id: MessageId,
}

/// The durable state of every live message, kept in step with the log: replay and live operations
/// go through the same [`Book::apply`].
struct Book<T> {
    next_did: u64,
    live: HashMap<u64, Msg<T>>,
    /// Durable id -> current message id, and back.
    ids: HashMap<u64, MessageId>,
    by_id: HashMap<MessageId, u64>,
    dedup: HashMap<String, DedupEntry>,
    dedup_order: VecDeque<(u64, String)>,
    /// Operations logged since the last snapshot.
    since_snapshot: u64,
}

impl<T> Book<T> {
    fn new() -> Self {
        Book {
            next_did: 0,
            live: HashMap::new(),
            ids: HashMap::new(),
            by_id: HashMap::new(),
            dedup: HashMap::new(),
            dedup_order: VecDeque::new(),
            since_snapshot: 0,
        }
    }

    /// Applies one logged operation (the record at `offset`); `now_ms` dates v1 records.
    fn apply(&mut self, op: Op<T>, offset: u64, now_ms: u64) {
        let plain = |body| Msg {
            body,
            group: None,
            sent_ms: now_ms,
            due_ms: None,
            receives: 0,
            in_flight: false,
            dead: None,
            last_error: None,
            order: offset,
        };
        match op {
            Op::Sent { did, body, dead } => {
                self.next_did = self.next_did.max(did + 1);
                let mut m = plain(body);
                m.dead = dead.then_some((reason_code(DeadLetterReason::Nacked), now_ms));
                self.live.insert(did, m);
            }
            Op::Put {
                did,
                mut msg,
                dedup,
            } => {
                self.next_did = self.next_did.max(did + 1);
                msg.order = offset;
                self.live.insert(did, msg);
                if let Some((key, until_ms)) = dedup {
                    self.remember_dedup(key, did, until_ms, MessageId(0));
                }
            }
            Op::Acked { did } => {
                self.live.remove(&did);
                if let Some(id) = self.ids.remove(&did) {
                    self.by_id.remove(&id);
                }
            }
            Op::Nacked { did } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.in_flight = false;
                }
            }
            Op::DeadLettered { did } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.in_flight = false;
                    m.dead = Some((reason_code(DeadLetterReason::Nacked), now_ms));
                }
            }
            Op::Received { did, count } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.receives = m.receives.max(count);
                    m.in_flight = true;
                    m.due_ms = None;
                }
            }
            Op::Retried { did, due_ms, error } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.in_flight = false;
                    m.due_ms = due_ms;
                    if error.is_some() {
                        m.last_error = error;
                    }
                }
            }
            Op::Dead {
                did,
                reason,
                at_ms,
                error,
            } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.in_flight = false;
                    m.due_ms = None;
                    m.dead = Some((reason, at_ms));
                    if error.is_some() {
                        m.last_error = error;
                    }
                }
            }
            Op::Redriven { did } => {
                if let Some(m) = self.live.get_mut(&did) {
                    m.dead = None;
                    m.receives = 0;
                    m.in_flight = false;
                    m.due_ms = None;
                    m.last_error = None;
                    m.order = offset;
                }
            }
            Op::Dedup { key, did, until_ms } => {
                self.remember_dedup(key, did, until_ms, MessageId(0));
            }
            Op::Cancelled { did } => {
                self.live.remove(&did);
                if let Some(id) = self.ids.remove(&did) {
                    self.by_id.remove(&id);
                }
                self.dedup.retain(|_, e| e.did != did);
            }
        }
    }

    fn remember_dedup(&mut self, key: String, did: u64, until_ms: u64, id: MessageId) {
        self.dedup_order.push_back((until_ms, key.clone()));
        self.dedup.insert(key, DedupEntry { did, until_ms, id });
    }

    /// Forgets dedup ids whose window ended by `now_ms`.
    fn purge_dedup(&mut self, now_ms: u64) {
        while let Some((until, _)) = self.dedup_order.front() {
            if *until > now_ms {
                break;
            }
            let (until, key) = self.dedup_order.pop_front().expect("front exists");
            if self.dedup.get(&key).is_some_and(|e| e.until_ms == until) {
                self.dedup.remove(&key);
            }
        }
    }

    fn bind(&mut self, did: u64, id: MessageId) {
        self.ids.insert(did, id);
        self.by_id.insert(id, did);
    }

    fn snapshot_due(&self) -> bool {
        self.since_snapshot > 1000.max(2 * self.live.len() as u64)
    }
}

/// A [`Queue`] whose operations are appended to an `ember-log` log in a directory, so that after a
/// restart (or a crash) every message that was sent and not acked is back with its state — its
/// delay, group, dedup id and receive count — and no acked message returns.
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_queue::{DurableQueue, FsyncPolicy, Message, Queue};
///
/// let dir = tempfile::tempdir().unwrap();
/// let clock = ManualClock::new();
/// let builder = Queue::<String>::builder().max_receives(2).clock(clock.clone());
/// let q = DurableQueue::open(dir.path(), builder.clone(), FsyncPolicy::Always).unwrap();
/// q.send("a".to_string()).unwrap();
/// q.send_message(Message::new("later".to_string()).delay(Duration::from_secs(60))).unwrap();
/// q.send("b".to_string()).unwrap();
/// let d = q.try_receive().unwrap();
/// q.ack(d.receipt()).unwrap(); // "a" is done
/// let _in_flight = q.try_receive().unwrap(); // "b" is leased when the process stops
/// drop(q);
///
/// let q = DurableQueue::open(dir.path(), builder, FsyncPolicy::Always).unwrap();
/// let b = q.try_receive().unwrap(); // visible again; "a" never returns
/// assert_eq!((b.body().as_str(), b.receive_count()), ("b", 2));
/// assert!(q.try_receive().is_err()); // "later" is still delayed
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(q.try_receive().unwrap().body(), "later");
/// ```
///
/// # What survives a restart
///
/// Replaying the log restores each message that was sent and not acked (or taken), in its original
/// order, with:
/// - **its delay or retry backoff**: a message sent with a delay, or nacked under a
///   [`RetryPolicy`](crate::RetryPolicy) with a backoff, stays invisible until its original due time
///   (kept as wall-clock milliseconds of the queue's clock; time that passed while the process was down
///   counts);
/// - **its group**: group order holds and, as before, one message per group is in flight;
/// - **its receive count** (every receive through this type is logged), so
///   [`max_receives`](QueueBuilder::max_receives) keeps counting across restarts, and its last error;
/// - **its place**: in the queue, or in the dead-letter queue (with attempts, reason and last error).
///
/// A message that was **in flight** when the process stopped is visible again at once (leases are not
/// kept), with its receive count; if that count had reached `max_receives`, its lease is treated as
/// ended by the timeout and it goes to the dead-letter queue (reason
/// [`VisibilityTimeout`](DeadLetterReason::VisibilityTimeout)), as it would have in a process that kept
/// running: a message that crashes its consumer every time ends up dead-lettered. The dedup ids seen
/// within the [dedup window](QueueBuilder::dedup_window) (measured from the first send, in wall-clock
/// milliseconds) are restored too: a duplicate sent after a restart is still absorbed, whether the
/// original is still queued or was already acked. Message ids change on restart (the log keys messages
/// by its own ids).
///
/// # When each operation is durable
///
/// Each operation's record is appended in order under this type's internal lock, and the call then
/// waits, after releasing that lock, until the record is durable as the chosen [`FsyncPolicy`]
/// promises (with `Always`, on disk; concurrent callers share fsyncs: group commit). Since the log is
/// synced as a prefix, an operation that returned has every earlier record durable too. The points:
/// - **send**: *before* the message enters the queue (a send that then fails is cancelled by a second
///   record). A crash after the record and before `send` returns may keep a message whose sender saw
///   no answer: delivery is at least once, as with SQS.
/// - **receive**: after the lease is taken, before the delivery is returned; if the record cannot be
///   written the delivery is not returned (its lease ends by the visibility timeout).
/// - **ack, nack** (with the retry due time and error text, or the move to the dead-letter queue),
///   **redrive** and **take** of dead letters through this type: before the call returns.
///
/// # Limits
/// - Operations made on [`queue`](Self::queue) directly are not logged. What a snapshot reconciles:
///   moves to the dead-letter queue by a visibility timeout are not logged as such but follow from the
///   logged receive count (see above); a redrive or take done through `queue()` is seen only at the
///   next snapshot (a taken dead letter is then treated as redriven, and comes back into the queue);
///   an ack through `queue()` is never seen (the message comes back after a restart).
/// - A dedup id is checked by this type, not by the inner queue: use [`send_message`](Self::send_message)
///   rather than `queue().send_message` for deduplicated sends.
/// - **Snapshots** bound the log: once more operations than `max(1000, 2 × live messages)` were logged
///   since the last one (and on open, and on [`compact`](Self::compact)), the live messages and dedup
///   ids are written to a new segment and every older segment is deleted. The state of each live
///   message (with a copy of its body) is kept in memory for that.
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
    /// the log into it (see the type's docs for what is restored), and writes a snapshot.
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
        let queue = builder.build()?;
        let inner = &*queue.inner;
        let now_ms = inner.clock.unix_millis();
        let now = inner.clock.now();
        let mut book = Book::new();
        for rec in log.iter(log.start_offset()) {
            let rec = rec.map_err(storage)?;
            let op: Op<T> = rec
                .meta_value()
                .map_err(storage)?
                .ok_or_else(|| Error::Storage(format!("log record {} is empty", rec.offset)))?;
            book.apply(op, rec.offset, now_ms);
        }
        let mut order: Vec<(u64, u64)> = book.live.iter().map(|(&d, m)| (m.order, d)).collect();
        order.sort_unstable();
        for (_, did) in order {
            let m = book.live.get_mut(&did).expect("listed");
            let used_up = inner
                .config
                .max_receives
                .is_some_and(|max| m.receives >= max);
            if m.dead.is_none() && m.in_flight && used_up {
                // Its lease ended with the process, after its last allowed receive.
                m.dead = Some((reason_code(DeadLetterReason::VisibilityTimeout), now_ms));
            }
            let group = m.group.as_deref().map(Arc::<str>::from);
            let id = if let Some((reason, at_ms)) = m.dead {
                inner.restore_dead_letter(DeadLetter {
                    id: MessageId(0),
                    body: m.body.clone(),
                    attempts: m.receives,
                    last_error: m.last_error.clone(),
                    reason: reason_of(reason),
                    group,
                    sent_unix_ms: m.sent_ms,
                    dead_lettered_unix_ms: at_ms,
                })
            } else {
                m.in_flight = false;
                let visible_at = m
                    .due_ms
                    .filter(|&due| due > now_ms)
                    .map(|due| after(now, Duration::from_millis(due - now_ms)));
                inner.restore_message(Restored {
                    body: m.body.clone(),
                    visible_at,
                    sent_unix_ms: m.sent_ms,
                    receive_count: m.receives,
                    group,
                    last_error: m.last_error.as_deref().map(Arc::from),
                })?
            };
            book.bind(did, id);
        }
        book.purge_dedup(now_ms);
        let mut dedup_order: Vec<(u64, String)> = Vec::with_capacity(book.dedup.len());
        for (key, e) in &mut book.dedup {
            e.id = match book.ids.get(&e.did) {
                Some(&id) => id,
                None => inner.reserve_message_id(),
            };
            dedup_order.push((e.until_ms, key.clone()));
        }
        dedup_order.sort_unstable();
        book.dedup_order = dedup_order.into();
        let me = DurableQueue {
            queue,
            log,
            book: Mutex::new(book),
        };
        me.compact()?;
        Ok(me)
    }

    /// Logs `op` (in the book's order: the caller holds the book's lock) and applies it to the book.
    /// The fsync the policy calls for is not waited for here: [`settle`](Self::settle) the ticket
    /// once the book's lock is released, so that concurrent callers share fsyncs.
    fn record(&self, book: &mut Book<T>, op: Op<T>) -> Result<Deferred> {
        let ticket = self.log.append_meta_deferred(&op, &[]).map_err(storage)?;
        book.apply(op, ticket.offset(), self.queue.inner.clock.unix_millis());
        book.since_snapshot += 1;
        Ok(ticket)
    }

    /// Waits for `ticket`'s record to be durable (call without the book's lock), then snapshots if
    /// enough was logged since the last one.
    fn settle(&self, ticket: Option<Deferred>, snapshot_due: bool) -> Result<()> {
        if let Some(t) = ticket {
            self.log.commit(t).map_err(storage)?;
        }
        if snapshot_due { self.compact() } else { Ok(()) }
    }

    /// Sends `body`: logs it (durable per the fsync policy), then enqueues it. When the queue is full
    /// it waits for room ([`FullPolicy::Block`](crate::FullPolicy::Block), the default) or refuses
    /// ([`FullPolicy::Reject`](crate::FullPolicy::Reject)).
    ///
    /// # Errors
    /// [`Error::Storage`] if it could not be logged (it is then not enqueued); [`Error::Full`] under
    /// `FullPolicy::Reject`, [`Error::Closed`].
    pub fn send(&self, body: T) -> Result<MessageId> {
        self.send_message(Message::new(body))
    }

    /// Sends a [`Message`] with options — delay, group, dedup id — all of which survive a restart. A
    /// duplicate of a message sent within the dedup window (before or after a restart) is accepted
    /// without being enqueued or logged: the id returned is the original's.
    ///
    /// ```
    /// use ember_queue::{DurableQueue, FsyncPolicy, Message, Queue};
    /// let dir = tempfile::tempdir().unwrap();
    /// let open = || DurableQueue::open(dir.path(), Queue::<String>::builder(), FsyncPolicy::Always);
    /// let q = open().unwrap();
    /// q.send_message(Message::new("pay 7".to_string()).dedup_id("order-7")).unwrap();
    /// let d = q.try_receive().unwrap();
    /// q.ack(d.receipt()).unwrap();
    /// drop(q);
    ///
    /// let q = open().unwrap();
    /// q.send_message(Message::new("pay 7".to_string()).dedup_id("order-7")).unwrap();
    /// assert!(q.try_receive().is_err()); // absorbed: within the 5-minute window
    /// ```
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_message(&self, msg: Message<T>) -> Result<MessageId> {
        let inner = &*self.queue.inner;
        let wait = matches!(inner.config.full_policy, crate::queue::FullPolicy::Block);
        let Message {
            body,
            delay,
            group,
            dedup_id,
        } = msg;
        loop {
            let due = {
                let mut book = self.book.lock();
                let now_ms = inner.clock.unix_millis();
                if let Some(key) = &dedup_id {
                    book.purge_dedup(now_ms);
                    if let Some(e) = book.dedup.get(&**key) {
                        let id = book.ids.get(&e.did).copied().unwrap_or(e.id);
                        drop(book);
                        inner.count_deduplicated();
                        return Ok(id);
                    }
                }
                if inner.check_room()? {
                    let did = book.next_did;
                    book.next_did += 1;
                    let wait_ms = millis(delay.unwrap_or(inner.config.delay));
                    let msg = Msg {
                        body: body.clone(),
                        group: group.as_deref().map(str::to_owned),
                        sent_ms: now_ms,
                        due_ms: (wait_ms > 0).then(|| now_ms.saturating_add(wait_ms)),
                        receives: 0,
                        in_flight: false,
                        dead: None,
                        last_error: None,
                        order: 0,
                    };
                    let dedup = dedup_id.as_ref().map(|k| {
                        let window = millis(inner.config.dedup_window);
                        (k.to_string(), now_ms.saturating_add(window))
                    });
                    let put = self.record(&mut book, Op::Put { did, msg, dedup })?;
                    let mut to_queue = Message::new(body.clone());
                    to_queue.delay = delay;
                    to_queue.group = group.clone();
                    match self.queue.try_send_message(to_queue) {
                        Ok(id) => {
                            book.bind(did, id);
                            if let Some(e) =
                                dedup_id.as_ref().and_then(|k| book.dedup.get_mut(&**k))
                            {
                                e.id = id;
                            }
                            let due = book.snapshot_due();
                            drop(book);
                            self.settle(Some(put), due)?;
                            return Ok(id);
                        }
                        Err(e) => {
                            // Not enqueued (a send through `queue()` took the room, or it closed):
                            // cancel the logged send.
                            let cancel = self.record(&mut book, Op::Cancelled { did })?;
                            self.log.commit(cancel).map_err(storage)?;
                            if !(wait && matches!(e.error(), Error::Full)) {
                                return Err(e.error().clone());
                            }
                        }
                    }
                } else if !wait {
                    return Err(Error::Full);
                }
                book.snapshot_due()
            };
            self.settle(None, due)?;
            // Wait for room: the queue's sleep protocol (register, read the epoch, look again under
            // the consumer lock that orders removals, wait), without holding the book.
            inner.space_sleepers.fetch_add(1, AtomicOrdering::SeqCst);
            let seen = inner.space.epoch();
            drop(inner.consumer.lock());
            let room = inner.check_room();
            if matches!(room, Ok(false)) {
                inner.space.wait(&*inner.clock, seen, None);
            }
            inner.space_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
            room?;
        }
    }

    /// Logs a receive (or, in `no_ack` mode, the message's removal) before handing it out.
    fn received(&self, d: Delivery<T>) -> Result<Delivery<T>> {
        let mut book = self.book.lock();
        let mut ticket = None;
        if let Some(&did) = book.by_id.get(&d.id()) {
            let op = if self.queue.inner.config.no_ack {
                Op::Acked { did }
            } else {
                Op::Received {
                    did,
                    count: d.receive_count(),
                }
            };
            ticket = Some(self.record(&mut book, op)?);
        }
        let due = book.snapshot_due();
        drop(book);
        self.settle(ticket, due)?;
        Ok(d)
    }

    /// Receives a message, waiting up to `timeout` (see [`Queue::receive_timeout`]); the receive is
    /// logged (it counts towards `max_receives` across restarts).
    ///
    /// # Errors
    /// As [`Queue::receive_timeout`]; [`Error::Storage`] if the receive could not be logged (the
    /// message's lease then ends by the visibility timeout).
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Delivery<T>> {
        let d = self.queue.receive_timeout(timeout)?;
        self.received(d)
    }

    /// Receives a visible message without waiting (see [`Queue::try_receive`]); logged as
    /// [`receive_timeout`](Self::receive_timeout).
    ///
    /// # Errors
    /// As [`Queue::try_receive`]; [`Error::Storage`].
    pub fn try_receive(&self) -> Result<Delivery<T>> {
        let d = self.queue.try_receive()?;
        self.received(d)
    }

    /// Acks: the message is deleted, and the ack is logged before this returns, so it never comes back.
    ///
    /// # Errors
    /// As [`Queue::ack`]; [`Error::Storage`] if the ack could not be logged.
    pub fn ack(&self, receipt: Receipt) -> Result<()> {
        let mut book = self.book.lock();
        self.queue.ack(receipt)?;
        let mut ticket = None;
        if let Some(&did) = book.by_id.get(&receipt.id) {
            ticket = Some(self.record(&mut book, Op::Acked { did })?);
        }
        let due = book.snapshot_due();
        drop(book);
        self.settle(ticket, due)
    }

    /// Changes a received message's visibility (see [`Queue::extend`]). Leases are not logged, so
    /// nothing is written: after a restart the message is visible again (or dead-lettered, if its
    /// receive count reached `max_receives`), whatever its lease was.
    ///
    /// # Errors
    /// As [`Queue::extend`].
    pub fn extend(&self, receipt: Receipt, timeout: Duration) -> Result<()> {
        self.queue.extend(receipt, timeout)
    }

    /// Nacks (see [`Queue::nack`]); the retry (with its due time) or the move to the dead-letter
    /// queue is logged before this returns.
    ///
    /// # Errors
    /// As [`Queue::nack`]; [`Error::Storage`].
    pub fn nack(&self, receipt: Receipt) -> Result<NackOutcome> {
        self.nack_inner(receipt, None)
    }

    /// [`nack`](Self::nack) recording why the attempt failed (see [`Queue::nack_with_error`]); the
    /// error text is logged with it.
    ///
    /// # Errors
    /// As [`nack`](Self::nack).
    pub fn nack_with_error(
        &self,
        receipt: Receipt,
        error: impl Into<String>,
    ) -> Result<NackOutcome> {
        self.nack_inner(receipt, Some(error.into()))
    }

    fn nack_inner(&self, receipt: Receipt, error: Option<String>) -> Result<NackOutcome> {
        let mut book = self.book.lock();
        let outcome = match &error {
            Some(e) => self.queue.nack_with_error(receipt, e.clone())?,
            None => self.queue.nack(receipt)?,
        };
        let mut ticket = None;
        if let Some(&did) = book.by_id.get(&receipt.id) {
            let now_ms = self.queue.inner.clock.unix_millis();
            let op = match outcome {
                NackOutcome::Retry { delay } => Op::Retried {
                    did,
                    due_ms: (!delay.is_zero()).then(|| now_ms.saturating_add(millis(delay))),
                    error,
                },
                NackOutcome::DeadLettered => Op::Dead {
                    did,
                    reason: reason_code(DeadLetterReason::Nacked),
                    at_ms: now_ms,
                    error,
                },
            };
            ticket = Some(self.record(&mut book, op)?);
        }
        let due = book.snapshot_due();
        drop(book);
        self.settle(ticket, due)?;
        Ok(outcome)
    }

    /// Moves every dead letter back to the tail of the queue (receive counts reset; see
    /// [`DeadLetters::redrive_all`](crate::DeadLetters::redrive_all)); logged before this returns.
    ///
    /// # Errors
    /// [`Error::Closed`]; [`Error::Storage`].
    pub fn redrive_all(&self) -> Result<usize> {
        self.redrive_if(|_| true)
    }

    /// Moves the dead letters with these ids back to the queue; logged before this returns.
    ///
    /// # Errors
    /// [`Error::Closed`]; [`Error::Storage`].
    pub fn redrive(&self, ids: &[MessageId]) -> Result<usize> {
        self.redrive_if(|l| ids.contains(&l.id))
    }

    fn redrive_if(&self, mut select: impl FnMut(&DeadLetter<T>) -> bool) -> Result<usize> {
        let mut book = self.book.lock();
        let mut moved = Vec::new();
        let n = crate::state::redrive(&self.queue.inner, |l| {
            let pick = select(l);
            if pick {
                moved.push(l.id);
            }
            pick
        })?;
        let dids: Vec<u64> = moved
            .iter()
            .filter_map(|id| book.by_id.get(id).copied())
            .collect();
        let ops: Vec<Op<T>> = dids.into_iter().map(|did| Op::Redriven { did }).collect();
        let range = self
            .log
            .append_meta_batch(ops.iter().map(|op| (op, &[][..])))
            .map_err(storage)?;
        let now_ms = self.queue.inner.clock.unix_millis();
        for (op, offset) in ops.into_iter().zip(range) {
            book.apply(op, offset, now_ms);
            book.since_snapshot += 1;
        }
        let due = book.snapshot_due();
        drop(book);
        self.settle(None, due)?;
        Ok(n)
    }

    /// Takes the dead letter with this id out for good (see [`DeadLetters::take`](crate::DeadLetters::take));
    /// logged before this returns, so it never comes back.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn take_dead_letter(&self, id: MessageId) -> Result<Option<DeadLetter<T>>> {
        let mut book = self.book.lock();
        let letter = self.queue.dead_letters().take(id);
        let mut ticket = None;
        if letter.is_some() {
            if let Some(&did) = book.by_id.get(&id) {
                ticket = Some(self.record(&mut book, Op::Acked { did })?);
            }
        }
        let due = book.snapshot_due();
        drop(book);
        self.settle(ticket, due)?;
        Ok(letter)
    }

    /// Writes a snapshot — every live message with its state (place, delay, group, receive count,
    /// last error) and every dedup id within its window — to a new segment, then deletes every older
    /// segment: the log's size stays proportional to the live messages.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn compact(&self) -> Result<()> {
        let mut book = self.book.lock();
        let now_ms = self.queue.inner.clock.unix_millis();
        // Reconcile with the dead-letter queue (moves by visibility timeout, redrives through `queue()`).
        let dead: HashMap<MessageId, DeadLetter<T>> = self
            .queue
            .dead_letters()
            .list()
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        let Book {
            live, ids, dedup, ..
        } = &mut *book;
        for (did, m) in live.iter_mut() {
            let Some(id) = ids.get(did) else { continue };
            if let Some(l) = dead.get(id) {
                m.dead = Some((reason_code(l.reason), l.dead_lettered_unix_ms));
                m.receives = l.attempts;
                m.last_error.clone_from(&l.last_error);
                m.in_flight = false;
                m.due_ms = None;
            } else if m.dead.is_some() {
                m.dead = None;
                m.receives = 0;
                m.in_flight = false;
                m.due_ms = None;
                m.last_error = None;
            }
        }
        let mut order: Vec<(u64, u64)> = live.iter().map(|(&d, m)| (m.order, d)).collect();
        order.sort_unstable();
        let mut ops: Vec<Op<T>> = order
            .iter()
            .map(|&(_, did)| Op::Put {
                did,
                msg: live[&did].clone(),
                dedup: None,
            })
            .collect();
        let mut keys: Vec<(&String, &DedupEntry)> =
            dedup.iter().filter(|(_, e)| e.until_ms > now_ms).collect();
        keys.sort_unstable_by_key(|(_, e)| e.until_ms);
        ops.extend(keys.into_iter().map(|(k, e)| Op::Dedup {
            key: k.clone(),
            did: e.did,
            until_ms: e.until_ms,
        }));
        self.log.roll().map_err(storage)?;
        let from = self.log.next_offset();
        let range = self
            .log
            .append_meta_batch(ops.iter().map(|op| (op, &[][..])))
            .map_err(storage)?;
        self.log.sync().map_err(storage)?;
        self.log.delete_before(from).map_err(storage)?;
        for (&(_, did), offset) in order.iter().zip(range) {
            if let Some(m) = live.get_mut(&did) {
                m.order = offset;
            }
        }
        book.since_snapshot = 0;
        Ok(())
    }

    /// The queue itself, for everything else (stats, `extend`, batches, inspecting dead letters).
    /// Operations made through it directly are not logged (see the type's docs for what the next
    /// snapshot reconciles).
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
