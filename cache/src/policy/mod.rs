//! Eviction policies: which entry leaves when a shard is over capacity.
//!
//! Every policy lives in its own file and implements the internal [`Eviction`] trait. A shard owns one
//! policy instance and tells it about every insert, hit, miss, update and removal by *slot index* (the
//! shard keeps entries in a slab; policies keep their own per-slot metadata in parallel arrays), then asks
//! it for a victim while the shard is over capacity. Dispatch is a plain `match` on [`AnyPolicy`], so the
//! hot path has no virtual call.

mod adaptive;
mod fifo;
mod lfu;
pub(crate) mod list;
mod lru;

pub(crate) use adaptive::Adaptive;
pub(crate) use fifo::Fifo;
pub(crate) use lfu::Lfu;
pub(crate) use lru::Lru;

/// The eviction policy of a [`Cache`](crate::Cache), chosen with
/// [`CacheBuilder::policy`](crate::CacheBuilder::policy).
///
/// ```
/// use ember_cache::{Cache, Policy};
/// let lru: Cache<u32, u32> = Cache::builder().max_capacity(100).policy(Policy::Lru).build().unwrap();
/// lru.insert(1, 1);
/// assert_eq!(lru.get(&1), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Policy {
    /// Exact least-recently-used: evicts the entry whose last access is the oldest. Within one shard it
    /// evicts exactly what a textbook LRU evicts (build with `.shards(1)` for a globally exact LRU).
    /// Good on recency-heavy workloads, poor under scans and loops larger than the cache.
    Lru,
    /// Least-frequently-used in O(1) per operation, with LRU order among entries of equal frequency, and
    /// aging: every few times the cache's size in operations all frequencies are halved, so popularity
    /// from long ago decays.
    Lfu,
    /// First-in, first-out: evicts the oldest insertion; hits do not reorder. The cheapest policy.
    Fifo,
    /// The default: W-TinyLFU (as in Caffeine) with an adaptive window. New entries enter a small
    /// window; entries leaving it compete for a place in the main segmented LRU against its victim,
    /// and win only if a frequency sketch (a count-min sketch with periodic halving) rates them more
    /// popular, which makes the cache scan and loop resistant. The window's share of the capacity
    /// adapts: misses on recently rejected candidates grow it, misses on recently evicted main entries
    /// shrink it (ARC-style ghost lists), and a hill climber on the sampled hit ratio corrects the
    /// direction, so recency-heavy workloads behave like LRU and frequency-heavy ones like LFU. Hits
    /// only set a referenced bit (CLOCK-style), so reads are nearly as cheap as a hash map lookup.
    /// Small shards (capacity up to 1024) spend a little more per hit to decide more precisely: hits
    /// keep exact LRU order, and main's victim is the least popular of its oldest probation entries.
    #[default]
    Adaptive,
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::Lru => "lru",
            Policy::Lfu => "lfu",
            Policy::Fifo => "fifo",
            Policy::Adaptive => "adaptive",
        })
    }
}

/// What a shard tells its policy, and what it asks of it. Slots are `u32` indexes into the shard's slab;
/// a slot index is reused after its entry is removed (the shard reports the removal first).
pub(crate) trait Eviction: Send {
    /// A new entry now occupies `idx`.
    fn on_insert(&mut self, idx: u32, hash: u64, weight: u32);
    /// The entry at `idx` was read.
    fn on_hit(&mut self, idx: u32, hash: u64);
    /// [`on_hit`](Eviction::on_hit) for an entry that keeps `seen` (a `u32` of its own, stored in its
    /// hash-table slot, so reading it costs nothing more than the lookup): a policy may record there
    /// what lets it skip the work of a later hit (the adaptive policy: its [`epoch`](Eviction::epoch)
    /// when the entry's referenced bit was last known set).
    #[inline(always)]
    fn on_hit_seen(&mut self, idx: u32, hash: u64, seen: &mut u32) {
        let _ = seen;
        self.on_hit(idx, hash);
    }
    /// [`on_update`](Eviction::on_update) for an entry that keeps `seen` (see
    /// [`on_hit_seen`](Eviction::on_hit_seen)).
    #[inline(always)]
    fn on_update_seen(
        &mut self,
        idx: u32,
        hash: u64,
        old_weight: u32,
        new_weight: u32,
        seen: &mut u32,
    ) {
        let _ = seen;
        self.on_update(idx, hash, old_weight, new_weight);
    }
    /// The value a new entry's `seen` starts with (one that tells the policy nothing).
    fn epoch(&self) -> u32 {
        0
    }
    /// A read of a key that is not cached (policies that learn from misses use it).
    fn on_miss(&mut self, hash: u64) {
        let _ = hash;
    }
    /// The entry at `idx` got a new value (an access too) whose weight may differ.
    fn on_update(&mut self, idx: u32, hash: u64, old_weight: u32, new_weight: u32);
    /// The entry at `idx` was removed for a reason other than [`victim`](Eviction::victim).
    fn on_remove(&mut self, idx: u32);
    /// Chooses the entry to evict, unlinks it from the policy, and returns its slot. `None` when empty.
    fn victim(&mut self) -> Option<u32>;
    /// Forgets every entry.
    fn clear(&mut self);
}

/// Static dispatch over the policies. (Not boxed: the shard owns it behind its lock, and a hit should
/// not chase one more pointer.)
#[allow(clippy::large_enum_variant)]
#[repr(u8)] // an explicit tag: matching reads one byte (a niche-encoded tag costs several compares)
pub(crate) enum AnyPolicy {
    Lru(Lru),
    Lfu(Lfu),
    Fifo(Fifo),
    Adaptive(Adaptive),
}

impl AnyPolicy {
    pub(crate) fn new(policy: Policy, capacity: u64) -> Self {
        match policy {
            Policy::Lru => AnyPolicy::Lru(Lru::new()),
            Policy::Lfu => AnyPolicy::Lfu(Lfu::new()),
            Policy::Fifo => AnyPolicy::Fifo(Fifo::new()),
            Policy::Adaptive => AnyPolicy::Adaptive(Adaptive::new(capacity)),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyPolicy::Lru($p) => $e,
            AnyPolicy::Lfu($p) => $e,
            AnyPolicy::Fifo($p) => $e,
            AnyPolicy::Adaptive($p) => $e,
        }
    };
}

impl Eviction for AnyPolicy {
    #[inline]
    fn on_insert(&mut self, idx: u32, hash: u64, weight: u32) {
        dispatch!(self, p => p.on_insert(idx, hash, weight))
    }
    #[inline(always)]
    fn on_hit(&mut self, idx: u32, hash: u64) {
        // The default policy first: one compare instead of a jump through the match's table.
        if let AnyPolicy::Adaptive(p) = self {
            return p.on_hit(idx, hash);
        }
        dispatch!(self, p => p.on_hit(idx, hash))
    }
    #[inline(always)]
    fn on_hit_seen(&mut self, idx: u32, hash: u64, seen: &mut u32) {
        if let AnyPolicy::Adaptive(p) = self {
            return p.on_hit_seen(idx, hash, seen);
        }
        dispatch!(self, p => p.on_hit_seen(idx, hash, seen))
    }
    #[inline(always)]
    fn on_update_seen(
        &mut self,
        idx: u32,
        hash: u64,
        old_weight: u32,
        new_weight: u32,
        seen: &mut u32,
    ) {
        if let AnyPolicy::Adaptive(p) = self {
            return p.on_update_seen(idx, hash, old_weight, new_weight, seen);
        }
        dispatch!(self, p => p.on_update_seen(idx, hash, old_weight, new_weight, seen))
    }
    #[inline]
    fn epoch(&self) -> u32 {
        dispatch!(self, p => p.epoch())
    }
    #[inline(always)]
    fn on_miss(&mut self, hash: u64) {
        dispatch!(self, p => p.on_miss(hash))
    }
    #[inline(always)]
    fn on_update(&mut self, idx: u32, hash: u64, old_weight: u32, new_weight: u32) {
        if let AnyPolicy::Adaptive(p) = self {
            return p.on_update(idx, hash, old_weight, new_weight);
        }
        dispatch!(self, p => p.on_update(idx, hash, old_weight, new_weight))
    }
    #[inline]
    fn on_remove(&mut self, idx: u32) {
        dispatch!(self, p => p.on_remove(idx))
    }
    #[inline]
    fn victim(&mut self) -> Option<u32> {
        dispatch!(self, p => p.victim())
    }
    fn clear(&mut self) {
        dispatch!(self, p => p.clear())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `on_hit_seen` (the shard's read path) must decide exactly as `on_hit`: two adaptive policies fed
    /// the same requests, one through each, evict the same entries in the same order.
    #[test]
    fn hits_with_seen_decide_as_plain_hits() {
        // Small caches (exact order) and large ones (CLOCK bits with the `seen` shortcut).
        for cap in [10u64, 100, 1000, 1500] {
            let mut plain = AnyPolicy::new(Policy::Adaptive, cap);
            let mut fast = AnyPolicy::new(Policy::Adaptive, cap);
            let mut resident: HashMap<u64, (u32, u32)> = HashMap::new();
            let mut key_of: HashMap<u32, u64> = HashMap::new();
            let (mut free, mut next) = (Vec::new(), 0u32);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ cap;
            let mut skipped = 0u64;
            for step in 0..60_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Half the requests on a hot set smaller than the cache, half spread wide.
                let key = if x % 2 == 0 {
                    (x >> 8) % (cap / 2).max(1)
                } else {
                    (x >> 8) % (cap * 8)
                };
                let hash = key.wrapping_mul(0x2545_F491_4F6C_DD1D);
                if let Some((idx, seen)) = resident.get_mut(&key) {
                    if step % 10 == 0 {
                        plain.on_update(*idx, hash, 1, 1);
                        fast.on_update_seen(*idx, hash, 1, 1, seen);
                    } else {
                        let before = *seen;
                        plain.on_hit(*idx, hash);
                        fast.on_hit_seen(*idx, hash, seen);
                        skipped += u64::from(before == *seen);
                    }
                    continue;
                }
                plain.on_miss(hash);
                fast.on_miss(hash);
                let idx = free.pop().unwrap_or_else(|| {
                    next += 1;
                    next - 1
                });
                let seen = fast.epoch();
                plain.on_insert(idx, hash, 1);
                fast.on_insert(idx, hash, 1);
                resident.insert(key, (idx, seen));
                key_of.insert(idx, key);
                while resident.len() as u64 > cap {
                    let victim = plain.victim();
                    assert_eq!(victim, fast.victim(), "cap {cap}, step {step}");
                    let v = victim.expect("over capacity, so not empty");
                    resident.remove(&key_of.remove(&v).expect("resident victim"));
                    free.push(v);
                }
            }
            // A small cache never skips (its hits all move entries), so `seen` stays put there.
            assert!(
                cap <= adaptive::EXACT_MAX_CAPACITY || skipped > 1000,
                "cap {cap}: the fast path was taken {skipped} times"
            );
        }
    }
}
