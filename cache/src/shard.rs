//! One shard: a slab of entries, a hash table of slot indexes, the policy, expiry timers, counters.
//!
//! Everything here runs under the shard's mutex. The expiry bookkeeping follows one rule: a shard reads
//! the clock only when an entry has a deadline, so a cache without TTL/TTI never touches it.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::policy::{AnyPolicy, Eviction, Policy};
use crate::stats::RemovalCause;

pub(crate) struct Slot<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    hash: u64,
    weight: u32,
    /// Expiry bookkeeping, boxed so that entries without a deadline stay small (and the hot path of a
    /// cache without TTL/TTI touches less memory).
    life: Option<Box<Life>>,
}

struct Life {
    /// Absolute time-to-live deadline.
    expire_at: Option<Instant>,
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
        match (l.expire_at, l.idle_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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

    fn life_for(times: &Times, timer_at: Option<Instant>) -> Option<Box<Life>> {
        if times.expire_at.is_none() && times.idle.is_none() {
            return None;
        }
        Some(Box::new(Life {
            expire_at: times.expire_at,
            idle: times.idle,
            idle_at: times
                .idle
                .and_then(|i| times.now.and_then(|n| n.checked_add(i))),
            timer_at,
        }))
    }
}

/// The expiry of an entry being written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) now: Option<Instant>,
    pub(crate) expire_at: Option<Instant>,
    pub(crate) idle: Option<Duration>,
    /// On replace, keep the entry's current expiry instead (counters, `compute`).
    pub(crate) keep: bool,
}

impl Times {
    /// Keep an existing entry's expiry.
    pub(crate) const KEEP: Times = Times {
        now: None,
        expire_at: None,
        idle: None,
        keep: true,
    };
}

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
    table: HashTable<u32>,
    slots: Vec<Option<Slot<K, V>>>,
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
            slots: Vec::new(),
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
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let slots = &self.slots;
        self.table
            .find(hash, |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|s| s.key.borrow() == key)
            })
            .copied()
    }

    /// Looks `key` up as a read: counts a hit or miss, updates the policy and the idle deadline, removes
    /// the entry if it has expired.
    #[inline]
    pub(crate) fn get<Q>(
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
        let Some(idx) = self.find(hash, key) else {
            self.counters.misses += 1;
            self.policy.on_miss(hash);
            return None;
        };
        if self.slots[idx as usize].as_ref()?.has_deadline() && !self.check_deadline(idx, now, out)
        {
            self.counters.misses += 1;
            self.policy.on_miss(hash);
            return None;
        }
        let Shard {
            slots,
            policy,
            counters,
            ..
        } = self;
        policy.on_hit(idx, hash);
        counters.hits += 1;
        slots[idx as usize].as_ref().map(|s| &s.value)
    }

    /// The slow path of a read of an entry with a deadline: removes it if expired (returns false),
    /// else extends its idle deadline.
    #[cold]
    fn check_deadline(
        &mut self,
        idx: u32,
        now: impl FnOnce() -> Instant,
        out: &mut Removed<K, V>,
    ) -> bool {
        let now = now();
        let Some(slot) = self.slots[idx as usize].as_mut() else {
            return false;
        };
        if slot.expired(now) {
            self.remove_idx(idx, RemovalCause::Expired, true, out);
            return false;
        }
        slot.touch_idle(now);
        true
    }

    /// Looks `key` up without counting or touching the policy. Expired entries are invisible.
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: impl FnOnce() -> Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = self.find(hash, key)?;
        let slot = self.slots[idx as usize].as_ref()?;
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
        let idx = self.find(hash, key)?;
        let slot = self.slots[idx as usize].as_ref()?;
        if slot.has_deadline() && slot.expired(now()) {
            self.remove_idx(idx, RemovalCause::Expired, true, out);
            return None;
        }
        self.slots[idx as usize].as_ref().map(|s| &s.value)
    }

    /// Inserts or replaces. With `times.keep`, a replaced entry keeps its expiry (counters, `compute`).
    /// Returns whether the key was present.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        times: Times,
        out: &mut Removed<K, V>,
    ) -> bool {
        let too_heavy = u64::from(weight) > self.capacity;
        let existed = if let Some(idx) = self.find(hash, &key) {
            if too_heavy {
                self.remove_idx(idx, RemovalCause::Replaced, true, out);
                self.counters.removed[RemovalCause::Size.index()] += 1;
                out.push(key, value, RemovalCause::Size);
                return true;
            }
            let Some(slot) = self.slots[idx as usize].as_mut() else {
                return false;
            };
            let old_weight = slot.weight;
            let old = std::mem::replace(&mut slot.value, value);
            slot.weight = weight;
            if !times.keep {
                let timer_at = slot.timer_at();
                slot.life = Slot::<K, V>::life_for(&times, timer_at);
            }
            self.weight = self.weight - u64::from(old_weight) + u64::from(weight);
            self.policy.on_update(idx, hash, old_weight, weight);
            self.counters.removed[RemovalCause::Replaced.index()] += 1;
            self.schedule(idx);
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
                    self.slots.push(None);
                    (self.slots.len() - 1) as u32
                }
            };
            self.slots[idx as usize] = Some(Slot {
                key,
                value,
                hash,
                weight,
                life: Slot::<K, V>::life_for(&times, None),
            });
            let slots = &self.slots;
            self.table.insert_unique(hash, idx, |&i| {
                slots[i as usize].as_ref().map_or(0, |s| s.hash)
            });
            self.weight += u64::from(weight);
            self.policy.on_insert(idx, hash, weight);
            self.counters.inserts += 1;
            self.schedule(idx);
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
        K: Clone,
        V: Clone,
    {
        let idx = self.find(hash, key)?;
        let slot = self.slots[idx as usize].as_ref()?;
        if slot.has_deadline() && slot.expired(now()) {
            self.remove_idx(idx, RemovalCause::Expired, true, out);
            return None;
        }
        let mut tmp = Removed::new(true);
        self.remove_idx(idx, RemovalCause::Explicit, true, &mut tmp);
        let (k, v, c) = tmp.items.pop()?;
        let value = v.clone();
        out.push(k, v, c);
        Some(value)
    }

    fn remove_idx(&mut self, idx: u32, cause: RemovalCause, unlink: bool, out: &mut Removed<K, V>) {
        let Some(slot) = self.slots[idx as usize].take() else {
            return;
        };
        if let Ok(entry) = self.table.find_entry(slot.hash, |&i| i == idx) {
            entry.remove();
        }
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
            self.slots.clear();
            self.free.clear();
            self.timers.clear();
            self.weight = 0;
            self.policy.clear();
            return;
        }
        for idx in 0..self.slots.len() as u32 {
            let hit = match &self.slots[idx as usize] {
                Some(s) => pred.is_none_or(|p| p(&s.key, &s.value)),
                None => false,
            };
            if hit {
                self.remove_idx(idx, RemovalCause::Explicit, true, out);
            }
        }
    }

    /// Calls `f` on every live entry.
    pub(crate) fn for_each(&self, now: Option<Instant>, mut f: impl FnMut(&K, &V)) {
        for s in self.slots.iter().flatten() {
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
        let Some(slot) = self.slots[idx as usize].as_mut() else {
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
        if self.timers.len() > 2 * self.table.len() + 1024 {
            self.rebuild_timers();
        }
    }

    fn rebuild_timers(&mut self) {
        self.timers.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(t) = s.as_ref().and_then(|s| s.timer_at()) {
                self.timers.push(Reverse((t, i as u32)));
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
            let Some(slot) = self.slots[idx as usize].as_mut() else {
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
