//! What goes in (timestamped events) and what comes out (window results and late events).

/// One timestamped event: the unit the window operator consumes.
///
/// The operator works on any iterator of events, so anything that has a key, an event time in
/// milliseconds and a value can be windowed; `(key, timestamp, value)` tuples convert directly.
/// `partition` names the input partition the event came from (for per-partition watermarks); `None`
/// means partition 0.
///
/// ```
/// use ember_stream::window::Event;
/// let e = Event::new("page:/home", 1_000, 1u32).with_partition(3);
/// assert_eq!((e.key, e.timestamp, e.value, e.partition), ("page:/home", 1_000, 1, Some(3)));
/// let f: Event<&str, u32> = ("page:/cart", 2_000, 5).into();
/// assert_eq!(f.partition, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Event<K, V> {
    /// The grouping key: windows are kept per key.
    pub key: K,
    /// Event time, milliseconds (usually since the Unix epoch).
    pub timestamp: u64,
    /// The payload folded into the window's aggregate.
    pub value: V,
    /// The input partition, for per-partition watermarks; `None` is partition 0.
    pub partition: Option<u32>,
}

impl<K, V> Event<K, V> {
    /// An event on partition 0.
    pub fn new(key: K, timestamp: u64, value: V) -> Self {
        Event {
            key,
            timestamp,
            value,
            partition: None,
        }
    }

    /// The same event, tagged with its input partition.
    #[must_use]
    pub fn with_partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }
}

impl<K, V> From<(K, u64, V)> for Event<K, V> {
    fn from((key, timestamp, value): (K, u64, V)) -> Self {
        Event::new(key, timestamp, value)
    }
}

/// What a [`WindowResult`] is, relative to earlier results for the same window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum ResultKind {
    /// A partial result emitted before the window closed (early firing), or the result of an
    /// incomplete count window at [`finish`](super::Windower::finish).
    Early,
    /// The first complete result: the watermark passed the window's end.
    Final,
    /// A corrected result: a late event (within the allowed lateness) changed a window that had already
    /// produced its `Final` result.
    Update,
    /// The window with these bounds no longer exists: a late event extended or merged the session it
    /// was reported as. The value is the one last emitted for it. (Kafka Streams sends a tombstone.)
    Retract,
}

/// One output of the operator: the aggregate of one key's window.
///
/// Bounds, in milliseconds of event time:
///
/// | windows  | `start`                   | `end`                                  |
/// |----------|---------------------------|----------------------------------------|
/// | tumbling, hopping | window start, inclusive | window end, **exclusive** `[start, end)` |
/// | sliding  | `t - size`, inclusive     | `t`, the record that defined it, inclusive |
/// | session  | first event, inclusive    | last event, inclusive                  |
/// | count    | earliest event time       | latest event time (inclusive)          |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct WindowResult<K, R> {
    /// The key the window belongs to.
    pub key: K,
    /// Window start (ms).
    pub start: u64,
    /// Window end (ms); see the table above for inclusiveness.
    pub end: u64,
    /// The aggregate.
    pub value: R,
    /// Early, final, update, or retraction.
    pub kind: ResultKind,
}

/// Why an event went to the late side output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum LateReason {
    /// Every window the event belongs to is closed: the watermark had passed the window's end plus
    /// the allowed lateness, and its state was dropped.
    WindowClosed {
        /// The last timestamp covered by the latest window the event would have belonged to (for a
        /// session it would have started, the event time; for sliding windows, event time + size).
        window_end: u64,
    },
    /// The event arrived after [`finish`](super::Windower::finish).
    Finished,
}

/// An event too late to be counted, with the reason: the side output (Flink's `sideOutputLateData`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LateEvent<K, V> {
    /// The event, as given.
    pub event: Event<K, V>,
    /// The event time the operator used (the record's, the extractor's, or processing time).
    pub event_time: u64,
    /// The operator's watermark when the event arrived, if it had one: every event at or before it
    /// was expected to have arrived already.
    pub watermark: Option<u64>,
    /// Why it was not counted.
    pub reason: LateReason,
}

impl<K, V> LateEvent<K, V> {
    /// How far behind the watermark the event was, in ms (0 if it had none).
    #[must_use]
    pub fn behind_ms(&self) -> u64 {
        self.watermark
            .map_or(0, |w| w.saturating_sub(self.event_time))
    }
}

/// Everything the operator can produce, in one stream: what
/// [`Windower::process`](super::Windower::process) yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted<K, R, V> {
    /// A window result.
    Result(WindowResult<K, R>),
    /// An event sent to the late side output.
    Late(LateEvent<K, V>),
    /// An event refused as invalid (handed back unchanged).
    Rejected(super::error::Rejected<K, V>),
}
