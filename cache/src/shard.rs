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
pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    idx: u32,
    weight: u32,
    /// Expiry bookkeeping, boxed so that entries without a deadline stay small (and the hot path of a
    /// cache without TTL/TTI touches less memory).
    life: Option<Box<Life>>,
}

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

impl<K, V> Slot<K, V> {
    #[inline]
    fn has_deadline(&self) -> bool {
        self.life.is_some()
    }

    fn deadline(&self) -> Option<Instant> {
        let l = self.life.as_ref()?;
        [l.expire_at, l.idle_at, l.custom_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn custom_at(&self) -> Option<Instant> {
        self.life.as_ref().and_then(|l| l.custom_at)
    }

    /// Sets the per-entry deadline (allocating the expiry bookkeeping if the entry had none).
    fn set_custom(&mut self, at: Option<Instant>) {
        match self.life.as_mut() {
            Some(l) => l.custom_at = at,
            None if at.is_some() => {
                self.life = Some(Box::new(Life {
                    expire_at: None,
                    custom_at: at,
                    idle: None,
                    idle_at: None,
                    timer_at: None,
                }));
            }
            None => {}
        }
    }

    #[inline]
    fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    fn timer_at(&self) -> Option<Instant> {
        self.life.as_ref().and_then(|l| l.timer_at)
    }

    fn set_timer_at(&mut self, t: Option<Instant>) {
        if let Some(l) = self.life.as_mut() {
            l.timer_at = t;
        }
    }

    fn touch_idle(&mut self, now: Instant) {
        if let Some(l) = self.life.as_mut() {
            if let Some(idle) = l.idle {
                l.idle_at = now.checked_add(idle);
            }
        }
    }

    fn life_for(
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
    #[inline]
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
        match table.find(hash, |s| s.key.borrow() == key) {
            Some(slot) => {
                policy.on_hit(slot.idx, hash);
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
        let live = match self.table.find_mut(hash, |s| s.key.borrow() == key) {
            None => None,
            Some(slot) if !slot.has_deadline() && expiry.is_none() => Some((slot.idx, false)),
            Some(slot) => {
                let now = now();
                if slot.expired(now) {
                    let idx = slot.idx;
                    self.remove_idx(idx, RemovalCause::Expired, true, out);
                    None
                } else {
                    slot.touch_idle(now);
                    let mut moved = false;
                    if let Some(e) = expiry {
                        let left = remaining(slot.custom_at(), now);
                        if let Some(d) = e.expire_after_read(&slot.key, &slot.value, now, left) {
                            slot.set_custom(after(now, d));
                            moved = true;
                        }
                    }
                    Some((slot.idx, moved))
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
        if slot.has_deadline() && slot.expired(now()) {
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
        let slot = self.find(hash, key)?;
        if slot.has_deadline() && slot.expired(now()) {
            let idx = slot.idx;
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
        let present = match self.table.find_mut(hash, |s| s.key == key) {
            Some(slot)
                if slot.weight == weight
                    && match times {
                        None => slot.life.is_none(),
                        // Keeping the expiry with no Expiry to ask (counters, compute).
                        Some(t) => t.keep && t.now.is_none(),
                    } =>
            {
                // The common replace: same weight, no expiry work; nothing can overflow.
                let old = std::mem::replace(&mut slot.value, value);
                let idx = slot.idx;
                self.policy.on_update(idx, hash, weight, weight);
                self.counters.removed[RemovalCause::Replaced.index()] += 1;
                out.push(key, old, RemovalCause::Replaced);
                return true;
            }
            found => found.is_some(),
        };
        let times = times.unwrap_or(&Times::NONE);
        self.insert_general(hash, key, value, weight, times, expiry, present, out)
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
            if slot.has_deadline() && slot.expired(now) {
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
            let old_weight = slot.weight;
            let old = std::mem::replace(&mut slot.value, value);
            slot.weight = weight;
            // The per-entry deadline: explicit, else the Expiry's answer (None keeps it), else none.
            let custom_at = match (times.explicit, expiry, times.now) {
                (Some(at), _, _) => at,
                (None, Some(e), Some(now)) => {
                    let current = slot.custom_at();
                    let left = remaining(current, now);
                    match e.expire_after_update(&slot.key, &slot.value, now, left) {
                        Some(d) => after(now, d),
                        None => current,
                    }
                }
                _ if times.keep => slot.custom_at(),
                _ => None,
            };
            if times.keep {
                slot.set_custom(custom_at);
            } else {
                let timer_at = slot.timer_at();
                slot.life = Slot::<K, V>::life_for(times, custom_at, timer_at);
            }
            let timed = slot.has_deadline();
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
            let life = Slot::<K, V>::life_for(times, custom_at, None);
            let timed = life.is_some();
            let slot = Slot {
                key,
                value,
                idx,
                weight,
                life,
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
        let slot = self.find(hash, key)?;
        let idx = slot.idx;
        if slot.has_deadline() && slot.expired(now()) {
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
        self.weight -= u64::from(slot.weight);
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
        self.weight -= u64::from(slot.weight);
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
                if s.expired(now) {
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
        let Some(slot) = self.slot_mut(idx) else {
            return;
        };
        let Some(deadline) = slot.deadline() else {
            return;
        };
        if slot.timer_at().is_some_and(|t| t <= deadline) {
            return;
        }
        slot.set_timer_at(Some(deadline));
        self.timers.push(Reverse((deadline, idx)));
        if self.timers.len() > 2 * live + 1024 {
            self.rebuild_timers();
        }
    }

    fn rebuild_timers(&mut self) {
        self.timers.clear();
        for s in self.table.iter() {
            if let Some(t) = s.timer_at() {
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
            let Some(slot) = self.slot_mut(idx) else {
                continue;
            };
            if slot.timer_at() != Some(t) {
                continue;
            }
            match slot.deadline() {
                Some(d) if d <= now => self.remove_idx(idx, RemovalCause::Expired, true, out),
                Some(d) => {
                    slot.set_timer_at(Some(d));
                    self.timers.push(Reverse((d, idx)));
                }
                None => slot.set_timer_at(None),
            }
        }
        n
    }
}
