//! Records: what a topic stores ([`Record`]), what a producer sends ([`Message`]) and where a record
//! lives ([`RecordId`]).
//!
//! Keys, values and header values are [`Bytes`]: cheaply cloneable, reference-counted byte buffers.
//! A `Vec<u8>` or `String` the producer hands over becomes the stored value without a copy, and every
//! reader gets the same buffer (a clone is a reference-count increment), so replaying a topic to many
//! consumers costs no copying of payloads. Producers holding borrowed data use
//! [`Topic::append_copy`](crate::Topic::append_copy), which copies it into the partition's segments
//! without an allocation per record. Typed values go through the serde helpers
//! ([`Message::json`], [`Record::json`], behind the default `serde` feature) or any encoding you like.

use std::fmt;

pub use bytes::Bytes;

/// Where a record lives: its partition and its offset in that partition.
///
/// Ordered by partition, then offset.
///
/// ```
/// use ember_stream::Topic;
/// let topic = Topic::builder("t").partitions(1).build().unwrap();
/// let id = topic.append("k", "v").unwrap();
/// assert_eq!((id.partition, id.offset), (0, 0));
/// assert_eq!(id.to_string(), "0-0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RecordId {
    /// The partition.
    pub partition: u32,
    /// The offset within the partition.
    pub offset: u64,
}

impl RecordId {
    /// A record id.
    #[must_use]
    pub fn new(partition: u32, offset: u64) -> Self {
        RecordId { partition, offset }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.partition, self.offset)
    }
}

/// One header of a record: a name and a byte value (Kafka record headers).
pub type Header = (String, Bytes);

/// A stored record, as consumers see it.
///
/// `timestamp` is milliseconds since the Unix epoch: the topic's clock at append time, unless the producer
/// set one for event time ([`Message::timestamp`]). Cloning is cheap: the payloads are shared.
///
/// ```
/// use ember_stream::{Message, Topic};
/// let topic = Topic::builder("t").partitions(1).build().unwrap();
/// topic.send(Message::new("hello").key("greeting").header("lang", "en").timestamp(1_000)).unwrap();
/// let r = &topic.read(0, 0, 10).unwrap()[0];
/// assert_eq!(r.key.as_deref(), Some(&b"greeting"[..]));
/// assert_eq!(r.value_str(), Some("hello"));
/// assert_eq!(r.header("lang").map(|v| &v[..]), Some(&b"en"[..]));
/// assert_eq!(r.timestamp, 1_000);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The partition the record is in.
    pub partition: u32,
    /// Its offset in the partition: dense, increasing, never reused.
    pub offset: u64,
    /// Milliseconds since the Unix epoch (append time from the topic's clock, or the producer's event time).
    pub timestamp: u64,
    /// The key, if any. Keyed records go to the partition of their key, so per-key order holds.
    pub key: Option<Bytes>,
    /// The payload.
    pub value: Bytes,
    /// Headers, in the order the producer gave them.
    pub headers: Vec<Header>,
}

impl Record {
    /// The record's id (partition and offset).
    #[must_use]
    pub fn id(&self) -> RecordId {
        RecordId::new(self.partition, self.offset)
    }

    /// The value as UTF-8 text, if it is.
    #[must_use]
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The key as UTF-8 text, if there is a key and it is text.
    #[must_use]
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value of the first header called `name`.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The bytes this record counts for in retention by size and in stats: key, value, header names and
    /// header values.
    #[must_use]
    pub fn size(&self) -> usize {
        payload_size(self.key.as_ref(), &self.value, &self.headers)
    }

    /// Decodes the value as JSON into `T`.
    ///
    /// ```
    /// use ember_stream::{Message, Topic};
    /// let topic = Topic::builder("t").build().unwrap();
    /// topic.send(Message::json(&vec![1, 2, 3]).unwrap()).unwrap();
    /// let r = &topic.read(0, 0, 1).unwrap()[0];
    /// assert_eq!(r.json::<Vec<u32>>().unwrap(), vec![1, 2, 3]);
    /// ```
    ///
    /// # Errors
    /// [`Error::Serde`](crate::Error::Serde) if the value is not JSON for `T`.
    #[cfg(feature = "serde")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        Ok(serde_json::from_slice(&self.value)?)
    }
}

pub(crate) fn payload_size(key: Option<&Bytes>, value: &Bytes, headers: &[Header]) -> usize {
    key.map_or(0, Bytes::len)
        + value.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

struct Lossy<'a>(&'a [u8]);

impl fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) if s.len() <= 64 => write!(f, "{s:?}"),
            Ok(s) => write!(
                f,
                "{:?}…({} bytes)",
                &s[..s.floor_char_boundary_compat(64)],
                s.len()
            ),
            Err(_) => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut index: usize) -> usize {
        while !self.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key.as_deref().map(Lossy))
            .field("value", &Lossy(&self.value));
        if !self.headers.is_empty() {
            let headers: Vec<_> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), Lossy(v)))
                .collect();
            d.field("headers", &headers);
        }
        d.finish()
    }
}

/// A record to append: value, and optionally key, headers, event timestamp and explicit partition
/// (Kafka's `ProducerRecord`).
///
/// Without an explicit partition, a keyed message goes to the partition of its key (Kafka's murmur2 by
/// default) and an unkeyed one is spread by the topic's [`UnkeyedPolicy`](crate::UnkeyedPolicy).
///
/// ```
/// use ember_stream::{Message, Topic};
/// let topic = Topic::builder("orders").partitions(4).build().unwrap();
/// let id = topic.send(Message::new("paid").key("order-7").partition(2)).unwrap();
/// assert_eq!(id.partition, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Message {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Bytes,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: Option<u64>,
    pub(crate) partition: Option<u32>,
}

impl Message {
    /// An unkeyed message with this value.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Message {
            key: None,
            value: value.into(),
            headers: Vec::new(),
            timestamp: None,
            partition: None,
        }
    }

    /// A keyed message.
    pub fn keyed(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Message::new(value).key(key)
    }

    /// A message whose value is `value` encoded as JSON.
    ///
    /// # Errors
    /// [`Error::Serde`](crate::Error::Serde) if `value` cannot be encoded.
    #[cfg(feature = "serde")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> crate::Result<Self> {
        Ok(Message::new(serde_json::to_vec(value)?))
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the record's timestamp (milliseconds since the Unix epoch) instead of the append time: event
    /// time, for windowing and replays. Retention by age is judged by append time regardless.
    pub fn timestamp(mut self, unix_millis: u64) -> Self {
        self.timestamp = Some(unix_millis);
        self
    }

    /// Sends the message to this partition instead of the partitioner's choice.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub(crate) fn into_record(self) -> NewRecord {
        NewRecord {
            key: self.key,
            value: self.value,
            headers: self.headers,
            timestamp: self.timestamp,
        }
    }

    /// The payload size, counted as [`Record::size`] counts it.
    #[must_use]
    pub fn size(&self) -> usize {
        payload_size(self.key.as_ref(), &self.value, &self.headers)
    }
}

/// A record's content before the topic gives it a place.
pub(crate) struct NewRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Bytes,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: Option<u64>,
}
