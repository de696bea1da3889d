//! The queue's state and the handful of operations that change it.
//!
//! # The state-change seam
//!
//! Every change to what the queue holds goes through one of these operations, all in this file:
//!
//! | operation | function | what it does |
//! |---|---|---|
//! | send | [`Producer::admit`] | a new message enters the inbox (after dedup and the capacity check) |
//! | send (plain fast path) | [`Inner::send_plain`] | a message without delay, group or dedup id enters the ring (after the capacity check) |
//! | lease | [`Consumer::lease_one`] (single receives of a ring message: [`Consumer::took_ack`], [`Consumer::took_no_ack`]) | a visible message is leased until its visibility deadline (or, in `no_ack` mode, removed) |
//! | ack | [`Consumer::ack`] | a leased message is deleted |
//! | nack / visibility expiry / extend to 0 | [`Consumer::release`] | a leased message becomes visible again, now or after the retry delay |
//! | extend | [`Consumer::extend`] | a lease's deadline moves |
//! | dead-letter | [`Consumer::dead_letter`] | a message that used up its receives moves to the dead-letter queue |
//! | redrive / take | [`redrive`], [`take_dead_letters`] | messages leave the dead-letter queue (back to the queue, or to the caller) |
//!
//! Moving messages between internal structures (inbox -> ready lists, delayed -> visible, group
//! followers -> head) does not change *what* the queue holds and is not an operation in this sense. A
//! durable mode (ember issue 8) attaches its operation log here: appending a record in each of these
//! functions, while the lock that orders them is held, gives a log whose replay reproduces the queue
//! (sends, acks, nacks with their retry deadline, dead-letter moves, redrives); leases need not be
//! logged, since after a restart every in-flight message is visible again.
//!
//! # Locking
//!
//! Producers and consumers use different locks so that they rarely meet: producers append to the
//! `inbox` under the producer lock; consumers work on the ready lists, leases, groups and delays under
//! the consumer lock, and take the whole inbox in one swap when they find it non-empty. Messages in
//! the inbox are in sequence order and have higher sequence numbers than everything the consumer side
//! took from it before, so the swap keeps send order. Lock order: consumer -> producer, consumer ->
//! dead letters, dead letters -> producer.
//!
//! # The plain fast path
//!
//! Most messages have no delay, no group and no dedup id. They take no lock: a producer reserves a
//! sequence number (which is also the message id) and a place in the capacity with one
//! compare-and-swap on `seq` (whose top bit says "closed"), then pushes the message into `ring`, a
//! bounded lock-free queue ([`Ring`]: crossbeam's `ArrayQueue`, whose pop waits for a push under way
//! on the oldest slot — reporting the ring empty then would let the consumer deliver an inbox message
//! ahead of an earlier ring message of the same producer in a later slot). Should the ring be full (it
//! holds at most [`RING_CAPACITY`] messages, the queue's capacity may be larger), the message goes to
//! the inbox under the producer lock instead.
//! Consumers take ring messages one at a time into `plain` and deliver the lowest sequence number among
//! `plain`, `fresh` (from the inbox) and `back` (retries etc.), so send order holds across the paths.
//! Before delivering a ring message a consumer checks `inbox_hint`: a message sent to the inbox before
//! the ring message was pushed has set it (happens-before through the ring), so it is taken in and
//! goes first.
//!
//! Sequence numbers are handed out only by [`Inner::take_seq`]. Every number names a message that
//! entered the queue (a send, a redrive, a restore) except the few reserved for other uses, counted in
//! `unadmitted`; so `admitted = seqs handed out - unadmitted`, and the number of messages held (for
//! capacity) is `admitted - removed`.
//!
//! `removed` is counted by consumers and *published* to producers in runs: the consumer side counts
//! every removal under its lock and stores the count in the shared `Inner::removed` only every
//! [`Inner::publish_every`] removals (a sixteenth of the capacity, at most 64; every removal below a
//! capacity of 32), or at once when a producer sleeps for room. On two cores this matters more than
//! any instruction count:
//! a producer that finds the queue full re-reads the count while it waits, and each read takes the
//! count's cache line away from the consumer, whose next store must then fetch it back before its
//! next lock operation completes — per message, when the consumer stores at every removal. The
//! published count lags, so a room check on it may say full when there is room, never the reverse
//! (capacity is never exceeded). Producers therefore go by it only to *wait*: a send is refused
//! as full (`try_send`, a timeout, the look before sleeping) only after [`Inner::publish_removed`]
//! made it exact under the consumer lock. Producers also keep a cached view of it (`removed_seen`)
//! and re-read it only when that says the queue is full, and a blocked `send` waits for a run of
//! places before looking again ([`Inner::spin_for_room`]). Consumers count in `intake` what they took
//! from the ring and the inbox: `admitted > intake` means a message is in the ring or on its way
//! there, so a consumer neither sleeps nor reports `Closed` then.
//!
//! # Waking
//!
//! A thread about to sleep registers in `ready_sleepers` (consumers) or `space_sleepers` (producers),
//! reads the signal's epoch, then checks the state once more *under the lock that guards the change
//! it waits for* (a consumer takes the producer lock, a producer takes the consumer lock once), then
//! waits. Whoever changes the state reads the count after its critical section and notifies only if
//! someone sleeps. The lock orders the two: either the sleeper's second look comes after the change
//! and sees it, or the changer's critical section comes after the registration and sees the sleeper.
//! The common path thus costs a read of a rarely written cache line, not a write to a shared one.
//! A ring send has no lock to order it with a sleeper: there the order comes from the sequence
//! number's compare-and-swap (before the push) and the sleeper's registration (before its last look),
//! both sequentially consistent read-modify-writes. A sleeper that looks after the swap sees `admitted
//! > intake` and does not sleep (it yields until the push lands); otherwise the producer's read of the
//! sleeper count, after its swap, sees the registration and notifies.
//! `inbox_hint` (set when the inbox becomes non-empty or the queue closes) only spares consumers
//! the producer lock when the inbox is empty; the sleep protocol does not rely on it. Sleeping consumers also
//! wake by themselves at the next delay or lease deadline they know of; `horizon` records the latest
//! such wake-up time registered, and an operation that creates an earlier event (a lease, an
//! `extend`, a delayed message) notifies them.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, Signal};
use parking_lot::Mutex;
use rand::rngs::SmallRng;

/// The plain fast path's bounded lock-free queue.
pub(crate) type Ring<T> = crossbeam::queue::ArrayQueue<T>;

use crate::dlq::{DeadLetter, DeadLetterReason};
use crate::error::{Error, Result};
use crate::group::Groups;
use crate::message::{Delivery, Entry, Message, Receipt};
use crate::queue::FullPolicy;
use crate::retry::RetryPolicy;
use crate::visibility::Leases;

/// Receipts of `no_ack` deliveries name this slot; no lease ever has it.
pub(crate) const NO_LEASE_SLOT: u32 = u32::MAX;

/// The most messages the plain fast path's ring holds (less if the queue's capacity is smaller).
pub(crate) const RING_CAPACITY: usize = 1024;

/// The top bit of [`SeqWord`]: the queue is closed.
const CLOSED: u64 = 1 << 63;

/// A message of the plain fast path, as it travels through the ring.
#[derive(Debug)]
pub(crate) struct Plain<T> {
    seq: u64,
    sent_unix_ms: u64,
    body: T,
}

impl<T> Plain<T> {
    /// The `no_ack` delivery of a ring message taken by [`Consumer::take_ring_now`].
    #[inline(always)]
    pub(crate) fn into_no_ack_delivery(self, queue: u32) -> Delivery<T> {
        Delivery {
            receipt: Receipt {
                queue,
                slot: NO_LEASE_SLOT,
                lease: 0,
                id: crate::message::MessageId(self.seq),
            },
            body: self.body,
            receive_count: 1,
            sent_unix_ms: self.sent_unix_ms,
            group: None,
            last_error: None,
        }
    }

    #[inline(always)]
    fn into_entry(self) -> Entry<T> {
        Entry {
            id: self.seq,
            seq: self.seq,
            body: self.body,
            visible_at: None,
            sent_unix_ms: self.sent_unix_ms,
            receive_count: 0,
            group: None,
            last_error: None,
        }
    }
}

/// The producers' shared counters (one cache line, written by producers only).
#[derive(Debug)]
pub(crate) struct SeqWord {
    /// The next sequence number (= message id) to hand out, starting at 1; the top bit is [`CLOSED`].
    word: AtomicU64,
    /// Sequence numbers handed out for something other than a message entering the queue.
    unadmitted: AtomicU64,
    /// A recent value of `Inner::removed` (only ever behind it).
    removed_seen: AtomicU64,
}

impl SeqWord {
    pub(crate) fn new() -> Self {
        SeqWord {
            word: AtomicU64::new(1),
            unadmitted: AtomicU64::new(0),
            removed_seen: AtomicU64::new(0),
        }
    }
}

/// Why no sequence number was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Closed,
    Full,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) capacity: u64,
    pub(crate) full_policy: FullPolicy,
    pub(crate) visibility: Duration,
    pub(crate) delay: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_receives: Option<u32>,
    pub(crate) dedup_window: Duration,
    pub(crate) no_ack: bool,
}

/// Keeps hot fields on their own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Debug)]
pub(crate) struct Inner<T> {
    pub(crate) config: Config,
    pub(crate) clock: SharedClock,
    pub(crate) uid: u32,
    pub(crate) seq: Padded<SeqWord>,
    /// The plain fast path's messages (see the module docs).
    pub(crate) ring: Ring<Plain<T>>,
    pub(crate) producer: Padded<Mutex<Producer<T>>>,
    pub(crate) consumer: Padded<Mutex<Consumer<T>>>,
    /// Messages that left the queue (acked, dead-lettered, received in `no_ack` mode) as far as the
    /// consumers published them (behind their exact count by less than `publish_every`; see the
    /// module docs).
    pub(crate) removed: Padded<AtomicU64>,
    pub(crate) dead: Mutex<VecDeque<DeadLetter<T>>>,
    /// Notified when a message may have become visible (or the queue closed).
    pub(crate) ready: Signal,
    /// Notified when room may have appeared (or the queue closed).
    pub(crate) space: Signal,
    /// The inbox may be non-empty, or the queue is closed: a consumer must look under the producer lock.
    pub(crate) inbox_hint: Padded<AtomicBool>,
    /// Consumers in the sleep protocol.
    pub(crate) ready_sleepers: Padded<AtomicUsize>,
    /// Producers in the sleep protocol.
    pub(crate) space_sleepers: Padded<AtomicUsize>,
}

/// Which signals to notify once the locks are released.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Wake {
    pub(crate) ready: bool,
    pub(crate) space: bool,
}

impl Wake {
    /// Notifies the signals flagged, if anyone sleeps on them. Call after releasing the locks.
    pub(crate) fn fire<T>(self, inner: &Inner<T>) {
        if self.space && inner.space_sleepers.load(Ordering::SeqCst) > 0 {
            inner.space.notify_all();
        }
        if self.ready {
            inner.notify_ready();
        }
    }
}

impl<T> Inner<T> {
    /// Wakes sleeping consumers, if any.
    pub(crate) fn notify_ready(&self) {
        if self.ready_sleepers.load(Ordering::SeqCst) > 0 {
            self.ready.notify_all();
        }
    }

    /// How many removals the consumers may count before publishing them in `removed` (see the
    /// module docs): a sixteenth of the capacity, at most 64, and 1 (every removal) below a capacity
    /// of 32, so a producer's view lags by at most a sixteenth of the capacity.
    pub(crate) fn publish_every(&self) -> u64 {
        (self.config.capacity / 16).clamp(1, 64)
    }

    /// Publishes the consumers' exact removal count, so that a room check that follows sees every
    /// removal so far. Takes the consumer lock: call without the producer lock.
    pub(crate) fn publish_removed(&self) {
        self.consumer.lock().publish_removed(self);
    }

    /// Messages that entered the queue so far (sends, redrives, restores), given a reading of the
    /// sequence word.
    fn admitted_in(&self, word: u64) -> u64 {
        (word & !CLOSED) - 1 - self.seq.unadmitted.load(Ordering::SeqCst)
    }

    /// Messages that entered the queue so far.
    pub(crate) fn admitted(&self) -> u64 {
        self.admitted_in(self.seq.word.load(Ordering::SeqCst))
    }

    /// Whether one more message fits, given a reading of the sequence word.
    fn room_in(&self, word: u64) -> bool {
        let admitted = self.admitted_in(word);
        let capacity = self.config.capacity;
        if admitted.saturating_sub(self.seq.removed_seen.load(Ordering::Relaxed)) < capacity {
            return true;
        }
        let removed = self.removed.load(Ordering::SeqCst);
        self.seq.removed_seen.fetch_max(removed, Ordering::Relaxed);
        admitted.saturating_sub(removed) < capacity
    }

    /// Waits (spinning, a few microseconds at most) until room for `want` messages may be there, or
    /// the queue closed, reading the consumers' `removed` count only every few dozen spins: a
    /// producer that polled it at every spin would take its cache line away from the consumer at
    /// every message. Returns at once if there is room already.
    pub(crate) fn spin_for_room(&self, want: u64) {
        for _ in 0..32 {
            let word = self.seq.word.load(Ordering::Relaxed);
            if word & CLOSED != 0 {
                return;
            }
            let held = self
                .admitted_in(word)
                .saturating_sub(self.removed.load(Ordering::Acquire));
            if held.saturating_add(want) <= self.config.capacity {
                return;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }

    /// Whether one more message fits, going by the published removals (call
    /// [`publish_removed`](Inner::publish_removed) first for an exact answer).
    #[cfg(feature = "durable")]
    pub(crate) fn has_room(&self) -> bool {
        self.room_in(self.seq.word.load(Ordering::SeqCst))
    }

    /// Hands out the next sequence number (which is also the message id) for a message entering the
    /// queue: refused once the queue is closed, and, if `check_room`, when it is full. The only place
    /// sequence numbers come from.
    pub(crate) fn take_seq(&self, check_room: bool) -> Result<u64, Refused> {
        let mut word = self.seq.word.load(Ordering::Relaxed);
        loop {
            if word & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            if check_room && !self.room_in(word) {
                return Err(Refused::Full);
            }
            match self.seq.word.compare_exchange_weak(
                word,
                word + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(word),
                Err(now) => word = now,
            }
        }
    }

    /// A sequence number that names no message entering the queue (a fresh id for some other use).
    /// Handed out even after close. Call under the producer lock.
    #[cfg(feature = "durable")]
    pub(crate) fn take_unadmitted_seq(&self) -> u64 {
        let seq = self.seq.word.fetch_add(1, Ordering::SeqCst) & !CLOSED;
        self.seq.unadmitted.fetch_add(1, Ordering::SeqCst);
        seq
    }

    /// Marks the sequence word closed. Call under the producer lock, with `Producer::closed`.
    pub(crate) fn close_seq(&self) {
        self.seq.word.fetch_or(CLOSED, Ordering::SeqCst);
    }

    /// **Operation: send (plain fast path).** A message without delay, group or dedup id: reserves
    /// its sequence number and place, then pushes it into the ring, or into the inbox should the ring
    /// be full. Takes no lock in the common case. The caller notifies consumers.
    #[inline(always)]
    pub(crate) fn send_plain(&self, body: T, sent_unix_ms: u64) -> Result<u64, (Refused, T)> {
        let seq = match self.take_seq(true) {
            Ok(seq) => seq,
            Err(why) => return Err((why, body)),
        };
        let plain = Plain {
            seq,
            sent_unix_ms,
            body,
        };
        match self.ring.push(plain) {
            Ok(()) => {}
            Err(plain) => {
                // Admitted already (even if the queue closed meanwhile: the send came first).
                let mut p = self.producer.lock();
                if p.inbox.is_empty() {
                    self.inbox_hint.store(true, Ordering::Release);
                }
                p.inbox.push_back(plain.into_entry());
            }
        }
        Ok(seq)
    }
}

/// The latest time a sleeping consumer will wake up by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Horizon {
    /// No consumer registered since the last notification.
    Nobody,
    Until(Instant),
    Forever,
}

/// The current time, read from the clock at most once per operation and only if needed.
pub(crate) struct Now<'a> {
    clock: &'a dyn Clock,
    at: Option<Instant>,
}

impl<'a> Now<'a> {
    pub(crate) fn new(clock: &'a dyn Clock) -> Self {
        Now { clock, at: None }
    }

    /// A reading taken already.
    pub(crate) fn at(clock: &'a dyn Clock, at: Instant) -> Self {
        Now {
            clock,
            at: Some(at),
        }
    }

    pub(crate) fn get(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| self.clock.now())
    }
}

/// When a send happened: wall-clock milliseconds, and the monotonic time if the send needs it (a delay
/// or a dedup id).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub(crate) unix_ms: u64,
    pub(crate) now: Option<Instant>,
}

impl Stamp {
    /// Reads the clock for sending `msg`. The wall-clock send time is the clock's coarse reading
    /// (exact with a `ManualClock`; within about a tick with the system clock).
    pub(crate) fn for_message<T>(config: &Config, clock: &dyn Clock, msg: &Message<T>) -> Self {
        let needs_now = msg.dedup_id.is_some() || !msg.delay.unwrap_or(config.delay).is_zero();
        Stamp {
            unix_ms: clock.coarse_unix_millis(),
            now: needs_now.then(|| clock.now()),
        }
    }

    /// Reads the clock once for a run of messages sent together.
    pub(crate) fn full(clock: &dyn Clock) -> Self {
        Stamp {
            unix_ms: clock.coarse_unix_millis(),
            now: Some(clock.now()),
        }
    }
}

/// `t + d`, saturating far in the future instead of overflowing.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    match t.checked_add(d) {
        Some(at) => at,
        None => t.checked_add(CENTURY).unwrap_or(t),
    }
}

// ---------------------------------------------------------------------------------------------------
// Producer side

#[derive(Debug, Default)]
struct Dedup {
    /// Dedup id -> (message id, end of its window).
    ids: HashMap<Arc<str>, (u64, Instant)>,
    order: VecDeque<(Instant, Arc<str>)>,
}

impl Dedup {
    fn purge(&mut self, now: Instant) {
        while let Some((until, _)) = self.order.front() {
            if *until > now {
                break;
            }
            let (until, key) = self.order.pop_front().expect("front exists");
            if self.ids.get(&key).is_some_and(|(_, u)| *u == until) {
                self.ids.remove(&key);
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Producer<T> {
    inbox: VecDeque<Entry<T>>,
    /// Every message in the inbox is visible at once and has no group (it can be moved wholesale).
    inbox_plain: bool,
    pub(crate) closed: bool,
    dedup: Dedup,
    pub(crate) deduplicated: u64,
    pub(crate) redriven: u64,
    /// Messages put back by the durable mode's restore (admitted, not counted as sends).
    pub(crate) restored: u64,
}

pub(crate) enum Admit<T> {
    Sent(u64),
    Duplicate(u64),
    Full(Message<T>),
}

impl<T> Producer<T> {
    pub(crate) fn new() -> Self {
        Producer {
            inbox: VecDeque::new(),
            inbox_plain: true,
            closed: false,
            dedup: Dedup::default(),
            deduplicated: 0,
            redriven: 0,
            restored: 0,
        }
    }

    /// **Operation: send.** Dedup, capacity, then into the inbox.
    ///
    /// `stamp` is the send time, read before taking the producer lock (a clock read is the most
    /// expensive part of a send; it stays out of the critical section).
    pub(crate) fn admit(&mut self, inner: &Inner<T>, msg: Message<T>, stamp: Stamp) -> Admit<T> {
        let config = &inner.config;
        let mut now = Now {
            clock: &*inner.clock,
            at: stamp.now,
        };
        if let Some(key) = &msg.dedup_id {
            let t = now.get();
            self.dedup.purge(t);
            if let Some((id, _)) = self.dedup.ids.get(key) {
                self.deduplicated += 1;
                return Admit::Duplicate(*id);
            }
        }
        // The caller checked `closed` under the producer lock, which `close` takes.
        let Ok(seq) = inner.take_seq(true) else {
            return Admit::Full(msg);
        };
        if let Some(key) = msg.dedup_id {
            let until = after(now.get(), config.dedup_window);
            self.dedup.ids.insert(key.clone(), (seq, until));
            self.dedup.order.push_back((until, key));
        }
        let delay = msg.delay.unwrap_or(config.delay);
        let visible_at = if delay.is_zero() {
            None
        } else {
            Some(after(now.get(), delay))
        };
        self.inbox_plain &= visible_at.is_none() && msg.group.is_none();
        if self.inbox.is_empty() {
            inner.inbox_hint.store(true, Ordering::Release);
        }
        self.inbox.push_back(Entry {
            id: seq,
            seq,
            body: msg.body,
            visible_at,
            sent_unix_ms: stamp.unix_ms,
            receive_count: 0,
            group: msg.group,
            last_error: None,
        });
        Admit::Sent(seq)
    }
}

// ---------------------------------------------------------------------------------------------------
// Consumer side

/// Min-heap order by sequence number.
#[derive(Debug)]
struct BySeq<T>(Entry<T>);

impl<T> PartialEq for BySeq<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.seq == other.0.seq
    }
}
impl<T> Eq for BySeq<T> {}
impl<T> PartialOrd for BySeq<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for BySeq<T> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.0.seq.cmp(&self.0.seq)
    }
}

/// Min-heap order by visibility time, then sequence number.
#[derive(Debug)]
struct ByTime<T>(Entry<T>);

impl<T> ByTime<T> {
    fn key(&self) -> (Option<Instant>, u64) {
        (self.0.visible_at, self.0.seq)
    }
}
impl<T> PartialEq for ByTime<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<T> Eq for ByTime<T> {}
impl<T> PartialOrd for ByTime<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for ByTime<T> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key().cmp(&self.key())
    }
}

/// How a lease ended without an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// `nack`: visible again after the retry policy's delay.
    Nack,
    /// The visibility timeout passed: visible again at once.
    Expired,
    /// `extend(receipt, 0)`: visible again at once.
    Visible,
}

/// What became of a nacked message.
///
/// ```
/// use ember_queue::{NackOutcome, Queue};
/// let queue: Queue<&str> = Queue::builder().max_receives(1).build().unwrap();
/// queue.send("poison").unwrap();
/// let d = queue.try_receive().unwrap();
/// assert_eq!(queue.nack(d.receipt()).unwrap(), NackOutcome::DeadLettered);
/// assert_eq!(queue.dead_letters().len(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NackOutcome {
    /// It will be visible again after this delay (from the retry policy).
    Retry {
        /// The retry delay.
        delay: Duration,
    },
    /// It had used up its receives and is now in the dead-letter queue.
    DeadLettered,
}

/// The result of a poll of the consumer side.
pub(crate) struct Poll {
    pub(crate) got: usize,
    pub(crate) closed_and_empty: bool,
    /// A message was admitted but is not in yet (a ring push in progress): look again soon, do not
    /// sleep.
    pub(crate) pending: bool,
    /// When something may next become visible on its own (a delay or a lease ending).
    pub(crate) next_event: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Consumer<T> {
    /// Visible messages that arrived in send order from the inbox.
    fresh: VecDeque<Entry<T>>,
    /// Messages taken from the ring, in ring order.
    plain: VecDeque<Entry<T>>,
    /// Messages taken in from the ring and the inbox, ever.
    intake: u64,
    /// Messages that left the queue (acked, dead-lettered, received in `no_ack` mode), ever.
    removed: u64,
    /// The part of `removed` published in `Inner::removed`.
    published: u64,
    /// Visible messages that came back (retries, ended delays, group heads), by sequence number.
    back: BinaryHeap<BySeq<T>>,
    /// Messages not visible yet (delay, retry backoff), by visibility time.
    delayed: BinaryHeap<ByTime<T>>,
    leases: Leases<T>,
    groups: Groups<T>,
    spare: VecDeque<Entry<T>>,
    rng: SmallRng,
    horizon: Horizon,
    pub(crate) receives: u64,
    pub(crate) redeliveries: u64,
    pub(crate) acks: u64,
    pub(crate) nacks: u64,
    pub(crate) expired: u64,
    pub(crate) dead_lettered: u64,
}

impl<T> Consumer<T> {
    pub(crate) fn new(rng: SmallRng) -> Self {
        Consumer {
            fresh: VecDeque::new(),
            plain: VecDeque::new(),
            intake: 0,
            removed: 0,
            published: 0,
            back: BinaryHeap::new(),
            delayed: BinaryHeap::new(),
            leases: Leases::new(),
            groups: Groups::new(),
            spare: VecDeque::new(),
            rng,
            horizon: Horizon::Nobody,
            receives: 0,
            redeliveries: 0,
            acks: 0,
            nacks: 0,
            expired: 0,
            dead_lettered: 0,
        }
    }

    /// One more message left the queue: counted here, and published to producers every
    /// [`Inner::publish_every`] removals, or at once when a producer sleeps waiting for room.
    #[inline(always)]
    fn count_removed(&mut self, inner: &Inner<T>) {
        self.removed += 1;
        if self.removed - self.published >= inner.publish_every()
            || inner.space_sleepers.load(Ordering::Relaxed) > 0
        {
            self.publish_removed(inner);
        }
    }

    /// Makes `Inner::removed` exact (see [`Inner::publish_removed`]).
    pub(crate) fn publish_removed(&mut self, inner: &Inner<T>) {
        if self.published != self.removed {
            self.published = self.removed;
            inner.removed.store(self.removed, Ordering::Release);
        }
    }

    /// Nothing visible, delayed, in flight or waiting in a group.
    pub(crate) fn holds_nothing(&self) -> bool {
        self.fresh.is_empty()
            && self.plain.is_empty()
            && self.back.is_empty()
            && self.delayed.is_empty()
            && self.leases.len() == 0
            && self.groups.waiting() == 0
    }

    /// Something became visible: wake sleeping consumers.
    fn wake_sleepers(&mut self, wake: &mut Wake) {
        wake.ready = true;
        self.horizon = Horizon::Nobody;
    }

    /// The last message left the consumer side: if the queue may be closed, wake sleeping consumers
    /// so they return `Closed` now rather than at the deadline of the lease that just ended.
    /// (`inbox_hint` is set for good by `close`; when it is set because the inbox is non-empty, the
    /// producer has notified already, so this costs at most a spurious look.)
    fn wake_if_drained(&mut self, inner: &Inner<T>, wake: &mut Wake) {
        if inner.inbox_hint.load(Ordering::Acquire) && self.holds_nothing() {
            self.wake_sleepers(wake);
        }
    }

    /// Something will happen by itself at `at` (a delay or a lease ends): wake sleeping consumers if
    /// one of them would otherwise sleep past it.
    fn note_event(&mut self, at: Instant, wake: &mut Wake) {
        let later = match self.horizon {
            Horizon::Nobody => false,
            Horizon::Until(h) => at < h,
            Horizon::Forever => true,
        };
        if later {
            self.wake_sleepers(wake);
        }
    }

    /// A consumer is about to sleep until `next_event` (or a notification).
    pub(crate) fn register_sleeper(&mut self, next_event: Option<Instant>) {
        self.horizon = match (self.horizon, next_event) {
            (Horizon::Forever, _) | (_, None) => Horizon::Forever,
            (Horizon::Nobody, Some(t)) => Horizon::Until(t),
            (Horizon::Until(h), Some(t)) => Horizon::Until(h.max(t)),
        };
    }

    /// Places a message that may be delivered (it is its group's head, or has no group).
    fn schedule(&mut self, entry: Entry<T>, now: &mut Now<'_>, in_order: bool, wake: &mut Wake) {
        match entry.visible_at {
            Some(at) if at > now.get() => {
                self.note_event(at, wake);
                self.delayed.push(ByTime(entry));
            }
            _ if in_order => self.fresh.push_back(entry),
            _ => self.back.push(BySeq(entry)),
        }
    }

    /// Moves the whole inbox over (not a state change: the messages were already sent).
    pub(crate) fn drain_inbox(
        &mut self,
        inner: &Inner<T>,
        p: &mut Producer<T>,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) {
        if p.inbox.is_empty() {
            inner.inbox_hint.store(p.closed, Ordering::Release);
            return;
        }
        inner.inbox_hint.store(p.closed, Ordering::Release);
        self.intake += p.inbox.len() as u64;
        if p.inbox_plain && self.fresh.is_empty() {
            std::mem::swap(&mut self.fresh, &mut p.inbox);
            return;
        }
        std::mem::swap(&mut self.spare, &mut p.inbox);
        p.inbox_plain = true;
        while let Some(entry) = self.spare.pop_front() {
            if let Some(entry) = self.groups.admit(entry) {
                self.schedule(entry, now, true, wake);
            }
        }
    }

    /// Takes one message from the ring into `plain`, if there is one.
    fn take_from_ring(&mut self, inner: &Inner<T>) -> bool {
        match inner.ring.pop() {
            Some(m) => {
                self.plain.push_back(m.into_entry());
                self.intake += 1;
                true
            }
            None => false,
        }
    }

    /// Takes everything in the ring into `plain`.
    pub(crate) fn drain_ring(&mut self, inner: &Inner<T>) {
        while self.take_from_ring(inner) {}
    }

    /// Where the visible message with the lowest sequence number is: 0 = `fresh`, 1 = `plain`,
    /// 2 = `back`.
    fn first_visible(&self) -> Option<u8> {
        let f = self.fresh.front().map(|e| e.seq);
        let p = self.plain.front().map(|e| e.seq);
        let b = self.back.peek().map(|e| e.0.seq);
        [f, p, b]
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (s, i as u8)))
            .min()
            .map(|(_, i)| i)
    }

    fn pop_visible(&mut self) -> Option<Entry<T>> {
        match self.first_visible()? {
            0 => self.fresh.pop_front(),
            1 => self.plain.pop_front(),
            _ => self.back.pop().map(|b| b.0),
        }
    }

    /// Ends leases whose deadline passed and makes due delayed messages visible.
    pub(crate) fn maintain(&mut self, inner: &Inner<T>, now: &mut Now<'_>, wake: &mut Wake) {
        if self.leases.len() > 0 {
            let t = now.get();
            while let Some(entry) = self.leases.pop_expired(t) {
                self.expired += 1;
                self.release(inner, entry, Release::Expired, now, wake);
            }
        }
        if !self.delayed.is_empty() {
            let t = now.get();
            while let Some(top) = self.delayed.peek() {
                if top.0.visible_at.is_some_and(|at| at > t) {
                    break;
                }
                let entry = self.delayed.pop().expect("peeked").0;
                self.back.push(BySeq(entry));
            }
        }
    }

    /// When a delay or a lease next ends.
    pub(crate) fn next_event(&self) -> Option<Instant> {
        let delayed = self.delayed.peek().and_then(|e| e.0.visible_at);
        match (delayed, self.leases.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The head of `group` left the queue: schedule the next one.
    fn advance_group(
        &mut self,
        group: &crate::message::GroupId,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) {
        if let Some(next) = self.groups.advance(group) {
            self.schedule(next, now, false, wake);
            self.wake_sleepers(wake);
        }
    }

    /// **Operation: lease.** Takes the first visible message and leases it (or, in `no_ack` mode,
    /// removes it).
    pub(crate) fn lease_one(
        &mut self,
        inner: &Inner<T>,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> Option<Delivery<T>>
    where
        T: Clone,
    {
        let entry = self.pop_visible()?;
        Some(self.lease_entry(inner, entry, now, wake))
    }

    /// Leases `entry`, just taken from the visible messages (or, in `no_ack` mode, removes it).
    #[inline(always)]
    fn lease_entry(
        &mut self,
        inner: &Inner<T>,
        mut entry: Entry<T>,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> Delivery<T>
    where
        T: Clone,
    {
        entry.receive_count += 1;
        self.receives += 1;
        if entry.receive_count > 1 {
            self.redeliveries += 1;
        }
        let id = crate::message::MessageId(entry.id);
        if inner.config.no_ack {
            self.count_removed(inner);
            wake.space = true;
            if let Some(group) = &entry.group {
                self.advance_group(group, now, wake);
            }
            return Delivery {
                receipt: Receipt {
                    queue: inner.uid,
                    slot: NO_LEASE_SLOT,
                    lease: 0,
                    id,
                },
                body: entry.body,
                receive_count: entry.receive_count,
                sent_unix_ms: entry.sent_unix_ms,
                group: entry.group,
                last_error: entry.last_error,
            };
        }
        let deadline = after(now.get(), inner.config.visibility);
        self.note_event(deadline, wake);
        // The message moves into its lease slot; the delivery's body is cloned from there (one copy).
        let (slot, lease, entry) = self.leases.insert(entry, deadline);
        Delivery {
            receipt: Receipt {
                queue: inner.uid,
                slot,
                lease,
                id,
            },
            body: entry.body.clone(),
            receive_count: entry.receive_count,
            sent_unix_ms: entry.sent_unix_ms,
            group: entry.group.clone(),
            last_error: entry.last_error.clone(),
        }
    }

    /// Whether a single receive may take the ring's next message at once, without the general poll:
    /// nothing visible on the consumer side, no delay or lease due, nothing in the inbox. (In `no_ack`
    /// mode the caller then pops and calls [`took_no_ack`](Consumer::took_no_ack).)
    #[inline(always)]
    pub(crate) fn ring_first(&self, inner: &Inner<T>, now: &mut Now<'_>) -> bool {
        if !(self.fresh.is_empty() && self.plain.is_empty() && self.back.is_empty()) {
            return false;
        }
        if let Some(at) = self.next_event() {
            if at <= now.get() {
                return false;
            }
        }
        !inner.inbox_hint.load(Ordering::Acquire)
    }

    /// The start shared by [`took_no_ack`](Consumer::took_no_ack) and [`took_ack`](Consumer::took_ack):
    /// counts a popped ring message `m` into the intake and, if an inbox message may have to go before it,
    /// moves it to `plain`. Returns whether `m` is still there to be delivered now.
    #[inline(always)]
    fn intake_ring(&mut self, inner: &Inner<T>, m: &mut Option<Plain<T>>) -> bool {
        if m.is_none() {
            return false;
        }
        self.intake += 1;
        // Checked again after the pop: an inbox message sent before `m` was pushed has set it.
        if inner.inbox_hint.load(Ordering::Acquire) {
            if let Some(m) = m.take() {
                self.plain.push_back(m.into_entry());
            }
            return false;
        }
        true
    }

    /// `no_ack` mode: `m` was just popped from the ring after [`ring_first`](Consumer::ring_first)
    /// said so. Counts it as received and removed, or, if an inbox message may have to go first, keeps
    /// it in `plain` (and leaves `None`). The caller builds the delivery with
    /// [`Plain::into_no_ack_delivery`] once the lock is released. (By reference, so that the body
    /// moves as few times as possible: it is the bulk of a large message's cost.)
    #[inline(always)]
    pub(crate) fn took_no_ack(
        &mut self,
        inner: &Inner<T>,
        m: &mut Option<Plain<T>>,
        wake: &mut Wake,
    ) {
        if !self.intake_ring(inner, m) {
            return;
        }
        // What `lease_entry` does for a first receive without group.
        self.receives += 1;
        self.count_removed(inner);
        wake.space = true;
    }

    /// Ack mode: `m` was just popped from the ring after [`ring_first`](Consumer::ring_first) said
    /// so. Leases it (the first receive of a message without group) and puts its delivery in `out`,
    /// or, if an inbox message may have to go first, keeps it in `plain`. `now` holds an exact reading
    /// taken before the consumer lock. (By reference, as [`took_no_ack`](Consumer::took_no_ack): the
    /// body moves once into the lease and is cloned once into the delivery.)
    #[inline(always)]
    pub(crate) fn took_ack(
        &mut self,
        inner: &Inner<T>,
        m: &mut Option<Plain<T>>,
        now: &mut Now<'_>,
        wake: &mut Wake,
        out: &mut Option<Delivery<T>>,
    ) where
        T: Clone,
    {
        if !self.intake_ring(inner, m) {
            return;
        }
        // What `lease_entry` does for a first receive without group.
        self.receives += 1;
        let deadline = after(now.get(), inner.config.visibility);
        self.note_event(deadline, wake);
        let (slot, lease, entry) = self.leases.insert_with(deadline, || {
            let mut e = m.take().expect("checked").into_entry();
            e.receive_count = 1;
            e
        });
        *out = Some(Delivery {
            receipt: Receipt {
                queue: inner.uid,
                slot,
                lease,
                id: crate::message::MessageId(entry.id),
            },
            body: entry.body.clone(),
            receive_count: 1,
            sent_unix_ms: entry.sent_unix_ms,
            group: None,
            last_error: None,
        });
    }

    /// Receives up to `max` messages into `out`.
    ///
    /// `look` forces a look at the inbox under the producer lock (the sleep protocol's second look)
    /// instead of trusting `inbox_hint`.
    pub(crate) fn poll(
        &mut self,
        inner: &Inner<T>,
        max: usize,
        look: bool,
        now: &mut Now<'_>,
        wake: &mut Wake,
        out: &mut dyn FnMut(Delivery<T>),
    ) -> Poll
    where
        T: Clone,
    {
        self.maintain(inner, now, wake);
        let mut got = 0;
        // Whether the queue is closed, once the inbox was looked at under the producer lock.
        let mut closed = None;
        let mut look = look;
        while got < max {
            if self.plain.is_empty() {
                let Some(m) = inner.ring.pop() else {
                    // The same tail as the loop's end, kept apart on purpose: letting this path fall
                    // through to it cost the 8-byte no_ack receives about a third of their throughput
                    // (code layout; measured in session 3, notes/issue-05-queue.md).
                    if self.take_inbox(inner, look, &mut closed, now, wake) {
                        look = false;
                    }
                    match self.lease_one(inner, now, wake) {
                        Some(d) => {
                            out(d);
                            got += 1;
                            continue;
                        }
                        None => break,
                    }
                };
                self.intake += 1;
                if self.fresh.is_empty()
                    && self.back.is_empty()
                    && !look
                    && !inner.inbox_hint.load(Ordering::Acquire)
                {
                    // The common case: nothing else is visible; deliver the ring's message as is.
                    let d = self.lease_entry(inner, m.into_entry(), now, wake);
                    out(d);
                    got += 1;
                    continue;
                }
                self.plain.push_back(m.into_entry());
            }
            if self.take_inbox(inner, look, &mut closed, now, wake) {
                look = false;
            }
            match self.lease_one(inner, now, wake) {
                Some(d) => {
                    out(d);
                    got += 1;
                }
                None => break,
            }
        }
        // Without a look at the inbox, the queue is open: closing sets the hint for good.
        let pending = got == 0 && inner.admitted() != self.intake;
        Poll {
            got,
            closed_and_empty: got == 0 && closed == Some(true) && !pending && self.holds_nothing(),
            pending,
            next_event: if got == 0 { self.next_event() } else { None },
        }
    }

    /// Looks at the inbox when told to, or when the hint says it holds messages (they may have been
    /// sent before the ring's: the hint was set before those were pushed), taking it in. Returns
    /// whether it looked; `closed` is then set.
    fn take_inbox(
        &mut self,
        inner: &Inner<T>,
        look: bool,
        closed: &mut Option<bool>,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> bool {
        if !look && !inner.inbox_hint.load(Ordering::Acquire) {
            return false;
        }
        let mut p = inner.producer.lock();
        *closed = Some(p.closed);
        self.drain_inbox(inner, &mut p, now, wake);
        true
    }

    /// Validates a receipt: it must name a live lease of this queue. A lease whose deadline passed
    /// stays live until the queue processes the expiry (at the next receive or stats), as in SQS,
    /// where a receipt works until the message is received again; this spares a clock read per ack.
    fn check(&mut self, inner: &Inner<T>, r: &Receipt) -> Result<()> {
        if inner.config.no_ack {
            return Err(Error::NoAck);
        }
        if r.queue != inner.uid || self.leases.deadline(r.slot, r.lease).is_none() {
            return Err(Error::StaleReceipt(r.id));
        }
        Ok(())
    }

    /// **Operation: ack.** Deletes a leased message.
    pub(crate) fn ack(
        &mut self,
        inner: &Inner<T>,
        r: &Receipt,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> Result<()> {
        if inner.config.no_ack {
            return Err(Error::NoAck);
        }
        // The checks of `check`, with one slot lookup; the message is dropped where it lies.
        let group = if r.queue == inner.uid {
            self.leases.end(r.slot, r.lease)
        } else {
            None
        };
        let Some(group) = group else {
            return Err(Error::StaleReceipt(r.id));
        };
        self.acks += 1;
        self.count_removed(inner);
        wake.space = true;
        if let Some(group) = &group {
            self.advance_group(group, now, wake);
        }
        self.wake_if_drained(inner, wake);
        Ok(())
    }

    /// **Operation: nack.**
    pub(crate) fn nack(
        &mut self,
        inner: &Inner<T>,
        r: &Receipt,
        error: Option<Arc<str>>,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> Result<NackOutcome> {
        self.check(inner, r)?;
        let mut entry = self.leases.take(r.slot, r.lease).expect("checked");
        self.nacks += 1;
        if error.is_some() {
            entry.last_error = error;
        }
        Ok(self.release(inner, entry, Release::Nack, now, wake))
    }

    /// **Operation: extend** (change visibility). Zero makes the message visible at once.
    pub(crate) fn extend(
        &mut self,
        inner: &Inner<T>,
        r: &Receipt,
        by: Duration,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> Result<()> {
        self.check(inner, r)?;
        if by.is_zero() {
            let entry = self.leases.take(r.slot, r.lease).expect("checked");
            self.release(inner, entry, Release::Visible, now, wake);
        } else {
            let at = after(now.get(), by);
            self.note_event(at, wake);
            self.leases.set_deadline(r.slot, r.lease, at);
        }
        Ok(())
    }

    /// **Operation: release** (nack, visibility expiry, extend to zero): the message is visible again,
    /// after the retry delay for a nack, or dead-lettered if it used up its receives.
    pub(crate) fn release(
        &mut self,
        inner: &Inner<T>,
        mut entry: Entry<T>,
        how: Release,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) -> NackOutcome {
        if let Some(max) = inner.config.max_receives {
            if entry.receive_count >= max {
                let reason = match how {
                    Release::Nack => DeadLetterReason::Nacked,
                    Release::Expired => DeadLetterReason::VisibilityTimeout,
                    Release::Visible => DeadLetterReason::Released,
                };
                self.dead_letter(inner, entry, reason, now, wake);
                return NackOutcome::DeadLettered;
            }
        }
        let delay = match how {
            Release::Nack => inner.config.retry.delay(entry.receive_count, &mut self.rng),
            Release::Expired | Release::Visible => Duration::ZERO,
        };
        entry.visible_at = if delay.is_zero() {
            None
        } else {
            Some(after(now.get(), delay))
        };
        let visible_now = entry.visible_at.is_none();
        self.schedule(entry, now, false, wake);
        if visible_now {
            self.wake_sleepers(wake);
        }
        NackOutcome::Retry { delay }
    }

    /// **Operation: dead-letter.**
    pub(crate) fn dead_letter(
        &mut self,
        inner: &Inner<T>,
        entry: Entry<T>,
        reason: DeadLetterReason,
        now: &mut Now<'_>,
        wake: &mut Wake,
    ) {
        let group = entry.group.clone();
        inner.dead.lock().push_back(DeadLetter {
            id: crate::message::MessageId(entry.id),
            body: entry.body,
            attempts: entry.receive_count,
            last_error: entry.last_error.as_deref().map(str::to_owned),
            reason,
            group: entry.group,
            sent_unix_ms: entry.sent_unix_ms,
            dead_lettered_unix_ms: inner.clock.unix_millis(),
        });
        self.dead_lettered += 1;
        self.count_removed(inner);
        wake.space = true;
        if let Some(group) = &group {
            self.advance_group(group, now, wake);
        }
        self.wake_if_drained(inner, wake);
    }

    /// Gauges for stats (call after draining the inbox).
    pub(crate) fn gauges(&self) -> Gauges {
        let oldest = self
            .fresh
            .front()
            .map(|e| e.sent_unix_ms)
            .into_iter()
            .chain(self.plain.iter().map(|e| e.sent_unix_ms))
            .chain(self.back.iter().map(|e| e.0.sent_unix_ms))
            .chain(self.delayed.iter().map(|e| e.0.sent_unix_ms))
            .chain(self.leases.entries().map(|e| e.sent_unix_ms))
            .chain(self.groups.entries().map(|e| e.sent_unix_ms))
            .min();
        Gauges {
            visible: (self.fresh.len() + self.plain.len() + self.back.len()) as u64,
            delayed: self.delayed.len() as u64,
            in_flight: self.leases.len() as u64,
            waiting_in_groups: self.groups.waiting() as u64,
            active_groups: self.groups.busy() as u64,
            oldest_sent_ms: oldest,
        }
    }
}

pub(crate) struct Gauges {
    pub(crate) visible: u64,
    pub(crate) delayed: u64,
    pub(crate) in_flight: u64,
    pub(crate) waiting_in_groups: u64,
    pub(crate) active_groups: u64,
    pub(crate) oldest_sent_ms: Option<u64>,
}

impl<T> Inner<T> {
    /// Brings the consumer side up to date (inbox, expiries, delays) and reads everything for stats.
    pub(crate) fn snapshot(&self) -> (Gauges, ProducerCounters, ConsumerCounters, u64) {
        let mut wake = Wake::default();
        let mut now = Now::new(&*self.clock);
        let mut c = self.consumer.lock();
        c.drain_ring(self);
        let pc = {
            let mut p = self.producer.lock();
            c.drain_inbox(self, &mut p, &mut now, &mut wake);
            // Ring sends that raced with the drains above are counted as sends and not yet seen
            // as visible; the next snapshot sees them.
            ProducerCounters {
                sends: self.admitted() - p.redriven - p.restored,
                deduplicated: p.deduplicated,
                redriven: p.redriven,
                closed: p.closed,
            }
        };
        c.maintain(self, &mut now, &mut wake);
        let gauges = c.gauges();
        let cc = ConsumerCounters {
            receives: c.receives,
            redeliveries: c.redeliveries,
            acks: c.acks,
            nacks: c.nacks,
            expired: c.expired,
            dead_lettered: c.dead_lettered,
        };
        drop(c);
        let dead = self.dead.lock().len() as u64;
        wake.fire(self);
        (gauges, pc, cc, dead)
    }
}

pub(crate) struct ProducerCounters {
    pub(crate) sends: u64,
    pub(crate) deduplicated: u64,
    pub(crate) redriven: u64,
    pub(crate) closed: bool,
}

pub(crate) struct ConsumerCounters {
    pub(crate) receives: u64,
    pub(crate) redeliveries: u64,
    pub(crate) acks: u64,
    pub(crate) nacks: u64,
    pub(crate) expired: u64,
    pub(crate) dead_lettered: u64,
}

/// **Operation: redrive.** Moves the dead letters `select` picks back to the queue, at the tail, with
/// their receive count reset. Holds the dead-letter lock throughout, so a message is always in exactly
/// one place.
pub(crate) fn redrive<T>(
    inner: &Inner<T>,
    mut select: impl FnMut(&DeadLetter<T>) -> bool,
) -> Result<usize> {
    let mut dead = inner.dead.lock();
    let mut p = inner.producer.lock();
    if p.closed {
        return Err(Error::Closed);
    }
    let mut kept = VecDeque::with_capacity(dead.len());
    let mut moved = 0;
    for letter in dead.drain(..) {
        if !select(&letter) {
            kept.push_back(letter);
            continue;
        }
        let Ok(seq) = inner.take_seq(false) else {
            // Closed: checked above under the producer lock, which `close` takes.
            kept.push_back(letter);
            continue;
        };
        p.inbox_plain &= letter.group.is_none();
        inner.inbox_hint.store(true, Ordering::Release);
        p.inbox.push_back(Entry {
            id: letter.id.0,
            seq,
            body: letter.body,
            visible_at: None,
            sent_unix_ms: letter.sent_unix_ms,
            receive_count: 0,
            group: letter.group,
            last_error: None,
        });
        p.redriven += 1;
        moved += 1;
    }
    *dead = kept;
    drop(p);
    drop(dead);
    if moved > 0 {
        inner.notify_ready();
    }
    Ok(moved)
}

/// **Operation: take dead letters.** Hands the dead letters `select` picks to the caller, out of the
/// queue for good.
pub(crate) fn take_dead_letters<T>(
    inner: &Inner<T>,
    mut select: impl FnMut(&DeadLetter<T>) -> bool,
) -> Vec<DeadLetter<T>> {
    let mut dead = inner.dead.lock();
    let mut kept = VecDeque::with_capacity(dead.len());
    let mut taken = Vec::new();
    for letter in dead.drain(..) {
        if select(&letter) {
            taken.push(letter);
        } else {
            kept.push_back(letter);
        }
    }
    *dead = kept;
    taken
}

// ---- restore hooks for durable mode ----
// Used only by `durable.rs` when a `DurableQueue` replays its log on open. Nothing above depends on
// this block.

/// A message as the durable log restores it: its state when the process stopped.
#[cfg(feature = "durable")]
pub(crate) struct Restored<T> {
    pub(crate) body: T,
    /// Not visible before this instant (a delay or retry backoff that had not ended).
    pub(crate) visible_at: Option<Instant>,
    pub(crate) sent_unix_ms: u64,
    pub(crate) receive_count: u32,
    pub(crate) group: Option<crate::message::GroupId>,
    pub(crate) last_error: Option<Arc<str>>,
}

#[cfg(feature = "durable")]
impl<T> Inner<T> {
    /// **Operation: restore a message** (durable mode, on open): enters the inbox after everything
    /// restored before it, with its delay, group, receive count and last error, as a send would
    /// (counted against the capacity; not counted as a send in the stats).
    pub(crate) fn restore_message(&self, r: Restored<T>) -> Result<crate::message::MessageId> {
        self.publish_removed();
        let mut p = self.producer.lock();
        let seq = match self.take_seq(true) {
            Ok(seq) => seq,
            Err(Refused::Full) => return Err(Error::Full),
            Err(Refused::Closed) => return Err(Error::Closed),
        };
        p.inbox_plain &= r.visible_at.is_none() && r.group.is_none();
        if p.inbox.is_empty() {
            self.inbox_hint.store(true, Ordering::Release);
        }
        p.inbox.push_back(Entry {
            id: seq,
            seq,
            body: r.body,
            visible_at: r.visible_at,
            sent_unix_ms: r.sent_unix_ms,
            receive_count: r.receive_count,
            group: r.group,
            last_error: r.last_error,
        });
        p.restored += 1;
        drop(p);
        self.notify_ready();
        Ok(crate::message::MessageId(seq))
    }

    /// **Operation: restore a dead letter** (durable mode, on open): puts `letter` straight into the
    /// dead-letter queue under a fresh message id (its `id` field is replaced). Not counted against the
    /// capacity, as dead letters are not.
    pub(crate) fn restore_dead_letter(
        &self,
        mut letter: DeadLetter<T>,
    ) -> crate::message::MessageId {
        let id = self.reserve_message_id();
        letter.id = id;
        self.dead.lock().push_back(letter);
        id
    }

    /// A fresh message id that no message has (for a restored dedup entry whose message is gone).
    pub(crate) fn reserve_message_id(&self) -> crate::message::MessageId {
        let _p = self.producer.lock();
        crate::message::MessageId(self.take_unadmitted_seq())
    }

    /// Whether a send would find room now; [`Error::Closed`] once the queue is closed. Exact: a
    /// "no" comes only after the consumers' removals were published.
    pub(crate) fn check_room(&self) -> Result<bool> {
        for exact in [false, true] {
            if exact {
                self.publish_removed();
            }
            let p = self.producer.lock();
            if p.closed {
                return Err(Error::Closed);
            }
            if self.has_room() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts a send that the durable mode's own dedup table absorbed.
    pub(crate) fn count_deduplicated(&self) {
        self.producer.lock().deduplicated += 1;
    }
}
