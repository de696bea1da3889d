//! [`Queue`] and its builder.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering as AtomicOrdering,
};
use std::time::{Duration, Instant};

use ember_core::clock::{self, Clock, SharedClock, SystemClock};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::dlq::DeadLetters;
use crate::error::{Error, Result, SendBatchError, SendError};
use crate::message::{Delivery, Message, MessageId, Receipt};
use crate::retry::RetryPolicy;
use crate::state::{
    self, Admit, Config, Consumer, Inner, NackOutcome, Now, Padded, Producer, RING_CAPACITY,
    Refused, SeqWord, Stamp, Wake,
};
use crate::stats::QueueStats;

/// The longest visibility timeout, as in SQS: 12 hours.
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// What a blocking send does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Wait for room (backpressure): `send` blocks, `send_timeout` gives up at its timeout. The default.
    #[default]
    Block,
    /// Refuse at once with [`Error::Full`], handing the message back, so the caller can pass the
    /// refusal on (an HTTP 429 or 503, say). `try_send` behaves this way under either policy.
    Reject,
}

/// Configures and builds a [`Queue`]. Every setting has a default; see each method.
///
/// ```
/// use std::time::Duration;
/// use ember_core::ManualClock;
/// use ember_queue::{FullPolicy, Jitter, Queue, RetryPolicy};
///
/// let queue: Queue<Vec<u8>> = Queue::builder()
///     .capacity(10_000)
///     .when_full(FullPolicy::Block)
///     .visibility_timeout(Duration::from_secs(60))
///     .retry(RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(300))
///         .with_jitter(Jitter::Full))
///     .max_receives(5)
///     .dedup_window(Duration::from_secs(300))
///     .seed(7)
///     .clock(ManualClock::new())
///     .build()
///     .unwrap();
/// assert_eq!(queue.stats().capacity, 10_000);
/// ```
#[must_use]
pub struct QueueBuilder<T> {
    config: Config,
    clock: Option<SharedClock>,
    seed: Option<u64>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for QueueBuilder<T> {
    fn clone(&self) -> Self {
        QueueBuilder {
            config: self.config.clone(),
            clock: self.clock.clone(),
            seed: self.seed,
            _marker: PhantomData,
        }
    }
}

impl<T> fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("config", &self.config)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl<T> Default for QueueBuilder<T> {
    fn default() -> Self {
        QueueBuilder {
            config: Config {
                capacity: 65_536,
                full_policy: FullPolicy::Block,
                visibility: Duration::from_secs(30),
                delay: Duration::ZERO,
                retry: RetryPolicy::immediate(),
                max_receives: None,
                dedup_window: Duration::from_secs(300),
                no_ack: false,
            },
            clock: None,
            seed: None,
            _marker: PhantomData,
        }
    }
}

impl<T> QueueBuilder<T> {
    /// The most messages the queue holds (visible, delayed, in flight, waiting in a group; dead letters
    /// are not counted). Default 65 536; at least 1.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity as u64;
        self
    }

    /// What `send` does when the queue is full. Default [`FullPolicy::Block`].
    pub fn when_full(mut self, policy: FullPolicy) -> Self {
        self.config.full_policy = policy;
        self
    }

    /// How long a received message stays invisible to others unless acked, nacked or extended.
    /// Default 30 s (SQS's default); at most [`MAX_VISIBILITY_TIMEOUT`].
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.config.visibility = timeout;
        self
    }

    /// A delay applied to every message that does not set its own (SQS `DelaySeconds`). Default 0.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.config.delay = delay;
        self
    }

    /// The delay before a nacked message is visible again. Default [`RetryPolicy::immediate`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = policy;
        self
    }

    /// After this many receives, a message whose lease ends without an ack (nack or visibility timeout)
    /// moves to the dead-letter queue instead of coming back (SQS `maxReceiveCount`). Default: no limit.
    /// At least 1.
    pub fn max_receives(mut self, max: u32) -> Self {
        self.config.max_receives = Some(max);
        self
    }

    /// How long a deduplication id is remembered after the message that carried it was sent. Default 5
    /// minutes (SQS's interval).
    pub fn dedup_window(mut self, window: Duration) -> Self {
        self.config.dedup_window = window;
        self
    }

    /// At-most-once mode: a message is deleted as it is received (no lease, no ack; `ack`, `nack` and
    /// `extend` return [`Error::NoAck`]). Like Redis `XREADGROUP ... NOACK`. Default off.
    pub fn no_ack(mut self, no_ack: bool) -> Self {
        self.config.no_ack = no_ack;
        self
    }

    /// Seeds the random number generator used for retry jitter, for reproducible runs. Default: seeded
    /// from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub(crate) fn seed_value(&self) -> Option<u64> {
        self.seed
    }

    /// The clock for delays, visibility timeouts, retry backoff, the dedup window and send timestamps.
    /// Default [`SystemClock`]; pass a [`ManualClock`](ember_core::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(clock::shared(clock));
        self
    }

    /// Builds the queue.
    ///
    /// # Errors
    /// [`Error::Config`] if the capacity or `max_receives` is 0 or the retry policy's factor is below 1;
    /// [`Error::InvalidVisibility`] if the visibility timeout is above [`MAX_VISIBILITY_TIMEOUT`].
    pub fn build(self) -> Result<Queue<T>> {
        let config = self.config;
        if config.capacity == 0 {
            return Err(Error::Config("capacity must be at least 1".into()));
        }
        if config.max_receives == Some(0) {
            return Err(Error::Config("max_receives must be at least 1".into()));
        }
        if config.visibility > MAX_VISIBILITY_TIMEOUT {
            return Err(Error::InvalidVisibility(config.visibility));
        }
        config.retry.validate().map_err(Error::Config)?;
        let rng = match self.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let ring_capacity = usize::try_from(config.capacity)
            .unwrap_or(usize::MAX)
            .min(RING_CAPACITY);
        static NEXT_UID: AtomicU32 = AtomicU32::new(1);
        Ok(Queue {
            inner: Arc::new(Inner {
                config,
                clock: self.clock.unwrap_or_else(|| clock::shared(SystemClock)),
                uid: NEXT_UID.fetch_add(1, AtomicOrdering::Relaxed),
                seq: Padded(SeqWord::new()),
                ring: crate::state::Ring::new(ring_capacity.max(1)),
                producer: Padded(Mutex::new(Producer::new())),
                consumer: Padded(Mutex::new(Consumer::new(rng))),
                removed: Padded(AtomicU64::new(0)),
                dead: Mutex::new(Default::default()),
                ready: Default::default(),
                space: Default::default(),
                inbox_hint: Padded(AtomicBool::new(false)),
                ready_sleepers: Padded(AtomicUsize::new(0)),
                space_sleepers: Padded(AtomicUsize::new(0)),
            }),
        })
    }
}

/// An in-process work queue with SQS semantics: see the [crate docs](crate).
///
/// A `Queue` is a cheap handle (`Clone` shares the same queue) and is `Send + Sync` when `T: Send`, so
/// producers and consumers on any thread each keep a clone.
pub struct Queue<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("uid", &self.inner.uid)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Wait {
    No,
    Until(Instant),
    Forever,
}

/// The last step of [`backoff`] that spins (the later ones yield).
const SPIN_STEPS: u32 = 5;

/// Spins, then yields, a few rounds before a thread goes to sleep on a signal: a message or room often
/// appears within microseconds, and a sleep/wake costs more than that.
fn backoff(step: &mut u32) -> bool {
    match *step {
        0..=SPIN_STEPS => {
            for _ in 0..(1u32 << *step) {
                std::hint::spin_loop();
            }
        }
        6..=9 => std::thread::yield_now(),
        _ => return false,
    }
    *step += 1;
    true
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<T> Queue<T> {
    /// A builder with the defaults.
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder::default()
    }

    /// The clock this queue was built with.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    fn wait_for(&self, timeout: Duration) -> Wait {
        Wait::Until(state::after(self.inner.clock.now(), timeout))
    }

    // -------------------------------------------------------------------------------------------
    // Sending

    fn try_admit(&self, msg: Message<T>) -> Result<MessageId, (Error, Message<T>)> {
        let inner = &*self.inner;
        if msg.group.is_none()
            && msg.dedup_id.is_none()
            && msg.delay.unwrap_or(inner.config.delay).is_zero()
        {
            let delay = msg.delay;
            return match inner.send_plain(msg.body, inner.clock.coarse_unix_millis()) {
                Ok(seq) => {
                    inner.notify_ready();
                    Ok(MessageId(seq))
                }
                Err((why, body)) => {
                    let error = match why {
                        Refused::Closed => Error::Closed,
                        Refused::Full => Error::Full,
                    };
                    let mut msg = Message::new(body);
                    msg.delay = delay;
                    Err((error, msg))
                }
            };
        }
        let stamp = Stamp::for_message(&inner.config, &*inner.clock, &msg);
        let mut p = inner.producer.lock();
        if p.closed {
            return Err((Error::Closed, msg));
        }
        match p.admit(inner, msg, stamp) {
            Admit::Sent(id) => {
                drop(p);
                inner.notify_ready();
                Ok(MessageId(id))
            }
            Admit::Duplicate(id) => Ok(MessageId(id)),
            Admit::Full(m) => Err((Error::Full, m)),
        }
    }

    /// [`try_admit`](Queue::try_admit) with the consumers' exact removal count: a send refused as
    /// full has seen every removal so far (the fast path's room check goes by the published count,
    /// which may lag; see `state`).
    fn try_admit_exact(&self, msg: Message<T>) -> Result<MessageId, (Error, Message<T>)> {
        match self.try_admit(msg) {
            Err((Error::Full, m)) => {
                self.inner.publish_removed();
                self.try_admit(m)
            }
            other => other,
        }
    }

    fn send_core(&self, mut msg: Message<T>, wait: Wait) -> Result<MessageId, (Error, Message<T>)> {
        let inner = &*self.inner;
        let mut step = 0;
        loop {
            match self.try_admit(msg) {
                Err((Error::Full, m)) => msg = m,
                other => return other,
            }
            let until = match wait {
                Wait::No => return self.try_admit_exact(msg),
                Wait::Until(t) => {
                    if inner.clock.now() >= t {
                        return match self.try_admit_exact(msg) {
                            Err((Error::Full, m)) => Err((Error::Timeout, m)),
                            other => other,
                        };
                    }
                    Some(t)
                }
                Wait::Forever => None,
            };
            if backoff(&mut step) {
                continue;
            }
            // Sleep protocol (see `state`): register, read the epoch, look again, wait.
            inner.space_sleepers.fetch_add(1, AtomicOrdering::SeqCst);
            let seen = inner.space.epoch();
            // Synchronize with every removal so far (they happen under the consumer lock) and publish
            // them; later removals see the registration and publish at once.
            inner.publish_removed();
            match self.try_admit(msg) {
                Err((Error::Full, m)) => msg = m,
                other => {
                    inner.space_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
                    return other;
                }
            }
            inner.space.wait(&*inner.clock, seen, until);
            inner.space_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
        }
    }

    fn policy_wait(&self, wait: Wait) -> Wait {
        match self.inner.config.full_policy {
            FullPolicy::Block => wait,
            FullPolicy::Reject => Wait::No,
        }
    }

    /// Sends a message; returns its id. When the queue is full it waits for room
    /// ([`FullPolicy::Block`], the default) or refuses at once ([`FullPolicy::Reject`]).
    ///
    /// ```
    /// use ember_queue::Queue;
    /// let queue: Queue<&str> = Queue::builder().build().unwrap();
    /// let id = queue.send("job").unwrap();
    /// assert_eq!(queue.try_receive().unwrap().id(), id);
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`] after [`close`](Queue::close); [`Error::Full`] under the `Reject` policy. The
    /// message is handed back in the [`SendError`].
    pub fn send(&self, body: T) -> Result<MessageId, SendError<T>> {
        let body = match self.send_plain_now(body) {
            Ok(id) => return Ok(id),
            Err(Err(e)) => return Err(e),
            Err(Ok(body)) => body,
        };
        let inner = &*self.inner;
        let body = if inner.config.full_policy == FullPolicy::Block && inner.config.delay.is_zero()
        {
            // Full: let the consumers free a run of places before looking again (looking at every
            // spin would pull the line they count removals in away from them at every message).
            inner.spin_for_room((inner.config.capacity / 8).clamp(1, 128));
            match self.send_plain_now(body) {
                Ok(id) => return Ok(id),
                Err(Err(e)) => return Err(e),
                Err(Ok(body)) => body,
            }
        } else {
            body
        };
        // Full: wait for room (or refuse) through the general path.
        self.send_message(Message::new(body))
            .map_err(|e| map_send_error(e, Message::into_body))
    }

    /// The plain fast path for a bare body, without building a [`Message`]. `Err(Ok(body))`: the
    /// queue is full (or has a default delay), try the general path; `Err(Err(_))`: closed.
    #[inline(always)]
    fn send_plain_now(&self, body: T) -> Result<MessageId, Result<T, SendError<T>>> {
        let inner = &*self.inner;
        if !inner.config.delay.is_zero() {
            return Err(Ok(body));
        }
        match inner.send_plain(body, inner.clock.coarse_unix_millis()) {
            Ok(seq) => {
                inner.notify_ready();
                Ok(MessageId(seq))
            }
            Err((Refused::Closed, body)) => Err(Err(SendError::new(Error::Closed, body))),
            Err((Refused::Full, body)) => Err(Ok(body)),
        }
    }

    /// Like [`send`](Queue::send), waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Closed`], or [`Error::Full`] under the `Reject` policy; the message
    /// is handed back.
    pub fn send_timeout(&self, body: T, timeout: Duration) -> Result<MessageId, SendError<T>> {
        self.send_message_timeout(Message::new(body), timeout)
            .map_err(|e| map_send_error(e, Message::into_body))
    }

    /// Sends if there is room now.
    ///
    /// # Errors
    /// [`Error::Full`] or [`Error::Closed`]; the message is handed back.
    pub fn try_send(&self, body: T) -> Result<MessageId, SendError<T>> {
        let body = match self.send_plain_now(body) {
            Ok(id) => return Ok(id),
            Err(Err(e)) => return Err(e),
            Err(Ok(body)) => body,
        };
        self.try_send_message(Message::new(body))
            .map_err(|e| map_send_error(e, Message::into_body))
    }

    /// Sends a [`Message`] with options (delay, group, dedup id). A duplicate of a message sent within
    /// the dedup window is accepted without being enqueued: the id returned is the original's.
    ///
    /// ```
    /// use ember_queue::{Message, Queue};
    /// let queue: Queue<&str> = Queue::builder().build().unwrap();
    /// let a = queue.send_message(Message::new("pay 7").dedup_id("order-7")).unwrap();
    /// let b = queue.send_message(Message::new("pay 7").dedup_id("order-7")).unwrap();
    /// assert_eq!(a, b);
    /// assert_eq!(queue.stats().visible, 1);
    /// ```
    ///
    /// # Errors
    /// As [`send`](Queue::send).
    pub fn send_message(&self, msg: Message<T>) -> Result<MessageId, SendError<Message<T>>> {
        let wait = self.policy_wait(Wait::Forever);
        self.send_core(msg, wait)
            .map_err(|(e, m)| SendError::new(e, m))
    }

    /// Like [`send_message`](Queue::send_message), waiting at most `timeout` for room.
    ///
    /// # Errors
    /// As [`send_timeout`](Queue::send_timeout).
    pub fn send_message_timeout(
        &self,
        msg: Message<T>,
        timeout: Duration,
    ) -> Result<MessageId, SendError<Message<T>>> {
        let wait = match self.inner.config.full_policy {
            FullPolicy::Block => self.wait_for(timeout),
            FullPolicy::Reject => Wait::No,
        };
        self.send_core(msg, wait)
            .map_err(|(e, m)| SendError::new(e, m))
    }

    /// Sends a [`Message`] if there is room now.
    ///
    /// # Errors
    /// As [`try_send`](Queue::try_send).
    pub fn try_send_message(&self, msg: Message<T>) -> Result<MessageId, SendError<Message<T>>> {
        self.send_core(msg, Wait::No)
            .map_err(|(e, m)| SendError::new(e, m))
    }

    /// Sends messages in order, taking the producer lock once per run of messages that fit. Waits for
    /// room as [`send`](Queue::send) does; returns the ids in order.
    ///
    /// ```
    /// use ember_queue::Queue;
    /// let queue: Queue<u32> = Queue::builder().build().unwrap();
    /// let ids = queue.send_batch(0..10).unwrap();
    /// assert_eq!(ids.len(), 10);
    /// assert_eq!(queue.try_receive_batch(4).unwrap().len(), 4);
    /// ```
    ///
    /// # Errors
    /// A [`SendBatchError`] with the ids sent so far and every message not sent, on [`Error::Closed`]
    /// or (under the `Reject` policy) [`Error::Full`].
    pub fn send_batch(
        &self,
        bodies: impl IntoIterator<Item = T>,
    ) -> Result<Vec<MessageId>, SendBatchError<T>> {
        self.send_message_batch(bodies.into_iter().map(Message::new))
            .map_err(|e| {
                let (error, sent, unsent) = e.into_fields();
                SendBatchError::new(
                    error,
                    sent,
                    unsent.into_iter().map(Message::into_body).collect(),
                )
            })
    }

    /// [`send_batch`](Queue::send_batch) for [`Message`]s with options.
    ///
    /// # Errors
    /// As [`send_batch`](Queue::send_batch).
    pub fn send_message_batch(
        &self,
        messages: impl IntoIterator<Item = Message<T>>,
    ) -> Result<Vec<MessageId>, SendBatchError<Message<T>>> {
        let inner = &*self.inner;
        let mut iter = messages.into_iter();
        let mut ids = Vec::with_capacity(iter.size_hint().0);
        let mut pending: Option<Message<T>> = None;
        loop {
            {
                let stamp = Stamp::full(&*inner.clock);
                let mut p = inner.producer.lock();
                if p.closed {
                    let unsent = pending.into_iter().chain(iter).collect();
                    return Err(SendBatchError::new(Error::Closed, ids, unsent));
                }
                while let Some(msg) = pending.take().or_else(|| iter.next()) {
                    match p.admit(inner, msg, stamp) {
                        Admit::Sent(id) | Admit::Duplicate(id) => ids.push(MessageId(id)),
                        Admit::Full(m) => {
                            pending = Some(m);
                            break;
                        }
                    }
                }
            }
            inner.notify_ready();
            let Some(msg) = pending.take() else {
                return Ok(ids);
            };
            // Full: wait for room through the single-message path, then continue in runs.
            match self.send_core(msg, self.policy_wait(Wait::Forever)) {
                Ok(id) => ids.push(id),
                Err((error, m)) => {
                    let unsent = std::iter::once(m).chain(iter).collect();
                    return Err(SendBatchError::new(error, ids, unsent));
                }
            }
        }
    }

    // -------------------------------------------------------------------------------------------
    // Receiving

    fn receive_into(
        &self,
        max: usize,
        wait: Wait,
        out: &mut dyn FnMut(Delivery<T>),
    ) -> Result<usize>
    where
        T: Clone,
    {
        let inner = &*self.inner;
        let mut step = 0;
        let poll = |out: &mut dyn FnMut(Delivery<T>), sleeping: bool| {
            let mut wake = Wake::default();
            let poll = {
                // A lease needs the time; read it before taking the lock.
                let clock = &*inner.clock;
                let mut now = if inner.config.no_ack {
                    Now::new(clock)
                } else {
                    Now::at(clock, clock.now())
                };
                let mut c = inner.consumer.lock();
                let poll = c.poll(inner, max, sleeping, &mut now, &mut wake, out);
                if sleeping && poll.got == 0 {
                    c.register_sleeper(poll.next_event);
                }
                poll
            };
            wake.fire(inner);
            poll
        };
        loop {
            let p = poll(out, false);
            if p.got > 0 {
                return Ok(p.got);
            }
            if p.closed_and_empty {
                return Err(Error::Closed);
            }
            let pending = p.pending;
            let until = match wait {
                Wait::No => return Err(Error::Empty),
                Wait::Until(t) => {
                    if inner.clock.now() >= t {
                        return Err(Error::Timeout);
                    }
                    Some(t)
                }
                Wait::Forever => None,
            };
            if pending {
                // A ring push is under way: it lands within moments, unless its thread was
                // preempted.
                std::thread::yield_now();
                continue;
            }
            if backoff(&mut step) {
                // While spinning, look again only once a producer has sent something: reads of
                // rarely written lines instead of a poll (locks, and a clock read in ack mode).
                // Messages that become visible otherwise (a nack, an ended delay or lease) are seen
                // at the yield steps and by the sleep protocol's look.
                while step <= SPIN_STEPS
                    && !inner.inbox_hint.load(AtomicOrdering::Acquire)
                    && inner.ring.is_empty()
                {
                    backoff(&mut step);
                }
                continue;
            }
            // Sleep protocol (see `state`): register, read the epoch, look again, wait.
            inner.ready_sleepers.fetch_add(1, AtomicOrdering::SeqCst);
            let seen = inner.ready.epoch();
            let p = poll(out, true);
            if p.pending {
                inner.ready_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
                continue;
            }
            if p.got > 0 || p.closed_and_empty {
                inner.ready_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
                return if p.got > 0 {
                    Ok(p.got)
                } else {
                    Err(Error::Closed)
                };
            }
            inner
                .ready
                .wait(&*inner.clock, seen, earliest(until, p.next_event));
            inner.ready_sleepers.fetch_sub(1, AtomicOrdering::SeqCst);
        }
    }

    /// A single receive. The common case first: a ring message that nothing could come before, taken
    /// under the consumer lock with the body moved as few times as possible (by reference through
    /// `took_no_ack` / `took_ack`, the delivery built where it is returned: at 256-byte bodies the
    /// copies are most of the cost); otherwise the general poll.
    #[inline(always)]
    fn receive_one(&self, wait: Wait) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        let inner = &*self.inner;
        if inner.config.no_ack {
            let mut wake = Wake::default();
            let mut now = Now::new(&*inner.clock);
            let mut m = None;
            {
                let mut c = inner.consumer.lock();
                if c.ring_first(inner, &mut now) {
                    m = inner.ring.pop();
                    c.took_no_ack(inner, &mut m, &mut wake);
                }
            }
            wake.fire(inner);
            if let Some(m) = m {
                return Ok(m.into_no_ack_delivery(inner.uid));
            }
        } else {
            // A lease needs the time; read it before taking the lock.
            let clock = &*inner.clock;
            let mut now = Now::at(clock, clock.now());
            let mut wake = Wake::default();
            let mut d = None;
            {
                let mut c = inner.consumer.lock();
                if c.ring_first(inner, &mut now) {
                    let mut m = inner.ring.pop();
                    c.took_ack(inner, &mut m, &mut now, &mut wake, &mut d);
                }
            }
            wake.fire(inner);
            if let Some(d) = d {
                return Ok(d);
            }
        }
        let mut got = None;
        self.receive_into(1, wait, &mut |d| got = Some(d))?;
        Ok(got.expect("one delivery"))
    }

    /// Receives the first visible message, waiting until there is one. The message is leased for the
    /// visibility timeout: ack it when done.
    ///
    /// ```
    /// use std::thread;
    /// use ember_queue::Queue;
    /// let queue: Queue<u64> = Queue::builder().build().unwrap();
    /// let producer = queue.clone();
    /// thread::spawn(move || producer.send(42).unwrap());
    /// let d = queue.receive().unwrap();
    /// assert_eq!(*d.body(), 42);
    /// queue.ack(d.receipt()).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`] once the queue is closed and drained.
    pub fn receive(&self) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        self.receive_one(Wait::Forever)
    }

    /// Like [`receive`](Queue::receive), waiting at most `timeout` (SQS long polling).
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Closed`] once the queue is closed and drained.
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        self.receive_one(self.wait_for(timeout))
    }

    /// Receives the first visible message if there is one now.
    ///
    /// # Errors
    /// [`Error::Empty`] if nothing is visible; [`Error::Closed`] once the queue is closed and drained.
    pub fn try_receive(&self) -> Result<Delivery<T>>
    where
        T: Clone,
    {
        self.receive_one(Wait::No)
    }

    /// Receives up to `max` messages in one go, waiting until there is at least one (SQS
    /// `MaxNumberOfMessages`). With `max == 0` returns an empty batch at once.
    ///
    /// # Errors
    /// [`Error::Closed`] once the queue is closed and drained.
    pub fn receive_batch(&self, max: usize) -> Result<Vec<Delivery<T>>>
    where
        T: Clone,
    {
        self.receive_many(max, Wait::Forever)
    }

    /// Like [`receive_batch`](Queue::receive_batch), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Closed`] once the queue is closed and drained.
    pub fn receive_batch_timeout(&self, max: usize, timeout: Duration) -> Result<Vec<Delivery<T>>>
    where
        T: Clone,
    {
        self.receive_many(max, self.wait_for(timeout))
    }

    /// Receives up to `max` messages that are visible now.
    ///
    /// # Errors
    /// [`Error::Empty`] if nothing is visible; [`Error::Closed`] once the queue is closed and drained.
    pub fn try_receive_batch(&self, max: usize) -> Result<Vec<Delivery<T>>>
    where
        T: Clone,
    {
        self.receive_many(max, Wait::No)
    }

    fn receive_many(&self, max: usize, wait: Wait) -> Result<Vec<Delivery<T>>>
    where
        T: Clone,
    {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        self.receive_into(max, wait, &mut |d| out.push(d))?;
        Ok(out)
    }

    // -------------------------------------------------------------------------------------------
    // Settling leases

    fn settle<R>(
        &self,
        f: impl FnOnce(&mut Consumer<T>, &Inner<T>, &mut Now<'_>, &mut Wake) -> Result<R>,
    ) -> Result<R> {
        let inner = &*self.inner;
        let mut wake = Wake::default();
        let result = {
            let mut now = Now::new(&*inner.clock);
            let mut c = inner.consumer.lock();
            f(&mut c, inner, &mut now, &mut wake)
        };
        wake.fire(inner);
        result
    }

    /// Deletes a received message (SQS `DeleteMessage`).
    ///
    /// # Errors
    /// [`Error::StaleReceipt`] if the lease already ended (visibility timeout, ack, nack) or the receipt
    /// is another queue's; [`Error::NoAck`] in `no_ack` mode.
    pub fn ack(&self, receipt: Receipt) -> Result<()> {
        self.settle(|c, inner, now, wake| c.ack(inner, &receipt, now, wake))
    }

    /// Acks several receipts under one lock; one result per receipt, in order (SQS
    /// `DeleteMessageBatch`).
    pub fn ack_batch(&self, receipts: &[Receipt]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(receipts.len());
        let _ = self.settle(|c, inner, now, wake| {
            results.extend(receipts.iter().map(|r| c.ack(inner, r, now, wake)));
            Ok(())
        });
        results
    }

    /// Gives a received message back: it is visible again after the retry policy's delay, or goes to
    /// the dead-letter queue if it used up its receives.
    ///
    /// # Errors
    /// As [`ack`](Queue::ack).
    pub fn nack(&self, receipt: Receipt) -> Result<NackOutcome> {
        self.settle(|c, inner, now, wake| c.nack(inner, &receipt, None, now, wake))
    }

    /// [`nack`](Queue::nack) recording why the attempt failed: the text travels with the message
    /// ([`Delivery::last_error`]) and into the dead-letter queue.
    ///
    /// # Errors
    /// As [`ack`](Queue::ack).
    pub fn nack_with_error(
        &self,
        receipt: Receipt,
        error: impl Into<String>,
    ) -> Result<NackOutcome> {
        let error: Arc<str> = Arc::from(error.into());
        self.settle(|c, inner, now, wake| c.nack(inner, &receipt, Some(error), now, wake))
    }

    /// Changes a received message's visibility: it stays invisible for `timeout` from now (SQS
    /// `ChangeMessageVisibility`); a long job calls this before its lease runs out. Zero makes the
    /// message visible at once, without counting a nack.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_core::ManualClock;
    /// use ember_queue::Queue;
    /// let clock = ManualClock::new();
    /// let queue: Queue<&str> = Queue::builder()
    ///     .visibility_timeout(Duration::from_secs(30))
    ///     .clock(clock.clone())
    ///     .build()
    ///     .unwrap();
    /// queue.send("transcode video").unwrap();
    /// let d = queue.try_receive().unwrap();
    /// clock.advance(Duration::from_secs(25));
    /// queue.extend(d.receipt(), Duration::from_secs(60)).unwrap();
    /// clock.advance(Duration::from_secs(50));
    /// assert!(queue.try_receive().is_err()); // still leased
    /// queue.ack(d.receipt()).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`ack`](Queue::ack), and [`Error::InvalidVisibility`] above [`MAX_VISIBILITY_TIMEOUT`].
    pub fn extend(&self, receipt: Receipt, timeout: Duration) -> Result<()> {
        if timeout > MAX_VISIBILITY_TIMEOUT {
            return Err(Error::InvalidVisibility(timeout));
        }
        self.settle(|c, inner, now, wake| c.extend(inner, &receipt, timeout, now, wake))
    }

    // -------------------------------------------------------------------------------------------
    // Everything else

    /// The dead-letter queue.
    #[must_use]
    pub fn dead_letters(&self) -> DeadLetters<T> {
        DeadLetters::new(self.clone())
    }

    /// Stops new sends (they fail with [`Error::Closed`], handing the message back) and wakes every
    /// waiting sender and receiver. Consumers keep receiving what is left; once nothing is visible,
    /// delayed or in flight, receives return [`Error::Closed`]. Acks, nacks and the dead-letter queue
    /// work as before (a redrive is refused).
    ///
    /// ```
    /// use ember_queue::{Error, Queue};
    /// let queue: Queue<u8> = Queue::builder().build().unwrap();
    /// queue.send(1).unwrap();
    /// queue.close();
    /// assert_eq!(*queue.send(2).unwrap_err().error(), Error::Closed);
    /// let d = queue.receive().unwrap(); // drain
    /// queue.ack(d.receipt()).unwrap();
    /// assert_eq!(queue.receive().unwrap_err(), Error::Closed);
    /// ```
    pub fn close(&self) {
        {
            let mut p = self.inner.producer.lock();
            p.closed = true;
            self.inner.close_seq();
            self.inner.inbox_hint.store(true, AtomicOrdering::Release);
        }
        self.inner.space.notify_all();
        self.inner.ready.notify_all();
    }

    /// Whether [`close`](Queue::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.producer.lock().closed
    }

    /// A snapshot of depths and counters. Takes the queue's locks briefly; the oldest-message age scans
    /// the held messages.
    #[must_use]
    pub fn stats(&self) -> QueueStats {
        let (g, p, c, dead) = self.inner.snapshot();
        let now_ms = self.inner.clock.unix_millis();
        QueueStats {
            visible: g.visible,
            delayed: g.delayed,
            in_flight: g.in_flight,
            waiting_in_groups: g.waiting_in_groups,
            active_groups: g.active_groups,
            dead_letters: dead,
            capacity: self.inner.config.capacity,
            sends: p.sends,
            deduplicated: p.deduplicated,
            receives: c.receives,
            redeliveries: c.redeliveries,
            acks: c.acks,
            nacks: c.nacks,
            expired: c.expired,
            dead_lettered: c.dead_lettered,
            redriven: p.redriven,
            oldest_age_ms: g
                .oldest_sent_ms
                .map_or(0, |sent| now_ms.saturating_sub(sent)),
            closed: p.closed,
        }
    }

    /// The id that receipts of this queue carry (tells partitions apart).
    pub(crate) fn uid(&self) -> u32 {
        self.inner.uid
    }
}

fn map_send_error<T>(e: SendError<Message<T>>, f: impl FnOnce(Message<T>) -> T) -> SendError<T> {
    let (error, msg) = e.into_parts();
    SendError::new(error, f(msg))
}
