//! Live pub/sub: at-most-once fan-out of new records to every current subscriber (Redis `PSUBSCRIBE`).
//!
//! A [`Subscription`] sees the records appended *after* it subscribed whose key matches its pattern
//! (Redis glob syntax: `*`, `?`, `[abc]`, `[^a-z]`, `\` to escape; an unkeyed record is matched as the
//! empty key, so only patterns like `*` see it). Each subscriber has a bounded buffer: when it is full
//! the record is dropped *for that subscriber* and counted in [`Subscription::missed`] — producers never
//! wait for a slow subscriber, and a dropped `Subscription` simply stops receiving. This is delivery at
//! most once; for at-least-once use a consumer group, which reads the retained log instead.
//!
//! Within a partition a subscriber receives records in offset order.
//!
//! ```
//! use std::time::Duration;
//! use ember_stream::Topic;
//!
//! let topic = Topic::builder("chat").partitions(4).subscriber_buffer(2).build().unwrap();
//! let lobby = topic.subscribe("room:lobby").unwrap();
//! let all_rooms = topic.subscribe("room:*").unwrap();
//! topic.append("room:lobby", "hello").unwrap();
//! topic.append("room:games", "gg").unwrap();
//! topic.append("room:games", "rematch?").unwrap(); // all_rooms' buffer (2) is full: it misses this one
//!
//! assert_eq!(lobby.try_recv().unwrap().value_str(), Some("hello"));
//! assert!(lobby.recv_timeout(Duration::ZERO).is_none());
//! assert_eq!(all_rooms.drain().len(), 2);
//! assert_eq!(all_rooms.missed(), 1);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use ember_core::clock::{Signal, WaitOutcome};
use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::topic::Topic;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Byte(u8),
    AnyOne,
    AnyMany,
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

/// A compiled Redis-style glob pattern over keys.
///
/// ```
/// use ember_stream::Pattern;
/// let p = Pattern::new("user:[0-9]?").unwrap();
/// assert!(p.matches(b"user:42"));
/// assert!(!p.matches(b"user:x2"));
/// assert!(Pattern::new("*").unwrap().matches(b""));
/// assert!(Pattern::new("a\\*").unwrap().matches(b"a*"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

impl Pattern {
    /// Compiles a pattern.
    ///
    /// # Errors
    /// [`Error::InvalidPattern`] for an unclosed `[` or a trailing `\`.
    pub fn new(pattern: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let b = pattern.as_bytes();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::AnyMany) {
                        tokens.push(Token::AnyMany);
                    }
                }
                b'?' => tokens.push(Token::AnyOne),
                b'\\' => {
                    i += 1;
                    let &c = b.get(i).ok_or_else(|| bad("trailing backslash"))?;
                    tokens.push(Token::Byte(c));
                }
                b'[' => {
                    i += 1;
                    let negated = b.get(i) == Some(&b'^');
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let &c = b.get(i).ok_or_else(|| bad("unclosed ["))?;
                        match c {
                            b']' if !ranges.is_empty() => break,
                            b'\\' => {
                                i += 1;
                                let &e = b.get(i).ok_or_else(|| bad("trailing backslash"))?;
                                ranges.push((e, e));
                            }
                            _ if b.get(i + 1) == Some(&b'-')
                                && b.get(i + 2).is_some_and(|&e| e != b']') =>
                            {
                                let e = b[i + 2];
                                ranges.push((c.min(e), c.max(e)));
                                i += 2;
                            }
                            _ => ranges.push((c, c)),
                        }
                        i += 1;
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Byte(c)),
            }
            i += 1;
        }
        Ok(Pattern {
            source: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `key` matches.
    #[must_use]
    pub fn matches(&self, key: &[u8]) -> bool {
        let one = |t: &Token, c: u8| match t {
            Token::Byte(b) => *b == c,
            Token::AnyOne => true,
            Token::AnyMany => unreachable!("handled by the caller"),
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        };
        // Iterative glob matching with one backtrack point (the last star).
        let (mut t, mut k) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while k < key.len() {
            match self.tokens.get(t) {
                Some(Token::AnyMany) => {
                    star = Some((t, k));
                    t += 1;
                }
                Some(tok) if one(tok, key[k]) => {
                    t += 1;
                    k += 1;
                }
                _ => match star {
                    Some((st, sk)) => {
                        t = st + 1;
                        k = sk + 1;
                        star = Some((st, sk + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..].iter().all(|t| *t == Token::AnyMany)
    }
}

pub(crate) struct SubShared {
    pattern: Pattern,
    capacity: usize,
    queue: Mutex<VecDeque<Record>>,
    signal: Signal,
    received: AtomicU64,
    missed: AtomicU64,
}

pub(crate) struct PubSub {
    capacity: usize,
    active: AtomicUsize,
    subs: RwLock<Vec<Arc<SubShared>>>,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

impl PubSub {
    pub(crate) fn new(capacity: usize) -> Self {
        PubSub {
            capacity,
            active: AtomicUsize::new(0),
            subs: RwLock::new(Vec::new()),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether anyone is subscribed: one atomic load on the append path.
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Offers `record` to every matching subscriber without ever blocking on a slow one.
    pub(crate) fn publish(&self, record: &Record) {
        let key: &[u8] = record.key.as_deref().unwrap_or(&[]);
        for sub in self.subs.read().iter() {
            if !sub.pattern.matches(key) {
                continue;
            }
            let mut q = sub.queue.lock();
            if q.len() < sub.capacity {
                q.push_back(record.clone());
                drop(q);
                sub.received.fetch_add(1, Ordering::Relaxed);
                self.delivered.fetch_add(1, Ordering::Relaxed);
                sub.signal.notify_all();
            } else {
                drop(q);
                sub.missed.fetch_add(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn add(&self, sub: Arc<SubShared>) {
        let mut subs = self.subs.write();
        subs.push(sub);
        self.active.store(subs.len(), Ordering::Relaxed);
    }

    fn remove(&self, sub: &Arc<SubShared>) {
        let mut subs = self.subs.write();
        subs.retain(|s| !Arc::ptr_eq(s, sub));
        self.active.store(subs.len(), Ordering::Relaxed);
    }
}

/// A live subscription to a topic's new records whose key matches a pattern. See the
/// [module docs](self). Dropping it unsubscribes.
pub struct Subscription {
    topic: Topic,
    shared: Arc<SubShared>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic.name())
            .field("pattern", &self.shared.pattern.as_str())
            .field("waiting", &self.shared.queue.lock().len())
            .field("missed", &self.missed())
            .finish()
    }
}

impl Topic {
    /// Subscribes to the records appended from now on whose key matches `pattern` (Redis glob syntax).
    /// See [`crate::pubsub`].
    ///
    /// # Errors
    /// [`Error::InvalidPattern`].
    pub fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        let shared = Arc::new(SubShared {
            pattern: Pattern::new(pattern)?,
            capacity: self.inner.pubsub.capacity,
            queue: Mutex::new(VecDeque::new()),
            signal: Signal::new(),
            received: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        });
        self.inner.pubsub.add(shared.clone());
        Ok(Subscription {
            topic: self.clone(),
            shared,
        })
    }
}

impl Subscription {
    /// The pattern subscribed to.
    #[must_use]
    pub fn pattern(&self) -> &Pattern {
        &self.shared.pattern
    }

    /// The next waiting record, without waiting.
    #[must_use]
    pub fn try_recv(&self) -> Option<Record> {
        self.shared.queue.lock().pop_front()
    }

    /// The next record, waiting up to `timeout` by the topic's clock. `None` on timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Record> {
        let clock = self.topic.clock();
        let deadline = clock.now() + timeout;
        loop {
            let seen = self.shared.signal.epoch();
            if let Some(r) = self.try_recv() {
                return Some(r);
            }
            if self.shared.signal.wait(&**clock, seen, Some(deadline)) == WaitOutcome::TimedOut {
                return self.try_recv();
            }
        }
    }

    /// Takes every waiting record.
    #[must_use]
    pub fn drain(&self) -> Vec<Record> {
        self.shared.queue.lock().drain(..).collect()
    }

    /// How many records are waiting.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.shared.queue.lock().len()
    }

    /// How many records this subscriber received into its buffer.
    #[must_use]
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// How many matching records this subscriber missed because its buffer was full.
    #[must_use]
    pub fn missed(&self) -> u64 {
        self.shared.missed.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.topic.inner.pubsub.remove(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let m = |p: &str, k: &str| Pattern::new(p).unwrap().matches(k.as_bytes());
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b", "xxaxxbxx"));
        assert!(m("room:*:typing", "room:42:typing"));
        assert!(!m("room:*:typing", "room:42:typed"));
        assert!(m("[]]", "]"));
        assert!(m("x\\?", "x?"));
        assert!(!m("x\\?", "xy"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(Pattern::new("[abc").is_err());
        assert!(Pattern::new("abc\\").is_err());
    }
}
