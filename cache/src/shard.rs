//! One shard: a hash table of entries, slot numbers for the policy, expiry timers, counters.
//!
//! Everything here runs under the shard's mutex. The expiry bookkeeping follows one rule: a shard reads
//! the clock only when an entry has a deadline, so a cache without TTL/TTI never touches it.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::expiry::{Expiry, after, remaining};
use crate::policy::{AnyPolicy, Eviction, Policy};
use crate::stats::RemovalCause;

/// An entry, stored inline in the shard's hash table (one memory access finds key and value). `idx`
/// is its stable slot number, by which the policy and the timers know it; the shard maps a slot number
/// back to the entry through `hashes[idx]`.
///
/// Kept small on purpose: with a `u64` key and value a slot is 24 bytes. The expiry bookkeeping lives
/// beside the table ([`Lives`], by slot number), and so do weights ([`Weights`]; none at all without a
/// weigher): an 8-byte pointer per entry in the table made slots 32 bytes, the table a third larger,
/// and a cache that never uses expiry paid for it on every lookup (the throughput workload's
/// cold-table lookups were ~15 % slower with 32-byte slots, even aligned, than with 24-byte ones; see
/// the issue notes, session 3). `seen` is the policy's per-entry word on the hit path
/// ([`Eviction::on_hit_seen`]): it sits in the line the lookup has just read.
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    idx: u32,
    seen: u32,
}

/// Entry weights by slot number. Empty while every weight is 1 (no weigher): then a weight is a
/// length check. A new entry always writes its weight once the array exists, so a reused slot number
/// never sees its previous entry's weight.
#[derive(Default)]
struct Weights(Vec<u32>);

impl Weights {
    #[inline]
    fn get(&self, idx: u32) -> u32 {
        self.0.get(idx as usize).copied().unwrap_or(1)
    }

    fn set(&mut self, idx: u32, weight: u32) {
        let i = idx as usize;
        if i >= self.0.len() {
            if weight == 1 {
                return;
            }
            self.0.resize(i + 1, 1);
        }
        self.0[i] = weight;
    }
}

/// The expiry bookkeeping of one entry (only entries that have or had a deadline have one).
struct Life {
    /// Absolute deadline from the cache-wide time-to-live.
    expire_at: Option<Instant>,
    /// The per-entry deadline: an explicit TTL (`insert_with_ttl`) or the [`Expiry`]'s answer.
    custom_at: Option<Instant>,
    /// Time-to-idle of this entry, and the deadline it gives.
    idle: Option<Duration>,
    idle_at: Option<Instant>,
    /// The deadline under which this slot sits in the timer heap, if any.
    timer_at: Option<Instant>,
}

impl Life {
    fn deadline(&self) -> Option<Instant> {
        [self.expire_at, self.idle_at, self.custom_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn for_write(
        times: &Times,
        custom_at: Option<Instant>,
        timer_at: Option<Instant>,
    ) -> Option<Box<Life>> {
        if times.expire_at.is_none() && times.idle.is_none() && custom_at.is_none() {
            return None;
        }
        Some(Box::new(Life {
            expire_at: times.expire_at,
            custom_at,
            idle: times.idle,
            idle_at: times
                .idle
                .and_then(|i| times.now.and_then(|n| n.checked_add(i))),
            timer_at,
        }))
    }
}

/// The expiry bookkeeping of a shard's entries, by slot number. Empty (no allocation, and a lookup is
/// a length check) until some entry gets a deadline.
#[derive(Default)]
struct Lives(Vec<Option<Box<Life>>>);

impl Lives {
    #[inline]
    fn get(&self, idx: u32) -> Option<&Life> {
        self.0.get(idx as usize).and_then(|l| l.as_deref())
    }

    #[inline]
    fn get_mut(&mut self, idx: u32) -> Option<&mut Life> {
        self.0.get_mut(idx as usize).and_then(|l| l.as_deref_mut())
    }

    /// Whether entry `idx` has expiry bookkeeping (a deadline, or had one).
    #[inline]
    fn has(&self, idx: u32) -> bool {
        self.get(idx).is_some()
    }

    fn deadline(&self, idx: u32) -> Option<Instant> {
        self.get(idx)?.deadline()
    }

    #[inline]
    fn expired(&self, idx: u32, now: Instant) -> bool {
        self.deadline(idx).is_some_and(|d| d <= now)
    }

    fn custom_at(&self, idx: u32) -> Option<Instant> {
        self.get(idx).and_then(|l| l.custom_at)
    }

    fn timer_at(&self, idx: u32) -> Option<Instant> {
        self.get(idx).and_then(|l| l.timer_at)
    }

    fn set_timer_at(&mut self, idx: u32, t: Option<Instant>) {
        if let Some(l) = self.get_mut(idx) {
            l.timer_at = t;
        }
    }

    fn touch_idle(&mut self, idx: u32, now: Instant) {
        if let Some(l) = self.get_mut(idx) {
            if let Some(idle) = l.idle {
                l.idle_at = now.checked_add(idle);
            }
        }
    }

    /// Replaces entry `idx`'s bookkeeping (`None`: it has none).
    fn set(&mut self, idx: u32, life: Option<Box<Life>>) {
        let i = idx as usize;
        if i >= self.0.len() {
            if life.is_none() {
                return;
            }
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = life;
    }

    /// Sets the per-entry deadline (creating the bookkeeping if the entry had none).
    fn set_custom(&mut self, idx: u32, at: Option<Instant>) {
        match self.get_mut(idx) {
            Some(l) => l.custom_at = at,
            None if at.is_some() => self.set(
                idx,
                Some(Box::new(Life {
                    expire_at: None,
                    custom_at: at,
                    idle: None,
                    idle_at: None,
                    timer_at: None,
                })),
            ),
            None => {}
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The expiry of an entry being written. `now` is set whenever anything about expiry is configured
/// (always when an [`Expiry`] is).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) now: Option<Instant>,
    /// The cache-wide TTL's deadline.
    pub(crate) expire_at: Option<Instant>,
    pub(crate) idle: Option<Duration>,
    /// An explicit per-entry deadline (`insert_with_ttl`, a new counter's `ttl_if_new`): it replaces
    /// the cache-wide TTL and the [`Expiry`]'s answer for this write.
    pub(crate) explicit: Option<Option<Instant>>,
    /// On replace, keep the entry's current expiry instead (counters, `compute`); only the [`Expiry`]
    /// may still change the per-entry deadline.
    pub(crate) keep: bool,
}

impl Times {
    /// A write with nothing about expiry configured or given: the entry has no deadline.
    pub(crate) const NONE: Times = Times {
        now: None,
        expire_at: None,
        idle: None,
        explicit: None,
        keep: false,
    };

    /// A write that keeps the entry's expiry, with no [`Expiry`] to ask.
    pub(crate) const KEEP: Times = Times {
        keep: true,
        ..Times::NONE
    };
}

/// The user's per-entry expiry, if configured.
pub(crate) type Exp<'a, K, V> = Option<&'a dyn Expiry<K, V>>;

/// A predicate over entries.
pub(crate) type Pred<'a, K, V> = &'a dyn Fn(&K, &V) -> bool;

/// Entries removed during one operation, handed to the listener / write-back after the lock is released.
pub(crate) struct Removed<K, V> {
    collect: bool,
    pub(crate) items: Vec<(K, V, RemovalCause)>,
}

impl<K, V> Removed<K, V> {
    pub(crate) fn new(collect: bool) -> Self {
        Removed {
            collect,
            items: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, key: K, value: V, cause: RemovalCause) {
        if self.collect {
            self.items.push((key, value, cause));
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) inserts: u64,
    pub(crate) removed: [u64; 4],
}

pub(crate) struct Shard<K, V> {
    table: HashTable<Slot<K, V>>,
    /// The hash of the entry holding each slot number (to find it from the policy's victims).
    hashes: Vec<u64>,
    /// Expiry bookkeeping by slot number.
    lives: Lives,
    /// Weights by slot number.
    weights: Weights,
    free: Vec<u32>,
    policy: AnyPolicy,
    capacity: u64,
    weight: u64,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    pub(crate) counters: Counters,
}

/// How many expired entries one write reclaims at most (the rest on the next writes, or `cleanup`).
pub(crate) const SWEEP_BATCH: usize = 32;

impl<K: Eq, V> Shard<K, V> {
    pub(crate) fn new(kind: Policy, capacity: u64) -> Self {
        Shard {
            table: HashTable::new(),
            hashes: Vec::new(),
            lives: Lives::default(),
            weights: Weights::default(),
            free: Vec::new(),
            policy: AnyPolicy::new(kind, capacity),
            capacity,
            weight: 0,
            timers: BinaryHeap::new(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Slot<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.table.find(hash, |s| s.key.borrow() == key)
    }

    fn slot_mut(&mut self, idx: u32) -> Option<&mut Slot<K, V>> {
        let hash = *self.hashes.get(idx as usize)?;
        self.table.find_mut(hash, |s| s.idx == idx)
    }

    /// Whether a read must look at deadlines: some entry has one (every such entry is in the timer
    /// heap), or an [`Expiry`] may set one. Otherwise [`get_plain`](Self::get_plain) is the read.
    #[inline]
    pub(crate) fn timed_reads(&self, expiry: Exp<'_, K, V>) -> bool {
        !self.timers.is_empty() || expiry.is_some()
    }

    /// Looks `key` up as a read when no entry has a deadline (see [`timed_reads`](Self::timed_reads)):
    /// counts a hit or miss and tells the policy.
    #[inline(always)]
    pub(crate) fn get_plain<Q>(&mut self, hash: u64, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Shard {
            table,
            policy,
            counters,
            ..
        } = self;
        match table.find_mut(hash, |s| s.key.borrow() == key) {
            Some(slot) => {
                policy.on_hit_seen(slot.idx, hash, &mut slot.seen);
                counters.hits += 1;
                Some(&slot.value)
            }
            None => {
                counters.misses += 1;
                policy.on_miss(hash);
                None
            }
        }
    }

    /// Looks `key` up as a read when entries may have deadlines: also updates the idle deadlines, asks
    /// the [`Expiry`], and removes the entry if it has expired.
    pub(crate) fn get_timed<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce() -> Instant,
        expiry: Exp<'_, K, V>,
        out: &mut Removed<K, V>,
    ) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Shard { table, lives, .. } = self;
        let live = match table.find(hash, |s| s.key.borrow() == key) {
            None => None,
            Some(slot) if !lives.has(slot.idx) && expiry.is_none() => Some((slot.idx, false)),
            Some(slot) => {
                let idx = slot.idx;
                let now = now();
                if lives.expired(idx, now) {
                    self.remove_idx(idx, RemovalCause::Expired, true, out);
                    None
                } else {
                    lives.touch_idle(idx, now);
                    let mut moved = false;
                    if let Some(e) = expiry {
                        let left = remaining(lives.custom_at(idx), now);
                        if let Some(d) = e.expire_after_read(&slot.key, &slot.value, now, left) {
                            lives.set_custom(idx, after(now, d));
                            moved = true;
                        }
                    }
                    Some((idx, moved))
                }
            }
        };
        let Some((idx, moved)) = live else {
            self.counters.misses += 1;
            self.policy.on_miss(hash);
            return None;
        };
        if moved {
            self.schedule(idx);
        }
        self.policy.on_hit(idx, hash);
        self.counters.hits += 1;
        self.find(hash, key).map(|s| &s.value)
    }

    /// Looks `key` up without counting or touching the policy. Expired entries are invisible.
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: impl FnOnce() -> Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slot = self.find(hash, key)?;
        if self.lives.has(slot.idx) && self.lives.expired(slot.idx, now()) {
            return None;
        }
        Some(&slot.value)
    }

    /// The live value of `key` for a read-modify-write (expired entries are reclaimed first).
    pub(crate) fn current<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce() -> Instant,
        out: &mut Removed<K, V>,
    ) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = self.find(hash, key)?.idx;
        if self.lives.has(idx) && self.lives.expired(idx, now()) {
            self.remove_idx(idx, RemovalCause::Expired, true, out);
            return None;
        }
        self.find(hash, key).map(|s| &s.value)
    }

    /// Inserts or replaces. `times` is `None` for a write with nothing about expiry configured or given
    /// (the entry gets no deadline). With `times.keep`, a replaced entry keeps its expiry (counters,
    /// `compute`).
    /// Returns whether the key was present.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        times: Option<&Times>,
        expiry: Exp<'_, K, V>,
        out: &mut Removed<K, V>,
    ) -> bool {
        // One lookup for a replace: the slot found by key is updated in place.
        let Shard {
            table,
            lives,
            weights,
            ..
        } = self;
        let present = match table.find_mut(hash, |s| s.key == key) {
            Some(slot)
                if weights.get(slot.idx) == weight
                    && match times {
                        None => !lives.has(slot.idx),
                        // Keeping the expiry with no Expiry to ask (counters, compute).
                        Some(t) => t.keep && t.now.is_none(),
                    } =>
            {
                // The common replace: same weight, no expiry work; nothing can overflow.
                let old = std::mem::replace(&mut slot.value, value);
                let idx = slot.idx;
                self.policy
                    .on_update_seen(idx, hash, weight, weight, &mut slot.seen);
                self.counters.removed[RemovalCause::Replaced.index()] += 1;
                out.push(key, old, RemovalCause::Replaced);
                return true;
            }
            found => found.is_some(),
        };
        let times = times.unwrap_or(&Times::NONE);
        self.insert_general(hash, key, value, weight, times, expiry, present, out)
    }

    /// The write of a cache with no weigher, no expiry configured and no removal hand-back, when `key`
    /// is present without a deadline and no entry of the shard has one: replaces the value in place
    /// (one lookup; every weight is 1) and returns the key passed in and the old value, to be dropped
    /// after the lock is released. Otherwise hands `key` and `value` back untouched for
    /// [`insert`](Self::insert) (a new entry, deadlines to handle, expired entries to sweep).
    #[inline]
    pub(crate) fn replace_plain(&mut self, hash: u64, key: K, value: V) -> Result<(K, V), (K, V)> {
        if !self.timers.is_empty() {
            return Err((key, value));
        }
        let Shard { table, lives, .. } = self;
        match table.find_mut(hash, |s| s.key == key) {
            Some(slot) if !lives.has(slot.idx) => {
                debug_assert_eq!(
                    self.weights.get(slot.idx),
                    1,
                    "plain writes have no weigher"
                );
                let old = std::mem::replace(&mut slot.value, value);
                let idx = slot.idx;
                self.policy.on_update_seen(idx, hash, 1, 1, &mut slot.seen);
                self.counters.removed[RemovalCause::Replaced.index()] += 1;
                Ok((key, old))
            }
            _ => Err((key, value)),
        }
    }

    /// [`insert`](Self::insert) in general: weights that change, deadlines, new entries.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn insert_general(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        times: &Times,
        expiry: Exp<'_, K, V>,
        present: bool,
        out: &mut Removed<K, V>,
    ) -> bool {
        let too_heavy = u64::from(weight) > self.capacity;
        let mut found = if present {
            self.table.find_mut(hash, |s| s.key == key)
        } else {
            None
        };
        if let (Some(slot), Some(now)) = (&found, times.now) {
            if self.lives.has(slot.idx) && self.lives.expired(slot.idx, now) {
                // Expired but not reclaimed yet: this write creates a new entry.
                let idx = slot.idx;
                found = None;
                self.remove_idx(idx, RemovalCause::Expired, true, out);
            }
        }
        let existed = if let Some(slot) = found {
            let idx = slot.idx;
            if too_heavy {
                self.remove_idx(idx, RemovalCause::Replaced, true, out);
                self.counters.removed[RemovalCause::Size.index()] += 1;
                out.push(key, value, RemovalCause::Size);
                return true;
            }
            let old_weight = self.weights.get(idx);
            let old = std::mem::replace(&mut slot.value, value);
            self.weights.set(idx, weight);
            // The per-entry deadline: explicit, else the Expiry's answer (None keeps it), else none.
            let custom_at = match (times.explicit, expiry, times.now) {
                (Some(at), _, _) => at,
                (None, Some(e), Some(now)) => {
                    let current = self.lives.custom_at(idx);
                    let left = remaining(current, now);
                    match e.expire_after_update(&slot.key, &slot.value, now, left) {
                        Some(d) => after(now, d),
                        None => current,
                    }
                }
                _ if times.keep => self.lives.custom_at(idx),
                _ => None,
            };
            if times.keep {
                self.lives.set_custom(idx, custom_at);
            } else {
                let timer_at = self.lives.timer_at(idx);
                self.lives
                    .set(idx, Life::for_write(times, custom_at, timer_at));
            }
            let timed = self.lives.has(idx);
            self.weight = self.weight - u64::from(old_weight) + u64::from(weight);
            self.policy.on_update(idx, hash, old_weight, weight);
            self.counters.removed[RemovalCause::Replaced.index()] += 1;
            if timed {
                self.schedule(idx);
            }
            out.push(key, old, RemovalCause::Replaced);
            true
        } else {
            if too_heavy {
                self.counters.removed[RemovalCause::Size.index()] += 1;
                out.push(key, value, RemovalCause::Size);
                return false;
            }
            let idx = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.hashes.push(0);
                    (self.hashes.len() - 1) as u32
                }
            };
            self.hashes[idx as usize] = hash;
            let custom_at = match (times.explicit, expiry, times.now) {
                (Some(at), _, _) => at,
                (None, Some(e), Some(now)) => e
                    .expire_after_create(&key, &value, now)
                    .and_then(|d| after(now, d)),
                _ => None,
            };
            let life = Life::for_write(times, custom_at, None);
            let timed = life.is_some();
            self.lives.set(idx, life);
            self.weights.set(idx, weight);
            let slot = Slot {
                key,
                value,
                idx,
                seen: self.policy.epoch(),
            };
            let hashes = &self.hashes;
            self.table
                .insert_unique(hash, slot, |s| hashes[s.idx as usize]);
            self.weight += u64::from(weight);
            self.policy.on_insert(idx, hash, weight);
            self.counters.inserts += 1;
            if timed {
                self.schedule(idx);
            }
            false
        };
        self.evict_overflow(out);
        existed
    }

    fn evict_overflow(&mut self, out: &mut Removed<K, V>) {
        while self.weight > self.capacity {
            let Some(victim) = self.policy.victim() else {
                break;
            };
            self.remove_idx(victim, RemovalCause::Size, false, out);
        }
    }

    /// Removes `key`; returns its value if it was live.
    pub(crate) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce() -> Instant,
        out: &mut Removed<K, V>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        V: Clone,
    {
        let idx = self.find(hash, key)?.idx;
        if self.lives.has(idx) && self.lives.expired(idx, now()) {
            self.remove_idx(idx, RemovalCause::Expired, true, out);
            return None;
        }
        let slot = self.take(idx)?;
        self.counters.removed[RemovalCause::Explicit.index()] += 1;
        let value = slot.value.clone();
        out.push(slot.key, slot.value, RemovalCause::Explicit);
        Some(value)
    }

    /// Unlinks slot `idx` from the table and frees its number (policy and counters untouched).
    fn take(&mut self, idx: u32) -> Option<Slot<K, V>> {
        let hash = *self.hashes.get(idx as usize)?;
        let entry = self.table.find_entry(hash, |s| s.idx == idx).ok()?;
        let (slot, _) = entry.remove();
        self.free.push(idx);
        self.lives.set(idx, None);
        self.weight -= u64::from(self.weights.get(idx));
        self.policy.on_remove(idx);
        Some(slot)
    }

    fn remove_idx(&mut self, idx: u32, cause: RemovalCause, unlink: bool, out: &mut Removed<K, V>) {
        let Some(hash) = self.hashes.get(idx as usize).copied() else {
            return;
        };
        let Ok(entry) = self.table.find_entry(hash, |s| s.idx == idx) else {
            return;
        };
        let (slot, _) = entry.remove();
        self.free.push(idx);
        self.lives.set(idx, None);
        self.weight -= u64::from(self.weights.get(idx));
        if unlink {
            self.policy.on_remove(idx);
        }
        self.counters.removed[cause.index()] += 1;
        out.push(slot.key, slot.value, cause);
    }

    /// Removes every entry `pred` selects (all of them with `None`).
    pub(crate) fn remove_if(&mut self, pred: Option<Pred<'_, K, V>>, out: &mut Removed<K, V>) {
        if pred.is_none() && !out.collect {
            let n = self.table.len() as u64;
            self.counters.removed[RemovalCause::Explicit.index()] += n;
            self.table.clear();
            self.hashes.clear();
            self.lives.clear();
            self.weights.0.clear();
            self.free.clear();
            self.timers.clear();
            self.weight = 0;
            self.policy.clear();
            return;
        }
        let doomed: Vec<u32> = self
            .table
            .iter()
            .filter(|s| pred.is_none_or(|p| p(&s.key, &s.value)))
            .map(|s| s.idx)
            .collect();
        for idx in doomed {
            self.remove_idx(idx, RemovalCause::Explicit, true, out);
        }
    }

    /// Calls `f` on every live entry.
    pub(crate) fn for_each(&self, now: Option<Instant>, mut f: impl FnMut(&K, &V)) {
        for s in self.table.iter() {
            if let Some(now) = now {
                if self.lives.expired(s.idx, now) {
                    continue;
                }
            }
            f(&s.key, &s.value);
        }
    }

    /// Whether any entry may expire (so writes should sweep).
    #[inline]
    pub(crate) fn has_timers(&self) -> bool {
        !self.timers.is_empty()
    }

    fn schedule(&mut self, idx: u32) {
        let live = self.table.len();
        if self.slot_mut(idx).is_none() {
            return;
        }
        let Some(deadline) = self.lives.deadline(idx) else {
            return;
        };
        if self.lives.timer_at(idx).is_some_and(|t| t <= deadline) {
            return;
        }
        self.lives.set_timer_at(idx, Some(deadline));
        self.timers.push(Reverse((deadline, idx)));
        if self.timers.len() > 2 * live + 1024 {
            self.rebuild_timers();
        }
    }

    fn rebuild_timers(&mut self) {
        self.timers.clear();
        for s in self.table.iter() {
            if let Some(t) = self.lives.timer_at(s.idx) {
                self.timers.push(Reverse((t, s.idx)));
            }
        }
    }

    /// Reclaims up to `limit` expired entries. Returns how many timers it looked at.
    pub(crate) fn sweep(&mut self, now: Instant, limit: usize, out: &mut Removed<K, V>) -> usize {
        let mut n = 0;
        while let Some(&Reverse((t, idx))) = self.timers.peek() {
            if t > now || n >= limit {
                break;
            }
            self.timers.pop();
            n += 1;
            if self.slot_mut(idx).is_none() {
                continue;
            }
            if self.lives.timer_at(idx) != Some(t) {
                continue;
            }
            match self.lives.deadline(idx) {
                Some(d) if d <= now => self.remove_idx(idx, RemovalCause::Expired, true, out),
                Some(d) => {
                    self.lives.set_timer_at(idx, Some(d));
                    self.timers.push(Reverse((d, idx)));
                }
                None => self.lives.set_timer_at(idx, None),
            }
        }
        n
    }
}
