//! Windows over ember-stream topics: records in, results out.
//!
//! - [`Event::from_record`] and `From<Record> for Event<Bytes, Bytes>` turn a topic's records into
//!   events: the record's key (empty if unkeyed), its timestamp as event time, and its partition, so
//!   the watermark is kept per topic partition.
//! - [`append_results`] (and [`append_results_json`] with the `serde` feature) append window results
//!   to another topic, keyed by the window's key and stamped with the window end: the "aggregate to
//!   topic" step a dashboard or a downstream consumer reads from.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::{Message, Topic};
//! use ember_stream::window::{Event, Windower, Windows, topic::append_results};
//!
//! let views = Topic::builder("page-views").partitions(2).build().unwrap();
//! for (page, t) in [("/home", 1_000), ("/cart", 2_000), ("/home", 3_000), ("/home", 61_000)] {
//!     views.send(Message::keyed(page, "view").timestamp(t)).unwrap();
//! }
//! // One watermark per topic partition: a partition read later holds the windows back.
//! let mut counts = Windower::builder(Windows::tumbling(Duration::from_secs(60)))
//!     .count()
//!     .partitions(views.partitions())
//!     .build()
//!     .unwrap();
//! for p in 0..views.partitions() {
//!     for record in views.read(p, 0, 100).unwrap() {
//!         counts.push(Event::from(record)).unwrap();
//!     }
//! }
//! counts.finish();
//!
//! let per_minute = Topic::builder("views-per-minute").partitions(1).build().unwrap();
//! let results = counts.take_results();
//! append_results(&per_minute, &results, |r| Message::new(r.value.to_string())).unwrap();
//! let out = per_minute.read(0, 0, 10).unwrap();
//! assert_eq!(out.len(), 3);
//! assert!(out.iter().any(|r| r.key_str() == Some("/home") && r.value_str() == Some("2")));
//! ```

use super::event::{Event, WindowResult};
use crate::{Bytes, Message, Record, RecordId, Topic};

impl<K, V> Event<K, V> {
    /// An event from a topic record: event time is the record's timestamp, the partition is the
    /// record's; `split` turns the record into the key and value to window by.
    ///
    /// ```
    /// use ember_stream::{Message, Topic};
    /// use ember_stream::window::Event;
    /// let t = Topic::builder("t").partitions(1).build().unwrap();
    /// t.send(Message::keyed("user-1", "42").timestamp(5_000)).unwrap();
    /// let r = t.read(0, 0, 1).unwrap().remove(0);
    /// let e = Event::from_record(r, |r| {
    ///     let amount: u32 = r.value_str().and_then(|v| v.parse().ok()).unwrap_or(0);
    ///     (r.key_str().unwrap_or_default().to_string(), amount)
    /// });
    /// assert_eq!((e.key.as_str(), e.timestamp, e.value, e.partition), ("user-1", 5_000, 42, Some(0)));
    /// ```
    pub fn from_record(record: Record, split: impl FnOnce(&Record) -> (K, V)) -> Self {
        let (key, value) = split(&record);
        Event {
            key,
            timestamp: record.timestamp,
            value,
            partition: Some(record.partition),
        }
    }
}

impl From<Record> for Event<Bytes, Bytes> {
    /// Key (empty for unkeyed records), timestamp, value and partition of the record.
    fn from(record: Record) -> Self {
        Event {
            key: record.key.unwrap_or_default(),
            timestamp: record.timestamp,
            value: record.value,
            partition: Some(record.partition),
        }
    }
}

/// Appends window results to `topic`: each becomes `encode(result)` keyed by the window key, with the
/// window end as its timestamp (unless `encode` set one). Keyed records keep per-key order in the
/// output topic, so a consumer sees a window's `Final` before its `Update`s.
///
/// # Errors
/// The topic's error for the first result it refused; the results before it were appended.
pub fn append_results<K: AsRef<[u8]>, R>(
    topic: &Topic,
    results: &[WindowResult<K, R>],
    encode: impl Fn(&WindowResult<K, R>) -> Message,
) -> crate::Result<Vec<RecordId>> {
    let messages = results.iter().map(|r| {
        encode(r)
            .key(Bytes::copy_from_slice(r.key.as_ref()))
            .timestamp(r.end)
    });
    topic.append_batch(messages)
}

/// [`append_results`] with the whole result (`key`, `start`, `end`, `value`, `kind`) as JSON.
///
/// ```
/// use std::time::Duration;
/// use ember_stream::Topic;
/// use ember_stream::window::{Windower, Windows, topic::append_results_json};
/// let mut w = Windower::builder(Windows::tumbling(Duration::from_secs(1))).build().unwrap();
/// w.push_all([("a", 10, ()), ("a", 20, ())]).unwrap();
/// w.finish();
/// let out = Topic::builder("out").partitions(1).build().unwrap();
/// append_results_json(&out, &w.take_results()).unwrap();
/// let json = out.read(0, 0, 1).unwrap()[0].value_str().unwrap().to_string();
/// assert_eq!(json, r#"{"key":"a","start":0,"end":1000,"value":2,"kind":"Final"}"#);
/// ```
///
/// # Errors
/// [`Error::Serde`](crate::Error::Serde) if a result cannot be encoded, or the topic's error; the
/// results before it were appended.
#[cfg(feature = "serde")]
pub fn append_results_json<K, R>(
    topic: &Topic,
    results: &[WindowResult<K, R>],
) -> crate::Result<Vec<RecordId>>
where
    K: AsRef<[u8]> + serde::Serialize,
    R: serde::Serialize,
{
    let mut messages = Vec::with_capacity(results.len());
    for r in results {
        messages.push(
            Message::json(r)?
                .key(Bytes::copy_from_slice(r.key.as_ref()))
                .timestamp(r.end),
        );
    }
    topic.append_batch(messages)
}
