//! Windowed aggregation over event streams, with the semantics of Flink and Kafka Streams.
//!
//! A [`Windower`] consumes timestamped [`Event`]s — from an ember-stream topic or any iterator — groups
//! them by key into time windows (tumbling, hopping, sliding, session) or count windows, folds each
//! window with an [`Aggregator`], and emits a [`WindowResult`] when the **watermark**
//! passes the window's end. Events arriving after that within the **allowed lateness** update the
//! window (a result marked [`ResultKind::Update`]); later ones go to the **late side output** with the
//! reason ([`LateEvent`]), never silently dropped.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::window::{Event, ResultKind, Windower, Windows};
//!
//! // Per-page counts over 1-minute tumbling windows; events may arrive up to 5 s out of order.
//! let mut views = Windower::builder(Windows::tumbling(Duration::from_secs(60)))
//!     .count()
//!     .max_out_of_orderness(Duration::from_secs(5))
//!     .build()
//!     .unwrap();
//! for (page, t) in [("/home", 1_000), ("/cart", 30_000), ("/home", 59_000), ("/home", 58_000)] {
//!     views.push(Event::new(page, t, ())).unwrap();
//! }
//! assert!(views.take_results().is_empty(), "the watermark (58.999 s) has not passed 60 s yet");
//! views.push(Event::new("/cart", 66_000, ())).unwrap(); // watermark -> 60.999 s: [0, 60 s) fires
//! let mut out = views.take_results();
//! out.sort_by_key(|r| r.key);
//! assert_eq!(
//!     out.iter().map(|r| (r.key, r.start, r.end, r.value, r.kind)).collect::<Vec<_>>(),
//!     vec![("/cart", 0, 60_000, 1, ResultKind::Final), ("/home", 0, 60_000, 3, ResultKind::Final)]
//! );
//! ```
//!
//! # Windows
//! See [`Windows`]: tumbling `[start, start+size)`; hopping (size, advance); Kafka Streams sliding
//! windows `[t-size, t]` (one per record time, both ends inclusive); sessions per key closing after an
//! inactivity gap, `[first, last]` inclusive, merged when a record — even a late one — bridges two of
//! them; and count windows of `n` events per key, tumbling or sliding (every `slide` events over the
//! last `size`, as Flink's `countWindow(size, slide)`; arrival order, no time semantics).
//!
//! # Time and watermarks
//! Event time is the event's [`timestamp`](Event::timestamp), or what
//! [`event_time_from`](WindowerBuilder::event_time_from) extracts from the value; or processing time
//! ([`processing_time`](WindowerBuilder::processing_time)), the clock's wall time on arrival.
//! Times are milliseconds in a `u64`, and window bounds saturate at `u64::MAX`: events within one
//! window size of `u64::MAX` (some 584 million years after the epoch) have windows whose ends all
//! clamp to `u64::MAX`, and such windows are merged into one. Keep event times below
//! `u64::MAX - size` (no real clock comes near it).
//!
//! The watermark is Flink's *bounded out-of-orderness* generator: per input partition,
//! `max event time seen - max_out_of_orderness - 1`; the operator's watermark is the minimum over its
//! partitions and never goes backwards. A watermark `w` asserts that no more events at or before `w`
//! are expected. A partition that sends nothing for [`idle_timeout`](WindowerBuilder::idle_timeout)
//! (judged by the [`Clock`]) is *idle* and left out of the minimum until it sends
//! again, so one silent partition does not stall every window. Processing time uses the clock's wall
//! time as the watermark. Call [`tick`](Windower::tick) when no events arrive, so idleness, processing
//! time and interval early firing are noticed.
//!
//! A source that knows when its data is complete can say so: [`push_watermark`](Windower::push_watermark)
//! sets a partition's watermark explicitly, and
//! [`punctuated_watermarks`](WindowerBuilder::punctuated_watermarks) reads one from marker events;
//! with [`explicit_watermarks`](WindowerBuilder::explicit_watermarks) only these move it.
//!
//! # Firing, lateness, state
//! - A window fires (`Final`) when the watermark reaches its last timestamp (`end - 1` for tumbling and
//!   hopping; `end` for sliding; `last + gap` for sessions, which can still grow until then).
//! - [`allowed_lateness`](WindowerBuilder::allowed_lateness) (default 0, as Flink) keeps a fired
//!   window's state until the watermark passes `last timestamp + lateness`; each late event in that
//!   time re-emits the window as `Update`. An event whose windows are all past that goes to
//!   [`take_late`](Windower::take_late) with [`LateReason::WindowClosed`]. (For hopping windows an
//!   event still counts in those of its windows that are open, as in Flink.)
//! - Sessions judge lateness by the event's own time (as Kafka Streams does: record time + grace
//!   against stream time): an event with `t + lateness <= watermark` goes to the side output; any
//!   other may still extend, join or bridge the sessions kept (until the watermark passes
//!   `last + gap + lateness`). So a late event never touches a session already dropped.
//! - A late event that extends or merges sessions that were already emitted first retracts them
//!   ([`ResultKind::Retract`], like Kafka Streams' tombstones); the merged session is emitted again.
//! - Early firing: [`early_fire_every`](WindowerBuilder::early_fire_every) (every N events of a
//!   window) and [`early_fire_interval`](WindowerBuilder::early_fire_interval) (processing time) emit
//!   partial results marked [`ResultKind::Early`].
//! - State is bounded by the windows that are open: a window is dropped once the watermark passes its
//!   last timestamp plus the lateness. [`stats`](Windower::stats) reports open and peak windows, late
//!   events and emissions. [`finish`](Windower::finish) ends the input: every window fires.
//!
//! Results of one watermark advance come in order of window end; among keys the order is unspecified.
//!
//! The operator is single-threaded like a Flink task (`&mut self`); it is `Send + Sync` when its key,
//! value and aggregator are, so it can be moved to a worker thread or put behind a mutex.
//!
//! # Topics
//! [`topic`] turns ember-stream [`Record`](crate::Record)s into events (event time = record timestamp,
//! watermark per topic partition) and appends window results to another topic.

pub mod agg;
mod engine;
mod error;
mod event;
mod spec;
mod timers;
pub mod topic;
mod watermark;

use std::collections::VecDeque;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use ember_core::clock::{Clock, SharedClock, SystemClock};
use ember_core::stats::{Snapshot, write_fields};

pub use agg::{Aggregator, Number};
pub use error::{Error, Rejected, Result};
pub use event::{Emitted, Event, LateEvent, LateReason, ResultKind, WindowResult};
pub use spec::Windows;
pub use watermark::MAX_PARTITIONS;

use agg::{Avg, Collect, Count, Fold, Max, Min, Sum};
use engine::{Aligned, CountSliding, Counters, Counting, Ctx, Engine, Sessions, Sliding};
use spec::ms;
use watermark::Watermarks;

/// A boxed event-time extractor.
type Extractor<V> = Box<dyn Fn(&V) -> u64 + Send + Sync>;

/// A boxed punctuated-watermark generator: `(value, event time) -> watermark`.
type Punctuation<V> = Box<dyn Fn(&V, u64) -> Option<u64> + Send + Sync>;

enum TimeSource<V> {
    Event,
    Extract(Extractor<V>),
    Processing,
}

/// The window operator: feed it events, collect window results and late events.
///
/// Built with [`Windower::builder`]. See the [module docs](self) for the semantics.
pub struct Windower<K, V, A: Aggregator<V> = Count> {
    windows: Windows,
    agg: A,
    engine: Engine<K, V, A::Acc>,
    marks: Watermarks,
    time: TimeSource<V>,
    punctuation: Option<Punctuation<V>>,
    lateness: u64,
    early_every: u32,
    early_interval: Option<Duration>,
    next_early: Option<Instant>,
    clock: SharedClock,
    needs_now: bool,
    results: Vec<WindowResult<K, A::Output>>,
    late: Vec<LateEvent<K, V>>,
    c: Counters,
    processed_low: u64,
    finished: bool,
}

macro_rules! cx {
    ($s:ident) => {
        Ctx {
            agg: &$s.agg,
            out: &mut $s.results,
            c: &mut $s.c,
            low: $s.marks.low(),
            lateness: $s.lateness,
            early_every: $s.early_every,
            _v: PhantomData,
        }
    };
}

impl<K, V> Windower<K, V, Count> {
    /// A builder for windows of the given kind, counting events until another aggregate is chosen.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::{Windower, Windows};
    /// let w = Windower::<String, f64>::builder(Windows::session(Duration::from_secs(1800)))
    ///     .sum(|amount: &f64| *amount)
    ///     .allowed_lateness(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(w.stats().open_windows, 0);
    /// ```
    pub fn builder(windows: Windows) -> WindowerBuilder<K, V, Count> {
        WindowerBuilder {
            windows,
            agg: Count,
            lateness: Duration::ZERO,
            max_delay: Duration::ZERO,
            partitions: None,
            idle_timeout: None,
            time: TimeSource::Event,
            generate: true,
            punctuation: None,
            early_every: None,
            early_interval: None,
            clock: None,
            _k: PhantomData,
        }
    }
}

impl<K: Hash + Eq + Clone, V, A: Aggregator<V>> Windower<K, V, A> {
    /// Feeds one event. Results and late events it causes are collected; take them with
    /// [`take_results`](Self::take_results) and [`take_late`](Self::take_late).
    ///
    /// # Errors
    /// [`Rejected`] (holding the event) if its partition is out of range
    /// ([`Error::PartitionOutOfRange`]). A late event is not an error: it goes to the late output.
    pub fn push(&mut self, event: Event<K, V>) -> Result<(), Rejected<K, V>> {
        if self.finished {
            let event_time = self.time_of(&event);
            self.late_event(event, event_time, LateReason::Finished);
            return Ok(());
        }
        let partition = event.partition.unwrap_or(0);
        if let Err(error) = self.marks.check(partition) {
            return Err(Rejected { event, error });
        }
        let now = self.needs_now.then(|| self.clock.now());
        let ts = match &self.time {
            TimeSource::Event => event.timestamp,
            TimeSource::Extract(f) => f(&event.value),
            TimeSource::Processing => {
                let wall = self.clock.unix_millis();
                self.marks.raise(wall);
                self.advance();
                wall
            }
        };
        self.c.events += 1;
        let punctuation = self.punctuation.as_ref().and_then(|f| f(&event.value, ts));
        let Event {
            key,
            timestamp,
            value,
            partition: part,
        } = event;
        let res = {
            let mut cx = cx!(self);
            self.engine.push(&mut cx, key, ts, value)
        };
        if let Err((key, value, window_end)) = res {
            let event = Event {
                key,
                timestamp,
                value,
                partition: part,
            };
            self.late_event(event, ts, LateReason::WindowClosed { window_end });
        }
        if !matches!(self.time, TimeSource::Processing) {
            self.marks.observe(partition, ts, now);
        }
        if let Some(w) = punctuation {
            self.marks.explicit(partition, w, now);
        }
        if let Some(now) = now {
            self.marks.check_idle(now);
            self.early_timer(now);
        }
        self.advance();
        Ok(())
    }

    /// Feeds every event of `events`; stops at the first rejected one and returns it (the events
    /// before it were consumed, the rest are left in the iterator).
    ///
    /// # Errors
    /// The first [`Rejected`] event, as [`push`](Self::push).
    pub fn push_all<I>(&mut self, events: I) -> Result<(), Rejected<K, V>>
    where
        I: IntoIterator,
        I::Item: Into<Event<K, V>>,
    {
        for e in events {
            self.push(e.into())?;
        }
        Ok(())
    }

    /// Runs the operator over a (finite) iterator of events: yields every result, late event and
    /// rejected event as it happens, and [`finish`](Self::finish)es at the end of the input, so the
    /// last windows fire.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::{Emitted, Windower, Windows};
    /// let mut w = Windower::builder(Windows::session(Duration::from_millis(10))).build().unwrap();
    /// let sessions: Vec<_> = w
    ///     .process([("u1", 0, ()), ("u1", 5, ()), ("u1", 40, ())])
    ///     .filter_map(|e| match e {
    ///         Emitted::Result(r) => Some((r.start, r.end, r.value)),
    ///         _ => None,
    ///     })
    ///     .collect();
    /// assert_eq!(sessions, vec![(0, 5, 2), (40, 40, 1)]);
    /// ```
    pub fn process<I>(&mut self, events: I) -> Process<'_, K, V, A, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: Into<Event<K, V>>,
    {
        Process {
            w: self,
            input: Some(events.into_iter()),
            queue: VecDeque::new(),
        }
    }

    /// An explicit watermark for an input partition: it will send no more events at or before
    /// `watermark` (ms). The partition's watermark becomes the larger of this and what its event
    /// times generate (nothing, with [`explicit_watermarks`](WindowerBuilder::explicit_watermarks));
    /// the operator's watermark is still the minimum over the partitions, never goes backwards, and
    /// windows it passes fire now. It counts as activity: an idle partition is active again. After
    /// [`finish`](Self::finish) it is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::{Windower, Windows};
    /// // The source says when a minute is complete; event times alone move nothing.
    /// let mut w = Windower::builder(Windows::tumbling(Duration::from_secs(60)))
    ///     .explicit_watermarks()
    ///     .build()
    ///     .unwrap();
    /// w.push_all([("a", 10_000, ()), ("a", 70_000, ())]).unwrap();
    /// assert_eq!(w.watermark(), None);
    /// w.push_watermark(0, 59_999).unwrap();
    /// let r = w.take_results();
    /// assert_eq!((r[0].start, r[0].end, r[0].value), (0, 60_000, 1));
    /// ```
    ///
    /// # Errors
    /// [`Error::PartitionOutOfRange`] if `partition` is not one of the declared
    /// [`partitions`](WindowerBuilder::partitions) (or not below [`MAX_PARTITIONS`]).
    pub fn push_watermark(&mut self, partition: u32, watermark: u64) -> Result<()> {
        self.marks.check(partition)?;
        if self.finished {
            return Ok(());
        }
        let now = self.needs_now.then(|| self.clock.now());
        self.marks.explicit(partition, watermark, now);
        if let Some(now) = now {
            self.marks.check_idle(now);
            self.early_timer(now);
        }
        self.advance();
        Ok(())
    }

    /// Checks the clock without an event: idle partitions, processing time, and interval early
    /// firing. Call it periodically when the input is quiet.
    pub fn tick(&mut self) {
        if self.finished {
            return;
        }
        if matches!(self.time, TimeSource::Processing) {
            self.marks.raise(self.clock.unix_millis());
        }
        let now = self.clock.now();
        self.marks.check_idle(now);
        self.early_timer(now);
        self.advance();
    }

    /// Ends the input: the watermark jumps to the end of time, every open window fires (`Final`, or
    /// `Update` if it had fired before), incomplete count windows (the events the next window of a
    /// key already has) are emitted as `Early`, and all state is dropped. Events pushed afterwards go
    /// to the late output ([`LateReason::Finished`]).
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.marks.raise(u64::MAX);
        self.advance();
        let mut cx = cx!(self);
        self.engine.finish(&mut cx);
    }

    /// Takes the window results produced so far.
    #[must_use]
    pub fn take_results(&mut self) -> Vec<WindowResult<K, A::Output>> {
        // The next batch is likely about as large as this one: start with that room (up to a
        // bound, so that one huge batch does not leave a huge idle buffer) rather than growing
        // from nothing again.
        let room = self.results.len().min(4096);
        std::mem::replace(&mut self.results, Vec::with_capacity(room))
    }

    /// Takes the late side output collected so far.
    #[must_use]
    pub fn take_late(&mut self) -> Vec<LateEvent<K, V>> {
        std::mem::take(&mut self.late)
    }

    /// The current watermark: every event at or before it was expected already. `None` before the
    /// first event (or while a declared partition has sent nothing and is not idle).
    #[must_use]
    pub fn watermark(&self) -> Option<u64> {
        self.marks.low().checked_sub(1)
    }

    /// The window definition.
    #[must_use]
    pub fn windows(&self) -> Windows {
        self.windows
    }

    /// A snapshot of the operator's counters and gauges.
    #[must_use]
    pub fn stats(&self) -> WindowStats {
        WindowStats {
            events: self.c.events,
            open_windows: self.c.open,
            peak_windows: self.c.peak,
            keys: self.engine.keys() as u64,
            buffered_events: self.c.buffered,
            late_events: self.c.late,
            emitted: self.c.finals + self.c.updates + self.c.early + self.c.retractions,
            finals: self.c.finals,
            updates: self.c.updates,
            early: self.c.early,
            retractions: self.c.retractions,
            watermark: self.watermark(),
            partitions: self.marks.partitions() as u64,
            idle_partitions: self.marks.idle_partitions() as u64,
        }
    }

    fn time_of(&self, event: &Event<K, V>) -> u64 {
        match &self.time {
            TimeSource::Event => event.timestamp,
            TimeSource::Extract(f) => f(&event.value),
            TimeSource::Processing => self.clock.unix_millis(),
        }
    }

    fn late_event(&mut self, event: Event<K, V>, event_time: u64, reason: LateReason) {
        self.c.late += 1;
        self.late.push(LateEvent {
            event,
            event_time,
            watermark: self.watermark(),
            reason,
        });
    }

    fn early_timer(&mut self, now: Instant) {
        let (Some(interval), Some(next)) = (self.early_interval, self.next_early) else {
            return;
        };
        if now >= next {
            let mut cx = cx!(self);
            self.engine.early_all(&mut cx);
            self.next_early = Some(now + interval);
        }
    }

    #[inline]
    fn advance(&mut self) {
        let low = self.marks.low();
        if low > self.processed_low {
            let mut cx = cx!(self);
            self.engine.advance(&mut cx);
            self.processed_low = low;
        }
    }
}

impl<K, V, A: Aggregator<V>> fmt::Debug for Windower<K, V, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Windower")
            .field("windows", &self.windows)
            .field("lateness_ms", &self.lateness)
            .field("watermark", &self.marks.low().checked_sub(1))
            .field("open_windows", &self.c.open)
            .finish_non_exhaustive()
    }
}

/// The iterator returned by [`Windower::process`].
pub struct Process<'a, K, V, A: Aggregator<V>, I> {
    w: &'a mut Windower<K, V, A>,
    input: Option<I>,
    queue: VecDeque<Emitted<K, A::Output, V>>,
}

impl<K, V, A, I> Iterator for Process<'_, K, V, A, I>
where
    K: Hash + Eq + Clone,
    A: Aggregator<V>,
    I: Iterator,
    I::Item: Into<Event<K, V>>,
{
    type Item = Emitted<K, A::Output, V>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(x) = self.queue.pop_front() {
                return Some(x);
            }
            let input = self.input.as_mut()?;
            match input.next() {
                Some(e) => {
                    if let Err(r) = self.w.push(e.into()) {
                        self.queue.push_back(Emitted::Rejected(r));
                    }
                }
                None => {
                    self.input = None;
                    self.w.finish();
                }
            }
            self.queue
                .extend(self.w.results.drain(..).map(Emitted::Result));
            self.queue.extend(self.w.late.drain(..).map(Emitted::Late));
        }
    }
}

impl<K, V, A: Aggregator<V>, I> fmt::Debug for Process<'_, K, V, A, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("windower", &self.w)
            .field("queued", &self.queue.len())
            .finish()
    }
}

/// Builder of a [`Windower`]: window kind, aggregate, time, watermarks, lateness, early firing.
#[must_use]
pub struct WindowerBuilder<K, V, A = Count> {
    windows: Windows,
    agg: A,
    lateness: Duration,
    max_delay: Duration,
    partitions: Option<u32>,
    idle_timeout: Option<Duration>,
    time: TimeSource<V>,
    generate: bool,
    punctuation: Option<Punctuation<V>>,
    early_every: Option<u32>,
    early_interval: Option<Duration>,
    clock: Option<SharedClock>,
    _k: PhantomData<fn() -> K>,
}

impl<K, V, A> fmt::Debug for WindowerBuilder<K, V, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowerBuilder")
            .field("windows", &self.windows)
            .field("lateness", &self.lateness)
            .field("max_delay", &self.max_delay)
            .finish_non_exhaustive()
    }
}

impl<K, V, A> WindowerBuilder<K, V, A> {
    /// Uses any [`Aggregator`].
    pub fn aggregator<B: Aggregator<V>>(self, agg: B) -> WindowerBuilder<K, V, B> {
        WindowerBuilder {
            windows: self.windows,
            agg,
            lateness: self.lateness,
            max_delay: self.max_delay,
            partitions: self.partitions,
            idle_timeout: self.idle_timeout,
            time: self.time,
            generate: self.generate,
            punctuation: self.punctuation,
            early_every: self.early_every,
            early_interval: self.early_interval,
            clock: self.clock,
            _k: PhantomData,
        }
    }

    /// Counts events (the default): `u64`.
    pub fn count(self) -> WindowerBuilder<K, V, Count> {
        self.aggregator(Count)
    }

    /// Sums `field(value)`.
    pub fn sum<N: Number, F: Fn(&V) -> N>(self, field: F) -> WindowerBuilder<K, V, Sum<F, N>> {
        self.aggregator(Sum::new(field))
    }

    /// The minimum of `field(value)`.
    pub fn min<N: Number, F: Fn(&V) -> N>(self, field: F) -> WindowerBuilder<K, V, Min<F, N>> {
        self.aggregator(Min::new(field))
    }

    /// The maximum of `field(value)`.
    pub fn max<N: Number, F: Fn(&V) -> N>(self, field: F) -> WindowerBuilder<K, V, Max<F, N>> {
        self.aggregator(Max::new(field))
    }

    /// The average of `field(value)`, as `f64`.
    pub fn avg<N: Number, F: Fn(&V) -> N>(self, field: F) -> WindowerBuilder<K, V, Avg<F, N>> {
        self.aggregator(Avg::new(field))
    }

    /// Collects the values of each window (`Vec<V>`).
    pub fn collect(self) -> WindowerBuilder<K, V, Collect>
    where
        V: Clone,
    {
        self.aggregator(Collect)
    }

    /// A user aggregate: `init()` starts a window, `fold(&mut acc, &value)` adds an event; the
    /// accumulator is the result. Not usable with session windows (no merge): see
    /// [`aggregate_with_merge`](Self::aggregate_with_merge).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::{Windower, Windows};
    /// // Largest order and number of orders per customer and hour.
    /// let mut w = Windower::builder(Windows::tumbling(Duration::from_secs(3600)))
    ///     .aggregate(|| (0u32, 0u32), |acc: &mut (u32, u32), amount: &u32| {
    ///         acc.0 = acc.0.max(*amount);
    ///         acc.1 += 1;
    ///     })
    ///     .build()
    ///     .unwrap();
    /// w.push_all([("ann", 10, 30), ("ann", 20, 70)]).unwrap();
    /// w.finish();
    /// assert_eq!(w.take_results()[0].value, (70, 2));
    /// ```
    pub fn aggregate<Acc: Clone, I: Fn() -> Acc, F: Fn(&mut Acc, &V)>(
        self,
        init: I,
        fold: F,
    ) -> WindowerBuilder<K, V, Fold<Acc, I, F>> {
        self.aggregator(Fold::new(init, fold))
    }

    /// A user aggregate that can also merge two accumulators (what session windows need).
    pub fn aggregate_with_merge<Acc: Clone, I: Fn() -> Acc, F: Fn(&mut Acc, &V)>(
        self,
        init: I,
        fold: F,
        merge: impl Fn(&mut Acc, Acc) + Send + Sync + 'static,
    ) -> WindowerBuilder<K, V, Fold<Acc, I, F>> {
        self.aggregator(Fold::new(init, fold).with_merge(merge))
    }

    /// How long after the watermark passed a window's end late events still update it (default 0).
    pub fn allowed_lateness(mut self, lateness: Duration) -> Self {
        self.lateness = lateness;
        self
    }

    /// The bound of the watermark generator: how far behind the largest event time seen an event may
    /// arrive and still be on time (default 0).
    pub fn max_out_of_orderness(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Declares the input partitions `0..n`: the watermark waits for every one of them (or for it to
    /// go idle); events naming other partitions are rejected. Undeclared, partitions are discovered
    /// as events name them (up to [`MAX_PARTITIONS`]).
    pub fn partitions(mut self, n: u32) -> Self {
        self.partitions = Some(n);
        self
    }

    /// A partition that sends nothing for this long (processing time, by the clock) is left out of
    /// the watermark until it sends again. Default: never.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Takes event time from the value instead of the event's timestamp.
    pub fn event_time_from(mut self, extract: impl Fn(&V) -> u64 + Send + Sync + 'static) -> Self {
        self.time = TimeSource::Extract(Box::new(extract));
        self
    }

    /// Turns the bounded-out-of-orderness generator off: event times no longer move the watermark,
    /// only explicit watermarks do — pushed with [`push_watermark`](Windower::push_watermark) or
    /// read from the events with [`punctuated_watermarks`](Self::punctuated_watermarks). For sources
    /// that know when a period is complete (a batch marker, a database's commit time).
    pub fn explicit_watermarks(mut self) -> Self {
        self.generate = false;
        self
    }

    /// Punctuated watermarks (Flink's `onEvent` generator): after each event, `f(value, event
    /// time)` may return a watermark for the event's partition, applied as
    /// [`push_watermark`](Windower::push_watermark) once the event is processed. Combine with
    /// [`explicit_watermarks`](Self::explicit_watermarks) so that only the punctuation moves it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ember_stream::window::{Windower, Windows};
    /// // Readings, and "end of period" markers carrying the time up to which the period is complete.
    /// #[derive(Debug)]
    /// enum Msg { Reading(u32), Complete(u64) }
    /// let mut w = Windower::builder(Windows::tumbling(Duration::from_secs(10)))
    ///     .sum(|m: &Msg| if let Msg::Reading(v) = m { *v } else { 0 })
    ///     .explicit_watermarks()
    ///     .punctuated_watermarks(|m: &Msg, _t| match m { Msg::Complete(upto) => Some(*upto), _ => None })
    ///     .build()
    ///     .unwrap();
    /// w.push_all([("s", 1_000, Msg::Reading(4)), ("s", 12_000, Msg::Reading(5))]).unwrap();
    /// assert!(w.take_results().is_empty());
    /// w.push_all([("s", 12_500, Msg::Complete(9_999))]).unwrap();
    /// assert_eq!(w.take_results()[0].value, 4);
    /// ```
    pub fn punctuated_watermarks(
        mut self,
        f: impl Fn(&V, u64) -> Option<u64> + Send + Sync + 'static,
    ) -> Self {
        self.punctuation = Some(Box::new(f));
        self
    }

    /// Uses processing time: each event is stamped with the clock's wall time on arrival, and the
    /// watermark follows the clock (windows fire on [`tick`](Windower::tick) or the next event).
    pub fn processing_time(mut self) -> Self {
        self.time = TimeSource::Processing;
        self
    }

    /// Emits an `Early` result of a window every `n` events it receives before it fires.
    pub fn early_fire_every(mut self, n: u32) -> Self {
        self.early_every = Some(n);
        self
    }

    /// Emits `Early` results of every changed open window each `interval` of processing time.
    pub fn early_fire_interval(mut self, interval: Duration) -> Self {
        self.early_interval = Some(interval);
        self
    }

    /// The clock for processing time, idleness and early firing (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(ember_core::clock::shared(clock));
        self
    }
}

impl<K: Hash + Eq + Clone, V, A: Aggregator<V>> WindowerBuilder<K, V, A> {
    /// Validates the configuration and builds the operator.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero size, gap, count, count-window slide, partition count,
    /// early-firing count or interval, or idle timeout, or a hopping advance larger than the size;
    /// [`Error::MergeRequired`] for session windows with an aggregator that cannot merge.
    pub fn build(self) -> Result<Windower<K, V, A>> {
        self.windows.validate()?;
        let bad = |m: &str| Err(Error::InvalidConfig(m.to_string()));
        if matches!(self.windows, Windows::Session { .. }) && !self.agg.can_merge() {
            return Err(Error::MergeRequired);
        }
        if self.partitions == Some(0) {
            return bad("at least one partition");
        }
        if self.early_every == Some(0) {
            return bad("early firing needs at least 1 event");
        }
        if self.early_interval == Some(Duration::ZERO) {
            return bad("early firing interval must be positive");
        }
        if self.idle_timeout == Some(Duration::ZERO) {
            return bad("idle timeout must be positive");
        }
        let clock = self
            .clock
            .unwrap_or_else(|| ember_core::clock::shared(SystemClock));
        let needs_now = self.idle_timeout.is_some() || self.early_interval.is_some();
        let now = needs_now.then(|| clock.now());
        let engine = match self.windows {
            Windows::Tumbling { size, offset } => Engine::Aligned(Aligned::new(size, size, offset)),
            Windows::Hopping {
                size,
                advance,
                offset,
            } => Engine::Aligned(Aligned::new(size, advance, offset)),
            Windows::Sliding { size } => Engine::Sliding(Sliding::new(size)),
            Windows::Session { gap } => Engine::Session(Sessions::new(gap)),
            Windows::Count { size } => Engine::Count(Counting::new(size)),
            Windows::CountSliding { size, slide } if size == slide => {
                Engine::Count(Counting::new(size))
            }
            Windows::CountSliding { size, slide } => {
                Engine::CountSliding(CountSliding::new(size, slide))
            }
        };
        Ok(Windower {
            windows: self.windows,
            agg: self.agg,
            engine,
            marks: Watermarks::new(
                ms(self.max_delay),
                self.generate,
                self.partitions,
                self.idle_timeout,
                now,
            ),
            time: self.time,
            punctuation: self.punctuation,
            lateness: ms(self.lateness),
            early_every: self.early_every.unwrap_or(0),
            early_interval: self.early_interval,
            next_early: self.early_interval.and_then(|i| now.map(|n| n + i)),
            clock,
            needs_now,
            results: Vec::new(),
            late: Vec::new(),
            c: Counters::default(),
            processed_low: 0,
            finished: false,
        })
    }
}

/// A snapshot of a [`Windower`]'s counters (only grow) and gauges (now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct WindowStats {
    /// Events accepted for processing (on time or late).
    pub events: u64,
    /// Windows holding state now (per key).
    pub open_windows: u64,
    /// The most windows held at once.
    pub peak_windows: u64,
    /// Keys with state now (for tumbling and hopping: the most keys of one window).
    pub keys: u64,
    /// Events buffered by sliding windows (to build windows for later records).
    pub buffered_events: u64,
    /// Events sent to the late side output.
    pub late_events: u64,
    /// Results emitted, all kinds.
    pub emitted: u64,
    /// `Final` results.
    pub finals: u64,
    /// `Update` results (late firings).
    pub updates: u64,
    /// `Early` results.
    pub early: u64,
    /// `Retract` results (sessions merged or extended after being emitted).
    pub retractions: u64,
    /// The watermark (`u64::MAX - 1`, shown as `end`, after [`finish`](Windower::finish)).
    pub watermark: Option<u64>,
    /// Input partitions known.
    pub partitions: u64,
    /// Of which idle now.
    pub idle_partitions: u64,
}

impl fmt::Display for WindowStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wm = match self.watermark {
            None => "-".to_string(),
            Some(w) if w == u64::MAX - 1 => "end".to_string(),
            Some(w) => w.to_string(),
        };
        write_fields(
            f,
            &[
                ("events", &self.events),
                ("open_windows", &self.open_windows),
                ("peak_windows", &self.peak_windows),
                ("keys", &self.keys),
                ("buffered_events", &self.buffered_events),
                ("late_events", &self.late_events),
                ("emitted", &self.emitted),
                ("finals", &self.finals),
                ("updates", &self.updates),
                ("early", &self.early),
                ("retractions", &self.retractions),
                ("watermark", &wm),
                ("partitions", &self.partitions),
                ("idle_partitions", &self.idle_partitions),
            ],
        )
    }
}

impl Snapshot for WindowStats {}
